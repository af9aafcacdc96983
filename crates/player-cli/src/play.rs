//! `play GAME` and `join ROOM`: get into a room, play one match, report it.
//!
//! The launcher keeps the lobby connection open while it waits in the room,
//! shows what happens there, starts the match as host once enough players
//! are in (`--start-when`), runs the game client on GAME_START, tells the
//! lobby when the client exits, and ends with the match's outcome: exit 0
//! when the match completed and this player's client finished cleanly.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use gamestore_client::cli::{Context, human_bytes};
use gamestore_client::install::install;
use gamestore_client::launcher::{LaunchOptions, SandboxMode, client_command, game_data_dir};
use gamestore_client::library::Library;
use gamestore_client::{LobbyClient, outln};
use gamestore_protocol::{
    Event, GameClientExited, GameStart, GameStartNotify, MatchEnded, MatchOutcome, QuickPlay,
    RoomEventKind, RoomInfo, RoomJoin, RoomState,
};
use serde_json::json;

/// How long to wait for the lobby's MATCH_ENDED after our client exited.
const MATCH_END_WAIT: Duration = Duration::from_secs(120);

/// Where to play.
pub enum Target {
    /// Quick play: an open room for this game, or a new one.
    Game(String),
    /// This room.
    Room(u64),
}

/// Options of `play` and `join`.
pub struct PlayOptions {
    pub target: Target,
    /// As host, start once this many members are in (default: the game's minimum).
    pub start_when: Option<u32>,
    /// Print events as JSON lines.
    pub json: bool,
    /// How the game client is confined.
    pub sandbox: SandboxMode,
}

fn say(json: bool, kind: &str, data: serde_json::Value, text: impl FnOnce() -> String) {
    if json {
        outln!("{}", json!({"type": kind, "data": data}));
    } else {
        outln!("{}", text());
    }
}

pub async fn play(ctx: &Context, options: PlayOptions) -> anyhow::Result<ExitCode> {
    let (client, session) = ctx.connect_session().await?;
    let client = Arc::new(client);
    let _keepalive = client.keepalive();
    let mut events = client.events().context("event stream already taken")?;
    let library = Library::new(ctx.home.root(), &session.user);
    let json = options.json;

    // Install the latest version before looking for a room.
    if let Target::Game(game) = &options.target {
        let outcome = install(&client, &library, game, None, true).await?;
        if outcome.bytes_transferred > 0 {
            say(json, "installed", json!(outcome), || {
                format!(
                    "installed {} {} ({})",
                    outcome.id,
                    outcome.version,
                    human_bytes(outcome.bytes_transferred)
                )
            });
        }
    }
    let room: RoomInfo = match &options.target {
        Target::Game(game) => client.call(QuickPlay { game: game.clone() }).await?,
        Target::Room(id) => client.call(RoomJoin { room: *id }).await?,
    };
    say(json, "room", json!(room), || {
        format!(
            "in room {} for {} {} ({}/{} players, host {})",
            room.id,
            room.game_name,
            room.version,
            room.members.len(),
            room.capacity,
            room.host
        )
    });
    // The room plays an exact version; have it installed before the match.
    let outcome = install(&client, &library, &room.game, Some(&room.version), false).await?;
    if outcome.bytes_transferred > 0 {
        say(json, "installed", json!(outcome), || {
            format!("installed {} {}", outcome.id, outcome.version)
        });
    }
    let start_when = options.start_when.unwrap_or(room.min_players).max(1);
    let me = session.user.clone();
    let mut start_sent = false;
    let mut current = room;
    maybe_start(&client, &current, &me, start_when, &mut start_sent, json).await?;

    loop {
        let event = events.recv().await.context("the lobby closed the connection")?;
        match event {
            Event::RoomUpdate(update) => {
                current = update.room.clone();
                if update.event == RoomEventKind::Ended {
                    start_sent = false;
                }
                say(json, "room_update", json!(update), || {
                    describe_update(&update.event, update.player.as_deref(), &update.room)
                });
                maybe_start(&client, &current, &me, start_when, &mut start_sent, json).await?;
            }
            Event::Chat(chat) => {
                say(json, "chat", json!(chat), || {
                    format!("[{}] {}: {}", scope_name(&chat), chat.from, chat.text)
                });
            }
            Event::GameStart(start) => {
                say(
                    json,
                    "game_start",
                    json!({"match_id": start.match_id, "host": start.host, "port": start.port, "players": start.players}),
                    || {
                        format!(
                            "match {} starting: game server at {}:{}",
                            start.match_id, start.host, start.port
                        )
                    },
                );
                let launch = LaunchOptions {
                    sandbox: options.sandbox,
                    data_dir: game_data_dir(ctx.home.root(), &me, &start.game),
                };
                return run_client(&client, &mut events, &library, &me, start, &launch, json).await;
            }
            Event::MatchEnded(ended) => {
                // Our room's start failed before any GAME_START.
                say(json, "match_ended", json!(ended), || {
                    format!("match did not start: {}", ended.message)
                });
                bail!("the match could not start: {}", ended.message);
            }
            Event::SessionRevoked(r) => bail!("session ended: {}", r.reason),
            Event::ServerShutdown(s) => bail!("{}", s.message),
        }
    }
}

