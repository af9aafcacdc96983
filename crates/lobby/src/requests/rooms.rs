//! ONLINE_LIST, ROOM_LIST, ROOM_CREATE, ROOM_JOIN, ROOM_LEAVE and QUICK_PLAY.

use crate::WireResult;
use gamestore_package::Manifest;
use gamestore_protocol::{
    Activity, ErrorCode, OnlineList, OnlinePlayer, OnlineReply, RoomId, RoomInfo, RoomList,
    RoomListReply, WireError,
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
    // Activities are looked up only for the players on the page; a player
    // in no room here may be in another node's (names are unique).
    let rooms = &conn.lobby.rooms;
    let elsewhere = remote_activities(conn);
    let page = players.into_iter().map(|(key, name)| {
        let mut activity = rooms.activity(key.1);
        if activity == Activity::Idle
            && let Some(remote) = elsewhere.get(&name)
        {
            activity = remote.clone();
        }
        (key.clone(), OnlinePlayer { name, activity })
    });
    let (page, next_cursor) = take_page(page, limit, |(key, _)| key.clone());
    Ok(OnlineReply { players: page.into_iter().map(|(_, p)| p).collect(), next_cursor })
}

/// What the members of other nodes' rooms do, by name.
fn remote_activities(conn: &Conn) -> std::collections::HashMap<String, Activity> {
    let mut activities = std::collections::HashMap::new();
    for (_, room) in conn.lobby.bus.remote_rooms() {
        let activity = match (room.state, room.match_id) {
            (gamestore_protocol::RoomState::Playing, Some(match_id)) => {
                Activity::InMatch { room: room.id, game: room.game.clone(), match_id }
            }
            _ => Activity::InRoom { room: room.id, game: room.game.clone() },
        };
        for name in room.members {
            activities.insert(name, activity.clone());
        }
    }
    activities
}

/// A page of the rooms of every node, by id.
pub(super) fn list(conn: &Conn, request: RoomList) -> Result<RoomListReply, WireError> {
    conn.account()?;
    let after: Option<RoomId> = cursor_key(request.cursor.as_deref())?;
    let limit = page_limit(request.limit, 100, 500);
    let mut rooms = conn.lobby.rooms.list();
    rooms.extend(conn.lobby.bus.remote_rooms().into_iter().map(|(_, room)| room));
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

/// Refuses a player already in a room of another node.
fn check_no_remote_seat(
    conn: &Conn,
    account: gamestore_storage::AccountId,
) -> Result<(), WireError> {
    if conn.lobby.xrooms.seats.account_in_room(account) {
        return Err(WireError::new(
            ErrorCode::AlreadyInRoom,
            "you are already in a room; leave it first",
        ));
    }
    Ok(())
}

/// Refuses a player already in a room of this node.
fn check_no_local_seat(
    conn: &Conn,
    account: gamestore_storage::AccountId,
) -> Result<(), WireError> {
    match conn.lobby.rooms.room_of(account) {
        Some(id) => Err(WireError::new(
            ErrorCode::AlreadyInRoom,
            format!("you are already in room {id}; leave it first"),
        )),
        None => Ok(()),
    }
}

pub(super) async fn create(conn: &Conn, game: &str) -> Result<RoomInfo, WireError> {
    let member = member(conn)?;
    check_no_remote_seat(conn, member.account)?;
    let game = room_game(conn, game).await?;
    let id = conn.lobby.xrooms.new_room_id(&conn.lobby).await?;
    conn.lobby.rooms.create(member, game, id)
}

pub(super) async fn quick_play(conn: &Conn, game: &str) -> Result<RoomInfo, WireError> {
    let member = member(conn)?;
    check_no_remote_seat(conn, member.account)?;
    let game = room_game(conn, game).await?;
    // Another node's room, when it can start sooner than this node's best.
    let here = conn.lobby.rooms.best_open(&game.id, &game.version);
    let remote = conn
        .lobby
        .bus
        .remote_rooms()
        .into_iter()
        .filter(|(_, r)| {
            r.game == game.id
                && r.state == gamestore_protocol::RoomState::Waiting
                && (r.members.len() as u32) < r.capacity
        })
        .map(|(owner, r)| {
            ((r.version == game.version, r.members.len(), std::cmp::Reverse(r.id)), owner)
        })
        .max();
    if let Some((rank, owner)) = remote
        && here.is_none_or(|h| rank > h)
        && conn.lobby.rooms.room_of(member.account).is_none()
    {
        let room = rank.2.0;
        match conn.lobby.xrooms.join(&conn.lobby, &owner, member.clone(), room).await {
            Ok(info) => return Ok(info),
            // Taken meanwhile: a room of this node instead.
            Err(e)
                if matches!(
                    e.code,
                    ErrorCode::RoomFull | ErrorCode::RoomBusy | ErrorCode::RoomNotFound
                ) => {}
            Err(e) => return Err(e),
        }
    }
    let id = conn.lobby.xrooms.new_room_id(&conn.lobby).await?;
    conn.lobby.rooms.quick_play(member, game, id)
}

pub(super) async fn join(conn: &Conn, room: RoomId) -> Result<RoomInfo, WireError> {
    let member = member(conn)?;
    check_no_remote_seat(conn, member.account)?;
    if !conn.lobby.rooms.contains(room)
        && let Some(owner) = conn.lobby.bus.room_owner(room)
    {
        check_no_local_seat(conn, member.account)?;
        return conn.lobby.xrooms.join(&conn.lobby, &owner, member, room).await;
    }
    conn.lobby.rooms.join(member, room)
}

/// A RESUME of a player whose seat is kept in another node's room (that
/// room lists them as reconnecting): the seat moves to this connection.
pub(super) async fn resume_remote(conn: &Conn, member: Member) {
    if conn.lobby.rooms.room_of(member.account).is_some()
        || conn.lobby.xrooms.seats.account_in_room(member.account)
    {
        return;
    }
    let kept = conn
        .lobby
        .bus
        .remote_rooms()
        .into_iter()
        .find(|(_, r)| r.reconnecting.contains(&member.name));
    let Some((owner, room)) = kept else { return };
    let name = member.name.clone();
    match conn.lobby.xrooms.resume(&conn.lobby, &owner, member, room.id).await {
        Ok(_) => {
            tracing::info!(player = %name, room = room.id, %owner, "seat taken back in another node's room")
        }
        Err(e) => {
            tracing::info!(player = %name, room = room.id, error = %e.message, "no seat taken back")
        }
    }
}

pub(super) async fn leave(conn: &Conn) -> Result<gamestore_protocol::Empty, WireError> {
    let account = conn.require(Role::Player)?.id;
    let op = crate::remote_rooms::RoomOp::Leave;
    match conn.lobby.xrooms.forward(&conn.lobby, conn.id, account, op).await {
        Some(result) => {
            result?;
        }
        None => conn.lobby.rooms.leave(account)?,
    }
    Ok(gamestore_protocol::Empty {})
}
