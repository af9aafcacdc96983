//! How the Game Manager confines game servers: the layers in force on this
//! machine, per-match limits, and the command that starts one server.
//!
//! Layers, outermost first (see docs/SECURITY.md):
//! - a control group per match (v2, or v1 `pids` and `memory`) when the
//!   lobby may create one: a process cap, a memory cap, and the kill switch
//!   for the whole tree;
//! - a bubblewrap view: system folders and the package read-only, the
//!   match folder writable, a private `/tmp`, nothing else; new pid, ipc and
//!   uts namespaces (and a user namespace when the lobby is not root);
//! - the exec step (`gamestore-lobby __gamestore-confine`, see
//!   `gamestore_sandbox`): a uid of its own per match when the lobby is
//!   root, no capabilities, `no_new_privs`, rlimits, Landlock (files, and
//!   TCP: bind its own port, connect nowhere), a seccomp filter;
//! - the lobby watches the match folder's size (the disk cap).
//!
//! With `--sandbox off` only the limits and the containment stay: the
//! control group or a pid namespace, so that nothing outlives the match.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use gamestore_package::human_bytes;
use gamestore_sandbox::bwrap::{self, View, ViewOptions};
use gamestore_sandbox::cgroup::{CgroupLimits, CgroupRoot, MatchCgroup};
use gamestore_sandbox::{Confinement, FileRules, Limits, NetRules};

use crate::game_manager::Sandbox;

/// Per-match limits on a game server and everything it starts.
#[derive(Debug, Clone)]
pub struct GameLimits {
    /// Processes and threads at once.
    pub processes: u64,
    /// Memory, all processes together when a memory cgroup is available,
    /// else per process (RLIMIT_DATA).
    pub memory_bytes: u64,
    /// CPU seconds per process; `None` means the match time limit plus 30 s.
    pub cpu_secs: Option<u64>,
    /// Open files per process.
    pub open_files: u64,
    /// Total bytes in the match folder; the match is stopped past it.
    pub disk_bytes: u64,
}

impl Default for GameLimits {
    fn default() -> Self {
        GameLimits {
            processes: 128,
            memory_bytes: 512 << 20,
            cpu_secs: None,
            open_files: 256,
            disk_bytes: 256 << 20,
        }
    }
}

/// Uids given to sandboxed game servers when the lobby is root: this base
/// plus the match's port, so two running matches never share a uid (and
/// RLIMIT_NPROC counts one match). Far above ordinary and subordinate ids.
const GAME_UID_BASE: u32 = 1_900_000_000;

/// Most folder entries the disk watch counts; a folder with more is over
/// the cap too (every entry costs an inode).
const MAX_MATCH_FOLDER_ENTRIES: usize = 10_000;

/// How often the match folder's size is checked.
const DISK_CHECK_EVERY: Duration = Duration::from_millis(200);

/// The confinement chosen at start for every game server of this lobby.
#[derive(Debug)]
pub struct ServerSandbox {
    mode: Sandbox,
    bwrap: bool,
    root: bool,
    landlock: Option<u32>,
    /// The exec step makes a pid namespace (when there is no view, which has its own).
    pid_namespace: bool,
    cgroups: Option<CgroupRoot>,
    exe: PathBuf,
    limits: GameLimits,
    cpu_secs: u64,
    /// Package folders already made readable by per-match uids.
    shared_packages: Mutex<HashSet<PathBuf>>,
}

/// One server to start.
#[derive(Debug)]
pub struct ServerLaunch<'a> {
    pub match_id: i64,
    pub argv: &'a [String],
    pub workdir: &'a Path,
    pub game_dir: &'a Path,
    pub port: u16,
}

/// A server command ready to spawn, and the group it joins.
#[derive(Debug)]
pub struct PreparedServer {
    pub program: OsString,
    pub args: Vec<OsString>,
    pub cgroup: Option<MatchCgroup>,
}

