//! What one connection may cost everyone else: a panicking handler, a client
//! that stops reading, anonymous connections holding partial frames. Each
//! ends or bounds that connection only; its slot, hub entry and room seat
//! are freed and the other clients carry on.

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::time::Duration;

use gamestore_protocol::{
    ChatScope, ChatSend, ErrorCode, Event, Frame, GameDownload, Hello, Login, OnlineList,
    PROTOCOL_VERSION, Ping, RequestFrame, RoomCreate, RoomEventKind, RoomJoin, ServerMessage,
    Whoami,
};
use gamestore_testkit::{Cli, LobbyOptions, RawConn, TIMEOUT, TestLobby, fixtures, wait_until};
use serde_json::Value;

use crate::world::registered_player;

const PASSWORD: &str = "correct horse";

fn lobby_with(args: &[&str], env: &[(&str, &str)]) -> TestLobby {
    TestLobby::start_with(LobbyOptions {
        args: args.iter().map(|a| a.to_string()).collect(),
        env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Default::default()
    })
}

/// Publishes a game `id` 1.0.0 with one data file of `size` bytes.
fn publish(lobby: &TestLobby, tmp: &std::path::Path, id: &str, size: usize) {
    let dev = Cli::dev(lobby, &tmp.join("dev"));
    dev.sign_up("dana", PASSWORD);
    let folder = fixtures::game_folder(tmp, id, "1.0.0", &[("blob.bin", size)]);
    dev.run(&["publish", folder.to_str().unwrap()]).ok();
}

/// Whether a new client gets past HELLO (false: the lobby said SERVER_BUSY).
fn a_new_client_is_served(lobby: &TestLobby) -> bool {
    let mut conn = RawConn::connect(lobby.addr);
    match conn.call(Hello { protocol: PROTOCOL_VERSION, client: "probe".into() }) {
        Ok(_) => true,
        Err(e) if e.code == ErrorCode::ServerBusy => false,
        Err(e) => panic!("unexpected answer to HELLO: {e:?}"),
    }
}

/// Reads what is left on a socket the lobby closed, until end of stream or
/// a reset; panics if it stays open past the test timeout.
fn assert_closed_by_the_lobby(mut socket: TcpStream) {
    socket.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match socket.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                return;
            }
            Err(e) => panic!("the lobby kept the connection open: {e}"),
        }
    }
}

