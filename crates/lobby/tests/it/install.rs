//! Browsing, installing and updating games (flows P1, P2).

use std::path::{Path, PathBuf};

use gamestore_package::FileList;
use gamestore_testkit::fixtures::{game_folder, pattern, set_version};
use gamestore_testkit::{Cli, LobbyOptions, TestLobby, wait_until};

const PASSWORD: &str = "correct horse";

struct World {
    lobby: TestLobby,
    tmp: tempfile::TempDir,
    dev: Cli,
}

fn world_with(options: LobbyOptions) -> World {
    let lobby = TestLobby::start_with(options);
    let tmp = tempfile::tempdir().unwrap();
    let dev = Cli::dev(&lobby, &tmp.path().join("dev-home"));
    dev.sign_up("dana", PASSWORD);
    World { lobby, tmp, dev }
}

fn publish(w: &World, folder: &Path) {
    w.dev.run(&["publish", folder.to_str().unwrap()]).ok();
}

fn login(cli: &Cli, user: &str) {
    cli.run_with_stdin(&["login", "--user", user, "--password-stdin"], &format!("{PASSWORD}\n"))
        .ok();
}

fn install(cli: &Cli, id: &str) -> serde_json::Value {
    cli.run(&["install", id, "--json"]).ok().json()
}

fn library(cli: &Cli) -> serde_json::Value {
    cli.run(&["library", "--json"]).ok().json()
}

/// The installed tree equals the source folder byte for byte.
fn assert_same_tree(installed: &Path, source: &Path) {
    let a = FileList::scan(installed).unwrap();
    let b = FileList::scan(source).unwrap();
    assert_eq!(a, b, "{} differs from {}", installed.display(), source.display());
}

#[test]
fn two_players_on_one_machine_keep_their_own_versions() {
    let w = world_with(LobbyOptions::default());
    let folder = game_folder(w.tmp.path(), "chess", "1.0.0", &[("board.bin", 20_000)]);
    publish(&w, &folder);
    let home = w.tmp.path().join("shared-home");
    let player = Cli::player(&w.lobby, &home);
    player.sign_up("ann", PASSWORD);
    player
        .run_with_stdin(
            &["register", "--user", "bob", "--password-stdin"],
            &format!("{PASSWORD}\n"),
        )
        .ok();

    let ann = install(&player, "chess");
    assert_eq!((ann["id"].as_str(), ann["version"].as_str()), (Some("chess"), Some("1.0.0")));
    assert!(ann["bytes_transferred"].as_u64().unwrap() > 0);
    let ann_path = PathBuf::from(ann["path"].as_str().unwrap());
    assert_same_tree(&ann_path, &folder);

    set_version(&folder, "1.1.0");
    publish(&w, &folder);
    login(&player, "bob");
    let bob = install(&player, "chess");
    assert_eq!(bob["version"], "1.1.0");
    let bob_path = PathBuf::from(bob["path"].as_str().unwrap());
    assert_ne!(ann_path, bob_path);
    assert!(ann_path.exists() && bob_path.exists(), "both versions on disk");

    let lib = library(&player);
    assert_eq!(lib.as_array().unwrap().len(), 1);
    assert_eq!(
        (lib[0]["version"].as_str(), lib[0]["latest"].as_str()),
        (Some("1.1.0"), Some("1.1.0"))
    );
    assert_eq!(lib[0]["update_available"], false);

    login(&player, "ann");
    let lib = library(&player);
    assert_eq!(
        (lib[0]["version"].as_str(), lib[0]["latest"].as_str()),
        (Some("1.0.0"), Some("1.1.0"))
    );
    assert_eq!(lib[0]["update_available"], true);
    assert_eq!(lib[0]["path"].as_str(), Some(ann_path.to_str().unwrap()));
    let text = player.run(&["library"]).ok().stdout.clone();
    assert!(text.contains("update to 1.1.0"), "{text}");

    // Installing again when up to date moves nothing.
    login(&player, "bob");
    let again = install(&player, "chess");
    assert_eq!(again["bytes_transferred"], 0);

    player.run(&["uninstall", "chess"]).ok();
    assert!(library(&player).as_array().unwrap().is_empty());
    assert!(ann_path.exists(), "ann's copy is untouched");
    player.run(&["uninstall", "chess"]).fails_with("not installed");
}

