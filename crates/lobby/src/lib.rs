//! The Game Store lobby: the hub players and developers connect to.
//!
//! [`server::run`] accepts TCP connections and gives each a
//! [`connection`] task. The first message must be HELLO; after it, requests
//! are handled one at a time per connection by the modules under
//! [`requests`], one module per concept. Shared state lives in [`Lobby`]: the
//! database, the [`hub::Hub`] of live connections, and the configuration.

pub mod admin;
pub(crate) mod auth;
pub(crate) mod bus;
pub(crate) mod catalog;
pub(crate) mod chunk_store;
pub mod config;
pub(crate) mod connection;
pub mod game_host;
pub mod game_manager;
pub mod game_sandbox;
pub(crate) mod games_area;
pub mod http;
pub(crate) mod hub;
pub(crate) mod limits;
pub(crate) mod matches;
pub(crate) mod paging;
pub(crate) mod remote_rooms;
pub(crate) mod replicas;
pub(crate) mod requests;
pub(crate) mod rooms;
pub(crate) mod running;
pub mod server;
pub(crate) mod shutdown;
pub(crate) mod telemetry;
pub(crate) mod text;
pub mod tls;
pub mod warnings;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use gamestore_protocol::{ErrorCode, WireError};
use gamestore_storage::{Storage, StorageError};

pub use config::LobbyConfig;

/// State shared by every connection.
#[derive(Debug)]
pub struct Lobby {
    pub config: LobbyConfig,
    pub(crate) db: Storage,
    pub(crate) hub: hub::Hub,
    /// Live state shared with the lobby's other nodes (local on its own).
    pub(crate) bus: bus::Bus,
    pub(crate) games: games_area::GamesArea,
    pub(crate) rooms: rooms::Rooms,
    /// Rooms across nodes: members on other nodes, seats in other nodes'
    /// rooms, room ids reserved across nodes.
    pub(crate) xrooms: remote_rooms::RemoteRooms,
    pub(crate) game_manager: Arc<game_manager::GameManager>,
    /// Every chunk of every chunked version, stored once.
    pub(crate) chunks: chunk_store::ChunkStore,
    /// Chunk lists of recently served manifests, for CHUNK_GET.
    pub(crate) manifest_cache: requests::distribution::ManifestCache,
    pub(crate) open_stages: requests::distribution::OpenStages,
    /// Fetches of versions whose files are on other nodes.
    pub(crate) replicas: replicas::Replicas,
    /// Rate limits on credentials, registrations and chat.
    pub(crate) limits: limits::Limiters,
    /// Fair use of game servers: match starts and servers per player.
    pub(crate) match_limits: matches::MatchLimits,
    /// The store's listed games, encoded for STORE_LIST.
    pub(crate) catalog: catalog::Catalog,
    /// Serializes the final check-and-commit step of publishing.
    pub(crate) publish_lock: tokio::sync::Mutex<()>,
    /// Held while a version's zip is packed on first demand: one at a time.
    pub(crate) zip_lock: tokio::sync::Mutex<()>,
    /// Every password hash and check runs here, a few at a time.
    pub(crate) passwords: auth::PasswordPool,
    /// The certificate served to TLS clients.
    pub tls: tls::TlsIdentity,
    /// Matches running now, with a handle to stop each.
    pub(crate) running: Arc<running::RunningMatches>,
    /// Set once the lobby listener accepts connections (`/readyz`).
    pub(crate) listening: std::sync::atomic::AtomicBool,
}

/// What the history says of a match its own node found open at start.
pub(crate) const MATCH_ABORTED_AT_START: &str = "the lobby stopped during this match";

/// What the history says of a match whose node the other nodes took for dead.
pub(crate) const MATCH_ABORTED_NODE_DIED: &str = "the lobby node running this match stopped";

impl Lobby {
    /// This node's id as match rows record it: `--node-id`, or
    /// [`gamestore_storage::LOCAL_NODE`] for a lobby on its own.
    pub(crate) fn node_id(&self) -> &str {
        match &self.config.cluster {
            Some(cluster) => &cluster.node_id,
            None => gamestore_storage::LOCAL_NODE,
        }
    }

