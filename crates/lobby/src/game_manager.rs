//! The Game Manager: one game server process per match (seed §3C).
//!
//! [`GameManager::start`] allocates a free port from the configured range,
//! spawns the game's server command from its stored manifest (an argv, never
//! a shell line) in a fresh working folder, and waits until the port accepts
//! connections. [`GameProcess::wait`] then waits for the server to exit, for
//! the lobby's time limit, or for shutdown, and reports how it ended with
//! the result the server wrote to `GAMESTORE_RESULT_FILE`.
//!
//! Game servers are untrusted code. [`crate::game_sandbox`] decides how
//! they are confined (bubblewrap view, exec step with uid, capabilities,
//! Landlock and seccomp, per-match limits and control group) and builds the
//! command; each server also runs in its own session and dies with the
//! lobby (`PR_SET_PDEATHSIG`).
//!
//! **Invariant:** every game server process is owned by a [`GameProcess`];
//! dropping it kills the whole tree (its control group, pid namespace and
//! process group), and the manager's task tracker lets shutdown wait until
//! every match has been stopped and recorded. Proved by
//! `sandbox::a_daemon_forked_by_a_game_server_dies_with_the_match`.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gamestore_package::{Manifest, Placeholders, RESULT_PREFIX, ResultMode};
use gamestore_protocol::MatchOutcome;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How game servers are isolated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sandbox {
    /// Use bubblewrap when it works on this machine, else run unsandboxed.
    Auto,
    /// Always use bubblewrap; refuse to start matches without it.
    Required,
    /// Never use bubblewrap (resource limits still apply).
    Off,
}

/// Game Manager settings.
#[derive(Debug, Clone)]
pub struct GameManagerConfig {
    /// Ports game servers may use.
    pub ports: RangeInclusive<u16>,
    /// The address game servers bind (`{host}` in their command).
    pub bind_host: String,
    /// Longest wait for a new game server to accept connections.
    pub start_timeout: Duration,
    /// Longest a match may run before its server is stopped.
    pub max_match_time: Duration,
    pub sandbox: Sandbox,
    /// The lobby's data folder, hidden from sandboxed servers.
    pub data_dir: PathBuf,
    /// Per-match limits on each server.
    pub limits: crate::game_sandbox::GameLimits,
}

/// What to run for one match.
#[derive(Debug, Clone)]
pub struct MatchSpec {
    pub match_id: i64,
    pub manifest: Manifest,
    /// The version's unpacked files.
    pub game_dir: PathBuf,
    pub players: Vec<String>,
    pub token: String,
    /// The room the match is played from (`{room_id}`).
    pub room_id: u64,
}

/// Why a game server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("no free port in {0:?} for the game server")]
    NoPort(RangeInclusive<u16>),
    #[error("the game server could not be started: {0}")]
    Spawn(String),
    #[error("the game server exited ({status}) before accepting connections{log}")]
    ExitedEarly { status: String, log: String },
    #[error("the game server did not accept connections within {0:?}")]
    NeverListened(Duration),
}

/// How a match's server ended.
#[derive(Debug, Clone)]
pub struct MatchExit {
    pub outcome: MatchOutcome,
    pub exit_code: Option<i32>,
    /// The JSON object the server wrote to its result file, if valid.
    pub result: Option<serde_json::Value>,
    pub message: String,
}

