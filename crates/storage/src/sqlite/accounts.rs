//! Accounts and sessions.
//!
//! Only password hashes and token hashes are stored: the lobby hashes
//! before calling in, so a copy of the database reveals no secret.

use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, conflict_on_unique};
use crate::{Account, AccountId, Result, Role, SessionRecord, StorageError};

pub(crate) const ACCOUNT_COLUMNS: &str = "a.id, a.role, a.name, a.password_hash, a.created_at";

pub(crate) fn account_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        id: row.get(0)?,
        role: Role::from_stored(&row.get::<_, String>(1)?),
        name: row.get(2)?,
        password_hash: row.get(3)?,
        created_at: row.get(4)?,
    })
}

impl SqliteStore {
    /// Creates an account; [`StorageError::Conflict`] when the name is taken
    /// for that role (names compare case-insensitively).
    pub fn create_account(
        &self,
        role: Role,
        name: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<Account> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO accounts (role, name, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![role.as_str(), name, password_hash, now],
        )
        .map_err(|e| conflict_on_unique(e, || format!("{} name {name:?}", role.as_str())))?;
        Ok(Account {
            id: conn.last_insert_rowid(),
            role,
            name: name.to_owned(),
            password_hash: password_hash.to_owned(),
            created_at: now,
        })
    }

    /// The account of `role` named `name` (case-insensitive).
    pub fn find_account(&self, role: Role, name: &str) -> Result<Option<Account>> {
        let sql =
            format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.role = ?1 AND a.name = ?2");
        Ok(self
            .conn()
            .query_row(&sql, params![role.as_str(), name], account_from_row)
            .optional()?)
    }

    /// Starts a session for `account`, ending every older session of it
    /// (one live session per account). Returns how many were ended.
    pub fn replace_session(
        &self,
        account: AccountId,
        token_hash: &[u8],
        now: i64,
        expires_at: i64,
    ) -> Result<usize> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let ended = tx.execute("DELETE FROM sessions WHERE account_id = ?1", params![account])?;
        tx.execute(
            "INSERT INTO sessions (token_hash, account_id, created_at, last_used_at, expires_at)
             VALUES (?1, ?2, ?3, ?3, ?4)",
            params![token_hash, account, now, expires_at],
        )?;
        tx.commit()?;
        Ok(ended)
    }

    /// The unexpired session with this token hash. Touching it moves its
    /// expiry to `new_expiry` (sessions expire when unused, not when old).
    pub fn touch_session(
        &self,
        token_hash: &[u8],
        now: i64,
        new_expiry: i64,
    ) -> Result<Option<SessionRecord>> {
        let conn = self.conn();
        let updated = conn.execute(
            "UPDATE sessions SET last_used_at = ?2, expires_at = ?3
             WHERE token_hash = ?1 AND expires_at > ?2",
            params![token_hash, now, new_expiry],
        )?;
        if updated == 0 {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, s.expires_at FROM sessions s
             JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = ?1"
        );
        Ok(conn
            .query_row(&sql, params![token_hash], |row| {
                Ok(SessionRecord { account: account_from_row(row)?, expires_at: row.get(5)? })
            })
            .optional()?)
    }

    /// Ends the session with this token hash; false when there was none.
    pub fn delete_session(&self, token_hash: &[u8]) -> Result<bool> {
        let n = self
            .conn()
            .execute("DELETE FROM sessions WHERE token_hash = ?1", params![token_hash])?;
        Ok(n > 0)
    }

    /// Removes sessions that expired before `now`; returns how many.
    pub fn purge_expired_sessions(&self, now: i64) -> Result<usize> {
        Ok(self.conn().execute("DELETE FROM sessions WHERE expires_at <= ?1", params![now])?)
    }

    /// The account with this id.
    pub fn account(&self, id: AccountId) -> Result<Account> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = ?1");
        self.conn()
            .query_row(&sql, params![id], account_from_row)
            .optional()?
            .ok_or_else(|| StorageError::NotFound(format!("account {id}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_once_per_role() {
        let db = SqliteStore::open_in_memory().unwrap();
        db.create_account(Role::Player, "ann", "h1", 1).unwrap();
        db.create_account(Role::Developer, "ann", "h2", 1).unwrap();
        let dup = db.create_account(Role::Player, "ANN", "h3", 1);
        assert!(matches!(dup, Err(StorageError::Conflict(_))), "{dup:?}");
        let found = db.find_account(Role::Developer, "Ann").unwrap().unwrap();
        assert_eq!((found.name.as_str(), found.password_hash.as_str()), ("ann", "h2"));
        assert!(db.find_account(Role::Player, "bob").unwrap().is_none());
    }

    #[test]
    fn one_session_per_account() {
        let db = SqliteStore::open_in_memory().unwrap();
        let ann = db.create_account(Role::Player, "ann", "h", 1).unwrap();
        assert_eq!(db.replace_session(ann.id, b"t1", 10, 100).unwrap(), 0);
        assert_eq!(db.replace_session(ann.id, b"t2", 20, 100).unwrap(), 1);
        assert!(db.touch_session(b"t1", 30, 200).unwrap().is_none());
        let session = db.touch_session(b"t2", 30, 200).unwrap().unwrap();
        assert_eq!((session.account.id, session.expires_at), (ann.id, 200));
    }

    #[test]
    fn expired_sessions_do_not_resume() {
        let db = SqliteStore::open_in_memory().unwrap();
        let ann = db.create_account(Role::Player, "ann", "h", 1).unwrap();
        db.replace_session(ann.id, b"t", 10, 50).unwrap();
        assert!(db.touch_session(b"t", 50, 90).unwrap().is_none());
        assert_eq!(db.purge_expired_sessions(60).unwrap(), 1);
        assert!(!db.delete_session(b"t").unwrap());
    }
}
