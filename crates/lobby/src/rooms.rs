//! Rooms: where players gather before a match (seed §3C, "In Room").
//!
//! All room state lives in memory behind one mutex; every change pushes a
//! ROOM_UPDATE to the room's members through their connections' outboxes
//! (which never block). A player is in at most one room, through the
//! connection that joined it.
//!
//! When that connection drops ([`Rooms::member_disconnected`]) the player
//! keeps their seat for the lobby's grace period: the room lists them under
//! `reconnecting`, and a RESUME on a new connection ([`Rooms::resume`])
//! takes the seat back, with the GAME_START of a running match (or the
//! MATCH_ENDED of one that ended meanwhile). The seat's timer is owned by
//! the seat: coming back drops it; when it fires, the player leaves.
//!
//! States: `waiting` → (host starts, enough members) → `starting` (the Game
//! Manager spawns the server) → `playing` (GAME_START sent) → back to
//! `waiting` when the match ends or fails to start.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use gamestore_package::Manifest;
use gamestore_protocol::{
    Activity, ChatMessage, ChatScope, ErrorCode, Event, GameStart, MatchEnded, RoomEventKind,
    RoomId, RoomInfo, RoomState, RoomUpdate, WireError,
};
use gamestore_storage::AccountId;

use crate::catalog::Listing;
use crate::hub::{ConnId, Outbox};

/// A player joining or creating a room, with the connection that asked.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub account: AccountId,
    pub name: String,
    pub conn: ConnId,
    pub outbox: Outbox,
    /// The local address the member's lobby connection arrived on: an
    /// address of this machine that the member can reach by construction.
    pub reach: Option<IpAddr>,
}

/// The version of a game a new room plays.
#[derive(Debug, Clone)]
pub(crate) struct RoomGame {
    pub id: String,
    pub name: String,
    pub version: String,
    pub manifest: Manifest,
    pub game_dir: PathBuf,
}

/// What the host's start request hands to the Game Manager.
#[derive(Debug, Clone)]
pub(crate) struct StartPlan {
    pub room: RoomId,
    pub game: RoomGame,
    pub players: Vec<(AccountId, String)>,
}

/// How rooms treat their members.
#[derive(Debug, Clone)]
pub(crate) struct RoomsConfig {
    /// How long a dropped member's seat is kept for them; zero to leave at once.
    pub seat_grace: Duration,
    /// The game server address every player is told (`--public-host`);
    /// `None`: each player is told the address their own lobby connection
    /// arrived on.
    pub public_host: Option<String>,
}

impl Default for RoomsConfig {
    fn default() -> Self {
        RoomsConfig { seat_grace: Duration::from_secs(30), public_host: None }
    }
}

/// A seat kept for a member whose connection dropped.
#[derive(Debug)]
struct Away {
    /// The connection that dropped; a timer only expires the seat it was set for.
    conn: ConnId,
    /// The end of a match the member missed while away, replayed on RESUME.
    missed_end: Option<MatchEnded>,
    /// Expires the seat; aborted when the seat is dropped (resumed or left).
    _timer: SeatTimer,
}

/// The task that ends a kept seat; aborting it on drop keeps the seat's
/// lifetime and its timer's in one place.
#[derive(Debug)]
struct SeatTimer(tokio::task::JoinHandle<()>);

impl Drop for SeatTimer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Debug)]
struct Room {
    id: RoomId,
    game: RoomGame,
    host: AccountId,
    members: Vec<Member>,
    capacity: u32,
    state: RoomState,
    match_id: Option<i64>,
    /// Members whose connection dropped, by account: their seat is kept.
    away: HashMap<AccountId, Away>,
    /// The running match's GAME_START (its `host` is filled per member).
    start: Option<GameStart>,
    /// The launcher plugins each member announced (ROOM_PLUGINS).
    plugins: HashMap<AccountId, Vec<String>>,
    /// Members already told once that a plugin they lack is in use.
    hinted: std::collections::HashSet<AccountId>,
}

