//! Rooms: where players gather before a match (seed §3C, "In Room").
//!
//! All room state lives in memory behind one mutex; every change pushes a
//! ROOM_UPDATE to the room's members through their connections' outboxes
//! (which never block). A player is in at most one room, through the
//! connection that joined it: when that connection closes, they leave.
//!
//! States: `waiting` → (host starts, enough members) → `starting` (the Game
//! Manager spawns the server) → `playing` (GAME_START sent) → back to
//! `waiting` when the match ends or fails to start.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;

use gamestore_package::Manifest;
use gamestore_protocol::{
    Activity, ChatMessage, ChatScope, ErrorCode, Event, GameStart, MatchEnded, RoomEventKind,
    RoomId, RoomInfo, RoomState, RoomUpdate, WireError,
};
use gamestore_storage::AccountId;

use crate::hub::{ConnId, Outbox};

/// A player joining or creating a room, with the connection that asked.
#[derive(Debug, Clone)]
pub struct Member {
    pub account: AccountId,
    pub name: String,
    pub conn: ConnId,
    pub outbox: Outbox,
}

/// The version of a game a new room plays.
#[derive(Debug, Clone)]
pub struct RoomGame {
    pub id: String,
    pub name: String,
    pub version: String,
    pub manifest: Manifest,
    pub game_dir: PathBuf,
}

/// What the host's start request hands to the Game Manager.
#[derive(Debug, Clone)]
pub struct StartPlan {
    pub room: RoomId,
    pub game: RoomGame,
    pub players: Vec<(AccountId, String)>,
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
        }
    }

    fn broadcast(&self, event: Event) {
        crate::hub::push_to_all(self.members.iter().map(|m| &m.outbox), &event);
    }

    fn update(&self, event: RoomEventKind, player: Option<&str>) {
        self.broadcast(Event::RoomUpdate(RoomUpdate {
            event,
            player: player.map(str::to_owned),
            room: self.info(),
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
pub struct Rooms {
    inner: Mutex<Inner>,
}

fn err(code: ErrorCode, message: impl Into<String>) -> WireError {
    WireError::new(code, message)
}

impl Rooms {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes a room for `game` with `member` as host.
    pub fn create(&self, member: Member, game: RoomGame) -> Result<RoomInfo, WireError> {
        let mut inner = self.inner();
        check_not_in_room(&inner, member.account)?;
        Ok(create_locked(&mut inner, member, game))
    }

    /// Joins room `id`.
    pub fn join(&self, member: Member, id: RoomId) -> Result<RoomInfo, WireError> {
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
    pub fn quick_play(&self, member: Member, game: RoomGame) -> Result<RoomInfo, WireError> {
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
            None => create_locked(&mut inner, member, game),
        })
    }

    /// Leaves the player's room.
    pub fn leave(&self, account: AccountId) -> Result<(), WireError> {
        let mut inner = self.inner();
        if leave_locked(&mut inner, account) {
            Ok(())
        } else {
            Err(err(ErrorCode::NotInRoom, "you are not in a room"))
        }
    }

    /// A connection closed: its player leaves the room it joined through it.
    pub fn disconnected(&self, conn: ConnId) {
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
    pub fn game_of(&self, account: AccountId) -> Option<String> {
        let inner = self.inner();
        inner.member_of.get(&account).and_then(|id| inner.rooms.get(id)).map(|r| r.game.id.clone())
    }

    /// The host asks to start: checks and moves the room to `starting`.
    pub fn begin_start(&self, account: AccountId) -> Result<StartPlan, WireError> {
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

    /// The match's server listens: tell every member where.
    pub fn started(&self, id: RoomId, start: GameStart) {
        let mut inner = self.inner();
        let Some(room) = inner.rooms.get_mut(&id) else { return };
        room.state = RoomState::Playing;
        room.match_id = Some(start.match_id);
        room.update(RoomEventKind::Started, None);
        room.broadcast(Event::GameStart(start));
    }

    /// The match ended (or never started): tell the members, wait again.
    pub fn ended(&self, id: RoomId, ended: MatchEnded) {
        let mut inner = self.inner();
        let Some(room) = inner.rooms.get_mut(&id) else { return };
        room.state = RoomState::Waiting;
        room.match_id = None;
        room.broadcast(Event::MatchEnded(ended));
        room.update(RoomEventKind::Ended, None);
    }

    /// Sends a chat message to the player's room; returns false when not in one.
    pub fn chat(&self, account: AccountId, message: ChatMessage) -> Result<(), WireError> {
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
    pub fn list(&self) -> Vec<RoomInfo> {
        self.inner().rooms.values().map(Room::info).collect()
    }

    /// What the player is doing.
    pub fn activity(&self, account: AccountId) -> Activity {
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

fn create_locked(inner: &mut Inner, member: Member, game: RoomGame) -> RoomInfo {
    inner.next_id += 1;
    let id = inner.next_id;
    let room = Room {
        id,
        capacity: game.manifest.max_players,
        game,
        host: member.account,
        members: Vec::new(),
        state: RoomState::Waiting,
        match_id: None,
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

impl Rooms {
    /// Removes rooms left empty while their match ran, once it ended.
    pub fn close_if_empty(&self, id: RoomId) {
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

impl Rooms {
    /// The room the player is in, if any.
    pub fn room_of(&self, account: AccountId) -> Option<RoomId> {
        self.inner().member_of.get(&account).copied()
    }

    /// True when room `id` has no members left (or is gone): nobody is
    /// there to play its match.
    pub fn is_abandoned(&self, id: RoomId) -> bool {
        self.inner().rooms.get(&id).is_none_or(|r| r.members.is_empty())
    }
}
