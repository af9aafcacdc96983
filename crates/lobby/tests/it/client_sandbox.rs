//! Game clients are hostile code on the player's machine: the launcher's
//! sandbox (`gamestore-player --sandbox`) against packages that try each
//! known escape, judged by effect; the sample games still play inside it,
//! with a real window under Xvfb; no game process outlives its launcher.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gamestore_protocol::{Event, GameStartNotify, Login, Register, RoomCreate};
use gamestore_testkit::{
    ChildGuard, Cli, LobbyOptions, Output, RawConn, TestLobby, game_variant, wait_until,
};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse";
const HOSTILE_CLIENT: &str =
    concat!(include_str!("hostile_common.py"), include_str!("hostile_client.py"));

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

/// Live Python processes (game clients and their daemons) tagged `tag`.
fn python_processes(tag: &str) -> usize {
    tagged_processes(tag)
        .iter()
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.starts_with(b"/usr/bin/python3"))
        })
        .count()
}

/// A package whose client is `script` (written into the package), run as
/// `python3 client.py {host} {port} {player} ARGS...`, the token in
/// `MATCH_TOKEN` as the sample manifests pass it.
fn client_script_game(parent: &Path, id: &str, script: &str, args: &[String]) -> PathBuf {
    let dir = game_variant(parent, "test", |m| {
        m["id"] = id.into();
        let mut command: Vec<Value> =
            ["/usr/bin/python3", "{game_dir}/client.py", "{host}", "{port}", "{player}"]
                .iter()
                .map(|a| json!(a))
                .collect();
        command.extend(args.iter().map(|a| json!(a)));
        m["client"]["command"] = Value::Array(command);
        m["client"]["env"] = json!({"MATCH_TOKEN": "{token}"});
    });
    std::fs::write(dir.join("client.py"), script).unwrap();
    dir
}

fn report_of(out: &Output) -> Value {
    let line = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("hostile-report "))
        .unwrap_or_else(|| panic!("no report: {out}"));
    serde_json::from_str(line).unwrap()
}

fn is_error(report: &Value, key: &str) -> bool {
    report[key].as_str().is_some_and(|s| s.starts_with("error"))
}