impl Room {
    fn info(&self) -> RoomInfo {
        RoomInfo {
            id: self.id,
            game: self.game.id.clone(),
            game_name: self.game.name.clone(),
            version: self.game.version.clone(),
            host: self
                .members
                .iter()
                .find(|m| m.account == self.host)
                .map(|m| m.name.clone())
                .unwrap_or_default(),
            members: self.members.iter().map(|m| m.name.clone()).collect(),
            capacity: self.capacity,
            min_players: self.game.manifest.min_players,
            state: self.state,
            match_id: self.match_id,
            reconnecting: self
                .members
                .iter()
                .filter(|m| self.away.contains_key(&m.account))
                .map(|m| m.name.clone())
                .collect(),
        }
    }

    /// Pushes `event` to the members who are connected.
    fn broadcast(&self, event: Event) {
        let present = self.members.iter().filter(|m| !self.away.contains_key(&m.account));
        crate::hub::push_to_all(present.map(|m| &m.outbox), &event);
    }

    fn update(&self, event: RoomEventKind, player: Option<&str>) {
        self.broadcast(Event::RoomUpdate(RoomUpdate {
            event,
            player: player.map(str::to_owned),
            room: self.info(),
            message: None,
        }));
    }

    fn is_open(&self) -> bool {
        self.state == RoomState::Waiting && (self.members.len() as u32) < self.capacity
    }
}

#[derive(Debug, Default)]
struct Inner {
    next_id: RoomId,
    rooms: BTreeMap<RoomId, Room>,
    /// Which room each player is in.
    member_of: HashMap<AccountId, RoomId>,
}

/// Every room of the lobby.
#[derive(Debug, Default)]
pub(crate) struct Rooms {
    /// Shared with the seat timers, which hold it weakly.
    inner: Arc<Mutex<Inner>>,
    config: RoomsConfig,
}

fn err(code: ErrorCode, message: impl Into<String>) -> WireError {
    WireError::new(code, message)
}

fn lock(inner: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|p| p.into_inner())
}

