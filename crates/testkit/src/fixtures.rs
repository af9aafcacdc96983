//! Game folders made on the spot, for tests that publish and install.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Writes a valid, publishable game folder `parent/<id>-<version>` whose
/// server and client are small shell scripts, plus `data/` files of the
/// given sizes (deterministic content). Returns the folder.
pub fn game_folder(
    parent: &Path,
    id: &str,
    version: &str,
    data_files: &[(&str, usize)],
) -> PathBuf {
    let dir = parent.join(format!("{id}-{version}"));
    fs::create_dir_all(dir.join("bin")).unwrap();
    let manifest = serde_json::json!({
        "id": id,
        "name": format!("Game {id}"),
        "version": version,
        "description": format!("The {id} game, version {version}."),
        "kind": "cli",
        "min_players": 1,
        "max_players": 4,
        "server": {"command": ["bin/server.sh", "{port}", "{players}"]},
        "client": {"command": ["bin/client.sh", "{host}", "{port}", "{player}"]},
    });
    fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    for script in ["server.sh", "client.sh"] {
        let path = dir.join("bin").join(script);
        fs::write(&path, "#!/bin/sh\necho \"$0 $*\"\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    for (name, size) in data_files {
        let path = dir.join("data").join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, pattern(name, *size)).unwrap();
    }
    dir
}

/// Deterministic bytes for a file: the same name and size give the same
/// content, different names differ.
pub fn pattern(seed: &str, size: usize) -> Vec<u8> {
    let mut state: u64 = seed
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Sets `"version"` in a game folder's config.json.
pub fn set_version(dir: &Path, version: &str) {
    let path = dir.join("config.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    manifest["version"] = version.into();
    fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
}

/// Copies a folder tree (files keep their permissions).
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}
