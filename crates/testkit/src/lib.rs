//! Test support: real lobbies and real clients as child processes.
//!
//! Tests drive the built binaries the way a user would: a [`TestLobby`] is a
//! `gamestore-lobby` process on `127.0.0.1:0` with a temporary data folder;
//! a [`Cli`] runs `gamestore-dev` or `gamestore-player` against it with its
//! own home folder. Every child is owned by a [`ChildGuard`], which kills and
//! reaps it when dropped, so a failing test leaves no process behind. Every
//! wait has a timeout.

mod child;
mod cli;
pub mod fixtures;
mod http;
mod lobby;
mod packages;
mod raw;

use std::path::PathBuf;

pub use child::{ChildGuard, Output, run, run_command};
pub use cli::Cli;
pub use http::{HttpResponse, form_encode, http_get, http_post_form};
pub use lobby::{LobbyOptions, TestLobby};
pub use packages::{game_package, game_variant, workspace_root};
pub use raw::RawConn;

/// Default time limit for a command or an awaited event in tests.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Path of a workspace binary built next to the running test executable.
/// `cargo nextest run` builds only test targets, so a missing binary is
/// built here once (under a lock shared by concurrent test processes).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test-binary>
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target directory");
    let path = profile_dir.join(name);
    if !path.exists() {
        build_binaries(profile_dir);
    }
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

fn build_binaries(profile_dir: &std::path::Path) {
    let target_dir = profile_dir.parent().expect("target directory");
    let lock = std::fs::File::create(target_dir.join(".testkit-build.lock")).expect("lock file");
    // SAFETY: flock on an open descriptor; released when `lock` is dropped.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    let mut command = std::process::Command::new(env!("CARGO"));
    command.args(["build", "--workspace", "--bins"]).env("CARGO_TARGET_DIR", target_dir);
    if profile_dir.file_name().is_some_and(|p| p == "release") {
        command.arg("--release");
    }
    let status = command.current_dir(packages::workspace_root()).status().expect("run cargo build");
    assert!(status.success(), "building the workspace binaries failed");
}

/// Polls `condition` until it holds, panicking with `what` after [`TIMEOUT`].
/// For waiting on state another process changes (a file appearing, a port
/// opening); never a fixed sleep.
#[track_caller]
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
