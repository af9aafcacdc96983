//! Lobby configuration: every knob the admin can turn, with defaults that
//! work on a fresh machine.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use gamestore_storage::DatabaseUrl;

/// Everything the lobby needs to run. Built by the binary from flags,
/// environment and an optional config file; built directly by tests.
#[derive(Debug, Clone)]
pub struct LobbyConfig {
    /// Where the database (by default) and the games area live.
    pub data_dir: PathBuf,
    /// The database (`--database`); `None` for SQLite in the data dir.
    pub database: Option<DatabaseUrl>,
    /// Ports the Game Manager may give to game servers.
    pub game_ports: RangeInclusive<u16>,
    /// The address players are told to connect their game clients to;
    /// `None` tells each player the address their own lobby connection
    /// arrived on (reachable by them by construction).
    pub public_host: Option<String>,
    pub limits: Limits,
    pub timeouts: Timeouts,
    pub password_hashing: PasswordHashing,
    pub matches: MatchSettings,
    /// TLS on the lobby listener (always offered; a certificate is
    /// generated when none is given).
    pub tls: crate::tls::TlsSettings,
    /// Several lobby nodes over one PostgreSQL database and one NATS
    /// server (`--nats`, `--node-id`); `None` for a lobby on its own.
    pub cluster: Option<ClusterSettings>,
}

/// How this node reaches the other nodes of its lobby.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// The NATS server's URL (`nats://HOST:PORT`).
    pub nats_url: String,
    /// This node's name, unique among the lobby's nodes: 1 to 32 ASCII
    /// letters, digits, `_` or `-` (it is a token of NATS subjects).
    pub node_id: String,
    /// The first token of every subject this lobby uses, so several lobbies
    /// (or test runs) can share one NATS server.
    pub subject_prefix: String,
    /// How often this node says it is alive.
    pub heartbeat: Duration,
    /// Silence after which another node is taken for dead.
    pub node_timeout: Duration,
}

impl ClusterSettings {
    /// Settings with the default prefix and timings; checks the node id.
    pub fn new(nats_url: &str, node_id: &str) -> Result<ClusterSettings, String> {
        check_subject_token("--node-id", node_id)?;
        if !(nats_url.starts_with("nats://") || nats_url.starts_with("tls://")) {
            return Err(format!("--nats must be a nats://HOST:PORT URL (got {nats_url:?})"));
        }
        Ok(ClusterSettings {
            nats_url: nats_url.to_owned(),
            node_id: node_id.to_owned(),
            subject_prefix: "gamestore".into(),
            heartbeat: Duration::from_secs(1),
            node_timeout: Duration::from_secs(5),
        })
    }
}

/// A node id or subject prefix: 1 to 32 ASCII letters, digits, `_` or `-`.
pub fn check_subject_token(what: &str, token: &str) -> Result<(), String> {
    let ok = (1..=32).contains(&token.len())
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!("{what} must be 1 to 32 ASCII letters, digits, '_' or '-' (got {token:?})"))
    }
}

/// How the Game Manager runs game servers.
#[derive(Debug, Clone)]
pub struct MatchSettings {
    /// The address game servers bind (`{host}` in their command).
    pub bind_host: String,
    /// Longest wait for a game server to accept connections.
    pub start_timeout: Duration,
    /// Longest a match may run.
    pub max_match_time: Duration,
    pub sandbox: crate::game_manager::Sandbox,
    /// Matches one player may start per minute (0: no limit).
    pub starts_per_player_per_minute: u32,
    /// Matches one room may start per minute (0: no limit).
    pub starts_per_room_per_minute: u32,
    /// Game servers started by one player that may run at once (0: no limit).
    pub game_servers_per_player: u32,
    /// How long a match's server keeps running once every member of its
    /// room has left.
    pub abandoned_match_grace: Duration,
    /// How long a match's folder (`<data>/matches/<id>`: its log and
    /// result) is kept after the match ends.
    pub match_retention: Duration,
    /// Per-match limits on game servers.
    pub limits: crate::game_sandbox::GameLimits,
}

