// Whole matches: players joining, the probe and garbage being ignored, results.

use std::io::Write;
use std::net::TcpStream;

use gamekit::testkit::{Proc, RawPeer, TempDir, start_bot, start_server};

use crate::{CLIENT, SERVER, WAIT};

fn read_result(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("the server wrote a result file");
    serde_json::from_str(&text).expect("the result file is JSON")
}

#[test]
fn three_players_are_greeted_and_the_result_is_written() {
    let dir = TempDir::new("test-match");
    let result = dir.path().join("result.json");
    let (mut server, port) = start_server(
        SERVER,
        &["--players", "3", "--token", "t0k"],
        &[("GAMESTORE_RESULT_FILE", result.to_str().unwrap())],
    );
    let mut clients: Vec<Proc> =
        ["ann", "bob", "cy"].iter().map(|n| start_bot(CLIENT, port, n, "t0k", &[])).collect();
    for client in &mut clients {
        client.expect_success(WAIT);
        assert!(client.output().contains("greeted: Hello"), "{}", client.output());
        assert!(client.output().contains("done: 3 player(s)"), "{}", client.output());
    }
    server.expect_success(WAIT);
    let report = read_result(&result);
    assert_eq!(report["winner"], serde_json::Value::Null);
    assert_eq!(report["draw"], true);
    assert_eq!(report["scores"].as_object().unwrap().len(), 3);
    assert_eq!(report["scores"]["bob"], 1);
    assert!(report["duration_secs"].as_f64().unwrap() >= 0.0);
    let summary = report["summary"].as_str().unwrap();
    assert!(["ann", "bob", "cy"].iter().all(|name| summary.contains(name)), "{summary}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "only the result file is left: {leftovers:?}");
}

#[test]
fn probes_and_garbage_are_not_counted_as_players() {
    let (mut server, port) = start_server(SERVER, &["--players", "1", "--token", "k"], &[]);
    // The lobby's readiness probe: connect and close without a word.
    drop(TcpStream::connect(("127.0.0.1", port)).unwrap());
    // A peer sending bytes that are no protocol at all.
    let mut garbage = TcpStream::connect(("127.0.0.1", port)).unwrap();
    garbage.write_all(b"\xff\xfe\x00garbage\r\n").unwrap();
    // A half-open peer that says nothing and stays.
    let _silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut client = start_bot(CLIENT, port, "solo", "k", &[]);
    client.expect_success(WAIT);
    assert!(client.output().contains("player 1 of 1"), "{}", client.output());
    server.expect_success(WAIT);
    assert!(server.output().contains("solo joined (1 of 1)"), "{}", server.output());
}

#[test]
fn a_wrong_token_is_refused_and_the_match_goes_on() {
    let (mut server, port) = start_server(SERVER, &["--players", "1", "--token", "right"], &[]);
    let mut intruder = start_bot(CLIENT, port, "mallory", "wrong", &[]);
    let status = intruder.wait_exit(WAIT);
    assert_eq!(status.code(), Some(1), "{}", intruder.output());
    assert!(intruder.output().contains("BAD_TOKEN"), "{}", intruder.output());
    let mut other_game = RawPeer::connect(port);
    other_game.send("HELLO pong right eve");
    assert!(other_game.recv_until("ERR").starts_with("ERR WRONG_GAME"));
    let mut player = start_bot(CLIENT, port, "alice", "right", &[]);
    player.expect_success(WAIT);
    server.expect_success(WAIT);
}

#[test]
fn a_duplicate_name_is_refused() {
    let (_server, port) = start_server(SERVER, &["--players", "2"], &[]);
    let mut first = RawPeer::connect(port);
    first.send("HELLO test - dup");
    assert_eq!(first.recv().as_deref(), Some("WELCOME 2"));
    let mut second = RawPeer::connect(port);
    second.send("HELLO test - dup");
    assert!(second.recv_until("ERR").starts_with("ERR NAME_TAKEN"));
}
