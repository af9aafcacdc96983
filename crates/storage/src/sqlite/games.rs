//! Games and their published versions.
//!
//! A game row is created by its first version and updated by each later one;
//! versions are immutable once written. Version order (semver) is decided by
//! the caller, which passes the new latest version in.

use rusqlite::{OptionalExtension, Transaction, params};

use super::{SqliteStore, conflict_on_unique};
use crate::{AccountId, GameRecord, NewVersion, Result, StorageError, VersionRecord};

pub(crate) const GAME_COLUMNS: &str =
    "g.id, g.owner_id, a.name, g.name, g.description, g.kind, g.min_players,
     g.max_players, g.latest_version, g.listed, g.created_at, g.updated_at,
     (SELECT ROUND(AVG(r.rating), 1) FROM reviews r WHERE r.game_id = g.id),
     (SELECT COUNT(*) FROM reviews r WHERE r.game_id = g.id)";

const VERSION_COLUMNS: &str =
    "game_id, version, manifest, files, package_size, package_sha256, unpacked_bytes, published_at";

fn version_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<VersionRecord> {
    Ok(VersionRecord {
        game_id: r.get(0)?,
        version: r.get(1)?,
        manifest: r.get(2)?,
        files: r.get(3)?,
        package_size: r.get(4)?,
        package_sha256: r.get(5)?,
        unpacked_bytes: r.get(6)?,
        published_at: r.get(7)?,
    })
}

pub(crate) fn game_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<GameRecord> {
    Ok(GameRecord {
        id: row.get(0)?,
        owner_id: row.get(1)?,
        owner: row.get(2)?,
        name: row.get(3)?,
        description: row.get(4)?,
        kind: row.get(5)?,
        min_players: row.get(6)?,
        max_players: row.get(7)?,
        latest_version: row.get(8)?,
        listed: row.get(9)?,
        created_at: row.get(10)?,
        updated_at: row.get(11)?,
        versions: Vec::new(),
        rating: row.get(12)?,
        reviews: row.get(13)?,
    })
}

pub(crate) fn fill_versions(
    tx: &rusqlite::Connection,
    games: &mut [GameRecord],
) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "SELECT version FROM game_versions WHERE game_id = ?1 ORDER BY published_at, rowid",
    )?;
    for game in games {
        game.versions =
            stmt.query_map(params![game.id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    }
    Ok(())
}

fn query_games(
    conn: &rusqlite::Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<GameRecord>> {
    let sql = format!(
        "SELECT {GAME_COLUMNS} FROM games g JOIN accounts a ON a.id = g.owner_id {filter} ORDER BY g.name COLLATE NOCASE, g.id"
    );
    // One read transaction for the games and their versions: a consistent
    // view, and one lock instead of one per statement.
    let tx = conn.unchecked_transaction()?;
    let mut games: Vec<GameRecord> = tx
        .prepare_cached(&sql)?
        .query_map(args, game_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    fill_versions(&tx, &mut games)?;
    tx.commit()?;
    Ok(games)
}

impl SqliteStore {
    /// The game with this id, listed or not.
    pub fn game(&self, id: &str) -> Result<Option<GameRecord>> {
        Ok(query_games(&self.reader(), "WHERE g.id = ?1", params![id])?.pop())
    }

    /// Listed games, by name.
    pub fn listed_games(&self) -> Result<Vec<GameRecord>> {
        query_games(&self.reader(), "WHERE g.listed = 1", [])
    }

    /// Games owned by `owner`, by name.
    pub fn games_of(&self, owner: AccountId) -> Result<Vec<GameRecord>> {
        query_games(&self.reader(), "WHERE g.owner_id = ?1", params![owner])
    }

    /// One version of a game.
    pub fn game_version(&self, game_id: &str, version: &str) -> Result<Option<VersionRecord>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM game_versions WHERE game_id = ?1 AND version = ?2"
        );
        Ok(self.reader().query_row(&sql, params![game_id, version], version_from_row).optional()?)
    }

    /// Every version of a game, in publishing order.
    pub fn version_records(&self, game_id: &str) -> Result<Vec<VersionRecord>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM game_versions WHERE game_id = ?1 ORDER BY published_at, rowid"
        );
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows =
            stmt.query_map(params![game_id], version_from_row)?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Every (game id, version) stored, for reconciling the files area.
    pub fn all_versions(&self) -> Result<Vec<(String, String)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT game_id, version FROM game_versions")?;
        let rows =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Records a published version, creating the game on its first version.
    ///
    /// The caller has checked ownership and version order; `expect_latest`
    /// is the latest version it saw (`None` for a new game), and the write
    /// fails with [`StorageError::Conflict`] if that changed meanwhile, so two
    /// racing publishes cannot both win.
    pub fn publish_version(&self, new: &NewVersion, expect_latest: Option<&str>) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let current: Option<(String, AccountId)> = tx
            .query_row(
                "SELECT latest_version, owner_id FROM games WHERE id = ?1",
                params![new.version.game_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let v = &new.version;
        match (current, expect_latest) {
            (None, None) => {
                tx.execute(
                    "INSERT INTO games (id, owner_id, name, description, kind, min_players, max_players,
                                        latest_version, listed, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?9)",
                    params![
                        v.game_id, new.owner_id, new.name, new.description, new.kind,
                        new.min_players, new.max_players, v.version, v.published_at
                    ],
                )
                .map_err(|e| conflict_on_unique(e, || format!("game id {:?}", v.game_id)))?;
            }
            (Some((latest, owner)), Some(expected))
                if latest == expected && owner == new.owner_id =>
            {
                tx.execute(
                    "UPDATE games SET name = ?2, description = ?3, kind = ?4, min_players = ?5,
                            max_players = ?6, latest_version = ?7, updated_at = ?8
                     WHERE id = ?1",
                    params![
                        v.game_id,
                        new.name,
                        new.description,
                        new.kind,
                        new.min_players,
                        new.max_players,
                        v.version,
                        v.published_at
                    ],
                )?;
            }
            _ => {
                return Err(StorageError::Conflict(format!(
                    "game {:?} changed meanwhile",
                    v.game_id
                )));
            }
        }
        insert_version(&tx, v)?;
        tx.commit()?;
        Ok(())
    }

    /// Records the first version of many new games in one transaction (all
    /// or nothing): a bulk import, e.g. a catalog for a benchmark. Each game
    /// must not exist yet ([`StorageError::Conflict`] otherwise).
    pub fn import_games(&self, games: &[NewVersion]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for new in games {
            let v = &new.version;
            tx.execute(
                "INSERT INTO games (id, owner_id, name, description, kind, min_players, max_players,
                                    latest_version, listed, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?9)",
                params![
                    v.game_id, new.owner_id, new.name, new.description, new.kind,
                    new.min_players, new.max_players, v.version, v.published_at
                ],
            )
            .map_err(|e| conflict_on_unique(e, || format!("game id {:?}", v.game_id)))?;
            insert_version(&tx, v)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Lists or delists a game. [`StorageError::NotFound`] when it does not exist.
    pub fn set_listed(&self, game_id: &str, listed: bool, now: i64) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE games SET listed = ?2, updated_at = ?3 WHERE id = ?1",
            params![game_id, listed, now],
        )?;
        if n == 0 {
            return Err(StorageError::NotFound(format!("game {game_id:?}")));
        }
        Ok(())
    }
}

