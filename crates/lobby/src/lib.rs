//! The Game Store lobby: the hub players and developers connect to.
//!
//! [`server::run`] accepts TCP connections and gives each a
//! [`connection`] task. The first message must be HELLO; after it, requests
//! are handled one at a time per connection by the modules under
//! [`requests`], one module per concept. Shared state lives in [`Lobby`]: the
//! database, the [`hub::Hub`] of live connections, and the configuration.

pub mod auth;
pub mod config;
pub mod connection;
pub mod game_manager;
pub mod game_sandbox;
pub mod games_area;
pub mod hub;
pub mod matches;
pub mod requests;
pub mod rooms;
pub mod server;
pub mod shutdown;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use gamestore_protocol::{ErrorCode, WireError};
use gamestore_storage::{Storage, StorageError};
use tokio::sync::Semaphore;

pub use config::LobbyConfig;

/// State shared by every connection.
#[derive(Debug)]
pub struct Lobby {
    pub config: LobbyConfig,
    pub db: Storage,
    pub hub: hub::Hub,
    pub games: games_area::GamesArea,
    pub rooms: rooms::Rooms,
    pub game_manager: Arc<game_manager::GameManager>,
    /// Recent chat sends per account, for the rate limit.
    pub chat_limits: std::sync::Mutex<std::collections::HashMap<i64, (std::time::Instant, u32)>>,
    /// Serializes the final check-and-commit step of publishing.
    pub publish_lock: tokio::sync::Mutex<()>,
    /// Bounds concurrent Argon2 computations.
    password_permits: Semaphore,
}

impl Lobby {
    /// Opens the data directory (creating it) and the database.
    pub fn open(config: LobbyConfig) -> anyhow::Result<Arc<Lobby>> {
        std::fs::create_dir_all(&config.data_dir)?;
        let db = Storage::open(&config.database_path())?;
        let games = games_area::GamesArea::open(&config.data_dir)?;
        let removed = games.reconcile(&db.all_versions()?)?;
        if removed > 0 {
            tracing::warn!(removed, "removed version folders left by an interrupted publish");
        }
        let aborted = db.abort_open_matches(now())?;
        if aborted > 0 {
            tracing::warn!(
                aborted,
                "matches still open from the last run were recorded as aborted"
            );
        }
        let public_host =
            config.public_host.clone().unwrap_or_else(game_manager::detect_lan_address);
        tracing::info!(%public_host, "players' game clients will connect to this address");
        let game_manager = game_manager::GameManager::new(game_manager::GameManagerConfig {
            ports: config.game_ports.clone(),
            bind_host: config.matches.bind_host.clone(),
            public_host,
            start_timeout: config.matches.start_timeout,
            max_match_time: config.matches.max_match_time,
            sandbox: config.matches.sandbox,
            data_dir: config.data_dir.clone(),
            limits: config.matches.limits.clone(),
        })?;
        let password_permits = Semaphore::new(config.limits.concurrent_password_hashes.max(1));
        Ok(Arc::new(Lobby {
            config,
            db,
            hub: hub::Hub::default(),
            rooms: rooms::Rooms::default(),
            game_manager,
            chat_limits: Default::default(),
            games,
            publish_lock: tokio::sync::Mutex::new(()),
            password_permits,
        }))
    }

    /// Runs a storage call on a blocking thread, mapping its errors to wire
    /// errors.
    pub async fn db<T, F>(&self, f: F) -> Result<T, WireError>
    where
        T: Send + 'static,
        F: FnOnce(&Storage) -> Result<T, StorageError> + Send + 'static,
    {
        let db = self.db.clone();
        match tokio::task::spawn_blocking(move || f(&db)).await {
            Ok(result) => result.map_err(storage_error),
            Err(e) => Err(WireError::new(ErrorCode::Internal, format!("storage task failed: {e}"))),
        }
    }

    /// Runs a read-only storage call inline. Reads go through the storage's
    /// read-only connection and never wait on a write or its sync to disk, so
    /// they are short enough for an async thread (no blocking-pool trip).
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Storage) -> Result<T, StorageError>,
    ) -> Result<T, WireError> {
        f(&self.db).map_err(storage_error)
    }

    /// Runs CPU-heavy password work on a blocking thread, a few at a time.
    pub async fn password_work<T, F>(&self, f: F) -> Result<T, WireError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let _permit = self
            .password_permits
            .acquire()
            .await
            .map_err(|_| WireError::new(ErrorCode::Internal, "the lobby is shutting down"))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| WireError::new(ErrorCode::Internal, format!("password task failed: {e}")))
    }
}

/// Storage failures as the client sees them. Conflicts and missing records
/// are mapped by the handlers that expect them; what reaches here is internal.
fn storage_error(e: StorageError) -> WireError {
    tracing::error!(error = %e, "storage error");
    WireError::new(ErrorCode::Internal, format!("storage error: {e}"))
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
