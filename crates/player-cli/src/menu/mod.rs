//! The player's interactive menu (`gamestore-player` without a subcommand):
//! account, store, library, lobby and rooms, reviews, history, all on one
//! lobby connection. Screens reuse the subcommands' printing; the room
//! screen is in [`room`].

mod room;

use std::process::ExitCode;

use anyhow::bail;
use gamestore_client::cli::{Context, Output, human_bytes};
use gamestore_client::install::{OlderVersions, install};
use gamestore_client::library::Library;
use gamestore_client::menu::{LineKind, Menu, Notice, Quit, Watch};
use gamestore_client::reviews::{Draft, Drafts};
use gamestore_client::{LobbyClient, SavedSession, outln};
use gamestore_protocol::{
    ChatScope, ChatSend, Event, GameInfo, GameSummary, MAX_REVIEW_CHARS, MatchHistory, QuickPlay,
    RoomCreate, RoomInfo, RoomJoin, RoomList, StoreList,
};

use crate::{library, lobby, review, store};

/// How the menu's game clients are confined (`--sandbox`), set once at start.
static SANDBOX: std::sync::OnceLock<gamestore_client::launcher::SandboxMode> =
    std::sync::OnceLock::new();

fn sandbox_mode() -> gamestore_client::launcher::SandboxMode {
    SANDBOX.get().copied().unwrap_or_default()
}

/// Runs the menu until the user quits.
pub(crate) async fn run(
    ctx: Context,
    sandbox: gamestore_client::launcher::SandboxMode,
) -> anyhow::Result<ExitCode> {
    let _ = SANDBOX.set(sandbox);
    let menu = Menu::start(ctx, room::describe).await?;
    let _ = main_menu(&menu).await;
    // Quitting gives a room seat up at once; a dropped connection would
    // have the lobby keep it for a while.
    if menu.link.session().is_some() {
        let leave = async {
            let client = menu.link.client().await?;
            client.call(gamestore_protocol::RoomLeave {}).await.map_err(anyhow::Error::from)
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), leave).await;
    }
    menu.close();
    outln!("bye");
    Ok(ExitCode::SUCCESS)
}

async fn main_menu(menu: &Menu) -> Result<(), Quit> {
    loop {
        let Some(session) = menu.session_or_login().await? else {
            return Ok(());
        };
        let options = [
            "Store",
            "Library",
            "Lobby: rooms, chat, who is online",
            "Reviews",
            "Account and match history",
            "Plugins",
        ];
        let title = format!("Main menu ({})", session.user);
        match menu.choose(&title, &options, "Quit").await? {
            Some(0) => store_menu(menu).await?,
            Some(1) => library_menu(menu).await?,
            Some(2) => lobby_menu(menu).await?,
            Some(3) => reviews_menu(menu).await?,
            Some(4) => account_menu(menu).await?,
            Some(_) => crate::plugins::menu_screen(menu).await?,
            None => return Ok(()),
        }
    }
}

/// The connection and the player's installed games, for one action.
async fn player(
    menu: &Menu,
) -> anyhow::Result<(std::sync::Arc<LobbyClient>, SavedSession, Library)> {
    let (client, session) = menu.link.session_client().await?;
    let library = Library::new(menu.link.context().home.root(), &session.user);
    Ok((client, session, library))
}

async fn store_menu(menu: &Menu) -> Result<(), Quit> {
    let options = ["List games", "Game details", "Install or update a game"];
    while let Some(choice) = menu.screen("Store", &options).await? {
        let entered = menu
            .act(async {
                let (client, _, library) = player(menu).await?;
                match choice {
                    0 => {
                        store::show_store(&client, Output::Text).await?;
                    }
                    1 => {
                        if let Some(game) = pick_store_game(menu, &client, "Details of").await? {
                            store::show_info(&client, &game.id, Output::Text).await?;
                            return game_actions(menu, &client, &library, &game).await;
                        }
                    }
                    _ => {
                        if let Some(game) = pick_store_game(menu, &client, "Install").await? {
                            library::install_with(&client, &library, &game.id, None, Output::Text)
                                .await?;
                        }
                    }
                }
                Ok(None)
            })
            .await?;
        if let Some(Some((room, watch))) = entered {
            room::enter(menu, room, watch).await?;
        }
    }
    Ok(())
}

