//! STORE_LIST: what players can browse.

use gamestore_protocol::{
    GameInfo, GameInfoReply, GameKind, GameListReply, GameSummary, VersionInfo, WireError,
};
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
        rating: game.rating,
        reviews: game.reviews,
        created_at: game.created_at,
        updated_at: game.updated_at,
    }
}

/// Every listed game; anyone logged in may browse.
pub async fn store_list(conn: &Conn) -> Result<GameListReply, WireError> {
    conn.account()?;
    let games = conn.lobby.read(|db| db.listed_games())?;
    Ok(GameListReply { games: games.into_iter().map(summary).collect() })
}

/// GAME_INFO: one game's details and versions.
pub async fn game_info(conn: &Conn, request: GameInfo) -> Result<GameInfoReply, WireError> {
    let game = super::game_download::visible_game(conn, &request.id).await?;
    let id = game.id.clone();
    let versions = conn.lobby.read(move |db| db.version_records(&id))?;
    let versions = versions
        .into_iter()
        .map(|v| VersionInfo {
            files: serde_json::from_str::<gamestore_package::FileList>(&v.files)
                .map(|l| l.len() as u64)
                .unwrap_or(0),
            version: v.version,
            published_at: v.published_at,
            package_size: v.package_size,
            unpacked_bytes: v.unpacked_bytes,
        })
        .collect();
    let id = game.id.clone();
    let (recent, _) = conn.lobby.read(move |db| db.reviews_of(&id, 0, 5))?;
    let recent_reviews = recent.into_iter().map(super::reviews::wire_review).collect();
    Ok(GameInfoReply { game: summary(game), versions, recent_reviews })
}
