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
    let op = crate::remote_rooms::RoomOp::Start;
    if let Some(result) = conn.lobby.xrooms.forward(&conn.lobby, conn.id, account, op).await {
        return serde_json::from_value(result?).map_err(|e| {
            WireError::new(ErrorCode::Internal, format!("bad answer from the room's node: {e}"))
        });
    }
    start_for(&conn.lobby, account).await
}

/// Starts the match of `account`'s room on this node, whichever node the
/// request came through.
pub(crate) async fn start_for(
    lobby: &std::sync::Arc<crate::Lobby>,
    account: gamestore_storage::AccountId,
) -> Result<MatchStarting, WireError> {
    // A delisted game finishes the matches it has but starts no new ones.
    if let Some(game) = lobby.rooms.game_of(account) {
        let key = game.clone();
        if lobby.db.game(&key).await.wire()?.is_some_and(|g| !g.listed) {
            return Err(WireError::new(
                ErrorCode::GameDelisted,
                format!("{game} was delisted by its developer: no new matches"),
            ));
        }
    }
    // Fair use: how often this player and room start, and how many game
    // servers the player's starts keep running. Given back if the start
    // goes no further.
    let room = lobby
        .rooms
        .room_of(account)
        .ok_or_else(|| WireError::new(ErrorCode::NotInRoom, "you are not in a room"))?;
    let admission = lobby.match_limits.admit(account, room)?;
    let plan = lobby.rooms.begin_start(account)?;
    let (game, version, room) = (plan.game.id.clone(), plan.game.version.clone(), plan.room);
    let players: Vec<i64> = plan.players.iter().map(|(id, _)| *id).collect();
    let node = lobby.node_id();
    let match_id = match lobby
        .db
        .begin_match(&game, &version, room as i64, &players, node, now())
        .await
        .wire()
    {
        Ok(id) => id,
        Err(e) => {
            lobby.rooms.ended(
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
    let slot = admission.commit(lobby.clone(), match_id);
    lobby.game_manager.track(matches::run_match(lobby.clone(), plan, match_id, token, slot));
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