pub(crate) fn scope_name(chat: &gamestore_protocol::ChatMessage) -> String {
    match chat.room {
        Some(room) => format!("room {room}"),
        None => "lobby".to_owned(),
    }
}

pub(crate) fn describe_update(
    event: &RoomEventKind,
    player: Option<&str>,
    room: &RoomInfo,
) -> String {
    let who = player.unwrap_or("?");
    let count = format!("({}/{})", room.members.len(), room.capacity);
    match event {
        RoomEventKind::Joined => format!("{who} joined the room {count}"),
        RoomEventKind::Left => format!("{who} left the room {count}"),
        RoomEventKind::HostChanged => format!("{who} is now the host"),
        RoomEventKind::Starting => {
            "the host started the match; starting the game server...".to_owned()
        }
        RoomEventKind::Started => "the game server is up".to_owned(),
        RoomEventKind::Ended => format!("the room is waiting again {count}"),
    }
}

/// As host of a waiting room with enough members, starts the match once.
async fn maybe_start(
    client: &LobbyClient,
    room: &RoomInfo,
    me: &str,
    start_when: u32,
    start_sent: &mut bool,
    json: bool,
) -> anyhow::Result<()> {
    if *start_sent || room.host != me || room.state != RoomState::Waiting {
        return Ok(());
    }
    if (room.members.len() as u32) < start_when.max(room.min_players) {
        return Ok(());
    }
    *start_sent = true;
    client.call(GameStartNotify {}).await?;
    say(json, "starting", json!({"room": room.id}), || {
        format!("starting the match with {} players", room.members.len())
    });
    Ok(())
}

/// Runs the game client for `start`, reports its exit, waits for the
/// match's end, and turns both into the exit code.
async fn run_client(
    client: &LobbyClient,
    events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>,
    library: &Library,
    me: &str,
    start: GameStart,
    launch: &LaunchOptions,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let game_dir = library.version_dir(&start.game, &start.version);
    let mut ended: Option<MatchEnded> = None;
    let prepared = client_command(&game_dir, &start, me, launch);
    if let Ok(Some(notice)) = prepared.as_ref().map(|c| c.notice.as_deref()) {
        eprintln!("{notice}");
    }
    let code = match prepared.and_then(|mut c| {
        let child = c.command.spawn()?;
        Ok((child, c))
    }) {
        Ok((mut child, _client)) => {
            // Keep listening to the lobby while the game runs.
            let status = loop {
                tokio::select! {
                    status = child.wait() => break status.ok(),
                    event = events.recv() => match event {
                        Some(Event::MatchEnded(e)) if e.match_id == start.match_id => ended = Some(e),
                        Some(Event::Chat(chat)) if !json => outln!("[{}] {}: {}", scope_name(&chat), chat.from, chat.text),
                        Some(_) => {}
                        None => break child.wait().await.ok(),
                    },
                }
            };
            status.and_then(|s| s.code())
        }
        Err(e) => {
            say(json, "client_error", json!({"message": e.to_string()}), || {
                format!("cannot start the game client: {e:#}")
            });
            None
        }
    };
    let _ = client.call(GameClientExited { match_id: start.match_id, code }).await;
    if code != Some(0) {
        say(json, "client_exited", json!({"code": code}), || match code {
            Some(c) => format!("your game client exited with code {c}; you are back in the room"),
            None => "your game client did not finish; you are back in the room".to_owned(),
        });
    }

    let ended = match ended {
        Some(e) => e,
        None => wait_for_end(events, start.match_id).await?,
    };
    say(json, "match_ended", json!(ended), || {
        let mut line = format!("match {} ended: {}", ended.match_id, ended.message);
        if let Some(winner) =
            ended.result.as_ref().and_then(|r| r.get("winner")).and_then(|w| w.as_str())
        {
            line.push_str(&format!(" (winner: {winner})"));
        }
        line
    });
    if ended.outcome != MatchOutcome::Completed {
        bail!("the match ended badly ({}): {}", ended.outcome.as_str(), ended.message);
    }
    if code != Some(0) {
        bail!(
            "the game client exited with {}",
            code.map_or("a signal".to_owned(), |c| format!("code {c}"))
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_end(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>,
    match_id: i64,
) -> anyhow::Result<MatchEnded> {
    let wait = async {
        while let Some(event) = events.recv().await {
            if let Event::MatchEnded(e) = event {
                if e.match_id == match_id {
                    return Ok(e);
                }
            }
        }
        bail!("the lobby closed the connection before the match ended")
    };
    match tokio::time::timeout(MATCH_END_WAIT, wait).await {
        Ok(result) => result,
        Err(_) => {
            bail!("the match did not end within {}s of the game client", MATCH_END_WAIT.as_secs())
        }
    }
}
