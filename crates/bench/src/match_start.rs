//! Scenario 5: match start. The host of a full room sends GAME_START_NOTIFY;
//! the lobby spawns the `test` game's server, waits until it listens and
//! sends every member GAME_START; each member runs the game client the way
//! the launcher does (the installed version's `config.json`, placeholders
//! filled from GAME_START) and the client prints `joined:` once the server
//! has welcomed it and `greeted:` once everyone is in. Times are from the
//! host's request to the last member's event or line.
//!
//! The reference is the game's own start-up: its server run directly, from
//! spawn to its `listening on` line, plain and through the lobby's own
//! sandbox (view, exec step, control group); and a game client from spawn
//! to connected, plain and through the launcher's sandbox.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use gamestore_client::LobbyClient;
use gamestore_client::install::{OlderVersions, install};
use gamestore_client::launcher::{LaunchOptions, SandboxMode, client_command};
use gamestore_client::library::Library;
use gamestore_client::transfer::upload_package;
use gamestore_package::{pack_dir, sha256_file};
use gamestore_protocol::{
    Event, GameClientExited, GameStart, GameStartNotify, GameUpload, MatchOutcome, RoomCreate,
    RoomJoin,
};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use crate::accounts::{new_developer, new_players};
use crate::lobby::Server;
use crate::stats::Summary;

