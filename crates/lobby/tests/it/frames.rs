//! Hostile bytes on the wire: every bad frame ends or errors that
//! connection only, while other clients carry on.

use gamestore_protocol::{ErrorCode, Frame, MAX_FRAME_LEN, Ping, ServerMessage, Whoami};
use gamestore_testkit::{RawConn, TestLobby};

/// Sends `bytes` on a fresh connection (after HELLO when `after_hello`) and
/// returns what the lobby sent back before closing (or until the reply, for
/// errors that keep the connection).
fn check_bad_input(
    lobby: &TestLobby,
    after_hello: bool,
    bytes: &[u8],
    expect: Option<ErrorCode>,
    closes: bool,
) {
    // A well-behaved client connected throughout.
    let mut bystander = RawConn::hello(lobby.addr);
    let mut conn =
        if after_hello { RawConn::hello(lobby.addr) } else { RawConn::connect(lobby.addr) };
    conn.send_bytes(bytes).unwrap();
    if closes {
        conn.shutdown_write();
        let messages = conn.recv_until_closed();
        if let Some(code) = expect {
            let got: Vec<_> = messages
                .iter()
                .filter_map(|m| match m {
                    ServerMessage::Reply { result: Err(e), .. } => Some(e.code),
                    _ => None,
                })
                .collect();
            assert!(got.contains(&code), "expected {code:?} for {bytes:?}, got {messages:?}");
        }
    } else {
        let reply = conn.recv().expect("a reply, not a close");
        match reply {
            ServerMessage::Reply { result: Err(e), .. } => {
                assert_eq!(Some(e.code), expect, "{bytes:?}")
            }
            other => panic!("expected an error reply for {bytes:?}, got {other:?}"),
        }
        // The connection is still usable.
        assert!(conn.call(Ping {}).is_ok());
    }
    assert!(bystander.call(Ping {}).is_ok(), "bystander broken after {bytes:?}");
    assert_eq!(bystander.call(Whoami {}).unwrap_err().code, ErrorCode::NotLoggedIn);
}

fn message(json: &str) -> Vec<u8> {
    Frame::Message(json.as_bytes().to_vec()).to_bytes().unwrap()
}

#[test]
fn bad_frames_before_and_after_hello() {
    let lobby = TestLobby::start();
    let oversized = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes();

    // Before HELLO: anything but HELLO is refused and the connection closed.
    check_bad_input(
        &lobby,
        false,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        Some(ErrorCode::BadFrame),
        true,
    );
    check_bad_input(
        &lobby,
        false,
        &message(r#"{"id":1,"type":"WHOAMI"}"#),
        Some(ErrorCode::ProtocolVersion),
        true,
    );
    check_bad_input(
        &lobby,
        false,
        &message(r#"{"id":1,"type":"HELLO","data":{"protocol":99,"client":"future"}}"#),
        Some(ErrorCode::ProtocolVersion),
        true,
    );

    // After HELLO: framing errors close, request errors only answer.
    check_bad_input(&lobby, true, &oversized, Some(ErrorCode::BadFrame), true);
    check_bad_input(&lobby, true, &[0, 0, 0, 0], Some(ErrorCode::BadFrame), true);
    check_bad_input(&lobby, true, &[0, 0, 0, 2, 77, 0], Some(ErrorCode::BadFrame), true);
    check_bad_input(&lobby, true, &message("{not json"), Some(ErrorCode::BadFrame), true);
    check_bad_input(&lobby, true, &message(r#"{"type":"PING"}"#), Some(ErrorCode::BadFrame), true);
    check_bad_input(
        &lobby,
        true,
        &Frame::Binary { id: 1, data: vec![1, 2, 3] }.to_bytes().unwrap(),
        Some(ErrorCode::BadFrame),
        true,
    );
    // Truncated: a header promising more than is ever sent, then EOF.
    check_bad_input(&lobby, true, &[0, 0, 0, 50, 1, b'{'], None, true);

    check_bad_input(
        &lobby,
        true,
        &message(r#"{"id":4,"type":"FLY_TO_MOON"}"#),
        Some(ErrorCode::UnknownCommand),
        false,
    );
    check_bad_input(
        &lobby,
        true,
        &message(r#"{"id":5,"type":"LOGIN","data":{"user":7}}"#),
        Some(ErrorCode::BadRequest),
        false,
    );
    check_bad_input(
        &lobby,
        true,
        &message(r#"{"id":6,"type":"HELLO","data":{"protocol":1,"client":"x"}}"#),
        Some(ErrorCode::BadRequest),
        false,
    );
}

/// A handshake failure is about the connection, so its error has id 0 as
/// docs/PROTOCOL.md says, whatever id the refused first message carried.
#[test]
fn handshake_failures_answer_with_id_0() {
    let lobby = TestLobby::start();
    for first in [
        r#"{"id":7,"type":"WHOAMI"}"#,
        r#"{"id":8,"type":"HELLO","data":{"protocol":99,"client":"future"}}"#,
        r#"{"id":9,"type":"HELLO","data":{"protocol":"one"}}"#,
    ] {
        let mut conn = RawConn::connect(lobby.addr);
        conn.send_bytes(&message(first)).unwrap();
        conn.shutdown_write();
        let messages = conn.recv_until_closed();
        assert!(
            matches!(messages.as_slice(), [ServerMessage::Reply { id: 0, result: Err(_) }]),
            "{first}: {messages:?}"
        );
    }
}

#[test]
fn oversized_frame_is_refused_without_reading_it() {
    let lobby = TestLobby::start();
    let mut conn = RawConn::hello(lobby.addr);
    // Announce 1 GiB and send nothing more: the lobby answers at once.
    conn.send_bytes(&(1u32 << 30).to_be_bytes()).unwrap();
    match conn.recv() {
        Some(ServerMessage::Reply { id: 0, result: Err(e) }) => {
            assert_eq!(e.code, ErrorCode::BadFrame)
        }
        other => panic!("expected BAD_FRAME, got {other:?}"),
    }
    assert!(conn.recv().is_none(), "connection should be closed");
}

#[test]
fn silent_connection_is_closed_after_the_handshake_timeout() {
    let lobby = TestLobby::start_with(gamestore_testkit::LobbyOptions {
        args: vec!["--handshake-timeout".into(), "1".into()],
        ..Default::default()
    });
    let mut conn = RawConn::connect(lobby.addr);
    let messages = conn.recv_until_closed();
    assert!(
        matches!(messages.as_slice(), [ServerMessage::Reply { result: Err(e), .. }] if e.code == ErrorCode::ProtocolVersion),
        "{messages:?}"
    );
}

#[test]
fn connection_cap_refuses_with_server_busy() {
    let lobby = TestLobby::start_with(gamestore_testkit::LobbyOptions {
        args: vec!["--max-connections".into(), "2".into()],
        ..Default::default()
    });
    let _a = RawConn::hello(lobby.addr);
    let mut b = RawConn::hello(lobby.addr);
    let mut c = RawConn::connect(lobby.addr);
    match c.recv() {
        Some(ServerMessage::Reply { id: 0, result: Err(e) }) => {
            assert_eq!(e.code, ErrorCode::ServerBusy)
        }
        other => panic!("expected SERVER_BUSY, got {other:?}"),
    }
    assert!(b.call(Ping {}).is_ok());
}
