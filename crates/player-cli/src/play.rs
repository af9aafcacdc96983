//! `play GAME` and `join ROOM`: get into a room, play one match, report it.
//!
//! The launcher keeps the lobby connection open while it waits in the room,
//! shows what happens there, starts the match as host once enough players
//! are in (`--start-when`), runs the game client on GAME_START, tells the
//! lobby when the client exits, and ends with the match's outcome: exit 0
//! when the match completed and this player's client finished cleanly.
//!
//! While it waits in the room, the player's installed plugins run (unless
//! `--no-plugins`): their panel lines are printed with the panel's prefix
//! (or as `plugin_line` events with `--json`), and `/p text` typed on
//! standard input goes to them. Standard input is read only until the
//! match starts; from then on it belongs to the game client.
//!
//! A dropped lobby connection is resumed on a new one (the lobby keeps the
//! room seat for a grace period); a `play` started while the player still
//! has a seat (say, after the launcher was killed mid-match) carries on in
//! that room, and the lobby sends the running match's GAME_START again.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use gamestore_client::cli::{Context, Output, human_bytes, players_range, plural};
use gamestore_client::install::{OlderVersions, install};
use gamestore_client::launcher::{
    LaunchOptions, SandboxMode, client_command, display_problem, game_data_dir,
};
use gamestore_client::library::Library;
use gamestore_client::menu::{Link, Notice, RECONNECT_FOR};
use gamestore_client::plugins::host::Output as PluginOutput;
use gamestore_client::plugins::room::{PluginNote, RoomPlugins, plugin_input};
use gamestore_client::{ClientError, LobbyClient, outln};
use gamestore_protocol::{
    ErrorCode, Event, GameClientExited, GameInfo, GameStart, GameStartNotify, MatchEnded,
    MatchOutcome, QuickPlay, RoomEventKind, RoomInfo, RoomJoin, RoomLeave, RoomState,
};
use serde_json::json;

use crate::typed_lines::TypedLines;

/// How long to wait for the lobby's MATCH_ENDED after our client exited.
const MATCH_END_WAIT: Duration = Duration::from_secs(120);

/// Where to play.
pub(crate) enum Target {
    /// Quick play: an open room for this game, or a new one.
    Game(String),
    /// This room.
    Room(u64),
}

/// Options of `play` and `join`.
pub(crate) struct PlayOptions {
    pub(crate) target: Target,
    /// As host, start once this many members are in (default: the game's minimum).
    pub(crate) start_when: Option<u32>,
    /// Print events as JSON lines.
    pub(crate) output: Output,
    /// How the game client (and each plugin) is confined.
    pub(crate) sandbox: SandboxMode,
    /// Whether the player's plugins run in the room.
    pub(crate) plugins: Plugins,
}

/// Whether `play` runs the player's installed plugins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plugins {
    Run,
    Off,
}

impl Plugins {
    pub(crate) fn of(no_plugins: bool) -> Plugins {
        if no_plugins { Plugins::Off } else { Plugins::Run }
    }
}

/// How a subcommand player installs a plugin, for the hint that others use one.
fn install_hint(plugin: &str) -> String {
    format!("install it with `gamestore-player plugin install {plugin}`")
}

/// Prints what the plugins have to say.
fn tell(output: Output, notes: Vec<PluginNote>) {
    for note in notes {
        let hint = match &note {
            PluginNote::InUse { plugin } => install_hint(plugin),
            _ => String::new(),
        };
        say(output, note.kind(), json!(note), || note.text(&hint));
    }
}

fn say(output: Output, kind: &str, data: serde_json::Value, text: impl FnOnce() -> String) {
    if output.is_json() {
        outln!("{}", json!({"type": kind, "data": data}));
    } else {
        outln!("{}", text());
    }
}

