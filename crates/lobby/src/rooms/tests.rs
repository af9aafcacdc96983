//! Seats that survive a drop, on tokio's paused clock: the grace period is
//! exercised to the millisecond without waiting for it.

use std::net::IpAddr;
use std::time::Duration;

use gamestore_package::Manifest;
use gamestore_protocol::{GameStart, MatchEnded, MatchOutcome, RoomState};
use serde_json::Value;
use tokio::sync::mpsc;

use super::{Member, RoomGame, Rooms, RoomsConfig};
use crate::hub::{Outbox, Outgoing};

const GRACE: Duration = Duration::from_secs(30);

/// Lets `time` pass on the paused clock; timers due meanwhile run first.
async fn pass(time: Duration) {
    tokio::time::sleep(time).await;
}

/// One member's connection: what the room pushed to it, as JSON.
struct Peer {
    member: Member,
    rx: mpsc::Receiver<Outgoing>,
}

impl Peer {
    fn new(account: i64, name: &str, conn: u64, reach: &str) -> Peer {
        let (tx, rx) = mpsc::channel(64);
        let member = Member {
            account,
            name: name.into(),
            conn,
            outbox: Outbox::new(tx),
            reach: Some(reach.parse::<IpAddr>().unwrap()),
        };
        Peer { member, rx }
    }

    /// The same player on a new connection.
    fn reconnect(&self, conn: u64, reach: &str) -> Peer {
        let mut peer = Peer::new(self.member.account, &self.member.name, conn, reach);
        peer.member.conn = conn;
        peer
    }

    /// Every event queued so far: (type, data).
    fn events(&mut self) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        while let Ok(item) = self.rx.try_recv() {
            let Outgoing::Frame(bytes) = item else { continue };
            let json: Value = serde_json::from_slice(&bytes[5..]).unwrap();
            out.push((json["type"].as_str().unwrap().to_owned(), json["data"].clone()));
        }
        out
    }

    /// The `event` field of every ROOM_UPDATE queued so far, with its player.
    fn updates(&mut self) -> Vec<(String, String)> {
        self.events()
            .into_iter()
            .filter(|(kind, _)| kind == "ROOM_UPDATE")
            .map(|(_, d)| {
                (d["event"].as_str().unwrap().to_owned(), d["player"].as_str().unwrap_or("").into())
            })
            .collect()
    }
}

fn game() -> RoomGame {
    let manifest = Manifest::parse(
        br#"{"id": "test", "name": "Test", "version": "1.0.0", "description": "",
             "kind": "cli", "min_players": 1, "max_players": 4,
             "server": {"command": ["server", "{port}"]},
             "client": {"command": ["client", "{host}", "{port}"]}}"#,
    )
    .unwrap();
    RoomGame {
        id: "test".into(),
        name: "Test".into(),
        version: "1.0.0".into(),
        manifest,
        game_dir: "/nowhere".into(),
    }
}

fn rooms(public_host: Option<&str>) -> Rooms {
    Rooms::new(RoomsConfig { seat_grace: GRACE, public_host: public_host.map(str::to_owned) })
}

fn start(room: u64) -> GameStart {
    GameStart {
        match_id: 7,
        room,
        game: "test".into(),
        version: "1.0.0".into(),
        host: String::new(),
        port: 9100,
        token: "t".into(),
        players: vec!["ann".into(), "bob".into()],
        seat: None,
        player_id: None,
    }
}

fn ended(room: u64) -> MatchEnded {
    MatchEnded {
        match_id: 7,
        room,
        outcome: MatchOutcome::Completed,
        exit_code: Some(0),
        result: None,
        message: "the match is over".into(),
    }
}

/// Ann and bob in one room; returns its id.
fn room_of_two(rooms: &Rooms, ann: &mut Peer, bob: &mut Peer) -> u64 {
    let id = rooms.create(ann.member.clone(), game(), None).unwrap().id;
    rooms.join(bob.member.clone(), id).unwrap();
    ann.events();
    bob.events();
    id
}

