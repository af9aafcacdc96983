//! Confinement for untrusted game programs.
//!
//! Game servers (run by the lobby) and game clients (run by the launcher)
//! are code from strangers. This crate holds the layers both programs put
//! around them:
//!
//! - [`bwrap`] builds a deny-by-default filesystem view with bubblewrap:
//!   read-only system folders, the package read-only, one writable folder,
//!   a private `/tmp`, new pid/ipc/uts namespaces, a new session.
//! - [`Confinement`] is what the exec step applies inside that view, in
//!   the process that is about to become the game: switch to an
//!   unprivileged uid (when started as root), drop every capability,
//!   `no_new_privs`, resource limits, Landlock rules for files and TCP
//!   ports, a seccomp filter refusing mount, ptrace, namespaces, module
//!   loading and the like, and optionally a pid namespace of its own.
//!   The launching program runs itself with [`CONFINE_ARG`] to get there;
//!   its `main` calls [`run_if_requested`] first.
//! - [`cgroup`] creates per-match control groups (v1 `pids` and `memory`,
//!   or v2) and kills everything in them.
//!
//! **Invariant:** a confined program never runs with a capability, never
//! gains privileges on exec, and sees only the paths its [`Confinement`]
//! and view name; `tests/it/sandbox.rs` in the lobby and the client tests
//! prove it with hostile packages.

pub mod bwrap;
pub mod cgroup;
mod confine;
mod seccomp;

pub use confine::{Confinement, FileRules, Limits, NetRules, landlock_abi, run_if_requested};

/// The first argument that makes a Game Store binary act as the exec step
/// (see [`run_if_requested`]).
pub const CONFINE_ARG: &str = "__gamestore-confine";

/// The argv that runs `program` through `exe`'s exec step with `confinement`.
pub fn confine_argv(
    exe: &std::path::Path,
    confinement: &Confinement,
    program: &[std::ffi::OsString],
) -> Vec<std::ffi::OsString> {
    let mut argv = vec![exe.as_os_str().to_owned(), CONFINE_ARG.into()];
    argv.push(serde_json::to_string(confinement).expect("confinement serializes").into());
    argv.extend(program.iter().cloned());
    argv
}

/// True when running as root (effective uid 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