pub(crate) async fn play(ctx: &Context, options: PlayOptions) -> anyhow::Result<ExitCode> {
    // The link resumes the session on a new connection when this one drops,
    // and with it the room seat the lobby keeps for a while.
    let (link, mut notices, problem) = Link::open(ctx.clone()).await;
    if let Some(problem) = problem {
        bail!("{problem}");
    }
    let Some(session) = link.session() else {
        bail!(
            "not logged in as a player; run `gamestore-player login --user NAME` ({})",
            ErrorCode::NotLoggedIn
        );
    };
    let client = link.client().await?;
    let library = Library::new(ctx.home.root(), &session.user);
    let output = options.output;

    // A seat kept from a launcher that stopped (or lost its connection)
    // mid-room or mid-match: carry on in that room.
    let kept = link.my_room().await?;
    if let Some(room) = &kept {
        let wanted = match &options.target {
            Target::Game(game) => room.game == *game,
            Target::Room(id) => room.id == *id,
        };
        if !wanted {
            bail!(
                "you are in room {} for {}; leave it first ({})",
                room.id,
                room.game,
                ErrorCode::AlreadyInRoom
            );
        }
    }

    // What can never work is refused before joining anything.
    if let (Target::Game(game), None) = (&options.target, &kept) {
        let info = client.call(GameInfo { id: game.clone() }).await?.game;
        check_start_when(options.start_when, info.min_players, info.max_players, &info.name)?;
        if let Some(problem) = display_problem(info.kind, &info.name) {
            bail!("{problem}");
        }
    }
    let room: RoomInfo = match (&kept, &options.target) {
        (Some(room), _) => room.clone(),
        (None, Target::Game(game)) => client.call(QuickPlay { game: game.clone() }).await?,
        (None, Target::Room(id)) => client.call(RoomJoin { room: *id }).await?,
    };
    if kept.is_none() {
        // A room is known only once joined: leave it at once if it cannot work.
        let refusal = match check_start_when(
            options.start_when,
            room.min_players,
            room.capacity,
            &room.game_name,
        ) {
            Err(e) => Some(e),
            Ok(()) => match client.call(GameInfo { id: room.game.clone() }).await {
                Ok(info) => {
                    display_problem(info.game.kind, &room.game_name).map(|p| anyhow!("{p}"))
                }
                Err(_) => None,
            },
        };
        if let Some(e) = refusal {
            let _ = client.call(RoomLeave {}).await;
            return Err(e);
        }
    }
    // The room plays an exact version: install that one, and only that one
    // (quick play may have found a room on an older version).
    let older = if room.version == room_latest(&client, &room.game).await {
        OlderVersions::Remove
    } else {
        OlderVersions::Keep
    };
    let outcome = install(&client, &library, &room.game, Some(&room.version), older).await?;
    if outcome.bytes_transferred > 0 {
        say(output, "installed", json!(outcome), || {
            format!(
                "installed {} {} ({})",
                outcome.id,
                outcome.version,
                human_bytes(outcome.bytes_transferred)
            )
        });
    }
    say(output, "room", json!(room), || {
        format!(
            "{} room {} for {} {} ({}, host {})",
            if kept.is_some() { "back in" } else { "in" },
            room.id,
            room.game_name,
            room.version,
            members_count(&room),
            room.host
        )
    });
    drop(client);
    let (mut plugins, notes) = match options.plugins {
        Plugins::Run => RoomPlugins::start(&link, &session.user, &room, options.sandbox).await,
        Plugins::Off => (RoomPlugins::none(&room), Vec::new()),
    };
    tell(output, notes);
    let start_when = options.start_when.unwrap_or(room.min_players).max(1);
    let launcher = Launcher { sandbox: options.sandbox, home: ctx.home.root().to_owned() };
    let here = Here { link: &link, library: &library, me: &session.user, output };
    let outcome = in_room(&here, &mut notices, &mut plugins, room, start_when, &launcher).await;
    plugins.left();
    // Done with the room: give the seat up now rather than have the lobby
    // keep it for a player who is not coming back.
    let leave =
        async { link.client().await?.call(RoomLeave {}).await.map_err(anyhow::Error::from) };
    let _ = tokio::time::timeout(LEAVE_WAIT, leave).await;
    outcome
}

/// True when `e` is the lobby connection failing, not the lobby refusing.
fn is_connection_loss(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ClientError>().is_some_and(is_lost)
}

fn is_lost(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Closed(_)
            | ClientError::Io(_)
            | ClientError::Timeout(_)
            | ClientError::Connect { .. }
    )
}

/// Longest wait for the lobby to take the seat back when `play` ends.
const LEAVE_WAIT: Duration = Duration::from_secs(5);

/// How this launcher starts game clients.
struct Launcher {
    sandbox: SandboxMode,
    /// The client home, holding each game's private folder.
    home: std::path::PathBuf,
}

/// Who plays, and where the lobby and the games are.
struct Here<'a> {
    link: &'a Link,
    library: &'a Library,
    me: &'a str,
    output: Output,
}

/// What the room wait hears next.
enum Heard {
    Notice(Option<Notice>),
    Plugin(String, PluginOutput),
    Typed(String),
}