/// What can be done from a game's details: install it, or play it at once.
async fn game_actions(
    menu: &Menu,
    client: &LobbyClient,
    library: &Library,
    game: &GameSummary,
) -> anyhow::Result<Option<(RoomInfo, Watch)>> {
    let title = format!("{} ({})", game.name, game.id);
    let actions = ["Install or update", "Play (quick play)"];
    match menu.choose(&title, &actions, "Back").await? {
        Some(0) => {
            library::install_with(client, library, &game.id, None, Output::Text).await?;
            Ok(None)
        }
        Some(_) => open_room(menu, client, library, &game.id, Opening::QuickPlay).await,
        None => Ok(None),
    }
}

async fn library_menu(menu: &Menu) -> Result<(), Quit> {
    let options = ["List installed games", "Play a game", "Update a game", "Uninstall a game"];
    while let Some(choice) = menu.screen("Library", &options).await? {
        let entered = menu
            .act(async {
                let (client, _, library) = player(menu).await?;
                if choice == 0 {
                    library::show_library(Some(&client), &library, Output::Text).await?;
                    return Ok(None);
                }
                let Some(id) = pick_installed(menu, &library).await? else { return Ok(None) };
                match choice {
                    1 => return open_room(menu, &client, &library, &id, Opening::QuickPlay).await,
                    2 => {
                        library::install_with(&client, &library, &id, None, Output::Text).await?;
                    }
                    _ => {
                        if !library.uninstall(&id)? {
                            bail!("{id} is not installed");
                        }
                        outln!("uninstalled {id}");
                    }
                }
                Ok(None)
            })
            .await?;
        if let Some(Some((room, watch))) = entered {
            room::enter(menu, room, watch).await?;
        }
    }
    Ok(())
}

async fn lobby_menu(menu: &Menu) -> Result<(), Quit> {
    let options =
        ["Who is online", "Rooms: list and join", "Create a room", "Quick play", "Lobby chat"];
    while let Some(choice) = menu.screen("Lobby", &options).await? {
        if choice == 4 {
            lobby_chat(menu).await?;
            continue;
        }
        let entered = menu
            .act(async {
                let (client, _, library) = player(menu).await?;
                match choice {
                    0 => {
                        lobby::show_online(&client, Output::Text).await?;
                        Ok(None)
                    }
                    1 => join_room(menu, &client, &library).await,
                    _ => {
                        let title = if choice == 2 { "Create a room for" } else { "Quick play" };
                        let Some(game) = pick_store_game(menu, &client, title).await? else {
                            return Ok(None);
                        };
                        let how = if choice == 2 { Opening::Create } else { Opening::QuickPlay };
                        open_room(menu, &client, &library, &game.id, how).await
                    }
                }
            })
            .await?;
        if let Some(Some((room, watch))) = entered {
            room::enter(menu, room, watch).await?;
        }
    }
    Ok(())
}

/// How to get into a room for a game.
#[derive(Clone, Copy)]
enum Opening {
    Create,
    QuickPlay,
}

/// Makes a room for `game` (installing or updating it first, since the room
/// plays the latest version) or finds one; the room screen then installs the
/// room's exact version, which quick play may find older than the latest.
async fn open_room(
    menu: &Menu,
    client: &LobbyClient,
    library: &Library,
    game: &str,
    how: Opening,
) -> anyhow::Result<Option<(RoomInfo, Watch)>> {
    refuse_without_display(client, game).await?;
    if let Opening::Create = how {
        let outcome = install(client, library, game, None, OlderVersions::Remove).await?;
        if outcome.bytes_transferred > 0 {
            outln!(
                "installed {} {} ({})",
                outcome.id,
                outcome.version,
                human_bytes(outcome.bytes_transferred)
            );
        }
    }
    // Watch before the room exists, so that nobody's arrival is missed.
    let watch = menu.watch();
    let room = match how {
        Opening::Create => client.call(RoomCreate { game: game.to_owned() }).await?,
        Opening::QuickPlay => client.call(QuickPlay { game: game.to_owned() }).await?,
    };
    Ok(Some((room, watch)))
}

