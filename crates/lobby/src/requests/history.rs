//! MATCH_HISTORY: a player's matches, newest first, a page at a time.

use crate::WireResult;
use gamestore_protocol::{MatchHistory, MatchHistoryReply, MatchSummary, WireError};
use gamestore_storage::Role;

use crate::connection::Conn;
use crate::paging::{cursor_key, page_limit, take_page};

pub(super) async fn history(
    conn: &Conn,
    request: MatchHistory,
) -> Result<MatchHistoryReply, WireError> {
    let player = conn.require(Role::Player)?.id;
    let limit = page_limit(Some(request.limit), 50, 500);
    let before: Option<(i64, i64)> = cursor_key(request.cursor.as_deref())?;
    // One more than the page, to know whether another page follows.
    let records = conn.lobby.db.matches_page(player, before, limit as u32 + 1).await.wire()?;
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
                message: end.and_then(|e| e.message.clone()),
            }
        })
        .collect::<Vec<_>>();
    let (matches, next_cursor) = take_page(matches, limit, |m| (m.started_at, m.match_id));
    Ok(MatchHistoryReply { matches, next_cursor })
}
