// The server's authority, checked with hand-driven protocol peers.

use gamekit::testkit::{RawPeer, TempDir, start_server};
use pong::protocol::ServerMsg;
use pong::sim::Snapshot;

use crate::{SERVER, WAIT, read_result};

fn seated(port: u16) -> (RawPeer, RawPeer) {
    let mut left = RawPeer::connect(port);
    left.send("HELLO pong/1 t left");
    assert_eq!(left.recv_until("WELCOME"), "WELCOME 2");
    let mut right = RawPeer::connect(port);
    right.send("HELLO pong/1 t right");
    assert_eq!(left.recv_until("START"), "START 0 5");
    assert_eq!(right.recv_until("START"), "START 1 5");
    (left, right)
}

fn next_state(peer: &mut RawPeer) -> Snapshot {
    match ServerMsg::parse(&peer.recv_until("S ")) {
        Some(ServerMsg::State(state)) => state,
        other => panic!("expected a state, got {other:?}"),
    }
}

#[test]
fn paddles_move_only_as_the_server_allows() {
    let (mut server, port) = start_server(SERVER, &["--token", "t", "--tick-hz", "200"], &[]);
    let (mut left, mut right) = seated(port);
    let start = next_state(&mut left);
    left.send("IN 1");
    right.send("IN 5"); // not a direction
    assert!(right.recv_until("ERR").starts_with("ERR BAD_MESSAGE"));
    // Within a second of ticks the left paddle has gone to the bottom and
    // stopped there; the right one has not moved.
    let mut state = start;
    for _ in 0..150 {
        state = next_state(&mut left);
    }
    assert_eq!(state.paddles[0], pong::sim::HEIGHT - pong::sim::PADDLE_H);
    assert_eq!(state.paddles[1], start.paddles[1]);
    assert!(state.tick > start.tick);
    drop(right);
    // Depending on timing the server notices the closed socket when reading
    // ("left the game") or when writing ("stopped responding").
    let over = left.recv_until("OVER");
    assert!(over.starts_with("OVER 0 left wins by forfeit: right "), "{over}");
    server.expect_success(WAIT);
}

#[test]
fn garbage_bytes_forfeit_the_sender_and_the_server_ends_cleanly() {
    let dir = TempDir::new("pong-garbage");
    let result = dir.path().join("r.json");
    let (mut server, port) = start_server(
        SERVER,
        &["--token", "t"],
        &[("GAMESTORE_RESULT_FILE", result.to_str().unwrap())],
    );
    let (mut left, mut right) = seated(port);
    right.send_bytes(b"\xc3\x28 not utf-8\n");
    let over = left.recv_until("OVER");
    assert!(over.starts_with("OVER 0 left wins by forfeit: right "), "{over}");
    server.expect_success(WAIT);
    let report = read_result(&result);
    assert_eq!(report["winner"], "left");
    assert!(report["summary"].as_str().unwrap().contains("forfeit"));
}

#[test]
fn quitting_hands_the_win_to_the_other_player() {
    let (mut server, port) = start_server(SERVER, &["--token", "t"], &[]);
    let (left, mut right) = seated(port);
    left.send("QUIT");
    let over = right.recv_until("OVER");
    assert_eq!(over, "OVER 1 right wins by forfeit: left quit (score 0-0)");
    server.expect_success(WAIT);
}