/// Longest a whole match may take.
const MATCH_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Serialize)]
pub struct MatchOptions {
    /// Members of the room (the test game takes 1 to 16).
    pub players: usize,
    pub repeats: usize,
    /// The packaged `test` game (`scripts/package-games OUT test` → OUT/test).
    pub test_game: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct MatchResult {
    pub players: usize,
    pub repeats: usize,
    /// Whether the lobby ran game servers in a bubblewrap sandbox.
    pub sandboxed: Option<bool>,
    /// GAME_START_NOTIFY's reply to the host.
    pub start_reply_ms: Summary,
    /// Until every member had GAME_START.
    pub game_start_all_ms: Summary,
    /// Until every member's game client was connected and welcomed.
    pub connected_all_ms: Summary,
    /// Until every member's game client was greeted (all in the match).
    pub greeted_all_ms: Summary,
    /// The test game's server run directly: spawn to `listening on`.
    pub server_startup_ms: Summary,
    /// The same through the lobby's sandbox, when bubblewrap works here.
    pub server_startup_sandboxed_ms: Option<Summary>,
    /// A game client run by the launcher with `--sandbox off`: spawn to `joined:`.
    pub client_connect_ms: Summary,
    /// The same with the launcher's sandbox (`--sandbox on`), when it works here.
    pub client_connect_sandboxed_ms: Option<Summary>,
}

/// What a member's task saw, with when.
#[derive(Debug)]
enum Note {
    GameStart,
    Connected,
    Greeted,
    ClientExited(Result<(), String>),
    Ended(MatchOutcome, String),
}

pub async fn run(
    server: &Server,
    tag: &str,
    options: &MatchOptions,
    work: &Path,
) -> anyhow::Result<MatchResult> {
    let players = options.players.clamp(1, 16);
    let game_id = format!("{tag}-test");
    let folder = work.join("match-game");
    copy_test_game(&options.test_game, &folder, &game_id)?;
    let dev = new_developer(&server.addr, &format!("{tag}mdev")).await?;
    publish(&dev, &folder, &game_id).await?;

    crate::progress(&format!("match: {players} players install {game_id}"));
    let clients: Vec<Arc<LobbyClient>> = new_players(&server.addr, &format!("{tag}m"), players, 16)
        .await?
        .into_iter()
        .map(Arc::new)
        .collect();
    let (notes_tx, mut notes) = mpsc::unbounded_channel::<(usize, Note, Instant)>();
    for (i, client) in clients.iter().enumerate() {
        let name = format!("{tag}m{i}");
        let library = Library::new(&work.join(format!("home{i}")), &name);
        install(client, &library, &game_id, None, OlderVersions::Keep).await?;
        let events = client.events().context("events taken twice")?;
        tokio::spawn(member(i, name, client.clone(), library, events, notes_tx.clone()));
    }
    let host = &clients[0];
    let room = host.call(RoomCreate { game: game_id.clone() }).await?;
    for client in &clients[1..] {
        client.call(RoomJoin { room: room.id }).await?;
    }

    crate::progress(&format!("match: {} matches of {players}", options.repeats));
    let (mut replies, mut starts, mut connected, mut greeted) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for repeat in 0..options.repeats.max(1) {
        let started = Instant::now();
        host.call(GameStartNotify {}).await.with_context(|| format!("start match {repeat}"))?;
        replies.push(started.elapsed());
        let mut last = [started; 3];
        let (mut exited, mut ended) = (0, 0);
        let deadline = tokio::time::Instant::now() + MATCH_TIMEOUT;
        while exited < players || ended < players {
            let Ok(Some((member, note, at))) =
                tokio::time::timeout_at(deadline, notes.recv()).await
            else {
                bail!("match {repeat} did not finish within {MATCH_TIMEOUT:?}");
            };
            match note {
                Note::GameStart => last[0] = last[0].max(at),
                Note::Connected => last[1] = last[1].max(at),
                Note::Greeted => last[2] = last[2].max(at),
                Note::ClientExited(Ok(())) => exited += 1,
                Note::ClientExited(Err(e)) => bail!("player {member}'s game client: {e}"),
                Note::Ended(MatchOutcome::Completed, _) => ended += 1,
                Note::Ended(outcome, message) => {
                    bail!("match {repeat} ended {}: {message}", outcome.as_str())
                }
            }
        }
        starts.push(last[0] - started);
        connected.push(last[1] - started);
        greeted.push(last[2] - started);
    }

    crate::progress("match: game server start-up on its own");
    let startup_runs = options.repeats.max(5);
    let mut plain = Vec::new();
    for _ in 0..startup_runs {
        plain.push(server_startup(&options.test_game, false).await?);
    }
    let sandboxed = server.sandboxed();
    let mut boxed = Vec::new();
    if gamestore_sandbox::bwrap::probe(gamestore_sandbox::bwrap::Probe {
        user_namespace: !gamestore_sandbox::is_root(),
    })
    .is_ok()
    {
        crate::progress("match: game server start-up in the lobby's sandbox");
        for _ in 0..startup_runs {
            boxed.push(server_startup(&options.test_game, true).await?);
        }
    }
    crate::progress("match: game client spawn to connected");
    let mut client_plain = Vec::new();
    let mut client_boxed = Vec::new();
    let client_sandbox =
        gamestore_sandbox::bwrap::probe(gamestore_sandbox::bwrap::Probe { user_namespace: true })
            .is_ok();
    for _ in 0..startup_runs {
        client_plain.push(client_connect(&options.test_game, SandboxMode::Off).await?);
        if client_sandbox {
            client_boxed.push(client_connect(&options.test_game, SandboxMode::On).await?);
        }
    }
    let _ = std::fs::remove_dir_all(bench_data_root());
    Ok(MatchResult {
        players,
        repeats: starts.len(),
        sandboxed,
        start_reply_ms: Summary::of_durations(&replies),
        game_start_all_ms: Summary::of_durations(&starts),
        connected_all_ms: Summary::of_durations(&connected),
        greeted_all_ms: Summary::of_durations(&greeted),
        server_startup_ms: Summary::of_durations(&plain),
        server_startup_sandboxed_ms: (!boxed.is_empty()).then(|| Summary::of_durations(&boxed)),
        client_connect_ms: Summary::of_durations(&client_plain),
        client_connect_sandboxed_ms: (!client_boxed.is_empty())
            .then(|| Summary::of_durations(&client_boxed)),
    })
}

/// One member: runs the game client on GAME_START and reports what happens.
async fn member(
    index: usize,
    name: String,
    client: Arc<LobbyClient>,
    library: Library,
    mut events: mpsc::UnboundedReceiver<Event>,
    notes: mpsc::UnboundedSender<(usize, Note, Instant)>,
) {
    let note = move |note: Note| {
        let _ = notes.send((index, note, Instant::now()));
    };
    while let Some(event) = events.recv().await {
        match event {
            Event::GameStart(start) => {
                note(Note::GameStart);
                let game_dir = library.version_dir(&start.game, &start.version);
                let (client, name, note) = (client.clone(), name.clone(), note.clone());
                tokio::spawn(async move {
                    let result = play(&game_dir, &start, &name, &note).await;
                    let code = if result.is_ok() { Some(0) } else { None };
                    let _ = client.call(GameClientExited { match_id: start.match_id, code }).await;
                    note(Note::ClientExited(result.map_err(|e| format!("{e:#}"))));
                });
            }
            Event::MatchEnded(ended) => note(Note::Ended(ended.outcome, ended.message)),
            _ => {}
        }
    }
}

/// Runs the game client as the launcher would, noting its progress lines.
async fn play(
    game_dir: &Path,
    start: &GameStart,
    name: &str,
    note: &(impl Fn(Note) + Send),
) -> anyhow::Result<()> {
    let launch = LaunchOptions { sandbox: SandboxMode::Auto, data_dir: bench_data_dir(name) };
    let mut client = client_command(game_dir, start, name, &launch)?;
    let command = &mut client.command;
    command
        .env("GAMESTORE_BOT", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().context("cannot start the game client")?;
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let finished = tokio::time::timeout(MATCH_TIMEOUT, async {
        while let Some(line) = lines.next_line().await? {
            if line.starts_with("joined:") {
                note(Note::Connected);
            } else if line.starts_with("greeted:") {
                note(Note::Greeted);
            }
        }
        let mut err = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut err).await?;
        let status = child.wait().await?;
        anyhow::Ok((status, err))
    })
    .await;
    let (status, err) = finished.context("the game client did not finish")??;
    ensure!(status.success(), "exited with {status}: {}", err.trim());
    Ok(())
}

/// A private folder for a bench player's game data.
fn bench_data_dir(name: &str) -> PathBuf {
    bench_data_root().join(name)
}

/// This run's folder of players' game data, removed when the scenario ends.
fn bench_data_root() -> PathBuf {
    std::env::temp_dir().join(format!("gamestore-bench-{}", std::process::id()))
}

/// The lobby's sandbox for start-up runs, made once.
fn server_sandbox() -> anyhow::Result<&'static gamestore_lobby::game_sandbox::ServerSandbox> {
    static SANDBOX: std::sync::OnceLock<gamestore_lobby::game_sandbox::ServerSandbox> =
        std::sync::OnceLock::new();
    if let Some(sandbox) = SANDBOX.get() {
        return Ok(sandbox);
    }
    let sandbox = gamestore_lobby::game_sandbox::ServerSandbox::new(
        gamestore_lobby::game_manager::Sandbox::Required,
        Default::default(),
        Duration::from_secs(3600),
    )?;
    Ok(SANDBOX.get_or_init(|| sandbox))
}

