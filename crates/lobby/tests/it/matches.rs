//! Rooms, chat and matches (flow P3, seed §3C): the Game Manager spawns the
//! game server, every launcher spawns its game client, which connects to it
//! directly. Played with the sample `test` game and variants of it.

use std::collections::BTreeSet;
use std::thread;

use gamestore_protocol::{
    ChatScope, ChatSend, ErrorCode, Event, GameStartNotify, Login, MatchOutcome, QuickPlay,
    RoomCreate, RoomEventKind, RoomJoin, RoomState,
};
use gamestore_testkit::{Cli, Output, RawConn, game_package, game_variant};
use serde_json::Value;

use crate::world::{PASSWORD, World, events_of, player, publish, raw_player, world_with};

/// Runs the commands at the same time and returns their outputs in order.
fn run_together(runs: Vec<(Cli, Vec<String>)>) -> Vec<Output> {
    let handles: Vec<_> = runs
        .into_iter()
        .map(|(cli, args)| {
            thread::spawn(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                cli.run(&args)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn two_players_play_a_match_through_the_lobby() {
    let w = world_with(&[]);
    publish(&w, &game_package("test"));
    let ann = player(&w, "ann");
    let bob = player(&w, "bob");

    let play = args(&["play", "test", "--start-when", "2", "--json"]);
    let outs = run_together(vec![(ann.clone(), play.clone()), (bob.clone(), play)]);
    for out in &outs {
        out.ok();
    }
    // Both got the same GAME_START, and the match completed.
    let starts: Vec<Value> = outs.iter().map(|o| events_of(o, "game_start")[0].clone()).collect();
    assert_eq!(starts[0]["port"], starts[1]["port"]);
    assert_eq!(starts[0]["host"], "127.0.0.1");
    let ended = events_of(&outs[0], "match_ended");
    assert_eq!(ended[0]["outcome"], "completed", "{}", outs[0]);
    // The game client really talked to the game server (its own output).
    assert!(
        outs[0].stdout.contains("greeted") && outs[1].stdout.contains("greeted"),
        "{}",
        outs[0]
    );

    // The match is in both histories.
    for cli in [&ann, &bob] {
        let history = cli.run(&["history", "--json"]).ok().json();
        assert_eq!(history.as_array().unwrap().len(), 1);
        assert_eq!(history[0]["game"], "test");
        assert_eq!(history[0]["outcome"], "completed");
        let players: BTreeSet<&str> =
            history[0]["players"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
        assert_eq!(players, BTreeSet::from(["ann", "bob"]));
    }
    // The port is free again and the room is gone with its players.
    let port = starts[0]["port"].as_u64().unwrap() as u16;
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("game port released");
    assert!(ann.run(&["rooms", "--json"]).ok().json().as_array().unwrap().is_empty());
}

#[test]
fn three_rooms_play_at_once_on_different_ports() {
    let w = world_with(&[]);
    let duel = game_variant(w.tmp.path(), "test", |m| {
        m["id"] = "duel".into();
        m["min_players"] = 2.into();
        m["max_players"] = 2.into();
    });
    publish(&w, &duel);
    let runs: Vec<(Cli, Vec<String>)> = (0..6)
        .map(|i| {
            (player(&w, &format!("p{i}")), args(&["play", "duel", "--start-when", "2", "--json"]))
        })
        .collect();
    let outs = run_together(runs);
    let mut ports = BTreeSet::new();
    let mut matches = BTreeSet::new();
    for out in &outs {
        out.ok();
        let start = &events_of(out, "game_start")[0];
        ports.insert(start["port"].as_u64().unwrap());
        matches.insert(start["match_id"].as_i64().unwrap());
    }
    assert_eq!(matches.len(), 3, "three matches");
    assert_eq!(ports.len(), 3, "on three ports");
}

/// A variant of `test` whose server misbehaves with `fault`, waiting for
/// exactly one player whatever the room's size.
fn faulty(w: &World, id: &str, fault: &str) -> std::path::PathBuf {
    game_variant(w.tmp.path(), "test", |m| {
        m["id"] = id.into();
        let command = m["server"]["command"].as_array_mut().unwrap();
        for arg in command.iter_mut() {
            if arg == "{players}" {
                *arg = "1".into();
            }
        }
        command.push("--fault".into());
        command.push(fault.into());
    })
}

/// The host (a raw connection) makes a room for `game`; a CLI player joins
/// it and runs the game client; the host starts. Returns the MATCH_ENDED
/// outcome and message, and the joining player's output. Checks the room
/// is waiting again afterwards.
fn play_faulty_match(
    w: &World,
    game: &str,
    with_client: bool,
) -> (MatchOutcome, String, Option<Output>) {
    let mut host = raw_player(w, &format!("host-{game}"));
    let room: Value = host.call(RoomCreate { game: game.into() }).unwrap();
    let room_id = room["id"].as_u64().unwrap();
    let joiner = with_client.then(|| {
        let cli = player(w, &format!("guest-{game}"));
        let handle = thread::spawn(move || cli.run(&["join", &room_id.to_string()]));
        host.expect_event("the guest joining", |e| match e {
            Event::RoomUpdate(u)
                if u.event == RoomEventKind::Joined && u.room.members.len() == 2 =>
            {
                Some(())
            }
            _ => None,
        });
        handle
    });
    host.call(GameStartNotify {}).unwrap();
    let (outcome, message) = host.expect_event("MATCH_ENDED", |e| match e {
        Event::MatchEnded(m) => Some((m.outcome, m.message.clone())),
        _ => None,
    });
    let state = host.expect_event("the room waiting again", |e| match e {
        Event::RoomUpdate(u) if u.event == RoomEventKind::Ended => Some(u.room.state),
        _ => None,
    });
    assert_eq!(state, RoomState::Waiting);
    (outcome, message, joiner.map(|h| h.join().unwrap()))
}

#[test]
fn failing_game_servers_are_reported_and_the_room_recovers() {
    let w = world_with(&["--game-start-timeout", "2", "--max-match-secs", "3"]);
    for (id, fault) in [("crasher", "crash"), ("mute", "no-listen"), ("stuck", "hang")] {
        publish(&w, &faulty(&w, id, fault));
    }

    let (outcome, message, out) = play_faulty_match(&w, "crasher", true);
    assert_eq!(outcome, MatchOutcome::Failed, "{message}");
    assert!(message.contains("exit code 3"), "{message}");
    assert_play_failed(&out.unwrap(), "failed");

    let (outcome, message, _) = play_faulty_match(&w, "mute", false);
    assert_eq!(outcome, MatchOutcome::NeverStarted, "{message}");
    assert!(message.contains("did not accept connections"), "{message}");

    let (outcome, message, out) = play_faulty_match(&w, "stuck", true);
    assert_eq!(outcome, MatchOutcome::Timeout, "{message}");
    assert_play_failed(&out.unwrap(), "timeout");

    // A CLI player whose match never starts gets a clear error too.
    let solo = player(&w, "solo");
    solo.run(&["play", "mute"]).fails_with("could not start");
}

/// `play`/`join` failed, and its last stderr line is its own `error:` line
/// naming `what` (the game client's output shares stderr before it).
#[track_caller]
fn assert_play_failed(out: &Output, what: &str) {
    assert!(!out.success(), "{out}");
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: ") && last.contains(what), "{out}");
}

#[test]
fn room_refusals_have_codes() {
    let w = world_with(&[]);
    let duel = game_variant(w.tmp.path(), "test", |m| {
        m["id"] = "duel".into();
        m["min_players"] = 2.into();
        m["max_players"] = 2.into();
    });
    publish(&w, &duel);
    let mut ann = raw_player(&w, "ann");
    let mut bob = raw_player(&w, "bob");
    let mut cat = raw_player(&w, "cat");

    assert_eq!(ann.call(RoomJoin { room: 999 }).unwrap_err().code, ErrorCode::RoomNotFound);
    assert_eq!(
        ann.call(RoomCreate { game: "nope".into() }).unwrap_err().code,
        ErrorCode::GameNotFound
    );
    let room: Value = ann.call(RoomCreate { game: "duel".into() }).unwrap();
    let id = room["id"].as_u64().unwrap();
    assert_eq!(
        ann.call(RoomCreate { game: "duel".into() }).unwrap_err().code,
        ErrorCode::AlreadyInRoom
    );
    // Starting alone: the game needs two.
    assert_eq!(ann.call(GameStartNotify {}).unwrap_err().code, ErrorCode::NotEnoughPlayers);
    bob.call(RoomJoin { room: id }).unwrap();
    assert_eq!(cat.call(RoomJoin { room: id }).unwrap_err().code, ErrorCode::RoomFull);
    assert_eq!(bob.call(GameStartNotify {}).unwrap_err().code, ErrorCode::NotHost);
    assert_eq!(cat.call(GameStartNotify {}).unwrap_err().code, ErrorCode::NotInRoom);

    // The host leaves: bob becomes host.
    ann.call(gamestore_protocol::RoomLeave {}).unwrap();
    let host = bob.expect_event("host change", |e| match e {
        Event::RoomUpdate(u) if u.event == RoomEventKind::HostChanged => Some(u.room.host.clone()),
        _ => None,
    });
    assert_eq!(host, "bob");

    // A delisted game: no new rooms, no quick play.
    w.dev.run(&["delist", "duel"]).ok();
    assert_eq!(
        cat.call(RoomCreate { game: "duel".into() }).unwrap_err().code,
        ErrorCode::GameDelisted
    );
    assert_eq!(
        cat.call(QuickPlay { game: "duel".into() }).unwrap_err().code,
        ErrorCode::GameDelisted
    );
    let dev_home = w.tmp.path().join("cat-cli");
    let cat_cli = Cli::player(&w.lobby, &dev_home);
    cat_cli.sign_up("cat2", PASSWORD);
    cat_cli.run(&["play", "duel"]).fails_with("GAME_DELISTED");
}

#[test]
fn chat_reaches_room_members_and_the_lobby_in_order() {
    let w = world_with(&[]);
    publish(&w, &game_package("test"));
    let mut ann = raw_player(&w, "ann");
    let mut bob = raw_player(&w, "bob");
    let mut cat = raw_player(&w, "cat");
    let room: Value = ann.call(RoomCreate { game: "test".into() }).unwrap();
    bob.call(RoomJoin { room: room["id"].as_u64().unwrap() }).unwrap();

    for i in 0..5 {
        ann.call(ChatSend { scope: ChatScope::Room, text: format!("room {i}") }).unwrap();
    }
    bob.call(ChatSend { scope: ChatScope::Lobby, text: "hello lobby".into() }).unwrap();
    for i in 0..5 {
        let text = bob.expect_event("room chat", |e| match e {
            Event::Chat(c) if c.scope == ChatScope::Room => Some(c.text.clone()),
            _ => None,
        });
        assert_eq!(text, format!("room {i}"));
    }
    // Cat is not in the room: it sees only the lobby message.
    let (from, text) = cat.expect_event("lobby chat", |e| match e {
        Event::Chat(c) => Some((c.from.clone(), c.text.clone())),
        _ => None,
    });
    assert_eq!((from.as_str(), text.as_str()), ("bob", "hello lobby"));

    // Limits.
    let long = "x".repeat(501);
    assert_eq!(
        cat.call(ChatSend { scope: ChatScope::Lobby, text: long }).unwrap_err().code,
        ErrorCode::InvalidMessage
    );
    assert_eq!(
        cat.call(ChatSend { scope: ChatScope::Lobby, text: "a\u{7}b".into() }).unwrap_err().code,
        ErrorCode::InvalidMessage
    );
    assert_eq!(
        cat.call(ChatSend { scope: ChatScope::Room, text: "hi".into() }).unwrap_err().code,
        ErrorCode::NotInRoom
    );
    let mut limited = false;
    for i in 0..20 {
        if let Err(e) = cat.call(ChatSend { scope: ChatScope::Lobby, text: format!("spam {i}") }) {
            assert_eq!(e.code, ErrorCode::RateLimited);
            limited = true;
            break;
        }
    }
    assert!(limited, "20 messages in a row were not rate limited");
}

#[test]
fn presence_shows_what_players_do() {
    let w = world_with(&[]);
    publish(&w, &game_package("test"));
    let mut ann = raw_player(&w, "ann");
    let _bob = raw_player(&w, "bob");
    let room: Value = ann.call(RoomCreate { game: "test".into() }).unwrap();
    let watcher = player(&w, "watcher");
    let online = watcher.run(&["online", "--json"]).ok().json();
    let find = |name: &str| {
        online.as_array().unwrap().iter().find(|p| p["name"] == name).cloned().unwrap()
    };
    assert_eq!(find("ann")["activity"]["state"], "in_room");
    assert_eq!(find("ann")["activity"]["room"], room["id"]);
    assert_eq!(find("bob")["activity"]["state"], "idle");
    let rooms = watcher.run(&["rooms", "--json"]).ok().json();
    assert_eq!(rooms[0]["host"], "ann");
    assert_eq!(rooms[0]["state"], "waiting");
    assert_eq!(rooms[0]["version"], "1.0.0");
}

/// A host alone in a room for `test`, started: the server waits for a
/// player who never comes. Returns the connection and the server's port.
fn lonely_match(w: &World, name: &str) -> (RawConn, u16) {
    let mut host = raw_player(w, name);
    host.call(RoomCreate { game: "test".into() }).unwrap();
    host.call(GameStartNotify {}).unwrap();
    let port = host.expect_event("GAME_START", |e| match e {
        Event::GameStart(s) => Some(s.port),
        _ => None,
    });
    (host, port)
}

fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

#[test]
fn a_lobby_killed_mid_match_takes_its_game_servers_along() {
    let mut w = world_with(&[]);
    publish(&w, &game_package("test"));
    let (_host, port) = lonely_match(&w, "ann");
    assert!(!port_is_free(port), "the game server listens");
    w.lobby.kill9();
    gamestore_testkit::wait_until("the orphaned game server to die", || port_is_free(port));

    w.lobby.restart();
    let mut ann = RawConn::hello(w.lobby.addr);
    ann.call(Login::new("ann", PASSWORD)).unwrap();
    let history = ann.call(gamestore_protocol::MatchHistory { limit: 10, cursor: None }).unwrap();
    assert_eq!(history["matches"][0]["outcome"], "aborted", "{history}");
}

#[test]
fn sigterm_mid_match_stops_and_records_it() {
    let mut w = world_with(&[]);
    publish(&w, &game_package("test"));
    let (mut host, port) = lonely_match(&w, "ann");
    let status = w.lobby.terminate();
    assert!(status.success(), "{status}\n{}", w.lobby.log());
    let outcome = host.expect_event("MATCH_ENDED", |e| match e {
        Event::MatchEnded(m) => Some(m.outcome),
        _ => None,
    });
    assert_eq!(outcome, MatchOutcome::Aborted);
    assert!(port_is_free(port), "the game server is gone once the lobby has exited");
}

#[test]
fn a_member_who_disconnects_is_reconnecting_then_leaves_after_the_grace_period() {
    let w = world_with(&["--seat-grace", "1"]);
    publish(&w, &game_package("test"));
    let mut ann = raw_player(&w, "ann");
    let room: Value = ann.call(RoomCreate { game: "test".into() }).unwrap();
    let mut bob = raw_player(&w, "bob");
    bob.call(RoomJoin { room: room["id"].as_u64().unwrap() }).unwrap();
    drop(ann);
    let (members, reconnecting) = bob.expect_event("ann reconnecting", |e| match e {
        Event::RoomUpdate(u) if u.event == RoomEventKind::Reconnecting => {
            Some((u.room.members.clone(), u.room.reconnecting.clone()))
        }
        _ => None,
    });
    assert_eq!((members, reconnecting), (vec!["ann".into(), "bob".into()], vec!["ann".into()]));
    let (event, host, members) = bob.expect_event("ann leaving", |e| match e {
        Event::RoomUpdate(u) if u.event == RoomEventKind::HostChanged => {
            Some((u.event, u.room.host.clone(), u.room.members.clone()))
        }
        _ => None,
    });
    assert_eq!(
        (event, host.as_str(), members),
        (RoomEventKind::HostChanged, "bob", vec!["bob".to_owned()])
    );
}

/// A game server that reports what it can see of the lobby's machine
/// (no braces: they are placeholders in a manifest).
const SNOOP: &str = r#"
import json, os, resource, socket, sys
port, data_dir = int(sys.argv[1]), sys.argv[2]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen()
s.accept()[0].close()  # the lobby's readiness probe
open("scratch.txt", "w").write("the working folder is writable")
report = dict(
    saw_db=os.path.exists(os.path.join(data_dir, "lobby.db")),
    data_dir_entries=sorted(os.listdir(data_dir)) if os.path.isdir(data_dir) else None,
    core_limit=resource.getrlimit(resource.RLIMIT_CORE)[0],
    summary="snooped",
)
tmp = os.environ["GAMESTORE_RESULT_FILE"] + ".tmp"
json.dump(report, open(tmp, "w")); os.rename(tmp, os.environ["GAMESTORE_RESULT_FILE"])
"#;

#[test]
fn game_servers_run_sandboxed_without_the_lobby_data() {
    let w = world_with(&["--sandbox", "on"]);
    let data_dir = w.lobby.data_dir().canonicalize().unwrap();
    let snoop = game_variant(w.tmp.path(), "test", |m| {
        m["id"] = "snoop".into();
        m["server"]["command"] = serde_json::json!([
            "/usr/bin/python3",
            "-c",
            SNOOP,
            "{port}",
            data_dir.to_str().unwrap()
        ]);
    });
    publish(&w, &snoop);
    let mut host = raw_player(&w, "ann");
    host.call(RoomCreate { game: "snoop".into() }).unwrap();
    host.call(GameStartNotify {}).unwrap();
    let ended = host.expect_event("MATCH_ENDED", |e| match e {
        Event::MatchEnded(m) => Some(m.clone()),
        _ => None,
    });
    assert_eq!(ended.outcome, MatchOutcome::Completed, "{}", ended.message);
    let report = ended.result.expect("result file");
    assert_eq!(report["saw_db"], false, "{report}");
    assert_eq!(report["core_limit"], 0, "{report}");
    // Only its own working folder and its package show through.
    let entries: Vec<&str> = report["data_dir_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(entries.iter().all(|e| ["games", "matches"].contains(e)), "{report}");
    assert!(data_dir.join(format!("matches/{}/scratch.txt", ended.match_id)).exists());
}

#[test]
fn a_game_made_from_the_cli_template_builds_publishes_and_plays() {
    let w = world_with(&[]);
    let dir = w.tmp.path().join("tictac");
    w.dev.run(&["new", dir.to_str().unwrap(), "--template", "cli", "--name", "Tic Tac"]).ok();
    // Before building, the only problems are the programs still to be built.
    let out = w.dev.run(&["validate", dir.to_str().unwrap()]);
    out.fails_with("2 problems");
    assert!(
        out.stdout.contains("server.command[0]") && out.stdout.contains("client.command[0]"),
        "{out}"
    );
    // Build as its README says (sharing a target folder across test runs).
    let target = gamestore_testkit::workspace_root().join("target/template-build");
    let status = std::process::Command::new(dir.join("package.sh"))
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .unwrap();
    assert!(status.success());
    w.dev.run(&["validate", dir.to_str().unwrap()]).ok();
    publish(&w, &dir);
    let info = w.dev.run(&["games", "--json"]).ok().json();
    assert_eq!(
        (info[0]["id"].as_str(), info[0]["name"].as_str()),
        (Some("tictac"), Some("Tic Tac"))
    );

    let play = args(&["play", "tictac", "--start-when", "2", "--json"]);
    let outs = run_together(vec![(player(&w, "ann"), play.clone()), (player(&w, "bob"), play)]);
    for out in &outs {
        out.ok();
        assert_eq!(events_of(out, "match_ended")[0]["outcome"], "completed", "{out}");
    }
    // An existing folder is not overwritten.
    w.dev.run(&["new", dir.to_str().unwrap(), "--template", "gui"]).fails_with("not empty");
}

#[test]
fn every_sample_game_plays_a_bot_match_through_the_lobby() {
    let w = world_with(&[]);
    // (game, players, extra server flags that shorten a match)
    let games: [(&str, usize, &[&str]); 3] = [
        ("connect4", 2, &[]),
        ("pong", 2, &["--points", "1", "--tick-hz", "240"]),
        ("arena", 3, &["--rounds", "1", "--tick-hz", "120"]),
    ];
    for (id, players, fast) in games {
        let package = game_variant(w.tmp.path(), id, |m| {
            let command = m["server"]["command"].as_array_mut().unwrap();
            command.extend(fast.iter().map(|f| Value::from(*f)));
        });
        w.dev.run(&["validate", package.to_str().unwrap()]).ok();
        publish(&w, &package);
        let n = players.to_string();
        let runs = (0..players)
            .map(|i| {
                (player(&w, &format!("{id}{i}")), args(&["play", id, "--start-when", &n, "--json"]))
            })
            .collect();
        for out in run_together(runs) {
            out.ok();
            let ended = &events_of(&out, "match_ended")[0];
            assert_eq!(ended["outcome"], "completed", "{id}: {out}");
            assert!(ended["result"]["summary"].is_string(), "{id} reported a result: {ended}");
        }
    }
}

/// Runs the `test` game's client by hand for a GAME_START, as a launcher would.
pub(crate) fn run_test_client(start: &gamestore_protocol::GameStart, name: &str) -> Output {
    let client = game_package("test").join("bin/test-client");
    let mut command = std::process::Command::new(client);
    command.args([
        "--host",
        &start.host,
        "--port",
        &start.port.to_string(),
        "--name",
        name,
        "--token",
        &start.token,
    ]);
    gamestore_testkit::run_command(command, gamestore_testkit::TIMEOUT)
}

#[test]
fn a_running_match_survives_delisting_and_a_member_leaving() {
    let w = world_with(&["--seat-grace", "0"]);
    publish(&w, &game_package("test"));
    let mut ann = raw_player(&w, "ann");
    let mut bob = raw_player(&w, "bob");
    let room: Value = ann.call(RoomCreate { game: "test".into() }).unwrap();
    bob.call(RoomJoin { room: room["id"].as_u64().unwrap() }).unwrap();
    ann.call(GameStartNotify {}).unwrap();
    let start = ann.expect_event("GAME_START", |e| match e {
        Event::GameStart(s) => Some(s.clone()),
        _ => None,
    });

    // Mid-match: the game is delisted and bob's launcher disconnects.
    w.dev.run(&["delist", "test"]).ok();
    drop(bob);
    let (state, members) = ann.expect_event("bob leaving", |e| match e {
        Event::RoomUpdate(u) if u.event == RoomEventKind::Left => {
            Some((u.room.state, u.room.members.clone()))
        }
        _ => None,
    });
    assert_eq!((state, members), (RoomState::Playing, vec!["ann".to_owned()]));

    // The match itself goes on: both game clients still play it out.
    let (a, b) = (start.clone(), start.clone());
    let clients = [
        thread::spawn(move || run_test_client(&a, "ann")),
        thread::spawn(move || run_test_client(&b, "bob")),
    ];
    for client in clients {
        client.join().unwrap().ok();
    }
    let ended = ann.expect_event("MATCH_ENDED", |e| match e {
        Event::MatchEnded(m) => Some(m.clone()),
        _ => None,
    });
    assert_eq!(ended.outcome, MatchOutcome::Completed, "{}", ended.message);
    // But no new match can start for a delisted game, in this room or a new one.
    assert_eq!(ann.call(GameStartNotify {}).unwrap_err().code, ErrorCode::GameDelisted);
    let mut cat = raw_player(&w, "cat");
    assert_eq!(
        cat.call(RoomCreate { game: "test".into() }).unwrap_err().code,
        ErrorCode::GameDelisted
    );
}
