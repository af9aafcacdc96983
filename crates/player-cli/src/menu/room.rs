//! The room screen: members (host marked), room chat, `s` for the host to
//! start the match (the seed's key), `l` to leave.
//!
//! While the player types, what happens in the room (joins, leaves, chat, a
//! new host, the match starting) is printed above the prompt. On GAME_START
//! the prompt is withdrawn, the game client runs in the terminal, the lobby
//! hears when it exits (GAME_CLIENT_EXITED), and the room screen comes back.
//! Each installed plugin runs while the player is in the room and draws its
//! own panel: its lines are shown with its prefix (`[chat+] ann: hi`) and
//! `/p text` (or `/p PREFIX text`) sends text to it. A plugin that fails is
//! reported in one line and the room screen goes on without it.
//! If the lobby connection drops, the lobby keeps the player's seat for a
//! grace period: the screen stays while the link reconnects, and once it has,
//! checks the seat was kept (else it says so and returns to the lobby menu).

use gamestore_client::install::{OlderVersions, install};
use gamestore_client::launcher::{LaunchOptions, client_command, game_data_dir};
use gamestore_client::library::Library;
use gamestore_client::menu::{Input, LineKind, Menu, Notice, PendingLine, Quit, Watch, one_line};
use gamestore_client::outln;
use gamestore_client::plugins::host::Output;
use gamestore_client::plugins::room::{PluginNote, RoomPlugins, plugin_input};
use gamestore_protocol::{
    ChatScope, ChatSend, Event, GameClientExited, GameStart, GameStartNotify, RoomEventKind,
    RoomInfo, RoomLeave, RoomState,
};

use super::connection_gone;
use crate::play::{describe_update, scope_name};

const HELP: &str = "Type a message and Enter to chat with the room. Keys (alone on a line): \
                    s start the match (host), l leave, m members, h help.";

/// How the player's events look, in every screen.
pub(crate) fn describe(notice: &Notice) -> Option<String> {
    let Notice::Event(event) = notice else { return None };
    Some(match event {
        Event::Chat(chat) => format!("[{}] {}: {}", scope_name(chat), chat.from, chat.text),
        // Alone in a new room: the room screen says it all.
        Event::RoomUpdate(update)
            if update.event == RoomEventKind::Joined && update.room.members.len() == 1 =>
        {
            return None;
        }
        Event::RoomUpdate(update) => {
            describe_update(&update.event, update.player.as_deref(), &update.room)
        }
        Event::GameStart(start) => format!(
            "match {} starting: game server at {}:{}; running the game client",
            start.match_id, start.host, start.port
        ),
        Event::RoomPluginInUse(hint) => {
            PluginNote::InUse { plugin: hint.plugin.clone() }.text(INSTALL_HINT)
        }
        Event::MatchEnded(ended) => {
            let mut line = format!("match {} ended: {}", ended.match_id, ended.message);
            if let Some(winner) =
                ended.result.as_ref().and_then(|r| r.get("winner")).and_then(|w| w.as_str())
            {
                line.push_str(&format!(" (winner: {winner})"));
            }
            line
        }
        _ => return None,
    })
}

/// How the menu installs a plugin, for the hint that others use one.
const INSTALL_HINT: &str = "you can install it from Plugins in the main menu";

/// What the screen waits for next.
enum Next {
    Typed(Input),
    Heard(Option<Notice>),
    Plugin(String, Output),
}

