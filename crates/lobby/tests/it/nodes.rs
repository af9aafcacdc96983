//! Several lobby nodes over one PostgreSQL database and one NATS server:
//! presence, lobby chat and one live session per account across nodes, and
//! what the survivors do when a node dies mid-match.
//! Run when `GAMESTORE_TEST_POSTGRES` (an admin URL) and
//! `GAMESTORE_TEST_NATS` (a nats:// URL) are set, as scripts/test does.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use gamestore_protocol::{
    ChatScope, ChatSend, DevLogin, Event, GameStartNotify, Login, MatchHistory, OnlineList,
    Register, Resume, RoomCreate, RoomJoin, ServerMessage, StoreList, Whoami,
};
use gamestore_testkit::{
    Cli, LobbyOptions, RawConn, TIMEOUT, TestDatabase, TestLobby, game_variant, wait_until,
};
use serde_json::Value;

use crate::world::registered_player;

const PASSWORD: &str = "correct horse";

/// One PostgreSQL database and a subject prefix of its own on the NATS
/// server, shared by the nodes of one test.
pub(crate) struct Nodes {
    nats: String,
    prefix: String,
    database: TestDatabase,
}

impl Nodes {
    pub(crate) fn new() -> Option<Nodes> {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let (Some(postgres), Some(nats)) =
            (var("GAMESTORE_TEST_POSTGRES"), var("GAMESTORE_TEST_NATS"))
        else {
            eprintln!("GAMESTORE_TEST_POSTGRES or GAMESTORE_TEST_NATS is not set: no nodes test");
            return None;
        };
        let prefix = format!("gst{}x{}", std::process::id(), fastrand::u32(..));
        Some(Nodes { nats, prefix, database: TestDatabase::create(&postgres) })
    }

    pub(crate) fn start(&self, node: &str) -> TestLobby {
        TestLobby::start_with(LobbyOptions {
            args: vec![
                "--nats".into(),
                self.nats.clone(),
                "--node-id".into(),
                node.into(),
                "--nats-subject-prefix".into(),
                self.prefix.clone(),
                "--database".into(),
                self.database.url().into(),
            ],
            ..Default::default()
        })
    }
}

fn online(conn: &mut RawConn) -> Vec<String> {
    let reply = conn.call(OnlineList::default()).unwrap();
    reply["players"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn players_on_two_nodes_see_each_other_online_and_chat() {
    let Some(nodes) = Nodes::new() else { return };
    let a = nodes.start("a");
    let b = nodes.start("b");
    let mut ann = registered_player(&a, "ann");
    let mut bob = registered_player(&b, "bob");
    wait_until("ann's node lists bob", || online(&mut ann) == ["ann", "bob"]);
    wait_until("bob's node lists ann", || online(&mut bob) == ["ann", "bob"]);

    bob.call(ChatSend { scope: ChatScope::Lobby, text: "hello from b".into() }).unwrap();
    let text = ann.expect_event("bob's chat on node a", |e| match e {
        Event::Chat(m) if m.from == "bob" => Some(m.text.clone()),
        _ => None,
    });
    assert_eq!(text, "hello from b");
    ann.call(ChatSend { scope: ChatScope::Lobby, text: "hi bob".into() }).unwrap();
    bob.expect_event("ann's chat on node b", |e| match e {
        Event::Chat(m) if m.from == "ann" && m.text == "hi bob" => Some(()),
        _ => None,
    });

    // Leaving is seen on the other node too.
    drop(bob);
    wait_until("ann's node drops bob", || online(&mut ann) == ["ann"]);
}

#[test]
fn a_login_on_one_node_revokes_the_session_on_the_others_and_resume_works_anywhere() {
    let Some(nodes) = Nodes::new() else { return };
    let a = nodes.start("a");
    let b = nodes.start("b");
    let c = nodes.start("c");
    let mut on_a = RawConn::hello(a.addr);
    on_a.call(Register::new("ann", PASSWORD)).unwrap();
    let session = on_a.call(Login::new("ann", PASSWORD)).unwrap();
    let token = session["token"].as_str().unwrap().to_owned();

    // The session lives in PostgreSQL: it resumes on another node.
    let mut on_b = RawConn::hello(b.addr);
    let who = on_b.call(Resume { token }).unwrap();
    assert_eq!(who["user"], "ann");
    assert_eq!(on_b.call(Whoami {}).unwrap()["user"], "ann");

    // A login on the third node ends it on both.
    let mut on_c = RawConn::hello(c.addr);
    on_c.call(Login::new("ann", PASSWORD)).unwrap();
    for (node, conn) in [("a", &mut on_a), ("b", &mut on_b)] {
        let messages = conn.recv_until_closed();
        let revoked = messages.iter().any(|m| {
            matches!(m, ServerMessage::Event(Event::SessionRevoked(r)) if r.reason == "logged in elsewhere")
        });
        assert!(revoked, "node {node}: no SESSION_REVOKED before close: {messages:?}");
    }
    assert_eq!(on_c.call(Whoami {}).unwrap()["user"], "ann");
}

#[test]
fn nats_needs_a_shared_postgres_database_and_a_node_id() {
    let lobby = gamestore_testkit::bin("gamestore-lobby");
    let data = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&lobby)
            .args(["--data-dir"])
            .arg(data.path())
            .args(["--listen", "127.0.0.1:0", "--http-listen", "off"])
            .args(["--public-host", "127.0.0.1", "--game-bind", "127.0.0.1"])
            .args(args)
            .env_remove("GAMESTORE_DATABASE")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} started");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let sqlite = run(&["--nats", "nats://127.0.0.1:4222", "--node-id", "a"]);
    assert!(sqlite.contains("error: --nats needs a postgres:// --database"), "{sqlite}");
    let no_id = run(&["--nats", "nats://127.0.0.1:4222"]);
    assert!(no_id.contains("error: --nats needs --node-id"), "{no_id}");
    let bad_id = run(&[
        "--nats",
        "nats://127.0.0.1:4222",
        "--node-id",
        "a.b",
        "--database",
        "postgres://u@127.0.0.1:1/db",
    ]);
    assert!(bad_id.contains("--node-id must be 1 to 32"), "{bad_id}");
}

