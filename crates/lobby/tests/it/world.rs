//! What the match and launcher tests share: a lobby with a signed-up
//! developer, players made as a user would make them, and the events of
//! `play --json`.

use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use gamestore_protocol::{Login, Register};
use gamestore_testkit::{
    ChildGuard, Cli, LobbyOptions, Output, RawConn, TIMEOUT, TestLobby, game_package,
};
use serde_json::Value;

pub const PASSWORD: &str = "correct horse";

/// A lobby, a temporary folder for homes and games, and developer dana.
pub struct World {
    pub lobby: TestLobby,
    pub tmp: tempfile::TempDir,
    pub dev: Cli,
}

pub fn world() -> World {
    world_with(&[])
}

/// [`world`] with extra lobby flags.
pub fn world_with(args: &[&str]) -> World {
    let lobby = TestLobby::start_with(LobbyOptions {
        args: args.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let dev = Cli::dev(&lobby, &tmp.path().join("dev"));
    dev.sign_up("dana", PASSWORD);
    World { lobby, tmp, dev }
}

/// Dana publishes the game in `folder`.
pub fn publish(w: &World, folder: &std::path::Path) {
    w.dev.run(&["publish", folder.to_str().unwrap()]).ok();
}

/// A signed-up player whose game clients play as bots.
pub fn player(w: &World, name: &str) -> Cli {
    bot_player(&w.lobby, &w.tmp, name)
}

/// [`player`] on any lobby, with a home in `tmp`.
pub fn bot_player(lobby: &TestLobby, tmp: &tempfile::TempDir, name: &str) -> Cli {
    let cli = Cli::player(lobby, &tmp.path().join(name)).env("GAMESTORE_BOT", "1");
    cli.sign_up(name, PASSWORD);
    cli
}

/// A lobby where dana has published the `test` game.
pub fn lobby_with_test_game() -> (TestLobby, tempfile::TempDir, Cli) {
    let w = world();
    publish(&w, &game_package("test"));
    (w.lobby, w.tmp, w.dev)
}

/// A registered, logged-in player on a raw connection.
pub fn raw_player(w: &World, name: &str) -> RawConn {
    registered_player(&w.lobby, name)
}

/// Registers `name` with `lobby` and logs in on a new raw connection.
pub fn registered_player(lobby: &TestLobby, name: &str) -> RawConn {
    let mut conn = RawConn::hello(lobby.addr);
    conn.call(Register::new(name, PASSWORD)).unwrap();
    conn.call(Login::new(name, PASSWORD)).unwrap();
    conn
}

/// The JSON event lines of `play --json` with the given type.
pub fn events_of(out: &Output, kind: &str) -> Vec<Value> {
    out.stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == kind)
        .map(|v| v["data"].clone())
        .collect()
}

/// `play` or `join` running in the background; its stdout lines arrive on
/// `lines`, and (when started with [`Launcher::with_stdin`]) lines can be
/// typed to it.
pub struct Launcher {
    pub child: ChildGuard,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Launcher {
    /// Starts `cli args` with no input.
    pub fn start(cli: &Cli, args: &[&str]) -> Launcher {
        Launcher::spawn(cli, args, Stdio::null())
    }

    /// Starts `cli args` with a pipe on its standard input ([`Launcher::type_line`]).
    pub fn with_stdin(cli: &Cli, args: &[&str]) -> Launcher {
        Launcher::spawn(cli, args, Stdio::piped())
    }

    fn spawn(cli: &Cli, args: &[&str], stdin: Stdio) -> Launcher {
        let mut command = cli.command(args);
        command.stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = command.spawn().expect("start gamestore-player");
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let name = format!("gamestore-player {}", args.join(" "));
        Launcher { child: ChildGuard::new(child, name), stdin, lines, seen: Vec::new() }
    }

    /// Types `line` (and Enter).
    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("started with_stdin");
        writeln!(stdin, "{line}").expect("type a line");
        stdin.flush().unwrap();
    }

    /// Waits for a JSON line of type `kind`.
    #[track_caller]
    pub fn expect(&mut self, kind: &str) -> Value {
        self.expect_where(kind, |_| true)
    }

    /// Waits for a JSON line of type `kind` whose data passes `wanted`.
    #[track_caller]
    pub fn expect_where(&mut self, kind: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "no such {kind} line from the launcher; it printed:\n{}",
                    self.seen.join("\n")
                )
            });
            self.seen.push(line.clone());
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["type"] == kind
                && wanted(&v["data"])
            {
                return v["data"].clone();
            }
        }
    }

    /// The rest of the output, once the launcher has exited; its exit status.
    pub fn finish(&mut self) -> (ExitStatus, Vec<String>) {
        self.stdin = None;
        let status = self.child.wait_timeout(TIMEOUT);
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        (status, self.seen.clone())
    }
}

/// Every file a lobby reads chunk bytes from, sorted: the files of its
/// chunk store (compressed chunks, loose ones) and the files of its stored
/// versions (which hold every other chunk's raw bytes).
pub fn served_files(lobby: &TestLobby) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let data = lobby.data_dir();
    let mut out = Vec::new();
    if let Ok(shards) = std::fs::read_dir(data.join("chunks")) {
        for shard in shards.flatten().filter(|s| s.file_name() != "tmp") {
            walk(&shard.path(), &mut out);
        }
    }
    if let Ok(games) = std::fs::read_dir(data.join("games")) {
        for versions in games.flatten().filter_map(|g| std::fs::read_dir(g.path()).ok()) {
            for version in versions.flatten() {
                walk(&version.path().join("files"), &mut out);
            }
        }
    }
    out.sort();
    out
}