#[test]
fn a_hostile_game_client_cannot_reach_the_players_files_or_the_lobby() {
    let lobby = TestLobby::start();
    let tmp = tempfile::tempdir().unwrap();
    let dev = Cli::dev(&lobby, &tmp.path().join("dev"));
    dev.sign_up("dana", PASSWORD);
    // The player's own machine: a home with an ssh key, the launcher's
    // folder with the saved session and another installed game.
    let home = tmp.path().join("home/ann");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_rsa"), "SECRET-SSH").unwrap();
    let store = home.join(".gamestore");
    let ann =
        Cli::player(&lobby, &store).env("HOME", home.to_str().unwrap()).env("GAMESTORE_BOT", "1");
    ann.sign_up("ann", PASSWORD);
    let token = ann.saved_token();
    let other = game_variant(tmp.path(), "test", |m| m["id"] = "other".into());
    dev.run(&["publish", other.to_str().unwrap()]).ok();
    ann.run(&["install", "other"]).ok();
    let other_dir = store.join("games/ann/other");
    assert!(other_dir.is_dir());
    let service = TcpListener::bind("127.0.0.1:0").unwrap();
    service.set_nonblocking(true).unwrap();
    let tag = format!("hostile-client-daemon-{}", std::process::id());

    let game_dir = store.join("games/ann/hostile/1.0.0");
    let targets = json!({
        "session": store.join("session-player.json"),
        "ssh_key": home.join(".ssh/id_rsa"),
        "home": home,
        "other_game": other_dir,
        "game_dir": game_dir,
        "lobby_port": lobby.addr.port(),
        "service_port": service.local_addr().unwrap().port(),
        "tag": tag,
    });
    let package = client_script_game(
        tmp.path(),
        "hostile",
        HOSTILE_CLIENT,
        &[hex::encode(targets.to_string())],
    );
    dev.run(&["publish", package.to_str().unwrap()]).ok();

    let out = ann.run(&["play", "hostile", "--start-when", "1"]);
    out.ok();
    let report = report_of(&out);
    // Its install folder is where the launcher put it.
    let installed = ann.run(&["library", "--json"]).ok().json();
    let path = installed.as_array().unwrap().iter().find(|g| g["id"] == "hostile").unwrap()["path"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(Path::new(&path).canonicalize().unwrap(), game_dir.canonicalize().unwrap());

    assert_eq!(report["cap_eff"], "0000000000000000", "{report}");
    // (Writing "$HOME" lands in the view's private /tmp when the home is under
    // /tmp, as here; the effect on the real one is checked below.)
    for key in ["read_session", "read_ssh_key", "write_other_game", "write_own_install"] {
        assert!(is_error(&report, key), "{key}: {report}");
    }
    assert!(!out.stdout.contains(&token) && !out.stdout.contains("SECRET"), "{out}");
    assert!(!home.join("escaped-marker").exists());
    assert!(!other_dir.join("evil.txt").exists());
    assert!(!game_dir.join("evil.txt").exists());
    // It reached its own game server (the match completed) and nothing else:
    // not the lobby (so no RESUME with a stolen session), not a local service.
    for key in ["connect_lobby", "connect_local_service", "tiocsti", "unshare_user"] {
        assert!(is_error(&report, key), "{key}: {report}");
    }
    assert!(matches!(service.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock));
    // A pid namespace of its own: it sees only the sandbox's processes.
    assert!(report["visible_processes"].as_u64().unwrap() < 10, "{report}");
    // Its private folder is writable and kept under the launcher's folder.
    assert_eq!(report["write_private"], "ok", "{report}");
    let private = store.join("game-data/ann/hostile");
    assert_eq!(std::fs::read_to_string(private.join("matches-played")).unwrap(), "1");
    // The daemon it left is gone now that `play` has exited.
    wait_until("the client's daemon to die", || tagged_processes(&tag).is_empty());

    // A second match finds its saved data.
    let again = ann.run(&["play", "hostile", "--start-when", "1"]);
    again.ok();
    assert_eq!(std::fs::read_to_string(private.join("matches-played")).unwrap(), "2");
}

/// A client that never connects: sleeps, tagged by its player name.
const SLEEPER: &str = r#"
import os, sys, time
if os.fork() == 0:
    os.setsid()
    os.execv(sys.executable, [sys.executable, "-c", "import time\nwhile True: time.sleep(1)", sys.argv[4]])
while True:
    time.sleep(1)
"#;

fn raw_host(lobby: &TestLobby, name: &str) -> RawConn {
    let mut conn = RawConn::hello(lobby.addr);
    conn.call(Register::new(name, PASSWORD)).unwrap();
    conn.call(Login::new(name, PASSWORD)).unwrap();
    conn
}

#[test]
fn game_clients_die_when_their_launcher_is_killed_and_tokens_stay_off_command_lines() {
    for mode in ["auto", "off"] {
        let lobby = TestLobby::start_with(LobbyOptions::default());
        let tmp = tempfile::tempdir().unwrap();
        let dev = Cli::dev(&lobby, &tmp.path().join("dev"));
        dev.sign_up("dana", PASSWORD);
        let tag = format!("sleeper-{mode}-{}", std::process::id());
        let package =
            client_script_game(tmp.path(), "sleeper", SLEEPER, std::slice::from_ref(&tag));
        dev.run(&["publish", package.to_str().unwrap()]).ok();
        let mut host = raw_host(&lobby, "host");
        let room = host.call(RoomCreate { game: "sleeper".into() }).unwrap();
        let room_id = room["id"].as_u64().unwrap().to_string();
        // Three launchers join and run their clients.
        let mut launchers = Vec::new();
        for i in 0..3 {
            let cli = Cli::player(&lobby, &tmp.path().join(format!("p{i}")));
            cli.sign_up(&format!("p{i}"), PASSWORD);
            let mut command = cli.command(&["--sandbox", mode, "join", &room_id]);
            command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
            launchers.push(ChildGuard::new(command.spawn().unwrap(), format!("launcher p{i}")));
        }
        wait_until("three members", || lobby_members(&mut host) >= 4);
        host.call(GameStartNotify {}).unwrap();
        let start = host.expect_event("GAME_START", |e| match e {
            Event::GameStart(s) => Some(s.clone()),
            _ => None,
        });
        // Each client and its daemon run.
        wait_until("three clients and their daemons", || python_processes(&tag) >= 6);
        // The match token is on no command line on this machine.
        assert!(tagged_processes(&start.token).is_empty(), "token visible in a command line");
        for launcher in &mut launchers {
            launcher.signal(libc::SIGKILL);
        }
        let deadline = std::time::Instant::now() + gamestore_testkit::TIMEOUT;
        while !tagged_processes(&tag).is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "{mode}: still running after their launchers were killed: {:?}",
                tagged_processes(&tag)
                    .iter()
                    .map(|p| std::fs::read_to_string(format!("/proc/{p}/status"))
                        .unwrap_or_default()
                        .lines()
                        .take(3)
                        .collect::<Vec<_>>()
                        .join(" "))
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

/// Members in every room of the lobby, as `conn` (logged in) sees them.
fn lobby_members(conn: &mut RawConn) -> usize {
    let rooms = conn.call(gamestore_protocol::RoomList::default()).unwrap();
    let list = if rooms.is_array() { rooms } else { rooms["rooms"].clone() };
    list.as_array()
        .map(|r| r.iter().map(|room| room["members"].as_array().map_or(0, |m| m.len())).sum())
        .unwrap_or(0)
}

/// A private Xvfb display with a cookie, stopped on drop.
struct Display {
    _server: ChildGuard,
    name: String,
    authority: PathBuf,
}

fn start_display(dir: &Path) -> Display {
    let number = (100..200)
        .map(|n| n + std::process::id() % 100)
        .find(|n| !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists())
        .unwrap();
    let name = format!(":{number}");
    let authority = dir.join("Xauthority");
    let mut bytes = [0u8; 16];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut bytes)
        .unwrap();
    let cookie = hex::encode(bytes);
    let status = Command::new("xauth")
        .args(["-f", authority.to_str().unwrap(), "add", &name, ".", &cookie])
        .status()
        .expect("xauth is needed for the window test: apt-get install -y xauth");
    assert!(status.success());
    let server = Command::new("Xvfb")
        .args([&name, "-auth", authority.to_str().unwrap(), "-nolisten", "tcp"])
        .args(["-screen", "0", "1024x768x24"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb is needed for the window test: apt-get install -y xvfb");
    let server = ChildGuard::new(server, "Xvfb");
    wait_until("Xvfb to listen", || Path::new(&format!("/tmp/.X11-unix/X{number}")).exists());
    Display { _server: server, name, authority }
}

/// True when a top-level window titled `title` is on `display`.
fn window_shown(display: &Display, title: &str) -> bool {
    Command::new("xwininfo")
        .args(["-root", "-tree", "-display", &display.name])
        .env("XAUTHORITY", &display.authority)
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(title))
}

#[test]
fn the_gui_sample_game_shows_a_real_window_from_inside_the_sandbox() {
    let lobby = TestLobby::start();
    let tmp = tempfile::tempdir().unwrap();
    let display = start_display(tmp.path());
    let dev = Cli::dev(&lobby, &tmp.path().join("dev"));
    dev.sign_up("dana", PASSWORD);
    let pong = game_variant(tmp.path(), "pong", |m| {
        let command = m["server"]["command"].as_array_mut().unwrap();
        command.extend(["--points", "1", "--tick-hz", "240"].iter().map(|f| json!(f)));
    });
    dev.run(&["publish", pong.to_str().unwrap()]).ok();
    let viewer = Cli::player(&lobby, &tmp.path().join("viewer"))
        .env("DISPLAY", &display.name)
        .env("XAUTHORITY", display.authority.to_str().unwrap())
        .env("GAMESTORE_BOT", "window");
    viewer.sign_up("viewer", PASSWORD);
    let rival = Cli::player(&lobby, &tmp.path().join("rival")).env("GAMESTORE_BOT", "1");
    rival.sign_up("rival", PASSWORD);
    let mut command = viewer.command(&["--sandbox", "on", "play", "pong", "--start-when", "2"]);
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut windowed = ChildGuard::new(command.spawn().unwrap(), "windowed player");
    let mut watcher = raw_host(&lobby, "watcher");
    wait_until("the room", || lobby_members(&mut watcher) >= 1);
    let rival_run = std::thread::spawn(move || rival.run(&["play", "pong"]));
    wait_until("the pong window", || window_shown(&display, "Pong - viewer"));
    let status = windowed.wait_timeout(gamestore_testkit::TIMEOUT);
    let rival_out = rival_run.join().unwrap();
    rival_out.ok();
    assert!(status.success(), "the windowed player failed: {status}");
}

#[test]
fn without_bubblewrap_auto_says_so_and_still_confines_and_on_refuses() {
    let lobby = TestLobby::start();
    let tmp = tempfile::tempdir().unwrap();
    let dev = Cli::dev(&lobby, &tmp.path().join("dev"));
    dev.sign_up("dana", PASSWORD);
    let home = tmp.path().join("home/ann");
    let store = home.join(".gamestore");
    // No bwrap on this PATH.
    let ann = Cli::player(&lobby, &store)
        .env("HOME", home.to_str().unwrap())
        .env("PATH", "/nonexistent")
        .env("GAMESTORE_BOT", "1");
    ann.sign_up("ann", PASSWORD);
    let tag = format!("no-bwrap-daemon-{}", std::process::id());
    let game_dir = store.join("games/ann/hostile/1.0.0");
    let targets = json!({
        "session": store.join("session-player.json"),
        "ssh_key": home.join(".ssh/id_rsa"),
        "home": home,
        "other_game": store.join("games/ann"),
        "game_dir": game_dir,
        "lobby_port": lobby.addr.port(),
        "service_port": 9,
        "tag": tag,
    });
    let package = client_script_game(
        tmp.path(),
        "hostile",
        HOSTILE_CLIENT,
        &[hex::encode(targets.to_string())],
    );
    // A short join wait, so that the refused client's match ends soon.
    let config = package.join("config.json");
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    let server = manifest["server"]["command"].as_array_mut().unwrap();
    server.extend([json!("--timeout"), json!("3")]);
    std::fs::write(&config, serde_json::to_vec(&manifest).unwrap()).unwrap();
    dev.run(&["publish", package.to_str().unwrap()]).ok();

    let refused = ann.run(&["--sandbox", "on", "play", "hostile", "--start-when", "1"]);
    assert!(!refused.success(), "{refused}");
    assert!(
        refused.stdout.contains("needs bubblewrap") || refused.stderr.contains("needs bubblewrap"),
        "{refused}"
    );

    let out = ann.run(&["play", "hostile", "--start-when", "1"]);
    out.ok();
    assert!(out.stderr.contains("bubblewrap does not work here"), "{out}");
    let report = report_of(&out);
    // Landlock is the wall now: the session, the home and the lobby stay out of reach.
    for key in ["read_session", "write_home", "write_own_install", "connect_lobby", "tiocsti"] {
        assert!(is_error(&report, key), "{key}: {report}");
    }
    assert!(!home.join("escaped-marker").exists());
    assert!(!game_dir.join("evil.txt").exists());
    // Without a view the host's /proc is out of reach too.
    assert!(is_error(&report, "visible_processes"), "{report}");
    wait_until("the client's daemon to die", || tagged_processes(&tag).is_empty());
}
