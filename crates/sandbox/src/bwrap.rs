//! Deny-by-default filesystem views with bubblewrap.
//!
//! A [`View`] starts empty (bubblewrap's root is a fresh tmpfs) and adds
//! only what a program needs: the system folders read-only, a few `/etc`
//! files, fresh `/proc` and `/dev`, a private `/tmp`, the paths the caller
//! names, and the exec step at [`EXEC_STEP`]. It always runs the program in
//! new pid, ipc and uts namespaces, in a new session (no TIOCSTI on the
//! caller's terminal), and dies with its parent.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where the exec step (the launching binary) appears inside a view.
pub const EXEC_STEP: &str = "/run/gamestore/confine";

/// System folders shown read-only (or recreated as symlinks).
const SYSTEM_DIRS: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

/// The `/etc` files programs need to start and to name local hosts.
pub const ETC_FILES: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/gai.conf",
];

/// A bubblewrap command line under construction.
#[derive(Debug, Clone)]
pub struct View {
    args: Vec<OsString>,
    /// Folders bubblewrap creates above a bound path copy the host's
    /// modes (often 0700); these are opened to 0755 at the end.
    parents: Vec<PathBuf>,
}

/// How a view is set up.
#[derive(Debug, Clone, Default)]
pub struct ViewOptions {
    /// Run in a new user namespace (needed when not root) and forbid
    /// nested ones.
    pub user_namespace: bool,
    /// Size cap of the private `/tmp` in bytes.
    pub tmp_bytes: u64,
    /// The binary that applies the [`crate::Confinement`] inside the view.
    pub exec_step: PathBuf,
}

impl View {
    pub fn new(options: &ViewOptions) -> View {
        let mut view = View { args: Vec::new(), parents: Vec::new() };
        view.push(&["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]);
        if options.user_namespace {
            view.push(&["--unshare-user", "--disable-userns"]);
        }
        view.push(&["--die-with-parent", "--new-session"]);
        for dir in SYSTEM_DIRS {
            let path = Path::new(dir);
            match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    if let Ok(target) = std::fs::read_link(path) {
                        view.arg("--symlink").arg(target).arg(path);
                    }
                }
                Ok(meta) if meta.is_dir() => {
                    view.arg("--ro-bind").arg(path).arg(path);
                }
                _ => {}
            }
        }
        for file in ETC_FILES {
            view.arg("--ro-bind-try").arg(file).arg(file);
        }
        view.push(&["--proc", "/proc", "--dev", "/dev"]);
        view.push(&["--perms", "1777", "--size"]);
        view.arg(options.tmp_bytes.max(1 << 20).to_string());
        view.push(&["--tmpfs", "/tmp"]);
        view.arg("--ro-bind").arg(&options.exec_step).arg(EXEC_STEP);
        view
    }

    fn push(&mut self, items: &[&str]) {
        self.args.extend(items.iter().map(OsString::from));
    }

    fn arg(&mut self, item: impl Into<OsString>) -> &mut View {
        self.args.push(item.into());
        self
    }

    fn note_parents(&mut self, path: &Path) {
        for parent in path.ancestors().skip(1) {
            if parent == Path::new("/") || parent == Path::new("/tmp") {
                continue;
            }
            if SYSTEM_DIRS.iter().any(|d| parent.starts_with(d)) {
                continue;
            }
            if !self.parents.iter().any(|p| p == parent) {
                self.parents.push(parent.to_owned());
            }
        }
    }

    /// Shows `path` read-only at the same place.
    pub fn read_only(&mut self, path: &Path) -> &mut View {
        self.note_parents(path);
        self.arg("--ro-bind").arg(path).arg(path)
    }

    /// Shows `path` read-only when it exists.
    pub fn read_only_try(&mut self, path: &Path) -> &mut View {
        if path.exists() {
            self.note_parents(path);
        }
        self.arg("--ro-bind-try").arg(path).arg(path)
    }

    /// Shows `source` read-only at `dest`.
    pub fn read_only_at(&mut self, source: &Path, dest: &Path) -> &mut View {
        self.arg("--ro-bind").arg(source).arg(dest)
    }

    /// Shows `path` writable at the same place.
    pub fn writable(&mut self, path: &Path) -> &mut View {
        self.note_parents(path);
        self.arg("--bind").arg(path).arg(path)
    }

    /// Shows `source` writable at `dest`.
    pub fn writable_at(&mut self, source: &Path, dest: &Path) -> &mut View {
        self.note_parents(dest);
        self.arg("--bind").arg(source).arg(dest)
    }

    /// Shows the device folder or file `path` (like `/dev/dri`) when it exists.
    pub fn device_try(&mut self, path: &Path) -> &mut View {
        self.arg("--dev-bind-try").arg(path).arg(path)
    }

    /// Starts in `dir`.
    pub fn chdir(&mut self, dir: &Path) -> &mut View {
        self.arg("--chdir").arg(dir)
    }

    /// Sets an environment variable inside (on top of the inherited ones).
    pub fn setenv(&mut self, name: &str, value: impl Into<OsString>) -> &mut View {
        self.arg("--setenv").arg(name).arg(value)
    }

    /// The bubblewrap arguments, ending with `program` (run inside).
    pub fn into_args(mut self, program: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
        // Shallowest first, so each is reachable when the next is changed.
        let mut parents = std::mem::take(&mut self.parents);
        parents.sort_by_key(|p| p.components().count());
        for parent in parents {
            self.arg("--chmod").arg("0755").arg(parent);
        }
        self.args.push("--".into());
        self.args.extend(program);
        self.args
    }
}

/// What [`probe`] tries.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    /// Build the view in a user namespace of its own (as an unprivileged
    /// user must).
    pub user_namespace: bool,
}

/// Checks that bubblewrap can build a view here as `probe` says; the error
/// says why not, for the log.
pub fn probe(probe: Probe) -> Result<(), String> {
    let exe = PathBuf::from("/usr/bin/true");
    let exe = if exe.exists() { exe } else { PathBuf::from("/bin/true") };
    let view = View::new(&ViewOptions {
        user_namespace: probe.user_namespace,
        tmp_bytes: 1 << 20,
        exec_step: exe,
    });
    let args = view.into_args([OsString::from(EXEC_STEP)]);
    let output = Command::new("bwrap")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    match output {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err("bubblewrap (bwrap) is not installed".into())
        }
        Err(e) => Err(format!("cannot run bwrap: {e}")),
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stderr);
            let line = text.lines().next().unwrap_or("").trim().to_owned();
            Err(format!("bwrap failed: {line}"))
        }
    }
}
