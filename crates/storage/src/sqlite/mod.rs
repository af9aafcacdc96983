//! The SQLite backend: the embedded default.
//!
//! The database runs in WAL mode with `synchronous=FULL`, so a committed
//! write survives a kill -9 or a power cut. The schema is versioned with
//! `PRAGMA user_version` and migrated forward on open ([`migrations`]).
//!
//! Methods are synchronous and short; [`crate::Storage`] runs writes on a
//! blocking thread and reads inline. One connection behind a mutex
//! serializes writes, which keeps every multi-statement change atomic
//! without further locking.

mod accounts;
mod admin;
mod catalog;
mod distribution;
mod games;
mod matches;
pub(crate) mod migrations;
mod reviews;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;

use crate::StorageError;

/// A SQLite database; cheap to clone, safe to share between threads.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// A second, read-only connection: in WAL mode its reads never wait for
    /// a write (or its sync to disk) on `conn`. The same as `conn` for an
    /// in-memory database.
    reader: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore { .. }")
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path) -> crate::Result<SqliteStore> {
        let conn = Arc::new(Mutex::new(SqliteStore::setup(Connection::open(path)?)?));
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let reader = Connection::open_with_flags(path, flags)?;
        reader.busy_timeout(Duration::from_secs(5))?;
        reader.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        Ok(SqliteStore { conn, reader: Arc::new(Mutex::new(reader)) })
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory() -> crate::Result<SqliteStore> {
        let conn = Arc::new(Mutex::new(SqliteStore::setup(Connection::open_in_memory()?)?));
        Ok(SqliteStore { reader: conn.clone(), conn })
    }

    fn setup(mut conn: Connection) -> crate::Result<Connection> {
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

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> StorageError {
        match &e {
            rusqlite::Error::QueryReturnedNoRows => StorageError::NotFound("record".into()),
            rusqlite::Error::SqliteFailure(err, _)
                if matches!(
                    err.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                StorageError::Busy(e.to_string())
            }
            _ => StorageError::Database(e.to_string()),
        }
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
        other => other.into(),
    }
}