impl ServerSandbox {
    /// Decides the layers for `mode` on this machine and logs them.
    pub fn new(
        mode: Sandbox,
        limits: GameLimits,
        max_match_time: Duration,
    ) -> anyhow::Result<ServerSandbox> {
        let root = gamestore_sandbox::is_root();
        let exe = std::env::current_exe()?;
        let bwrap = match mode {
            Sandbox::Off => false,
            Sandbox::Auto | Sandbox::Required => {
                match bwrap::probe(bwrap::Probe { user_namespace: !root }) {
                    Ok(()) => true,
                    Err(reason) if mode == Sandbox::Required => {
                        anyhow::bail!(
                            "the game server sandbox needs bubblewrap, which does not work here: {reason}"
                        )
                    }
                    Err(reason) => {
                        tracing::warn!("bubblewrap does not work here ({reason})");
                        false
                    }
                }
            }
        };
        let landlock = gamestore_sandbox::landlock_abi();
        let cgroup_name = format!("gamestore-{}", std::process::id());
        let cgroups = match CgroupRoot::detect(&cgroup_name) {
            Ok(root) => Some(root),
            Err(reason) => {
                tracing::info!(
                    "no per-match control groups ({reason}); using rlimits and a pid namespace"
                );
                None
            }
        };
        let cpu_secs = limits.cpu_secs.unwrap_or(max_match_time.as_secs().saturating_add(30));
        let mut sandbox = ServerSandbox {
            mode,
            bwrap,
            root,
            landlock,
            pid_namespace: !bwrap,
            cgroups,
            exe,
            limits,
            cpu_secs,
            shared_packages: Mutex::new(HashSet::new()),
        };
        if let Err(e) = sandbox.check_exec_step() {
            if sandbox.confined() || !sandbox.pid_namespace {
                return Err(e);
            }
            // `off` without user namespaces: no pid namespace to be had.
            tracing::warn!("{e:#}; game servers run without a pid namespace");
            sandbox.pid_namespace = false;
            sandbox.check_exec_step()?;
        }
        sandbox.log();
        Ok(sandbox)
    }

    fn confined(&self) -> bool {
        self.mode != Sandbox::Off
    }

    fn log(&self) {
        let l = &self.limits;
        if self.confined() {
            let mut layers = Vec::new();
            if self.root {
                layers.push("a uid of its own per match".to_owned());
            } else {
                layers.push("a user namespace".to_owned());
            }
            layers.push("no capabilities, no_new_privs, seccomp".to_owned());
            match self.landlock {
                Some(abi) if abi >= 4 => layers.push(format!(
                    "Landlock ABI {abi} (files; TCP: bind its own port only, connect nowhere)"
                )),
                Some(abi) => layers.push(format!("Landlock ABI {abi} (files only)")),
                None => {}
            }
            let layers = layers.join(", ");
            if self.bwrap {
                tracing::info!("game servers run in a bubblewrap sandbox: {layers}");
            } else {
                tracing::warn!(
                    "game servers run without a sandbox view (bubblewrap unavailable); confined by {layers}"
                );
            }
            match self.landlock {
                Some(abi) if abi >= 4 => {}
                _ => tracing::warn!(
                    "Landlock network rules are unavailable on this kernel (need ABI 4): \
                     game servers may connect to the lobby and to other local services"
                ),
            }
        } else {
            tracing::warn!("game servers run without a sandbox (limits and containment only)");
            if self.root {
                tracing::warn!(
                    "the lobby runs as root with --sandbox off: game servers run as root with \
                     full access to this machine; use --sandbox auto or on"
                );
            }
        }
        let (procs, memory) = match &self.cgroups {
            Some(cg) if cg.caps_memory() => (
                cg.describe().to_owned(),
                format!("{} and RLIMIT_DATA/RLIMIT_AS per process", cg.describe()),
            ),
            Some(cg) => (cg.describe().to_owned(), "RLIMIT_DATA/RLIMIT_AS per process".to_owned()),
            None => ("RLIMIT_NPROC".to_owned(), "RLIMIT_DATA/RLIMIT_AS per process".to_owned()),
        };
        let containment = match (&self.cgroups, self.bwrap || self.pid_namespace) {
            (Some(cg), _) => cg.describe().to_owned(),
            (None, true) => "its pid namespace".to_owned(),
            (None, false) => "its process group only".to_owned(),
        };
        tracing::info!(
            "game server limits per match: processes {} ({procs}), memory {} ({memory}), \
             CPU {} s per process (RLIMIT_CPU), open files {} (RLIMIT_NOFILE), match folder {} \
             (watched; RLIMIT_FSIZE per file); the whole process tree is killed at match end ({containment})",
            l.processes,
            human_bytes(l.memory_bytes),
            self.cpu_secs,
            l.open_files,
            human_bytes(l.disk_bytes),
        );
    }

