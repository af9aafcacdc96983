//! The lobby's admins, their web sessions, bans on accounts, and the audit
//! log of admin actions.
//!
//! Admins are a separate kind of account: they sign in to the admin pages
//! only, never to the lobby protocol. Like every other secret, only the
//! password's Argon2id hash and the session token's SHA-256 are stored.

use rusqlite::{OptionalExtension, params};

use super::accounts::{ACCOUNT_COLUMNS, account_from_row};
use super::{SqliteStore, conflict_on_unique};
use crate::{
    AccountId, AccountRow, AdminRecord, AdminSession, AuditRecord, BanRecord, MatchEnd,
    MatchRecord, Result,
};

impl SqliteStore {
    /// Creates an admin; `Conflict` when the name is taken.
    pub fn create_admin(&self, name: &str, password_hash: &str, now: i64) -> Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO admins (name, password_hash, created_at) VALUES (?1, ?2, ?3)",
            params![name, password_hash, now],
        )
        .map_err(|e| conflict_on_unique(e, || format!("admin {name}")))?;
        Ok(conn.last_insert_rowid())
    }

    pub fn find_admin(&self, name: &str) -> Result<Option<AdminRecord>> {
        Ok(self
            .reader()
            .query_row(
                "SELECT id, name, password_hash FROM admins WHERE name = ?1",
                params![name],
                |r| Ok(AdminRecord { id: r.get(0)?, name: r.get(1)?, password_hash: r.get(2)? }),
            )
            .optional()?)
    }

    /// Starts an admin web session.
    pub fn create_admin_session(
        &self,
        token_hash: &[u8],
        admin_id: i64,
        csrf: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        let conn = self.conn();
        conn.execute("DELETE FROM admin_sessions WHERE expires_at <= ?1", params![now])?;
        conn.execute(
            "INSERT INTO admin_sessions (token_hash, admin_id, csrf, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![token_hash, admin_id, csrf, now, expires_at],
        )?;
        Ok(())
    }

    /// The live admin session with this token hash.
    pub fn admin_session(&self, token_hash: &[u8], now: i64) -> Result<Option<AdminSession>> {
        Ok(self
            .reader()
            .query_row(
                "SELECT a.id, a.name, a.password_hash, s.csrf, s.expires_at
                 FROM admin_sessions s JOIN admins a ON a.id = s.admin_id
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2",
                params![token_hash, now],
                |r| {
                    Ok(AdminSession {
                        admin: AdminRecord {
                            id: r.get(0)?,
                            name: r.get(1)?,
                            password_hash: r.get(2)?,
                        },
                        csrf: r.get(3)?,
                        expires_at: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn delete_admin_session(&self, token_hash: &[u8]) -> Result<()> {
        self.conn()
            .execute("DELETE FROM admin_sessions WHERE token_hash = ?1", params![token_hash])?;
        Ok(())
    }

    /// Bans an account and ends its sessions, with an audit row, in one
    /// transaction.
    pub fn ban_account(&self, account: AccountId, reason: &str, by: &str, now: i64) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let name: String =
            tx.query_row("SELECT name FROM accounts WHERE id = ?1", params![account], |r| {
                r.get(0)
            })?;
        tx.execute(
            "INSERT INTO bans (account_id, reason, banned_by, banned_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (account_id) DO UPDATE SET reason = ?2, banned_by = ?3, banned_at = ?4",
            params![account, reason, by, now],
        )?;
        tx.execute("DELETE FROM sessions WHERE account_id = ?1", params![account])?;
        insert_audit(&tx, now, by, "ban", &format!("account:{account}:{name}"), reason)?;
        tx.commit()?;
        Ok(())
    }

    /// Lifts a ban, with an audit row. False when the account was not banned.
    pub fn unban_account(
        &self,
        account: AccountId,
        reason: &str,
        by: &str,
        now: i64,
    ) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let removed = tx.execute("DELETE FROM bans WHERE account_id = ?1", params![account])?;
        if removed > 0 {
            let name: String =
                tx.query_row("SELECT name FROM accounts WHERE id = ?1", params![account], |r| {
                    r.get(0)
                })?;
            insert_audit(&tx, now, by, "unban", &format!("account:{account}:{name}"), reason)?;
        }
        tx.commit()?;
        Ok(removed > 0)
    }

    /// The ban on an account, if any.
    pub fn ban_of(&self, account: AccountId) -> Result<Option<BanRecord>> {
        Ok(self
            .reader()
            .query_row(
                "SELECT reason, banned_by, banned_at FROM bans WHERE account_id = ?1",
                params![account],
                |r| Ok(BanRecord { reason: r.get(0)?, by: r.get(1)?, at: r.get(2)? }),
            )
            .optional()?)
    }

    /// Accounts whose name contains `search`, by name, with their bans.
    pub fn accounts_page(
        &self,
        search: &str,
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<AccountRow>, u32)> {
        let pattern = crate::like_pattern(search.trim());
        let conn = self.reader();
        let tx = conn.unchecked_transaction()?;
        let total: u32 = tx.query_row(
            "SELECT COUNT(*) FROM accounts a WHERE a.name LIKE ?1 ESCAPE '\\'",
            params![pattern],
            |r| r.get(0),
        )?;
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, b.reason, b.banned_by, b.banned_at
             FROM accounts a LEFT JOIN bans b ON b.account_id = a.id
             WHERE a.name LIKE ?1 ESCAPE '\\'
             ORDER BY a.name COLLATE NOCASE, a.role LIMIT ?2 OFFSET ?3"
        );
        let rows = tx
            .prepare_cached(&sql)?
            .query_map(params![pattern, limit, offset], |r| {
                let reason: Option<String> = r.get(5)?;
                Ok(AccountRow {
                    account: account_from_row(r)?,
                    ban: match reason {
                        Some(reason) => Some(BanRecord { reason, by: r.get(6)?, at: r.get(7)? }),
                        None => None,
                    },
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        tx.commit()?;
        Ok((rows, total))
    }

    /// Records an admin action.
    pub fn audit(
        &self,
        admin: &str,
        action: &str,
        target: &str,
        detail: &str,
        now: i64,
    ) -> Result<()> {
        insert_audit(&self.conn(), now, admin, action, target, detail)
    }

    /// The newest audit rows first.
    pub fn audit_log(&self, offset: u32, limit: u32) -> Result<(Vec<AuditRecord>, u32)> {
        let conn = self.reader();
        let total: u32 = conn.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))?;
        let rows = conn
            .prepare_cached(
                "SELECT at, admin, action, target, detail FROM audit
                 ORDER BY id DESC LIMIT ?1 OFFSET ?2",
            )?
            .query_map(params![limit, offset], |r| {
                Ok(AuditRecord {
                    at: r.get(0)?,
                    admin: r.get(1)?,
                    action: r.get(2)?,
                    target: r.get(3)?,
                    detail: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok((rows, total))
    }

    /// The most recent matches of every game, newest first, with players.
    pub fn recent_matches(&self, limit: u32) -> Result<Vec<MatchRecord>> {
        let conn = self.reader();
        let tx = conn.unchecked_transaction()?;
        let mut matches: Vec<MatchRecord> = tx
            .prepare_cached(
                "SELECT m.id, m.game_id, COALESCE(g.name, m.game_id), m.version, m.room_id,
                        m.started_at, m.ended_at, m.outcome, m.exit_code, m.result, m.node,
                        m.message
                 FROM matches m LEFT JOIN games g ON g.id = m.game_id
                 ORDER BY m.id DESC LIMIT ?1",
            )?
            .query_map(params![limit], |r| {
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
        {
            let mut stmt = tx.prepare_cached(
                "SELECT a.name FROM match_players p JOIN accounts a ON a.id = p.account_id
                 WHERE p.match_id = ?1 ORDER BY p.rowid",
            )?;
            for m in &mut matches {
                m.players = stmt
                    .query_map(params![m.id], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
            }
        }
        tx.commit()?;
        Ok(matches)
    }

    /// A cheap write that proves the database accepts writes (`/readyz`).
    pub fn check_writable(&self) -> Result<()> {
        self.conn().execute_batch("BEGIN IMMEDIATE; ROLLBACK;")?;
        Ok(())
    }
}

fn insert_audit(
    conn: &rusqlite::Connection,
    at: i64,
    admin: &str,
    action: &str,
    target: &str,
    detail: &str,
) -> Result<()> {
    conn.execute(
        "INSERT INTO audit (at, admin, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![at, admin, action, target, detail],
    )?;
    Ok(())
}