/// Runs game servers and keeps track of them.
#[derive(Debug)]
pub struct GameManager {
    config: GameManagerConfig,
    sandbox: crate::game_sandbox::ServerSandbox,
    ports_in_use: Mutex<HashSet<u16>>,
    next_port: Mutex<u16>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl GameManager {
    pub fn new(config: GameManagerConfig) -> anyhow::Result<Arc<GameManager>> {
        let sandbox = crate::game_sandbox::ServerSandbox::new(
            config.sandbox,
            config.limits.clone(),
            config.max_match_time,
        )?;
        std::fs::create_dir_all(config.data_dir.join("matches"))?;
        let first = *config.ports.start();
        Ok(Arc::new(GameManager {
            config,
            sandbox,
            ports_in_use: Mutex::new(HashSet::new()),
            next_port: Mutex::new(first),
            stop: watch::channel(false).0,
            tasks: Mutex::new(Vec::new()),
        }))
    }

    /// True when game servers run inside the sandbox (for the admin pages).
    pub fn sandboxed(&self) -> bool {
        self.sandbox.sandboxed()
    }

    /// Runs `task` (a match's lifecycle) under the manager, so shutdown can
    /// wait for it.
    pub fn track(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(tokio::spawn(task));
    }

    /// Stops every running match and waits (bounded) for their tasks.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }

    /// Starts the game server for one match and waits until it listens.
    pub async fn start(self: &Arc<Self>, spec: &MatchSpec) -> Result<GameProcess, StartError> {
        let port = self.lease_port()?;
        let workdir = self.config.data_dir.join("matches").join(spec.match_id.to_string());
        let _ = std::fs::remove_dir_all(&workdir);
        std::fs::create_dir_all(&workdir).map_err(|e| StartError::Spawn(e.to_string()))?;
        // Absolute: the server runs in it, and reads GAMESTORE_RESULT_FILE from there.
        let workdir = workdir.canonicalize().map_err(|e| StartError::Spawn(e.to_string()))?;
        let result_file = workdir.join("result.json");
        let log_path = workdir.join("server.log");

        let placeholders = Placeholders {
            host: self.config.bind_host.clone(),
            port: port.port,
            players: spec.players.len() as u32,
            player: None,
            match_id: spec.match_id.to_string(),
            token: spec.token.clone(),
            // Absolute: the server starts in its match folder, not here.
            game_dir: spec.game_dir.canonicalize().unwrap_or_else(|_| spec.game_dir.clone()),
            seat: None,
            room_id: spec.room_id,
            player_list: spec.players.clone(),
        };
        let expanded = spec
            .manifest
            .server
            .expand(&placeholders)
            .map_err(|e| StartError::Spawn(e.to_string()))?;
        let log = std::fs::File::create(&log_path).map_err(|e| StartError::Spawn(e.to_string()))?;
        let log_err = log.try_clone().map_err(|e| StartError::Spawn(e.to_string()))?;

        let prepared = self
            .sandbox
            .prepare(&crate::game_sandbox::ServerLaunch {
                match_id: spec.match_id,
                argv: &expanded.argv,
                workdir: &workdir,
                game_dir: &spec.game_dir,
                port: port.port,
            })
            .map_err(StartError::Spawn)?;
        let mut command = tokio::process::Command::new(&prepared.program);
        command.args(&prepared.args);
        let cgroup = prepared.cgroup;
        command
            .current_dir(&workdir)
            .env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()),
            )
            .env("HOME", &workdir)
            .env("LANG", "C.UTF-8")
            .envs(expanded.env.iter().map(|(k, v)| (k, v)))
            .env("GAMESTORE_RESULT_FILE", &result_file)
            .env("GAMESTORE_MATCH_ID", spec.match_id.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .kill_on_drop(true);
        let child = {
            let group = cgroup.as_ref().map(|g| g.joiner());
            // SAFETY: only async-signal-safe calls (setsid, prctl, open/write) between fork and exec.
            unsafe {
                command.pre_exec(move || crate::game_sandbox::join_group(group.as_ref()));
            }
            command.spawn().map_err(|e| StartError::Spawn(format!("{}: {e}", expanded.argv[0])))?
        };
        let pgid = child.id().map(|p| p as i32).unwrap_or(0);
        let mut process = GameProcess {
            pgid,
            cgroup,
            workdir: workdir.clone(),
            disk_cap: self.sandbox.disk_cap(),
            child: Some(child),
            port,
            result_file,
            log_path,
            result_mode: spec.manifest.result,
            max_match_time: self.config.max_match_time,
            stop: self.stop.subscribe(),
        };
        process.wait_listening(self.config.start_timeout, &self.config.bind_host).await?;
        Ok(process)
    }

    fn lease_port(self: &Arc<Self>) -> Result<PortLease, StartError> {
        let range = self.config.ports.clone();
        let span = (*range.end() as u32 - *range.start() as u32 + 1) as usize;
        let mut in_use = self.ports_in_use.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = self.next_port.lock().unwrap_or_else(|p| p.into_inner());
        for _ in 0..span {
            let port = *next;
            *next = if port >= *range.end() { *range.start() } else { port + 1 };
            if in_use.contains(&port) {
                continue;
            }
            // Free right now on this machine? (Another program may hold it.)
            let probe = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
            if TcpListener::bind(probe).is_ok() {
                in_use.insert(port);
                return Ok(PortLease { port, manager: self.clone() });
            }
        }
        Err(StartError::NoPort(range))
    }
}