fn insert_version(tx: &Transaction<'_>, v: &VersionRecord) -> Result<()> {
    tx.execute(
        "INSERT INTO game_versions (game_id, version, manifest, files, package_size, package_sha256,
                                    unpacked_bytes, published_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            v.game_id, v.version, v.manifest, v.files, v.package_size, v.package_sha256,
            v.unpacked_bytes, v.published_at
        ],
    )
    .map_err(|e| conflict_on_unique(e, || format!("version {} of {:?}", v.version, v.game_id)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;

    fn new_version(owner: AccountId, id: &str, version: &str, at: i64) -> NewVersion {
        NewVersion {
            owner_id: owner,
            name: format!("Game {id}"),
            description: "d".into(),
            kind: "cli".into(),
            min_players: 2,
            max_players: 2,
            version: VersionRecord {
                game_id: id.into(),
                version: version.into(),
                manifest: "{}".into(),
                files: "[]".into(),
                package_size: 10,
                package_sha256: "00".into(),
                unpacked_bytes: 20,
                published_at: at,
            },
        }
    }

    #[test]
    fn publish_versions_and_list() {
        let db = SqliteStore::open_in_memory().unwrap();
        let dev = db.create_account(Role::Developer, "dev", "h", 1).unwrap();
        db.publish_version(&new_version(dev.id, "chess", "1.0.0", 10), None).unwrap();
        db.publish_version(&new_version(dev.id, "chess", "1.1.0", 20), Some("1.0.0")).unwrap();
        let game = db.game("chess").unwrap().unwrap();
        assert_eq!(game.latest_version, "1.1.0");
        assert_eq!(game.versions, ["1.0.0", "1.1.0"]);
        assert_eq!(game.owner, "dev");
        assert!(db.game_version("chess", "1.0.0").unwrap().is_some());
        assert_eq!(db.listed_games().unwrap().len(), 1);

        db.set_listed("chess", false, 30).unwrap();
        assert!(db.listed_games().unwrap().is_empty());
        assert_eq!(db.games_of(dev.id).unwrap().len(), 1);
        assert!(matches!(db.set_listed("nope", true, 1), Err(StorageError::NotFound(_))));

        let many: Vec<NewVersion> =
            (0..3).map(|i| new_version(dev.id, &format!("g{i}"), "1.0.0", 40)).collect();
        db.import_games(&many).unwrap();
        assert_eq!(db.listed_games().unwrap().len(), 3);
        let again = db.import_games(&[new_version(dev.id, "g9", "1.0.0", 50), many[0].clone()]);
        assert!(matches!(again, Err(StorageError::Conflict(_))));
        assert!(db.game("g9").unwrap().is_none(), "all or nothing");
    }

    #[test]
    fn racing_publishes_cannot_both_win() {
        let db = SqliteStore::open_in_memory().unwrap();
        let dev = db.create_account(Role::Developer, "dev", "h", 1).unwrap();
        db.publish_version(&new_version(dev.id, "chess", "1.0.0", 10), None).unwrap();
        // A second "first publish" of the same id.
        let again = db.publish_version(&new_version(dev.id, "chess", "2.0.0", 11), None);
        assert!(matches!(again, Err(StorageError::Conflict(_))));
        // A stale view of the latest version.
        db.publish_version(&new_version(dev.id, "chess", "1.1.0", 12), Some("1.0.0")).unwrap();
        let stale = db.publish_version(&new_version(dev.id, "chess", "1.2.0", 13), Some("1.0.0"));
        assert!(matches!(stale, Err(StorageError::Conflict(_))));
        // Another owner.
        let other = db.create_account(Role::Developer, "eve", "h", 1).unwrap();
        let theft = db.publish_version(&new_version(other.id, "chess", "9.0.0", 14), Some("1.1.0"));
        assert!(matches!(theft, Err(StorageError::Conflict(_))));
        assert_eq!(db.game("chess").unwrap().unwrap().versions, ["1.0.0", "1.1.0"]);
    }
}
