//! Launcher plugins (PL1–PL4): listing, installing, updating and removing
//! them through subcommands and the menu, the lobby's relay of plugin
//! messages and its limits, and plugins in the room screen (through tmux):
//! members with and without them, a full match, and plugins that crash,
//! hang or flood.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use gamestore_protocol::{
    ChatScope, ChatSend, ErrorCode, Event, Login, PluginSend, Register, RoomCreate, RoomJoin,
    RoomLeave, RoomPlugins, StoreList,
};
use gamestore_testkit::{Cli, RawConn, TestLobby, game_package};
use serde_json::{Value, json};

use super::menus::{Screen, player_menu};
use super::world::Launcher;

const PASSWORD: &str = "correct horse";

/// A lobby and a developer who publishes.
struct World {
    lobby: TestLobby,
    tmp: tempfile::TempDir,
    dev: Cli,
}

fn world() -> World {
    let lobby = TestLobby::start();
    let tmp = tempfile::tempdir().unwrap();
    let dev = Cli::dev(&lobby, &tmp.path().join("dev-home"));
    dev.sign_up("dana", PASSWORD);
    World { lobby, tmp, dev }
}

impl World {
    fn publish(&self, folder: &Path) {
        self.dev.run(&["publish", folder.to_str().unwrap()]).ok();
    }

    fn player(&self, name: &str) -> Cli {
        let cli = Cli::player(&self.lobby, &self.tmp.path().join(name));
        cli.sign_up(name, PASSWORD);
        cli
    }
}

/// A plugin written on the spot in Python: `parent/<id>-<version>/` with
/// `plugin.py` holding `body` after a few helpers (`out(obj)`, `lines()`).
fn python_plugin(parent: &Path, id: &str, version: &str, body: &str) -> PathBuf {
    let dir = parent.join(format!("{id}-{version}"));
    fs::create_dir_all(&dir).unwrap();
    let manifest = json!({
        "id": id, "name": format!("Plugin {id}"), "version": version,
        "description": format!("The {id} plugin, version {version}."),
        "kind": "plugin",
        "plugin": {
            "command": ["python3", "{game_dir}/plugin.py"],
            "events": ["room_joined", "members", "plugin_message"],
            "panel": {"title": format!("Panel {id}"), "prefix": id},
        },
    });
    fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    let script = format!(
        "import json, sys\n\
         def out(obj):\n    sys.stdout.write(json.dumps(obj) + '\\n'); sys.stdout.flush()\n\
         def lines():\n    for line in sys.stdin:\n        yield json.loads(line)\n\
         {body}\n"
    );
    let path = dir.join("plugin.py");
    fs::write(&path, script).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Answers hello, then shows every input with a version mark.
fn echo_body(version: &str) -> String {
    format!(
        "for m in lines():\n    \
         if m['type'] == 'hello': out({{'type': 'ready'}})\n    \
         elif m['type'] == 'input': out({{'type': 'show', 'text': 'echo {version}: ' + m['text']}})"
    )
}

fn plugins_json(cli: &Cli) -> Vec<Value> {
    cli.run(&["plugins", "--json"]).ok().json().as_array().unwrap().clone()
}

fn status_of(cli: &Cli, id: &str) -> String {
    let list = plugins_json(cli);
    let item = list.iter().find(|p| p["id"] == id).unwrap_or_else(|| panic!("{id} in {list:?}"));
    item["status"].as_str().unwrap().to_owned()
}

fn installed_versions(home: &Path, player: &str, id: &str) -> Vec<String> {
    let dir = home.join("plugins").join(player).join(id);
    let mut names: Vec<String> = fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_version(n))
        .collect();
    names.sort();
    names
}

fn is_version(name: &str) -> bool {
    semver::Version::parse(name).is_ok()
}