/// Lists the rooms and joins the one picked, installing its version first.
async fn join_room(
    menu: &Menu,
    client: &LobbyClient,
    library: &Library,
) -> anyhow::Result<Option<(RoomInfo, Watch)>> {
    let rooms = client.call_all(RoomList::default()).await?.rooms;
    if rooms.is_empty() {
        outln!("No open rooms. Create one, or use quick play.");
        return Ok(None);
    }
    let items: Vec<String> = rooms
        .iter()
        .map(|r| {
            let state = r.state.as_str();
            format!(
                "Room {}: {} {}, host {}, {}/{} players, {state}",
                r.id,
                r.game_name,
                r.version,
                r.host,
                r.members.len(),
                r.capacity
            )
        })
        .collect();
    let Some(i) = menu.pick("Join a room", &items).await? else { return Ok(None) };
    let chosen = &rooms[i];
    refuse_without_display(client, &chosen.game).await?;
    // The room plays an exact version: have it before joining.
    let outcome =
        install(client, library, &chosen.game, Some(&chosen.version), OlderVersions::Keep).await?;
    if outcome.bytes_transferred > 0 {
        outln!("installed {} {}", outcome.id, outcome.version);
    }
    let watch = menu.watch();
    let room = client.call(RoomJoin { room: chosen.id }).await?;
    Ok(Some((room, watch)))
}

/// Refuses, before joining or making a room, a `gui` game this launcher
/// cannot show (no display): its client would fail once the match started.
async fn refuse_without_display(client: &LobbyClient, game: &str) -> anyhow::Result<()> {
    let info = client.call(GameInfo { id: game.to_owned() }).await?.game;
    match gamestore_client::launcher::display_problem(info.kind, &info.name) {
        Some(problem) => bail!("{problem}"),
        None => Ok(()),
    }
}

/// Lobby-wide chat until `l`.
async fn lobby_chat(menu: &Menu) -> Result<(), Quit> {
    outln!("");
    outln!("== Lobby chat ==");
    outln!("Type a message and Enter to send it to everyone in the lobby; l alone goes back.");
    loop {
        let line = menu.ask("lobby chat> ", LineKind::Text).await?;
        let text = line.trim();
        match text {
            "" => continue,
            "l" => return Ok(()),
            _ => {}
        }
        menu.act(async {
            let (client, _) = menu.link.session_client().await?;
            client.call(ChatSend { scope: ChatScope::Lobby, text: text.to_owned() }).await?;
            Ok(())
        })
        .await?;
    }
}

