//! Several lobby nodes over one PostgreSQL database and one NATS server:
//! presence, lobby chat and one live session per account across nodes.
//! Run when `GAMESTORE_TEST_POSTGRES` (an admin URL) and
//! `GAMESTORE_TEST_NATS` (a nats:// URL) are set, as scripts/test does.

use gamestore_protocol::{
    ChatScope, ChatSend, Event, Login, OnlineList, Register, Resume, ServerMessage, Whoami,
};
use gamestore_testkit::{LobbyOptions, RawConn, TestDatabase, TestLobby, wait_until};

use crate::world::registered_player;

const PASSWORD: &str = "correct horse";

/// One PostgreSQL database and a subject prefix of its own on the NATS
/// server, shared by the nodes of one test.
struct Nodes {
    nats: String,
    prefix: String,
    database: TestDatabase,
}

impl Nodes {
    fn new() -> Option<Nodes> {
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

    fn start(&self, node: &str) -> TestLobby {
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
