//! `store`: browse the catalog.

use std::process::ExitCode;

use gamestore_client::cli::{Context, Output, print_json, print_table, rating_text};
use gamestore_client::{LobbyClient, outln};
use gamestore_protocol::StoreList;

/// `store [--json]`
pub(crate) async fn store(ctx: &Context, output: Output) -> anyhow::Result<ExitCode> {
    let (client, _) = ctx.connect_session().await?;
    show_store(&client, output).await
}

/// Prints the store as `store` does, on an open connection.
pub(crate) async fn show_store(client: &LobbyClient, output: Output) -> anyhow::Result<ExitCode> {
    let reply = client.call_all(StoreList::default()).await?;
    if output.is_json() {
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

/// `info GAME [--json]`
pub(crate) async fn info(ctx: &Context, id: &str, output: Output) -> anyhow::Result<ExitCode> {
    let (client, _) = ctx.connect_session().await?;
    show_info(&client, id, output).await
}

/// Prints a game's details as `info` does, on an open connection.
pub(crate) async fn show_info(
    client: &LobbyClient,
    id: &str,
    output: Output,
) -> anyhow::Result<ExitCode> {
    let info = client.call(gamestore_protocol::GameInfo { id: id.to_owned() }).await?;
    if output.is_json() {
        print_json(&info)?;
        return Ok(ExitCode::SUCCESS);
    }
    let g = &info.game;
    outln!("{} ({})", g.name, g.id);
    outln!(
        "  by {}, version {}, {} game for {}",
        g.author,
        g.version,
        g.kind,
        gamestore_client::cli::players_range(g.min_players, g.max_players)
    );
    outln!("  rating: {}", rating_text(g.rating, g.reviews));
    match &g.fingerprint {
        Some(fp) => outln!("  developer key: {fp}"),
        None => outln!("  developer key: none (versions are not signed)"),
    }
    if !g.description.is_empty() {
        outln!("  {}", g.description);
    }
    outln!("  versions:");
    for v in info.versions.iter().rev() {
        outln!(
            "    {:<10} {} files, {} to download, {} installed",
            v.version,
            v.files,
            gamestore_client::cli::human_bytes(if v.package_size > 0 {
                v.package_size
            } else {
                v.unpacked_bytes
            }),
            gamestore_client::cli::human_bytes(v.unpacked_bytes)
        );
    }
    if !info.recent_reviews.is_empty() {
        outln!("  recent reviews:");
        for r in &info.recent_reviews {
            outln!("    {} {}/5: {}", r.player, r.rating, r.text);
        }
    }
    Ok(ExitCode::SUCCESS)
}