    /// Opens the data directory (creating it) and the database.
    pub async fn open(config: LobbyConfig) -> anyhow::Result<Arc<Lobby>> {
        std::fs::create_dir_all(&config.data_dir)?;
        let url = config.database_url();
        let db = Storage::open(&url)
            .await
            .with_context(|| format!("cannot open the database {}", url.redacted()))?;
        tracing::info!(backend = db.backend_name(), database = %url.redacted(), "database open");
        let games = games_area::GamesArea::open(&config.data_dir)?;
        let removed = games.reconcile(&db.all_versions().await?)?;
        if removed > 0 {
            tracing::warn!(removed, "removed version folders left by an interrupted publish");
        }
        let chunks = chunk_store::ChunkStore::open(&config.data_dir)?;
        let referenced =
            requests::distribution::index_versions(&games, &chunks, &db.all_versions().await?);
        let collected = chunks.collect_garbage(&referenced)?;
        if collected > 0 {
            tracing::info!(collected, "removed chunks no version names");
        }
        // Matches this node left open when it last stopped: on one of
        // several nodes only its own (the others' may be running), on its
        // own every open one.
        let own = config.cluster.as_ref().map(|c| c.node_id.as_str());
        let aborted = db.abort_open_matches(own, now(), MATCH_ABORTED_AT_START).await?;
        if aborted > 0 {
            tracing::warn!(
                aborted,
                "matches still open from the last run were recorded as aborted"
            );
        }
        let bus = match &config.cluster {
            Some(cluster) => bus::Bus::connect(cluster).await?,
            None => bus::Bus::local(),
        };
        match &config.public_host {
            Some(host) => {
                tracing::info!(%host, "players' game clients will connect to this address")
            }
            None => tracing::info!(
                "players' game clients will connect to the address their lobby connection \
                 arrived on"
            ),
        }
        let game_manager = game_manager::GameManager::new(game_manager::GameManagerConfig {
            ports: config.game_ports.clone(),
            bind_host: config.matches.bind_host.clone(),
            start_timeout: config.matches.start_timeout,
            max_match_time: config.matches.max_match_time,
            sandbox: config.matches.sandbox,
            data_dir: config.data_dir.clone(),
            limits: config.matches.limits.clone(),
        })?;
        let rooms = rooms::Rooms::new(rooms::RoomsConfig {
            seat_grace: config.timeouts.seat_grace,
            public_host: config.public_host.clone(),
        });
        let passwords = auth::PasswordPool::new(
            config.limits.concurrent_password_hashes,
            config.limits.password_hash_queue,
            config.password_hashing.clone(),
        )?;
        let removed = matches::remove_old_match_folders(
            &config.data_dir,
            config.matches.match_retention,
            &Default::default(),
        );
        if removed > 0 {
            tracing::info!(removed, "removed match folders past their retention");
        }
        let limits = limits::Limiters::new(&config.limits);
        let match_limits = matches::MatchLimits::new(&config.matches);
        let mut tls_settings = config.tls.clone();
        if let Some(host) = &config.public_host {
            tls_settings.extra_names.push(host.clone());
        }
        let tls = tls::TlsIdentity::load(&tls_settings, &config.data_dir)?;
        tracing::info!(
            fingerprint = %tls.fingerprint,
            self_signed = tls.self_signed,
            require_tls = config.tls.require,
            "TLS certificate"
        );
        telemetry::install();
        Ok(Arc::new(Lobby {
            tls,
            running: Default::default(),
            listening: Default::default(),
            config,
            db,
            hub: hub::Hub::new(bus.presence_sink()),
            bus,
            rooms,
            xrooms: Default::default(),
            game_manager,
            limits,
            match_limits,
            games,
            chunks,
            manifest_cache: Default::default(),
            open_stages: Default::default(),
            replicas: Default::default(),
            publish_lock: tokio::sync::Mutex::new(()),
            zip_lock: tokio::sync::Mutex::new(()),
            passwords,
            catalog: catalog::Catalog::default(),
        }))
    }
}

impl Lobby {
    /// Players online on any node of the lobby, each once, by name.
    pub(crate) fn online_players(&self) -> Vec<(gamestore_storage::AccountId, String)> {
        let mut players = self.hub.online_players();
        let here: std::collections::HashSet<_> = players.iter().map(|(id, _)| *id).collect();
        players.extend(self.bus.remote_players().into_iter().filter(|(id, _)| !here.contains(id)));
        players.sort_by_cached_key(|p| (p.1.to_lowercase(), p.0));
        players
    }
}

/// Storage results as wire results: `db.method(..).await.wire()?`.
pub trait WireResult<T> {
    fn wire(self) -> Result<T, WireError>;
}

impl<T> WireResult<T> for Result<T, StorageError> {
    fn wire(self) -> Result<T, WireError> {
        self.map_err(storage_error)
    }
}

/// Storage failures as the client sees them. Conflicts and missing records
/// are mapped by the handlers that expect them; what reaches here is internal.
fn storage_error(e: StorageError) -> WireError {
    tracing::error!(error = %e, "storage error");
    let busy = matches!(&e, StorageError::Busy(_));
    telemetry::storage_error(if busy {
        telemetry::StorageFailure::Busy
    } else {
        telemetry::StorageFailure::Error
    });
    WireError::new(ErrorCode::Internal, format!("storage error: {e}"))
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