#[test]
fn plugins_are_listed_apart_from_games_with_each_status() {
    let w = world();
    w.publish(&python_plugin(w.tmp.path(), "echo", "1.0.0", &echo_body("1")));
    w.publish(&python_plugin(w.tmp.path(), "other", "1.0.0", &echo_body("1")));
    w.publish(&game_package("test"));
    let ann = w.player("ann");

    let list = plugins_json(&ann);
    let ids: Vec<&str> = list.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["echo", "other"], "plugins only, by id: {list:?}");
    for key in ["id", "name", "description", "version", "status"] {
        assert!(list[0].get(key).is_some(), "{key} in {}", list[0]);
    }
    assert_eq!(list[0]["status"], "not_installed");
    assert_eq!(list[0]["version"], "1.0.0");
    assert_eq!(list[0]["description"], "The echo plugin, version 1.0.0.");
    // The store stays games-only.
    let store = ann.run(&["store", "--json"]).ok().json();
    let store_ids: Vec<&str> =
        store.as_array().unwrap().iter().map(|g| g["id"].as_str().unwrap()).collect();
    assert_eq!(store_ids, ["test"]);

    ann.run(&["plugin", "install", "echo"]).ok();
    assert_eq!(status_of(&ann, "echo"), "installed");
    assert_eq!(status_of(&ann, "other"), "not_installed");
    w.publish(&python_plugin(w.tmp.path(), "echo", "1.1.0", &echo_body("2")));
    assert_eq!(status_of(&ann, "echo"), "update_available");
    let text = ann.run(&["plugins"]).ok().stdout.clone();
    assert!(text.contains("update available (1.0.0 installed)"), "{text}");
}

