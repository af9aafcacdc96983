//! MY_GAMES, GAME_DELIST and GAME_RELIST: a developer's view of their games
//! (flow D3).
//!
//! Delisting only flips a flag: the game leaves the store and no new room can
//! be made for it, while its versions stay on disk so matches already running
//! finish and relisting brings it back unchanged.

use crate::WireResult;
use gamestore_protocol::{ErrorCode, GameListReply, GameSummary, MyGames, WireError};
use gamestore_storage::Role;

use crate::catalog::{Listing, StoreKey, store_key, summary};
use crate::connection::Conn;
use crate::now;
use crate::paging::{cursor_key, page_limit, take_page};

/// A page of the developer's games, listed or not, by name.
pub(super) async fn my_games(conn: &Conn, request: MyGames) -> Result<GameListReply, WireError> {
    let owner = conn.require(Role::Developer)?.id;
    let after: Option<StoreKey> = cursor_key(request.cursor.as_deref())?;
    let limit = page_limit(request.limit, 50, 200);
    let mut games: Vec<GameSummary> =
        conn.lobby.db.games_of(owner).await.wire()?.into_iter().map(summary).collect();
    games.sort_by_cached_key(|g| store_key(&g.name, &g.id));
    let rest =
        games.into_iter().filter(|g| after.as_ref().is_none_or(|a| &store_key(&g.name, &g.id) > a));
    let (games, next_cursor) = take_page(rest, limit, |g| store_key(&g.name, &g.id));
    Ok(GameListReply { games, next_cursor })
}

pub(super) async fn set_listed(
    conn: &Conn,
    id: String,
    listing: Listing,
) -> Result<GameSummary, WireError> {
    let owner = conn.require(Role::Developer)?.id;
    let lookup = id.clone();
    let Some(game) = conn.lobby.db.game(&lookup).await.wire()? else {
        return Err(WireError::new(ErrorCode::GameNotFound, format!("no game has the id {id:?}")));
    };
    if game.owner_id != owner {
        return Err(WireError::new(
            ErrorCode::NotOwner,
            format!("{id} belongs to another developer"),
        ));
    }
    let key = id.clone();
    conn.lobby.db.set_listed(&key, listing.is_listed(), now()).await.wire()?;
    conn.lobby.catalog.game_changed(&conn.lobby.db, &id).await;
    tracing::info!(game = %id, ?listing, "listing changed");
    // Players waiting in the game's rooms hear it now, not when they press `s`.
    conn.lobby.rooms.listing_changed(&id, listing);
    let game = conn.lobby.db.game(&id).await.wire()?;
    game.map(summary).ok_or_else(|| WireError::new(ErrorCode::Internal, "game vanished"))
}
