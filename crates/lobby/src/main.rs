//! `gamestore-lobby`: runs the lobby server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use gamestore_lobby::game_manager::Sandbox;
use gamestore_lobby::{Lobby, LobbyConfig, config};
use serde::Deserialize;

/// The Game Store lobby: accounts, store, uploads, downloads, chat, rooms,
/// and the Game Manager that runs one game server per match.
///
/// Settings come from flags, then GAMESTORE_* environment variables, then the
/// config file, then built-in defaults.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on [default: 0.0.0.0:8888]
    #[arg(long, env = "GAMESTORE_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,

    /// Directory for the database and the games area [default: ./server_data]
    #[arg(long, global = true, env = "GAMESTORE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Where the records live: sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DB
    /// [default: sqlite:DATA_DIR/lobby.db]
    #[arg(long, global = true, env = "GAMESTORE_DATABASE", value_name = "URL")]
    database: Option<gamestore_storage::DatabaseUrl>,

    /// Port range for game servers, FROM-TO [default: 9000-9999]
    #[arg(long, env = "GAMESTORE_GAME_PORTS", value_name = "FROM-TO")]
    game_ports: Option<String>,

    /// Host name or address players' game clients connect to [default: for
    /// each player, the address their lobby connection arrived on]
    #[arg(long, env = "GAMESTORE_PUBLIC_HOST", value_name = "HOST")]
    public_host: Option<String>,

    /// Most client connections served at once [default: 16000]
    #[arg(long, env = "GAMESTORE_MAX_CONNECTIONS", value_name = "N")]
    max_connections: Option<usize>,

    /// Most connections still before HELLO at once; more are told SERVER_BUSY
    /// [default: 1024]
    #[arg(long, env = "GAMESTORE_MAX_HANDSHAKES", value_name = "N")]
    max_handshakes: Option<usize>,

    /// Seconds a new connection has to say HELLO [default: 10]
    #[arg(long, env = "GAMESTORE_HANDSHAKE_TIMEOUT", value_name = "SECS")]
    handshake_timeout: Option<u64>,

    /// Seconds of silence after which a connection is closed [default: 120]
    #[arg(long, env = "GAMESTORE_IDLE_TIMEOUT", value_name = "SECS")]
    idle_timeout: Option<u64>,

    /// Largest package upload (the zip) in bytes [default: 1 GiB]
    #[arg(long, env = "GAMESTORE_MAX_UPLOAD_BYTES", value_name = "BYTES")]
    max_upload_bytes: Option<u64>,

    /// Most files and folders one package may hold [default: 30000]
    #[arg(long, env = "GAMESTORE_MAX_PACKAGE_FILES", value_name = "N")]
    max_package_files: Option<usize>,

    /// Most bytes one package may unpack to, counted while unpacking [default: 1 GiB]
    #[arg(long, env = "GAMESTORE_MAX_UNPACKED_BYTES", value_name = "BYTES")]
    max_unpacked_bytes: Option<u64>,

    /// Largest file one package may hold, at most 4294967296 (4 GiB) [default: 512 MiB, and
    /// never more than --max-unpacked-bytes]
    #[arg(long, env = "GAMESTORE_MAX_FILE_BYTES", value_name = "BYTES")]
    max_file_bytes: Option<u64>,

    /// Download speed cap per connection in bytes per second, 0 for none [default: 0]
    #[arg(long, env = "GAMESTORE_DOWNLOAD_RATE", value_name = "BYTES_PER_SEC")]
    download_rate: Option<u64>,

    /// Address game servers bind [default: 0.0.0.0]
    #[arg(long, env = "GAMESTORE_GAME_BIND", value_name = "ADDR")]
    game_bind: Option<String>,

    /// Seconds a new game server has to accept connections [default: 10]
    #[arg(long, env = "GAMESTORE_GAME_START_TIMEOUT", value_name = "SECS")]
    game_start_timeout: Option<u64>,

    /// Longest a match may run, in seconds, before its server is stopped [default: 3600]
    #[arg(long, env = "GAMESTORE_MAX_MATCH_SECS", value_name = "SECS")]
    max_match_secs: Option<u64>,

    /// How game servers are confined: auto (bubblewrap view when it works, else
    /// the exec step's Landlock and seccomp alone), on (bubblewrap required) or
    /// off (limits and containment only) [default: auto]
    #[arg(long, env = "GAMESTORE_SANDBOX", value_name = "MODE")]
    sandbox: Option<SandboxMode>,

    /// Most processes and threads one game server may run at once [default: 128]
    #[arg(long, env = "GAMESTORE_GAME_MAX_PROCESSES", value_name = "N")]
    game_max_processes: Option<u64>,

    /// Most memory one match may use, like 512M or 2G (all its processes
    /// when the lobby may create control groups, else per process) [default: 512M]
    #[arg(long, env = "GAMESTORE_GAME_MAX_MEMORY", value_name = "BYTES")]
    game_max_memory: Option<String>,

    /// CPU seconds each game server process may use [default: the match time limit + 30]
    #[arg(long, env = "GAMESTORE_GAME_MAX_CPU_SECS", value_name = "SECS")]
    game_max_cpu_secs: Option<u64>,

    /// Most files each game server process may have open [default: 256]
    #[arg(long, env = "GAMESTORE_GAME_MAX_OPEN_FILES", value_name = "N")]
    game_max_open_files: Option<u64>,

    /// Most bytes a match may keep in its match folder, like 256M; past it the
    /// match is stopped [default: 256M]
    #[arg(long, env = "GAMESTORE_GAME_MAX_DISK", value_name = "BYTES")]
    game_max_disk: Option<String>,

    /// Argon2id memory per password hash, in KiB [default: 19456]
    #[arg(long, global = true, env = "GAMESTORE_PASSWORD_HASH_KIB", value_name = "KIB")]
    password_hash_kib: Option<u32>,

    /// Argon2id passes per password hash [default: 2]
    #[arg(long, global = true, env = "GAMESTORE_PASSWORD_HASH_PASSES", value_name = "N")]
    password_hash_passes: Option<u32>,

    /// Seconds a room keeps the seat of a player whose lobby connection
    /// dropped, for them to reconnect; 0 removes them at once [default: 30]
    #[arg(long, env = "GAMESTORE_SEAT_GRACE", value_name = "SECS")]
    seat_grace: Option<u64>,

    /// Password hashes computed at once; each holds its Argon2 memory
    /// (--password-hash-kib) for good [default: 2]
    #[arg(long, env = "GAMESTORE_PASSWORD_HASH_THREADS", value_name = "N")]
    password_hash_threads: Option<usize>,

    /// Failed logins per account name per minute before it is blocked for
    /// 1, 2, 4, 8, then 16 minutes; 0 for no limit [default: 10]
    #[arg(long, env = "GAMESTORE_LOGIN_FAILURES_PER_ACCOUNT", value_name = "N")]
    login_failures_per_account: Option<u32>,

    /// Failed logins and session resumes per source address per minute
    /// before it is blocked for growing spans; 0 for no limit [default: 30]
    #[arg(long, env = "GAMESTORE_LOGIN_FAILURES_PER_ADDR", value_name = "N")]
    login_failures_per_addr: Option<u32>,

    /// Accounts one source address may register per hour; 0 for no limit [default: 20]
    #[arg(long, env = "GAMESTORE_REGISTRATIONS_PER_ADDR", value_name = "N")]
    registrations_per_addr: Option<u32>,

    /// Matches one player may start per minute; 0 for no limit [default: 10]
    #[arg(long, env = "GAMESTORE_MATCH_STARTS_PER_PLAYER", value_name = "N")]
    match_starts_per_player: Option<u32>,

    /// Matches one room may start per minute; 0 for no limit [default: 10]
    #[arg(long, env = "GAMESTORE_MATCH_STARTS_PER_ROOM", value_name = "N")]
    match_starts_per_room: Option<u32>,

    /// Game servers the matches one player started may run at once; 0 for
    /// no limit [default: 2]
    #[arg(long, env = "GAMESTORE_GAME_SERVERS_PER_PLAYER", value_name = "N")]
    game_servers_per_player: Option<u32>,

    /// Seconds a game server keeps running after every member of its room
    /// left, before it is stopped [default: 60]
    #[arg(long, env = "GAMESTORE_ABANDONED_MATCH_GRACE", value_name = "SECS")]
    abandoned_match_grace_secs: Option<u64>,

    /// Seconds a match's folder (<data>/matches/<id>: server log, result)
    /// is kept after the match; older ones are also removed at start
    /// [default: 259200, three days]
    #[arg(long, env = "GAMESTORE_MATCH_RETENTION", value_name = "SECS")]
    match_retention_secs: Option<u64>,

    /// Optional TOML file with any of these settings, keys spelled like the
    /// flags with underscores (listen = "0.0.0.0:8888", data_dir = ...)
    #[arg(long, global = true, env = "GAMESTORE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Address of the store website, JSON API, admin pages, /metrics,
    /// /healthz and /readyz, or `off` [default: 0.0.0.0:8080]
    #[arg(long, env = "GAMESTORE_HTTP_LISTEN", value_name = "ADDR|off")]
    http_listen: Option<String>,

    /// Serve the website over HTTPS with the lobby's TLS certificate
    #[arg(long, env = "GAMESTORE_HTTPS")]
    https: bool,

    /// PEM certificate chain for TLS [default: a self-signed certificate
    /// generated in DATA_DIR/tls on first start]
    #[arg(long, env = "GAMESTORE_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert
    #[arg(long, env = "GAMESTORE_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Refuse plain TCP lobby connections (clients must use tls://)
    #[arg(long, env = "GAMESTORE_REQUIRE_TLS")]
    require_tls: bool,

    /// Run as one node of a lobby of several: the NATS server the nodes
    /// share (nats://HOST:PORT). Needs --node-id, --public-host and a
    /// postgres:// --database that every node shares
    #[arg(long, env = "GAMESTORE_NATS", value_name = "URL")]
    nats: Option<String>,

    /// This node's name among the lobby's nodes (1 to 32 letters, digits,
    /// '_' or '-'); only with --nats
    #[arg(long, env = "GAMESTORE_NODE_ID", value_name = "ID")]
    node_id: Option<String>,

    /// First token of every NATS subject the nodes use, so several lobbies
    /// can share one NATS server [default: gamestore]
    #[arg(long, env = "GAMESTORE_NATS_SUBJECT_PREFIX", value_name = "PREFIX")]
    nats_subject_prefix: Option<String>,

    #[command(subcommand)]
    command: Option<Command>,
}

