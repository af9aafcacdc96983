//! Developer signing keys and version signatures.

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::{AccountId, DeveloperKey, Result, StorageError};

impl SqliteStore {
    /// A developer's keys, oldest first; the last is the current one.
    pub fn developer_keys(&self, developer: AccountId) -> Result<Vec<DeveloperKey>> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT key, added_at, statement, statement_signature FROM developer_keys
             WHERE developer_id = ?1 ORDER BY added_at, rowid",
        )?;
        let rows = stmt
            .query_map(params![developer], |row| {
                let statement: Option<String> = row.get(2)?;
                let signature: Option<String> = row.get(3)?;
                Ok(DeveloperKey {
                    key: row.get(0)?,
                    added_at: row.get(1)?,
                    rotation: statement.zip(signature),
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Adds `key` as the developer's current key, if the current key is
    /// still `expect_current` (`None`: the developer has no key yet);
    /// `Conflict` otherwise.
    pub fn add_developer_key(
        &self,
        developer: AccountId,
        expect_current: Option<&str>,
        key: &DeveloperKey,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let current: Option<String> = tx
            .query_row(
                "SELECT key FROM developer_keys WHERE developer_id = ?1
                 ORDER BY added_at DESC, rowid DESC LIMIT 1",
                params![developer],
                |row| row.get(0),
            )
            .optional()?;
        if current.as_deref() != expect_current {
            return Err(StorageError::Conflict("the developer's key changed meanwhile".into()));
        }
        let (statement, signature) = key.rotation.clone().unzip();
        tx.execute(
            "INSERT INTO developer_keys (developer_id, key, added_at, statement, statement_signature)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![developer, key.key, key.added_at, statement, signature],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                StorageError::Conflict("that key was registered before".into())
            }
            other => other.into(),
        })?;
        tx.commit()?;
        Ok(())
    }

    /// Records the signature of a version (before its version row is
    /// written, so a visible signed version always has it).
    pub fn set_version_signature(
        &self,
        game_id: &str,
        version: &str,
        signature: &str,
        key: &str,
    ) -> Result<()> {
        self.conn().execute(
            "INSERT OR REPLACE INTO version_signatures (game_id, version, signature, key)
             VALUES (?1, ?2, ?3, ?4)",
            params![game_id, version, signature, key],
        )?;
        Ok(())
    }

    /// Records the zip of a version built after it was published (a signed,
    /// chunked version gets its zip on first demand). Only a version without
    /// one is changed; returns whether it was.
    pub fn set_version_package(
        &self,
        game_id: &str,
        version: &str,
        size: u64,
        sha256: &str,
        files: &str,
    ) -> Result<bool> {
        let changed = self.conn().execute(
            "UPDATE game_versions SET package_size = ?3, package_sha256 = ?4, files = ?5
             WHERE game_id = ?1 AND version = ?2 AND package_sha256 = ''",
            params![game_id, version, size, sha256, files],
        )?;
        Ok(changed > 0)
    }

    /// The (signature, key) of a signed version.
    pub fn set_version_node(&self, game_id: &str, version: &str, node: &str) -> Result<()> {
        self.conn().execute(
            "INSERT OR REPLACE INTO version_nodes (game_id, version, node) VALUES (?1, ?2, ?3)",
            params![game_id, version, node],
        )?;
        Ok(())
    }

    pub fn version_node(&self, game_id: &str, version: &str) -> Result<Option<String>> {
        Ok(self
            .reader()
            .query_row(
                "SELECT node FROM version_nodes WHERE game_id = ?1 AND version = ?2",
                params![game_id, version],
                |row| row.get(0),
            )
            .optional()?)
    }

    pub fn version_signature(
        &self,
        game_id: &str,
        version: &str,
    ) -> Result<Option<(String, String)>> {
        Ok(self
            .reader()
            .query_row(
                "SELECT signature, key FROM version_signatures WHERE game_id = ?1 AND version = ?2",
                params![game_id, version],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?)
    }
}
