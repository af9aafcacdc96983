//! ONLINE_LIST, ROOM_LIST, ROOM_CREATE, ROOM_JOIN, ROOM_LEAVE and QUICK_PLAY.

use crate::WireResult;
use gamestore_package::Manifest;
use gamestore_protocol::{
    ErrorCode, OnlineList, OnlinePlayer, OnlineReply, RoomId, RoomInfo, RoomList, RoomListReply,
    WireError,
};
use gamestore_storage::Role;

use super::game_download::visible_game;
use crate::connection::Conn;
use crate::paging::{cursor_key, page_limit, take_page};
use crate::rooms::{Member, RoomGame};

/// A page of the players online, by name.
pub(super) fn online(conn: &Conn, request: OnlineList) -> Result<OnlineReply, WireError> {
    conn.account()?;
    let after: Option<(String, i64)> = cursor_key(request.cursor.as_deref())?;
    let limit = page_limit(request.limit, 200, 1000);
    let mut players: Vec<((String, i64), String)> = conn
        .lobby
        .online_players()
        .into_iter()
        .map(|(id, name)| ((name.to_lowercase(), id), name))
        .filter(|(key, _)| after.as_ref().is_none_or(|a| key > a))
        .collect();
    players.sort();
    // Activities are looked up only for the players on the page.
    let rooms = &conn.lobby.rooms;
    let page = players
        .into_iter()
        .map(|(key, name)| (key.clone(), OnlinePlayer { name, activity: rooms.activity(key.1) }));
    let (page, next_cursor) = take_page(page, limit, |(key, _)| key.clone());
    Ok(OnlineReply { players: page.into_iter().map(|(_, p)| p).collect(), next_cursor })
}

/// A page of the open rooms, by id.
pub(super) fn list(conn: &Conn, request: RoomList) -> Result<RoomListReply, WireError> {
    conn.account()?;
    let after: Option<RoomId> = cursor_key(request.cursor.as_deref())?;
    let limit = page_limit(request.limit, 100, 500);
    let mut rooms = conn.lobby.rooms.list();
    rooms.sort_by_key(|r| r.id);
    let rest = rooms.into_iter().filter(|r| after.is_none_or(|a| r.id > a));
    let (rooms, next_cursor) = take_page(rest, limit, |r| r.id);
    Ok(RoomListReply { rooms, next_cursor })
}

pub(super) fn member(conn: &Conn) -> Result<Member, WireError> {
    let account = conn.require(Role::Player)?;
    Ok(Member {
        account: account.id,
        name: account.name.clone(),
        conn: conn.id,
        outbox: conn.outbox.clone(),
        reach: conn.local_addr.map(|a| a.ip()),
    })
}

/// The latest version of a listed game, ready for a room.
async fn room_game(conn: &Conn, id: &str) -> Result<RoomGame, WireError> {
    let game = visible_game(conn, id).await?;
    if crate::catalog::is_plugin(&game) {
        return Err(WireError::new(
            ErrorCode::NotAGame,
            format!("{id} is a launcher plugin, not a game: install it with `plugin install {id}`"),
        ));
    }
    if !game.listed {
        return Err(WireError::new(
            ErrorCode::GameDelisted,
            format!("{id} is delisted: no new rooms"),
        ));
    }
    let (key, version) = (game.id.clone(), game.latest_version.clone());
    let record =
        conn.lobby.db.game_version(&key, &version).await.wire()?.ok_or_else(|| {
            WireError::new(ErrorCode::Internal, "the latest version has no record")
        })?;
    // The game server runs from the version's files on this node.
    crate::replicas::ensure_local(&conn.lobby, &record).await?;
    let manifest: Manifest = serde_json::from_str(&record.manifest).map_err(|e| {
        WireError::new(ErrorCode::Internal, format!("stored manifest is damaged: {e}"))
    })?;
    Ok(RoomGame {
        game_dir: conn.lobby.games.files_dir(&game.id, &record.version),
        id: game.id,
        name: game.name,
        version: record.version,
        manifest,
    })
}

pub(super) async fn create(conn: &Conn, game: &str) -> Result<RoomInfo, WireError> {
    let member = member(conn)?;
    let game = room_game(conn, game).await?;
    conn.lobby.rooms.create(member, game)
}

pub(super) async fn quick_play(conn: &Conn, game: &str) -> Result<RoomInfo, WireError> {
    let member = member(conn)?;
    let game = room_game(conn, game).await?;
    conn.lobby.rooms.quick_play(member, game)
}

pub(super) fn join(conn: &Conn, room: RoomId) -> Result<RoomInfo, WireError> {
    conn.lobby.rooms.join(member(conn)?, room)
}

pub(super) fn leave(conn: &Conn) -> Result<gamestore_protocol::Empty, WireError> {
    let account = conn.require(Role::Player)?.id;
    conn.lobby.rooms.leave(account)?;
    Ok(gamestore_protocol::Empty {})
}
