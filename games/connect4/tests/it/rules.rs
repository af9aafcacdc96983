// The server's rules, checked with hand-driven protocol peers.

use gamekit::testkit::{RawPeer, TempDir, start_server};

use crate::{SERVER, WAIT, read_result};

/// Two raw peers seated as player 0 (X) and player 1 (O).
fn seated(port: u16) -> (RawPeer, RawPeer) {
    let mut first = RawPeer::connect(port);
    first.send("HELLO connect4/1 t first");
    assert_eq!(first.recv_until("WELCOME"), "WELCOME 2");
    let mut second = RawPeer::connect(port);
    second.send("HELLO connect4/1 t second");
    assert_eq!(first.recv_until("START"), "START 0");
    assert_eq!(second.recv_until("START"), "START 1");
    assert!(first.recv_until("TURN").starts_with("TURN 0 "));
    assert!(second.recv_until("TURN").starts_with("TURN 0 "));
    (first, second)
}

#[test]
fn illegal_moves_are_refused_and_the_turn_stays() {
    let dir = TempDir::new("c4-rules");
    let result = dir.path().join("r.json");
    let (mut server, port) = start_server(
        SERVER,
        &["--token", "t"],
        &[("GAMESTORE_RESULT_FILE", result.to_str().unwrap())],
    );
    let (mut x, mut o) = seated(port);

    o.send("MOVE 4");
    assert_eq!(o.recv_until("ILLEGAL"), "ILLEGAL it is not your turn");
    for bad in ["MOVE 0", "MOVE 8", "MOVE four", "MOVE", "JUMP 3"] {
        x.send(bad);
        assert!(x.recv_until("ILLEGAL").starts_with("ILLEGAL"), "{bad}");
    }
    // Fill column 1: X, O, X, O, X, O.
    for i in 0..6 {
        let (mover, watcher) = if i % 2 == 0 { (&mut x, &mut o) } else { (&mut o, &mut x) };
        mover.send("MOVE 1");
        assert_eq!(watcher.recv_until("MOVED"), format!("MOVED {} 1", i % 2));
        let next_turn = format!("TURN {} ", 1 - i % 2);
        assert!(mover.recv_until("TURN").starts_with(&next_turn));
        assert!(watcher.recv_until("TURN").starts_with(&next_turn));
    }
    x.send("MOVE 1");
    assert_eq!(x.recv_until("ILLEGAL"), "ILLEGAL column 1: that column is full");
    // The turn is still X's: a legal move goes through.
    x.send("MOVE 4");
    assert_eq!(o.recv_until("MOVED"), "MOVED 0 4");
    let board = o.recv_until("BOARD");
    assert_eq!(&board["BOARD ".len()..], "O......X......O......X......O......X..X...");

    // O disconnects mid-match: X wins by forfeit and the server ends cleanly.
    drop(o);
    let over = x.recv_until("OVER");
    assert!(over.starts_with("OVER 0 first wins by forfeit: second left"), "{over}");
    assert!(x.recv_to_end().is_empty(), "the server closes after OVER");
    server.expect_success(WAIT);
    let report = read_result(&result);
    assert_eq!(report["winner"], "first");
    assert_eq!(report["draw"], false);
    assert_eq!(report["scores"]["second"], 0);
}

#[test]
fn four_in_a_row_wins_and_is_shown() {
    let (mut server, port) = start_server(SERVER, &["--token", "t"], &[]);
    let (mut x, mut o) = seated(port);
    for (col_x, col_o) in [(1, 1), (2, 2), (3, 3)] {
        x.send(&format!("MOVE {col_x}"));
        o.recv_until("TURN 1");
        o.send(&format!("MOVE {col_o}"));
        x.recv_until("TURN 0");
    }
    x.send("MOVE 4");
    assert_eq!(o.recv_until("WIN"), "WIN 5,0 5,1 5,2 5,3");
    assert!(
        o.recv_until("OVER").starts_with("OVER 0 first (X) wins with four in a row after 7 moves")
    );
    server.expect_success(WAIT);
}

#[test]
fn garbage_from_a_player_forfeits_without_crashing_the_server() {
    let (mut server, port) = start_server(SERVER, &["--token", "t"], &[]);
    let (mut x, mut o) = seated(port);
    // Text that is no command is refused like an illegal move...
    o.send("\u{1}\u{2} hello?");
    assert!(o.recv_until("ILLEGAL").starts_with("ILLEGAL unknown command"));
    // ...bytes that are not even text put the sender out of the match.
    o.send_bytes(b"\xff\xfe\xfd\n");
    let over = x.recv_until("OVER");
    assert!(over.starts_with("OVER 0 first wins by forfeit: second left the game"), "{over}");
    server.expect_success(WAIT);
}

#[test]
fn a_player_who_runs_out_of_time_loses() {
    let (mut server, port) = start_server(SERVER, &["--token", "t", "--turn-timeout", "1"], &[]);
    let (mut x, mut o) = seated(port);
    let over = o.recv_until("OVER");
    assert_eq!(over, "OVER 1 second wins by forfeit: first ran out of time (1 s per move)");
    assert!(x.recv_until("OVER").starts_with("OVER 1"));
    server.expect_success(WAIT);
}

#[test]
fn quitting_hands_the_win_to_the_other_player() {
    let (mut server, port) = start_server(SERVER, &["--token", "t"], &[]);
    let (mut x, o) = seated(port);
    o.send("QUIT");
    assert_eq!(x.recv_until("OVER"), "OVER 0 first wins by forfeit: second quit");
    server.expect_success(WAIT);
}
