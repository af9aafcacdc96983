//! `store`: browse the catalog.

use std::process::ExitCode;

use gamestore_client::cli::{Context, print_json, print_table, rating_text};
use gamestore_client::outln;
use gamestore_protocol::StoreList;

/// `store [--json]`
pub async fn store(ctx: &Context, json: bool) -> anyhow::Result<ExitCode> {
    let (client, _) = ctx.connect_session().await?;
    let reply = client.call(StoreList {}).await?;
    if json {
        print_json(&reply.games)?;
    } else if reply.games.is_empty() {
        outln!("The store is empty: no game is listed yet.");
    } else {
        let rows: Vec<Vec<String>> = reply
            .games
            .iter()
            .map(|g| {
                let players = if g.min_players == g.max_players {
                    g.min_players.to_string()
                } else {
                    format!("{}-{}", g.min_players, g.max_players)
                };
                vec![
                    g.id.clone(),
                    g.name.clone(),
                    g.version.clone(),
                    g.author.clone(),
                    g.kind.to_string(),
                    players,
                    rating_text(g.rating, g.reviews),
                ]
            })
            .collect();
        print_table(&["ID", "NAME", "VERSION", "AUTHOR", "KIND", "PLAYERS", "RATING"], &rows);
    }
    Ok(ExitCode::SUCCESS)
}
