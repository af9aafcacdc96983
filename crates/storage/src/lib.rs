//! Game Store records behind one async API, in SQLite or PostgreSQL.
//!
//! **Invariant:** only this crate knows SQL. The lobby sees [`Storage`],
//! typed records ([`records`]) and typed, backend-neutral errors
//! ([`StorageError`]); which database sits behind is a start-up choice
//! ([`DatabaseUrl`]).
//!
//! Two backends implement the same methods with the same semantics
//! (uniqueness conflicts, version order, transactions, paging order), proved
//! by one test suite run against both (`tests/it`):
//! - [`sqlite::SqliteStore`], the embedded default: synchronous methods;
//!   [`Storage`] runs its writes on tokio's blocking pool and its reads
//!   inline (they use a read-only WAL connection that never waits on a
//!   write).
//! - [`postgres::PgStore`]: async methods over a small pool of
//!   `tokio-postgres` connections.
//!
//! Adding a method: write it on both backends (same name and arguments),
//! then one dispatching method on [`Storage`] below; add its test to the
//! shared suite.

pub mod postgres;
mod records;
pub mod sqlite;

use std::path::{Path, PathBuf};

pub use records::*;
pub use sqlite::migrations::SCHEMA_VERSION;

use postgres::PgStore;
use sqlite::SqliteStore;

/// What can go wrong in storage, whatever the backend. Callers map these to
/// wire errors.
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
    /// The database is busy (locked, or no pooled connection came free in
    /// time); trying again later may succeed.
    #[error("database busy: {0}")]
    Busy(String),
    /// The database cannot be reached.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(String),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Where the records live: `sqlite:PATH` or `postgres://...`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    /// A libpq-style URL (`postgres://user:password@host:port/db`).
    Postgres(String),
}

impl DatabaseUrl {
    /// The URL with any password masked, for logs.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite:{}", path.display()),
            DatabaseUrl::Postgres(url) => match (url.find("://"), url.rfind('@')) {
                (Some(scheme), Some(at)) if at > scheme => {
                    let userinfo = &url[scheme + 3..at];
                    let user = userinfo.split(':').next().unwrap_or("");
                    let masked = if userinfo.contains(':') { ":***" } else { "" };
                    format!("{}{user}{masked}{}", &url[..scheme + 3], &url[at..])
                }
                _ => url.clone(),
            },
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<DatabaseUrl, String> {
        if let Some(path) = s.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(
                    "sqlite: needs a file path, e.g. sqlite:/var/lib/gamestore/lobby.db".into()
                );
            }
            Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            s.parse::<tokio_postgres::Config>().map_err(|e| format!("bad PostgreSQL URL: {e}"))?;
            Ok(DatabaseUrl::Postgres(s.to_owned()))
        } else {
            Err("the database URL starts with sqlite: or postgres://".into())
        }
    }
}

/// A handle to the database; cheap to clone, safe to share between tasks.
#[derive(Clone, Debug)]
pub struct Storage {
    backend: Backend,
}

#[derive(Clone, Debug)]
enum Backend {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// Runs a SQLite write on the blocking pool.
async fn blocking<T: Send + 'static>(
    db: &SqliteStore,
    f: impl FnOnce(&SqliteStore) -> Result<T> + Send + 'static,
) -> Result<T> {
    let db = db.clone();
    match tokio::task::spawn_blocking(move || f(&db)).await {
        Ok(result) => result,
        Err(e) => Err(StorageError::Database(format!("storage task failed: {e}"))),
    }
}

/// Dispatches one method: SQLite inline (reads) or on the blocking pool
/// (writes, with the arguments it needs owned), PostgreSQL awaited.
macro_rules! dispatch {
    ($self:ident, read, $db:ident => $call:expr) => {
        match &$self.backend {
            Backend::Sqlite($db) => $call,
            Backend::Postgres($db) => $call.await,
        }
    };
    ($self:ident, write($($owned:ident),*), $db:ident => $call:expr) => {
        match &$self.backend {
            Backend::Sqlite(db) => {
                $(let $owned = $owned.to_owned();)*
                blocking(db, move |$db| $call).await
            }
            Backend::Postgres($db) => {
                // The call borrows owned copies on SQLite, the arguments here.
                #[allow(clippy::needless_borrow)]
                let result = $call.await;
                result
            }
        }
    };
}

