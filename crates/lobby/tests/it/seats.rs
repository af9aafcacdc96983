//! Seats that survive a drop: a real launcher (`gamestore-player play`)
//! talks to the lobby through a TCP proxy that the test cuts, mid-room and
//! mid-match, again and again. Within the grace period no seat is lost;
//! after it, no ghost stays. `GAMESTORE_SEAT_DROPS` sets the cuts per phase
//! (default 50: 100 in all).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use gamestore_protocol::{
    Event, GameStart, GameStartNotify, Login, OnlineList, Register, RoomCreate, RoomEventKind,
    RoomList,
};
use gamestore_testkit::{
    Cli, LobbyOptions, RawConn, TIMEOUT, TestLobby, game_package, game_variant,
};
use serde_json::Value;

use super::world::Launcher;

const PASSWORD: &str = "correct horse";

fn drops_per_phase() -> usize {
    std::env::var("GAMESTORE_SEAT_DROPS").ok().and_then(|n| n.parse().ok()).unwrap_or(50)
}

/// A TCP proxy in front of the lobby whose connections the test can cut.
struct Proxy {
    addr: SocketAddr,
    /// Both sockets of every live proxied connection.
    live: Arc<Mutex<Vec<(TcpStream, TcpStream)>>>,
    accepted: Arc<Mutex<usize>>,
}

