//! Connection churn: thousands of connect / log in / drop cycles, and
//! players dropping mid-room and mid-match, leave nothing behind: no ghost
//! in ONLINE_LIST, no leaked room, game server, port or descriptor, and the
//! lobby's memory back near its baseline.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use gamestore_protocol::{
    Event, GameStartNotify, Login, OnlineList, Ping, Register, Resume, RoomCreate, RoomList,
};
use gamestore_testkit::{Cli, LobbyOptions, RawConn, TestLobby, game_package};

use super::{descendants, eventually, fast_lobby_args, scaled, seed, usage};

const PASSWORD: &str = "correct horse";
const CYCLES: usize = 10_000;
const ROOM_DROPS: usize = 300;

/// Drops the connection abruptly (RST), as a crashed client or a cut
/// network would.
fn abort(stream: &TcpStream) {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: setsockopt on a descriptor we own, with a correctly sized value.
    unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(stream),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

fn session(addr: SocketAddr, name: &str) -> String {
    let mut conn = RawConn::hello(addr);
    let _ = conn.call(Register::new(name, PASSWORD));
    conn.call(Login::new(name, PASSWORD)).unwrap()["token"].as_str().unwrap().to_owned()
}

fn churn_worker(addr: SocketAddr, token: String, cycles: usize, seed: u64) -> usize {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut done = 0;
    for _ in 0..cycles {
        let mut conn = RawConn::hello(addr);
        match rng.u8(..4) {
            0 => {} // drop right after HELLO
            1 => {
                conn.call(Resume { token: token.clone() }).unwrap();
            }
            _ => {
                conn.call(Resume { token: token.clone() }).unwrap();
                let _ = conn.call(OnlineList::default());
            }
        }
        if rng.bool() {
            abort(conn.stream());
        }
        drop(conn);
        done += 1;
    }
    done
}

#[test]
fn churn_and_drops_mid_room_and_mid_match_leave_nothing_behind() {
    let seed = seed();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut args = fast_lobby_args();
    args.extend(super::no_fair_use_limits());
    // Seats of dropped players and servers of emptied rooms go at once here:
    // this test is about leaks, the grace periods have their own tests.
    args.extend(super::no_grace_args());
    let lobby = TestLobby::start_with(LobbyOptions { args, ..Default::default() });
    let pid = lobby.pid();
    let tmp = tempfile::tempdir().unwrap();
    let dev = Cli::dev(&lobby, &tmp.path().join("dev"));
    dev.sign_up("dana", PASSWORD);
    dev.run(&["publish", game_package("test").to_str().unwrap()]).ok();

    let mut bystander = RawConn::hello(lobby.addr);
    bystander.call(Register::new("bystander", PASSWORD)).unwrap();
    bystander.call(Login::new("bystander", PASSWORD)).unwrap();
    let baseline = usage(pid);
    let started = Instant::now();

    // Connect / log in / drop cycles from four clients at once.
    let cycles = scaled(CYCLES);
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let token = session(lobby.addr, &format!("churn{w}"));
            let addr = lobby.addr;
            std::thread::spawn(move || churn_worker(addr, token, cycles / 4, seed + w))
        })
        .collect();
    while !workers.iter().all(|h| h.is_finished()) {
        assert!(bystander.call(Ping {}).is_ok(), "bystander lost (seed {seed})");
        std::thread::sleep(Duration::from_millis(50));
    }
    let cycled: usize = workers.into_iter().map(|h| h.join().unwrap()).sum();

    // Players dropping out of rooms, waiting or mid-match.
    let drops = scaled(ROOM_DROPS);
    let players: Vec<String> =
        (0..20).map(|i| session(lobby.addr, &format!("roomer{i}"))).collect();
    let mut mid_match = 0;
    let mut refused = 0;
    for i in 0..drops {
        let mut conn = RawConn::hello(lobby.addr);
        conn.call(Resume { token: players[i % players.len()].clone() }).unwrap();
        conn.call(RoomCreate { game: "test".into() }).unwrap();
        if rng.bool() {
            match conn.call(GameStartNotify {}) {
                Ok(_) => {
                    conn.expect_event("GAME_START", |e| {
                        matches!(e, Event::GameStart(_)).then_some(())
                    });
                    mid_match += 1;
                }
                // Fair-use limits or a full port range may refuse a start
                // while earlier servers wind down: still a drop mid-room.
                Err(_) => refused += 1,
            }
        }
        if rng.bool() {
            abort(conn.stream());
        }
    }

    // Nothing left: only the bystander online, no rooms, no game servers,
    // descriptors and memory back near the baseline.
    let clean = eventually(Duration::from_secs(60), || {
        let online = bystander.call(OnlineList::default()).unwrap();
        let rooms = bystander.call(RoomList::default()).unwrap();
        online["players"].as_array().unwrap().len() == 1
            && rooms["rooms"].as_array().unwrap().is_empty()
            && descendants(pid).is_empty()
            && usage(pid).fds <= baseline.fds + 4
    });
    let after = usage(pid);
    assert!(
        clean,
        "left behind (seed {seed}): online {}, rooms {}, children {:?}, {baseline:?} -> {after:?}",
        bystander.call(OnlineList::default()).unwrap(),
        bystander.call(RoomList::default()).unwrap(),
        descendants(pid),
    );
    let rss_growth_mib = after.rss_kib.saturating_sub(baseline.rss_kib) / 1024;
    assert!(rss_growth_mib < 64, "lobby RSS grew {rss_growth_mib} MiB (seed {seed})");
    assert!(mid_match > 0, "no match ever started (seed {seed})");
    eprintln!(
        "torture: churn cycles={cycled} room_drops={drops} mid_match={mid_match} refused_starts={refused} secs={:.1} \
         rss_kib={}->{} fds={}->{} seed={seed}",
        started.elapsed().as_secs_f64(),
        baseline.rss_kib,
        after.rss_kib,
        baseline.fds,
        after.fds
    );
}
