//! Schema migrations, applied in order on open.
//!
//! Each entry moves the schema from version `i` to `i + 1` in one
//! transaction. Released entries are never edited: a change is a new entry.

use rusqlite::Connection;

use crate::{Result, StorageError};

const MIGRATIONS: &[&str] = &[
    // 1: accounts and sessions.
    "CREATE TABLE accounts (
        id            INTEGER PRIMARY KEY,
        role          TEXT    NOT NULL CHECK (role IN ('player', 'developer')),
        name          TEXT    NOT NULL COLLATE NOCASE,
        password_hash TEXT    NOT NULL,
        created_at    INTEGER NOT NULL,
        UNIQUE (role, name)
    );
    CREATE TABLE sessions (
        token_hash   BLOB    PRIMARY KEY,
        account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        created_at   INTEGER NOT NULL,
        last_used_at INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL
    );
    CREATE INDEX sessions_by_account ON sessions(account_id);",
    // 2: games and their versions. `games` holds what the store shows (from
    // the latest version's manifest); each version row keeps its own.
    "CREATE TABLE games (
        id             TEXT    PRIMARY KEY,
        owner_id       INTEGER NOT NULL REFERENCES accounts(id),
        name           TEXT    NOT NULL,
        description    TEXT    NOT NULL,
        kind           TEXT    NOT NULL,
        min_players    INTEGER NOT NULL,
        max_players    INTEGER NOT NULL,
        latest_version TEXT    NOT NULL,
        listed         INTEGER NOT NULL DEFAULT 1,
        created_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL
    );
    CREATE INDEX games_by_owner ON games(owner_id);
    CREATE TABLE game_versions (
        game_id        TEXT    NOT NULL REFERENCES games(id),
        version        TEXT    NOT NULL,
        manifest       TEXT    NOT NULL,
        files          TEXT    NOT NULL,
        package_size   INTEGER NOT NULL,
        package_sha256 TEXT    NOT NULL,
        unpacked_bytes INTEGER NOT NULL,
        published_at   INTEGER NOT NULL,
        PRIMARY KEY (game_id, version)
    );",
    // 3: matches and who played them.
    "CREATE TABLE matches (
        id           INTEGER PRIMARY KEY,
        game_id      TEXT    NOT NULL REFERENCES games(id),
        version      TEXT    NOT NULL,
        room_id      INTEGER NOT NULL,
        started_at   INTEGER NOT NULL,
        ended_at     INTEGER,
        outcome      TEXT,
        exit_code    INTEGER,
        result       TEXT
    );
    CREATE TABLE match_players (
        match_id   INTEGER NOT NULL REFERENCES matches(id),
        account_id INTEGER NOT NULL REFERENCES accounts(id),
        PRIMARY KEY (match_id, account_id)
    );
    CREATE INDEX match_players_by_account ON match_players(account_id);",
    // 4: reviews, one per player per game.
    "CREATE TABLE reviews (
        game_id    TEXT    NOT NULL REFERENCES games(id),
        account_id INTEGER NOT NULL REFERENCES accounts(id),
        rating     INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
        text       TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (game_id, account_id)
    );
    CREATE INDEX reviews_by_game_time ON reviews(game_id, updated_at);",
    // 5: admins and their web sessions, bans, and the audit log of admin
    // actions; an index for the catalog's newest-first order.
    "CREATE TABLE admins (
        id            INTEGER PRIMARY KEY,
        name          TEXT    NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT    NOT NULL,
        created_at    INTEGER NOT NULL
    );
    CREATE TABLE admin_sessions (
        token_hash BLOB    PRIMARY KEY,
        admin_id   INTEGER NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
        csrf       TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE bans (
        account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
        reason     TEXT    NOT NULL,
        banned_by  TEXT    NOT NULL,
        banned_at  INTEGER NOT NULL
    );
    CREATE TABLE audit (
        id     INTEGER PRIMARY KEY,
        at     INTEGER NOT NULL,
        admin  TEXT    NOT NULL,
        action TEXT    NOT NULL,
        target TEXT    NOT NULL,
        detail TEXT    NOT NULL
    );
    CREATE INDEX games_by_created ON games(created_at);",
    // Signed distribution: each developer's keys (the newest is current;
    // a later one carries the rotation statement that introduced it), and
    // the signature of each signed version.
    "CREATE TABLE developer_keys (
        developer_id INTEGER NOT NULL REFERENCES accounts(id),
        key TEXT NOT NULL,
        added_at INTEGER NOT NULL,
        statement TEXT,
        statement_signature TEXT,
        PRIMARY KEY (developer_id, key)
    );
    CREATE TABLE version_signatures (
        game_id TEXT NOT NULL,
        version TEXT NOT NULL,
        signature TEXT NOT NULL,
        key TEXT NOT NULL,
        PRIMARY KEY (game_id, version)
    );",
    // 7: the node that runs each match (so a node aborts only its own open
    // matches) and what happened, for people.
    "ALTER TABLE matches ADD COLUMN node TEXT NOT NULL DEFAULT 'local';
    ALTER TABLE matches ADD COLUMN message TEXT;
    CREATE INDEX matches_open_by_node ON matches(node) WHERE ended_at IS NULL;",
    // 8: the node each version was published through, asked first by the
    // nodes that fetch its files.
    "CREATE TABLE version_nodes (
        game_id TEXT NOT NULL,
        version TEXT NOT NULL,
        node TEXT NOT NULL,
        PRIMARY KEY (game_id, version)
    );",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StorageError::TooNew { found, supported: SCHEMA_VERSION });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }

    #[test]
    fn newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        assert!(matches!(migrate(&mut conn), Err(StorageError::TooNew { .. })));
    }
}
