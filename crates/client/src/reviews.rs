//! Review drafts and the `reviews` listing both programs print.
//!
//! A review is saved as a draft in the player's home before it is sent and
//! removed once the lobby accepts it, so a review typed while the lobby is
//! unreachable (or the session has expired) is not lost.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use gamestore_protocol::ReviewList;
use serde::{Deserialize, Serialize};

use crate::cli::{Context, print_json, rating_text};
use crate::{LobbyClient, outln};

/// A review not yet accepted by the lobby.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    pub game: String,
    pub rating: u8,
    pub text: String,
}

/// A player's review drafts: `<home>/drafts/<player>/<game>.json`.
#[derive(Debug, Clone)]
pub struct Drafts {
    dir: PathBuf,
}

impl Drafts {
    pub fn new(home: &Path, player: &str) -> Drafts {
        Drafts { dir: home.join("drafts").join(player) }
    }

    fn path(&self, game: &str) -> PathBuf {
        self.dir.join(format!("{game}.json"))
    }

    pub fn save(&self, draft: &Draft) -> anyhow::Result<()> {
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        let path = self.path(&draft.game);
        let tmp = path.with_extension("json.tmp");
        fs::write(&tmp, serde_json::to_vec_pretty(draft)?)?;
        fs::rename(&tmp, &path)?;
        Ok(())
    }

    pub fn load(&self, game: &str) -> Option<Draft> {
        serde_json::from_slice(&fs::read(self.path(game)).ok()?).ok()
    }

    /// Every kept draft, by game id.
    pub fn all(&self) -> Vec<Draft> {
        let mut drafts: Vec<Draft> = fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| serde_json::from_slice(&fs::read(e.path()).ok()?).ok())
            .collect();
        drafts.sort_by(|a: &Draft, b: &Draft| a.game.cmp(&b.game));
        drafts
    }

    pub fn remove(&self, game: &str) {
        let _ = fs::remove_file(self.path(game));
    }
}

/// `reviews GAME [--page N] [--json]`, the same in both programs.
#[derive(Debug, Clone, clap::Args)]
pub struct ReviewsArgs {
    #[arg(value_name = "GAME")]
    pub game: String,
    /// Only this page (20 reviews per page); every review without it
    #[arg(long)]
    pub page: Option<u32>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

impl ReviewsArgs {
    pub async fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        list(ctx, &self.game, self.page, self.json).await
    }
}

/// `reviews GAME [--page N] [--json]`, for players and developers.
pub async fn list(
    ctx: &Context,
    game: &str,
    page: Option<u32>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let (client, _) = ctx.connect_session().await?;
    show(&client, game, page, json).await
}

/// Prints a game's reviews as `reviews` does, on an open connection: all of
/// them (every page fetched), or only page `page`.
pub async fn show(
    client: &LobbyClient,
    game: &str,
    page: Option<u32>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    const PER_PAGE: u32 = 20;
    let reply = match page {
        None => client.call_all(ReviewList::new(game)).await?,
        Some(page) => {
            let request = ReviewList {
                offset: (page.max(1) - 1) * PER_PAGE,
                limit: PER_PAGE,
                ..ReviewList::new(game)
            };
            client.call(request).await?
        }
    };
    if json {
        print_json(&reply.reviews)?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!("{}: {}", reply.game, rating_text(reply.rating, reply.total));
    if reply.reviews.is_empty() {
        outln!("{}", if reply.total == 0 { "No reviews yet." } else { "No reviews on this page." });
    }
    for r in &reply.reviews {
        let stars: String = "*".repeat(r.rating as usize);
        let edited = if r.updated_at != r.created_at { " (edited)" } else { "" };
        outln!("{stars:<5} {}{edited}", r.player);
        for line in r.text.lines() {
            outln!("      {line}");
        }
    }
    let pages = reply.total.div_ceil(PER_PAGE).max(1);
    if let Some(page) = page.filter(|_| pages > 1) {
        outln!("page {} of {pages} (--page N)", page.max(1));
    }
    Ok(ExitCode::SUCCESS)
}
