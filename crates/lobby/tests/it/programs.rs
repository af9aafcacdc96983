//! The programs the tests run are built from the code under test.

use std::path::Path;
use std::time::SystemTime;

use gamestore_testkit::{bin, workspace_root};

/// The newest modification time of any file under `dir`.
fn newest(dir: &Path) -> SystemTime {
    let mut latest = SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let time = if path.is_dir() {
            newest(&path)
        } else {
            entry.metadata().unwrap().modified().unwrap()
        };
        latest = latest.max(time);
    }
    latest
}

#[test]
fn client_programs_are_at_least_as_new_as_their_sources() {
    let root = workspace_root();
    for (program, crates) in [
        ("gamestore-player", ["player-cli", "client", "protocol", "package"]),
        ("gamestore-dev", ["dev-cli", "client", "protocol", "package"]),
    ] {
        let built = std::fs::metadata(bin(program)).unwrap().modified().unwrap();
        for name in crates {
            let sources = newest(&root.join("crates").join(name).join("src"));
            assert!(
                built >= sources,
                "{program} is older than crates/{name}/src: the tests would run stale code"
            );
        }
    }
}
