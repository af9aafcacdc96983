// The server's authority, checked with hand-driven protocol peers.

use arena::protocol::ServerMsg;
use arena::sim::{Cell, Dir};
use gamekit::testkit::{RawPeer, start_server};

use crate::{SERVER, WAIT};

/// Two raw peers seated, past the START line; returns their spawns.
fn seated(port: u16) -> (RawPeer, RawPeer, Vec<(Cell, Dir)>) {
    let mut first = RawPeer::connect(port);
    first.send("HELLO arena/1 t first");
    assert_eq!(first.recv_until("WELCOME"), "WELCOME 2");
    let mut second = RawPeer::connect(port);
    second.send("HELLO arena/1 t second");
    assert!(first.recv_until("START").starts_with("START 0 "));
    assert!(second.recv_until("START").starts_with("START 1 "));
    let round = first.recv_until("ROUND");
    second.recv_until("ROUND");
    let Some(ServerMsg::Round { spawns, .. }) = ServerMsg::parse(&round) else { panic!("{round}") };
    (first, second, spawns.into_iter().map(Option::unwrap).collect())
}

#[test]
fn turns_are_applied_and_reversals_ignored() {
    let (_server, port) =
        start_server(SERVER, &["--players", "2", "--token", "t", "--tick-hz", "100"], &[]);
    let (mut first, mut second, spawns) = seated(port);
    let ((x, y), dir) = spawns[0];
    assert_eq!(dir, Dir::Right);
    first.send("DIR L"); // straight back: ignored
    first.send("DIR D");
    second.send("DIR sideways");
    assert!(second.recv_until("ERR").starts_with("ERR BAD_MESSAGE"));
    let tick = first.recv_until("T ");
    let Some(ServerMsg::Tick { heads, .. }) = ServerMsg::parse(&tick) else { panic!("{tick}") };
    assert_eq!(heads[0], Some((x, y + 1)), "the first cycle turned down");
    let (sx, sy) = spawns[1].0;
    assert_eq!(heads[1], Some((sx - 1, sy)), "the second cycle rode on to the left");
}

#[test]
fn the_last_player_left_wins_by_forfeit() {
    let (mut server, port) = start_server(SERVER, &["--players", "2", "--token", "t"], &[]);
    let (mut first, mut second, _) = seated(port);
    second.send_bytes(b"\xff\xfe\n"); // not even text: the sender is out
    let over = first.recv_until("OVER");
    assert!(over.starts_with("OVER 0 first wins by forfeit: everyone else left"), "{over}");
    assert!(second.recv_to_end().iter().all(|l| !l.starts_with("OVER")));
    server.expect_success(WAIT);
}

#[test]
fn quitting_leaves_the_match() {
    let (mut server, port) = start_server(SERVER, &["--players", "2", "--token", "t"], &[]);
    let (first, mut second, _) = seated(port);
    first.send("QUIT");
    assert!(second.recv_until("DEAD 0").starts_with("DEAD 0 left: quit"));
    assert!(second.recv_until("OVER").starts_with("OVER 1 second wins by forfeit"));
    server.expect_success(WAIT);
}
