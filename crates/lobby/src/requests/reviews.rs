//! REVIEW_SUBMIT and REVIEW_LIST: ratings and reviews (flow P4).
//!
//! Only a player with a recorded match of a game may review it, once; a
//! second submission edits the review (its creation time stays).

use crate::WireResult;
use gamestore_protocol::{
    ErrorCode, MAX_REVIEW_CHARS, Review, ReviewList, ReviewListReply, ReviewSubmit,
    ReviewSubmitted, WireError,
};
use gamestore_storage::{ReviewRecord, Role};

use super::game_download::visible_game;
use crate::connection::Conn;
use crate::now;
use crate::paging::{cursor_key, page_limit, take_page};

pub(super) fn wire_review(r: ReviewRecord) -> Review {
    Review {
        player: r.player,
        rating: r.rating,
        text: r.text,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

/// The review text as stored: trimmed, bounded, no control characters
/// other than line breaks, no text-direction or invisible characters.
fn clean_text(text: &str) -> Result<String, WireError> {
    let text = text.trim();
    if text.chars().count() > MAX_REVIEW_CHARS {
        return Err(WireError::new(
            ErrorCode::InvalidReview,
            format!(
                "a review is at most {MAX_REVIEW_CHARS} characters; this one has {}",
                text.chars().count()
            ),
        ));
    }
    if let Err(problem) = crate::text::check(text, crate::text::Lines::Multi) {
        return Err(WireError::new(ErrorCode::InvalidReview, format!("the review {problem}")));
    }
    Ok(text.to_owned())
}

pub(super) async fn submit(
    conn: &Conn,
    request: ReviewSubmit,
) -> Result<ReviewSubmitted, WireError> {
    let player = conn.require(Role::Player)?.id;
    if !(1..=5).contains(&request.rating) {
        return Err(WireError::new(
            ErrorCode::InvalidRating,
            format!("ratings are 1 to 5 stars, not {}", request.rating),
        ));
    }
    let text = clean_text(&request.text)?;
    let game = visible_game(conn, &request.game).await?;
    let id = game.id.clone();
    if !conn.lobby.db.has_played(player, &id).await.wire()? {
        return Err(WireError::new(
            ErrorCode::NotPlayed,
            format!("play a match of {} before reviewing it", game.name),
        ));
    }
    let (id, rating) = (game.id.clone(), request.rating);
    let (record, created) =
        conn.lobby.db.upsert_review(&id, player, rating, &text, now()).await.wire()?;
    conn.lobby.catalog.game_changed(&conn.lobby.db, &game.id).await;
    tracing::info!(game = %game.id, player = %record.player, rating, created, "review saved");
    Ok(ReviewSubmitted { review: wire_review(record), created })
}

/// A page of a game's reviews, newest written first. Without a cursor,
/// `offset` reviews are skipped first (the older way of paging).
pub(super) async fn list(conn: &Conn, request: ReviewList) -> Result<ReviewListReply, WireError> {
    let game = visible_game(conn, &request.game).await?;
    let limit = page_limit(Some(request.limit), 20, 100);
    let after: Option<(i64, i64)> = cursor_key(request.cursor.as_deref())?;
    let id = game.id.clone();
    let (page, total) = match after {
        Some((updated_at, seq)) => {
            let after = gamestore_storage::ReviewPosition { updated_at, seq };
            conn.lobby.db.reviews_page(&id, Some(after), limit as u32 + 1).await.wire()?
        }
        None if request.offset == 0 => {
            conn.lobby.db.reviews_page(&id, None, limit as u32 + 1).await.wire()?
        }
        None => {
            // Skip to the offset by position, then page from there.
            let offset = request.offset;
            let db = &conn.lobby.db;
            let (skipped, total) = db.reviews_page(&id, None, offset).await.wire()?;
            match skipped.last() {
                None => (Vec::new(), total),
                Some((last, _)) => {
                    db.reviews_page(&id, Some(*last), limit as u32 + 1).await.wire()?
                }
            }
        }
    };
    let page = page.into_iter().map(|(p, r)| ((p.updated_at, p.seq), wire_review(r)));
    let (page, next_cursor) = take_page(page, limit, |(key, _)| *key);
    Ok(ReviewListReply {
        game: game.id,
        reviews: page.into_iter().map(|(_, r)| r).collect(),
        total,
        rating: game.rating,
        next_cursor,
    })
}