#[test]
fn an_update_moves_only_the_changed_file() {
    let w = world_with(LobbyOptions::default());
    let files: Vec<(String, usize)> = (0..8).map(|i| (format!("level{i}.bin"), 300_000)).collect();
    let spec: Vec<(&str, usize)> = files.iter().map(|(n, s)| (n.as_str(), *s)).collect();
    let folder = game_folder(w.tmp.path(), "quest", "1.0.0", &spec);
    publish(&w, &folder);
    let player = Cli::player(&w.lobby, &w.tmp.path().join("p"));
    player.sign_up("ann", PASSWORD);
    let first = install(&player, "quest");
    assert!(first["bytes_transferred"].as_u64().unwrap() >= 8 * 300_000, "{first}");

    // Change one 300 kB file.
    std::fs::write(folder.join("data/level3.bin"), pattern("changed", 300_000)).unwrap();
    set_version(&folder, "1.1.0");
    publish(&w, &folder);
    let update = install(&player, "quest");
    assert_eq!(update["version"], "1.1.0");
    assert_eq!(update["method"], "chunked");
    let moved = update["bytes_transferred"].as_u64().unwrap();
    // The changed file's chunks plus the changed config.json (compressed
    // where that pays), nothing else.
    let config = std::fs::metadata(folder.join("config.json")).unwrap().len();
    assert!(moved > 300_000 && moved <= 300_000 + config, "{update}");
    assert_same_tree(Path::new(update["path"].as_str().unwrap()), &folder);
    // The old version is replaced.
    assert_eq!(library(&player).as_array().unwrap().len(), 1);
    assert!(!Path::new(first["path"].as_str().unwrap()).exists());
}

#[test]
fn a_cut_download_leaves_the_old_version_and_resumes() {
    // 2 MB/s: the 4 MB download takes about two seconds, so it can be cut.
    let w = world_with(LobbyOptions {
        args: vec!["--download-rate".into(), "2000000".into()],
        ..Default::default()
    });
    let folder = game_folder(w.tmp.path(), "big", "1.0.0", &[("a.bin", 100_000)]);
    publish(&w, &folder);
    let player = Cli::player(&w.lobby, &w.tmp.path().join("p"));
    player.sign_up("ann", PASSWORD);
    let old = install(&player, "big");

    // 1.1.0 changes everything: 4 MB of new chunks to fetch.
    std::fs::remove_file(folder.join("data/a.bin")).unwrap();
    std::fs::write(folder.join("data/b.bin"), pattern("b", 4_000_000)).unwrap();
    std::fs::write(folder.join("data/zeros.bin"), vec![0u8; 4_000_000]).unwrap();
    set_version(&folder, "1.1.0");
    publish(&w, &folder);

    let journal = w.tmp.path().join("p/games/ann/big/.chunked-1.1.0.journal");
    let mut child = gamestore_testkit::ChildGuard::new(
        player.command(&["install", "big"]).spawn().unwrap(),
        "install",
    );
    wait_until("part of the download", || journal_entries(&journal) >= 4);
    child.kill();

    // Nothing new is visible; the old version is intact.
    let lib = library(&player);
    assert_eq!(lib[0]["version"], "1.0.0");
    assert_same_tree(Path::new(old["path"].as_str().unwrap()), &old_tree(&w));

    // A retry resumes and completes.
    let retry = install(&player, "big");
    assert_eq!(retry["version"], "1.1.0");
    assert_eq!(retry["method"], "chunked");
    // At least four chunks (about 256 KiB each) of b.bin came before the cut.
    assert!(retry["bytes_transferred"].as_u64().unwrap() < 3_800_000, "resumed: {retry}");
    assert_same_tree(Path::new(retry["path"].as_str().unwrap()), &folder);
    assert!(!journal.exists());
    assert!(!w.tmp.path().join("p/games/ann/big/.chunked-1.1.0").exists());
}

/// Chunks recorded in an install's journal so far.
fn journal_entries(journal: &Path) -> usize {
    std::fs::read_to_string(journal).map(|text| text.lines().count()).unwrap_or(0)
}

/// The 1.0.0 tree of the `big` game, rebuilt for comparison.
fn old_tree(w: &World) -> PathBuf {
    let dir = w.tmp.path().join("old");
    if !dir.exists() {
        game_folder(&dir, "big", "1.0.0", &[("a.bin", 100_000)]);
    }
    dir.join("big-1.0.0")
}