/// The lobby's one address in front of its nodes, as a load balancer
/// would be: new connections go to the node it points at now.
struct Front {
    addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
}

impl Front {
    fn start(target: SocketAddr) -> Front {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let target = Arc::new(Mutex::new(target));
        let current = target.clone();
        // Ends with the test process; each connection's threads end with it.
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let to = *current.lock().unwrap();
                let Ok(server) = TcpStream::connect_timeout(&to, TIMEOUT) else { continue };
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Front { addr, target }
    }

    fn point_at(&self, node: SocketAddr) {
        *self.target.lock().unwrap() = node;
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// The session token a player's `login` saved in its home folder.
fn saved_token(cli: &Cli) -> String {
    let path = cli.home().join("session-player.json");
    let saved: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    saved["token"].as_str().unwrap().to_owned()
}

fn history(conn: &mut RawConn) -> Vec<Value> {
    conn.call(MatchHistory::default()).unwrap()["matches"].as_array().unwrap().clone()
}

#[test]
fn a_node_killed_mid_match_has_its_match_aborted_by_the_survivors_and_its_players_resume_elsewhere()
{
    let Some(nodes) = Nodes::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut a = nodes.start("a");
    let b = nodes.start("b");
    let c = nodes.start("c");

    // The `test` game, published through a, whose server waits long for
    // its players: the match is still running when a dies.
    let dev = Cli::dev(&a, &tmp.path().join("dev"));
    dev.sign_up("dana", PASSWORD);
    let patient = game_variant(tmp.path(), "test", |m| {
        let command = m["server"]["command"].as_array_mut().unwrap();
        command.extend(["--timeout".into(), "300".into()]);
    });
    dev.run(&["publish", patient.to_str().unwrap()]).ok();

    // Ann's launcher knows the lobby by one address, which leads to a.
    let front = Front::start(a.addr);
    let ann = Cli::new("gamestore-player", &front.addr.to_string(), &tmp.path().join("ann"));
    ann.sign_up("ann", PASSWORD);
    let ann_token = saved_token(&ann);
    let mut ann_on_a = RawConn::hello(a.addr);
    ann_on_a.call(Resume { token: ann_token.clone() }).unwrap();
    let mut bob_on_a = RawConn::hello(a.addr);
    bob_on_a.call(Register::new("bob", PASSWORD)).unwrap();
    let bob_token =
        bob_on_a.call(Login::new("bob", PASSWORD)).unwrap()["token"].as_str().unwrap().to_owned();
    let mut cid = registered_player(&b, "cid");
    let mut dee = registered_player(&c, "dee");
    let everyone = ["ann", "bob", "cid", "dee"];
    wait_until("b lists everyone", || online(&mut cid) == everyone);
    wait_until("c lists everyone", || online(&mut dee) == everyone);

    // Ann and bob start a match of `test` on a.
    let room: Value = ann_on_a.call(RoomCreate { game: "test".into() }).unwrap();
    let room_id = room["id"].as_u64().unwrap();
    bob_on_a.call(RoomJoin { room: room_id }).unwrap();
    ann_on_a.call(GameStartNotify {}).unwrap();
    let start = ann_on_a.expect_event("GAME_START", |e| match e {
        Event::GameStart(s) => Some(s.clone()),
        _ => None,
    });
    let out = ann.run(&["history", "--json"]);
    out.ok();
    let matches: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(matches[0]["match_id"], start.match_id, "{matches}");
    assert!(matches[0]["outcome"].is_null(), "still running: {matches}");

    // Node a dies outright, mid-match.
    a.kill9();
    let killed = std::time::Instant::now();
    front.point_at(b.addr);
    wait_until("b drops a's players", || online(&mut cid) == ["cid", "dee"]);
    wait_until("c drops a's players", || online(&mut dee) == ["cid", "dee"]);

    // Bob's session resumes on b, where his match is recorded aborted.
    let mut bob_on_b = RawConn::hello(b.addr);
    assert_eq!(bob_on_b.call(Resume { token: bob_token }).unwrap()["user"], "bob");
    let aborted = loop_until_aborted(&mut bob_on_b, start.match_id);
    let took = killed.elapsed();
    assert_eq!(aborted["message"], "the lobby node running this match stopped", "{aborted}");
    assert_eq!(aborted["players"], serde_json::json!(["ann", "bob"]));
    // However many survivors saw a die, one of them recorded the abort.
    let recorded = "the open matches of a dead node were recorded as aborted";
    let aborts = || b.log().matches(recorded).count() + c.log().matches(recorded).count();
    wait_until("a survivor logs the abort", || aborts() >= 1);
    assert_eq!(aborts(), 1, "b:\n{}\nc:\n{}", b.log(), c.log());

    // Ann's launcher carries on through the same address, now node b,
    // with its saved session.
    let who = ann.run(&["whoami"]);
    who.ok();
    assert!(who.stdout.contains("ann"), "{}", who.stdout);
    let out = ann.run(&["history", "--json"]);
    out.ok();
    let matches: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(matches[0]["match_id"], start.match_id, "{matches}");
    assert_eq!(matches[0]["outcome"], "aborted", "{matches}");
    let table = ann.run(&["history"]);
    table.ok();
    assert!(table.stdout.contains("the lobby node running this match stopped"), "{}", table.stdout);
    let mut ann_on_b = RawConn::hello(b.addr);
    assert_eq!(ann_on_b.call(Resume { token: ann_token }).unwrap()["user"], "ann");

    // Presence and lobby chat on the survivors.
    wait_until("b lists the resumed players", || online(&mut cid) == everyone);
    wait_until("c lists the resumed players", || online(&mut dee) == everyone);
    cid.call(ChatSend { scope: ChatScope::Lobby, text: "a is gone".into() }).unwrap();
    dee.expect_event("cid's chat on c", |e| match e {
        Event::Chat(m) if m.from == "cid" && m.text == "a is gone" => Some(()),
        _ => None,
    });
    dee.call(ChatSend { scope: ChatScope::Lobby, text: "still here".into() }).unwrap();
    for (who, conn) in [("cid", &mut cid), ("bob", &mut bob_on_b)] {
        conn.expect_event(&format!("dee's chat reaching {who} on b"), |e| match e {
            Event::Chat(m) if m.from == "dee" && m.text == "still here" => Some(()),
            _ => None,
        });
    }

    // Nothing else is lost: accounts and the catalog are the database's.
    let mut dana_on_c = RawConn::hello(c.addr);
    dana_on_c.call(DevLogin::new("dana", PASSWORD)).unwrap();
    let store: Value = dee.call(StoreList::default()).unwrap();
    let ids: Vec<&str> =
        store["games"].as_array().unwrap().iter().filter_map(|g| g["id"].as_str()).collect();
    assert_eq!(ids, ["test"], "{store}");
    eprintln!("node a killed mid-match: its match recorded aborted on b {took:?} after the kill");
}

/// Waits until the match `id` in this player's history has ended; returns it.
fn loop_until_aborted(conn: &mut RawConn, id: i64) -> Value {
    let mut found = Value::Null;
    wait_until("the survivors record the match aborted", || {
        found = history(conn).into_iter().find(|m| m["match_id"] == id).unwrap_or_default();
        !found["outcome"].is_null()
    });
    assert_eq!(found["outcome"], "aborted", "{found}");
    found
}
