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

use anyhow::{Context as _, anyhow, bail};
use gamestore_client::cli::{Context, human_bytes, players_range, plural};
use gamestore_client::install::{OlderVersions, install};
use gamestore_client::launcher::{client_launch, display_problem};
use gamestore_client::library::Library;
use gamestore_client::{LobbyClient, outln};
use gamestore_protocol::{
    Event, GameClientExited, GameInfo, GameStart, GameStartNotify, MatchEnded, MatchOutcome,
    QuickPlay, RoomEventKind, RoomInfo, RoomJoin, RoomLeave, RoomState,
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

    // What can never work is refused before joining anything.
    if let Target::Game(game) = &options.target {
        let info = client.call(GameInfo { id: game.clone() }).await?.game;
        check_start_when(options.start_when, info.min_players, info.max_players, &info.name)?;
        if let Some(problem) = display_problem(info.kind, &info.name) {
            bail!("{problem}");
        }
    }
    let room: RoomInfo = match &options.target {
        Target::Game(game) => client.call(QuickPlay { game: game.clone() }).await?,
        Target::Room(id) => client.call(RoomJoin { room: *id }).await?,
    };
    // A room is known only once joined: leave it at once if it cannot work.
    let refusal = match check_start_when(
        options.start_when,
        room.min_players,
        room.capacity,
        &room.game_name,
    ) {
        Err(e) => Some(e),
        Ok(()) => match client.call(GameInfo { id: room.game.clone() }).await {
            Ok(info) => display_problem(info.game.kind, &room.game_name).map(|p| anyhow!("{p}")),
            Err(_) => None,
        },
    };
    if let Some(e) = refusal {
        let _ = client.call(RoomLeave {}).await;
        return Err(e);
    }
    say(json, "room", json!(room), || {
        format!(
            "in room {} for {} {} ({}, host {})",
            room.id,
            room.game_name,
            room.version,
            members_count(&room),
            room.host
        )
    });
    // The room plays an exact version: install that one, and only that one
    // (quick play may have found a room on an older version).
    let older = if room.version == room_latest(&client, &room.game).await {
        OlderVersions::Remove
    } else {
        OlderVersions::Keep
    };
    let outcome = install(&client, &library, &room.game, Some(&room.version), older).await?;
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
                // Our own arrival was already said ("in room ...").
                let own_join = update.event == RoomEventKind::Joined
                    && update.player.as_deref() == Some(me.as_str());
                if json || !own_join {
                    say(json, "room_update", json!(update), || {
                        describe_update(&update.event, update.player.as_deref(), &update.room)
                    });
                }
                if update.event == RoomEventKind::Delisted && current.state == RoomState::Waiting {
                    // No match can start here any more: waiting would be forever.
                    let _ = client.call(RoomLeave {}).await;
                    bail!(
                        "{} was delisted by its developer; you left room {}",
                        current.game_name,
                        current.id
                    );
                }
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
                return run_client(&client, &mut events, &library, &me, start, json).await;
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

/// Refuses a `--start-when` the game's player counts can never reach.
fn check_start_when(start_when: Option<u32>, min: u32, max: u32, game: &str) -> anyhow::Result<()> {
    match start_when {
        Some(n) if n == 0 || n > max => {
            bail!("--start-when {n} is out of range: {game} is for {}", players_range(min, max))
        }
        _ => Ok(()),
    }
}

/// The latest version of `game`, when the store says (it may be delisted).
async fn room_latest(client: &LobbyClient, game: &str) -> String {
    match client.call(GameInfo { id: game.to_owned() }).await {
        Ok(info) => info.game.version,
        Err(_) => String::new(),
    }
}

/// "1/16 players" for a room.
pub(crate) fn members_count(room: &RoomInfo) -> String {
    format!("{}/{} players", room.members.len(), room.capacity)
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
    let count = format!("({})", members_count(room));
    match event {
        RoomEventKind::Joined => format!("{who} joined the room {count}"),
        RoomEventKind::Left => format!("{who} left the room {count}"),
        RoomEventKind::HostChanged => format!("{who} is now the host"),
        RoomEventKind::Starting => {
            "the host started the match; starting the game server...".to_owned()
        }
        RoomEventKind::Started => "the game server is up".to_owned(),
        RoomEventKind::Ended => format!("the room is waiting again {count}"),
        RoomEventKind::Delisted => format!(
            "{} was delisted by its developer: no new match can start in this room",
            room.game_name
        ),
        RoomEventKind::Relisted => {
            format!("{} is listed again: matches can start in this room", room.game_name)
        }
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
        format!("starting the match with {}", plural(room.members.len(), "player"))
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
    json: bool,
) -> anyhow::Result<ExitCode> {
    let game_dir = library.version_dir(&start.game, &start.version);
    let mut ended: Option<MatchEnded> = None;
    let code = match client_launch(&game_dir, &start, me).and_then(|c| c.spawn()) {
        Ok(mut child) => {
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
            say(json, "client_error", json!({"message": e.to_string()}), || format!("{e:#}"));
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