#[test]
fn a_lobby_killed_mid_download_leaves_nothing_and_a_retry_works() {
    let mut w = world_with(LobbyOptions {
        args: vec!["--download-rate".into(), "2000000".into()],
        ..Default::default()
    });
    let folder = game_folder(w.tmp.path(), "big", "1.0.0", &[("b.bin", 4_000_000)]);
    publish(&w, &folder);
    let player = Cli::player(&w.lobby, &w.tmp.path().join("p"));
    player.sign_up("ann", PASSWORD);
    let journal = w.tmp.path().join("p/games/ann/big/.chunked-1.0.0.journal");
    let mut child = gamestore_testkit::ChildGuard::new(
        player.command(&["install", "big"]).spawn().unwrap(),
        "install",
    );
    wait_until("part of the download", || journal_entries(&journal) >= 2);
    w.lobby.kill9();
    let status = child.wait_timeout(gamestore_testkit::TIMEOUT);
    assert!(!status.success(), "install must fail when the lobby dies");
    assert!(!w.tmp.path().join("p/games/ann/big/1.0.0").exists(), "no version visible");

    w.lobby.restart();
    let retry = install(&player, "big");
    assert_eq!(retry["version"], "1.0.0");
    assert_same_tree(Path::new(retry["path"].as_str().unwrap()), &folder);
}

#[test]
fn corrupt_bytes_are_detected_and_nothing_is_installed() {
    let w = world_with(LobbyOptions::default());
    let folder =
        game_folder(w.tmp.path(), "chess", "1.0.0", &[("a.bin", 50_000), ("b.bin", 50_000)]);
    publish(&w, &folder);
    let player = Cli::player(&w.lobby, &w.tmp.path().join("p"));
    player.sign_up("ann", PASSWORD);

    // Flip a byte in every stored chunk of the data files, wherever the
    // lobby keeps it: a full install notices.
    let mut originals = Vec::new();
    for path in crate::world::served_files(&w.lobby) {
        let original = std::fs::read(&path).unwrap();
        if original.len() >= 40_000 {
            let mut bad = original.clone();
            let middle = bad.len() / 2;
            bad[middle] ^= 0xff;
            std::fs::write(&path, &bad).unwrap();
            originals.push((path, original));
        }
    }
    assert!(!originals.is_empty(), "the data files are stored as chunks");
    player.run(&["install", "chess"]).fails_with("does not match its hash");
    assert!(library(&player).as_array().unwrap().is_empty());
    assert!(!w.tmp.path().join("p/games/ann/chess/1.0.0").exists(), "no version visible");
    for (path, original) in &originals {
        std::fs::write(path, original).unwrap();
    }
    let first = install(&player, "chess");
    assert_same_tree(Path::new(first["path"].as_str().unwrap()), &old_chess(&w));
}

fn old_chess(w: &World) -> PathBuf {
    let dir = w.tmp.path().join("old");
    game_folder(&dir, "chess", "1.0.0", &[("a.bin", 50_000), ("b.bin", 50_000)])
}

#[test]
fn store_and_info_show_only_listed_games() {
    let w = world_with(LobbyOptions::default());
    let player = Cli::player(&w.lobby, &w.tmp.path().join("p"));
    player.sign_up("ann", PASSWORD);
    let empty = player.run(&["store"]).ok().stdout.clone();
    assert!(empty.contains("The store is empty"), "{empty}");

    let folder = game_folder(w.tmp.path(), "chess", "1.0.0", &[]);
    publish(&w, &folder);
    let info = player.run(&["info", "chess", "--json"]).ok().json();
    assert_eq!(info["game"]["author"], "dana");
    assert_eq!(info["versions"][0]["version"], "1.0.0");
    let text = player.run(&["info", "chess"]).ok().stdout.clone();
    assert!(text.contains("Game chess (chess)") && text.contains("by dana"), "{text}");

    player.run(&["info", "nope"]).fails_with("GAME_NOT_FOUND");
    w.dev.run(&["delist", "chess"]).ok();
    player.run(&["info", "chess"]).fails_with("GAME_DELISTED");
    player.run(&["install", "chess"]).fails_with("GAME_DELISTED");
    assert!(player.run(&["store", "--json"]).ok().json().as_array().unwrap().is_empty());
}
