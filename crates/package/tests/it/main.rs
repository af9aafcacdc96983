//! Integration tests of the package format through the public API only.

// Packing real game folders and extracting them again.
mod round_trip;
// Crafted archives that extraction must refuse, leaving nothing behind.
mod hostile;

use std::fs;
use std::path::Path;

/// Writes `content` at `rel` under `dir`, creating folders.
pub fn write(dir: &Path, rel: &str, content: &[u8]) {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// Sets unix permission bits (no-op elsewhere).
pub fn chmod(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}

/// Unix permission bits of a file (0 elsewhere).
pub fn mode_of(path: &Path) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        0
    }
}

/// A minimal valid config.json.
pub const CONFIG: &str = r#"{
  "id": "demo", "name": "Demo", "version": "1.0.0", "description": "", "kind": "cli",
  "min_players": 1, "max_players": 2,
  "server": {"command": ["bin/server", "--port", "{port}"]},
  "client": {"command": ["bin/client", "--host", "{host}", "--port", "{port}"]}
}"#;