    /// Runs the exec step once with this lobby's confinement, so a machine
    /// that cannot apply it fails at start, not at the first match.
    fn check_exec_step(&self) -> anyhow::Result<()> {
        let truth = ["/usr/bin/true", "/bin/true"].into_iter().find(|p| Path::new(p).exists());
        let Some(truth) = truth else { return Ok(()) };
        let mut confinement = self.confinement(Path::new("/nonexistent"), Path::new("/"), 0);
        confinement.uid = None;
        confinement.gid = None;
        let argv = gamestore_sandbox::confine_argv(&self.exe, &confinement, &[truth.into()]);
        let out = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "game servers cannot be confined here: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(())
    }

    fn confinement(&self, workdir: &Path, game_dir: &Path, port: u16) -> Confinement {
        let l = &self.limits;
        let limits = Limits {
            processes: Some(l.processes),
            data_bytes: Some(l.memory_bytes),
            // Room for code, thread stacks and allocator arenas, never 10 GiB of mappings.
            address_space_bytes: Some(l.memory_bytes.saturating_mul(4).max(1 << 30)),
            cpu_secs: Some(self.cpu_secs),
            open_files: Some(l.open_files),
            file_bytes: Some(l.disk_bytes),
        };
        let mut confinement =
            Confinement { limits, pid_namespace: self.pid_namespace, ..Default::default() };
        if !self.confined() {
            return confinement;
        }
        if self.root {
            let uid = GAME_UID_BASE + u32::from(port);
            confinement.uid = Some(uid);
            confinement.gid = Some(uid);
        }
        let mut read: Vec<PathBuf> =
            ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]
                .iter()
                .chain(bwrap::ETC_FILES)
                .map(PathBuf::from)
                .collect();
        read.push(game_dir.to_owned());
        let mut write = vec![workdir.to_owned()];
        if self.bwrap {
            // The view's own /proc and /tmp.
            read.push("/proc".into());
            write.push("/tmp".into());
        }
        let devices = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"]
            .iter()
            .map(PathBuf::from)
            .collect();
        confinement.files = Some(FileRules { read, write, devices });
        confinement.net = Some(NetRules { bind: vec![port], connect: Vec::new() });
        confinement.scope = true;
        confinement.scope_abstract_unix = true;
        confinement.seccomp = true;
        confinement.deny_udp = true;
        confinement
    }

    /// The command that starts one game server, and its control group
    /// (created here, joined by the child before exec: see [`join_group`]).
    pub fn prepare(&self, launch: &ServerLaunch<'_>) -> Result<PreparedServer, String> {
        let workdir = launch.workdir.canonicalize().map_err(|e| e.to_string())?;
        let game_dir = launch.game_dir.canonicalize().map_err(|e| e.to_string())?;
        let confinement = self.confinement(&workdir, &game_dir, launch.port);
        if let Some(uid) = confinement.uid {
            // The match's own uid owns its folder and may read its package.
            std::os::unix::fs::chown(&workdir, Some(uid), Some(uid)).map_err(|e| e.to_string())?;
            self.share_package(&game_dir).map_err(|e| e.to_string())?;
        }
        let cgroup = match &self.cgroups {
            Some(root) => {
                let name = format!("match-{}-{}", launch.match_id, launch.port);
                let limits = CgroupLimits {
                    processes: self.limits.processes,
                    memory_bytes: self.limits.memory_bytes,
                };
                Some(root.create(&name, limits).map_err(|e| format!("cgroup: {e}"))?)
            }
            None => None,
        };
        let program: Vec<OsString> = launch.argv.iter().map(OsString::from).collect();
        if self.bwrap {
            let mut view = View::new(&ViewOptions {
                user_namespace: !self.root,
                tmp_bytes: self.limits.disk_bytes.min(64 << 20),
                exec_step: self.exe.clone(),
            });
            view.read_only(&game_dir).writable(&workdir).chdir(&workdir);
            let inner = gamestore_sandbox::confine_argv(
                Path::new(bwrap::EXEC_STEP),
                &confinement,
                &program,
            );
            Ok(PreparedServer { program: "bwrap".into(), args: view.into_args(inner), cgroup })
        } else {
            let mut argv = gamestore_sandbox::confine_argv(&self.exe, &confinement, &program);
            let program = argv.remove(0);
            Ok(PreparedServer { program, args: argv, cgroup })
        }
    }

    /// Lets other uids read (never write) a package folder: its files are
    /// what every player downloads anyway.
    fn share_package(&self, game_dir: &Path) -> std::io::Result<()> {
        let mut done = self.shared_packages.lock().unwrap_or_else(|p| p.into_inner());
        if done.contains(game_dir) {
            return Ok(());
        }
        use std::os::unix::fs::PermissionsExt;
        let mut stack = vec![game_dir.to_owned()];
        let mut seen = 0usize;
        while let Some(path) = stack.pop() {
            seen += 1;
            if seen > 100_000 {
                break;
            }
            let meta = std::fs::symlink_metadata(&path)?;
            if meta.file_type().is_symlink() {
                continue;
            }
            let mode = meta.permissions().mode();
            let extra = if meta.is_dir() || mode & 0o100 != 0 { 0o005 } else { 0o004 };
            if mode & extra != extra {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode | extra))?;
            }
            if meta.is_dir() {
                for entry in std::fs::read_dir(&path)? {
                    stack.push(entry?.path());
                }
            }
        }
        // The folders above the package inside the view are bubblewrap's;
        // without a view the uid must pass through the lobby's own folders.
        done.insert(game_dir.to_owned());
        Ok(())
    }

    /// True when game servers run in a bubblewrap view.
    pub fn sandboxed(&self) -> bool {
        self.bwrap
    }

    /// The most bytes a match's folder may hold.
    pub fn disk_cap(&self) -> u64 {
        self.limits.disk_bytes
    }
}

