//! Game Store records in SQLite.
//!
//! **Invariant:** only this crate knows SQL. The lobby sees typed records
//! and typed errors; a second backend (PostgreSQL) would implement the same
//! methods without the lobby or the protocol changing.
//!
//! The database runs in WAL mode with `synchronous=FULL`, so a committed
//! write survives a kill -9 or a power cut. The schema is versioned with
//! `PRAGMA user_version` and migrated forward on open ([`migrations`]).
//!
//! Methods are synchronous and short; async callers run them on a blocking
//! thread. One connection behind a mutex serializes them, which keeps every
//! multi-statement change atomic without further locking.

mod accounts;
mod admin;
mod catalog;
mod distribution;
mod games;
mod matches;
mod migrations;
mod reviews;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;

pub use accounts::{Account, AccountId, Role, SessionRecord};
pub use admin::{AccountRow, AdminRecord, AdminSession, AuditRecord, BanRecord};
pub use catalog::{CatalogQuery, CatalogSort};
pub use distribution::DeveloperKey;
pub use games::{GameRecord, NewVersion, VersionRecord};
pub use matches::{MatchEnd, MatchRecord};
pub use reviews::{ReviewPosition, ReviewRecord};

/// What can go wrong in storage. Callers map these to wire errors.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A unique name is taken (account name, game id, ...).
    #[error("{0} is already taken")]
    Conflict(String),
    /// The record does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The database was written by a newer build.
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    TooNew { found: i64, supported: i64 },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// A handle to the database; cheap to clone, safe to share between threads.
#[derive(Clone)]
pub struct Storage {
    conn: Arc<Mutex<Connection>>,
    /// A second, read-only connection: in WAL mode its reads never wait for
    /// a write (or its sync to disk) on `conn`. The same as `conn` for an
    /// in-memory database.
    reader: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Storage { .. }")
    }
}

impl Storage {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Storage> {
        let conn = Arc::new(Mutex::new(Storage::setup(Connection::open(path)?)?));
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let reader = Connection::open_with_flags(path, flags)?;
        reader.busy_timeout(Duration::from_secs(5))?;
        reader.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        Ok(Storage { conn, reader: Arc::new(Mutex::new(reader)) })
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory() -> Result<Storage> {
        let conn = Arc::new(Mutex::new(Storage::setup(Connection::open_in_memory()?)?));
        Ok(Storage { reader: conn.clone(), conn })
    }

    fn setup(mut conn: Connection) -> Result<Connection> {
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        // Query plans that do not depend on bound values: otherwise SQLite
        // marks statements with `col = ?` terms to be re-planned whenever
        // their bindings are cleared, and every cached statement would be
        // parsed again on each use.
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        migrations::migrate(&mut conn)?;
        Ok(conn)
    }

    /// The connection, for the duration of one method.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (every
        // change is one transaction), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The read-only connection, for methods that only read. They are short
    /// and never wait on a write, so async callers may run them inline.
    fn reader(&self) -> MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Maps a UNIQUE constraint failure to [`StorageError::Conflict`].
fn conflict_on_unique(e: rusqlite::Error, what: impl FnOnce() -> String) -> StorageError {
    match e {
        rusqlite::Error::SqliteFailure(err, _)
            if err.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || err.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StorageError::Conflict(what())
        }
        other => StorageError::Sqlite(other),
    }
}
