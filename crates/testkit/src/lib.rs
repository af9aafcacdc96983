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
pub use lobby::{LobbyOptions, TestDatabase, TestLobby};
pub use packages::{game_package, game_variant, workspace_root};
pub use raw::RawConn;

/// Default time limit for a command or an awaited event in tests.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Path of a workspace binary built from the code under test.
///
/// `cargo nextest run` builds only test targets, and a test binary does not
/// depend on the other crates' programs, so a binary found on disk may be
/// stale. The first call in a test run therefore runs `cargo build` of the
/// programs (a no-op when they are fresh), under a file lock shared by
/// concurrent test processes. "A test run" is one `cargo nextest run` (its
/// `NEXTEST_RUN_ID`) or, under `cargo test`, one test process; scripts/test
/// builds first and sets `GAMESTORE_TEST_BINS_FRESH` to skip the check.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test-binary>
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target directory");
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| ensure_fresh_binaries(profile_dir));
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// Builds the workspace's programs once per test run (see [`bin`]).
fn ensure_fresh_binaries(profile_dir: &std::path::Path) {
    if std::env::var_os("GAMESTORE_TEST_BINS_FRESH").is_some() {
        return;
    }
    let target_dir = profile_dir.parent().expect("target directory");
    let lock = std::fs::File::create(target_dir.join(".testkit-build.lock")).expect("lock file");
    // SAFETY: flock on an open descriptor; released when `lock` is dropped.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    // Under nextest every test is its own process: remember, per run, that
    // the build was done, so a run pays for one `cargo build` only.
    let stamp = std::env::var("NEXTEST_RUN_ID")
        .ok()
        .filter(|id| id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'))
        .map(|id| target_dir.join(format!(".testkit-built-{id}")));
    if stamp.as_ref().is_some_and(|s| s.exists()) {
        return;
    }
    let mut command = std::process::Command::new(env!("CARGO"));
    command.args(["build", "--workspace", "--bins", "--quiet"]).env("CARGO_TARGET_DIR", target_dir);
    if profile_dir.file_name().is_some_and(|p| p == "release") {
        command.arg("--release");
    }
    let status = command.current_dir(packages::workspace_root()).status().expect("run cargo build");
    assert!(status.success(), "building the workspace binaries failed");
    if let Some(stamp) = stamp {
        // Stamps of earlier runs are no longer needed.
        if let Ok(entries) = std::fs::read_dir(target_dir) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(".testkit-built-") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        std::fs::write(stamp, b"").expect("write the build stamp");
    }
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