/// Spawns the test game's server and times it to `listening on`: directly,
/// or the way the lobby does (control group, bubblewrap view, exec step).
async fn server_startup(test_game: &Path, sandbox: bool) -> anyhow::Result<Duration> {
    let test_game = &test_game.canonicalize()?;
    let server = test_game.join("bin/test-server");
    let argv: Vec<String> = [server.to_str().context("path")?, "--host", "127.0.0.1", "--port"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut argv = argv;
    argv.push(port.to_string());
    argv.extend(["--players", "1", "--timeout", "10"].iter().map(|s| s.to_string()));
    let workdir = tempfile::tempdir()?;
    let started = Instant::now();
    let (mut command, cgroup) = if sandbox {
        let prepared = server_sandbox()?
            .prepare(&gamestore_lobby::game_sandbox::ServerLaunch {
                match_id: 0,
                argv: &argv,
                workdir: workdir.path(),
                game_dir: test_game,
                port,
            })
            .map_err(anyhow::Error::msg)?;
        let mut c = tokio::process::Command::new(&prepared.program);
        c.args(&prepared.args);
        (c, prepared.cgroup)
    } else {
        let mut c = tokio::process::Command::new(&argv[0]);
        c.args(&argv[1..]);
        (c, None)
    };
    let joiner = cgroup.as_ref().map(|g| g.joiner());
    // SAFETY: async-signal-safe calls only (setsid, prctl, open/write).
    unsafe {
        command.pre_exec(move || gamestore_lobby::game_sandbox::join_group(joiner.as_ref()));
    }
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).kill_on_drop(true);
    let mut child = command.spawn().with_context(|| format!("cannot run {}", server.display()))?;
    let mut lines = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
    let listening = tokio::time::timeout(Duration::from_secs(10), async {
        let mut said = String::new();
        while let Some(line) = lines.next_line().await? {
            if line.contains("listening on") {
                return anyhow::Ok(started.elapsed());
            }
            said = line;
        }
        ensure!(said.is_empty(), "test-server exited without listening: {said}");
        bail!("test-server exited without listening (sandboxed: {sandbox})")
    })
    .await
    .context("test-server did not listen within 10 s")??;
    child.kill().await.ok();
    drop(cgroup);
    Ok(listening)
}

