//! The exec step: the last code of ours that runs before a game program.
//!
//! The lobby or the launcher starts itself as `EXE __gamestore-confine
//! JSON PROGRAM ARGS...` (inside the bubblewrap view when there is one).
//! [`run_if_requested`] notices, applies the [`Confinement`] to its own
//! process in an order where each step still has the rights it needs (pid
//! namespace, uid, capabilities, limits, `no_new_privs`, Landlock, seccomp)
//! and then replaces itself with the program. Any failure stops the launch:
//! a game never runs less confined than asked.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath,
    PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr, Scope,
};
use serde::{Deserialize, Serialize};

use crate::seccomp::Udp;

/// What to apply to a game program before it starts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Confinement {
    /// Switch to this uid and gid (and no supplementary groups) before the
    /// program runs; only possible when started as root.
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Run the program as the init of a new pid namespace (with a new user
    /// namespace when not root), so that nothing it starts can outlive it:
    /// when it ends, or when this step is killed, the kernel kills the rest.
    /// Used when there is no bubblewrap view (which has its own).
    pub pid_namespace: bool,
    pub limits: Limits,
    /// Landlock filesystem rules; `None` leaves files to the view.
    pub files: Option<FileRules>,
    /// Landlock TCP rules; `None` leaves the network as it is.
    pub net: Option<NetRules>,
    /// Refuse signalling processes created outside (Landlock ABI 6).
    pub scope: bool,
    /// Also refuse connecting to abstract unix sockets created outside
    /// (Landlock ABI 6). Off for X11 clients: libX11 gives up on the display
    /// when its abstract socket is refused instead of falling back to the path.
    pub scope_abstract_unix: bool,
    /// Install the seccomp filter.
    pub seccomp: bool,
    /// Refuse UDP and raw sockets in the seccomp filter (Landlock only
    /// covers TCP).
    pub deny_udp: bool,
}

/// Resource limits (setrlimit), per process of the program.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// RLIMIT_NPROC: processes and threads of the (unique) uid.
    pub processes: Option<u64>,
    /// RLIMIT_DATA: private writable memory, mapped or not, per process.
    pub data_bytes: Option<u64>,
    /// RLIMIT_AS: address space, mapped or not, shared or private.
    pub address_space_bytes: Option<u64>,
    /// RLIMIT_CPU in seconds.
    pub cpu_secs: Option<u64>,
    /// RLIMIT_NOFILE.
    pub open_files: Option<u64>,
    /// RLIMIT_FSIZE: the largest file it may write.
    pub file_bytes: Option<u64>,
}

/// Landlock filesystem rules: everything not listed is refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FileRules {
    /// Readable and executable beneath these paths.
    pub read: Vec<PathBuf>,
    /// Fully writable beneath these paths.
    pub write: Vec<PathBuf>,
    /// Device files usable (read, write, ioctl) beneath these paths.
    pub devices: Vec<PathBuf>,
}

/// Landlock TCP rules: every bind and connect not listed is refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NetRules {
    pub bind: Vec<u16>,
    pub connect: Vec<u16>,
}

/// The Landlock ABI version this kernel offers, if any.
pub fn landlock_abi() -> Option<u32> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: the version query takes no ruleset and writes nothing.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    (version > 0).then_some(version as u32)
}

/// When this process was started as the exec step, confines itself and
/// runs the program; never returns then (exit status 126 when confinement
/// fails, 127 when the program cannot be run). Otherwise returns at once.
/// Call it first thing in `main`.
pub fn run_if_requested() {
    let mut args = std::env::args_os();
    let _exe = args.next();
    if args.next().as_deref() != Some(std::ffi::OsStr::new(crate::CONFINE_ARG)) {
        return;
    }
    let code = match confine_and_exec(args.collect()) {
        Ok(never) => match never {},
        Err(Failure::Confine(message)) => {
            eprintln!("gamestore sandbox: cannot confine the game program: {message}");
            126
        }
        Err(Failure::Exec(message)) => {
            eprintln!("gamestore sandbox: cannot run the game program: {message}");
            127
        }
    };
    std::process::exit(code);
}

enum Failure {
    Confine(String),
    Exec(String),
}

