//! STORE_LIST and GAME_INFO: what players can browse.
//!
//! STORE_LIST pages come from the lobby's [`crate::catalog::Catalog`], which
//! keeps the listed games encoded: a page costs the same with ten games in
//! the store or ten thousand.

use crate::WireResult;
use gamestore_protocol::{GameInfo, GameInfoReply, StoreList, VersionInfo, WireError};

use crate::catalog::{StoreKey, summary};
use crate::connection::Conn;
use crate::paging::{cursor_key, page_limit};

/// Games on a STORE_LIST page by default and at most.
const PAGE: (u32, u32) = (50, 200);

/// A page of the listed games, by name; anyone logged in may browse.
/// Returns the reply's JSON.
pub(super) async fn store_list(conn: &Conn, request: StoreList) -> Result<Vec<u8>, WireError> {
    conn.account()?;
    let after: Option<StoreKey> = cursor_key(request.cursor.as_deref())?;
    let limit = page_limit(request.limit, PAGE.0, PAGE.1);
    conn.lobby.catalog.page(&conn.lobby.db, after.as_ref(), limit).await.wire()
}

/// GAME_INFO: one game's details and versions.
pub(super) async fn game_info(conn: &Conn, request: GameInfo) -> Result<GameInfoReply, WireError> {
    let game = super::game_download::visible_game(conn, &request.id).await?;
    let id = game.id.clone();
    let versions = conn.lobby.db.version_records(&id).await.wire()?;
    let versions = versions
        .into_iter()
        .map(|v| VersionInfo {
            files: conn.lobby.catalog.file_count(&v),
            version: v.version,
            published_at: v.published_at,
            package_size: v.package_size,
            unpacked_bytes: v.unpacked_bytes,
        })
        .collect();
    let id = game.id.clone();
    let (recent, _) = conn.lobby.db.reviews_of(&id, 0, 5).await.wire()?;
    let recent_reviews = recent.into_iter().map(super::reviews::wire_review).collect();
    let owner = game.owner_id;
    let current = conn.lobby.db.developer_keys(owner).await.wire()?.pop();
    let mut game = summary(game);
    game.fingerprint = current
        .and_then(|k| gamestore_package::chunked::parse_key_hex(&k.key).ok())
        .map(|k| gamestore_package::chunked::key_fingerprint(&k));
    Ok(GameInfoReply { game, versions, recent_reviews })
}