/// Maintenance commands run on the lobby's machine.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Manage admin accounts for the admin pages
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, clap::Subcommand)]
enum AdminCommand {
    /// Create an admin account; the password is read from the first line of
    /// standard input
    Add {
        #[arg(long, value_name = "NAME")]
        user: String,
    },
}

/// The config file's shape; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database: Option<String>,
    game_ports: Option<String>,
    public_host: Option<String>,
    max_connections: Option<usize>,
    max_handshakes: Option<usize>,
    handshake_timeout: Option<u64>,
    idle_timeout: Option<u64>,
    max_upload_bytes: Option<u64>,
    max_package_files: Option<usize>,
    max_unpacked_bytes: Option<u64>,
    max_file_bytes: Option<u64>,
    download_rate: Option<u64>,
    game_bind: Option<String>,
    game_start_timeout: Option<u64>,
    max_match_secs: Option<u64>,
    sandbox: Option<SandboxMode>,
    password_hash_kib: Option<u32>,
    password_hash_passes: Option<u32>,
    seat_grace: Option<u64>,
    password_hash_threads: Option<usize>,
    login_failures_per_account: Option<u32>,
    login_failures_per_addr: Option<u32>,
    registrations_per_addr: Option<u32>,
    match_starts_per_player: Option<u32>,
    match_starts_per_room: Option<u32>,
    game_servers_per_player: Option<u32>,
    abandoned_match_grace_secs: Option<u64>,
    match_retention_secs: Option<u64>,
    http_listen: Option<String>,
    https: Option<bool>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    require_tls: Option<bool>,
    game_max_processes: Option<u64>,
    game_max_memory: Option<String>,
    game_max_cpu_secs: Option<u64>,
    game_max_open_files: Option<u64>,
    game_max_disk: Option<String>,
    nats: Option<String>,
    node_id: Option<String>,
    nats_subject_prefix: Option<String>,
}