impl Proxy {
    fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let live: Arc<Mutex<Vec<(TcpStream, TcpStream)>>> = Arc::default();
        let accepted: Arc<Mutex<usize>> = Arc::default();
        let (live2, accepted2) = (live.clone(), accepted.clone());
        // Ends with the test process; each connection's threads end when it is cut.
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect_timeout(&target, TIMEOUT) else { continue };
                *accepted2.lock().unwrap() += 1;
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server.try_clone().unwrap(), client.try_clone().unwrap());
                live2.lock().unwrap().push((client, server));
            }
        });
        Proxy { addr, live, accepted }
    }

    /// Cuts every proxied connection at once, as a network drop would;
    /// returns how many were cut.
    fn cut(&self) -> usize {
        let pairs: Vec<_> = self.live.lock().unwrap().drain(..).collect();
        for (client, server) in &pairs {
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
        }
        pairs.len()
    }

    fn accepted(&self) -> usize {
        *self.accepted.lock().unwrap()
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// A lobby with the `test` game, whose server waits long for its players
/// (the match stays running while the test cuts connections).
fn lobby_with_slow_test_game(tmp: &std::path::Path, grace: &str) -> TestLobby {
    let lobby = TestLobby::start_with(LobbyOptions {
        args: vec!["--seat-grace".into(), grace.into()],
        ..Default::default()
    });
    let dev = Cli::dev(&lobby, &tmp.join("dev"));
    dev.sign_up("dana", PASSWORD);
    let patient = game_variant(tmp, "test", |m| {
        let command = m["server"]["command"].as_array_mut().unwrap();
        command.extend(["--timeout".into(), "300".into()]);
    });
    dev.run(&["publish", patient.to_str().unwrap()]).ok();
    lobby
}

fn raw_player(lobby: &TestLobby, name: &str) -> RawConn {
    let mut conn = RawConn::hello(lobby.addr);
    conn.call(Register::new(name, PASSWORD)).unwrap();
    conn.call(Login::new(name, PASSWORD)).unwrap();
    conn
}

/// Cuts the launcher's connection `times` times; after each cut the
/// observer must see `who` go `reconnecting` and come back `reconnected`,
/// never `left`, and the launcher must say its seat was kept. Returns the
/// time each seat took to come back.
fn cut_and_resume(
    proxy: &Proxy,
    observer: &mut RawConn,
    launcher: &mut Launcher,
    who: &str,
    times: usize,
) -> Vec<Duration> {
    let mut took = Vec::with_capacity(times);
    for round in 0..times {
        let cut_at = Instant::now();
        assert_eq!(proxy.cut(), 1, "round {round}: one launcher connection to cut");
        let mut saw_reconnecting = false;
        observer.expect_event("the seat coming back", |e| match e {
            Event::RoomUpdate(u) if u.player.as_deref() == Some(who) => match u.event {
                RoomEventKind::Reconnecting => {
                    assert!(u.room.members.iter().any(|m| m == who), "seat kept: {u:?}");
                    saw_reconnecting = true;
                    None
                }
                RoomEventKind::Reconnected => Some(()),
                RoomEventKind::Left => panic!("round {round}: {who} lost the seat"),
                _ => None,
            },
            _ => None,
        });
        took.push(cut_at.elapsed());
        assert!(saw_reconnecting, "round {round}: reconnecting was shown first");
        launcher.expect("reconnected");
    }
    took
}

fn median_and_max(mut took: Vec<Duration>) -> (Duration, Duration) {
    took.sort();
    (took[took.len() / 2], *took.last().unwrap())
}

#[test]
fn a_launcher_cut_off_mid_room_and_mid_match_keeps_its_seat_every_time() {
    let tmp = tempfile::tempdir().unwrap();
    let lobby = lobby_with_slow_test_game(tmp.path(), "30");
    let proxy = Proxy::start(lobby.addr);
    let mut bob = raw_player(&lobby, "bob");
    let room: Value = bob.call(RoomCreate { game: "test".into() }).unwrap();
    let room_id = room["id"].as_u64().unwrap();

    let ann = Cli::new("gamestore-player", &proxy.addr.to_string(), &tmp.path().join("ann"))
        .env("GAMESTORE_BOT", "1");
    ann.sign_up("ann", PASSWORD);
    // Forget sign-up's finished connections: from here on, only play's.
    proxy.cut();
    let before = proxy.accepted();
    let mut play = Launcher::start(&ann, &["play", "test", "--json"]);
    assert_eq!(play.expect("room")["id"], room_id);
    bob.expect_event("ann joining", |e| match e {
        Event::RoomUpdate(u) if u.event == RoomEventKind::Joined => Some(()),
        _ => None,
    });

    let n = drops_per_phase();
    let in_room = cut_and_resume(&proxy, &mut bob, &mut play, "ann", n);
    let rooms: Value = bob.call(RoomList::default()).unwrap();
    assert_eq!(rooms["rooms"][0]["members"], serde_json::json!(["bob", "ann"]));

    // Mid-match: ann's game client is connected to the game server and
    // waits for bob's, while ann's lobby connection keeps being cut.
    bob.call(GameStartNotify {}).unwrap();
    let start = bob.expect_event("GAME_START", |e| match e {
        Event::GameStart(s) => Some(s.clone()),
        _ => None,
    });
    play.expect("game_start");
    let in_match = cut_and_resume(&proxy, &mut bob, &mut play, "ann", n);

    // Bob's client joins: the match completes, and ann's launcher, resumed
    // dozens of times, reports it and exits 0, its one game client having run.
    run_test_client(&start, "bob");
    let (status, lines) = play.finish();
    let output = lines.join("\n");
    assert!(status.success(), "play failed:\n{output}");
    assert!(output.contains(r#""outcome":"completed""#), "{output}");
    let greeted: Vec<&String> = lines.iter().filter(|l| l.starts_with("greeted:")).collect();
    assert_eq!(greeted.len(), 1, "{output}");
    assert_eq!(proxy.accepted() - before, 2 * n + 1, "one new connection per cut");

    let (room_median, room_max) = median_and_max(in_room);
    let (match_median, match_max) = median_and_max(in_match);
    eprintln!(
        "seat drops: {n} mid-room (resumed in median {room_median:?}, max {room_max:?}), \
         {n} mid-match (median {match_median:?}, max {match_max:?}); 0 seats lost"
    );
}

/// Runs the `test` game's client by hand for a GAME_START, as a launcher would.
fn run_test_client(start: &GameStart, name: &str) {
    let client = game_package("test").join("bin/test-client");
    let mut command = std::process::Command::new(client);
    command.args(["--host", &start.host, "--port", &start.port.to_string(), "--name", name]);
    command.args(["--token", &start.token]);
    gamestore_testkit::run_command(command, TIMEOUT).ok();
}

#[test]
fn players_who_do_not_come_back_leave_when_the_grace_period_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let lobby = lobby_with_slow_test_game(tmp.path(), "1");
    let mut bob = raw_player(&lobby, "bob");
    let room: Value = bob.call(RoomCreate { game: "test".into() }).unwrap();
    let room_id = room["id"].as_u64().unwrap();

    // A real launcher killed outright, and raw connections simply dropped.
    let ann = Cli::player(&lobby, &tmp.path().join("ann")).env("GAMESTORE_BOT", "1");
    ann.sign_up("ann", PASSWORD);
    let mut play = Launcher::start(&ann, &["play", "test", "--json"]);
    play.expect("room");
    let mut others: Vec<RawConn> = (0..5).map(|i| raw_player(&lobby, &format!("p{i}"))).collect();
    for conn in &mut others {
        conn.call(gamestore_protocol::RoomJoin { room: room_id }).unwrap();
    }
    let everyone: Vec<String> =
        std::iter::once("ann".to_owned()).chain((0..5).map(|i| format!("p{i}"))).collect();
    play.child.kill();
    drop(others);

    // Each is shown reconnecting, then leaves; nobody is left behind.
    let mut gone = std::collections::BTreeSet::new();
    while gone.len() < everyone.len() {
        let name = bob.expect_event("dropped players leaving", |e| match e {
            Event::RoomUpdate(u) if u.event == RoomEventKind::Left => u.player.clone(),
            _ => None,
        });
        gone.insert(name);
    }
    assert_eq!(gone, everyone.iter().cloned().collect());
    let rooms: Value = bob.call(RoomList::default()).unwrap();
    assert_eq!(rooms["rooms"][0]["members"], serde_json::json!(["bob"]));
    assert!(rooms["rooms"][0].get("reconnecting").is_none(), "{rooms}");
    let online: Value = bob.call(OnlineList::default()).unwrap();
    assert_eq!(online["players"].as_array().unwrap().len(), 1, "{online}");

    // Too late to resume: ann's next `play` starts over in the room as a new member.
    let mut again = Launcher::start(&ann, &["play", "test", "--json"]);
    let room = again.expect("room");
    assert_eq!(room["members"], serde_json::json!(["bob", "ann"]));
}