impl Drop for ServerSandbox {
    fn drop(&mut self) {
        if let Some(root) = &self.cgroups {
            root.remove();
        }
    }
}

/// Called in the child between fork and exec: its own session (so the
/// whole group can be signalled), death with the lobby, and the match's
/// control group. Only async-signal-safe calls.
pub fn join_group(cgroup: Option<&gamestore_sandbox::cgroup::CgroupJoin>) -> std::io::Result<()> {
    // SAFETY: setsid, prctl and getppid on the current (child) process.
    unsafe {
        let lobby = libc::getppid();
        if libc::setsid() < 0 {
            return Err(std::io::Error::last_os_error());
        }
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        // The lobby died between fork and prctl: PDEATHSIG will never come.
        if libc::getppid() != lobby {
            libc::_exit(1);
        }
    }
    if let Some(group) = cgroup {
        group.join_raw()?;
    }
    Ok(())
}

/// Waits until the match folder holds more than `cap` bytes (or more than
/// [`MAX_MATCH_FOLDER_ENTRIES`] entries) and returns what it found.
pub async fn watch_disk(dir: PathBuf, cap: u64) -> u64 {
    let mut tick = tokio::time::interval(DISK_CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let dir = dir.clone();
        let used = tokio::task::spawn_blocking(move || folder_usage(&dir)).await.unwrap_or(0);
        if used > cap {
            return used;
        }
    }
}

/// Bytes on disk under `dir` (allocated blocks, so sparse files count what
/// they use); `u64::MAX` past the entry cap.
fn folder_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0u64;
    let mut entries = 0usize;
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        let Ok(list) = std::fs::read_dir(&path) else { continue };
        for entry in list.flatten() {
            entries += 1;
            if entries > MAX_MATCH_FOLDER_ENTRIES {
                return u64::MAX;
            }
            let Ok(meta) = entry.metadata() else { continue };
            // Allocated blocks (sparse files count what they use) plus an
            // inode's worth per entry.
            total = total.saturating_add(meta.blocks().saturating_mul(512)).saturating_add(4096);
            if meta.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    total
}

/// Parses "512M", "2G", "65536" (bytes; K, M, G are powers of 1024).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                _ => return Err(format!("bad size {text:?}: use a number with K, M or G")),
            };
            (&t[..i], shift)
        }
        _ => (t, 0),
    };
    let n: u64 = digits.trim().parse().map_err(|_| format!("bad size {text:?}"))?;
    n.checked_mul(1 << shift).ok_or_else(|| format!("size {text:?} is too large"))
}