/// `--sandbox` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
enum SandboxMode {
    Auto,
    On,
    Off,
}

fn main() -> ExitCode {
    // The sandbox's exec step runs this binary before a game server.
    gamestore_sandbox::run_if_requested();
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::EnvFilter::try_from_env("GAMESTORE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .with(gamestore_lobby::warnings::WarningsLayer)
        .init();
    match run(Args::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            toml::from_str::<FileConfig>(&text)
                .with_context(|| format!("bad config file {}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let listen = args.listen.or(file.listen).unwrap_or_else(config::default_listen);
    let data_dir = args.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("server_data"));
    let mut config = LobbyConfig::new(data_dir);
    config.database = match (args.database, file.database) {
        (Some(url), _) => Some(url),
        (None, Some(url)) => {
            Some(url.parse().map_err(|e| anyhow::anyhow!("database in the config file: {e}"))?)
        }
        (None, None) => None,
    };
    if let Some(range) = args.game_ports.or(file.game_ports) {
        config.game_ports = parse_port_range(&range)?;
    }
    config.public_host = args.public_host.or(file.public_host);
    if let Some(max) = args.max_connections.or(file.max_connections) {
        config.limits.max_connections = max;
    }
    if let Some(max) = args.max_handshakes.or(file.max_handshakes) {
        config.limits.max_handshakes = max.max(1);
    }

    if let Some(secs) = args.handshake_timeout.or(file.handshake_timeout) {
        config.timeouts.handshake = Duration::from_secs(secs.max(1));
    }
    if let Some(secs) = args.idle_timeout.or(file.idle_timeout) {
        config.timeouts.idle = Duration::from_secs(secs.max(1));
    }

    if let Some(bytes) = args.max_upload_bytes.or(file.max_upload_bytes) {
        config.limits.max_upload_bytes = bytes;
    }
    if let Some(n) = args.max_package_files.or(file.max_package_files) {
        config.limits.package.max_entries = n;
    }
    if let Some(bytes) = args.max_unpacked_bytes.or(file.max_unpacked_bytes) {
        config.limits.package.max_total_bytes = bytes;
    }
    if let Some(bytes) = args.max_file_bytes.or(file.max_file_bytes) {
        let most = gamestore_package::chunked::MAX_FILE_BYTES;
        if bytes > most {
            anyhow::bail!("--max-file-bytes {bytes} is more than a package file may have ({most})");
        }
        config.limits.package.max_file_bytes = bytes;
    }
    config.limits.package.max_file_bytes =
        config.limits.package.max_file_bytes.min(config.limits.package.max_total_bytes);
    if let Some(rate) = args.download_rate.or(file.download_rate) {
        config.limits.download_bytes_per_sec = rate;
    }
    if let Some(host) = args.game_bind.or(file.game_bind) {
        config.matches.bind_host = host;
    }
    if let Some(secs) = args.game_start_timeout.or(file.game_start_timeout) {
        config.matches.start_timeout = Duration::from_secs(secs.max(1));
    }
    if let Some(secs) = args.max_match_secs.or(file.max_match_secs) {
        config.matches.max_match_time = Duration::from_secs(secs.max(1));
    }
    if let Some(mode) = args.sandbox.or(file.sandbox) {
        config.matches.sandbox = match mode {
            SandboxMode::Auto => Sandbox::Auto,
            SandboxMode::On => Sandbox::Required,
            SandboxMode::Off => Sandbox::Off,
        };
    }
    let limits = &mut config.matches.limits;
    if let Some(n) = args.game_max_processes.or(file.game_max_processes) {
        limits.processes = n.max(1);
    }
    if let Some(text) = args.game_max_memory.or(file.game_max_memory) {
        limits.memory_bytes = gamestore_lobby::game_sandbox::parse_bytes(&text)
            .map_err(anyhow::Error::msg)?
            .max(1 << 20);
    }
    if let Some(secs) = args.game_max_cpu_secs.or(file.game_max_cpu_secs) {
        limits.cpu_secs = Some(secs.max(1));
    }
    if let Some(n) = args.game_max_open_files.or(file.game_max_open_files) {
        limits.open_files = n.max(16);
    }
    if let Some(text) = args.game_max_disk.or(file.game_max_disk) {
        limits.disk_bytes =
            gamestore_lobby::game_sandbox::parse_bytes(&text).map_err(anyhow::Error::msg)?;
    }
    if let Some(kib) = args.password_hash_kib.or(file.password_hash_kib) {
        config.password_hashing.memory_kib = kib.max(8);
    }
    if let Some(passes) = args.password_hash_passes.or(file.password_hash_passes) {
        config.password_hashing.iterations = passes.max(1);
    }
    if let Some(secs) = args.seat_grace.or(file.seat_grace) {
        config.timeouts.seat_grace = Duration::from_secs(secs.min(24 * 3600));
    }
    if let Some(n) = args.password_hash_threads.or(file.password_hash_threads) {
        config.limits.concurrent_password_hashes = n.max(1);
    }
    if let Some(n) = args.login_failures_per_account.or(file.login_failures_per_account) {
        config.limits.login_failures_per_account = n;
    }
    if let Some(n) = args.login_failures_per_addr.or(file.login_failures_per_addr) {
        config.limits.login_failures_per_address = n;
    }
    if let Some(n) = args.registrations_per_addr.or(file.registrations_per_addr) {
        config.limits.registrations_per_address = n;
    }
    if let Some(n) = args.match_starts_per_player.or(file.match_starts_per_player) {
        config.matches.starts_per_player_per_minute = n;
    }
    if let Some(n) = args.match_starts_per_room.or(file.match_starts_per_room) {
        config.matches.starts_per_room_per_minute = n;
    }
    if let Some(n) = args.game_servers_per_player.or(file.game_servers_per_player) {
        config.matches.game_servers_per_player = n;
    }
    if let Some(secs) = args.abandoned_match_grace_secs.or(file.abandoned_match_grace_secs) {
        config.matches.abandoned_match_grace = Duration::from_secs(secs);
    }
    if let Some(secs) = args.match_retention_secs.or(file.match_retention_secs) {
        config.matches.match_retention = Duration::from_secs(secs);
    }

    let tls_cert = args.tls_cert.or(file.tls_cert);
    let tls_key = args.tls_key.or(file.tls_key);
    config.tls.cert_and_key = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => bail!("--tls-cert and --tls-key go together"),
    };
    config.tls.require = args.require_tls || file.require_tls.unwrap_or(false);
    let https = args.https || file.https.unwrap_or(false);
    config.cluster = cluster_settings(
        args.nats.or(file.nats),
        args.node_id.or(file.node_id),
        args.nats_subject_prefix.or(file.nats_subject_prefix),
        &config,
    )?;
    let http_listen = parse_http_listen(args.http_listen.or(file.http_listen).as_deref())?;

    if let Some(Command::Admin(AdminCommand::Add { user })) = args.command {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).context("cannot read the password from stdin")?;
        let password = line.trim_end_matches(['\r', '\n']);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(gamestore_lobby::admin::add_admin(&config, &user, password))?;
        println!("admin {user} created");
        return Ok(ExitCode::SUCCESS);
    }

    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let lobby = Lobby::open(config).await.context("cannot open the data directory")?;
        let listener = bind(listen).with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        let signal = shutdown_signal()?;
        let (stop_web, web_stopped) = tokio::sync::watch::channel(false);
        let web = match http_listen {
            Some(http_addr) => {
                let http = gamestore_lobby::http::bind(http_addr)
                    .await
                    .with_context(|| format!("cannot listen for HTTP on {http_addr}"))?;
                let http_addr = http.local_addr()?;
                let scheme = if https { "https" } else { "http" };
                tracing::info!("website on {scheme}://{http_addr}");
                let acceptor = https.then(|| lobby.tls.acceptor.clone());
                Some(tokio::spawn(gamestore_lobby::http::serve(
                    lobby.clone(),
                    http,
                    acceptor,
                    web_stopped,
                )))
            }
            None => None,
        };
        tracing::info!(data_dir = %lobby.config.data_dir.display(), "listening on {addr}");
        let shutdown = async move {
            signal.await;
            let _ = stop_web.send(true);
        };
        gamestore_lobby::server::run(lobby, listener, shutdown).await;
        if let Some(web) = web {
            let _ = web.await;
        }
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// `--nats`, `--node-id` and `--nats-subject-prefix`: several nodes share
/// live state over NATS and records over PostgreSQL, so a node without a
/// shared database (or a reachable address for its game servers) is refused.
fn cluster_settings(
    nats: Option<String>,
    node_id: Option<String>,
    prefix: Option<String>,
    config: &LobbyConfig,
) -> anyhow::Result<Option<config::ClusterSettings>> {
    let (nats, node_id) = match (nats, node_id) {
        (None, None) => {
            if prefix.is_some() {
                bail!("--nats-subject-prefix goes with --nats");
            }
            return Ok(None);
        }
        (Some(nats), Some(node_id)) => (nats, node_id),
        (Some(_), None) => bail!("--nats needs --node-id (this node's name among the nodes)"),
        (None, Some(_)) => bail!("--node-id goes with --nats"),
    };
    if !matches!(config.database, Some(gamestore_storage::DatabaseUrl::Postgres(_))) {
        bail!(
            "--nats needs a postgres:// --database shared by every node (the nodes keep \
             accounts, sessions, the catalog and matches there; SQLite is one node's own)"
        );
    }
    if config.public_host.is_none() {
        bail!(
            "--nats needs --public-host: players on other nodes are sent to this node's \
             game servers at that address"
        );
    }
    let mut settings =
        config::ClusterSettings::new(nats.trim(), node_id.trim()).map_err(anyhow::Error::msg)?;
    if let Some(prefix) = prefix {
        config::check_subject_token("--nats-subject-prefix", prefix.trim())
            .map_err(anyhow::Error::msg)?;
        settings.subject_prefix = prefix.trim().to_owned();
    }
    Ok(Some(settings))
}

/// `--http-listen`: an address, or `off`.
fn parse_http_listen(text: Option<&str>) -> anyhow::Result<Option<SocketAddr>> {
    match text.map(str::trim) {
        None => Ok(Some(SocketAddr::from(([0, 0, 0, 0], 8080)))),
        Some("off") => Ok(None),
        Some(addr) => addr
            .parse()
            .map(Some)
            .with_context(|| format!("--http-listen must be ADDR:PORT or off (got {addr:?})")),
    }
}

/// Pending connections the kernel queues before the lobby accepts them.
/// The usual 128 overflows when thousands of clients connect at once (say,
/// reconnecting after a restart), and each dropped handshake costs its client
/// a one-second retry.
const LISTEN_BACKLOG: u32 = 4096;

fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

fn parse_port_range(text: &str) -> anyhow::Result<std::ops::RangeInclusive<u16>> {
    let Some((from, to)) = text.split_once('-') else {
        bail!("game ports must be FROM-TO, like 9000-9999 (got {text:?})");
    };
    let from: u16 = from.trim().parse().with_context(|| format!("bad port {from:?}"))?;
    let to: u16 = to.trim().parse().with_context(|| format!("bad port {to:?}"))?;
    if from == 0 || from > to {
        bail!("game port range {text:?} is empty or starts at 0");
    }
    Ok(from..=to)
}

/// Completes on SIGINT or SIGTERM. The handlers are installed before this
/// returns, so a signal sent right after the lobby reports ready is not lost.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}
