//! The lobby under test: a `gamestore-lobby` process the bench starts on
//! 127.0.0.1 with a temporary data folder, or a lobby already running at
//! `--server`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use anyhow::{Context, bail};

/// Longest wait for a new lobby to say `listening on`.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Log lines kept for error messages.
const LOG_LINES: usize = 200;

/// How the bench starts its own lobbies.
#[derive(Debug, Clone)]
pub struct LobbyLaunch {
    pub exe: PathBuf,
    /// `--game-ports FROM-TO`.
    pub game_ports: String,
    /// Passed after the bench's own flags (later flags win).
    pub extra_args: Vec<String>,
    /// Keep the lobby's own Argon2 cost instead of the bench's cheap one.
    pub deployed_password_cost: bool,
}

/// `gamestore-lobby` next to this executable (where cargo builds both).
pub fn default_lobby_exe() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the bench's own path")?;
    let dir = exe.parent().context("the bench executable has no folder")?;
    // `cargo test` runs test binaries from target/<profile>/deps.
    let candidates = [dir.join("gamestore-lobby"), dir.join("../gamestore-lobby")];
    candidates.into_iter().find(|p| p.is_file()).with_context(|| {
        format!(
            "gamestore-lobby is not built next to {}; build the workspace (cargo build --release) or pass --lobby PATH",
            exe.display()
        )
    })
}

/// A lobby to run a scenario against.
pub struct Server {
    /// `HOST:PORT`.
    pub addr: String,
    /// The website's `HOST:PORT`, when the bench started the lobby.
    pub http: Option<String>,
    process: Option<LobbyProcess>,
}

impl Server {
    /// A lobby someone else runs.
    pub fn external(addr: &str) -> Server {
        Server { addr: addr.to_owned(), http: None, process: None }
    }

    /// Starts a fresh lobby process with an empty data folder.
    pub fn start(launch: &LobbyLaunch) -> anyhow::Result<Server> {
        Server::start_seeded(launch, |_| Ok(()))
    }

    /// Starts a fresh lobby process on a data folder that `seed` fills
    /// first (given the folder's path, which does not exist yet).
    pub fn start_seeded(
        launch: &LobbyLaunch,
        seed: impl FnOnce(&Path) -> anyhow::Result<()>,
    ) -> anyhow::Result<Server> {
        let process = LobbyProcess::start(launch, seed)?;
        let http = process.log.lock().unwrap().iter().find_map(|line| {
            let rest = line.split("website on ").nth(1)?;
            Some(rest.split("://").nth(1)?.split_whitespace().next()?.to_owned())
        });
        Ok(Server { addr: process.addr.clone(), http, process: Some(process) })
    }

    /// The lobby's resident memory in KiB, when the bench started it.
    pub fn rss_kib(&self) -> Option<u64> {
        self.process.as_ref().and_then(|p| status_kib(p.child.id(), "VmRSS:"))
    }

    /// The lobby's peak resident memory in KiB, when the bench started it.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.process.as_ref().and_then(|p| status_kib(p.child.id(), "VmHWM:"))
    }

    /// The data folder of a lobby the bench started.
    pub fn data_dir(&self) -> Option<PathBuf> {
        self.process.as_ref().map(|p| p._data.path().join("server_data"))
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.child.id())
    }

    /// Whether the lobby said it runs game servers in a sandbox; `None` when
    /// unknown (a lobby the bench did not start).
    pub fn sandboxed(&self) -> Option<bool> {
        let log = self.process.as_ref()?.log.lock().unwrap().join("\n");
        if log.contains("in a bubblewrap sandbox") {
            Some(true)
        } else if log.contains("without a sandbox") {
            Some(false)
        } else {
            None
        }
    }

    /// The end of the lobby's log, for error messages.
    pub fn log_tail(&self) -> String {
        match &self.process {
            Some(p) => p.log.lock().unwrap().join("\n"),
            None => String::new(),
        }
    }
}

/// A `gamestore-lobby` child process, killed and reaped on drop.
struct LobbyProcess {
    addr: String,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    _data: tempfile::TempDir,
}

impl LobbyProcess {
    fn start(
        launch: &LobbyLaunch,
        seed: impl FnOnce(&Path) -> anyhow::Result<()>,
    ) -> anyhow::Result<LobbyProcess> {
        let data = tempfile::Builder::new().prefix("gamestore-bench-lobby-").tempdir()?;
        seed(&data.path().join("server_data"))?;
        let mut command = Command::new(&launch.exe);
        command
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path().join("server_data"))
            .args(["--public-host", "127.0.0.1", "--game-bind", "127.0.0.1"])
            .args(["--game-ports", &launch.game_ports])
            // Every bench client comes from 127.0.0.1 and one host starts
            // every match: lift the per-address and per-player limits.
            .args(["--registrations-per-addr", "0"])
            .args(["--match-starts-per-player", "0", "--match-starts-per-room", "0"])
            // Idle clients ping every 30 s; leave room for a slow machine.
            .args(["--idle-timeout", "600"]);
        if !launch.deployed_password_cost {
            // Cheap password hashing so that thousands of accounts can log
            // in quickly; the default cost is ~20 MiB and tens of ms each.
            command.args(["--password-hash-kib", "8", "--password-hash-passes", "1"]);
        }
        command
            .args(["--http-listen", "127.0.0.1:0"])
            .args(&launch.extra_args)
            .env_remove("GAMESTORE_CONFIG")
            .env("GAMESTORE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child =
            command.spawn().with_context(|| format!("cannot start {}", launch.exe.display()))?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        let log_writer = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let _ = ready_tx.send(rest.split_whitespace().next().unwrap_or("").to_owned());
                }
                let mut log = log_writer.lock().unwrap();
                if log.len() >= LOG_LINES {
                    log.remove(0);
                }
                log.push(line);
            }
        });
        let mut process = LobbyProcess { addr: String::new(), child, log, _data: data };
        match ready_rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => process.addr = addr,
            Err(_) => {
                let _ = process.child.kill();
                let _ = process.child.wait();
                let log = process.log.lock().unwrap().join("\n");
                bail!("the lobby did not start listening within {START_TIMEOUT:?}:\n{log}");
            }
        }
        Ok(process)
    }
}

impl Drop for LobbyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS:`, `VmHWM:`).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status =
        std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}
