//! Rooms across the nodes of one lobby.
//!
//! A room is owned by the node where it was created: its state lives in
//! that node's [`crate::rooms::Rooms`] and its match runs on that node's
//! game host. A player on another node who joins it is a member on the
//! owner like any other, whose [`Outbox`] forwards its frames over NATS to
//! the player's node (`P.conn.NODE`: the connection id, then the frame),
//! which pushes them to the player's connection; the room code is the same
//! for both. The player's room requests go to the owner as NATS requests
//! (`P.roomreq.NODE`) whose answer is the reply the client gets.
//!
//! Two registries, one per side:
//! - [`Guests`], on the owner: the members whose connection is on another
//!   node, by (node, that node's connection id). A request acts only for
//!   the account that joined through that pair.
//! - [`Seats`], on the member's node: which of its connections are in a
//!   room of another node. Connection ids are the node's own, never taken
//!   from a client, so a client can only act for its own connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gamestore_protocol::{
    ChatMessage, ChatScope, ErrorCode, Event, PluginMessage, RoomEventKind, RoomId, RoomInfo,
    RoomUpdate, WireError,
};
use gamestore_storage::AccountId;
use serde::{Deserialize, Serialize};

use crate::Lobby;
use crate::hub::{ConnId, Outbox};
use crate::rooms::Member;

/// What members of a room of a node that stopped are told.
pub(crate) const HOSTING_NODE_STOPPED: &str = "the lobby node hosting this room stopped";
/// How long a request forwarded to the owner may take.
pub(crate) const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);
/// Requests this node forwards to owners at once; more are refused.
const FORWARDED_IN_FLIGHT: usize = 256;
/// Members on other nodes this node's rooms hold at most.
const MAX_GUESTS: usize = 100_000;
/// Room ids reserved from the database at a time.
const ID_BLOCK: i64 = 1000;
/// Connection ids given to members on other nodes start here, far above
/// the ids of this node's own connections.
const GUEST_CONN_BASE: ConnId = 1 << 48;

/// A room request forwarded to the room's owner.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum RoomOp {
    Join {
        room: RoomId,
        name: String,
    },
    /// A RESUME on the member's node: the seat kept for the account moves
    /// to this connection.
    Resume {
        room: RoomId,
        name: String,
    },
    Leave,
    Chat {
        message: ChatMessage,
    },
    Start,
    Plugins {
        plugins: Vec<String>,
    },
    PluginSend {
        message: PluginMessage,
    },
    /// The member's connection closed: its seat is kept for the grace period.
    Dropped,
}

/// `P.roomreq.OWNER`: `op` for the player `account` on connection `conn`
/// of node `node`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RoomCall {
    pub node: String,
    pub conn: ConnId,
    pub account: AccountId,
    #[serde(flatten)]
    pub op: RoomOp,
}

/// The owner's answer: the reply's JSON, or the error the client gets.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Answer {
    Ok(serde_json::Value),
    Err(WireError),
}

impl From<Result<serde_json::Value, WireError>> for Answer {
    fn from(result: Result<serde_json::Value, WireError>) -> Answer {
        match result {
            Ok(value) => Answer::Ok(value),
            Err(e) => Answer::Err(e),
        }
    }
}

/// `P.conn.NODE` payload: the connection id (8 bytes, big-endian), then
/// the frame's bytes.
pub(crate) fn envelope(conn: ConnId, frame: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(8 + frame.len());
    bytes.extend_from_slice(&conn.to_be_bytes());
    bytes.extend_from_slice(frame);
    bytes
}

/// The connection id and frame of a `P.conn.NODE` payload.
pub(crate) fn open_envelope(payload: &[u8]) -> Option<(ConnId, &[u8])> {
    let (id, frame) = payload.split_first_chunk::<8>()?;
    (!frame.is_empty()).then(|| (ConnId::from_be_bytes(*id), frame))
}

#[derive(Debug)]
struct Guest {
    local: ConnId,
    account: AccountId,
}

/// On the owner: members whose connection is on another node.
#[derive(Debug, Default)]
pub(crate) struct Guests {
    map: Mutex<HashMap<(String, ConnId), Guest>>,
    next: AtomicU64,
}

