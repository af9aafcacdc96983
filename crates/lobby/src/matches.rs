//! A match's life, from the host's start to the room waiting again.
//!
//! [`run_match`] is the Game Manager's `start_game` of seed §3C: record the
//! match, spawn the server, send GAME_START with the address players can
//! reach, wait for the server to end, record how it ended, and return the
//! room to waiting. It runs as a task tracked by the Game Manager.
//!
//! Fair use of game servers lives here too: [`MatchLimits`] bounds how often
//! a player and a room may start matches and how many game servers one
//! player's starts may keep running; a match whose room everybody left is
//! stopped after a grace period; and match folders are removed once past
//! their retention.

use crate::WireResult;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use gamestore_protocol::{ErrorCode, GameStart, MatchEnded, MatchOutcome, RoomId, WireError};
use gamestore_storage::{AccountId, MatchEnd};

use crate::config::MatchSettings;
use crate::game_host::{GameHost, HostedServer};
use crate::game_manager::{MatchExit, MatchSpec};
use crate::limits::{Hit, Rate, Windows, rate_limited};
use crate::rooms::StartPlan;
use crate::{Lobby, now};

/// Limits on starting matches.
#[derive(Debug)]
pub(crate) struct MatchLimits {
    by_player: Windows<AccountId>,
    by_room: Windows<RoomId>,
    servers_per_player: u32,
    /// Game servers running per player who started them.
    running: Mutex<HashMap<AccountId, u32>>,
    /// Matches whose server may still run (their folders are in use).
    live: Mutex<HashSet<i64>>,
}

impl MatchLimits {
    pub(crate) fn new(settings: &MatchSettings) -> MatchLimits {
        const MINUTE: Duration = Duration::from_secs(60);
        MatchLimits {
            by_player: Windows::new(Rate::per(settings.starts_per_player_per_minute, MINUTE)),
            by_room: Windows::new(Rate::per(settings.starts_per_room_per_minute, MINUTE)),
            servers_per_player: settings.game_servers_per_player,
            running: Mutex::new(HashMap::new()),
            live: Mutex::new(HashSet::new()),
        }
    }

    /// Checks that `host` may start a match in `room` now and reserves it.
    /// Dropping the [`Admission`] without [`Admission::commit`] gives
    /// everything back.
    pub(crate) fn admit(&self, host: AccountId, room: RoomId) -> Result<Admission<'_>, WireError> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let count = running.get(&host).copied().unwrap_or(0);
        if self.servers_per_player > 0 && count >= self.servers_per_player {
            return Err(WireError::new(
                ErrorCode::MatchLimit,
                format!(
                    "matches you started still run {count} game servers, the most one player \
                     may have; wait until one ends (a match nobody plays is stopped soon)"
                ),
            ));
        }
        let by_player = self.by_player.hit(&host).map_err(|wait| {
            rate_limited("you started too many matches in the last minute", wait)
        })?;
        let by_room = match self.by_room.hit(&room) {
            Ok(hit) => hit,
            Err(wait) => {
                self.by_player.forgive(by_player);
                return Err(rate_limited("this room started too many matches lately", wait));
            }
        };
        *running.entry(host).or_insert(0) += 1;
        Ok(Admission { limits: self, host, hits: Some((by_player, by_room)) })
    }

    fn release(&self, host: AccountId) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = running.get_mut(&host) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&host);
            }
        }
    }

    fn live_matches(&self) -> HashSet<i64> {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A match start that passed the limits but has not begun yet.
#[derive(Debug)]
pub(crate) struct Admission<'a> {
    limits: &'a MatchLimits,
    host: AccountId,
    hits: Option<(Hit<AccountId>, Hit<RoomId>)>,
}

impl Admission<'_> {
    /// The match was recorded: its start counts, and its game server
    /// counts for the host until the returned slot is dropped.
    pub(crate) fn commit(mut self, lobby: Arc<Lobby>, match_id: i64) -> ServerSlot {
        self.hits = None;
        lobby.match_limits.live.lock().unwrap_or_else(|p| p.into_inner()).insert(match_id);
        ServerSlot { lobby, host: self.host, match_id }
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        if let Some((by_player, by_room)) = self.hits.take() {
            self.limits.by_player.forgive(by_player);
            self.limits.by_room.forgive(by_room);
            self.limits.release(self.host);
        }
    }
}

/// One running game server, counted against the player who started it.
#[derive(Debug)]
pub(crate) struct ServerSlot {
    lobby: Arc<Lobby>,
    host: AccountId,
    match_id: i64,
}

impl Drop for ServerSlot {
    fn drop(&mut self) {
        let limits = &self.lobby.match_limits;
        limits.release(self.host);
        limits.live.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.match_id);
    }
}

