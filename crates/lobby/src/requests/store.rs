//! STORE_LIST: what players can browse.

use gamestore_protocol::{GameKind, GameListReply, GameSummary, WireError};
use gamestore_storage::GameRecord;

use crate::connection::Conn;

/// A stored game as the protocol shows it.
pub fn summary(game: GameRecord) -> GameSummary {
    GameSummary {
        kind: if game.kind == "gui" { GameKind::Gui } else { GameKind::Cli },
        id: game.id,
        name: game.name,
        author: game.owner,
        version: game.latest_version,
        description: game.description,
        min_players: game.min_players,
        max_players: game.max_players,
        listed: game.listed,
        versions: game.versions,
        rating: None,
        reviews: 0,
        created_at: game.created_at,
        updated_at: game.updated_at,
    }
}

/// Every listed game; anyone logged in may browse.
pub async fn store_list(conn: &Conn) -> Result<GameListReply, WireError> {
    conn.account()?;
    let games = conn.lobby.db(|db| db.listed_games()).await?;
    Ok(GameListReply { games: games.into_iter().map(summary).collect() })
}
