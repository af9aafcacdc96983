//! The store catalog as the website pages it: search, sort and paging over
//! listed games, cheap with tens of thousands of games (only one page of
//! rows is built).

use rusqlite::params;

use super::SqliteStore;
use super::games::{GAME_COLUMNS, fill_versions, game_from_row};
use crate::like_pattern;
use crate::{CatalogQuery, CatalogSort, GameRecord, Result};

impl SqliteStore {
    /// A page of listed games matching `query`, and how many match in all.
    pub fn catalog_page(&self, query: &CatalogQuery) -> Result<(Vec<GameRecord>, u32)> {
        let pattern = like_pattern(query.search.trim());
        let order = match query.sort {
            CatalogSort::Name => "g.name COLLATE NOCASE, g.id",
            CatalogSort::Rating => {
                "(SELECT AVG(r.rating) FROM reviews r WHERE r.game_id = g.id) IS NULL,
                 (SELECT AVG(r.rating) FROM reviews r WHERE r.game_id = g.id) DESC,
                 g.name COLLATE NOCASE, g.id"
            }
            CatalogSort::Newest => "g.created_at DESC, g.rowid DESC",
        };
        let filter = "g.listed = 1 AND (?1 = '%%' OR g.id LIKE ?1 ESCAPE '\\'
             OR g.name LIKE ?1 ESCAPE '\\' OR g.description LIKE ?1 ESCAPE '\\')";
        let conn = self.reader();
        let tx = conn.unchecked_transaction()?;
        let total: u32 = tx.query_row(
            &format!("SELECT COUNT(*) FROM games g WHERE {filter}"),
            params![pattern],
            |r| r.get(0),
        )?;
        let sql = format!(
            "SELECT {GAME_COLUMNS} FROM games g JOIN accounts a ON a.id = g.owner_id
             WHERE {filter} ORDER BY {order} LIMIT ?2 OFFSET ?3"
        );
        let mut games: Vec<GameRecord> = tx
            .prepare_cached(&sql)?
            .query_map(params![pattern, query.limit, query.offset], game_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        fill_versions(&tx, &mut games)?;
        tx.commit()?;
        Ok((games, total))
    }

    /// Every game, listed or not, matching `search` (for the admin pages).
    pub fn all_games_page(
        &self,
        search: &str,
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<GameRecord>, u32)> {
        let pattern = like_pattern(search.trim());
        let filter = "(?1 = '%%' OR g.id LIKE ?1 ESCAPE '\\' OR g.name LIKE ?1 ESCAPE '\\')";
        let conn = self.reader();
        let tx = conn.unchecked_transaction()?;
        let total: u32 = tx.query_row(
            &format!("SELECT COUNT(*) FROM games g WHERE {filter}"),
            params![pattern],
            |r| r.get(0),
        )?;
        let sql = format!(
            "SELECT {GAME_COLUMNS} FROM games g JOIN accounts a ON a.id = g.owner_id
             WHERE {filter} ORDER BY g.name COLLATE NOCASE, g.id LIMIT ?2 OFFSET ?3"
        );
        let mut games: Vec<GameRecord> = tx
            .prepare_cached(&sql)?
            .query_map(params![pattern, limit, offset], game_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        fill_versions(&tx, &mut games)?;
        tx.commit()?;
        Ok((games, total))
    }
}