#[test]
fn plugins_install_update_and_remove_and_failures_change_nothing() {
    let w = world();
    w.publish(&python_plugin(w.tmp.path(), "echo", "1.0.0", &echo_body("1")));
    w.publish(&game_package("test"));
    let ann = w.player("ann");
    let home = w.tmp.path().join("ann");

    let out = ann.run(&["plugin", "install", "echo"]).ok().stdout.clone();
    assert!(out.contains("installed plugin echo 1.0.0"), "{out}");
    assert_eq!(installed_versions(&home, "ann", "echo"), ["1.0.0"]);
    let again = ann.run(&["plugin", "install", "echo"]).ok().stdout.clone();
    assert!(again.contains("already installed and up to date"), "{again}");

    // A game is not a plugin: refused, nothing installed.
    ann.run(&["plugin", "install", "test"]).fails_with("install failed: test is a game");
    assert!(!home.join("plugins/ann/test").exists());
    ann.run(&["plugin", "install", "nope"]).fails_with("install failed");
    ann.run(&["plugin", "update", "other"]).fails_with("not installed");

    // 1.1.0 is published, then damaged in the lobby's store in three ways:
    // a changed byte in its new chunks (bad checksum), a changed manifest
    // (bad signature) and cut chunks (a short download).
    // The bytes are altered wherever the lobby serves them from: its chunk
    // store or the version's own files.
    let before = crate::world::served_files(&w.lobby);
    w.publish(&python_plugin(w.tmp.path(), "echo", "1.1.0", &echo_body("2")));
    let fresh: Vec<(PathBuf, Vec<u8>)> = crate::world::served_files(&w.lobby)
        .into_iter()
        .filter(|path| !before.contains(path))
        .map(|path| {
            let bytes = fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    assert!(!fresh.is_empty(), "1.1.0 brought new chunks");
    let manifest = w.lobby.data_dir().join("games/echo/1.1.0/manifest");
    let good_manifest = fs::read(&manifest).unwrap();
    let restore = |fresh: &[(PathBuf, Vec<u8>)]| {
        for (path, bytes) in fresh {
            fs::write(path, bytes).unwrap();
        }
        fs::write(&manifest, &good_manifest).unwrap();
    };
    let damage: [&dyn Fn(); 3] = [
        &|| {
            for (path, bytes) in &fresh {
                let mut flipped = bytes.clone();
                let middle = flipped.len() / 2;
                flipped[middle] ^= 0xff;
                fs::write(path, flipped).unwrap();
            }
        },
        &|| {
            let text = String::from_utf8(good_manifest.clone()).unwrap();
            fs::write(&manifest, text.replacen("1.1.0", "1.1.1", 1)).unwrap();
        },
        &|| {
            for (path, bytes) in &fresh {
                fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
            }
        },
    ];
    for damage in damage {
        damage();
        ann.run(&["plugin", "update", "echo"]).fails_with("install failed:");
        assert_eq!(installed_versions(&home, "ann", "echo"), ["1.0.0"], "the old one stays");
        assert_eq!(status_of(&ann, "echo"), "update_available");
        let kept = fs::read_to_string(home.join("plugins/ann/echo/1.0.0/plugin.py")).unwrap();
        assert!(kept.contains("echo 1: "), "the old version is intact");
        restore(&fresh);
    }

    // Repaired, the update goes through and replaces the old version.
    let out = ann.run(&["plugin", "update", "echo"]).ok().stdout.clone();
    assert!(out.contains("updated plugin echo from 1.0.0 to 1.1.0: installed"), "{out}");
    assert_eq!(installed_versions(&home, "ann", "echo"), ["1.1.0"]);
    assert_eq!(status_of(&ann, "echo"), "installed");

    // Remove deletes it and nothing else.
    ann.run(&["install", "test"]).ok();
    let out = ann.run(&["plugin", "remove", "echo"]).ok().stdout.clone();
    assert!(out.contains("removed plugin echo"), "{out}");
    assert!(!home.join("plugins/ann/echo").exists());
    assert_eq!(status_of(&ann, "echo"), "not_installed");
    assert_eq!(ann.run(&["library", "--json"]).ok().json()[0]["id"], "test");
    ann.run(&["plugin", "remove", "echo"]).fails_with("not installed");
}

/// A raw player connection, registered and logged in.
fn raw_player(lobby: &TestLobby, name: &str) -> RawConn {
    let mut conn = RawConn::hello(lobby.addr);
    conn.call(Register::new(name, PASSWORD)).unwrap();
    conn.call(Login::new(name, PASSWORD)).unwrap();
    conn
}

fn code(result: Result<Value, gamestore_protocol::WireError>) -> ErrorCode {
    result.expect_err("the request should fail").code
}

/// The next event matching `want`, skipping room updates.
fn next_event(conn: &mut RawConn, what: &str) -> Event {
    conn.expect_event(what, |e| (!matches!(e, Event::RoomUpdate(_))).then(|| e.clone()))
}

#[test]
fn the_lobby_relays_plugin_messages_only_to_members_that_run_the_plugin() {
    let w = world();
    w.publish(&game_package("test"));
    w.publish(&python_plugin(w.tmp.path(), "echo", "1.0.0", &echo_body("1")));
    let mut ann = raw_player(&w.lobby, "ann");
    let mut bob = raw_player(&w.lobby, "bob");
    let mut carl = raw_player(&w.lobby, "carl");
    let mut dave = raw_player(&w.lobby, "dave");

    // Plugins are neither in the store nor playable.
    let store = ann.call(StoreList::default()).unwrap();
    assert_eq!(store["games"].as_array().unwrap().len(), 1, "{store}");
    assert_eq!(code(ann.call(RoomCreate { game: "echo".into() })), ErrorCode::NotAGame);

    // Outside a room nothing can be announced or sent.
    let data = json!({"text": "hi"});
    assert_eq!(
        code(dave.call(RoomPlugins { plugins: vec!["roomchat".into()] })),
        ErrorCode::NotInRoom
    );
    let send = |data: &Value| PluginSend { plugin: "roomchat".into(), data: data.clone() };
    assert_eq!(code(dave.call(send(&data))), ErrorCode::NotInRoom);

    let room = ann.call(RoomCreate { game: "test".into() }).unwrap()["id"].as_u64().unwrap();
    for member in [&mut bob, &mut carl] {
        member.call(RoomJoin { room }).unwrap();
    }
    for member in [&mut ann, &mut bob] {
        member.call(RoomPlugins { plugins: vec!["roomchat".into(), "dice".into()] }).unwrap();
    }
    assert_eq!(
        code(ann.call(RoomPlugins { plugins: vec!["Not An Id".into()] })),
        ErrorCode::BadRequest
    );
    // Carl did not announce it: he may not send for it.
    assert_eq!(code(carl.call(send(&data))), ErrorCode::PluginNotAnnounced);

    let data = json!({"text": "hi", "any": [1, {"json": null}]});
    ann.call(send(&data)).unwrap();
    match next_event(&mut bob, "bob's plugin message") {
        Event::PluginMessage(m) => {
            assert_eq!((m.plugin.as_str(), m.from.as_str(), &m.data), ("roomchat", "ann", &data));
        }
        other => panic!("bob got {other:?}"),
    }
    match next_event(&mut carl, "carl's hint") {
        Event::RoomPluginInUse(hint) => assert_eq!(hint.plugin, "roomchat"),
        other => panic!("carl got {other:?}"),
    }
    // A second message: Bob hears it, Carl hears nothing more, nor does Ann
    // her own; the next thing each sees is the room chat after it.
    bob.call(send(&json!("second"))).unwrap();
    ann.call(ChatSend { scope: ChatScope::Room, text: "after".into() }).unwrap();
    match next_event(&mut ann, "ann's next event") {
        Event::PluginMessage(m) => {
            assert_eq!((m.from.as_str(), &m.data), ("bob", &json!("second")))
        }
        other => panic!("ann got {other:?}"),
    }
    for member in [&mut ann, &mut carl] {
        match next_event(member, "the chat after") {
            Event::Chat(chat) => assert_eq!(chat.text, "after"),
            other => panic!("expected the chat, got {other:?}"),
        }
    }
    // Dave, outside the room, got none of it.
    dave.call(ChatSend { scope: ChatScope::Lobby, text: "lobby".into() }).unwrap();
    match next_event(&mut dave, "dave's first event") {
        Event::Chat(chat) => assert_eq!(chat.text, "lobby"),
        other => panic!("dave got {other:?}"),
    }

    // Size: 4 KiB of JSON at most.
    let big = json!("x".repeat(5000));
    assert_eq!(code(ann.call(send(&big))), ErrorCode::InvalidMessage);
    // Rate: 20 per 10 s (three were sent already).
    let mut limited = None;
    for i in 0..25 {
        if let Err(e) = ann.call(send(&json!(i))) {
            limited = Some((i, e));
            break;
        }
    }
    let (at, error) = limited.expect("a flood is rate limited");
    assert_eq!(error.code, ErrorCode::RateLimited);
    assert!(at <= 20, "limited after {at} more");

    // After leaving, announcements are forgotten.
    bob.call(RoomLeave {}).unwrap();
    bob.call(RoomJoin { room }).unwrap();
    assert_eq!(code(bob.call(send(&data))), ErrorCode::PluginNotAnnounced);
}

/// Opens the lobby menu and creates a room for the only game.
fn create_room(screen: &Screen, user: &str) {
    screen.wait_for_prompt(&format!("main menu ({user})>"));
    screen.line("3");
    screen.wait_for_prompt("lobby>");
    screen.line("3");
    screen.wait_for_prompt("create a room for>");
    screen.line("1");
}

/// Opens the lobby menu and joins the first room listed.
fn join_room(screen: &Screen, user: &str) {
    screen.wait_for_prompt(&format!("main menu ({user})>"));
    screen.line("3");
    screen.wait_for_prompt("lobby>");
    screen.line("2");
    screen.wait_for_prompt("join a room>");
    screen.line("1");
}

#[test]
fn members_with_the_room_chat_plugin_talk_beside_one_without_and_all_play() {
    let w = world();
    w.publish(&game_package("test"));
    w.publish(&game_package("roomchat"));
    let ann = w.player("ann");
    ann.run(&["plugin", "install", "roomchat"]).ok();
    w.player("bob");
    w.player("carl");
    let home = |name: &str| w.tmp.path().join(name);

    // Bob installs it from the menu's Plugins screen.
    let bob = player_menu(&w.lobby, &home("bob"), "bob");
    bob.wait_for_prompt("main menu (bob)>");
    bob.line("6");
    bob.wait_for("not installed");
    bob.wait_for_prompt("which plugin>");
    bob.line("1");
    bob.wait_for("status: not installed");
    bob.wait_for_prompt("plugin roomchat>");
    bob.line("1");
    bob.wait_for("installed plugin roomchat 1.0.0");
    bob.wait_for_prompt("which plugin>");
    bob.line("0");

    let ann = player_menu(&w.lobby, &home("ann"), "ann");
    create_room(&ann, "ann");
    ann.wait_for("[chat+] Room chat+: type /p <text>");
    ann.wait_for("[chat+] chat+ is on; here: ann");
    ann.wait_for_prompt("room 1>");
    join_room(&bob, "bob");
    bob.wait_for("[chat+] chat+ is on; here: ann, bob");
    bob.wait_for_prompt("room 1>");
    let carl = player_menu(&w.lobby, &home("carl"), "carl");
    join_room(&carl, "carl");
    carl.wait_for_prompt("room 1>");
    ann.wait_for("[chat+] here now: ann, bob, carl");

    // PL3: the panel's messages reach Bob, not Carl, who gets one hint.
    ann.line("/p hi plugin people");
    ann.wait_for("[chat+] ann: hi plugin people");
    bob.wait_for("[chat+] ann: hi plugin people");
    bob.line("/p hi ann");
    ann.wait_for("[chat+] bob: hi ann");
    bob.wait_for("[chat+] bob: hi ann");
    carl.wait_for("others in this room use the plugin roomchat");
    // The built-in chat is unchanged for everyone.
    carl.line("plain chat");
    for screen in [&ann, &bob, &carl] {
        screen.wait_for("[room 1] carl: plain chat");
    }
    let carl_text = carl.text();
    assert!(
        !carl_text.contains("hi plugin people") && !carl_text.contains("hi ann"),
        "{carl_text}"
    );
    assert_eq!(carl_text.matches("use the plugin roomchat").count(), 1, "{carl_text}");
    assert!(!carl_text.contains("error"), "{carl_text}");
    assert!(!ann.text().contains("[room 1] ann: /p"), "/p is not room chat");

    // PL4: a host with the plugin starts; all play and come back.
    ann.line("s");
    for screen in [&ann, &bob, &carl] {
        screen.wait_for("your game client finished");
        screen.wait_for("back in the room. ");
        screen.wait_for_prompt("room 1>");
    }
    bob.line("/p after the match");
    ann.wait_for("[chat+] bob: after the match");

    // And the other way round: the host without the plugin starts.
    ann.line("l");
    ann.wait_for("you left room 1");
    bob.wait_for("ann left the room");
    bob.line("l");
    bob.wait_for("you left room 1");
    carl.wait_for("carl is now the host");
    bob.wait_for_prompt("lobby>");
    bob.line("0");
    join_room(&bob, "bob");
    bob.wait_for("[chat+] chat+ is on; here: carl, bob");
    carl.line("s");
    for screen in [&bob, &carl] {
        screen.wait_for_times("your game client finished", 2);
        screen.wait_for_times("back in the room. ", 2);
        screen.wait_for_prompt("room 1>");
    }
    bob.line("/p still here");
    bob.wait_for("[chat+] bob: still here");
    carl.line("gg");
    bob.wait_for("[room 1] carl: gg");
    let carl_text = carl.text();
    assert!(!carl_text.contains("still here") && !carl_text.contains("stopped"), "{carl_text}");
}

#[test]
fn crashing_hanging_flooding_and_garbled_plugins_are_stopped_and_the_room_goes_on() {
    let w = world();
    w.publish(&game_package("test"));
    let ready = "for m in lines():\n    if m['type'] == 'hello':\n        out({'type': 'ready'})\n        break\n";
    let plugins = [
        ("crash", format!("{ready}sys.exit(3)")),
        ("hang", "import time\ntime.sleep(600)".to_owned()),
        ("flood", format!("{ready}while True:\n    out({{'type': 'show', 'text': 'flood'}})")),
        (
            "garbage",
            format!("{ready}print('this is not json', flush=True)\nimport time\ntime.sleep(600)"),
        ),
        ("echo", echo_body("1")),
    ];
    let ann_cli = w.player("ann");
    for (id, body) in &plugins {
        w.publish(&python_plugin(w.tmp.path(), id, "1.0.0", body));
        ann_cli.run(&["plugin", "install", id]).ok();
    }

    let ann = player_menu(&w.lobby, &w.tmp.path().join("ann"), "ann");
    create_room(&ann, "ann");
    ann.wait_for("plugin crash stopped: it exited with code 3");
    ann.wait_for("plugin flood stopped: it wrote more than 20 lines a second");
    ann.wait_for("plugin garbage stopped: it wrote something that is not a JSON object");
    ann.wait_for("plugin hang stopped: it did not answer hello within 5 s");
    ann.wait_for_prompt("room 1>");

    // The well-behaved plugin, the chat and the match all still work.
    ann.line("/p echo hello");
    ann.wait_for("[echo] echo 1: hello");
    ann.line("still fine");
    ann.wait_for("[room 1] ann: still fine");
    ann.line("s");
    ann.wait_for("your game client finished");
    ann.wait_for("back in the room. ");
    ann.wait_for_prompt("room 1>");
    let text = ann.text();
    for id in ["crash", "hang", "flood", "garbage"] {
        assert_eq!(text.matches(&format!("plugin {id} stopped")).count(), 1, "{id}: {text}");
    }
    assert!(!text.contains("plugin echo stopped"), "{text}");
}

#[test]
fn a_plugin_cannot_read_the_players_files_or_reach_the_network() {
    let w = world();
    w.publish(&game_package("test"));
    let session = w.tmp.path().join("ann/session-player.json");
    let port = w.lobby.addr.port();
    let body = format!(
        "import socket\n\
         for m in lines():\n    \
         if m['type'] == 'hello':\n        \
         out({{'type': 'ready'}})\n        \
         try:\n            open({session:?}).read(); out({{'type': 'show', 'text': 'read: ok'}})\n        \
         except OSError: out({{'type': 'show', 'text': 'read: denied'}})\n        \
         try:\n            socket.create_connection(('127.0.0.1', {port}), timeout=3); out({{'type': 'show', 'text': 'connect: ok'}})\n        \
         except OSError: out({{'type': 'show', 'text': 'connect: denied'}})\n        \
         out({{'type': 'show', 'text': 'probe done'}})",
        session = session.to_str().unwrap(),
    );
    w.publish(&python_plugin(w.tmp.path(), "probe", "1.0.0", &body));
    let ann_cli = w.player("ann");
    ann_cli.run(&["plugin", "install", "probe"]).ok();
    assert!(session.exists(), "the session file is there to be read");

    let ann = player_menu(&w.lobby, &w.tmp.path().join("ann"), "ann");
    create_room(&ann, "ann");
    ann.wait_for("[probe] probe done");
    let text = ann.text();
    assert!(text.contains("[probe] read: denied"), "{text}");
    assert!(text.contains("[probe] connect: denied"), "{text}");
}

#[test]
fn the_python_dice_plugin_rolls_for_the_members_who_run_it() {
    let w = world();
    w.publish(&game_package("test"));
    w.publish(&game_package("dice"));
    for name in ["ann", "bob"] {
        w.player(name).run(&["plugin", "install", "dice"]).ok();
    }
    let ann = player_menu(&w.lobby, &w.tmp.path().join("ann"), "ann");
    create_room(&ann, "ann");
    ann.wait_for("[dice] Dice: type /p <text>");
    ann.wait_for_prompt("room 1>");
    let bob = player_menu(&w.lobby, &w.tmp.path().join("bob"), "bob");
    join_room(&bob, "bob");
    bob.wait_for_prompt("room 1>");
    ann.wait_for("bob joined the room");

    ann.line("/p roll 3d6");
    ann.wait_for("[dice] ann rolled ");
    bob.wait_for("[dice] ann rolled ");
    bob.line("/p flip");
    bob.wait_for("[dice] usage: /p roll or /p roll NdM");
    // The same roll on both screens.
    let line = |screen: &Screen| {
        let text = screen.text();
        text.lines().find(|l| l.contains("[dice] ann rolled ")).unwrap().trim().to_owned()
    };
    let seen = line(&ann);
    assert!(seen.ends_with(", d6)"), "{seen}");
    assert!(line(&bob).ends_with(seen.split("] ").nth(1).unwrap()), "{seen}");
}

/// The text of every `plugin_line` a launcher printed.
fn panel_lines(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "plugin_line")
        .map(|v| v["data"]["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn events_named(lines: &[String], kind: &str) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == kind)
        .map(|v| v["data"].clone())
        .collect()
}

/// Waits for the panel line `text` of the room chat plugin.
#[track_caller]
fn expect_panel(launcher: &mut Launcher, text: &str) {
    launcher.expect_where("plugin_line", |d| d["prefix"] == "chat+" && d["text"] == text);
}

#[track_caller]
fn finishes_the_match(launcher: &mut Launcher) -> Vec<String> {
    let (status, lines) = launcher.finish();
    assert!(status.success(), "{status}:\n{}", lines.join("\n"));
    let ended = events_named(&lines, "match_ended");
    assert_eq!(ended.len(), 1, "{lines:?}");
    assert_eq!(ended[0]["outcome"], "completed", "{lines:?}");
    lines
}

#[test]
fn subcommand_players_with_the_room_chat_plugin_talk_beside_ones_without_and_all_play() {
    let w = world();
    w.publish(&game_package("test"));
    w.publish(&game_package("roomchat"));
    let (ann, bob) = (w.player("ann"), w.player("bob"));
    for cli in [&ann, &bob] {
        cli.run(&["plugin", "install", "roomchat"]).ok();
    }
    let (carl, dave) = (w.player("carl"), w.player("dave"));

    // PL3 through `play` and `join`: `/p` on standard input reaches the
    // panel of every member who runs the plugin.
    let mut ann = Launcher::with_stdin(&ann, &["play", "test", "--json", "--start-when", "4"]);
    let room = ann.expect("room")["id"].as_u64().unwrap().to_string();
    expect_panel(&mut ann, "chat+ is on; here: ann");
    let mut bob = Launcher::with_stdin(&bob, &["join", &room, "--json"]);
    expect_panel(&mut bob, "chat+ is on; here: ann, bob");
    let mut carl = Launcher::with_stdin(&carl, &["join", &room, "--json"]);
    carl.expect("room");
    expect_panel(&mut ann, "here now: ann, bob, carl");

    ann.type_line("/p hi plugin people");
    expect_panel(&mut ann, "ann: hi plugin people");
    expect_panel(&mut bob, "ann: hi plugin people");
    bob.type_line("/p hi ann");
    expect_panel(&mut ann, "bob: hi ann");
    // PL4: Carl, without it, hears of it once, and nothing else of it.
    assert_eq!(carl.expect("plugin_in_use")["plugin"], "roomchat");
    carl.type_line("/p can I join in?");

    // The fourth member starts the match (the host's --start-when 4).
    let mut dave = Launcher::start(&dave, &["join", &room, "--json"]);
    let ann_lines = finishes_the_match(&mut ann);
    let bob_lines = finishes_the_match(&mut bob);
    let carl_lines = finishes_the_match(&mut carl);
    finishes_the_match(&mut dave);
    assert!(panel_lines(&ann_lines).contains(&"bob: hi ann".to_owned()));
    assert!(panel_lines(&bob_lines).contains(&"ann: hi plugin people".to_owned()));
    assert!(panel_lines(&carl_lines).is_empty(), "{carl_lines:?}");
    assert_eq!(events_named(&carl_lines, "plugin_in_use").len(), 1, "{carl_lines:?}");
    let carl_text = carl_lines.join("\n");
    assert!(
        !carl_text.contains("hi plugin people") && !carl_text.contains("hi ann"),
        "{carl_text}"
    );
    assert!(!carl_text.contains("error"), "{carl_text}");
    let everyone = [&ann_lines, &bob_lines].map(|l| l.join("\n")).join("\n");
    assert!(!everyone.contains("can I join in"), "a player without plugins reads no /p lines");
    assert!(!everyone.contains("plugin_stopped"), "{everyone}");
}

#[test]
fn a_host_without_the_plugin_plays_with_members_who_run_it_or_turn_it_off() {
    let w = world();
    w.publish(&game_package("test"));
    w.publish(&game_package("roomchat"));
    let carl = w.player("carl");
    let (ann, bob) = (w.player("ann"), w.player("bob"));
    for cli in [&ann, &bob] {
        cli.run(&["plugin", "install", "roomchat"]).ok();
    }

    let mut carl = Launcher::start(&carl, &["play", "test", "--json", "--start-when", "3"]);
    let room = carl.expect("room")["id"].as_u64().unwrap().to_string();
    let mut ann = Launcher::with_stdin(&ann, &["join", &room, "--json"]);
    expect_panel(&mut ann, "chat+ is on; here: carl, ann");
    ann.type_line("/p anyone else?");
    expect_panel(&mut ann, "ann: anyone else?");
    carl.expect("plugin_in_use");
    // Bob has it installed but plays without it; his arrival starts the match.
    let mut bob = Launcher::with_stdin(&bob, &["join", &room, "--json", "--no-plugins"]);
    let carl_lines = finishes_the_match(&mut carl);
    let ann_lines = finishes_the_match(&mut ann);
    let bob_lines = finishes_the_match(&mut bob);
    assert!(panel_lines(&ann_lines).contains(&"here now: carl, ann, bob".to_owned()));
    assert!(panel_lines(&bob_lines).is_empty(), "{bob_lines:?}");
    assert!(panel_lines(&carl_lines).is_empty(), "{carl_lines:?}");
    assert!(!carl_lines.join("\n").contains("anyone else"), "{carl_lines:?}");
}

#[test]
fn a_crashing_or_flooding_plugin_under_play_is_stopped_in_one_line_and_the_match_goes_on() {
    let w = world();
    w.publish(&game_package("test"));
    let ready = "for m in lines():\n    if m['type'] == 'hello':\n        out({'type': 'ready'})\n        break\n";
    let plugins = [
        ("crash", format!("{ready}sys.exit(3)")),
        ("flood", format!("{ready}while True:\n    out({{'type': 'show', 'text': 'flood'}})")),
        ("echo", echo_body("1")),
    ];
    let ann = w.player("ann");
    for (id, body) in &plugins {
        w.publish(&python_plugin(w.tmp.path(), id, "1.0.0", body));
        ann.run(&["plugin", "install", id]).ok();
    }
    let bob = w.player("bob");

    let mut ann = Launcher::with_stdin(&ann, &["play", "test", "--json", "--start-when", "2"]);
    let room = ann.expect("room")["id"].as_u64().unwrap().to_string();
    // Either may be stopped first.
    let mut why: Vec<(String, String)> = (0..2)
        .map(|_| ann.expect("plugin_stopped"))
        .map(|d| (d["plugin"].as_str().unwrap().to_owned(), d["why"].as_str().unwrap().to_owned()))
        .collect();
    why.sort();
    assert_eq!(
        why,
        [
            ("crash".to_owned(), "it exited with code 3".to_owned()),
            ("flood".to_owned(), "it wrote more than 20 lines a second".to_owned())
        ]
    );
    ann.type_line("/p echo hello");
    ann.expect_where("plugin_line", |d| d["plugin"] == "echo" && d["text"] == "echo 1: hello");

    let mut bob = Launcher::start(&bob, &["join", &room, "--json"]);
    let ann_lines = finishes_the_match(&mut ann);
    finishes_the_match(&mut bob);
    let stopped = events_named(&ann_lines, "plugin_stopped");
    assert_eq!(stopped.len(), 2, "each stopped plugin is reported once: {ann_lines:?}");
    assert!(stopped.iter().all(|d| d["plugin"] != "echo"), "{ann_lines:?}");
}
