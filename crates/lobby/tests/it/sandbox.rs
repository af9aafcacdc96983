//! Game servers are hostile code: packages that try each known escape
//! against the real lobby (run as root, as CI and many admins run it), each
//! attempt judged by its effect on the host.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixListener};
use std::path::{Path, PathBuf};

use gamestore_protocol::{
    Event, GameStart, GameStartNotify, Login, MatchEnded, MatchOutcome, Register, RoomCreate,
};
use gamestore_testkit::{Cli, LobbyOptions, RawConn, TestLobby, game_variant, wait_until};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse";
const HOSTILE_SERVER: &str =
    concat!(include_str!("hostile_common.py"), include_str!("hostile_server.py"));

fn lobby(args: &[&str]) -> TestLobby {
    TestLobby::start_with(LobbyOptions {
        args: args.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    })
}

fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn host(lobby: &TestLobby, name: &str) -> RawConn {
    let mut conn = RawConn::hello(lobby.addr);
    conn.call(Register::new(name, PASSWORD)).unwrap();
    conn.call(Login::new(name, PASSWORD)).unwrap();
    conn
}

/// A package whose server is a Python script (written into the package)
/// with `args` after `{port}`.
fn script_game(parent: &Path, id: &str, script: &str, args: &[String]) -> PathBuf {
    let dir = game_variant(parent, "test", |m| {
        m["id"] = id.into();
        let mut command =
            vec![json!("/usr/bin/python3"), json!("{game_dir}/server.py"), json!("{port}")];
        command.extend(args.iter().map(|a| json!(a)));
        m["server"]["command"] = Value::Array(command);
    });
    std::fs::write(dir.join("server.py"), script).unwrap();
    dir
}

/// Pids of live processes whose command line holds `tag`.
fn tagged_processes(tag: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        if String::from_utf8_lossy(&cmdline).contains(tag) {
            found.push(pid);
        }
    }
    found
}

fn game_start(conn: &mut RawConn) -> GameStart {
    conn.expect_event("GAME_START", |e| match e {
        Event::GameStart(s) => Some(s.clone()),
        _ => None,
    })
}

fn match_ended(conn: &mut RawConn) -> MatchEnded {
    conn.expect_event("MATCH_ENDED", |e| match e {
        Event::MatchEnded(m) => Some(m.clone()),
        _ => None,
    })
}

/// Connects to the game server as the test's own client and reads the
/// report line it sends.
fn read_report(port: u16) -> (TcpStream, Value) {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(gamestore_testkit::TIMEOUT)).unwrap();
    let mut line = String::new();
    BufReader::new(stream.try_clone().unwrap()).read_line(&mut line).unwrap();
    (stream, serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
}

fn is_error(report: &Value, key: &str) -> bool {
    report[key].as_str().is_some_and(|s| s.starts_with("error"))
}

fn first_number(text: &str) -> u64 {
    text.split(|c: char| !c.is_ascii_digit()).find(|s| !s.is_empty()).unwrap().parse().unwrap()
}