/// Waits in `room`, starts the match as host, plays it.
async fn in_room(
    here: &Here<'_>,
    notices: &mut tokio::sync::mpsc::UnboundedReceiver<Notice>,
    plugins: &mut RoomPlugins,
    room: RoomInfo,
    start_when: u32,
    launcher: &Launcher,
) -> anyhow::Result<ExitCode> {
    let Here { link, library, me, output } = *here;
    let mut start_sent = false;
    let mut current = room;
    maybe_start(link, &current, me, start_when, &mut start_sent, output).await?;
    // `/p` lines for the plugins, read only while they run and no match does.
    let mut typed = (!plugins.is_empty()).then(TypedLines::start);

    loop {
        let heard = tokio::select! {
            notice = notices.recv() => Heard::Notice(notice),
            (id, out) = plugins.next() => Heard::Plugin(id, out),
            line = async {
                match typed.as_mut() {
                    Some(typed) => typed.next().await,
                    None => std::future::pending().await,
                }
            } => Heard::Typed(line),
        };
        let notice = match heard {
            Heard::Notice(notice) => notice.context("the lobby connection ended")?,
            Heard::Plugin(id, out) => {
                tell(output, plugins.output(link, &id, out).await);
                continue;
            }
            Heard::Typed(line) => {
                match plugin_input(&line) {
                    Some(text) => tell(output, plugins.input(link, text).await),
                    None if line.trim().is_empty() => {}
                    None => tell(
                        output,
                        vec![PluginNote::Note {
                            text: "only /p <text> lines (for your plugins) are read here".into(),
                        }],
                    ),
                }
                continue;
            }
        };
        let event = match notice {
            Notice::Event(event) => event,
            other => {
                follow_link(link, &other, current.id, output).await?;
                if matches!(other, Notice::Reconnected { .. }) {
                    tell(output, plugins.announce(link).await);
                }
                continue;
            }
        };
        if matches!(
            event,
            Event::RoomUpdate(_) | Event::PluginMessage(_) | Event::RoomPluginInUse(_)
        ) {
            tell(output, plugins.event(link, &event).await);
        }
        match event {
            Event::RoomUpdate(update) => {
                current = update.room.clone();
                if update.event == RoomEventKind::Ended {
                    start_sent = false;
                }
                // Our own arrival was already said ("in room ...").
                let own_join =
                    update.event == RoomEventKind::Joined && update.player.as_deref() == Some(me);
                if output.is_json() || !own_join {
                    say(output, "room_update", json!(update), || {
                        describe_update(&update.event, update.player.as_deref(), &update.room)
                    });
                }
                if update.event == RoomEventKind::Closed {
                    bail!(
                        "room {} closed: {}",
                        current.id,
                        update.message.as_deref().unwrap_or("the room is gone")
                    );
                }
                if update.event == RoomEventKind::Delisted && current.state == RoomState::Waiting {
                    // No match can start here any more: waiting would be forever.
                    if let Ok(client) = link.client().await {
                        let _ = client.call(RoomLeave {}).await;
                    }
                    bail!(
                        "{} was delisted by its developer; you left room {}",
                        current.game_name,
                        current.id
                    );
                }
                maybe_start(link, &current, me, start_when, &mut start_sent, output).await?;
            }
            Event::Chat(chat) => {
                say(output, "chat", json!(chat), || {
                    format!("[{}] {}: {}", scope_name(&chat), chat.from, chat.text)
                });
            }
            Event::GameStart(start) => {
                say(
                    output,
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
                    sandbox: launcher.sandbox,
                    data_dir: game_data_dir(&launcher.home, me, &start.game),
                };
                // Standard input is the game client's from now on.
                if let Some(mut typed) = typed.take() {
                    typed.stop();
                }
                return run_client(link, notices, library, me, start, &launch, output).await;
            }
            Event::MatchEnded(ended) if ended.outcome == MatchOutcome::NeverStarted => {
                // Our room's start failed before any GAME_START.
                say(output, "match_ended", json!(ended), || {
                    format!("match did not start: {}", ended.message)
                });
                bail!("the match could not start: {}", ended.message);
            }
            Event::MatchEnded(ended) => {
                // Back from a drop: the match ended while we were away.
                say(output, "match_ended", json!(ended), || {
                    format!("match {} ended while you were away: {}", ended.match_id, ended.message)
                });
                if ended.outcome != MatchOutcome::Completed {
                    bail!("the match ended badly ({}): {}", ended.outcome.as_str(), ended.message);
                }
                return Ok(ExitCode::SUCCESS);
            }
            Event::SessionRevoked(r) => bail!("session ended: {}", r.reason),
            Event::ServerShutdown(s) => bail!("{}", s.message),
            // Handed to the plugins above.
            Event::PluginMessage(_) | Event::RoomPluginInUse(_) => {}
        }
    }
}

