//! The launcher side of `play` and `join`: where and how the game client is
//! started, and what `play` refuses before it joins anything.

use gamestore_protocol::{Event, RoomCreate, RoomEventKind, RoomLeave};
use gamestore_testkit::{Cli, game_package, game_variant};
use serde_json::Value;

use crate::world::{PASSWORD, World, events_of, player, publish, raw_player, world};

#[test]
fn a_relative_home_launches_the_game_client() {
    let w = world();
    publish(&w, &game_package("test"));
    // `--home h/p1`, typed in a shell whose working directory is the temp dir.
    let ann = Cli::player(&w.lobby, std::path::Path::new("h/p1"))
        .current_dir(w.tmp.path())
        .env("GAMESTORE_BOT", "1");
    ann.sign_up("ann", PASSWORD);

    let out = ann.run(&["play", "test", "--json"]);
    out.ok();
    assert_eq!(events_of(&out, "match_ended")[0]["outcome"], "completed", "{out}");
    assert!(out.stdout.contains("greeted"), "the game client ran: {out}");
    assert!(w.tmp.path().join("h/p1/games/ann/test/1.0.0").is_dir(), "installed under h/p1");
}

#[test]
fn a_game_client_that_cannot_start_is_named_with_its_folder() {
    let w = world();
    let broken = game_variant(w.tmp.path(), "test", |m| {
        m["id"] = "broken".into();
        m["client"]["command"][0] = "bin/bad-interpreter".into();
        // The server gives up quickly on the player who never comes.
        let server = m["server"]["command"].as_array_mut().unwrap();
        server.extend(["--timeout".into(), "2".into()]);
    });
    // A program whose interpreter is missing: spawning it fails with ENOENT.
    let script = broken.join("bin/bad-interpreter");
    std::fs::write(&script, "#!/no/such/interpreter\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    publish(&w, &broken);
    let ann = player(&w, "ann");

    let out = ann.run(&["play", "broken"]);
    assert!(!out.success(), "{out}");
    let folder = w.tmp.path().join("ann/games/ann/broken/1.0.0");
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(said.contains("bin/bad-interpreter"), "names the program: {out}");
    assert!(said.contains(folder.to_str().unwrap()), "names the folder: {out}");
}

#[test]
fn start_when_outside_the_games_bounds_is_refused_at_once() {
    let w = world();
    publish(&w, &game_package("test")); // 1 to 16 players
    let ann = player(&w, "ann");

    for n in ["0", "17"] {
        let out = ann.run(&["play", "test", "--start-when", n]);
        out.fails_with("--start-when");
        assert!(out.stderr.contains("1") && out.stderr.contains("16"), "gives the bounds: {out}");
    }
    // Nothing was joined or made.
    let rooms = ann.run(&["rooms", "--json"]).ok().json();
    assert_eq!(rooms.as_array().unwrap().len(), 0, "{rooms}");
}

/// Publishes `test` at 1.0.0, then the same game at `version`.
fn publish_two_versions(w: &World, version: &str) {
    publish(w, &game_package("test"));
    let newer = game_variant(w.tmp.path(), "test", |m| m["version"] = version.into());
    publish(w, &newer);
}

#[test]
fn joining_a_room_on_an_older_version_downloads_only_that_version() {
    let w = world();
    publish(&w, &game_package("test"));
    // A room made while 1.0.0 was the latest plays 1.0.0 ...
    let mut host = raw_player(&w, "hana");
    let room = host.call(RoomCreate { game: "test".into() }).unwrap();
    assert_eq!(room["version"], "1.0.0");
    // ... after 1.1.0 is out.
    let newer = game_variant(w.tmp.path(), "test", |m| m["version"] = "1.1.0".into());
    publish(&w, &newer);

    let bob = player(&w, "bob");
    let play = std::thread::spawn({
        let bob = bob.clone();
        move || bob.run(&["play", "test", "--json"])
    });
    // Once bob is in, the host leaves: bob hosts and plays alone.
    host.expect_event("bob joining", |e| match e {
        Event::RoomUpdate(u)
            if u.event == RoomEventKind::Joined && u.player.as_deref() == Some("bob") =>
        {
            Some(())
        }
        _ => None,
    });
    host.call(RoomLeave {}).unwrap();
    let out = play.join().unwrap();
    out.ok();
    let installs = events_of(&out, "installed");
    let versions: Vec<&str> = installs.iter().map(|i| i["version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["1.0.0"], "one download, the room's version: {out}");
    let games = bob.home().join("games/bob/test");
    assert!(games.join("1.0.0").is_dir() && !games.join("1.1.0").exists(), "{out}");
}

#[test]
fn library_with_the_lobby_down_lists_installed_games() {
    let mut w = world();
    publish(&w, &game_package("test"));
    let ann = player(&w, "ann");
    ann.run(&["install", "test"]).ok();
    w.lobby.terminate();

    let out = ann.run(&["library"]);
    out.ok();
    assert!(out.stdout.contains("test") && out.stdout.contains("1.0.0"), "{out}");
    assert!(out.stdout.contains("latest version unknown"), "{out}");
    assert!(out.stderr.contains("cannot reach the lobby"), "says why: {out}");
    assert_eq!(out.stderr.matches("refused").count(), 1, "the cause once: {out}");

    let items = ann.run(&["library", "--json"]).ok().json();
    assert_eq!(items[0]["id"], "test");
    assert_eq!(items[0]["version"], "1.0.0");
    assert_eq!(items[0]["latest"], Value::Null);
    assert_eq!(items[0]["latest_known"], false);

    // Other commands still fail with one line naming the cause once.
    let out = ann.run(&["store"]);
    out.fails_with("cannot reach the lobby");
    assert_eq!(out.stderr.matches("refused").count(), 1, "{out}");
}

#[test]
fn install_version_installs_a_chosen_older_version_beside_the_latest() {
    let w = world();
    publish_two_versions(&w, "1.1.0");
    let ann = player(&w, "ann");
    ann.run(&["install", "test"]).ok();

    let out = ann.run(&["install", "test", "--version", "1.0.0", "--json"]).ok().json();
    assert_eq!(out["version"], "1.0.0");
    let games = ann.home().join("games/ann/test");
    assert!(games.join("1.0.0").is_dir() && games.join("1.1.0").is_dir(), "both kept");

    ann.run(&["install", "test", "--version", "9.9.9"]).fails_with("VERSION_NOT_FOUND");
}

#[test]
fn leftovers_of_killed_installs_are_cleaned_from_the_home() {
    let w = world();
    publish_two_versions(&w, "1.1.0");
    let ann = player(&w, "ann");
    ann.run(&["install", "test"]).ok();
    // What a killed install of an old version, and a killed process, leave.
    let games = ann.home().join("games/ann/test");
    std::fs::write(games.join(".download-1.0.0.part"), b"partial zip").unwrap();
    let dead_pid = {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    };
    let staging = games.join(format!(".staging-1.1.0-{dead_pid}"));
    std::fs::create_dir_all(staging.join("bin")).unwrap();
    std::fs::write(staging.join("bin/half"), b"half a file").unwrap();

    ann.run(&["library"]).ok();
    let left: Vec<String> = std::fs::read_dir(&games)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "leftovers remain: {left:?}");
    assert!(games.join("1.1.0").is_dir(), "the installed version stays");
}

#[test]
fn a_gui_game_without_a_display_is_refused_before_joining() {
    let w = world();
    let windowed = game_variant(w.tmp.path(), "test", |m| {
        m["id"] = "windowed".into();
        m["kind"] = "gui".into();
    });
    publish(&w, &windowed);
    let mut host = raw_player(&w, "hana");
    let room = host.call(RoomCreate { game: "windowed".into() }).unwrap();
    // A launcher with no display, playing for itself (no headless bot).
    let ann = Cli::player(&w.lobby, &w.tmp.path().join("ann"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("GAMESTORE_BOT");
    ann.sign_up("ann", PASSWORD);

    let out = ann.run(&["play", "windowed"]);
    out.fails_with("no display");
    let out = ann.run(&["join", &room["id"].to_string()]);
    out.fails_with("no display");
    // Nobody was left in a room, nothing was started, nothing installed.
    let rooms = ann.run(&["rooms", "--json"]).ok().json();
    assert_eq!(rooms.as_array().unwrap().len(), 1, "{rooms}");
    assert_eq!(rooms[0]["members"], serde_json::json!(["hana"]), "{rooms}");
    assert_eq!(rooms[0]["state"], "waiting");
    assert!(!ann.home().join("games/ann/windowed").exists());
}

#[test]
fn room_members_are_told_when_the_rooms_game_is_delisted() {
    let w = world();
    publish(&w, &game_package("test"));
    let mut host = raw_player(&w, "hana");
    host.call(RoomCreate { game: "test".into() }).unwrap();
    let ann = player(&w, "ann");
    // Ann waits in hana's room for a third player who never comes.
    let play = std::thread::spawn({
        let ann = ann.clone();
        move || ann.run(&["play", "test", "--start-when", "3"])
    });
    host.expect_event("ann joining", |e| match e {
        Event::RoomUpdate(u)
            if u.event == RoomEventKind::Joined && u.player.as_deref() == Some("ann") =>
        {
            Some(())
        }
        _ => None,
    });

    w.dev.run(&["delist", "test"]).ok();
    // Everyone in the room hears it at once.
    host.expect_event("the delisting", |e| match e {
        Event::RoomUpdate(u) if u.event == RoomEventKind::Delisted => Some(()),
        _ => None,
    });
    let out = play.join().unwrap();
    out.fails_with("delisted");
    // Told in the room, or by the install of the room's version if the
    // delisting came first: either way it says why.
    assert!(
        out.stdout.contains("Test Game was delisted by its developer")
            || out.stderr.contains("was delisted by its developer"),
        "{out}"
    );
}