enum Never {}

fn confine_and_exec(args: Vec<OsString>) -> Result<Never, Failure> {
    let confine = |m: String| Failure::Confine(m);
    let mut args = args.into_iter();
    let spec = args.next().ok_or_else(|| confine("missing confinement".into()))?;
    let spec: Confinement = serde_json::from_slice(spec.as_bytes())
        .map_err(|e| confine(format!("bad confinement: {e}")))?;
    let program: Vec<CString> = args
        .map(|a| CString::new(a.into_vec()))
        .collect::<Result<_, _>>()
        .map_err(|_| confine("an argument holds a NUL byte".into()))?;
    if program.is_empty() {
        return Err(confine("no program to run".into()));
    }
    if spec.pid_namespace {
        enter_pid_namespace().map_err(|e| confine(format!("pid namespace: {e}")))?;
    }
    drop_privileges(&spec).map_err(confine)?;
    set_limits(&spec.limits).map_err(|e| confine(format!("limits: {e}")))?;
    // SAFETY: plain prctl on this process.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(confine(format!("no_new_privs: {}", std::io::Error::last_os_error())));
    }
    apply_landlock(&spec).map_err(|e| confine(format!("landlock: {e}")))?;
    if spec.seccomp {
        let udp = if spec.deny_udp { Udp::Denied } else { Udp::Allowed };
        crate::seccomp::install(udp).map_err(|e| confine(format!("seccomp: {e}")))?;
    }
    let mut argv: Vec<*const libc::c_char> = program.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    // SAFETY: argv is a NUL-terminated array of C strings that outlive the call.
    unsafe { libc::execvp(argv[0], argv.as_ptr()) };
    Err(Failure::Exec(format!(
        "{}: {}",
        program[0].to_string_lossy(),
        std::io::Error::last_os_error()
    )))
}

/// Makes this process the parent of a new pid namespace's init, which
/// goes on to become the program; the parent waits and exits as it did.
fn enter_pid_namespace() -> std::io::Result<()> {
    // SAFETY: raw process calls; this process is single-threaded here (the
    // exec step runs before any thread is started).
    unsafe {
        let uid = libc::geteuid();
        let gid = libc::getegid();
        let mut flags = libc::CLONE_NEWPID;
        if uid != 0 {
            flags |= libc::CLONE_NEWUSER;
        }
        if libc::unshare(flags) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if uid != 0 {
            // Map our own ids only, so nothing changes on disk.
            std::fs::write("/proc/self/setgroups", "deny")?;
            std::fs::write("/proc/self/uid_map", format!("{uid} {uid} 1"))?;
            std::fs::write("/proc/self/gid_map", format!("{gid} {gid} 1"))?;
        }
        let child = libc::fork();
        if child < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if child == 0 {
            // The namespace's init: dies with the waiting parent.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            return Ok(());
        }
        // The parent forwards termination requests and reports how the program ended.
        for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::signal(signal, libc::SIG_IGN);
        }
        let mut status = 0;
        loop {
            let r = libc::waitpid(child, &mut status, 0);
            if r == child {
                break;
            }
            if r < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                libc::_exit(125);
            }
        }
        if libc::WIFEXITED(status) {
            libc::_exit(libc::WEXITSTATUS(status));
        }
        let signal = libc::WTERMSIG(status);
        libc::signal(signal, libc::SIG_DFL);
        libc::kill(libc::getpid(), signal);
        libc::_exit(128 + signal);
    }
}

