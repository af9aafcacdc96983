//! The store list as the catalog grows: STORE_LIST's first page, p50, with
//! 10, 1,000 and 10,000 games in the store. A page is bounded, so the time
//! to answer it should not grow with the catalog.
//!
//! Each size gets its own lobby whose database is seeded before it starts
//! (publishing 10,000 packages one by one would take minutes and measure
//! the upload path, not the listing). One logged-in player per lobby then
//! asks for the first page over and over, one request at a time, the
//! lobbies taking turns; the first request after the start, which builds
//! the lobby's catalog, is reported apart.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use gamestore_protocol::StoreList;
use gamestore_storage::sqlite::SqliteStore;
use gamestore_storage::{NewVersion, Role, VersionRecord};
use serde::Serialize;

use crate::accounts;
use crate::lobby::{LobbyLaunch, Server};
use crate::stats::{Summary, ms};

#[derive(Debug, Clone, Serialize)]
pub struct StoreListOptions {
    /// Catalog sizes to measure, the first being the reference.
    pub sizes: Vec<usize>,
    /// Measured requests per size (after a warm-up).
    pub requests: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoreListResult {
    pub sizes: Vec<CatalogSize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CatalogSize {
    pub games: usize,
    /// Games on the first page.
    pub page_games: usize,
    /// The first STORE_LIST after the lobby started (builds the catalog).
    pub first_ms: f64,
    /// The default first page (up to 50 games).
    pub request_ms: Summary,
    /// A first page of 10 games (`limit` 10): the same bytes at every
    /// catalog size, so only the catalog's own cost varies.
    pub ten_ms: Summary,
}

const WARM_UP: usize = 50;

pub async fn run(
    launch: &LobbyLaunch,
    tag: &str,
    options: &StoreListOptions,
) -> anyhow::Result<StoreListResult> {
    // Every catalog size gets its own lobby, all running at once, and the
    // requests go round-robin over them, so that every size sees the same
    // machine (other load on the host shifts them all alike).
    let mut lobbies = Vec::new();
    for &games in &options.sizes {
        crate::progress(&format!("store list: {games} games"));
        let server = Server::start_seeded(launch, |dir| seed(dir, tag, games))?;
        let client = accounts::new_player(&server.addr, &format!("{tag}s{games}")).await?;
        let started = Instant::now();
        let first = client.call(StoreList::default()).await.context("STORE_LIST")?;
        let first_ms = ms(started.elapsed());
        anyhow::ensure!(
            first.games.len() == games.min(50),
            "the first page of {games} games has {} games",
            first.games.len()
        );
        for _ in 0..WARM_UP {
            client.call(StoreList::default()).await?;
        }
        lobbies.push((server, client, games, first.games.len(), first_ms));
    }
    let ten = StoreList { limit: Some(10), ..StoreList::default() };
    let mut samples = vec![(Vec::new(), Vec::new()); lobbies.len()];
    for _ in 0..options.requests {
        for ((_, client, ..), (all, tens)) in lobbies.iter().zip(&mut samples) {
            let started = Instant::now();
            client.call(StoreList::default()).await?;
            all.push(ms(started.elapsed()));
            let started = Instant::now();
            client.call(ten.clone()).await?;
            tens.push(ms(started.elapsed()));
        }
    }
    let sizes = lobbies
        .iter()
        .zip(&samples)
        .map(|((_, _, games, page_games, first_ms), (all, tens))| CatalogSize {
            games: *games,
            page_games: *page_games,
            first_ms: *first_ms,
            request_ms: Summary::of_ms(all),
            ten_ms: Summary::of_ms(tens),
        })
        .collect();
    Ok(StoreListResult { sizes })
}

/// Writes `games` listed games (one version each) into a new database in
/// `data_dir`, in one transaction.
fn seed(data_dir: &Path, tag: &str, games: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    let db = SqliteStore::open(&data_dir.join("lobby.db"))?;
    // Nobody logs in as the seeded developer: its hash need not be valid.
    let dev = db.create_account(Role::Developer, &format!("{tag}dev"), "unused", 1)?;
    let description = "A game in a large catalog, described at the length of a real store \
                       entry: what it is, how many play, and why it is fun to play again.";
    let new: Vec<NewVersion> = (0..games)
        .map(|i| NewVersion {
            owner_id: dev.id,
            name: format!("Catalog game {i:05}"),
            description: description.into(),
            kind: "cli".into(),
            min_players: 1,
            max_players: 4,
            version: VersionRecord {
                game_id: format!("{tag}g{i:05}"),
                version: "1.0.0".into(),
                manifest: "{}".into(),
                files: r#"{"files":[]}"#.into(),
                package_size: 1000,
                package_sha256: "0".repeat(64),
                unpacked_bytes: 1000,
                published_at: 1,
            },
        })
        .collect();
    db.import_games(&new)?;
    Ok(())
}