/// Completes once room `room` has had no members for `grace`, with the
/// reason to give.
async fn abandoned(lobby: Arc<Lobby>, room: RoomId, grace: Duration) -> String {
    let tick = (grace / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut interval = tokio::time::interval(tick);
    let mut empty_since: Option<Instant> = None;
    loop {
        interval.tick().await;
        if !lobby.rooms.is_abandoned(room) {
            empty_since = None;
            continue;
        }
        if empty_since.get_or_insert_with(Instant::now).elapsed() >= grace {
            return format!(
                "every player left the room; the game server was stopped after {} s",
                grace.as_secs()
            );
        }
    }
}

/// Removes entries of `<data>/matches/` not touched for `retention`, except
/// those of `live` matches. Returns how many were removed.
pub(crate) fn remove_old_match_folders(
    data_dir: &Path,
    retention: Duration,
    live: &HashSet<i64>,
) -> usize {
    let Ok(entries) = std::fs::read_dir(data_dir.join("matches")) else { return 0 };
    let now = SystemTime::now();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_str().and_then(|n| n.parse::<i64>().ok()).is_some_and(|id| live.contains(&id)) {
            continue;
        }
        let Ok(meta) = entry.path().symlink_metadata() else { continue };
        let age = meta.modified().ok().and_then(|m| now.duration_since(m).ok());
        if age.is_none_or(|age| age < retention) {
            continue;
        }
        let gone = if meta.is_dir() {
            std::fs::remove_dir_all(entry.path())
        } else {
            std::fs::remove_file(entry.path())
        };
        match gone {
            Ok(()) => removed += 1,
            Err(e) => {
                tracing::warn!(path = %entry.path().display(), error = %e, "cannot remove an old match folder")
            }
        }
    }
    removed
}

/// After a match: its folder's retention starts now, and older folders go.
async fn clean_match_folders(lobby: &Arc<Lobby>, match_id: i64) {
    let data_dir = lobby.config.data_dir.clone();
    let retention = lobby.config.matches.match_retention;
    let mut live = lobby.match_limits.live_matches();
    live.remove(&match_id);
    let _ = tokio::task::spawn_blocking(move || {
        let folder = data_dir.join("matches").join(match_id.to_string());
        if let Ok(dir) = std::fs::File::open(&folder) {
            let _ = dir.set_modified(SystemTime::now());
        }
        let removed = remove_old_match_folders(&data_dir, retention, &live);
        if removed > 0 {
            tracing::debug!(removed, "removed match folders past their retention");
        }
    })
    .await;
}

/// Runs one match to its end. `slot` counts its game server against the
/// host until the match is over.
/// The host that runs this lobby's game servers; the match lifecycle sees
/// only the [`GameHost`] trait.
fn host(lobby: &Lobby) -> &impl GameHost {
    &lobby.game_manager
}

pub(crate) async fn run_match(
    lobby: Arc<Lobby>,
    plan: StartPlan,
    match_id: i64,
    token: String,
    slot: ServerSlot,
) {
    let spec = MatchSpec {
        match_id,
        manifest: plan.game.manifest.clone(),
        game_dir: plan.game.game_dir.clone(),
        players: plan.players.iter().map(|(_, name)| name.clone()).collect(),
        token: token.clone(),
        room_id: plan.room,
    };
    let running = lobby.running.register(crate::running::RunningMatch {
        match_id,
        room: plan.room,
        game: plan.game.id.clone(),
        version: plan.game.version.clone(),
        players: spec.players.clone(),
        started_at: now(),
        port: None,
    });
    let spawned = std::time::Instant::now();
    let started = host(&lobby).allocate(&spec).await;
    crate::telemetry::match_spawned(started.is_ok().then(|| spawned.elapsed()));
    let exit = match started {
        Ok(mut process) => {
            let port = process.port();
            tracing::info!(match_id, room = plan.room, port, "match started");
            running.started(port);
            lobby.rooms.started(
                plan.room,
                GameStart {
                    match_id,
                    room: plan.room,
                    game: plan.game.id.clone(),
                    version: plan.game.version.clone(),
                    // Filled per member with an address that member can reach.
                    host: String::new(),
                    port,
                    token,
                    players: spec.players.clone(),
                    // Filled per member.
                    seat: None,
                    player_id: None,
                },
            );
            let grace = lobby.config.matches.abandoned_match_grace;
            let stop = async {
                tokio::select! {
                    reason = abandoned(lobby.clone(), plan.room, grace) => reason,
                    reason = running.stopped() => {
                        tracing::warn!(match_id, %reason, "match stopped by the admin");
                        format!("the lobby's admin stopped the match: {reason}")
                    }
                }
            };
            process.finish(stop).await
        }
        Err(e) => {
            tracing::warn!(match_id, room = plan.room, error = %e, "game server did not start");
            MatchExit {
                outcome: MatchOutcome::NeverStarted,
                exit_code: None,
                result: None,
                message: e.to_string(),
            }
        }
    };
    tracing::info!(match_id, room = plan.room, outcome = exit.outcome.as_str(), "match ended");
    crate::telemetry::match_ended(exit.outcome.as_str());
    let end = MatchEnd {
        ended_at: now(),
        outcome: exit.outcome.as_str().to_owned(),
        exit_code: exit.exit_code,
        result: exit.result.as_ref().map(|r| r.to_string()),
        message: Some(exit.message.clone()),
    };
    if let Err(e) = lobby.db.end_match(match_id, &end).await.wire() {
        tracing::error!(match_id, error = %e.message, "could not record the end of a match");
    }
    lobby.rooms.ended(
        plan.room,
        MatchEnded {
            match_id,
            room: plan.room,
            outcome: exit.outcome,
            exit_code: exit.exit_code,
            result: exit.result,
            message: exit.message,
        },
    );
    lobby.rooms.close_if_empty(plan.room);
    drop(running);
    drop(slot);
    clean_match_folders(&lobby, match_id).await;
}