/// Switches uid (as root) and drops every capability for good.
fn drop_privileges(spec: &Confinement) -> Result<(), String> {
    let err = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
    // SAFETY: credential syscalls on this process only.
    unsafe {
        // The bounding set first (needs CAP_SETPCAP, which we may not have
        // when already unprivileged; then there is nothing to drop).
        let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse::<libc::c_ulong>().ok())
            .unwrap_or(40);
        for cap in 0..=last {
            libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
        }
        // Uid 0 gets no capabilities back on exec, and none can be kept or
        // raised: SECBIT_NOROOT, KEEP_CAPS off, NO_CAP_AMBIENT_RAISE, each locked.
        const SECBITS: libc::c_ulong = 0x01 | 0x02 | 0x20 | 0x40 | 0x80;
        libc::prctl(libc::PR_SET_SECUREBITS, SECBITS, 0, 0, 0);
        if let (Some(uid), Some(gid)) = (spec.uid, spec.gid) {
            if libc::setgroups(0, std::ptr::null()) != 0 {
                return Err(err("setgroups"));
            }
            if libc::setresgid(gid, gid, gid) != 0 {
                return Err(err("setresgid"));
            }
            if libc::setresuid(uid, uid, uid) != 0 {
                return Err(err("setresuid"));
            }
            if libc::setuid(0) == 0 {
                return Err("could regain root after dropping it".into());
            }
        }
        libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        // capset with every set empty.
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        #[derive(Clone, Copy)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        let header = Header { version: 0x2008_0522, pid: 0 };
        let data = [Data { effective: 0, permitted: 0, inheritable: 0 }; 2];
        if libc::syscall(libc::SYS_capset, &header, data.as_ptr()) != 0 {
            return Err(err("capset"));
        }
    }
    Ok(())
}

fn set_limits(limits: &Limits) -> std::io::Result<()> {
    let table = [
        (libc::RLIMIT_CORE, Some(0)),
        (libc::RLIMIT_NPROC, limits.processes),
        (libc::RLIMIT_DATA, limits.data_bytes),
        (libc::RLIMIT_AS, limits.address_space_bytes),
        (libc::RLIMIT_CPU, limits.cpu_secs),
        (libc::RLIMIT_NOFILE, limits.open_files),
        (libc::RLIMIT_FSIZE, limits.file_bytes),
    ];
    for (resource, value) in table {
        let Some(value) = value else { continue };
        let limit = libc::rlimit { rlim_cur: value, rlim_max: value };
        // SAFETY: setrlimit with a valid struct.
        if unsafe { libc::setrlimit(resource, &limit) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn apply_landlock(spec: &Confinement) -> Result<(), String> {
    if spec.files.is_none() && spec.net.is_none() && !spec.scope && !spec.scope_abstract_unix {
        return Ok(());
    }
    let Some(version) = landlock_abi() else {
        // The launching program checked and said so; nothing to apply here.
        return Ok(());
    };
    let abi = ABI::from(version as i32);
    let e = |e: landlock::RulesetError| e.to_string();
    let mut ruleset = Ruleset::default().set_compatibility(CompatLevel::BestEffort);
    if spec.files.is_some() {
        ruleset = ruleset.handle_access(AccessFs::from_all(abi)).map_err(e)?;
    }
    if spec.net.is_some() && version >= 4 {
        ruleset = ruleset.handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp).map_err(e)?;
    }
    if spec.scope && version >= 6 {
        ruleset = ruleset.scope(Scope::Signal).map_err(e)?;
    }
    if spec.scope_abstract_unix && version >= 6 {
        ruleset = ruleset.scope(Scope::AbstractUnixSocket).map_err(e)?;
    }
    let mut created = ruleset.create().map_err(e)?;
    if let Some(files) = &spec.files {
        let read = AccessFs::from_read(abi);
        let device = AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::IoctlDev;
        let groups: [(&[PathBuf], BitFlags<AccessFs>); 3] = [
            (&files.read, read),
            (&files.write, AccessFs::from_all(abi)),
            (&files.devices, device | read),
        ];
        for (paths, access) in groups {
            for path in paths {
                let Ok(meta) = std::fs::metadata(path) else { continue };
                let Ok(fd) = PathFd::new(path) else { continue };
                let access = if meta.is_dir() { access } else { access & AccessFs::from_file(abi) };
                created = created.add_rule(PathBeneath::new(fd, access)).map_err(e)?;
            }
        }
    }
    if let Some(net) = &spec.net
        && version >= 4
    {
        for &port in &net.bind {
            created = created.add_rule(NetPort::new(port, AccessNet::BindTcp)).map_err(e)?;
        }
        for &port in &net.connect {
            created = created.add_rule(NetPort::new(port, AccessNet::ConnectTcp)).map_err(e)?;
        }
    }
    created.restrict_self().map_err(e)?;
    Ok(())
}