impl Guests {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<(String, ConnId), Guest>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a joining member; returns the connection id it has here.
    fn admit(&self, node: &str, conn: ConnId, account: AccountId) -> Result<ConnId, WireError> {
        let mut map = self.map();
        if map.contains_key(&(node.to_owned(), conn)) {
            return Err(WireError::new(
                ErrorCode::AlreadyInRoom,
                "you are already in a room; leave it first",
            ));
        }
        if map.len() >= MAX_GUESTS {
            return Err(WireError::new(
                ErrorCode::ServerBusy,
                "this room's lobby node holds too many players of other nodes",
            ));
        }
        let local = GUEST_CONN_BASE + self.next.fetch_add(1, Ordering::Relaxed);
        map.insert((node.to_owned(), conn), Guest { local, account });
        Ok(local)
    }

    /// The account that joined through (`node`, `conn`), if it did.
    fn account_of(&self, node: &str, conn: ConnId) -> Option<AccountId> {
        self.map().get(&(node.to_owned(), conn)).map(|g| g.account)
    }

    fn remove(&self, node: &str, conn: ConnId) -> Option<(ConnId, AccountId)> {
        self.map().remove(&(node.to_owned(), conn)).map(|g| (g.local, g.account))
    }

    /// Forgets every member of `node`; returns their ids here.
    fn remove_node(&self, node: &str) -> Vec<ConnId> {
        let mut gone = Vec::new();
        self.map().retain(|(n, _), guest| {
            let keep = n != node;
            if !keep {
                gone.push(guest.local);
            }
            keep
        });
        gone
    }

    /// Forgets members who are in no room any more.
    fn prune(&self, in_room: impl Fn(AccountId) -> bool) {
        self.map().retain(|_, guest| in_room(guest.account));
    }
}

#[derive(Debug)]
struct Seat {
    owner: String,
    account: AccountId,
    room: RoomInfo,
    outbox: Outbox,
}

/// On the member's node: its connections in rooms of other nodes.
#[derive(Debug, Default)]
pub(crate) struct Seats {
    map: Mutex<HashMap<ConnId, Seat>>,
}

impl Seats {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<ConnId, Seat>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The owner of the room connection `conn` is in, if it is remote.
    pub(crate) fn owner_of(&self, conn: ConnId) -> Option<String> {
        self.map().get(&conn).map(|s| s.owner.clone())
    }

    /// True when any connection of `account` here is in a remote room.
    pub(crate) fn account_in_room(&self, account: AccountId) -> bool {
        self.map().values().any(|s| s.account == account)
    }

    /// Pushes a frame the owner sent to connection `conn`; false when the
    /// connection is in no remote room here (the frame is dropped).
    pub(crate) fn deliver(&self, conn: ConnId, frame: &[u8]) -> bool {
        let outbox = self.map().get(&conn).map(|s| s.outbox.clone());
        outbox.is_some_and(|o| o.push_frame(frame.to_vec()))
    }

    fn remove(&self, conn: ConnId) -> Option<Seat> {
        self.map().remove(&conn)
    }
}

/// Room ids reserved from the database in blocks, so that ids never
/// collide across nodes and a new room seldom waits for the database.
#[derive(Debug, Default)]
pub(crate) struct RoomIds {
    block: tokio::sync::Mutex<(RoomId, RoomId)>,
}

impl RoomIds {
    async fn next(&self, lobby: &Lobby) -> Result<RoomId, WireError> {
        let mut block = self.block.lock().await;
        if block.0 >= block.1 {
            let first = lobby.db.reserve_room_ids(ID_BLOCK).await.map_err(|e| {
                tracing::error!(error = %e, "cannot reserve room ids");
                WireError::new(ErrorCode::Internal, format!("cannot number a new room: {e}"))
            })?;
            let first = first.max(1) as RoomId;
            *block = (first, first + ID_BLOCK as RoomId);
        }
        let id = block.0;
        block.0 += 1;
        Ok(id)
    }
}

/// Rooms across nodes: both registries, the id reserve and the bound on
/// forwarded requests.
#[derive(Debug)]
pub(crate) struct RemoteRooms {
    pub(crate) guests: Guests,
    pub(crate) seats: Seats,
    ids: RoomIds,
    in_flight: Arc<tokio::sync::Semaphore>,
}

impl Default for RemoteRooms {
    fn default() -> Self {
        RemoteRooms {
            guests: Guests::default(),
            seats: Seats::default(),
            ids: RoomIds::default(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(FORWARDED_IN_FLIGHT)),
        }
    }
}