/// Runs the room screen for `room`, which this player just joined; `watch`
/// was opened before joining. Returns when the player leaves the room.
pub(crate) async fn enter(menu: &Menu, mut room: RoomInfo, mut watch: Watch) -> Result<(), Quit> {
    let me = match menu.link.session() {
        Some(session) => session.user,
        None => return Ok(()),
    };
    let library = Library::new(menu.link.context().home.root(), &me);
    // The room plays an exact version (quick play may have found an older room).
    let installed = menu
        .act(async {
            let client = menu.link.client().await?;
            let outcome =
                install(&client, &library, &room.game, Some(&room.version), OlderVersions::Keep)
                    .await?;
            if outcome.bytes_transferred > 0 {
                outln!("installed {} {}", outcome.id, outcome.version);
            }
            Ok(())
        })
        .await?;
    if installed.is_none() {
        outln!("without {} {} installed you cannot play in this room", room.game, room.version);
    }
    outln!("");
    outln!("== Room {}: {} {} ==", room.id, room.game_name, room.version);
    outln!("{}", members_line(&room));
    outln!("{HELP}");
    let (mut plugins, notes) =
        RoomPlugins::start(&menu.link, &me, &room, super::sandbox_mode()).await;
    report(menu, notes);

    let mut pending: Option<PendingLine> = None;
    loop {
        let next = {
            let prompt = format!("room {}> ", room.id);
            let line = pending.get_or_insert_with(|| menu.console.read(&prompt, LineKind::Text));
            tokio::select! {
                input = line.wait() => Next::Typed(input),
                notice = watch.next() => Next::Heard(notice),
                (id, output) = plugins.next() => Next::Plugin(id, output),
            }
        };
        match next {
            Next::Typed(input) => {
                pending = None;
                let text = match input {
                    Input::Line(text) => text,
                    Input::Eof | Input::Interrupted => return Err(Quit),
                };
                let text = text.trim();
                if let Some(rest) = plugin_input(text) {
                    report(menu, plugins.input(&menu.link, rest).await);
                    continue;
                }
                if !typed(menu, &room, text).await? {
                    plugins.left();
                    return Ok(());
                }
            }
            Next::Plugin(id, output) => {
                report(menu, plugins.output(&menu.link, &id, output).await);
            }
            Next::Heard(None) => return Ok(()),
            Next::Heard(Some(notice)) => match notice {
                Notice::Event(event @ Event::PluginMessage(_)) => {
                    report(menu, plugins.event(&menu.link, &event).await);
                }
                Notice::Event(Event::RoomUpdate(update)) if update.room.id == room.id => {
                    room = update.room.clone();
                    report(menu, plugins.event(&menu.link, &Event::RoomUpdate(update)).await);
                }
                Notice::Event(Event::GameStart(start)) if start.room == room.id => {
                    if let Some(line) = pending.take() {
                        // Text typed just as the match started is still sent.
                        if let Some(Input::Line(text)) = line.cancel().await {
                            let text = text.trim();
                            if !text.is_empty() && !is_key(text) {
                                let _ = send_chat(menu, text).await;
                            }
                        }
                    }
                    let gone = play(menu, &mut watch, &library, &me, &start, &mut room).await;
                    if gone {
                        outln!("{}", removed(&room));
                        return Ok(());
                    }
                    outln!("");
                    outln!("== Room {}: {} {} ==", room.id, room.game_name, room.version);
                    outln!("back in the room. {}", members_line(&room));
                    report(menu, plugins.back_in(&menu.link, &room).await);
                }
                // The prompt is open: print above it.
                Notice::Lost { .. } => menu.printer().line(format!(
                    "your seat in room {} is kept while the connection comes back",
                    room.id
                )),
                Notice::Reconnected { .. } if seat_kept(menu, &mut room).await => {
                    menu.printer().line(format!(
                        "back in room {}. {}",
                        room.id,
                        members_line(&room)
                    ));
                    report(menu, plugins.announce(&menu.link).await);
                }
                notice
                    if connection_gone(&notice) || matches!(notice, Notice::Reconnected { .. }) =>
                {
                    if let Some(line) = pending.take() {
                        line.cancel().await;
                    }
                    outln!("{}", removed(&room));
                    return Ok(());
                }
                _ => {}
            },
        }
    }
}

/// Prints what the plugins have to say above the prompt being edited.
/// The hint that others use a plugin is already printed with the other
/// events ([`describe`]).
fn report(menu: &Menu, notes: Vec<PluginNote>) {
    for note in notes {
        if !matches!(note, PluginNote::InUse { .. }) {
            menu.printer().line(note.text(INSTALL_HINT));
        }
    }
}

fn removed(room: &RoomInfo) -> String {
    format!(
        "you are no longer in room {}: the lobby did not keep your seat (it restarted, or \
         the connection was down too long); back to the lobby menu",
        room.id
    )
}