/// A game server port, returned to the pool when dropped.
#[derive(Debug)]
pub struct PortLease {
    pub port: u16,
    manager: Arc<GameManager>,
}

impl Drop for PortLease {
    fn drop(&mut self) {
        self.manager.ports_in_use.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.port);
    }
}

/// A running game server. Dropping it kills the server's process group.
#[derive(Debug)]
pub struct GameProcess {
    /// The server's process group (its pid: it called setsid).
    pgid: i32,
    /// The match's control group, when the lobby may create one.
    cgroup: Option<gamestore_sandbox::cgroup::MatchCgroup>,
    /// The match folder and the most it may hold.
    workdir: PathBuf,
    disk_cap: u64,
    child: Option<tokio::process::Child>,
    pub port: PortLease,
    result_file: PathBuf,
    log_path: PathBuf,
    /// Where the server reports its result: the result file or its output.
    result_mode: ResultMode,
    max_match_time: Duration,
    stop: watch::Receiver<bool>,
}

impl Drop for GameProcess {
    fn drop(&mut self) {
        self.kill_tree();
        // Dropping the control group kills what is left in it and removes it.
    }
}

impl GameProcess {
    /// Kills the server and everything it started.
    fn kill_tree(&self) {
        kill_tree(self.pgid, self.cgroup.as_ref());
    }

    async fn wait_listening(
        &mut self,
        timeout: Duration,
        bind_host: &str,
    ) -> Result<(), StartError> {
        let host: std::net::IpAddr = match bind_host.parse() {
            Ok(ip) if !std::net::IpAddr::is_unspecified(&ip) => ip,
            _ => Ipv4Addr::LOCALHOST.into(),
        };
        let addr = SocketAddr::new(host, self.port.port);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let child = self.child.as_mut().expect("child present");
            if let Ok(Some(status)) = child.try_wait() {
                let log = log_tail(&self.log_path);
                return Err(StartError::ExitedEarly { status: describe(status), log });
            }
            // A connection that succeeds is closed at once; game servers ignore it.
            let attempt = tokio::time::timeout(
                Duration::from_millis(200),
                tokio::net::TcpStream::connect(addr),
            );
            if let Ok(Ok(_stream)) = attempt.await {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StartError::NeverListened(timeout));
            }
            // Most servers listen within milliseconds: look often at first,
            // then back off to spare a slow starter's CPU.
            let waited = timeout
                .saturating_sub(deadline.saturating_duration_since(tokio::time::Instant::now()));
            let pause = if waited < Duration::from_millis(100) { 1 } else { 10 };
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }

    /// True while the server process has not exited.
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Like [`GameProcess::wait`], but also stops the server when `stop`
    /// completes (with the reason it gives): the match is then `aborted`.
    pub async fn wait_unless(
        &mut self,
        stop: impl std::future::Future<Output = String>,
    ) -> MatchExit {
        let stopped = tokio::select! {
            exit = self.wait() => return exit,
            reason = stop => reason,
        };
        self.kill_tree();
        if let Some(child) = self.child.as_mut() {
            let _ = child.wait().await;
        }
        MatchExit {
            outcome: MatchOutcome::Aborted,
            exit_code: None,
            result: self.result(),
            message: stopped,
        }
    }

    /// Waits for the server to end: on its own, at the time limit, or at
    /// lobby shutdown. The port stays leased until `self` is dropped.
    pub async fn wait(&mut self) -> MatchExit {
        let limit = self.max_match_time;
        let child = self.child.as_mut().expect("child present");
        let mut stop = self.stop.clone();
        let disk = crate::game_sandbox::watch_disk(self.workdir.clone(), self.disk_cap);
        let ended = tokio::select! {
            status = child.wait() => Some(status),
            _ = tokio::time::sleep(limit) => None,
            used = disk => {
                tracing::warn!(used, cap = self.disk_cap, "a game server filled its match folder");
                kill_tree(self.pgid, self.cgroup.as_ref());
                let _ = child.wait().await;
                return MatchExit {
                    outcome: MatchOutcome::Failed,
                    exit_code: None,
                    result: None,
                    message: format!(
                        "the game server wrote more than {} to its match folder and was stopped",
                        gamestore_package::human_bytes(self.disk_cap)
                    ),
                };
            }
            _ = async { let _ = stop.wait_for(|s| *s).await; } => {
                kill_tree(self.pgid, self.cgroup.as_ref());
                let _ = child.wait().await;
                return MatchExit {
                    outcome: MatchOutcome::Aborted,
                    exit_code: None,
                    result: None,
                    message: "the lobby is shutting down; the match was stopped".into(),
                };
            }
        };
        let Some(status) = ended else {
            kill_tree(self.pgid, self.cgroup.as_ref());
            let _ = child.wait().await;
            return MatchExit {
                outcome: MatchOutcome::Timeout,
                exit_code: None,
                result: self.result(),
                message: format!(
                    "the match ran past the {}s limit and was stopped",
                    limit.as_secs()
                ),
            };
        };
        // The server is gone; make sure nothing it started lingers.
        self.kill_tree();
        let result = self.result();
        match status {
            Ok(status) if status.success() => MatchExit {
                outcome: MatchOutcome::Completed,
                exit_code: Some(0),
                message: result
                    .as_ref()
                    .and_then(|r| r.get("summary"))
                    .and_then(|s| s.as_str())
                    .map(str::to_owned)
                    .unwrap_or_else(|| "the match is over".into()),
                result,
            },
            Ok(status) => match status.code() {
                Some(code) => MatchExit {
                    outcome: MatchOutcome::Failed,
                    exit_code: Some(code),
                    result,
                    message: format!(
                        "the game server failed (exit code {code}){}",
                        log_tail(&self.log_path)
                    ),
                },
                None => MatchExit {
                    outcome: MatchOutcome::Crashed,
                    exit_code: None,
                    result,
                    message: format!(
                        "the game server crashed ({}){}",
                        describe(status),
                        log_tail(&self.log_path)
                    ),
                },
            },
            Err(e) => MatchExit {
                outcome: MatchOutcome::Crashed,
                exit_code: None,
                result,
                message: format!("lost track of the game server: {e}"),
            },
        }
    }
}

