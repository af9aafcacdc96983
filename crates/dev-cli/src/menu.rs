//! The developer's interactive menu (`gamestore-dev` without a subcommand):
//! account, my games (details, versions, ratings and reviews, delist and
//! relist), publishing a folder, and new games from the templates, all on
//! one lobby connection. Screens reuse the subcommands' printing.

use std::path::PathBuf;
use std::process::ExitCode;

use gamestore_client::cli::{Context, Output, human_bytes, rating_text};
use gamestore_client::menu::{LineKind, Menu, Quit};
use gamestore_client::publish::Compression;
use gamestore_client::{LobbyClient, outln};
use gamestore_protocol::{GameInfo, GameSummary, MyGames};

use crate::games::Listing;
use crate::new::Template;
use crate::{games, new, publish};

/// Runs the menu until the user quits.
pub(crate) async fn run(ctx: Context) -> anyhow::Result<ExitCode> {
    let menu = Menu::start(ctx, |_| None).await?;
    let _ = main_menu(&menu).await;
    menu.close();
    outln!("bye");
    Ok(ExitCode::SUCCESS)
}

async fn main_menu(menu: &Menu) -> Result<(), Quit> {
    loop {
        let Some(session) = menu.session_or_login().await? else {
            return Ok(());
        };
        let options = ["My games", "Publish a game folder", "New game from a template", "Account"];
        let title = format!("Main menu ({})", session.user);
        match menu.choose(&title, &options, "Quit").await? {
            Some(0) => my_games(menu).await?,
            Some(1) => {
                menu.act(publish_folder(menu)).await?;
            }
            Some(2) => {
                menu.act(new_game(menu)).await?;
            }
            Some(_) => account(menu).await?,
            None => return Ok(()),
        }
    }
}

async fn my_games(menu: &Menu) -> Result<(), Quit> {
    let options = [
        "List my games",
        "Details: versions, rating and reviews",
        "Delist a game (leave the store)",
        "Relist a game (back in the store)",
    ];
    while let Some(choice) = menu.screen("My games", &options).await? {
        menu.act(async {
            let (client, _) = menu.link.session_client().await?;
            match choice {
                0 => {
                    games::show_games(&client, Output::Text).await?;
                }
                1 => {
                    if let Some(game) = pick_game(menu, &client, "Details of", None).await? {
                        details(&client, &game).await?;
                    }
                }
                _ => {
                    let (listing, title) = match choice {
                        3 => (Listing::Listed, "Relist"),
                        _ => (Listing::Delisted, "Delist"),
                    };
                    let wanted = Some(listing == Listing::Delisted);
                    if let Some(game) = pick_game(menu, &client, title, wanted).await?
                        && confirmed(menu, listing, &game).await?
                    {
                        games::set_listed_with(&client, &game.id, listing).await?;
                    }
                }
            }
            Ok(())
        })
        .await?;
    }
    Ok(())
}

/// Asks before delisting (it takes the game out of the store); relisting
/// needs no question.
async fn confirmed(menu: &Menu, listing: Listing, game: &GameSummary) -> anyhow::Result<bool> {
    if listing == Listing::Listed {
        return Ok(true);
    }
    let question = format!(
        "delist {} ({})? It leaves the store and no new room can be made for it [y/N] ",
        game.name, game.id
    );
    let answer = menu.ask(&question, LineKind::Text).await?;
    let yes = matches!(answer.trim(), "y" | "Y" | "yes");
    if !yes {
        outln!("{} stays listed", game.id);
    }
    Ok(yes)
}

/// Lets the developer pick one of their games; `listed` filters by status.
async fn pick_game(
    menu: &Menu,
    client: &LobbyClient,
    title: &str,
    listed: Option<bool>,
) -> anyhow::Result<Option<GameSummary>> {
    let games: Vec<GameSummary> = client
        .call_all(MyGames::default())
        .await?
        .games
        .into_iter()
        .filter(|g| listed.is_none_or(|l| g.listed == l))
        .collect();
    if games.is_empty() {
        outln!(
            "{}",
            match listed {
                None => "You have not published any game yet.",
                Some(true) => "None of your games is listed.",
                Some(false) => "None of your games is delisted.",
            }
        );
        return Ok(None);
    }
    let items: Vec<String> = games
        .iter()
        .map(|g| {
            let status = if g.listed { "listed" } else { "delisted" };
            format!("{} ({} {}, {status})", g.name, g.id, g.version)
        })
        .collect();
    Ok(menu.pick(title, &items).await?.map(|i| games[i].clone()))
}

/// A game's details, every version, and its first page of reviews.
async fn details(client: &LobbyClient, game: &GameSummary) -> anyhow::Result<()> {
    let info = client.call(GameInfo { id: game.id.clone() }).await?;
    let g = &info.game;
    outln!("{} ({}), {}", g.name, g.id, if g.listed { "listed" } else { "delisted" });
    outln!(
        "  latest {}, {} game for {}, rating {}",
        g.version,
        g.kind,
        gamestore_client::cli::players_range(g.min_players, g.max_players),
        rating_text(g.rating, g.reviews)
    );
    outln!("  versions:");
    for v in info.versions.iter().rev() {
        let zip = if v.package_size > 0 {
            format!("{} zip", human_bytes(v.package_size))
        } else {
            "zip packed on first demand".to_owned()
        };
        outln!(
            "    {:<10} {} files, {zip}, {} unpacked",
            v.version,
            v.files,
            human_bytes(v.unpacked_bytes)
        );
    }
    gamestore_client::reviews::show(client, &game.id, None, Output::Text).await?;
    Ok(())
}

/// Asks for a folder, validates it (listing every problem), and publishes it.
async fn publish_folder(menu: &Menu) -> anyhow::Result<()> {
    let Some(dir) =
        ask_folder(menu, "game folder to publish (Tab completes; empty to go back): ").await?
    else {
        return Ok(());
    };
    publish::validate(&dir, Output::Text)?;
    let (client, _) = menu.link.session_client().await?;
    publish::publish_with(
        &client,
        menu.link.context().home.root(),
        &dir,
        Compression::Auto,
        Output::Text,
    )
    .await?;
    Ok(())
}

/// Asks for a new folder and a template, and writes the game there.
async fn new_game(menu: &Menu) -> anyhow::Result<()> {
    let Some(dir) =
        ask_folder(menu, "folder for the new game (Tab completes; empty to go back): ").await?
    else {
        return Ok(());
    };
    let options = [
        "Terminal game for two players (tic-tac-toe)",
        "Window game for one to eight players (coin race)",
    ];
    let template = match menu.choose("Template", &options, "Back").await? {
        None => return Ok(()),
        Some(0) => Template::Cli,
        Some(_) => Template::Gui,
    };
    new::new(&dir, template, None, None)?;
    Ok(())
}

async fn ask_folder(menu: &Menu, prompt: &str) -> Result<Option<PathBuf>, Quit> {
    let line = menu.ask(prompt, LineKind::Path).await?;
    let line = line.trim();
    if line.is_empty() {
        return Ok(None);
    }
    Ok(Some(match (line.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(line),
    }))
}

async fn account(menu: &Menu) -> Result<(), Quit> {
    while let Some(choice) = menu.screen("Account", &["Who am I", "Log out"]).await? {
        match choice {
            0 => menu.act(menu.whoami()).await?,
            _ => menu.act(menu.logout()).await?,
        };
        if menu.link.session().is_none() {
            return Ok(());
        }
    }
    Ok(())
}
