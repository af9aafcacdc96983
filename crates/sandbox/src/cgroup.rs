//! Per-match control groups: a process cap, a memory cap, and a way to
//! kill every process of a match at once, however it forked.
//!
//! Uses cgroup v2 when its `pids` and `memory` controllers can be enabled
//! under `/sys/fs/cgroup`, else the v1 `pids` and `memory` hierarchies. Both
//! need the right to create groups (root, or a delegated subtree); when
//! [`CgroupRoot::detect`] fails, callers fall back to rlimits and a pid
//! namespace and say so.

use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Caps applied to one group.
#[derive(Debug, Clone, Copy)]
pub struct CgroupLimits {
    pub processes: u64,
    pub memory_bytes: u64,
}

/// Where this lobby creates its groups.
#[derive(Debug, Clone)]
pub enum CgroupRoot {
    /// v1: the parent group in the `pids` hierarchy, and in `memory` when mounted.
    V1 { pids: PathBuf, memory: Option<PathBuf> },
    /// v2: the parent group with `pids` and `memory` enabled for its children.
    V2 { parent: PathBuf },
}

const V1_PIDS: &str = "/sys/fs/cgroup/pids";
const V1_MEMORY: &str = "/sys/fs/cgroup/memory";
const V2_ROOT: &str = "/sys/fs/cgroup";

impl CgroupRoot {
    /// Finds a hierarchy where groups can be made, creating the parent group
    /// `name` in it; the error says why none can.
    pub fn detect(name: &str) -> Result<CgroupRoot, String> {
        let v2_controllers = std::fs::read_to_string(Path::new(V2_ROOT).join("cgroup.controllers"));
        if let Ok(controllers) = v2_controllers {
            let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
            if has("pids") && has("memory") {
                let parent = Path::new(V2_ROOT).join(name);
                let setup = || -> std::io::Result<()> {
                    write_file(
                        &Path::new(V2_ROOT).join("cgroup.subtree_control"),
                        "+pids +memory",
                    )?;
                    mkdir(&parent)?;
                    write_file(&parent.join("cgroup.subtree_control"), "+pids +memory")
                };
                return match setup() {
                    Ok(()) => Ok(CgroupRoot::V2 { parent }),
                    Err(e) => Err(format!("cannot create cgroup v2 groups: {e}")),
                };
            }
        }
        if Path::new(V1_PIDS).join("cgroup.procs").exists() {
            remove_stale(Path::new(V1_PIDS), name);
            remove_stale(Path::new(V1_MEMORY), name);
            let pids = Path::new(V1_PIDS).join(name);
            mkdir(&pids).map_err(|e| format!("cannot create cgroup v1 groups: {e}"))?;
            let memory = Path::new(V1_MEMORY).join(name);
            let memory = (Path::new(V1_MEMORY).join("cgroup.procs").exists()
                && mkdir(&memory).is_ok())
            .then_some(memory);
            return Ok(CgroupRoot::V1 { pids, memory });
        }
        Err("no cgroup hierarchy with the pids controller is mounted".into())
    }

    /// Removes the parent groups (empty once every match group is gone), and
    /// the ones lobbies that were killed left behind.
    pub fn remove(&self) {
        for dir in self.parents() {
            let _ = std::fs::remove_dir(dir);
        }
    }

    fn parents(&self) -> Vec<&Path> {
        match self {
            CgroupRoot::V1 { pids, memory } => {
                let mut dirs = vec![pids.as_path()];
                dirs.extend(memory.as_deref());
                dirs
            }
            CgroupRoot::V2 { parent } => vec![parent.as_path()],
        }
    }

