//! A match's life, from the host's start to the room waiting again.
//!
//! [`run_match`] is the Game Manager's `start_game` of seed §3C: record the
//! match, spawn the server, send GAME_START with the address players can
//! reach, wait for the server to end, record how it ended, and return the
//! room to waiting. It runs as a task tracked by the Game Manager.

use std::sync::Arc;

use gamestore_protocol::{GameStart, MatchEnded, MatchOutcome};
use gamestore_storage::MatchEnd;

use crate::game_manager::{MatchExit, MatchSpec};
use crate::rooms::StartPlan;
use crate::{Lobby, now};

/// Runs one match to its end.
pub async fn run_match(lobby: Arc<Lobby>, plan: StartPlan, match_id: i64, token: String) {
    let spec = MatchSpec {
        match_id,
        manifest: plan.game.manifest.clone(),
        game_dir: plan.game.game_dir.clone(),
        players: plan.players.iter().map(|(_, name)| name.clone()).collect(),
        token: token.clone(),
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
    let started = lobby.game_manager.start(&spec).await;
    crate::telemetry::match_spawned(started.is_ok(), spawned.elapsed());
    let exit = match started {
        Ok(mut process) => {
            tracing::info!(match_id, room = plan.room, port = process.port.port, "match started");
            running.started(process.port.port);
            lobby.rooms.started(
                plan.room,
                GameStart {
                    match_id,
                    room: plan.room,
                    game: plan.game.id.clone(),
                    version: plan.game.version.clone(),
                    host: lobby.game_manager.public_host().to_owned(),
                    port: process.port.port,
                    token,
                    players: spec.players.clone(),
                },
            );
            tokio::select! {
                exit = process.wait() => exit,
                reason = running.stopped() => {
                    tracing::warn!(match_id, %reason, "match stopped by the admin");
                    // Dropping the process kills the game server's process group.
                    drop(process);
                    MatchExit {
                        outcome: MatchOutcome::Aborted,
                        exit_code: None,
                        result: None,
                        message: format!("the lobby's admin stopped the match: {reason}"),
                    }
                }
            }
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
    };
    if let Err(e) = lobby.db(move |db| db.end_match(match_id, &end)).await {
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
}