async fn reviews_menu(menu: &Menu) -> Result<(), Quit> {
    let options = ["Read a game's reviews", "Write or edit my review", "Send a kept review"];
    while let Some(choice) = menu.screen("Reviews", &options).await? {
        menu.act(async {
            let (client, session) = menu.link.session_client().await?;
            let drafts = Drafts::new(menu.link.context().home.root(), &session.user);
            match choice {
                0 => {
                    if let Some(game) = pick_store_game(menu, &client, "Reviews of").await? {
                        gamestore_client::reviews::show(&client, &game.id, None, Output::Text)
                            .await?;
                    }
                }
                1 => {
                    let Some(game) = pick_store_game(menu, &client, "Review").await? else {
                        return Ok(());
                    };
                    // Tell a player who cannot review before asking for anything.
                    if !has_played(&client, &game.id).await? {
                        bail!(
                            "you have not played {} yet: only players with a recorded match \
                             may review it (NOT_PLAYED)",
                            game.name
                        );
                    }
                    let Some(rating) =
                        menu.ask_number("stars, 1 to 5 (empty to go back): ", 1, 5).await?
                    else {
                        return Ok(());
                    };
                    let text = menu
                        .ask(
                            &format!("text (optional, up to {MAX_REVIEW_CHARS} characters): "),
                            LineKind::Text,
                        )
                        .await?;
                    let draft = Draft {
                        game: game.id.clone(),
                        rating: rating as u8,
                        text: text.trim().to_owned(),
                    };
                    drafts.save(&draft)?;
                    send_review(&client, &drafts, &draft).await?;
                }
                _ => {
                    let kept = drafts.all();
                    if kept.is_empty() {
                        outln!("No kept review: every review you wrote was sent.");
                        return Ok(());
                    }
                    let items: Vec<String> = kept
                        .iter()
                        .map(|d| format!("{}: {} stars, {:?}", d.game, d.rating, d.text))
                        .collect();
                    if let Some(i) = menu.pick("Send a kept review", &items).await? {
                        send_review(&client, &drafts, &kept[i]).await?;
                    }
                }
            }
            Ok(())
        })
        .await?;
    }
    Ok(())
}

async fn send_review(client: &LobbyClient, drafts: &Drafts, draft: &Draft) -> anyhow::Result<()> {
    review::send(client, drafts, draft).await.map_err(|e| {
        if gamestore_client::reviews::worth_keeping(&e) {
            e.context("your review is kept: send it again with Reviews, Send a kept review")
        } else {
            e
        }
    })
}

/// Whether `player` has a recorded match of `game` that allows a review
/// (any outcome but `never_started`, as the lobby counts it).
async fn has_played(client: &LobbyClient, game: &str) -> anyhow::Result<bool> {
    let history = client.call_all(MatchHistory::default()).await?;
    Ok(history
        .matches
        .iter()
        .any(|m| m.game == game && m.outcome.as_deref() != Some("never_started")))
}

async fn account_menu(menu: &Menu) -> Result<(), Quit> {
    let options = ["Who am I", "My match history", "Log out"];
    while let Some(choice) = menu.screen("Account", &options).await? {
        menu.act(async {
            match choice {
                0 => menu.whoami().await,
                1 => {
                    let (client, _) = menu.link.session_client().await?;
                    lobby::show_history(&client, Output::Text).await?;
                    Ok(())
                }
                _ => menu.logout().await,
            }
        })
        .await?;
        if menu.link.session().is_none() {
            return Ok(());
        }
    }
    Ok(())
}

/// Lets the user pick a listed game.
async fn pick_store_game(
    menu: &Menu,
    client: &LobbyClient,
    title: &str,
) -> anyhow::Result<Option<GameSummary>> {
    let games = client.call_all(StoreList::default()).await?.games;
    if games.is_empty() {
        outln!("The store is empty: no game is listed yet.");
        return Ok(None);
    }
    let items: Vec<String> =
        games.iter().map(|g| format!("{} ({} {}, {})", g.name, g.id, g.version, g.kind)).collect();
    Ok(menu.pick(title, &items).await?.map(|i| games[i].clone()))
}

/// Lets the user pick an installed game.
async fn pick_installed(menu: &Menu, library: &Library) -> anyhow::Result<Option<String>> {
    let installed = library.installed();
    if installed.is_empty() {
        outln!("No game installed yet: install one from the store.");
        return Ok(None);
    }
    let items: Vec<String> = installed.iter().map(|g| format!("{} {}", g.id, g.version)).collect();
    Ok(menu.pick("Which game", &items).await?.map(|i| installed[i].id.clone()))
}

/// True for notices that mean this connection's room membership is gone.
fn connection_gone(notice: &Notice) -> bool {
    matches!(
        notice,
        Notice::Lost { .. } | Notice::Event(Event::SessionRevoked(_)) | Notice::SessionEnded
    )
}