#[tokio::test(start_paused = true)]
async fn a_dropped_member_keeps_the_seat_for_the_grace_period_and_takes_it_back() {
    let rooms = rooms(None);
    let (mut ann, mut bob) =
        (Peer::new(1, "ann", 10, "10.0.1.1"), Peer::new(2, "bob", 20, "10.0.2.1"));
    let id = room_of_two(&rooms, &mut ann, &mut bob);

    rooms.member_disconnected(20);
    assert_eq!(ann.updates(), [("reconnecting".to_owned(), "bob".to_owned())]);
    let room = &rooms.list()[0];
    assert_eq!(room.members, ["ann", "bob"], "the seat is kept");
    assert_eq!(room.reconnecting, ["bob"]);
    assert!(matches!(rooms.activity(2), gamestore_protocol::Activity::InRoom { .. }));

    pass(GRACE - Duration::from_millis(1)).await;
    let mut back = bob.reconnect(21, "10.0.2.1");
    let info = rooms.resume(back.member.clone()).expect("seat taken back");
    assert_eq!(info.id, id);
    assert!(info.reconnecting.is_empty());
    assert_eq!(ann.updates(), [("reconnected".to_owned(), "bob".to_owned())]);
    assert_eq!(back.updates(), [("reconnected".to_owned(), "bob".to_owned())]);

    // The old timer is gone with the seat it was kept for: no ghost leave.
    pass(GRACE * 2).await;
    assert!(ann.updates().is_empty());
    assert_eq!(rooms.list()[0].members, ["ann", "bob"]);
    // Events reach bob's new connection.
    rooms.chat(1, chat("hi")).unwrap();
    assert_eq!(back.events()[0].0, "CHAT");
}

fn chat(text: &str) -> gamestore_protocol::ChatMessage {
    gamestore_protocol::ChatMessage {
        scope: gamestore_protocol::ChatScope::Room,
        room: None,
        from: "ann".into(),
        text: text.into(),
        at: 0,
    }
}

#[tokio::test(start_paused = true)]
async fn after_the_grace_period_the_member_leaves() {
    let rooms = rooms(None);
    let (mut ann, mut bob) =
        (Peer::new(1, "ann", 10, "10.0.1.1"), Peer::new(2, "bob", 20, "10.0.2.1"));
    room_of_two(&rooms, &mut ann, &mut bob);
    // The host drops: still host while the seat is kept.
    rooms.member_disconnected(10);
    assert_eq!(rooms.list()[0].host, "ann");
    pass(GRACE + Duration::from_millis(1)).await;
    assert_eq!(
        bob.updates(),
        [
            ("reconnecting".to_owned(), "ann".to_owned()),
            ("left".to_owned(), "ann".to_owned()),
            ("host_changed".to_owned(), "bob".to_owned()),
        ]
    );
    assert_eq!(rooms.list()[0].members, ["bob"]);
    assert!(matches!(rooms.activity(1), gamestore_protocol::Activity::Idle));
    // Too late: RESUME finds no seat, and ann may join anew.
    assert!(rooms.resume(ann.reconnect(11, "10.0.1.1").member).is_none());

    // The last member gone for good closes the room.
    rooms.member_disconnected(20);
    pass(GRACE + Duration::from_millis(1)).await;
    assert!(rooms.list().is_empty());
}

#[tokio::test(start_paused = true)]
async fn dropping_again_after_coming_back_starts_a_new_grace_period() {
    let rooms = rooms(None);
    let (mut ann, mut bob) =
        (Peer::new(1, "ann", 10, "10.0.1.1"), Peer::new(2, "bob", 20, "10.0.2.1"));
    room_of_two(&rooms, &mut ann, &mut bob);
    rooms.member_disconnected(20);
    pass(GRACE / 2).await;
    let back = bob.reconnect(21, "10.0.2.1");
    rooms.resume(back.member.clone()).unwrap();
    rooms.member_disconnected(21);
    // The first drop's deadline passes: the second drop's seat stays.
    pass(GRACE / 2 + Duration::from_secs(1)).await;
    assert_eq!(rooms.list()[0].reconnecting, ["bob"]);
    pass(GRACE / 2).await;
    assert_eq!(rooms.list()[0].members, ["ann"]);
}

