// Timeouts, players who leave, and the deliberate faults for platform tests.

use std::net::TcpStream;
use std::process::{Command, Stdio};

use gamekit::testkit::{Proc, RawPeer, start_bot, start_server};

use crate::{CLIENT, SERVER, WAIT};

#[test]
fn the_server_gives_up_when_players_do_not_come() {
    let (mut server, _port) = start_server(SERVER, &["--players", "2", "--timeout", "1"], &[]);
    let status = server.wait_exit(WAIT);
    assert_eq!(status.code(), Some(1));
    assert!(
        server.output().contains("timed out after 1 s waiting for players (0 of 2 joined)"),
        "{}",
        server.output()
    );
}

#[test]
fn a_player_who_leaves_before_answering_fails_the_match() {
    let (mut server, port) = start_server(SERVER, &["--players", "1"], &[]);
    let mut peer = RawPeer::connect(port);
    peer.send("HELLO test - quitter");
    assert!(peer.recv_until("GREET 0 1 ").contains("Hello quitter"));
    drop(peer);
    let status = server.wait_exit(WAIT);
    assert_eq!(status.code(), Some(1));
    assert!(server.output().contains("quitter left without answering"), "{}", server.output());
}

#[test]
fn a_client_without_a_server_fails_clearly() {
    // Bind and release a port so that nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut client = start_bot(CLIENT, port, "lonely", "", &[]);
    let status = client.wait_exit(WAIT);
    assert_eq!(status.code(), Some(1));
    assert!(client.output().contains("error: cannot connect"), "{}", client.output());
}

#[test]
fn a_bad_command_line_exits_2() {
    let mut command = Command::new(SERVER);
    command.args(["--players", "99", "--port", "0"]).stdin(Stdio::null());
    let mut server = Proc::spawn("server", command);
    assert_eq!(server.wait_exit(WAIT).code(), Some(2));
    assert!(server.output().contains("--players must be between 1 and 16"));
}

#[test]
fn injected_faults_behave_as_documented() {
    let mut command = Command::new(SERVER);
    command.args(["--port", "0", "--fault", "exit-early"]).stdin(Stdio::null());
    let mut early = Proc::spawn("server", command);
    assert_eq!(early.wait_exit(WAIT).code(), Some(3));

    let (mut crash, port) = start_server(SERVER, &["--players", "1", "--fault", "crash"], &[]);
    let mut client = start_bot(CLIENT, port, "victim", "", &[]);
    assert_eq!(crash.wait_exit(WAIT).code(), Some(3));
    assert_eq!(client.wait_exit(WAIT).code(), Some(1));
    assert!(client.output().contains("closed the connection"), "{}", client.output());

    let (hang, port) = start_server(SERVER, &["--players", "1", "--fault", "hang"], &[]);
    let _stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut peer = RawPeer::connect(port);
    peer.send("HELLO test - waiter");
    assert_eq!(peer.recv().as_deref(), Some("WELCOME 1"));
    hang.wait_for("fault injected: hanging", WAIT);
    assert!(hang.id() > 0);
}