fn busy(message: &str) -> WireError {
    WireError::new(ErrorCode::ServerBusy, message)
}

impl RemoteRooms {
    /// The id for a new room: reserved across nodes on a node of several,
    /// `None` (the rooms number it) on a lobby on its own.
    pub(crate) async fn new_room_id(&self, lobby: &Lobby) -> Result<Option<RoomId>, WireError> {
        if lobby.config.cluster.is_none() {
            return Ok(None);
        }
        self.ids.next(lobby).await.map(Some)
    }

    /// Sends `op` for connection `conn` of `account` to `owner` and waits
    /// (bounded) for its answer.
    async fn call(
        &self,
        lobby: &Lobby,
        owner: &str,
        conn: ConnId,
        account: AccountId,
        op: RoomOp,
    ) -> Result<serde_json::Value, WireError> {
        let Ok(_permit) = self.in_flight.clone().try_acquire_owned() else {
            return Err(busy("too many room requests are waiting for other lobby nodes; retry"));
        };
        let call = RoomCall { node: lobby.node_id().to_owned(), conn, account, op };
        let body = serde_json::to_vec(&call)
            .map_err(|e| WireError::new(ErrorCode::Internal, format!("request encoding: {e}")))?;
        let reply = lobby.bus.room_request(owner, body).await.ok_or_else(|| {
            busy("the lobby node hosting this room did not answer in time; retry")
        })?;
        match serde_json::from_slice::<Answer>(&reply) {
            Ok(Answer::Ok(value)) => Ok(value),
            Ok(Answer::Err(e)) => Err(e),
            Err(e) => Err(WireError::new(
                ErrorCode::Internal,
                format!("bad answer from the room's lobby node: {e}"),
            )),
        }
    }

    /// Forwards a room request of connection `conn`, which is in a room
    /// of another node; `None` when it is not (the request is local).
    pub(crate) async fn forward(
        &self,
        lobby: &Lobby,
        conn: ConnId,
        account: AccountId,
        op: RoomOp,
    ) -> Option<Result<serde_json::Value, WireError>> {
        let owner = self.seats.owner_of(conn)?;
        let leaving = matches!(op, RoomOp::Leave);
        let result = self.call(lobby, &owner, conn, account, op).await;
        let gone = matches!(&result, Err(e) if e.code == ErrorCode::NotInRoom);
        if gone || leaving && result.is_ok() {
            self.seats.remove(conn);
        }
        Some(result)
    }

    /// Joins room `room` of node `owner` for `member`.
    pub(crate) async fn join(
        &self,
        lobby: &Lobby,
        owner: &str,
        member: Member,
        room: RoomId,
    ) -> Result<RoomInfo, WireError> {
        let op = RoomOp::Join { room, name: member.name.clone() };
        self.take_seat(lobby, owner, member, room, op).await
    }

    /// A RESUME here of a player whose seat is kept in room `room` of node
    /// `owner` (their connection dropped, here or on any node): the seat
    /// moves to this connection.
    pub(crate) async fn resume(
        &self,
        lobby: &Lobby,
        owner: &str,
        member: Member,
        room: RoomId,
    ) -> Result<RoomInfo, WireError> {
        let op = RoomOp::Resume { room, name: member.name.clone() };
        self.take_seat(lobby, owner, member, room, op).await
    }

    async fn take_seat(
        &self,
        lobby: &Lobby,
        owner: &str,
        member: Member,
        room: RoomId,
        op: RoomOp,
    ) -> Result<RoomInfo, WireError> {
        let conn = member.conn;
        {
            // Registered before asking: the owner's first ROOM_UPDATE may
            // arrive before its answer.
            let mut map = self.seats.map();
            if map.contains_key(&conn) {
                return Err(WireError::new(
                    ErrorCode::AlreadyInRoom,
                    "you are already in a room; leave it first",
                ));
            }
            let placeholder = placeholder_room(room);
            map.insert(
                conn,
                Seat {
                    owner: owner.to_owned(),
                    account: member.account,
                    room: placeholder,
                    outbox: member.outbox.clone(),
                },
            );
        }
        let result = self.call(lobby, owner, conn, member.account, op).await.and_then(|value| {
            serde_json::from_value::<RoomInfo>(value).map_err(|e| {
                WireError::new(ErrorCode::Internal, format!("bad room from its lobby node: {e}"))
            })
        });
        match &result {
            Ok(info) => {
                if let Some(seat) = self.seats.map().get_mut(&conn) {
                    seat.room = info.clone();
                }
            }
            Err(_) => {
                self.seats.remove(conn);
            }
        }
        result
    }