#[tokio::test(start_paused = true)]
async fn each_member_is_told_the_address_their_own_connection_arrived_on() {
    let rooms = rooms(None);
    let (mut ann, mut bob) =
        (Peer::new(1, "ann", 10, "10.0.1.1"), Peer::new(2, "bob", 20, "::ffff:10.0.2.1"));
    let id = room_of_two(&rooms, &mut ann, &mut bob);
    rooms.begin_start(1).unwrap();
    rooms.started(id, start(id));
    let host_of = |peer: &mut Peer| {
        peer.events().into_iter().find(|(k, _)| k == "GAME_START").unwrap().1["host"].clone()
    };
    let start_of =
        |peer: &mut Peer| peer.events().into_iter().find(|(k, _)| k == "GAME_START").unwrap().1;
    let (to_ann, to_bob) = (start_of(&mut ann), start_of(&mut bob));
    assert_eq!(to_ann["host"], "10.0.1.1");
    assert_eq!(to_bob["host"], "10.0.2.1", "IPv4-mapped addresses are told as IPv4");
    // Each also learns their own seat (joining order) and account id.
    assert_eq!((&to_ann["seat"], &to_ann["player_id"]), (&0.into(), &1.into()));
    assert_eq!((&to_bob["seat"], &to_bob["player_id"]), (&1.into(), &2.into()));

    // --public-host wins for everyone.
    let fixed = super::Rooms::new(RoomsConfig {
        seat_grace: GRACE,
        public_host: Some("games.example".into()),
    });
    let (mut ann, mut bob) =
        (Peer::new(1, "ann", 10, "10.0.1.1"), Peer::new(2, "bob", 20, "10.0.2.1"));
    let id = room_of_two(&fixed, &mut ann, &mut bob);
    fixed.begin_start(1).unwrap();
    fixed.started(id, start(id));
    assert_eq!(host_of(&mut ann), "games.example");
    assert_eq!(host_of(&mut bob), "games.example");
}

#[tokio::test(start_paused = true)]
async fn coming_back_mid_match_gets_game_start_again_and_after_it_match_ended() {
    let rooms = rooms(None);
    let (mut ann, mut bob) =
        (Peer::new(1, "ann", 10, "10.0.1.1"), Peer::new(2, "bob", 20, "10.0.2.1"));
    let id = room_of_two(&rooms, &mut ann, &mut bob);
    rooms.begin_start(1).unwrap();
    rooms.started(id, start(id));
    bob.events();

    // Mid-match: GAME_START again, with the new connection's address.
    rooms.member_disconnected(20);
    let mut back = bob.reconnect(21, "10.0.3.1");
    rooms.resume(back.member.clone()).unwrap();
    let events = back.events();
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["ROOM_UPDATE", "GAME_START"]);
    assert_eq!(events[1].1["host"], "10.0.3.1");
    assert_eq!(events[1].1["match_id"], 7);

    // The match ends while bob is away: MATCH_ENDED on coming back, no GAME_START.
    rooms.member_disconnected(21);
    rooms.ended(id, ended(id));
    assert_eq!(rooms.list()[0].state, RoomState::Waiting);
    let mut again = bob.reconnect(22, "10.0.3.1");
    rooms.resume(again.member.clone()).unwrap();
    let kinds: Vec<String> = again.events().into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["ROOM_UPDATE", "MATCH_ENDED"]);
    let updates = ann.updates();
    assert!(updates.contains(&("reconnected".to_owned(), "bob".to_owned())), "{updates:?}");
    assert!(!updates.iter().any(|(e, _)| e == "left"), "{updates:?}");
}

#[tokio::test(start_paused = true)]
async fn without_a_grace_period_a_dropped_member_leaves_at_once() {
    let rooms = Rooms::new(RoomsConfig { seat_grace: Duration::ZERO, public_host: None });
    let (mut ann, mut bob) =
        (Peer::new(1, "ann", 10, "10.0.1.1"), Peer::new(2, "bob", 20, "10.0.2.1"));
    room_of_two(&rooms, &mut ann, &mut bob);
    rooms.member_disconnected(20);
    assert_eq!(ann.updates(), [("left".to_owned(), "bob".to_owned())]);
}
