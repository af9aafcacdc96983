//! Lobby configuration: every knob the admin can turn, with defaults that
//! work on a fresh machine.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the lobby needs to run. Built by the binary from flags,
/// environment and an optional config file; built directly by tests.
#[derive(Debug, Clone)]
pub struct LobbyConfig {
    /// Where the database and the games area live.
    pub data_dir: PathBuf,
    /// Ports the Game Manager may give to game servers.
    pub game_ports: RangeInclusive<u16>,
    /// The address players are told to connect their game clients to;
    /// `None` means auto-detect the LAN address.
    pub public_host: Option<String>,
    pub limits: Limits,
    pub timeouts: Timeouts,
    pub password_hashing: PasswordHashing,
    pub matches: MatchSettings,
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
            concurrent_password_hashes: 4,
            max_upload_bytes: 1 << 30,
            package: gamestore_package::Limits::default(),
            download_bytes_per_sec: 0,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            handshake: Duration::from_secs(10),
            idle: Duration::from_secs(120),
            session_ttl: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

impl LobbyConfig {
    /// Defaults with data in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> LobbyConfig {
        LobbyConfig {
            data_dir: data_dir.into(),
            game_ports: 9000..=9999,
            public_host: None,
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            password_hashing: PasswordHashing::default(),
            matches: MatchSettings::default(),
        }
    }

    /// The SQLite database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("lobby.db")
    }
}

/// The default listen address.
pub fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8888))
}