    /// Connection `conn` closed: if it was in a remote room, the owner
    /// keeps its seat for the grace period.
    pub(crate) fn conn_closed(&self, lobby: &Lobby, conn: ConnId) {
        if let Some(seat) = self.seats.remove(conn) {
            tell(lobby, &seat.owner, conn, seat.account, RoomOp::Dropped);
        }
    }

    /// Connection `conn` changed accounts: it leaves its remote room now.
    pub(crate) fn conn_left(&self, lobby: &Lobby, conn: ConnId) {
        if let Some(seat) = self.seats.remove(conn) {
            tell(lobby, &seat.owner, conn, seat.account, RoomOp::Leave);
        }
    }

    /// `account` logged out: every connection of it here leaves its
    /// remote room.
    pub(crate) fn account_left(&self, lobby: &Lobby, account: AccountId) {
        let conns: Vec<ConnId> = self
            .seats
            .map()
            .iter()
            .filter(|(_, s)| s.account == account)
            .map(|(c, _)| *c)
            .collect();
        for conn in conns {
            self.conn_left(lobby, conn);
        }
    }

    /// Node `node` stopped or was taken for dead. Members here of its
    /// rooms are told and are in no room any more (`rooms` is what it last
    /// said of them); its players' seats in this node's rooms are kept
    /// for the grace period, as for a dropped connection.
    pub(crate) fn node_gone(
        &self,
        lobby: &Lobby,
        node: &str,
        rooms: &std::collections::BTreeMap<RoomId, RoomInfo>,
    ) {
        let seats: Vec<Seat> = {
            let mut map = self.seats.map();
            let conns: Vec<ConnId> =
                map.iter().filter(|(_, s)| s.owner == node).map(|(c, _)| *c).collect();
            conns.into_iter().filter_map(|c| map.remove(&c)).collect()
        };
        if !seats.is_empty() {
            tracing::warn!(node, members = seats.len(), "rooms of a stopped node closed");
        }
        for seat in seats {
            let room = rooms.get(&seat.room.id).cloned().unwrap_or(seat.room);
            seat.outbox.push_event(Event::RoomUpdate(RoomUpdate {
                event: RoomEventKind::Closed,
                player: None,
                room,
                message: Some(HOSTING_NODE_STOPPED.to_owned()),
            }));
        }
        for local in self.guests.remove_node(node) {
            lobby.rooms.member_disconnected(local);
        }
    }

    /// Forgets members of other nodes who left this node's rooms.
    pub(crate) fn prune(&self, lobby: &Lobby) {
        self.guests.prune(|account| lobby.rooms.room_of(account).is_some());
    }
}

fn placeholder_room(id: RoomId) -> RoomInfo {
    RoomInfo {
        id,
        game: String::new(),
        game_name: String::new(),
        version: String::new(),
        host: String::new(),
        members: Vec::new(),
        capacity: 0,
        min_players: 0,
        state: gamestore_protocol::RoomState::Waiting,
        match_id: None,
        reconnecting: Vec::new(),
    }
}

/// Sends `op` to `owner` without waiting for an answer.
fn tell(lobby: &Lobby, owner: &str, conn: ConnId, account: AccountId, op: RoomOp) {
    let call = RoomCall { node: lobby.node_id().to_owned(), conn, account, op };
    if let Ok(body) = serde_json::to_vec(&call) {
        lobby.bus.room_tell(owner, body);
    }
}