fn names_online(conn: &mut RawConn) -> Vec<String> {
    let online = conn.call(OnlineList::default()).unwrap();
    online["players"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

fn count(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

/// The lobby warned once about the one slow client (the log is read from
/// its stderr as it comes, hence the wait).
fn assert_one_slow_client_warning(lobby: &TestLobby) {
    wait_until("the slow client warning", || count(&lobby.log(), "too slow") > 0);
    assert_eq!(count(&lobby.log(), "too slow"), 1, "{}", lobby.log());
}

/// Waits until the lobby serves no connection (the setup's clients are gone),
/// going by its debug log.
fn wait_for_no_connections(lobby: &TestLobby) {
    wait_until("the setup's connections to close", || {
        let log = lobby.log();
        count(&log, "server: connected") == count(&log, "server: disconnected")
    });
}

#[test]
fn a_panicking_handler_closes_only_its_connection_and_leaves_nothing_behind() {
    // No seat grace: the test is about what the connection leaves behind,
    // which the grace period would only delay.
    let lobby = lobby_with(
        &["--max-connections", "3", "--seat-grace", "0"],
        &[("GAMESTORE_FAULT_PANIC_ON", "WHOAMI")],
    );
    let tmp = tempfile::tempdir().unwrap();
    publish(&lobby, tmp.path(), "quiz", 10);
    wait_for_no_connections(&lobby);
    let mut ann = registered_player(&lobby, "ann");
    let room: Value = ann.call(RoomCreate { game: "quiz".into() }).unwrap();
    let mut bob = registered_player(&lobby, "bob");
    bob.call(RoomJoin { room: room["id"].as_u64().unwrap() }).unwrap();
    assert_eq!(names_online(&mut bob), ["ann", "bob"]);
    let mut holder = RawConn::hello(lobby.addr);
    assert!(!a_new_client_is_served(&lobby), "the cap of 3 is reached");

    // ann's request panics inside the lobby.
    let json = RequestFrame { id: 99, request: Whoami {}.into() }.encode();
    ann.send_bytes(&Frame::Message(json).to_bytes().unwrap()).unwrap();

    // Her connection is closed, not left half-open ...
    let after: Vec<ServerMessage> = ann.recv_until_closed();
    assert!(
        !after.iter().any(|m| matches!(m, ServerMessage::Reply { id: 99, result: Ok(_) })),
        "{after:?}"
    );
    // ... she left the room (bob is its host now) and the online list.
    let new_host = bob.expect_event("ann leaving the room", |e| match e {
        Event::RoomUpdate(u) if u.event == RoomEventKind::HostChanged => {
            Some((u.player.clone(), u.room.members.clone()))
        }
        _ => None,
    });
    assert_eq!(new_host, (Some("bob".to_owned()), vec!["bob".to_owned()]));
    assert_eq!(names_online(&mut bob), ["bob"]);
    // Her slot is free again.
    wait_until("the panicked connection's slot to be freed", || {
        assert!(holder.call(Ping {}).is_ok());
        a_new_client_is_served(&lobby)
    });
    // bob is served as before, and the panic was reported once.
    assert!(bob.call(Ping {}).is_ok());
    wait_until("the panic in the log", || count(&lobby.log(), "a request handler panicked") > 0);
    assert_eq!(count(&lobby.log(), "a request handler panicked"), 1, "{}", lobby.log());
    // ann can log in again and play on (once the probes' slots are free:
    // the lobby notices their close a moment after they are dropped).
    let mut again = RawConn::connect(lobby.addr);
    wait_until("a slot for ann", || {
        again = RawConn::connect(lobby.addr);
        again.call(Hello { protocol: PROTOCOL_VERSION, client: "ann".into() }).is_ok()
    });
    again.call(Login::new("ann", PASSWORD)).unwrap();
    assert_eq!(names_online(&mut again), ["ann", "bob"]);
}

/// Sends GAME_DOWNLOAD for the whole package and then never reads again.
fn stalled_download(lobby: &TestLobby, name: &str, game: &str) -> RawConn {
    let mut conn = registered_player(lobby, name);
    let ready = conn.call(GameDownload {
        id: game.into(),
        version: "1.0.0".into(),
        files: None,
        offset: 0,
    });
    assert!(ready.unwrap()["size"].as_u64().unwrap() > 16 << 20);
    conn
}

/// The zip of a publishable game `id` 1.0.0 with one data file of `size`
/// incompressible bytes, stored uncompressed (quick to make).
fn stored_package(tmp: &std::path::Path, id: &str, size: usize) -> Vec<u8> {
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    let folder = fixtures::game_folder(tmp, id, "1.0.0", &[("blob.bin", size)]);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(false);
    for (name, mode) in [
        ("config.json", 0o644),
        ("bin/server.sh", 0o755),
        ("bin/client.sh", 0o755),
        ("data/blob.bin", 0o644),
    ] {
        zip.start_file(name, stored.unix_permissions(mode)).unwrap();
        zip.write_all(&std::fs::read(folder.join(name)).unwrap()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn publish_stored(lobby: &TestLobby, zip: &[u8], id: &str) {
    use gamestore_protocol::{DevLogin, DevRegister};
    use sha2::Digest;
    let mut dev = RawConn::hello(lobby.addr);
    dev.call(DevRegister::new("dana", PASSWORD)).unwrap();
    dev.call(DevLogin::new("dana", PASSWORD)).unwrap();
    let sha = hex::encode(sha2::Sha256::digest(zip));
    dev.upload(id, "1.0.0", zip, &sha).expect("published");
}

#[test]
fn a_downloader_that_stops_reading_is_closed_and_frees_its_slot() {
    let lobby = lobby_with(&["--max-connections", "3", "--idle-timeout", "3"], &[]);
    let tmp = tempfile::tempdir().unwrap();
    // Incompressible, far more than socket buffers and the lobby's queue hold.
    let zip = stored_package(tmp.path(), "big", 24 << 20);
    publish_stored(&lobby, &zip, "big");
    wait_for_no_connections(&lobby);
    let stalled = stalled_download(&lobby, "sam", "big");
    let mut bystander = registered_player(&lobby, "bea");
    let mut holder = RawConn::hello(lobby.addr);
    assert!(!a_new_client_is_served(&lobby), "the cap of 3 is reached");

    // The lobby gives up on the stalled downloader within its idle timeout;
    // the others, busy all along, are served throughout.
    wait_until("the stalled downloader's slot to be freed", || {
        assert!(bystander.call(Ping {}).is_ok() && holder.call(Ping {}).is_ok());
        a_new_client_is_served(&lobby)
    });
    assert_closed_by_the_lobby(stalled.into_socket());
    assert!(bystander.call(Ping {}).is_ok());
    assert_one_slow_client_warning(&lobby);
}

#[test]
fn a_client_that_stops_reading_is_closed_once_and_frees_its_slot() {
    let lobby = lobby_with(&["--max-connections", "2", "--idle-timeout", "5"], &[]);
    let stalled = registered_player(&lobby, "sam");

    // sam sends requests and never reads a reply, until the lobby stops
    // reading from him: his replies fill his socket and his queue.
    let mut writer = stalled.try_clone_socket();
    writer.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    let request = Frame::Message(RequestFrame { id: 7, request: Whoami {}.into() }.encode());
    let batch: Vec<u8> = (0..256).flat_map(|_| request.to_bytes().unwrap()).collect();
    let mut sent = 0usize;
    while std::io::Write::write_all(&mut writer, &batch).is_ok() {
        sent += 1;
        assert!(sent < 100_000, "the lobby kept reading requests whose replies nobody reads");
    }
    let mut chatty = registered_player(&lobby, "bea");
    assert!(!a_new_client_is_served(&lobby), "the cap of 2 is reached");
    // Lobby chat for him now finds his queue full.
    for n in 0..5 {
        let text = format!("hello {n}");
        chatty.call(ChatSend { scope: ChatScope::Lobby, text }).unwrap();
    }
    wait_until("the stalled client's slot to be freed", || {
        assert!(chatty.call(Ping {}).is_ok());
        a_new_client_is_served(&lobby)
    });
    stalled.shutdown_write();
    assert_closed_by_the_lobby(stalled.into_socket());
    assert_eq!(names_online(&mut chatty), ["bea"]);
    // One warning for one slow client, however many events it missed.
    assert_one_slow_client_warning(&lobby);
}

#[test]
fn frames_before_hello_are_capped_small() {
    let lobby = TestLobby::start();
    // Before HELLO a frame over 64 KiB is refused from its header alone.
    let mut anonymous = RawConn::connect(lobby.addr);
    anonymous.send_bytes(&((64 * 1024 + 1) as u32).to_be_bytes()).unwrap();
    let messages = anonymous.recv_until_closed();
    assert!(
        matches!(messages.as_slice(), [ServerMessage::Reply { id: 0, result: Err(e) }] if e.code == ErrorCode::BadFrame),
        "{messages:?}"
    );
    // A HELLO padded to just under the cap is fine.
    let mut padded = RawConn::connect(lobby.addr);
    let json = format!(
        r#"{{"id":1,"type":"HELLO","data":{{"protocol":{PROTOCOL_VERSION},"client":"{}"}}}}"#,
        "x".repeat(60 * 1024)
    );
    padded.send_bytes(&Frame::Message(json.into_bytes()).to_bytes().unwrap()).unwrap();
    assert!(matches!(padded.recv(), Some(ServerMessage::Reply { id: 1, result: Ok(_) })));
    // After HELLO the protocol's 1 MiB cap holds: a 512 KiB request (unknown
    // fields are ignored) is answered.
    let json = format!(r#"{{"id":2,"type":"PING","data":{{"pad":"{}"}}}}"#, "y".repeat(512 * 1024));
    padded.send_bytes(&Frame::Message(json.into_bytes()).to_bytes().unwrap()).unwrap();
    assert!(matches!(padded.recv(), Some(ServerMessage::Reply { id: 2, result: Ok(_) })));
}

#[test]
fn a_stalled_download_does_not_hold_up_shutdown() {
    // The default idle timeout (two minutes): shutdown must not wait for it.
    let mut lobby = TestLobby::start();
    let tmp = tempfile::tempdir().unwrap();
    let zip = stored_package(tmp.path(), "big", 24 << 20);
    publish_stored(&lobby, &zip, "big");
    let _stalled = stalled_download(&lobby, "sam", "big");
    assert!(lobby.terminate().success());
    wait_until("the lobby's last log line", || lobby.log().contains("stopped"));
    assert!(!lobby.log().contains("did not close in time"), "{}", lobby.log());
}

#[test]
fn connections_before_hello_are_bounded_in_number() {
    let lobby = lobby_with(&["--max-handshakes", "2"], &[]);
    let mut logged_in = registered_player(&lobby, "ann");
    let mut first = RawConn::connect(lobby.addr);
    let _second = RawConn::connect(lobby.addr);
    // Two connections are in their handshake: a third is refused at once,
    // and the logged-in player is not affected.
    assert!(!a_new_client_is_served(&lobby));
    assert!(logged_in.call(Ping {}).is_ok());
    // Once one of them says HELLO, there is room again.
    first.call(Hello { protocol: PROTOCOL_VERSION, client: "late".into() }).unwrap();
    wait_until("a place among the handshakes", || a_new_client_is_served(&lobby));
}