    /// "cgroup v1 pids+memory", for the log.
    pub fn describe(&self) -> &'static str {
        match self {
            CgroupRoot::V1 { memory: Some(_), .. } => "cgroup v1 pids+memory",
            CgroupRoot::V1 { memory: None, .. } => "cgroup v1 pids",
            CgroupRoot::V2 { .. } => "cgroup v2 pids+memory",
        }
    }

    /// True when groups cap memory.
    pub fn caps_memory(&self) -> bool {
        !matches!(self, CgroupRoot::V1 { memory: None, .. })
    }

    /// Creates the group `name` with `limits`.
    pub fn create(&self, name: &str, limits: CgroupLimits) -> std::io::Result<MatchCgroup> {
        let mut group = MatchCgroup { dirs: Vec::new(), procs: Vec::new(), v2: false };
        match self {
            CgroupRoot::V1 { pids, memory } => {
                let dir = pids.join(name);
                mkdir(&dir)?;
                group.add(dir.clone());
                write_file(&dir.join("pids.max"), &limits.processes.to_string())?;
                if let Some(memory) = memory {
                    let dir = memory.join(name);
                    mkdir(&dir)?;
                    group.add(dir.clone());
                    write_file(
                        &dir.join("memory.limit_in_bytes"),
                        &limits.memory_bytes.to_string(),
                    )?;
                    let swap = dir.join("memory.memsw.limit_in_bytes");
                    if swap.exists() {
                        write_file(&swap, &limits.memory_bytes.to_string())?;
                    }
                }
            }
            CgroupRoot::V2 { parent } => {
                let dir = parent.join(name);
                mkdir(&dir)?;
                group.v2 = true;
                group.add(dir.clone());
                write_file(&dir.join("pids.max"), &limits.processes.to_string())?;
                write_file(&dir.join("memory.max"), &limits.memory_bytes.to_string())?;
                let _ = write_file(&dir.join("memory.swap.max"), "0");
            }
        }
        Ok(group)
    }
}

/// One match's group(s). Dropping it kills every process inside and
/// removes the groups.
#[derive(Debug)]
pub struct MatchCgroup {
    dirs: Vec<PathBuf>,
    /// `cgroup.procs` of each dir, ready for [`MatchCgroup::join_raw`].
    procs: Vec<CString>,
    v2: bool,
}

impl MatchCgroup {
    fn add(&mut self, dir: PathBuf) {
        let procs = dir.join("cgroup.procs");
        self.procs.push(CString::new(procs.as_os_str().as_bytes()).expect("no NUL in path"));
        self.dirs.push(dir);
    }

    /// What a child needs to join the group between fork and exec.
    pub fn joiner(&self) -> CgroupJoin {
        CgroupJoin(self.procs.clone())
    }
}

/// Joins a [`MatchCgroup`] from a forked child (see [`MatchCgroup::joiner`]).
#[derive(Debug, Clone)]
pub struct CgroupJoin(Vec<CString>);

impl CgroupJoin {
    /// Moves the calling process into the group. Only async-signal-safe
    /// calls: usable between fork and exec.
    pub fn join_raw(&self) -> std::io::Result<()> {
        for procs in &self.0 {
            // SAFETY: open/write/close on a valid C string path.
            unsafe {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let written = libc::write(fd, b"0".as_ptr().cast(), 1);
                libc::close(fd);
                if written != 1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
        }
        Ok(())
    }
}

impl MatchCgroup {
    /// Processes still in the group.
    pub fn pids(&self) -> Vec<i32> {
        let Some(dir) = self.dirs.first() else { return Vec::new() };
        std::fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Kills every process in the group, including ones forking meanwhile
    /// (bounded: the process cap bounds how many can appear).
    pub fn kill_all(&self) {
        if self.v2
            && let Some(dir) = self.dirs.first()
            && write_file(&dir.join("cgroup.kill"), "1").is_ok()
        {
            return;
        }
        for _ in 0..100 {
            let pids = self.pids();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                // SAFETY: signalling a process of this group.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for MatchCgroup {
    fn drop(&mut self) {
        self.kill_all();
        // Killed processes leave the group as they exit: give them a moment.
        for dir in self.dirs.iter().rev() {
            for _ in 0..200 {
                match std::fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
        }
    }
}

/// Removes empty groups named like `name` (`prefix-PID`) whose lobby is gone.
fn remove_stale(hierarchy: &Path, name: &str) {
    let Some((prefix, _)) = name.rsplit_once('-') else { return };
    let Ok(list) = std::fs::read_dir(hierarchy) else { return };
    for entry in list.flatten().take(10_000) {
        let file = entry.file_name();
        let Some(pid) = file.to_str().and_then(|f| f.strip_prefix(prefix)?.strip_prefix('-'))
        else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            if let Ok(children) = std::fs::read_dir(entry.path()) {
                for child in children.flatten() {
                    if child.path().is_dir() {
                        let _ = std::fs::remove_dir(child.path());
                    }
                }
            }
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

fn mkdir(path: &Path) -> std::io::Result<()> {
    match std::fs::create_dir(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::OpenOptions::new().write(true).open(path)?.write_all(text.as_bytes())
}