impl Storage {
    /// Opens the database at `url`, creating and migrating its schema.
    pub async fn open(url: &DatabaseUrl) -> Result<Storage> {
        match url {
            DatabaseUrl::Sqlite(path) => Storage::open_sqlite(path),
            DatabaseUrl::Postgres(url) => Ok(Storage::from(PgStore::connect(url).await?)),
        }
    }

    /// Opens (creating if needed) the SQLite database at `path`.
    pub fn open_sqlite(path: &Path) -> Result<Storage> {
        Ok(Storage::from(SqliteStore::open(path)?))
    }

    /// A private in-memory SQLite database, for tests.
    pub fn open_in_memory() -> Result<Storage> {
        Ok(Storage::from(SqliteStore::open_in_memory()?))
    }

    /// "sqlite" or "postgres".
    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    // Accounts and sessions.

    /// Creates an account; [`StorageError::Conflict`] when the name is taken
    /// for that role (names compare case-insensitively, ASCII only).
    pub async fn create_account(
        &self,
        role: Role,
        name: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<Account> {
        dispatch!(self, write(name, password_hash), db => db.create_account(role, &name, &password_hash, now))
    }

    /// The account of `role` named `name` (case-insensitive).
    pub async fn find_account(&self, role: Role, name: &str) -> Result<Option<Account>> {
        dispatch!(self, write(name), db => db.find_account(role, &name))
    }

    /// Starts a session for `account`, ending every older session of it
    /// (one live session per account). Returns how many were ended.
    pub async fn replace_session(
        &self,
        account: AccountId,
        token_hash: &[u8],
        now: i64,
        expires_at: i64,
    ) -> Result<usize> {
        dispatch!(self, write(token_hash), db => db.replace_session(account, &token_hash, now, expires_at))
    }

    /// The unexpired session with this token hash. Touching it moves its
    /// expiry to `new_expiry` (sessions expire when unused, not when old).
    pub async fn touch_session(
        &self,
        token_hash: &[u8],
        now: i64,
        new_expiry: i64,
    ) -> Result<Option<SessionRecord>> {
        dispatch!(self, write(token_hash), db => db.touch_session(&token_hash, now, new_expiry))
    }

    /// Ends the session with this token hash; false when there was none.
    pub async fn delete_session(&self, token_hash: &[u8]) -> Result<bool> {
        dispatch!(self, write(token_hash), db => db.delete_session(&token_hash))
    }

    /// Removes sessions that expired before `now`; returns how many.
    pub async fn purge_expired_sessions(&self, now: i64) -> Result<usize> {
        dispatch!(self, write(), db => db.purge_expired_sessions(now))
    }

    /// The account with this id.
    pub async fn account(&self, id: AccountId) -> Result<Account> {
        dispatch!(self, write(), db => db.account(id))
    }

    // Games and versions.

    /// The game with this id, listed or not.
    pub async fn game(&self, id: &str) -> Result<Option<GameRecord>> {
        dispatch!(self, read, db => db.game(id))
    }

    /// Listed games, by name.
    pub async fn listed_games(&self) -> Result<Vec<GameRecord>> {
        dispatch!(self, read, db => db.listed_games())
    }

    /// Games owned by `owner`, by name.
    pub async fn games_of(&self, owner: AccountId) -> Result<Vec<GameRecord>> {
        dispatch!(self, read, db => db.games_of(owner))
    }

    /// One version of a game.
    pub async fn game_version(
        &self,
        game_id: &str,
        version: &str,
    ) -> Result<Option<VersionRecord>> {
        dispatch!(self, read, db => db.game_version(game_id, version))
    }

    /// Every version of a game, in publishing order.
    pub async fn version_records(&self, game_id: &str) -> Result<Vec<VersionRecord>> {
        dispatch!(self, read, db => db.version_records(game_id))
    }

    /// Every (game id, version) stored, for reconciling the files area.
    pub async fn all_versions(&self) -> Result<Vec<(String, String)>> {
        dispatch!(self, write(), db => db.all_versions())
    }

    /// Records a published version, creating the game on its first version.
    ///
    /// The caller has checked ownership and version order; `expect_latest`
    /// is the latest version it saw (`None` for a new game), and the write
    /// fails with [`StorageError::Conflict`] if that changed meanwhile, so two
    /// racing publishes cannot both win.
    pub async fn publish_version(
        &self,
        new: &NewVersion,
        expect_latest: Option<&str>,
    ) -> Result<()> {
        let expect_latest = expect_latest.map(str::to_owned);
        dispatch!(self, write(new), db => db.publish_version(&new, expect_latest.as_deref()))
    }

    /// Records the first version of many new games in one transaction (all
    /// or nothing). Each game must not exist yet ([`StorageError::Conflict`]
    /// otherwise).
    pub async fn import_games(&self, games: &[NewVersion]) -> Result<()> {
        dispatch!(self, write(games), db => db.import_games(&games))
    }

    /// Lists or delists a game. [`StorageError::NotFound`] when it does not exist.
    pub async fn set_listed(&self, game_id: &str, listed: bool, now: i64) -> Result<()> {
        dispatch!(self, write(game_id), db => db.set_listed(&game_id, listed, now))
    }

    // The website's catalog.

    /// A page of listed games matching `query`, and how many match in all.
    pub async fn catalog_page(&self, query: &CatalogQuery) -> Result<(Vec<GameRecord>, u32)> {
        dispatch!(self, read, db => db.catalog_page(query))
    }

    /// Every game, listed or not, matching `search` (for the admin pages).
    pub async fn all_games_page(
        &self,
        search: &str,
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<GameRecord>, u32)> {
        dispatch!(self, read, db => db.all_games_page(search, offset, limit))
    }

    // Matches.

    /// Records a match starting; returns its id.
    pub async fn begin_match(
        &self,
        game_id: &str,
        version: &str,
        room_id: i64,
        players: &[AccountId],
        node: &str,
        now: i64,
    ) -> Result<i64> {
        dispatch!(self, write(game_id, version, players, node), db => db.begin_match(&game_id, &version, room_id, &players, &node, now))
    }

    /// Records how a match ended.
    pub async fn end_match(&self, id: i64, end: &MatchEnd) -> Result<()> {
        dispatch!(self, write(end), db => db.end_match(id, &end))
    }

    /// Records the open matches of `node` (every open match when `None`)
    /// as aborted with `message`: a lobby node that stopped without ending
    /// them. Idempotent: only matches still open change, so several nodes
    /// doing it at once change each match once. Returns how many changed.
    pub async fn abort_open_matches(
        &self,
        node: Option<&str>,
        now: i64,
        message: &str,
    ) -> Result<usize> {
        let node = node.map(str::to_owned);
        dispatch!(self, write(node, message), db => db.abort_open_matches(node.as_deref(), now, &message))
    }

    /// Reserves `block` room ids no other node of the lobby gets; returns
    /// the first (the block is `first..first + block`). PostgreSQL only:
    /// one SQLite file is never shared between nodes, so a lobby on SQLite
    /// numbers its rooms itself.
    pub async fn reserve_room_ids(&self, block: i64) -> Result<i64> {
        match &self.backend {
            Backend::Sqlite(_) => Err(StorageError::Unavailable(
                "room ids are reserved only in a PostgreSQL database".into(),
            )),
            Backend::Postgres(db) => db.reserve_room_ids(block).await,
        }
    }

    /// True when `player` took part in a match of `game_id` that started.
    pub async fn has_played(&self, player: AccountId, game_id: &str) -> Result<bool> {
        dispatch!(self, read, db => db.has_played(player, game_id))
    }

    /// The matches `player` took part in, newest first, at most `limit`.
    pub async fn matches_of(&self, player: AccountId, limit: u32) -> Result<Vec<MatchRecord>> {
        self.matches_page(player, None, limit).await
    }

    /// A page of [`Storage::matches_of`]: at most `limit` matches older than
    /// `before`, a (`started_at`, `id`) pair of the last match seen.
    pub async fn matches_page(
        &self,
        player: AccountId,
        before: Option<(i64, i64)>,
        limit: u32,
    ) -> Result<Vec<MatchRecord>> {
        dispatch!(self, read, db => db.matches_page(player, before, limit))
    }

    /// The most recent matches of every game, newest first, with players.
    pub async fn recent_matches(&self, limit: u32) -> Result<Vec<MatchRecord>> {
        dispatch!(self, read, db => db.recent_matches(limit))
    }

    // Reviews.

    /// Writes the player's review of a game, keeping the creation time of
    /// an earlier one. Returns the review and whether it is new.
    pub async fn upsert_review(
        &self,
        game_id: &str,
        player: AccountId,
        rating: u8,
        text: &str,
        now: i64,
    ) -> Result<(ReviewRecord, bool)> {
        dispatch!(self, write(game_id, text), db => db.upsert_review(&game_id, player, rating, &text, now))
    }

    /// A page of a game's reviews after `after` (the [`ReviewPosition`] of
    /// the last review seen; `None` for the first page), most recently
    /// written first, each with its position, and the total.
    pub async fn reviews_page(
        &self,
        game_id: &str,
        after: Option<ReviewPosition>,
        limit: u32,
    ) -> Result<(Vec<(ReviewPosition, ReviewRecord)>, u32)> {
        dispatch!(self, read, db => db.reviews_page(game_id, after, limit))
    }

    /// A page of a game's reviews, most recently written first, and the total.
    pub async fn reviews_of(
        &self,
        game_id: &str,
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<ReviewRecord>, u32)> {
        dispatch!(self, read, db => db.reviews_of(game_id, offset, limit))
    }

    // Admins, bans and the audit log.

    /// Creates an admin; `Conflict` when the name is taken.
    pub async fn create_admin(&self, name: &str, password_hash: &str, now: i64) -> Result<i64> {
        dispatch!(self, write(name, password_hash), db => db.create_admin(&name, &password_hash, now))
    }

    /// The admin named `name` (case-insensitive).
    pub async fn find_admin(&self, name: &str) -> Result<Option<AdminRecord>> {
        dispatch!(self, read, db => db.find_admin(name))
    }

    /// Starts an admin web session (and removes expired ones).
    pub async fn create_admin_session(
        &self,
        token_hash: &[u8],
        admin_id: i64,
        csrf: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        dispatch!(self, write(token_hash, csrf), db => db.create_admin_session(&token_hash, admin_id, &csrf, now, expires_at))
    }

    /// The live admin session with this token hash.
    pub async fn admin_session(&self, token_hash: &[u8], now: i64) -> Result<Option<AdminSession>> {
        dispatch!(self, read, db => db.admin_session(token_hash, now))
    }

    /// Ends an admin web session.
    pub async fn delete_admin_session(&self, token_hash: &[u8]) -> Result<()> {
        dispatch!(self, write(token_hash), db => db.delete_admin_session(&token_hash))
    }

    /// Bans an account and ends its sessions, with an audit row, in one
    /// transaction.
    pub async fn ban_account(
        &self,
        account: AccountId,
        reason: &str,
        by: &str,
        now: i64,
    ) -> Result<()> {
        dispatch!(self, write(reason, by), db => db.ban_account(account, &reason, &by, now))
    }

    /// Lifts a ban, with an audit row. False when the account was not banned.
    pub async fn unban_account(
        &self,
        account: AccountId,
        reason: &str,
        by: &str,
        now: i64,
    ) -> Result<bool> {
        dispatch!(self, write(reason, by), db => db.unban_account(account, &reason, &by, now))
    }

    /// The ban on an account, if any.
    pub async fn ban_of(&self, account: AccountId) -> Result<Option<BanRecord>> {
        dispatch!(self, read, db => db.ban_of(account))
    }

    /// Accounts whose name contains `search`, by name, with their bans.
    pub async fn accounts_page(
        &self,
        search: &str,
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<AccountRow>, u32)> {
        dispatch!(self, read, db => db.accounts_page(search, offset, limit))
    }

    /// Records an admin action.
    pub async fn audit(
        &self,
        admin: &str,
        action: &str,
        target: &str,
        detail: &str,
        now: i64,
    ) -> Result<()> {
        dispatch!(self, write(admin, action, target, detail), db => db.audit(&admin, &action, &target, &detail, now))
    }

    /// The newest audit rows first, and how many there are.
    pub async fn audit_log(&self, offset: u32, limit: u32) -> Result<(Vec<AuditRecord>, u32)> {
        dispatch!(self, read, db => db.audit_log(offset, limit))
    }

    // Developer keys and version signatures.

    /// A developer's keys, oldest first; the last is the current one.
    pub async fn developer_keys(&self, developer: AccountId) -> Result<Vec<DeveloperKey>> {
        dispatch!(self, read, db => db.developer_keys(developer))
    }

    /// Adds `key` as the developer's current key, if the current key is
    /// still `expect_current` (`None`: the developer has no key yet);
    /// [`StorageError::Conflict`] otherwise, or when the key was registered
    /// before.
    pub async fn add_developer_key(
        &self,
        developer: AccountId,
        expect_current: Option<&str>,
        key: &DeveloperKey,
    ) -> Result<()> {
        let expect_current = expect_current.map(str::to_owned);
        dispatch!(self, write(key), db => db.add_developer_key(developer, expect_current.as_deref(), &key))
    }

    /// Records the signature of a version (before its version row is
    /// written, so a visible signed version always has it); replaces an
    /// earlier one.
    pub async fn set_version_signature(
        &self,
        game_id: &str,
        version: &str,
        signature: &str,
        key: &str,
    ) -> Result<()> {
        dispatch!(self, write(game_id, version, signature, key), db => db.set_version_signature(&game_id, &version, &signature, &key))
    }

    /// Records the zip of a version that had none (package SHA-256 empty):
    /// its size and SHA-256, and the listing `files` (JSON) as packing it
    /// found them, with each file's SHA-256. Returns false when the version
    /// has one already (or does not exist).
    pub async fn set_version_package(
        &self,
        game_id: &str,
        version: &str,
        size: u64,
        sha256: &str,
        files: &str,
    ) -> Result<bool> {
        dispatch!(self, write(game_id, version, sha256, files), db => db.set_version_package(&game_id, &version, size, &sha256, &files))
    }

    /// The (signature, key) of a signed version.
    pub async fn version_signature(
        &self,
        game_id: &str,
        version: &str,
    ) -> Result<Option<(String, String)>> {
        dispatch!(self, read, db => db.version_signature(game_id, version))
    }

    /// Records the lobby node a version was published through (before its
    /// version row is written), so the other nodes know whom to ask for its
    /// files first; replaces an earlier one.
    pub async fn set_version_node(&self, game_id: &str, version: &str, node: &str) -> Result<()> {
        dispatch!(self, write(game_id, version, node), db => db.set_version_node(&game_id, &version, &node))
    }

    /// The lobby node a version was published through, if recorded.
    pub async fn version_node(&self, game_id: &str, version: &str) -> Result<Option<String>> {
        dispatch!(self, read, db => db.version_node(game_id, version))
    }

    /// A cheap write that proves the database accepts writes (`/readyz`).
    pub async fn check_writable(&self) -> Result<()> {
        dispatch!(self, write(), db => db.check_writable())
    }
}

impl From<SqliteStore> for Storage {
    fn from(db: SqliteStore) -> Storage {
        Storage { backend: Backend::Sqlite(db) }
    }
}

impl From<PgStore> for Storage {
    fn from(db: PgStore) -> Storage {
        Storage { backend: Backend::Postgres(db) }
    }
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
pub(crate) fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
        assert_eq!(like_pattern(""), "%%");
    }

    #[test]
    fn database_urls_parse_and_hide_passwords() {
        let url: DatabaseUrl = "sqlite:/tmp/x.db".parse().unwrap();
        assert_eq!(url, DatabaseUrl::Sqlite("/tmp/x.db".into()));
        let url: DatabaseUrl = "postgres://game:secret@127.0.0.1:5432/store".parse().unwrap();
        assert_eq!(url.redacted(), "postgres://game:***@127.0.0.1:5432/store");
        assert!(!format!("{url:?}").contains("secret"));
        assert!("mysql://x".parse::<DatabaseUrl>().is_err());
        assert!("sqlite:".parse::<DatabaseUrl>().is_err());
    }
}