/// Runs the test game's client the way the launcher does against a server
/// started directly, and times it from spawn to its `joined:` line.
async fn client_connect(test_game: &Path, sandbox: SandboxMode) -> anyhow::Result<Duration> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut server = tokio::process::Command::new(test_game.join("bin/test-server"));
    server
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--players", "1"])
        .args(["--timeout", "10", "--token", "bench"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut server = server.spawn().context("cannot run test-server")?;
    let mut server_lines = BufReader::new(server.stderr.take().expect("piped")).lines();
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = server_lines.next_line().await? {
            if line.contains("listening on") {
                return anyhow::Ok(());
            }
        }
        bail!("test-server exited without listening")
    })
    .await
    .context("test-server did not listen within 10 s")??;
    let start = GameStart {
        match_id: 1,
        room: 1,
        game: "test".into(),
        version: "1.0.0".into(),
        host: "127.0.0.1".into(),
        port,
        players: vec!["bench".into()],
        token: "bench".into(),
        seat: Some(0),
        player_id: Some(1),
    };
    let launch = LaunchOptions { sandbox, data_dir: bench_data_dir("client") };
    let mut client = client_command(test_game, &start, "bench", &launch)?;
    client
        .command
        .env("GAMESTORE_BOT", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let started = Instant::now();
    let mut child = client.command.spawn().context("cannot start the game client")?;
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let connected = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = lines.next_line().await? {
            if line.starts_with("joined:") {
                return anyhow::Ok(started.elapsed());
            }
        }
        bail!("the game client exited before joining")
    })
    .await
    .context("the game client did not join within 10 s")??;
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    server.kill().await.ok();
    Ok(connected)
}

/// Copies the packaged test game under another id (so that a run against a
/// shared lobby never collides with an existing `test`).
fn copy_test_game(from: &Path, to: &Path, id: &str) -> anyhow::Result<()> {
    ensure!(
        from.join("config.json").is_file() && from.join("bin/test-server").is_file(),
        "{} is not a packaged test game (scripts/package-games OUT test makes one)",
        from.display()
    );
    copy_dir(from, to)?;
    let path = to.join("config.json");
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    manifest["id"] = id.into();
    manifest["version"] = "1.0.0".into();
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest)?)?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

async fn publish(dev: &LobbyClient, folder: &Path, id: &str) -> anyhow::Result<()> {
    let zip = folder.with_extension("zip");
    pack_dir(folder, std::io::BufWriter::new(std::fs::File::create(&zip)?))?;
    let header = GameUpload {
        id: id.to_owned(),
        version: "1.0.0".into(),
        size: std::fs::metadata(&zip)?.len(),
        sha256: sha256_file(&zip)?,
    };
    upload_package(dev, header, &zip, &indicatif::ProgressBar::hidden())
        .await
        .with_context(|| format!("publish {id}"))?;
    Ok(())
}