/// Follows the link's own news while in room `room`: a lost connection is
/// reported and waited out; once reconnected, the seat must have been kept.
async fn follow_link(
    link: &Link,
    notice: &Notice,
    room: u64,
    output: Output,
) -> anyhow::Result<()> {
    match notice {
        Notice::Event(_) => {}
        Notice::Lost { reason } => {
            say(output, "connection_lost", json!({"reason": reason}), || {
                format!("connection to the lobby lost ({reason}); reconnecting...")
            });
        }
        Notice::Reconnected { .. } => match link.my_room().await {
            Ok(Some(kept)) if kept.id == room => {
                say(output, "reconnected", json!({"room": room}), || {
                    format!("reconnected; your seat in room {room} was kept")
                });
            }
            // Cut again before it could check: the link reconnects again.
            Err(e) if is_connection_loss(&e) => {}
            Err(e) => return Err(e),
            Ok(_) => bail!(
                "reconnected, but the lobby no longer holds your seat in room {room} \
                 (it restarted, or the grace period for dropped players passed)"
            ),
        },
        Notice::SessionEnded => bail!("the session has ended; log in again"),
        Notice::Offline { reason } => {
            bail!("lost the lobby for {}s: {reason}", RECONNECT_FOR.as_secs())
        }
    }
    Ok(())
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
        RoomEventKind::Reconnecting => {
            format!("{who} lost their connection; their seat is kept while they reconnect")
        }
        RoomEventKind::Reconnected => format!("{who} is back {count}"),
        RoomEventKind::Closed => "the room closed".to_owned(),
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
    link: &Link,
    room: &RoomInfo,
    me: &str,
    start_when: u32,
    start_sent: &mut bool,
    output: Output,
) -> anyhow::Result<()> {
    if *start_sent || room.host != me || room.state != RoomState::Waiting {
        return Ok(());
    }
    if (room.members.len() as u32) < start_when.max(room.min_players) {
        return Ok(());
    }
    *start_sent = true;
    match link.client().await?.call(GameStartNotify {}).await {
        Ok(_) => {}
        // The connection dropped: try again once the room is heard from anew.
        Err(e) if is_lost(&e) => {
            *start_sent = false;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    }
    say(output, "starting", json!({"room": room.id}), || {
        format!("starting the match with {}", plural(room.members.len(), "player"))
    });
    Ok(())
}

/// Runs the game client for `start`, reports its exit, waits for the
/// match's end, and turns both into the exit code.
async fn run_client(
    link: &Link,
    notices: &mut tokio::sync::mpsc::UnboundedReceiver<Notice>,
    library: &Library,
    me: &str,
    start: GameStart,
    launch: &LaunchOptions,
    output: Output,
) -> anyhow::Result<ExitCode> {
    let game_dir = library.version_dir(&start.game, &start.version);
    let mut ended: Option<MatchEnded> = None;
    let prepared = client_command(&game_dir, &start, me, launch);
    if let Ok(Some(notice)) = prepared.as_ref().map(|c| c.notice.as_deref()) {
        eprintln!("{notice}");
    }
    // The prepared client is kept while the game runs (it holds the cookie).
    let code = match prepared.and_then(|mut c| Ok((c.spawn()?, c))) {
        Ok((mut child, _client)) => {
            // Keep listening to the lobby while the game runs. A dropped
            // lobby connection does not touch the game connection: the
            // link reconnects (a GAME_START sent again on resume is for
            // the client already running).
            let status = loop {
                tokio::select! {
                    status = child.wait() => break status.ok(),
                    notice = notices.recv() => match notice {
                        Some(Notice::Event(Event::MatchEnded(e))) if e.match_id == start.match_id => ended = Some(e),
                        Some(Notice::Event(Event::Chat(chat))) if !output.is_json() => outln!("[{}] {}: {}", scope_name(&chat), chat.from, chat.text),
                        Some(Notice::Event(_)) => {}
                        Some(other) => {
                            if let Err(e) = follow_link(link, &other, start.room, output).await {
                                say(output, "lobby_lost", json!({"message": e.to_string()}), || format!("{e:#}"));
                            }
                        }
                        None => break child.wait().await.ok(),
                    },
                }
            };
            status.and_then(|s| s.code())
        }
        Err(e) => {
            say(output, "client_error", json!({"message": e.to_string()}), || format!("{e:#}"));
            None
        }
    };
    if let Ok(client) = link.client().await {
        let _ = client.call(GameClientExited { match_id: start.match_id, code }).await;
    }
    if code != Some(0) {
        say(output, "client_exited", json!({"code": code}), || match code {
            Some(c) => format!("your game client exited with code {c}; you are back in the room"),
            None => "your game client did not finish; you are back in the room".to_owned(),
        });
    }

    let ended = match ended {
        Some(e) => e,
        None => wait_for_end(link, notices, &start, output).await?,
    };
    say(output, "match_ended", json!(ended), || {
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
    link: &Link,
    notices: &mut tokio::sync::mpsc::UnboundedReceiver<Notice>,
    start: &GameStart,
    output: Output,
) -> anyhow::Result<MatchEnded> {
    let wait = async {
        while let Some(notice) = notices.recv().await {
            match notice {
                // Sent again on resume if it ended while the connection was down.
                Notice::Event(Event::MatchEnded(e)) if e.match_id == start.match_id => {
                    return Ok(e);
                }
                Notice::Event(_) => {}
                other => follow_link(link, &other, start.room, output).await?,
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
