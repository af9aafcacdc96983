// scripts/package-games: every package is complete, valid and runs as the
// platform would run it.

use std::process::Command;

use checks::check_package;
use gamekit::testkit::{Proc, TempDir};

use crate::{BUILD_WAIT, WAIT, launch, launch_server, repo_root};

const GAMES: [&str; 4] = ["test", "connect4", "pong", "arena"];

/// Runs the packaging script (dev profile: the test build already compiled
/// the games) and waits for it.
fn package(out: &std::path::Path, games: &[&str]) -> Proc {
    let mut command = Command::new(repo_root().join("scripts/package-games"));
    command.arg(out).args(games).env("PACKAGE_PROFILE", "dev");
    let mut script = Proc::spawn("package-games", command);
    script.wait_exit(BUILD_WAIT);
    script
}

#[test]
fn every_game_packages_into_a_valid_folder_that_runs() {
    let out = TempDir::new("packages");
    let mut script = package(out.path(), &[]);
    assert!(script.wait_exit(WAIT).success(), "{}", script.output());
    for id in GAMES {
        let dir = out.path().join(id);
        let manifest = check_package(&dir).unwrap_or_else(|problems| panic!("{id}: {problems:#?}"));
        assert_eq!(manifest["id"], id);
        for role in ["server", "client"] {
            assert!(dir.join(format!("bin/{id}-{role}")).is_file(), "{id}: bin/{id}-{role}");
        }
    }
    // Only the package's own files: config.json and bin/.
    let entries: Vec<String> = std::fs::read_dir(out.path().join("pong"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries.len(), 2, "{entries:?}");

    // The test game plays a whole match from its package, as launched by the platform.
    let test_dir = out.path().join("test");
    let (mut server, mut values) = launch_server(&test_dir, 2, &[], &[]);
    let mut clients: Vec<Proc> = ["p1", "p2"]
        .iter()
        .map(|name| {
            values.insert("player", name.to_string());
            launch(&test_dir, "client", &values, &[], &[])
        })
        .collect();
    for client in &mut clients {
        client.expect_success(WAIT);
    }
    server.expect_success(WAIT);

    // Connect Four too, with bots.
    let dir = out.path().join("connect4");
    let result = out.path().join("c4.json");
    let (mut server, mut values) =
        launch_server(&dir, 2, &[], &[("GAMESTORE_RESULT_FILE", result.to_str().unwrap())]);
    let mut bots: Vec<Proc> = ["x", "o"]
        .iter()
        .map(|name| {
            values.insert("player", name.to_string());
            launch(&dir, "client", &values, &[], &[("GAMESTORE_BOT", "1")])
        })
        .collect();
    for bot in &mut bots {
        bot.expect_success(WAIT);
    }
    server.expect_success(WAIT);
    assert!(result.is_file());

    // The GUI servers start from their packages and listen.
    for (id, players) in [("pong", 2), ("arena", 3)] {
        let (_server, values) = launch_server(&out.path().join(id), players, &[], &[]);
        assert_ne!(values["port"], "0");
    }
}

#[test]
fn listed_games_only_and_unknown_games_refused() {
    let out = TempDir::new("packages-test-only");
    let mut script = package(out.path(), &["test"]);
    assert!(script.wait_exit(WAIT).success(), "{}", script.output());
    let packaged: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(packaged, vec!["test"]);
    check_package(&out.path().join("test")).unwrap();

    let mut refused = package(out.path(), &["chess"]);
    assert_eq!(refused.wait_exit(WAIT).code(), Some(2));
    assert!(refused.output().contains("unknown game 'chess'"), "{}", refused.output());
}