impl Rooms {
    pub(crate) fn new(config: RoomsConfig) -> Rooms {
        Rooms { inner: Arc::default(), config }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// Makes a room for `game` with `member` as host, numbered `id` (one
    /// reserved for it among the lobby's nodes) or by this lobby.
    pub(crate) fn create(
        &self,
        member: Member,
        game: RoomGame,
        id: Option<RoomId>,
    ) -> Result<RoomInfo, WireError> {
        let mut inner = self.inner();
        check_not_in_room(&inner, member.account)?;
        Ok(create_locked(&mut inner, member, game, id))
    }

    /// True when room `id` is one of this node's.
    pub(crate) fn contains(&self, id: RoomId) -> bool {
        self.inner().rooms.contains_key(&id)
    }

    /// The rank [`Rooms::quick_play`] would give this node's best open room
    /// for `game`: (same version, members, lowest id first).
    pub(crate) fn best_open(
        &self,
        game: &str,
        version: &str,
    ) -> Option<(bool, usize, std::cmp::Reverse<RoomId>)> {
        self.inner()
            .rooms
            .values()
            .filter(|r| r.game.id == game && r.is_open())
            .map(|r| (r.game.version == version, r.members.len(), std::cmp::Reverse(r.id)))
            .max()
    }

    /// Joins room `id`.
    pub(crate) fn join(&self, member: Member, id: RoomId) -> Result<RoomInfo, WireError> {
        let mut inner = self.inner();
        check_not_in_room(&inner, member.account)?;
        let room = inner
            .rooms
            .get_mut(&id)
            .ok_or_else(|| err(ErrorCode::RoomNotFound, format!("there is no room {id}")))?;
        if room.state != RoomState::Waiting {
            return Err(err(
                ErrorCode::RoomBusy,
                format!("room {id} is in a match; join when it is waiting again"),
            ));
        }
        if room.members.len() as u32 >= room.capacity {
            return Err(err(
                ErrorCode::RoomFull,
                format!("room {id} is full ({} players)", room.capacity),
            ));
        }
        Ok(join_locked(&mut inner, member, id))
    }

    /// Joins the fullest open room for `game` (the one that can start
    /// soonest), or makes one. Atomic: two players asking at once end up
    /// in the same room.
    pub(crate) fn quick_play(
        &self,
        member: Member,
        game: RoomGame,
        id: Option<RoomId>,
    ) -> Result<RoomInfo, WireError> {
        let mut inner = self.inner();
        check_not_in_room(&inner, member.account)?;
        let best = inner
            .rooms
            .values()
            .filter(|r| r.game.id == game.id && r.is_open())
            .max_by_key(|r| {
                (r.game.version == game.version, r.members.len(), std::cmp::Reverse(r.id))
            })
            .map(|r| r.id);
        Ok(match best {
            Some(id) => join_locked(&mut inner, member, id),
            None => create_locked(&mut inner, member, game, id),
        })
    }

    /// The game `game` was delisted (or listed again): tells the members of
    /// every room for it (ROOM_UPDATE `delisted` or `relisted`).
    pub(crate) fn listing_changed(&self, game: &str, listing: Listing) {
        let inner = self.inner();
        let event = match listing {
            Listing::Listed => RoomEventKind::Relisted,
            Listing::Delisted => RoomEventKind::Delisted,
        };
        for room in inner.rooms.values().filter(|r| r.game.id == game) {
            room.update(event, None);
        }
    }

    /// Leaves the player's room.
    pub(crate) fn leave(&self, account: AccountId) -> Result<(), WireError> {
        let mut inner = self.inner();
        if leave_locked(&mut inner, account) {
            Ok(())
        } else {
            Err(err(ErrorCode::NotInRoom, "you are not in a room"))
        }
    }

    /// A connection dropped: its player's seat is kept for the grace period
    /// (shown as reconnecting), then they leave unless they RESUME first.
    /// Must be called inside the Tokio runtime (it starts the seat's timer).
    pub(crate) fn member_disconnected(&self, conn: ConnId) {
        let grace = self.config.seat_grace;
        if grace.is_zero() {
            return self.disconnected(conn);
        }
        let mut inner = self.inner();
        let rooms = Arc::downgrade(&self.inner);
        for room in inner.rooms.values_mut() {
            let dropped: Vec<(AccountId, String)> = room
                .members
                .iter()
                .filter(|m| m.conn == conn && !room.away.contains_key(&m.account))
                .map(|m| (m.account, m.name.clone()))
                .collect();
            for (account, name) in dropped {
                let timer =
                    SeatTimer(tokio::spawn(expire_seat(rooms.clone(), account, conn, grace)));
                room.away.insert(account, Away { conn, missed_end: None, _timer: timer });
                tracing::info!(room = room.id, player = %name, ?grace, "seat kept for a dropped player");
                room.update(RoomEventKind::Reconnecting, Some(&name));
            }
        }
    }

    /// A RESUME on a new connection: if the player's seat is being kept,
    /// it moves to this connection, the room hears `reconnected`, and the
    /// player is sent what they missed: the MATCH_ENDED of a match that
    /// ended meanwhile, then the GAME_START of the running match. Returns
    /// the room when a seat was taken back.
    pub(crate) fn resume(&self, member: Member) -> Option<RoomInfo> {
        let mut inner = self.inner();
        let id = *inner.member_of.get(&member.account)?;
        let room = inner.rooms.get_mut(&id)?;
        let away = room.away.remove(&member.account)?;
        let seat = room.members.iter_mut().find(|m| m.account == member.account)?;
        *seat = member.clone();
        tracing::info!(room = id, player = %member.name, "seat taken back");
        room.update(RoomEventKind::Reconnected, Some(&member.name));
        if let Some(ended) = away.missed_end {
            member.outbox.push_event(Event::MatchEnded(ended));
        }
        if let (RoomState::Playing, Some(start)) = (room.state, &room.start) {
            member.outbox.push_event(Event::GameStart(self.start_for(start, &member)));
        }
        Some(room.info())
    }

    /// The GAME_START `member` gets: `start` with the address they can reach.
    fn start_for(&self, start: &GameStart, member: &Member) -> GameStart {
        let host = match (&self.config.public_host, member.reach) {
            (Some(host), _) => host.clone(),
            (None, Some(ip)) => ip.to_canonical().to_string(),
            (None, None) => std::net::Ipv4Addr::LOCALHOST.to_string(),
        };
        let seat = start.players.iter().position(|name| *name == member.name).map(|i| i as u32);
        GameStart { host, seat, player_id: Some(member.account), ..start.clone() }
    }

    /// A connection closed or changed accounts: its player leaves the room
    /// it joined through it at once.
    pub(crate) fn disconnected(&self, conn: ConnId) {
        let mut inner = self.inner();
        let leaving: Vec<AccountId> = inner
            .rooms
            .values()
            .flat_map(|r| r.members.iter().filter(|m| m.conn == conn).map(|m| m.account))
            .collect();
        for account in leaving {
            leave_locked(&mut inner, account);
        }
    }

    /// The game of the player's room, if they are in one.
    pub(crate) fn game_of(&self, account: AccountId) -> Option<String> {
        let inner = self.inner();
        inner.member_of.get(&account).and_then(|id| inner.rooms.get(id)).map(|r| r.game.id.clone())
    }

    /// The host asks to start: checks and moves the room to `starting`.
    pub(crate) fn begin_start(&self, account: AccountId) -> Result<StartPlan, WireError> {
        let mut inner = self.inner();
        let id = *inner
            .member_of
            .get(&account)
            .ok_or_else(|| err(ErrorCode::NotInRoom, "you are not in a room"))?;
        let room = inner.rooms.get_mut(&id).expect("member_of points at a room");
        if room.host != account {
            return Err(err(ErrorCode::NotHost, "only the room's host can start the match"));
        }
        if room.state != RoomState::Waiting {
            return Err(err(ErrorCode::RoomBusy, "the match is already starting or running"));
        }
        let needed = room.game.manifest.min_players;
        if (room.members.len() as u32) < needed {
            return Err(err(
                ErrorCode::NotEnoughPlayers,
                format!(
                    "{} needs at least {needed} players; the room has {}",
                    room.game.name,
                    room.members.len()
                ),
            ));
        }
        room.state = RoomState::Starting;
        room.update(RoomEventKind::Starting, None);
        Ok(StartPlan {
            room: id,
            game: room.game.clone(),
            players: room.members.iter().map(|m| (m.account, m.name.clone())).collect(),
        })
    }

    /// The match's server listens: tell every member where, each with the
    /// address they can reach (`start.host` is replaced per member).
    pub(crate) fn started(&self, id: RoomId, start: GameStart) {
        let mut inner = self.inner();
        let Some(room) = inner.rooms.get_mut(&id) else { return };
        room.state = RoomState::Playing;
        room.match_id = Some(start.match_id);
        room.update(RoomEventKind::Started, None);
        for member in room.members.iter().filter(|m| !room.away.contains_key(&m.account)) {
            member.outbox.push_event(Event::GameStart(self.start_for(&start, member)));
        }
        room.start = Some(start);
    }

    /// The match ended (or never started): tell the members, wait again.
    pub(crate) fn ended(&self, id: RoomId, ended: MatchEnded) {
        let mut inner = self.inner();
        let Some(room) = inner.rooms.get_mut(&id) else { return };
        room.state = RoomState::Waiting;
        room.match_id = None;
        room.start = None;
        for away in room.away.values_mut() {
            away.missed_end = Some(ended.clone());
        }
        room.broadcast(Event::MatchEnded(ended));
        room.update(RoomEventKind::Ended, None);
    }

    /// Sends a chat message to the player's room; returns false when not in one.
    pub(crate) fn chat(&self, account: AccountId, message: ChatMessage) -> Result<(), WireError> {
        let inner = self.inner();
        let id = *inner
            .member_of
            .get(&account)
            .ok_or_else(|| err(ErrorCode::NotInRoom, "you are not in a room"))?;
        let room = &inner.rooms[&id];
        room.broadcast(Event::Chat(ChatMessage {
            scope: ChatScope::Room,
            room: Some(id),
            ..message
        }));
        Ok(())
    }

    /// Every room, by id.
    pub(crate) fn list(&self) -> Vec<RoomInfo> {
        self.inner().rooms.values().map(Room::info).collect()
    }

    /// What the player is doing.
    pub(crate) fn activity(&self, account: AccountId) -> Activity {
        let inner = self.inner();
        match inner.member_of.get(&account).and_then(|id| inner.rooms.get(id)) {
            None => Activity::Idle,
            Some(room) => match (room.state, room.match_id) {
                (RoomState::Playing, Some(match_id)) => {
                    Activity::InMatch { room: room.id, game: room.game.id.clone(), match_id }
                }
                _ => Activity::InRoom { room: room.id, game: room.game.id.clone() },
            },
        }
    }
}

fn check_not_in_room(inner: &Inner, account: AccountId) -> Result<(), WireError> {
    match inner.member_of.get(&account) {
        Some(id) => Err(err(
            ErrorCode::AlreadyInRoom,
            format!("you are already in room {id}; leave it first"),
        )),
        None => Ok(()),
    }
}

fn create_locked(
    inner: &mut Inner,
    member: Member,
    game: RoomGame,
    id: Option<RoomId>,
) -> RoomInfo {
    let id = match id {
        Some(id) => id,
        None => {
            inner.next_id += 1;
            inner.next_id
        }
    };
    let room = Room {
        id,
        capacity: game.manifest.max_players,
        game,
        host: member.account,
        members: Vec::new(),
        state: RoomState::Waiting,
        match_id: None,
        away: HashMap::new(),
        start: None,
        plugins: HashMap::new(),
        hinted: Default::default(),
    };
    inner.rooms.insert(id, room);
    tracing::info!(room = id, host = %member.name, "room created");
    join_locked(inner, member, id)
}

fn join_locked(inner: &mut Inner, member: Member, id: RoomId) -> RoomInfo {
    let room = inner.rooms.get_mut(&id).expect("room exists");
    let name = member.name.clone();
    inner.member_of.insert(member.account, id);
    room.members.push(member);
    room.update(RoomEventKind::Joined, Some(&name));
    room.info()
}

/// Removes the player from their room; false when they were in none.
fn leave_locked(inner: &mut Inner, account: AccountId) -> bool {
    let Some(id) = inner.member_of.remove(&account) else { return false };
    let room = inner.rooms.get_mut(&id).expect("member_of points at a room");
    let Some(index) = room.members.iter().position(|m| m.account == account) else { return false };
    let gone = room.members.remove(index);
    // Drops a kept seat and with it its timer.
    room.away.remove(&account);
    room.plugins.remove(&account);
    room.hinted.remove(&account);
    if room.members.is_empty() {
        // A running match keeps going until its server ends; the room just
        // has nobody left to tell.
        if room.state == RoomState::Waiting {
            inner.rooms.remove(&id);
            tracing::info!(room = id, "room closed");
        }
        return true;
    }
    room.update(RoomEventKind::Left, Some(&gone.name));
    if room.host == account {
        room.host = room.members[0].account;
        let new_host = room.members[0].name.clone();
        room.update(RoomEventKind::HostChanged, Some(&new_host));
    }
    true
}

/// Ends the seat kept for `account` after `grace`, unless it was taken
/// back (or kept again for a later drop) meanwhile.
async fn expire_seat(rooms: Weak<Mutex<Inner>>, account: AccountId, conn: ConnId, grace: Duration) {
    tokio::time::sleep(grace).await;
    let Some(rooms) = rooms.upgrade() else { return };
    let mut inner = lock(&rooms);
    let Some(id) = inner.member_of.get(&account).copied() else { return };
    let still_away = inner
        .rooms
        .get(&id)
        .and_then(|room| room.away.get(&account))
        .is_some_and(|away| away.conn == conn);
    if still_away {
        tracing::info!(room = id, "a dropped player did not come back in time and left");
        // Removing the seat drops this task's own handle; abort only takes
        // effect at the next await, and there is none after this point.
        leave_locked(&mut inner, account);
    }
}

impl Rooms {
    /// Removes rooms left empty while their match ran, once it ended.
    pub(crate) fn close_if_empty(&self, id: RoomId) {
        let mut inner = self.inner();
        if inner
            .rooms
            .get(&id)
            .is_some_and(|r| r.members.is_empty() && r.state == RoomState::Waiting)
        {
            inner.rooms.remove(&id);
        }
    }
}

mod plugins;
#[cfg(test)]
mod tests;
impl Rooms {
    /// The room the player is in, if any.
    pub(crate) fn room_of(&self, account: AccountId) -> Option<RoomId> {
        self.inner().member_of.get(&account).copied()
    }

    /// True when room `id` has no members left (or is gone): nobody is
    /// there to play its match.
    pub(crate) fn is_abandoned(&self, id: RoomId) -> bool {
        self.inner().rooms.get(&id).is_none_or(|r| r.members.is_empty())
    }
}