impl Default for MatchSettings {
    fn default() -> Self {
        MatchSettings {
            bind_host: "0.0.0.0".into(),
            start_timeout: Duration::from_secs(10),
            max_match_time: Duration::from_secs(3600),
            sandbox: crate::game_manager::Sandbox::Auto,
            starts_per_player_per_minute: 10,
            starts_per_room_per_minute: 10,
            game_servers_per_player: 2,
            abandoned_match_grace: Duration::from_secs(60),
            match_retention: Duration::from_secs(3 * 24 * 3600),
            limits: crate::game_sandbox::GameLimits::default(),
        }
    }
}

/// Bounds that keep one client from exhausting the lobby.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once; more are told SERVER_BUSY and closed.
    pub max_connections: usize,
    /// Password hashes computed at once (each takes memory and a core).
    pub concurrent_password_hashes: usize,
    /// Largest package upload (the zip), in bytes.
    pub max_upload_bytes: u64,
    /// What an uploaded package may unpack to.
    pub package: gamestore_package::Limits,
    /// Download speed cap per connection in bytes per second; 0 for none.
    pub download_bytes_per_sec: u64,
    /// Password checks that may wait for a hashing thread; more are told
    /// RATE_LIMITED at once.
    pub password_hash_queue: usize,
    /// Failed logins per account name per minute before it is blocked
    /// (for growing spans); 0 for no limit.
    pub login_failures_per_account: u32,
    /// Failed logins and session resumes per source address per minute
    /// before it is blocked (for growing spans); 0 for no limit.
    pub login_failures_per_address: u32,
    /// Accounts one source address may register per hour; 0 for no limit.
    pub registrations_per_address: u32,
    /// Connections that have not said HELLO yet, at most; more are told
    /// SERVER_BUSY. With frames before HELLO capped at 64 KiB, this bounds
    /// what anonymous connections can make the lobby buffer.
    pub max_handshakes: usize,
}

/// How long the lobby waits for a peer.
#[derive(Debug, Clone)]
pub struct Timeouts {
    /// From accept to a valid HELLO.
    pub handshake: Duration,
    /// Silence after which a connection is closed; clients send PING well
    /// within it.
    pub idle: Duration,
    /// A session not used for this long stops working.
    pub session_ttl: Duration,
    /// How long a room keeps the seat of a member whose connection dropped,
    /// waiting for them to RESUME; zero to remove them at once.
    pub seat_grace: Duration,
}

/// Argon2id cost parameters.
#[derive(Debug, Clone)]
pub struct PasswordHashing {
    /// Memory per hash in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
}

impl Default for PasswordHashing {
    /// OWASP's recommended minimum for Argon2id: 19 MiB, 2 passes.
    fn default() -> Self {
        PasswordHashing { memory_kib: 19 * 1024, iterations: 2 }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 16_000,
            concurrent_password_hashes: 2,
            max_upload_bytes: 1 << 30,
            package: gamestore_package::Limits::default(),
            download_bytes_per_sec: 0,
            password_hash_queue: 1024,
            login_failures_per_account: 10,
            login_failures_per_address: 30,
            registrations_per_address: 20,
            max_handshakes: 1024,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            handshake: Duration::from_secs(10),
            idle: Duration::from_secs(120),
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            seat_grace: Duration::from_secs(30),
        }
    }
}

impl LobbyConfig {
    /// Defaults with data in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> LobbyConfig {
        LobbyConfig {
            data_dir: data_dir.into(),
            database: None,
            game_ports: 9000..=9999,
            public_host: None,
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            password_hashing: PasswordHashing::default(),
            matches: MatchSettings::default(),
            tls: crate::tls::TlsSettings::default(),
            cluster: None,
        }
    }

    /// The SQLite database file used when no database URL is set.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("lobby.db")
    }

    /// Where the records live: `database`, or SQLite in the data dir.
    pub fn database_url(&self) -> DatabaseUrl {
        self.database.clone().unwrap_or_else(|| DatabaseUrl::Sqlite(self.database_path()))
    }
}

/// The default listen address.
pub fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8888))
}
