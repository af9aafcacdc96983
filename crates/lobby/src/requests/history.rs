//! MATCH_HISTORY: a player's matches.

use gamestore_protocol::{MatchHistory, MatchHistoryReply, MatchSummary, WireError};
use gamestore_storage::Role;

use crate::connection::Conn;

pub async fn history(conn: &Conn, request: MatchHistory) -> Result<MatchHistoryReply, WireError> {
    let player = conn.require(Role::Player)?.id;
    let limit = request.limit.clamp(1, 500);
    let records = conn.lobby.read(move |db| db.matches_of(player, limit))?;
    let matches = records
        .into_iter()
        .map(|m| {
            let end = m.end.as_ref();
            MatchSummary {
                match_id: m.id,
                game: m.game_id,
                game_name: m.game_name,
                version: m.version,
                players: m.players,
                started_at: m.started_at,
                ended_at: end.map(|e| e.ended_at),
                duration_secs: end.map(|e| e.ended_at - m.started_at),
                outcome: end.map(|e| e.outcome.clone()),
                result: end
                    .and_then(|e| e.result.as_deref())
                    .and_then(|r| serde_json::from_str(r).ok()),
            }
        })
        .collect();
    Ok(MatchHistoryReply { matches })
}
