//! A real `gamestore-lobby` process for one test.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

use crate::{ChildGuard, TIMEOUT, bin};

/// Extra settings for a test lobby.
#[derive(Debug, Clone, Default)]
pub struct LobbyOptions {
    /// Extra command-line arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// A command the lobby runs under (`ip netns exec NS`), for tests that
    /// build their own network namespaces.
    pub wrapper: Vec<String>,
    /// The address to listen on instead of `127.0.0.1:0`.
    pub listen: Option<String>,
    /// Leave `--public-host` and `--game-bind` to the lobby's defaults
    /// (only inside a network namespace the test created).
    pub own_addresses: bool,
}

/// A running lobby with its own temporary data folder.
pub struct TestLobby {
    pub addr: SocketAddr,
    /// The website's address (`--http-listen 127.0.0.1:0`), unless the
    /// test turned it off.
    pub http: Option<SocketAddr>,
    data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    child: ChildGuard,
    /// Dropped after the lobby process is stopped.
    _database: Option<TestDatabase>,
    log: Arc<Mutex<String>>,
    options: LobbyOptions,
}

/// The environment variable that runs every test lobby on a fresh
/// PostgreSQL database: an admin URL of a throwaway cluster, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres` (scripts/test sets it for
/// a subset of the end-to-end tests).
pub const LOBBY_POSTGRES_ENV: &str = "GAMESTORE_TEST_LOBBY_POSTGRES";

/// A database created for one test (one lobby, or the nodes of one) and
/// dropped with it (`psql`).
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// The database's URL, for `--database`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Creates a fresh database on the cluster of `admin_url`.
    pub fn create(admin_url: &str) -> TestDatabase {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("gs_lobby_{}_{n}", std::process::id());
        psql(admin_url, &format!("CREATE DATABASE {name}"));
        let (base, query) = admin_url.split_once('?').unwrap_or((admin_url, ""));
        let after_scheme = base.find("://").map_or(0, |i| i + 3);
        let host_end = base[after_scheme..].find('/').map_or(base.len(), |i| after_scheme + i);
        let query = if query.is_empty() { String::new() } else { format!("?{query}") };
        let url = format!("{}/{name}{query}", &base[..host_end]);
        TestDatabase { admin_url: admin_url.to_owned(), name, url }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        psql(&self.admin_url, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
    }
}

fn psql(admin_url: &str, sql: &str) {
    let status = Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", admin_url, "-c", sql])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("run psql");
    assert!(status.success(), "psql failed: {sql}");
}

impl TestLobby {
    /// Starts a lobby on a free loopback port with a fresh data folder.
    pub fn start() -> TestLobby {
        TestLobby::start_with(LobbyOptions::default())
    }

    pub fn start_with(options: LobbyOptions) -> TestLobby {
        let tmp = tempfile::tempdir().expect("temp dir");
        let data_dir = tmp.path().join("server_data");
        let listen = options.listen.clone().unwrap_or_else(|| "127.0.0.1:0".to_owned());
        let mut options = options;
        let database = std::env::var(LOBBY_POSTGRES_ENV)
            .ok()
            .filter(|url| !url.is_empty())
            .map(|admin_url| TestDatabase::create(&admin_url));
        if let Some(database) = &database {
            options.env.push(("GAMESTORE_DATABASE".into(), database.url.clone()));
        }
        let (addr, http, child, log) = spawn(&data_dir, &listen, &options);
        TestLobby {
            addr,
            http,
            data_dir,
            _tmp: Some(tmp),
            child,
            _database: database,
            log,
            options,
        }
    }

    /// `HOST:PORT` for `--server`.
    pub fn server(&self) -> String {
        self.addr.to_string()
    }

    /// `tls://HOST:PORT` for `--server`.
    pub fn tls_server(&self) -> String {
        format!("tls://{}", self.addr)
    }

    /// The website's address; panics when it was turned off.
    pub fn http_addr(&self) -> SocketAddr {
        self.http.expect("the lobby's website is on")
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Everything the lobby logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the lobby with SIGKILL: no chance to clean up.
    pub fn kill9(&mut self) {
        self.child.kill();
    }

    /// Sends SIGTERM and waits for the lobby to exit; returns how it exited.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.child.signal(libc::SIGTERM);
        self.child.wait_timeout(TIMEOUT)
    }

    /// Starts the lobby again on the same address and data folder (after
    /// [`TestLobby::kill9`] or [`TestLobby::terminate`]).
    pub fn restart(&mut self) {
        self.child.kill();
        let (addr, http, child, log) = spawn(&self.data_dir, &self.addr.to_string(), &self.options);
        assert_eq!(addr, self.addr);
        self.http = http;
        self.child = child;
        self.log = log;
    }
}

fn spawn(
    data_dir: &Path,
    listen: &str,
    options: &LobbyOptions,
) -> (SocketAddr, Option<SocketAddr>, ChildGuard, Arc<Mutex<String>>) {
    let mut command = match options.wrapper.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(bin("gamestore-lobby"));
            command
        }
        None => Command::new(bin("gamestore-lobby")),
    };
    command.args(["--listen", listen, "--data-dir"]).arg(data_dir);
    if !options.own_addresses {
        command.args(["--public-host", "127.0.0.1", "--game-bind", "127.0.0.1"]);
    }
    command
        .args(["--game-ports", &game_ports()])
        .args(["--http-listen", "127.0.0.1:0"])
        .args(&options.args)
        .env("GAMESTORE_LOG", "info,gamestore_lobby=debug")
        .env_remove("GAMESTORE_CONFIG")
        .envs(options.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start gamestore-lobby");
    let stderr = child.stderr.take().unwrap();
    let guard = ChildGuard::new(child, "gamestore-lobby");
    let log = Arc::new(Mutex::new(String::new()));
    let (ready_tx, ready_rx) = mpsc::channel();
    let http = Arc::new(Mutex::new(None));
    let http_writer = http.clone();
    let log_writer = log.clone();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            // Logged before `listening on`, so it is known once ready.
            if let Some(addr) = line.split("website on ").nth(1) {
                let addr = addr.split("://").nth(1).unwrap_or("").split_whitespace().next();
                *http_writer.lock().unwrap() = addr.and_then(|a| a.parse::<SocketAddr>().ok());
            }
            if let Some(addr) = line.split("listening on ").nth(1) {
                let addr = addr.split_whitespace().next().unwrap_or("").to_owned();
                let _ = ready_tx.send(addr);
            }
            let mut log = log_writer.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let addr = match ready_rx.recv_timeout(TIMEOUT) {
        Ok(addr) => addr.parse().expect("listen address"),
        Err(_) => panic!("the lobby did not start listening:\n{}", log.lock().unwrap()),
    };
    let http = *http.lock().unwrap();
    (addr, http, guard, log)
}

/// A port range for this lobby's game servers, distinct from other test
/// processes' ranges (tests run in parallel, each in its own process) and
/// below the kernel's ephemeral range.
fn game_ports() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let slot = (std::process::id() * 7 + NEXT.fetch_add(1, Ordering::Relaxed) * 13) % 1100;
    let from = 10_000 + slot * 20;
    format!("{from}-{}", from + 19)
}