#[test]
fn a_hostile_game_server_escapes_nothing() {
    let lobby =
        lobby(&["--sandbox", "on", "--game-max-processes", "32", "--game-max-memory", "256M"]);
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = lobby.data_dir().canonicalize().unwrap();

    // What a server must not reach: the lobby's files, a player's session,
    // another user's home, another developer's published version.
    std::fs::write(data_dir.join("lobby.log"), "SECRET-LOG").unwrap();
    let player = Cli::player(&lobby, &tmp.path().join("ann"));
    player.sign_up("ann", PASSWORD);
    let session = tmp.path().join("ann/session-player.json");
    assert!(session.exists());
    let other_home = tmp.path().join("home/eve/.ssh/id_rsa");
    std::fs::create_dir_all(other_home.parent().unwrap()).unwrap();
    std::fs::write(&other_home, "SECRET-SSH").unwrap();
    let other_dev = Cli::dev(&lobby, &tmp.path().join("olga"));
    other_dev.sign_up("olga", PASSWORD);
    let other_game = game_variant(tmp.path(), "test", |m| m["id"] = "other".into());
    other_dev.run(&["publish", other_game.to_str().unwrap()]).ok();
    let other_version = std::fs::read_dir(data_dir.join("games/other"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .expect("the other game's version folder");

    // Local services a server must not reach.
    let service = TcpListener::bind("127.0.0.1:0").unwrap();
    service.set_nonblocking(true).unwrap();
    let service_port = service.local_addr().unwrap().port();
    let udp = UdpSocket::bind(("127.0.0.1", service_port)).unwrap();
    udp.set_nonblocking(true).unwrap();
    let tag = format!("hostile-daemon-{}", std::process::id());
    let abstract_name = format!("gamestore-test-{tag}");
    let abstract_listener =
        UnixListener::bind_addr(&UnixAddr::from_abstract_name(&abstract_name).unwrap()).unwrap();
    abstract_listener.set_nonblocking(true).unwrap();
    let marker = tmp.path().join("escaped-marker");

    let targets = json!({
        "host_marker": marker,
        "other_version": other_version,
        "lobby_db": data_dir.join("lobby.db"),
        "lobby_log": data_dir.join("lobby.log"),
        "session": session,
        "shadow": "/etc/shadow",
        "other_home": other_home,
        "data_dir": data_dir,
        "lobby_port": lobby.addr.port(),
        "service_port": service_port,
        "abstract": abstract_name,
        "tag": tag,
    });
    let dev = Cli::dev(&lobby, &tmp.path().join("mallory"));
    dev.sign_up("mallory", PASSWORD);
    let package =
        script_game(tmp.path(), "hostile", HOSTILE_SERVER, &[hex::encode(targets.to_string())]);
    dev.run(&["publish", package.to_str().unwrap()]).ok();

    let mut conn = host(&lobby, "host");
    conn.call(RoomCreate { game: "hostile".into() }).unwrap();
    conn.call(GameStartNotify {}).unwrap();
    let start = game_start(&mut conn);
    let (mut stream, report) = read_report(start.port);
    // The daemon it forked is running now...
    wait_until("the server's daemon to run", || !tagged_processes(&tag).is_empty());
    stream.write_all(b"bye\n").unwrap();
    let ended = match_ended(&mut conn);
    assert_eq!(ended.outcome, MatchOutcome::Completed, "{}", ended.message);
    // ...and gone with the match.
    wait_until("the server's daemon to die with the match", || tagged_processes(&tag).is_empty());

    // No privilege.
    assert_eq!(report["cap_eff"], "0000000000000000", "{report}");
    if is_root() {
        assert_ne!(report["uid"], 0, "{report}");
    }
    for key in [
        "remount_root_rw",
        "mount_tmpfs",
        "umount_tmp",
        "unshare_user",
        "unshare_mount",
        "ptrace_init",
    ] {
        assert!(is_error(&report, key), "{key}: {report}");
    }
    // Nothing written on the host, nothing read from it.
    assert!(!marker.exists(), "{report}");
    assert!(!other_version.join("evil.txt").exists(), "{report}");
    for key in ["read_lobby_db", "read_lobby_log", "read_session", "read_shadow", "read_other_home"]
    {
        assert!(is_error(&report, key), "{key}: {report}");
    }
    let text = report.to_string();
    assert!(
        !text.contains("SECRET") && !text.contains("token") && !text.contains("SQLite"),
        "{report}"
    );
    for key in ["list_home", "list_root"] {
        assert!(is_error(&report, key) || report[key] == json!([]), "{key}: {report}");
    }
    let listed = report["list_data_dir"].as_array().cloned().unwrap_or_default();
    assert!(listed.iter().all(|e| e == "games" || e == "matches"), "{report}");
    // No network but its own port: the lobby and the local service saw nothing.
    for key in
        ["connect_lobby", "connect_local_service", "bind_other_port", "udp_send", "abstract_unix"]
    {
        assert!(is_error(&report, key), "{key}: {report}");
    }
    assert!(matches!(service.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock));
    assert!(matches!(udp.recv(&mut [0; 16]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock));
    assert!(
        matches!(abstract_listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    );
    // Limits.
    let forked = first_number(report["fork_300"].as_str().unwrap());
    assert!(forked < 32, "{report}");
    let touched = first_number(report["touch_3gib"].as_str().unwrap());
    assert!(touched <= 256, "touched {touched} MiB past a 256 MiB cap: {report}");
    assert!(is_error(&report, "map_10gib"), "{report}");
    // The lobby said which limits hold.
    let log = lobby.log();
    assert!(log.contains("game server limits per match: processes 32"), "{log}");
}

/// A server that double-forks a daemon (tagged by its argv), then waits
/// for the test to connect and say bye.
const DAEMON_SERVER: &str = r#"
import os, socket, sys, time
port, tag = int(sys.argv[1]), sys.argv[2]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time\nwhile True: time.sleep(1)", tag])
    os._exit(0)
os.wait()
s.accept()[0].close()
c = s.accept()[0]
c.sendall(b"{}\n")
c.recv(16)
"#;

fn start_daemon_match(lobby: &TestLobby, tmp: &Path, tag: &str) -> (RawConn, TcpStream) {
    let dev = Cli::dev(lobby, &tmp.join("dev"));
    dev.sign_up("dana", PASSWORD);
    let package = script_game(tmp, "daemon", DAEMON_SERVER, &[tag.to_owned()]);
    dev.run(&["publish", package.to_str().unwrap()]).ok();
    let mut conn = host(lobby, "host");
    conn.call(RoomCreate { game: "daemon".into() }).unwrap();
    conn.call(GameStartNotify {}).unwrap();
    let start = game_start(&mut conn);
    let (stream, _) = read_report(start.port);
    wait_until("the daemon to run", || !tagged_processes(tag).is_empty());
    (conn, stream)
}

#[test]
fn without_the_sandbox_a_daemon_still_dies_with_its_match() {
    let lobby = lobby(&["--sandbox", "off"]);
    let tmp = tempfile::tempdir().unwrap();
    let tag = format!("daemon-off-match-{}", std::process::id());
    let (mut conn, mut stream) = start_daemon_match(&lobby, tmp.path(), &tag);
    stream.write_all(b"bye\n").unwrap();
    let ended = match_ended(&mut conn);
    assert_eq!(ended.outcome, MatchOutcome::Completed, "{}", ended.message);
    wait_until("the daemon to die with the match", || tagged_processes(&tag).is_empty());
    if is_root() {
        assert!(lobby.log().contains("runs as root with --sandbox off"), "{}", lobby.log());
    }
}

#[test]
fn without_the_sandbox_a_daemon_dies_when_the_lobby_stops() {
    let mut lobby = lobby(&["--sandbox", "off"]);
    let tmp = tempfile::tempdir().unwrap();
    let tag = format!("daemon-off-stop-{}", std::process::id());
    let (_conn, _stream) = start_daemon_match(&lobby, tmp.path(), &tag);
    lobby.terminate();
    wait_until("the daemon to die with the lobby", || tagged_processes(&tag).is_empty());
}

#[test]
fn a_sandboxed_daemon_dies_when_the_lobby_is_killed() {
    let mut lobby = lobby(&["--sandbox", "on"]);
    let tmp = tempfile::tempdir().unwrap();
    let tag = format!("daemon-on-kill-{}", std::process::id());
    let (_conn, _stream) = start_daemon_match(&lobby, tmp.path(), &tag);
    lobby.kill9();
    wait_until("the daemon to die with the lobby", || tagged_processes(&tag).is_empty());
}

/// Writes 1 MiB files into the match folder until stopped (up to 2 GiB).
const DISK_FILLER: &str = r#"
import os, socket, sys
port = int(sys.argv[1])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen()
s.accept()[0].close()
block = b"x" * (1 << 20)
for i in range(2048):
    try:
        with open("fill-%d" % i, "wb") as f:
            f.write(block)
    except OSError:
        pass
"#;

#[test]
fn a_match_that_fills_its_folder_is_stopped_at_the_disk_cap() {
    let lobby = lobby(&["--game-max-disk", "8M"]);
    let tmp = tempfile::tempdir().unwrap();
    let dev = Cli::dev(&lobby, &tmp.path().join("dev"));
    dev.sign_up("dana", PASSWORD);
    let package = script_game(tmp.path(), "filler", DISK_FILLER, &[]);
    dev.run(&["publish", package.to_str().unwrap()]).ok();
    let mut conn = host(&lobby, "host");
    conn.call(RoomCreate { game: "filler".into() }).unwrap();
    conn.call(GameStartNotify {}).unwrap();
    let ended = match_ended(&mut conn);
    assert_eq!(ended.outcome, MatchOutcome::Failed, "{}", ended.message);
    assert!(ended.message.contains("more than 8 MiB to its match folder"), "{}", ended.message);
    let folder = lobby.data_dir().join(format!("matches/{}", ended.match_id));
    let used: u64 = std::fs::read_dir(&folder)
        .unwrap()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    // Stopped long before its 2 GiB.
    assert!(used < 1 << 30, "{used} bytes in {}", folder.display());
}