impl GameProcess {
    /// The result the server reported, the way its manifest says.
    fn result(&self) -> Option<serde_json::Value> {
        match self.result_mode {
            ResultMode::File => read_result(&self.result_file),
            ResultMode::Stdout => result_from_output(&self.log_path),
        }
    }
}

/// The last `RESULT {...}` line of the server's output (its log holds
/// standard output and error), looking at the last 1 MiB only.
fn result_from_output(log: &Path) -> Option<serde_json::Value> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(log).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(1 << 20))).ok()?;
    let mut tail = Vec::new();
    file.take(1 << 20).read_to_end(&mut tail).ok()?;
    String::from_utf8_lossy(&tail).lines().rev().find_map(|line| {
        let json = line.trim_end().strip_prefix(RESULT_PREFIX)?;
        let value: serde_json::Value =
            serde_json::from_str(json).ok().filter(|_| json.len() <= 64 * 1024)?;
        value.is_object().then_some(value)
    })
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}

/// The last line the server logged, as ": <line>", or nothing.
fn log_tail(path: &Path) -> String {
    let Ok(text) = std::fs::read(path) else { return String::new() };
    let start = text.len().saturating_sub(4096);
    let text = String::from_utf8_lossy(&text[start..]);
    match text.lines().rev().find(|l| !l.trim().is_empty()) {
        Some(line) => format!(": {}", line.chars().take(200).collect::<String>()),
        None => String::new(),
    }
}

/// Reads the result file: a JSON object of at most 64 KiB, else nothing.
fn read_result(path: &Path) -> Option<serde_json::Value> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() > 64 * 1024 {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    value.is_object().then_some(value)
}

/// Kills a game server's process group and everything left in its control
/// group (what left the process group, such as a double-forked daemon).
fn kill_tree(pgid: i32, cgroup: Option<&gamestore_sandbox::cgroup::MatchCgroup>) {
    kill_group(pgid);
    if let Some(group) = cgroup {
        group.kill_all();
    }
}

/// Kills a game server's whole process group.
fn kill_group(pgid: i32) {
    if pgid > 0 {
        // SAFETY: signalling the process group the server created with setsid.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}
