//! Matches: who played what, when, and how it ended.
//!
//! A match row is written when its game server is spawned and completed when
//! it ends, and carries the node that runs it. Rows of a node still open
//! when that node starts (or when the other nodes take it for dead) belong
//! to a lobby that died mid-match; [`SqliteStore::abort_open_matches`]
//! closes them as aborted.

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::{AccountId, MatchEnd, MatchRecord, Result};

impl SqliteStore {
    /// Records a match starting; returns its id.
    pub fn begin_match(
        &self,
        game_id: &str,
        version: &str,
        room_id: i64,
        players: &[AccountId],
        node: &str,
        now: i64,
    ) -> Result<i64> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO matches (game_id, version, room_id, node, started_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![game_id, version, room_id, node, now],
        )?;
        let id = tx.last_insert_rowid();
        for player in players {
            tx.execute(
                "INSERT INTO match_players (match_id, account_id) VALUES (?1, ?2)",
                params![id, player],
            )?;
        }
        tx.commit()?;
        Ok(id)
    }

    /// Records how a match ended.
    pub fn end_match(&self, id: i64, end: &MatchEnd) -> Result<()> {
        self.conn().execute(
            "UPDATE matches SET ended_at = ?2, outcome = ?3, exit_code = ?4, result = ?5,
               message = ?6
             WHERE id = ?1",
            params![id, end.ended_at, end.outcome, end.exit_code, end.result, end.message],
        )?;
        Ok(())
    }

    /// Closes the matches of `node` (of every node when `None`) left open
    /// by a lobby that stopped without ending them.
    pub fn abort_open_matches(&self, node: Option<&str>, now: i64, message: &str) -> Result<usize> {
        Ok(self.conn().execute(
            "UPDATE matches SET ended_at = ?1, outcome = 'aborted', message = ?3
             WHERE ended_at IS NULL AND (?2 IS NULL OR node = ?2)",
            params![now, node, message],
        )?)
    }

    /// True when `player` took part in a match of `game_id` that started.
    pub fn has_played(&self, player: AccountId, game_id: &str) -> Result<bool> {
        let found: Option<i64> = self
            .reader()
            .query_row(
                "SELECT m.id FROM matches m JOIN match_players p ON p.match_id = m.id
                 WHERE p.account_id = ?1 AND m.game_id = ?2 AND m.outcome IS NOT 'never_started' LIMIT 1",
                params![player, game_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(found.is_some())
    }

    /// The matches `player` took part in, newest first, at most `limit`.
    pub fn matches_of(&self, player: AccountId, limit: u32) -> Result<Vec<MatchRecord>> {
        self.matches_page(player, None, limit)
    }

    /// A page of [`SqliteStore::matches_of`]: at most `limit` matches older than
    /// `before`, a (`started_at`, `id`) pair of the last match seen.
    pub fn matches_page(
        &self,
        player: AccountId,
        before: Option<(i64, i64)>,
        limit: u32,
    ) -> Result<Vec<MatchRecord>> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT m.id, m.game_id, COALESCE(g.name, m.game_id), m.version, m.room_id, m.started_at,
                    m.ended_at, m.outcome, m.exit_code, m.result, m.node, m.message
             FROM matches m JOIN match_players p ON p.match_id = m.id
             LEFT JOIN games g ON g.id = m.game_id
             WHERE p.account_id = ?1 AND (?3 IS NULL OR (m.started_at, m.id) < (?3, ?4))
             ORDER BY m.started_at DESC, m.id DESC LIMIT ?2",
        )?;
        let (at, id) = before.map_or((None, None), |(at, id)| (Some(at), Some(id)));
        let mut matches: Vec<MatchRecord> = stmt
            .query_map(params![player, limit, at, id], |r| {
                let ended_at: Option<i64> = r.get(6)?;
                Ok(MatchRecord {
                    id: r.get(0)?,
                    game_id: r.get(1)?,
                    game_name: r.get(2)?,
                    version: r.get(3)?,
                    room_id: r.get(4)?,
                    node: r.get(10)?,
                    started_at: r.get(5)?,
                    end: match ended_at {
                        Some(ended_at) => Some(MatchEnd {
                            ended_at,
                            outcome: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
                            exit_code: r.get(8)?,
                            result: r.get(9)?,
                            message: r.get(11)?,
                        }),
                        None => None,
                    },
                    players: Vec::new(),
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut players = conn.prepare_cached(
            "SELECT a.name FROM match_players p JOIN accounts a ON a.id = p.account_id
             WHERE p.match_id = ?1 ORDER BY a.name COLLATE NOCASE",
        )?;
        for m in &mut matches {
            m.players =
                players.query_map(params![m.id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        }
        Ok(matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewVersion, Role, VersionRecord};

    #[test]
    fn matches_are_recorded_and_open_ones_aborted() {
        let db = SqliteStore::open_in_memory().unwrap();
        let dev = db.create_account(Role::Developer, "dev", "h", 1).unwrap();
        let ann = db.create_account(Role::Player, "ann", "h", 1).unwrap();
        let bob = db.create_account(Role::Player, "bob", "h", 1).unwrap();
        let version = VersionRecord {
            game_id: "chess".into(),
            version: "1.0.0".into(),
            manifest: "{}".into(),
            files: "[]".into(),
            package_size: 1,
            package_sha256: "00".into(),
            unpacked_bytes: 1,
            published_at: 1,
        };
        let new = NewVersion {
            owner_id: dev.id,
            name: "Chess".into(),
            description: String::new(),
            kind: "cli".into(),
            min_players: 2,
            max_players: 2,
            version,
        };
        db.publish_version(&new, None).unwrap();
        assert!(!db.has_played(ann.id, "chess").unwrap());
        let m1 = db.begin_match("chess", "1.0.0", 1, &[ann.id, bob.id], "local", 10).unwrap();
        let end = MatchEnd {
            ended_at: 20,
            outcome: "completed".into(),
            exit_code: Some(0),
            result: None,
            message: None,
        };
        db.end_match(m1, &end).unwrap();
        let m2 = db.begin_match("chess", "1.0.0", 1, &[ann.id], "local", 30).unwrap();
        assert_eq!(db.abort_open_matches(None, 40, "the lobby stopped").unwrap(), 1);
        assert!(db.has_played(bob.id, "chess").unwrap());

        let history = db.matches_of(ann.id, 10).unwrap();
        assert_eq!(history.iter().map(|m| m.id).collect::<Vec<_>>(), [m2, m1]);
        let first = db.matches_page(ann.id, None, 1).unwrap();
        assert_eq!(first.iter().map(|m| m.id).collect::<Vec<_>>(), [m2]);
        let rest = db.matches_page(ann.id, Some((first[0].started_at, m2)), 10).unwrap();
        assert_eq!(rest.iter().map(|m| m.id).collect::<Vec<_>>(), [m1]);
        assert_eq!(history[0].end.as_ref().unwrap().outcome, "aborted");
        assert_eq!(history[1].players, ["ann", "bob"]);
        assert_eq!(history[1].game_name, "Chess");
    }
}
