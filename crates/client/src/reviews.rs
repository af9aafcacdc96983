//! Review drafts and the `reviews` listing both programs print.
//!
//! A review is saved as a draft in the player's home before it is sent and
//! removed once the lobby accepts it, so a review typed while the lobby is
//! unreachable (or the session has expired) is not lost. A refusal that a
//! retry cannot fix (never played, a bad rating or text, a delisted game)
//! removes the draft: [`worth_keeping`] tells the two apart.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use gamestore_protocol::ReviewList;
use serde::{Deserialize, Serialize};

use crate::cli::{Context, Output, print_json, rating_text};
use crate::{ClientError, LobbyClient, outln};

/// True when sending a review failed in a way that sending it again, later
/// and unchanged, may fix: the lobby could not be reached, the session
/// expired or is missing (log in, then resend), or the lobby was busy.
/// False for refusals about the review itself.
pub fn worth_keeping(error: &anyhow::Error) -> bool {
    use gamestore_protocol::ErrorCode;
    match error.chain().find_map(|e| e.downcast_ref::<ClientError>()) {
        // Failed before the lobby was asked (no saved session, ...).
        None => true,
        Some(ClientError::Refused(refusal)) => matches!(
            refusal.code,
            ErrorCode::InvalidSession
                | ErrorCode::NotLoggedIn
                | ErrorCode::RateLimited
                | ErrorCode::Internal
                | ErrorCode::ServerBusy
        ),
        Some(_) => true,
    }
}

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
        list(ctx, &self.game, self.page, Output::of(self.json)).await
    }
}

/// `reviews GAME [--page N] [--json]`, for players and developers.
pub async fn list(
    ctx: &Context,
    game: &str,
    page: Option<u32>,
    output: Output,
) -> anyhow::Result<ExitCode> {
    let (client, _) = ctx.connect_session().await?;
    show(&client, game, page, output).await
}

/// Prints a game's reviews as `reviews` does, on an open connection: all of
/// them (every page fetched), or only page `page`.
pub async fn show(
    client: &LobbyClient,
    game: &str,
    page: Option<u32>,
    output: Output,
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
    if output.is_json() {
        print_json(&reply.reviews)?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!("{}: {}", reply.game, rating_text(reply.rating, reply.total));
    if reply.reviews.is_empty() {
        outln!("{}", if reply.total == 0 { "No reviews yet." } else { "No reviews on this page." });
    }
    for r in &reply.reviews {
        let stars: String = "*".repeat(r.rating as usize);
        let edited = if r.updated_at != r.created_at {
            format!(", edited {}", utc_date(r.updated_at))
        } else {
            String::new()
        };
        outln!("{stars:<5} {} ({}{edited})", r.player, utc_date(r.created_at));
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

/// `2026-12-01`: the UTC date of a time in seconds since the Unix epoch
/// (the days-to-civil conversion of the proleptic Gregorian calendar).
pub fn utc_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::utc_date;

    #[test]
    fn dates_of_known_times() {
        for (secs, date) in [
            (0, "1970-01-01"),
            (951_782_400, "2000-02-29"),
            (1_709_164_800, "2024-02-29"),
            (1_764_547_199, "2025-11-30"),
            (-86_400, "1969-12-31"),
        ] {
            assert_eq!(utc_date(secs), date, "{secs}");
        }
    }
}