/// After a reconnection: whether the lobby kept this player's seat in
/// `room` (updating it), which a RESUME within the grace period does.
async fn seat_kept(menu: &Menu, room: &mut RoomInfo) -> bool {
    match menu.link.my_room().await {
        Ok(Some(kept)) if kept.id == room.id => {
            *room = kept;
            true
        }
        _ => false,
    }
}

fn is_key(text: &str) -> bool {
    matches!(text, "s" | "l" | "m" | "h" | "?")
}

/// Handles a typed line; false once the player left the room.
async fn typed(menu: &Menu, room: &RoomInfo, text: &str) -> Result<bool, Quit> {
    match text {
        "" => {}
        "h" | "?" => outln!("{HELP}"),
        "m" => outln!("{}", members_line(room)),
        "s" => {
            menu.act(async {
                let client = menu.link.client().await?;
                client.call(GameStartNotify {}).await?;
                outln!(
                    "starting the match with {}",
                    gamestore_client::cli::plural(room.members.len(), "player")
                );
                Ok(())
            })
            .await?;
        }
        "l" => {
            let left = menu
                .act(async {
                    let client = menu.link.client().await?;
                    client.call(RoomLeave {}).await?;
                    outln!("you left room {}", room.id);
                    Ok(())
                })
                .await?;
            return Ok(left.is_none());
        }
        text => {
            menu.act(send_chat(menu, text)).await?;
        }
    }
    Ok(true)
}

async fn send_chat(menu: &Menu, text: &str) -> anyhow::Result<()> {
    let client = menu.link.client().await?;
    client.call(ChatSend { scope: ChatScope::Room, text: text.to_owned() }).await?;
    Ok(())
}

/// "3/16 players, waiting: ann (host), bob"
fn members_line(room: &RoomInfo) -> String {
    let state = match room.state {
        RoomState::Waiting => "waiting",
        RoomState::Starting => "starting",
        RoomState::Playing => "playing",
    };
    let members: Vec<String> = room
        .members
        .iter()
        .map(|m| if *m == room.host { format!("{m} (host)") } else { m.clone() })
        .collect();
    format!("{}/{} players, {state}: {}", room.members.len(), room.capacity, members.join(", "))
}

/// Runs this player's game client for `start`, keeping up with the room,
/// and tells the lobby when it exits. True when the connection (and with it
/// the room) was lost meanwhile.
async fn play(
    menu: &Menu,
    watch: &mut Watch,
    library: &Library,
    me: &str,
    start: &GameStart,
    room: &mut RoomInfo,
) -> bool {
    let mut gone = false;
    let game_dir = library.version_dir(&start.game, &start.version);
    let launch = LaunchOptions {
        sandbox: super::sandbox_mode(),
        data_dir: game_data_dir(menu.link.context().home.root(), me, &start.game),
    };
    // The prepared client is kept while the game runs (it holds the cookie).
    let spawned = client_command(&game_dir, start, me, &launch).and_then(|mut c| {
        if let Some(notice) = &c.notice {
            outln!("{notice}");
        }
        Ok((c.spawn()?, c))
    });
    let code = match spawned {
        Ok((mut child, _client)) => loop {
            tokio::select! {
                status = child.wait() => break status.ok().and_then(|s| s.code()),
                notice = watch.next() => match notice {
                    Some(Notice::Event(Event::RoomUpdate(update))) if update.room.id == room.id => {
                        *room = update.room;
                    }
                    // The game connection does not depend on the lobby's.
                    Some(Notice::Lost { .. }) => {}
                    Some(Notice::Reconnected { .. }) => gone = !seat_kept(menu, room).await,
                    Some(notice) if connection_gone(&notice) => gone = true,
                    _ => {}
                },
            }
        },
        Err(e) => {
            outln!("error: {}", one_line(&e));
            None
        }
    };
    match code {
        Some(0) => outln!("your game client finished"),
        Some(code) => outln!("your game client exited with code {code}"),
        None => outln!("your game client did not finish"),
    }
    if let Ok(client) = menu.link.client().await {
        let _ = client.call(GameClientExited { match_id: start.match_id, code }).await;
    }
    gone
}
