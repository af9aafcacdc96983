//! The lobby's other faces under load, on one lobby in one run: the same
//! request mix over plain TCP and over TLS (alternating phases, so both see
//! the same machine), `/metrics` scraped while the mix runs, and the store
//! website with a large catalog (seeded straight into the lobby's database:
//! only the catalog's rows matter here, not the packages).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use gamestore_client::LobbyClient;
use gamestore_client::tls::TlsOptions;
use gamestore_protocol::{Login, Register, RoomList, StoreList};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::accounts::{CLIENT_NAME, PASSWORD};
use crate::lobby::Server;
use crate::progress;
use crate::stats::Summary;

#[derive(Debug, Clone, Serialize)]
pub struct WebOptions {
    /// Clients per transport sending requests back to back.
    pub clients: usize,
    /// Total length of the request phases, split between the transports.
    pub secs: f64,
    /// Games seeded into the catalog.
    pub catalog_games: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct WebResult {
    pub clients: usize,
    pub plain_connect_ms: Summary,
    pub tls_connect_ms: Summary,
    pub plain_ms: Summary,
    pub tls_ms: Summary,
    pub plain_per_sec: f64,
    pub tls_per_sec: f64,
    pub metrics_ms: Summary,
    pub metrics_bytes: usize,
    pub catalog_games: usize,
    pub seed_secs: f64,
    pub catalog_first_page_ms: Summary,
    pub catalog_last_page_ms: Summary,
    pub catalog_search_by_rating_ms: Summary,
    pub game_page_ms: Summary,
    pub api_newest_ms: Summary,
}

pub async fn run(
    server: &Server,
    tag: &str,
    options: &WebOptions,
    work: &Path,
) -> anyhow::Result<WebResult> {
    let Some(http) = server.http.clone() else {
        bail!(
            "the web scenario needs a lobby the bench starts (its website address and data folder)"
        );
    };
    let tls_server = format!("tls://{}", server.addr);
    let trust =
        TlsOptions { known_lobbies: Some(work.join("known_lobbies")), ..Default::default() };

    progress(&format!("web: {} plain and {} TLS clients", options.clients, options.clients));
    let mut plain = Vec::new();
    let mut tls = Vec::new();
    let (mut plain_connect, mut tls_connect) = (Vec::new(), Vec::new());
    for i in 0..options.clients {
        let started = Instant::now();
        let client = LobbyClient::connect(&server.addr, CLIENT_NAME).await.context("connect")?;
        plain_connect.push(started.elapsed());
        log_in(&client, &format!("{tag}p{i}")).await?;
        plain.push(Arc::new(client));
        let started = Instant::now();
        let client = LobbyClient::connect_with(&tls_server, CLIENT_NAME, &trust)
            .await
            .context("connect over TLS")?;
        tls_connect.push(started.elapsed());
        log_in(&client, &format!("{tag}t{i}")).await?;
        tls.push(Arc::new(client));
    }

    // /metrics scraped every 100 ms while the requests run.
    let scraper = scrape_until_stopped(http.clone());
    let phase = Duration::from_secs_f64(options.secs / 4.0);
    let (mut plain_samples, mut tls_samples) = (Vec::new(), Vec::new());
    let (mut plain_time, mut tls_time) = (Duration::ZERO, Duration::ZERO);
    for round in 0..4 {
        let (clients, samples, time) = if round % 2 == 0 {
            (&plain, &mut plain_samples, &mut plain_time)
        } else {
            (&tls, &mut tls_samples, &mut tls_time)
        };
        let started = Instant::now();
        samples.extend(request_phase(clients, phase).await?);
        *time += started.elapsed();
    }
    let (metrics_times, metrics_bytes) = scraper.stop().await;

    // The catalog with many games.
    let data_dir = server.data_dir().context("no data folder for the lobby")?;
    let seeded = Instant::now();
    let games = options.catalog_games;
    progress(&format!("web: seeding {games} games into the catalog"));
    let owner = format!("{tag}dev");
    let dev = LobbyClient::connect(&server.addr, CLIENT_NAME).await?;
    dev.call(gamestore_protocol::DevRegister::new(&owner, PASSWORD)).await?;
    tokio::task::spawn_blocking(move || seed_catalog(&data_dir, &owner, games)).await??;
    let seed_secs = seeded.elapsed().as_secs_f64();
    let last_page = games.div_ceil(24).max(1);
    let pages = [
        ("/".to_owned(), 0),
        (format!("/?page={last_page}"), 1),
        ("/?q=puzzle&sort=rating".to_owned(), 2),
        ("/games/seeded00042".to_owned(), 3),
        ("/api/games?sort=newest".to_owned(), 4),
    ];
    let mut page_times: Vec<Vec<Duration>> = vec![Vec::new(); pages.len()];
    for _ in 0..20 {
        for (path, i) in &pages {
            let (elapsed, _) = get(&http, path).await?;
            page_times[*i].push(elapsed);
        }
    }

    Ok(WebResult {
        clients: options.clients,
        plain_connect_ms: Summary::of_durations(&plain_connect),
        tls_connect_ms: Summary::of_durations(&tls_connect),
        plain_per_sec: plain_samples.len() as f64 / plain_time.as_secs_f64(),
        tls_per_sec: tls_samples.len() as f64 / tls_time.as_secs_f64(),
        plain_ms: Summary::of_durations(&plain_samples),
        tls_ms: Summary::of_durations(&tls_samples),
        metrics_ms: Summary::of_durations(&metrics_times),
        metrics_bytes,
        catalog_games: games,
        seed_secs,
        catalog_first_page_ms: Summary::of_durations(&page_times[0]),
        catalog_last_page_ms: Summary::of_durations(&page_times[1]),
        catalog_search_by_rating_ms: Summary::of_durations(&page_times[2]),
        game_page_ms: Summary::of_durations(&page_times[3]),
        api_newest_ms: Summary::of_durations(&page_times[4]),
    })
}

/// `/metrics` fetched every 100 ms until stopped.
pub struct Scraper {
    done: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(Vec<Duration>, usize)>,
}

impl Scraper {
    /// Stops it; returns each scrape's time and the last response's size.
    pub async fn stop(self) -> (Vec<Duration>, usize) {
        self.done.store(true, Ordering::Relaxed);
        self.task.await.unwrap_or_default()
    }
}

pub fn scrape_until_stopped(http: String) -> Scraper {
    let done = Arc::new(AtomicBool::new(false));
    let stop = done.clone();
    let task = tokio::spawn(async move {
        let mut times = Vec::new();
        let mut bytes = 0;
        while !stop.load(Ordering::Relaxed) {
            if let Ok((elapsed, body)) = get(&http, "/metrics").await {
                times.push(elapsed);
                bytes = body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (times, bytes)
    });
    Scraper { done, task }
}

async fn log_in(client: &LobbyClient, name: &str) -> anyhow::Result<()> {
    client.call(Register::new(name, PASSWORD)).await.with_context(|| format!("register {name}"))?;
    client.call(Login::new(name, PASSWORD)).await.with_context(|| format!("log in {name}"))?;
    Ok(())
}

/// Every client sends STORE_LIST and ROOM_LIST back to back for `length`;
/// returns each request's time.
async fn request_phase(
    clients: &[Arc<LobbyClient>],
    length: Duration,
) -> anyhow::Result<Vec<Duration>> {
    let deadline = Instant::now() + length;
    let mut tasks = tokio::task::JoinSet::new();
    for client in clients {
        let client = client.clone();
        tasks.spawn(async move {
            let mut samples = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let started = Instant::now();
                if n.is_multiple_of(2) {
                    client.call(StoreList::default()).await?;
                } else {
                    client.call(RoomList::default()).await?;
                }
                samples.push(started.elapsed());
                n += 1;
            }
            Ok::<_, gamestore_client::ClientError>(samples)
        });
    }
    let mut all = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        all.extend(joined??);
    }
    Ok(all)
}

/// One `GET` on a new connection; the time to the whole response and its size.
async fn get(addr: &str, path: &str) -> anyhow::Result<(Duration, usize)> {
    let started = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let elapsed = started.elapsed();
    if !response.starts_with(b"HTTP/1.1 200") {
        bail!("GET {path}: {}", String::from_utf8_lossy(&response[..response.len().min(80)]));
    }
    Ok((elapsed, response.len()))
}

/// Writes `count` games owned by developer `owner` straight into the
/// lobby's database, in one transaction per game as publishing does.
fn seed_catalog(data_dir: &Path, owner: &str, count: usize) -> anyhow::Result<()> {
    let db = gamestore_storage::sqlite::SqliteStore::open(&data_dir.join("lobby.db"))?;
    let owner_id = db
        .find_account(gamestore_storage::Role::Developer, owner)?
        .context("the seeding developer exists")?
        .id;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    for i in 0..count {
        let id = format!("seeded{i:05}");
        let description = if i % 7 == 0 {
            "A puzzle game of boxes and ropes."
        } else {
            "An arcade game for friends."
        };
        let manifest = serde_json::json!({
            "id": id, "name": format!("Seeded Game {i:05}"), "version": "1.0.0",
            "description": description, "kind": "cli", "min_players": 1, "max_players": 4,
            "server": { "command": ["bin/server", "{port}"], "env": {} },
            "client": { "command": ["bin/client", "{host}", "{port}"], "env": {} },
        });
        let new = gamestore_storage::NewVersion {
            owner_id,
            name: format!("Seeded Game {i:05}"),
            description: description.into(),
            kind: "cli".into(),
            min_players: 1,
            max_players: 4,
            version: gamestore_storage::VersionRecord {
                game_id: id,
                version: "1.0.0".into(),
                manifest: manifest.to_string(),
                files: "[]".into(),
                package_size: 1000 + i as u64,
                package_sha256: "0".repeat(64),
                unpacked_bytes: 4000,
                published_at: now - (count - i) as i64,
            },
        };
        db.publish_version(&new, None)?;
    }
    Ok(())
}