/// On the owner: applies a request from another node's player. Requests
/// other than a join act only for the account that joined through the
/// same (node, connection).
pub(crate) async fn serve_call(lobby: &Arc<Lobby>, call: RoomCall) -> Answer {
    let guests = &lobby.xrooms.guests;
    let (node, conn) = (call.node.as_str(), call.conn);
    let value = |v: Result<(), WireError>| v.map(|()| serde_json::json!({}));
    let result = match call.op {
        RoomOp::Join { room, name } => {
            seat_here(lobby, node, conn, call.account, name, room, false)
        }
        RoomOp::Resume { room, name } => {
            seat_here(lobby, node, conn, call.account, name, room, true)
        }
        op => match guests.account_of(node, conn) {
            Some(account) if account == call.account => match op {
                RoomOp::Join { .. } | RoomOp::Resume { .. } => unreachable!("handled above"),
                RoomOp::Leave => {
                    guests.remove(node, conn);
                    value(lobby.rooms.leave(account))
                }
                RoomOp::Dropped => {
                    if let Some((local, _)) = guests.remove(node, conn) {
                        lobby.rooms.member_disconnected(local);
                    }
                    value(Ok(()))
                }
                RoomOp::Chat { message } => value(
                    lobby.rooms.chat(account, ChatMessage { scope: ChatScope::Room, ..message }),
                ),
                RoomOp::Plugins { plugins } => {
                    value(lobby.rooms.announce_plugins(account, plugins))
                }
                RoomOp::PluginSend { message } => {
                    value(lobby.rooms.plugin_message(account, message))
                }
                RoomOp::Start => crate::requests::start_for(lobby, account)
                    .await
                    .map(|r| serde_json::to_value(r).unwrap_or_default()),
            },
            _ => Err(WireError::new(ErrorCode::NotInRoom, "you are not in a room")),
        },
    };
    result.into()
}

/// Seats another node's player in room `room`: joining it, or taking back
/// the seat kept for them (`resume`).
fn seat_here(
    lobby: &Arc<Lobby>,
    node: &str,
    conn: ConnId,
    account: AccountId,
    name: String,
    room: RoomId,
    resume: bool,
) -> Result<serde_json::Value, WireError> {
    let guests = &lobby.xrooms.guests;
    let local = guests.admit(node, conn, account)?;
    let Some(outbox) = lobby.bus.guest_outbox(node, conn) else {
        guests.remove(node, conn);
        return Err(WireError::new(ErrorCode::Internal, "this lobby node is on its own"));
    };
    let member = Member { account, name, conn: local, outbox, reach: None };
    let seated = if resume {
        match lobby.rooms.resume(member) {
            Some(info) if info.id == room => Ok(info),
            Some(info) => Err(WireError::new(
                ErrorCode::RoomNotFound,
                format!("your seat is in room {}, not {room}", info.id),
            )),
            None => Err(WireError::new(ErrorCode::NotInRoom, "no seat is kept for you")),
        }
    } else {
        lobby.rooms.join(member, room)
    };
    match seated {
        Ok(info) => Ok(serde_json::to_value(info).unwrap_or_default()),
        Err(e) => {
            guests.remove(node, conn);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_carry_the_connection_id_and_refuse_short_payloads() {
        let bytes = envelope(42, b"frame");
        assert_eq!(open_envelope(&bytes), Some((42, &b"frame"[..])));
        assert_eq!(open_envelope(&bytes[..8]), None, "no frame");
        assert_eq!(open_envelope(&bytes[..5]), None, "no id");
    }

    #[test]
    fn a_request_acts_only_for_the_account_that_joined_through_that_connection() {
        let guests = Guests::default();
        let local = guests.admit("b", 7, 100).unwrap();
        assert!(local >= GUEST_CONN_BASE);
        assert_eq!(guests.account_of("b", 7), Some(100));
        // Another node's connection 7, or another connection of b, is nobody.
        assert_eq!(guests.account_of("c", 7), None);
        assert_eq!(guests.account_of("b", 8), None);
        // One seat per connection.
        assert_eq!(guests.admit("b", 7, 101).unwrap_err().code, ErrorCode::AlreadyInRoom);
        assert_eq!(guests.remove_node("b"), vec![local]);
        assert_eq!(guests.account_of("b", 7), None);
    }

    #[test]
    fn frames_for_a_connection_in_no_remote_room_are_dropped() {
        let seats = Seats::default();
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let outbox = Outbox::new(tx);
        seats
            .map()
            .insert(3, Seat { owner: "a".into(), account: 1, room: placeholder_room(5), outbox });
        assert!(!seats.deliver(4, b"x"), "connection 4 is in no remote room");
        assert!(seats.deliver(3, b"x"));
        assert!(matches!(rx.try_recv(), Ok(crate::hub::Outgoing::Frame(f)) if f == b"x"));
        assert!(rx.try_recv().is_err(), "nothing for connection 4 reached connection 3");
    }
}
