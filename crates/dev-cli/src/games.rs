//! `games`, `delist GAME`, `relist GAME`.

use std::process::ExitCode;

use gamestore_client::cli::{Context, Output, print_json, print_table, rating_text};
use gamestore_client::{LobbyClient, outln};
use gamestore_protocol::{GameDelist, GameRelist, MyGames};

/// `games [--json]`
pub(crate) async fn games(ctx: &Context, output: Output) -> anyhow::Result<ExitCode> {
    let (client, _) = ctx.connect_session().await?;
    show_games(&client, output).await
}

/// Prints my games as `games` does, on an open connection.
pub(crate) async fn show_games(client: &LobbyClient, output: Output) -> anyhow::Result<ExitCode> {
    let reply = client.call_all(MyGames::default()).await?;
    if output.is_json() {
        print_json(&reply.games)?;
    } else if reply.games.is_empty() {
        outln!(
            "You have not published any game yet. Publish one with `gamestore-dev publish DIR`."
        );
    } else {
        let rows: Vec<Vec<String>> = reply
            .games
            .iter()
            .map(|g| {
                vec![
                    g.id.clone(),
                    g.name.clone(),
                    g.version.clone(),
                    if g.listed { "listed".into() } else { "delisted".into() },
                    g.versions.len().to_string(),
                    rating_text(g.rating, g.reviews),
                ]
            })
            .collect();
        print_table(&["ID", "NAME", "LATEST", "STATUS", "VERSIONS", "RATING"], &rows);
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether `delist` or `relist` was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listing {
    Listed,
    Delisted,
}

/// `delist GAME` and `relist GAME`.
pub(crate) async fn set_listed(
    ctx: &Context,
    id: &str,
    listing: Listing,
) -> anyhow::Result<ExitCode> {
    let (client, _) = ctx.connect_session().await?;
    set_listed_with(&client, id, listing).await
}

/// Delists or relists as `delist`/`relist` do, on an open connection.
pub(crate) async fn set_listed_with(
    client: &LobbyClient,
    id: &str,
    listing: Listing,
) -> anyhow::Result<ExitCode> {
    match listing {
        Listing::Listed => {
            let game = client.call(GameRelist { id: id.to_owned() }).await?;
            outln!("{} is listed again: it is in the store and new rooms can be made", game.id);
        }
        Listing::Delisted => {
            let game = client.call(GameDelist { id: id.to_owned() }).await?;
            outln!(
                "{} is delisted: it left the store; matches already running finish normally",
                game.id
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
