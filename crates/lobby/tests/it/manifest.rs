//! The manifest as a developer meets it: `validate` reporting every
//! problem, docs/MANIFEST.md matching what the platform accepts, and the
//! ignore file deciding what `publish` sends.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use gamestore_package::Placeholder;
use gamestore_testkit::{Cli, TestLobby, fixtures::copy_dir, game_package, workspace_root};

const PASSWORD: &str = "correct horse";

fn manifest_doc() -> String {
    fs::read_to_string(workspace_root().join("docs/MANIFEST.md")).expect("docs/MANIFEST.md")
}

fn executable(path: &Path) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A developer CLI that needs no lobby (validate, dry runs).
fn offline_dev(home: &Path) -> Cli {
    Cli::new("gamestore-dev", "127.0.0.1:9", home)
}

#[test]
fn validate_reports_field_and_file_problems_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("game");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("config.json"),
        r#"{"id": "Bad Id", "name": "x", "version": "one", "description": "",
            "kind": "cli", "min_players": 1, "max_players": 2,
            "server": {"command": ["bin/server", "--port", "{port}"]},
            "client": {"command": ["bin/client", "--port", "{port}"]}}"#,
    )
    .unwrap();
    // The client exists but is not executable; the server is missing.
    fs::create_dir_all(dir.join("bin")).unwrap();
    fs::write(dir.join("bin/client"), "not a program").unwrap();

    let out = offline_dev(&tmp.path().join("dev")).run(&["validate", dir.to_str().unwrap()]);
    out.fails_with("4 problems");
    for expected in [
        "id:",
        "version:",
        "server.command[0]: bin/server: no such file in the game folder",
        "client.command[0]: bin/client: not executable",
    ] {
        assert!(out.stdout.contains(expected), "{expected:?} missing: {out}");
    }
}

#[test]
fn the_documented_example_is_a_valid_game() {
    let doc = manifest_doc();
    let example = doc.split("## A complete example").nth(1).expect("an example section");
    let json = example.split("```json").nth(1).and_then(|s| s.split("```").next()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("connect4");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("config.json"), json).unwrap();
    executable(&dir.join("bin/connect4-server"));
    executable(&dir.join("bin/connect4-client"));

    let out = offline_dev(&tmp.path().join("dev")).run(&["validate", dir.to_str().unwrap()]);
    out.ok();
    assert!(out.stdout.contains("connect4 1.2.0"), "{out}");
}

#[test]
fn every_field_and_placeholder_is_documented() {
    let doc = manifest_doc();
    for placeholder in Placeholder::ALL {
        assert!(doc.contains(&format!("| `{placeholder}` |")), "{placeholder} is not documented");
    }
    for field in [
        "id",
        "name",
        "version",
        "description",
        "kind",
        "min_players",
        "max_players",
        "server",
        "client",
        "command",
        "env",
    ] {
        assert!(doc.contains(&format!("| `{field}` |")), "field {field} is not documented");
    }
    for section in ["## Where the programs run", "## Environment", "## The result file"] {
        assert!(doc.contains(section), "{section} missing");
    }
    assert!(doc.contains("## Exit codes") && doc.contains("GAMESTORE_RESULT_FILE"));
}

#[test]
fn publish_sends_only_what_the_ignore_file_leaves_in() {
    let lobby = TestLobby::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("test");
    copy_dir(&game_package("test"), &dir);
    fs::write(dir.join("server.log"), "stray log").unwrap();
    fs::create_dir_all(dir.join("src/deep")).unwrap();
    fs::write(dir.join("src/deep/main.rs"), "fn main() {}").unwrap();
    fs::create_dir_all(dir.join("bin/cache")).unwrap();
    fs::write(dir.join("bin/cache/debug.log"), "nested log").unwrap();
    fs::write(dir.join(".gamestoreignore"), "# not for players\nsrc/\n*.log\n").unwrap();
    let dev = Cli::dev(&lobby, &tmp.path().join("dev"));
    dev.sign_up("dana", PASSWORD);

    // The dry run lists what would be sent, and sends nothing.
    let listed = dev.run(&["publish", dir.to_str().unwrap(), "--dry-run", "--json"]).ok().json();
    let paths: Vec<&str> =
        listed.as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["bin/test-client", "bin/test-server", "config.json"], "{listed}");
    let text = dev.run(&["publish", dir.to_str().unwrap(), "--dry-run"]).ok().stdout.clone();
    assert!(text.contains("would send 3 files") && text.contains("nothing was sent"), "{text}");
    assert!(dev.run(&["games", "--json"]).ok().json().as_array().unwrap().is_empty());

    let out = dev.run(&["publish", dir.to_str().unwrap()]).ok().stdout.clone();
    assert!(out.contains("(3 files,"), "{out}");
    let ann = Cli::player(&lobby, &tmp.path().join("ann"));
    ann.sign_up("ann", PASSWORD);
    let installed = ann.run(&["install", "test", "--json"]).ok().json();
    let path = Path::new(installed["path"].as_str().unwrap());
    assert!(path.join("bin/test-server").is_file());
    for left_out in ["server.log", "src", "bin/cache/debug.log", ".gamestoreignore"] {
        assert!(!path.join(left_out).exists(), "{left_out} was sent");
    }
}
