//! Reviews: one rating (and optional text) per player per game.

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::{AccountId, Result, ReviewPosition, ReviewRecord};

impl SqliteStore {
    /// Writes the player's review of a game, keeping the creation time of
    /// an earlier one. Returns the review and whether it is new.
    pub fn upsert_review(
        &self,
        game_id: &str,
        player: AccountId,
        rating: u8,
        text: &str,
        now: i64,
    ) -> Result<(ReviewRecord, bool)> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let existed: Option<i64> = tx
            .query_row(
                "SELECT created_at FROM reviews WHERE game_id = ?1 AND account_id = ?2",
                params![game_id, player],
                |r| r.get(0),
            )
            .optional()?;
        // Delete and insert rather than update: the new row id orders the
        // edited review as the newest, even within the same second.
        tx.execute(
            "DELETE FROM reviews WHERE game_id = ?1 AND account_id = ?2",
            params![game_id, player],
        )?;
        tx.execute(
            "INSERT INTO reviews (game_id, account_id, rating, text, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![game_id, player, rating, text, existed.unwrap_or(now), now],
        )?;
        let name: String =
            tx.query_row("SELECT name FROM accounts WHERE id = ?1", params![player], |r| r.get(0))?;
        tx.commit()?;
        let record = ReviewRecord {
            player: name,
            rating,
            text: text.to_owned(),
            created_at: existed.unwrap_or(now),
            updated_at: now,
        };
        Ok((record, existed.is_none()))
    }

    /// A page of a game's reviews after `after` (the [`ReviewPosition`] of
    /// the last review seen; `None` for the first page), most recently
    /// written first, each with its position, and the total.
    pub fn reviews_page(
        &self,
        game_id: &str,
        after: Option<ReviewPosition>,
        limit: u32,
    ) -> Result<(Vec<(ReviewPosition, ReviewRecord)>, u32)> {
        let conn = self.reader();
        let total: u32 = conn.query_row(
            "SELECT COUNT(*) FROM reviews WHERE game_id = ?1",
            params![game_id],
            |r| r.get(0),
        )?;
        let mut stmt = conn.prepare_cached(
            "SELECT a.name, r.rating, r.text, r.created_at, r.updated_at, r.rowid
             FROM reviews r JOIN accounts a ON a.id = r.account_id
             WHERE r.game_id = ?1 AND (?3 IS NULL OR (r.updated_at, r.rowid) < (?3, ?4))
             ORDER BY r.updated_at DESC, r.rowid DESC LIMIT ?2",
        )?;
        let (at, seq) = after.map_or((None, None), |p| (Some(p.updated_at), Some(p.seq)));
        let reviews = stmt
            .query_map(params![game_id, limit, at, seq], |r| {
                let record = ReviewRecord {
                    player: r.get(0)?,
                    rating: r.get(1)?,
                    text: r.get(2)?,
                    created_at: r.get(3)?,
                    updated_at: r.get(4)?,
                };
                Ok((ReviewPosition { updated_at: record.updated_at, seq: r.get(5)? }, record))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok((reviews, total))
    }

    /// A page of a game's reviews, most recently written first, and the total.
    pub fn reviews_of(
        &self,
        game_id: &str,
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<ReviewRecord>, u32)> {
        let conn = self.reader();
        let total: u32 = conn.query_row(
            "SELECT COUNT(*) FROM reviews WHERE game_id = ?1",
            params![game_id],
            |r| r.get(0),
        )?;
        let mut stmt = conn.prepare_cached(
            "SELECT a.name, r.rating, r.text, r.created_at, r.updated_at
             FROM reviews r JOIN accounts a ON a.id = r.account_id
             WHERE r.game_id = ?1 ORDER BY r.updated_at DESC, r.rowid DESC LIMIT ?2 OFFSET ?3",
        )?;
        let reviews = stmt
            .query_map(params![game_id, limit, offset], |r| {
                Ok(ReviewRecord {
                    player: r.get(0)?,
                    rating: r.get(1)?,
                    text: r.get(2)?,
                    created_at: r.get(3)?,
                    updated_at: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok((reviews, total))
    }
}
