//! The sample games, packaged once per test run, for tests that play.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fixtures::copy_dir;

/// The workspace root (where `scripts/` lives).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// The ready-to-publish folder of sample game `id` (e.g. `test`), built by
/// `scripts/package-games` on first use. Concurrent test processes share
/// one build through a file lock.
pub fn game_package(id: &str) -> PathBuf {
    let root = workspace_root();
    let out = root.join("target/test-packages");
    fs::create_dir_all(&out).unwrap();
    let lock = fs::File::create(out.join(".lock")).unwrap();
    // SAFETY: flock on an open file descriptor; released when `lock` is dropped.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    let dir = out.join(id);
    // One build per test run: scripts/test exports GAMESTORE_TEST_PACKAGES_FRESH
    // after building them; otherwise cargo decides what is stale.
    if std::env::var_os("GAMESTORE_TEST_PACKAGES_FRESH").is_none()
        || !dir.join("config.json").exists()
    {
        let status = Command::new(root.join("scripts/package-games"))
            .arg(&out)
            .arg(id)
            .env("CARGO_TARGET_DIR", root.join("games/target"))
            .status()
            .expect("run scripts/package-games");
        assert!(status.success(), "scripts/package-games {id} failed");
    }
    drop(lock);
    dir
}

/// A copy of sample game `id`'s package in `parent`, with its config.json
/// changed by `edit` (another id, a fault flag, other player counts).
pub fn game_variant(parent: &Path, id: &str, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let source = game_package(id);
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(source.join("config.json")).unwrap()).unwrap();
    edit(&mut manifest);
    let name = manifest["id"].as_str().unwrap().to_owned();
    let dir = parent.join(format!("{name}-{}", manifest["version"].as_str().unwrap()));
    copy_dir(&source, &dir);
    fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    dir
}
