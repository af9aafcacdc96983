//! ONLINE_LIST, ROOM_LIST, ROOM_CREATE, ROOM_JOIN, ROOM_LEAVE and QUICK_PLAY.

use gamestore_package::Manifest;
use gamestore_protocol::{
    ErrorCode, OnlinePlayer, OnlineReply, RoomId, RoomInfo, RoomListReply, WireError,
};
use gamestore_storage::Role;

use super::game_download::visible_game;
use crate::connection::Conn;
use crate::rooms::{Member, RoomGame};

pub fn online(conn: &Conn) -> Result<OnlineReply, WireError> {
    conn.account()?;
    let players = conn
        .lobby
        .hub
        .online_players()
        .into_iter()
        .map(|(id, name)| OnlinePlayer { name, activity: conn.lobby.rooms.activity(id) })
        .collect();
    Ok(OnlineReply { players })
}

pub fn list(conn: &Conn) -> Result<RoomListReply, WireError> {
    conn.account()?;
    Ok(RoomListReply { rooms: conn.lobby.rooms.list() })
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
    if !game.listed {
        return Err(WireError::new(
            ErrorCode::GameDelisted,
            format!("{id} is delisted: no new rooms"),
        ));
    }
    let (key, version) = (game.id.clone(), game.latest_version.clone());
    let record = conn
        .lobby
        .read(move |db| db.game_version(&key, &version))?
        .ok_or_else(|| WireError::new(ErrorCode::Internal, "the latest version has no record"))?;
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

pub async fn create(conn: &Conn, game: &str) -> Result<RoomInfo, WireError> {
    let member = member(conn)?;
    let game = room_game(conn, game).await?;
    conn.lobby.rooms.create(member, game)
}

pub async fn quick_play(conn: &Conn, game: &str) -> Result<RoomInfo, WireError> {
    let member = member(conn)?;
    let game = room_game(conn, game).await?;
    conn.lobby.rooms.quick_play(member, game)
}

pub fn join(conn: &Conn, room: RoomId) -> Result<RoomInfo, WireError> {
    conn.lobby.rooms.join(member(conn)?, room)
}

pub fn leave(conn: &Conn) -> Result<gamestore_protocol::Empty, WireError> {
    let account = conn.require(Role::Player)?.id;
    conn.lobby.rooms.leave(account)?;
    Ok(gamestore_protocol::Empty {})
}
