//! GAME_START_NOTIFY (the host pressing 's') and GAME_CLIENT_EXITED.

use crate::WireResult;
use gamestore_protocol::{Empty, ErrorCode, GameClientExited, MatchStarting, WireError};
use gamestore_storage::Role;

use crate::connection::Conn;
use crate::{auth, matches, now};

/// Checks the room, records the match and hands it to the Game Manager.
/// Replies at once; GAME_START (or MATCH_ENDED on failure) follows as events.
pub(super) async fn start(conn: &Conn) -> Result<MatchStarting, WireError> {
    let account = conn.require(Role::Player)?.id;
    // A delisted game finishes the matches it has but starts no new ones.
    if let Some(game) = conn.lobby.rooms.game_of(account) {
        let key = game.clone();
        if conn.lobby.db.game(&key).await.wire()?.is_some_and(|g| !g.listed) {
            return Err(WireError::new(
                ErrorCode::GameDelisted,
                format!("{game} was delisted by its developer: no new matches"),
            ));
        }
    }
    // Fair use: how often this player and room start, and how many game
    // servers the player's starts keep running. Given back if the start
    // goes no further.
    let room = conn
        .lobby
        .rooms
        .room_of(account)
        .ok_or_else(|| WireError::new(ErrorCode::NotInRoom, "you are not in a room"))?;
    let admission = conn.lobby.match_limits.admit(account, room)?;
    let plan = conn.lobby.rooms.begin_start(account)?;
    let (game, version, room) = (plan.game.id.clone(), plan.game.version.clone(), plan.room);
    let players: Vec<i64> = plan.players.iter().map(|(id, _)| *id).collect();
    let node = conn.lobby.node_id();
    let match_id = match conn
        .lobby
        .db
        .begin_match(&game, &version, room as i64, &players, node, now())
        .await
        .wire()
    {
        Ok(id) => id,
        Err(e) => {
            conn.lobby.rooms.ended(
                room,
                gamestore_protocol::MatchEnded {
                    match_id: 0,
                    room,
                    outcome: gamestore_protocol::MatchOutcome::NeverStarted,
                    exit_code: None,
                    result: None,
                    message: e.message.clone(),
                },
            );
            return Err(e);
        }
    };
    let token = auth::new_token()?;
    let lobby = conn.lobby.clone();
    let slot = admission.commit(lobby.clone(), match_id);
    conn.lobby.game_manager.track(matches::run_match(lobby, plan, match_id, token, slot));
    Ok(MatchStarting { room })
}

pub(super) fn client_exited(conn: &Conn, report: GameClientExited) -> Result<Empty, WireError> {
    let account = conn.require(Role::Player)?;
    match report.code {
        Some(0) => {
            tracing::debug!(player = %account.name, match_id = report.match_id, "game client finished")
        }
        code => {
            tracing::info!(player = %account.name, match_id = report.match_id, ?code, "game client failed")
        }
    }
    Ok(Empty {})
}
