//! Rooms across lobby nodes: a room owned by one node, with members on
//! others, listed, joined, chatted in and played on every node, and
//! closed for its members when its node dies. Run when
//! `GAMESTORE_TEST_POSTGRES` and `GAMESTORE_TEST_NATS` are set.

use std::time::{Duration, Instant};

use gamestore_protocol::{
    ChatScope, ChatSend, ErrorCode, Event, GameStartNotify, MatchOutcome, QuickPlay, ReviewList,
    ReviewSubmit, RoomCreate, RoomEventKind, RoomJoin, RoomList, RoomState,
};
use gamestore_testkit::{Cli, RawConn, game_package, wait_until};
use serde_json::Value;

use crate::matches::run_test_client;
use crate::nodes::{Nodes, PASSWORD};
use crate::world::registered_player;

/// The ids of the rooms this player's node lists.
fn listed(conn: &mut RawConn) -> Vec<u64> {
    let reply: Value = conn.call(RoomList::default()).unwrap();
    reply["rooms"].as_array().unwrap().iter().map(|r| r["id"].as_u64().unwrap()).collect()
}

fn publish_test_game(a: &gamestore_testkit::TestLobby, tmp: &std::path::Path) {
    let dev = Cli::dev(a, &tmp.join("dev"));
    dev.sign_up("dana", PASSWORD);
    dev.run(&["publish", game_package("test").to_str().unwrap()]).ok();
}

/// Waits for a ROOM_UPDATE `joined` showing `count` members.
fn expect_members(conn: &mut RawConn, who: &str, count: usize) -> Vec<String> {
    conn.expect_event(&format!("{who} sees {count} members"), |e| match e {
        Event::RoomUpdate(u)
            if u.event == RoomEventKind::Joined && u.room.members.len() == count =>
        {
            Some(u.room.members.clone())
        }
        _ => None,
    })
}

#[test]
fn players_on_three_nodes_meet_chat_play_and_review_in_a_room_owned_by_one() {
    let Some(nodes) = Nodes::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let a = nodes.start("a");
    let b = nodes.start("b");
    let c = nodes.start("c");
    publish_test_game(&a, tmp.path());
    let mut ann = registered_player(&a, "ann");
    let mut bob = registered_player(&b, "bob");
    let mut cid = registered_player(&c, "cid");

    let room: Value = ann.call(RoomCreate { game: "test".into() }).unwrap();
    let id = room["id"].as_u64().unwrap();
    wait_until("b lists a's room", || listed(&mut bob) == [id]);
    wait_until("c lists a's room", || listed(&mut cid) == [id]);

    let joined: Value = bob.call(RoomJoin { room: id }).unwrap();
    assert_eq!(joined["id"], id);
    assert_eq!(joined["members"], serde_json::json!(["ann", "bob"]), "{joined}");
    cid.call(RoomJoin { room: id }).unwrap();
    for (who, conn) in [("ann", &mut ann), ("bob", &mut bob), ("cid", &mut cid)] {
        assert_eq!(expect_members(conn, who, 3), ["ann", "bob", "cid"]);
    }
    // The list on b shows the room as a has it now.
    wait_until("b lists three members", || {
        let reply: Value = bob.call(RoomList::default()).unwrap();
        reply["rooms"][0]["members"].as_array().is_some_and(|m| m.len() == 3)
    });

    // Room chat from c reaches a and b; from a reaches c.
    cid.call(ChatSend { scope: ChatScope::Room, text: "hi from c".into() }).unwrap();
    for (who, conn) in [("ann", &mut ann), ("bob", &mut bob), ("cid", &mut cid)] {
        let room_of = conn.expect_event(&format!("cid's room chat reaching {who}"), |e| match e {
            Event::Chat(m) if m.from == "cid" && m.text == "hi from c" => Some(m.room),
            _ => None,
        });
        assert_eq!(room_of, Some(id));
    }
    ann.call(ChatSend { scope: ChatScope::Room, text: "hi from a".into() }).unwrap();
    cid.expect_event("ann's room chat on c", |e| match e {
        Event::Chat(m) if m.from == "ann" && m.scope == ChatScope::Room => Some(()),
        _ => None,
    });

    // A member on b is not the host.
    let refused = bob.call(GameStartNotify {}).unwrap_err();
    assert_eq!(refused.code, ErrorCode::NotHost, "{refused:?}");

    // The host starts; everyone is sent to a's game server.
    ann.call(GameStartNotify {}).unwrap();
    let mut starts = Vec::new();
    for (who, conn) in [("ann", &mut ann), ("bob", &mut bob), ("cid", &mut cid)] {
        let start = conn.expect_event(&format!("GAME_START for {who}"), |e| match e {
            Event::GameStart(s) => Some(s.clone()),
            _ => None,
        });
        assert_eq!(start.host, "127.0.0.1", "a's --public-host");
        starts.push((who, start));
    }
    let port = starts[0].1.port;
    assert!(starts.iter().all(|(_, s)| s.port == port && s.match_id == starts[0].1.match_id));
    let clients: Vec<_> = starts
        .into_iter()
        .map(|(who, start)| std::thread::spawn(move || run_test_client(&start, who)))
        .collect();
    for client in clients {
        let out = client.join().unwrap();
        out.ok();
    }
    for (who, conn) in [("ann", &mut ann), ("bob", &mut bob), ("cid", &mut cid)] {
        let outcome = conn.expect_event(&format!("MATCH_ENDED for {who}"), |e| match e {
            Event::MatchEnded(m) => Some(m.outcome),
            _ => None,
        });
        assert_eq!(outcome, MatchOutcome::Completed, "{who}");
        let state = conn.expect_event(&format!("{who}'s room waiting again"), |e| match e {
            Event::RoomUpdate(u) if u.event == RoomEventKind::Ended => Some(u.room.state),
            _ => None,
        });
        assert_eq!(state, RoomState::Waiting);
    }
    wait_until("c lists the room waiting", || {
        let reply: Value = cid.call(RoomList::default()).unwrap();
        reply["rooms"][0]["state"] == "waiting"
    });

    // The match a ran counts as played on every node: bob reviews on b,
    // and the review is what a and c list.
    let review = ReviewSubmit { game: "test".into(), rating: 4, text: "good on b".into() };
    bob.call(review).unwrap();
    for (who, conn) in [("ann", &mut ann), ("cid", &mut cid)] {
        let list: Value = conn.call(ReviewList::new("test")).unwrap();
        assert_eq!(list["total"], 1, "{who}: {list}");
        assert_eq!(list["reviews"][0]["player"], "bob", "{who}: {list}");
        assert_eq!(list["reviews"][0]["text"], "good on b", "{who}: {list}");
    }

    // Leaving from b is seen on a and c.
    bob.call(gamestore_protocol::RoomLeave {}).unwrap();
    cid.expect_event("bob leaving, on c", |e| match e {
        Event::RoomUpdate(u) if u.event == RoomEventKind::Left => Some(u.player.clone()),
        _ => None,
    });
    let again: Value = bob.call(RoomCreate { game: "test".into() }).unwrap();
    assert_ne!(again["id"], id);
}

#[test]
fn room_ids_never_collide_across_nodes_and_quick_play_finds_another_nodes_room() {
    let Some(nodes) = Nodes::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let a = nodes.start("a");
    let b = nodes.start("b");
    let c = nodes.start("c");
    publish_test_game(&a, tmp.path());
    let mut ids = std::collections::BTreeSet::new();
    let mut players = Vec::new();
    for (node, name) in [(&a, "a1"), (&b, "b1"), (&a, "a2"), (&b, "b2"), (&c, "c1")] {
        let mut conn = registered_player(node, name);
        let room: Value = conn.call(RoomCreate { game: "test".into() }).unwrap();
        assert!(ids.insert(room["id"].as_u64().unwrap()), "{name}'s room id is new: {room}");
        players.push(conn);
    }
    // Every node lists every room.
    let all: Vec<u64> = ids.iter().copied().collect();
    let mut dee = registered_player(&c, "dee");
    wait_until("c lists the rooms of a, b and c", || listed(&mut dee) == all);
    let mut eve = registered_player(&b, "eve");
    wait_until("b lists them too", || listed(&mut eve) == all);

    // Everyone but a1 leaves; QUICK_PLAY on c joins a1's room on a.
    let a1_room = all[0];
    for conn in players.iter_mut().skip(1) {
        conn.call(gamestore_protocol::RoomLeave {}).unwrap();
    }
    wait_until("c lists only a1's room", || listed(&mut dee) == [a1_room]);
    let joined: Value = dee.call(QuickPlay { game: "test".into() }).unwrap();
    assert_eq!(joined["id"], a1_room, "{joined}");
    assert_eq!(joined["members"], serde_json::json!(["a1", "dee"]));
    expect_members(&mut players[0], "a1", 2);
}

#[test]
fn members_on_other_nodes_are_told_when_the_rooms_node_dies_and_can_start_over() {
    let Some(nodes) = Nodes::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut a = nodes.start("a");
    let b = nodes.start("b");
    let c = nodes.start("c");
    publish_test_game(&a, tmp.path());
    let mut ann = registered_player(&a, "ann");
    let mut bob = registered_player(&b, "bob");
    let mut cid = registered_player(&c, "cid");
    let room: Value = ann.call(RoomCreate { game: "test".into() }).unwrap();
    let id = room["id"].as_u64().unwrap();
    wait_until("b lists a's room", || listed(&mut bob) == [id]);
    wait_until("c lists a's room", || listed(&mut cid) == [id]);
    bob.call(RoomJoin { room: id }).unwrap();
    cid.call(RoomJoin { room: id }).unwrap();
    expect_members(&mut bob, "bob", 3);
    expect_members(&mut cid, "cid", 3);

    // A hostile client on c, in no room, cannot speak or act in it: its
    // requests are its own connection's, and that connection has no seat.
    let mut mallory = registered_player(&c, "mallory");
    for refused in [
        mallory.call(ChatSend { scope: ChatScope::Room, text: "spoof".into() }).unwrap_err(),
        mallory.call(GameStartNotify {}).unwrap_err(),
        mallory.call(gamestore_protocol::RoomLeave {}).unwrap_err(),
    ] {
        assert_eq!(refused.code, ErrorCode::NotInRoom, "{refused:?}");
    }
    // The room still has its three members.
    wait_until("c lists the room with its three members", || {
        let reply: Value = mallory.call(RoomList::default()).unwrap();
        reply["rooms"][0]["members"] == serde_json::json!(["ann", "bob", "cid"])
    });

    a.kill9();
    let killed = Instant::now();
    for (who, conn) in [("bob", &mut bob), ("cid", &mut cid)] {
        let (message, room) =
            conn.expect_event(&format!("{who} told the room closed"), |e| match e {
                Event::RoomUpdate(u) if u.event == RoomEventKind::Closed => {
                    Some((u.message.clone(), u.room.id))
                }
                _ => None,
            });
        assert_eq!(message.as_deref(), Some("the lobby node hosting this room stopped"));
        assert_eq!(room, id);
    }
    let took = killed.elapsed();
    // The 5 s node timeout, checked at each 1 s heartbeat, plus margin.
    assert!(took < Duration::from_secs(9), "told after {took:?}");
    wait_until("b no longer lists a's room", || listed(&mut bob).is_empty());
    wait_until("c no longer lists a's room", || listed(&mut cid).is_empty());

    // Both can make or join a room on their node at once (the catalog is
    // the database's, so b makes rooms of a game published through a).
    let fresh: Value = bob.call(RoomCreate { game: "test".into() }).unwrap();
    assert_ne!(fresh["id"], id);
    let refused = cid.call(RoomJoin { room: id }).unwrap_err();
    assert_eq!(refused.code, ErrorCode::RoomNotFound, "{refused:?}");
    let fresh = fresh["id"].as_u64().unwrap();
    wait_until("c lists b's new room", || listed(&mut cid) == [fresh]);
    cid.call(RoomJoin { room: fresh }).unwrap();
    expect_members(&mut bob, "bob", 2);
    eprintln!("the room's node killed: its members on b and c were told {took:?} after the kill");
}

/// The activity ONLINE_LIST gives `name` on this player's node.
fn activity_of(conn: &mut RawConn, name: &str) -> Value {
    let reply: Value = conn.call(gamestore_protocol::OnlineList::default()).unwrap();
    let players = reply["players"].as_array().unwrap();
    players.iter().find(|p| p["name"] == name).map(|p| p["activity"].clone()).unwrap_or_default()
}

#[test]
fn a_member_whose_connection_dropped_resumes_on_a_third_node_and_keeps_the_seat() {
    let Some(nodes) = Nodes::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let a = nodes.start("a");
    let b = nodes.start("b");
    let c = nodes.start("c");
    publish_test_game(&a, tmp.path());
    let mut ann = registered_player(&a, "ann");
    let mut bob = RawConn::hello(b.addr);
    bob.call(gamestore_protocol::Register::new("bob", PASSWORD)).unwrap();
    let login = bob.call(gamestore_protocol::Login::new("bob", PASSWORD)).unwrap();
    let token = login["token"].as_str().unwrap().to_owned();
    let mut cid = registered_player(&c, "cid");
    let room: Value = ann.call(RoomCreate { game: "test".into() }).unwrap();
    let id = room["id"].as_u64().unwrap();
    wait_until("b lists a's room", || listed(&mut bob) == [id]);
    bob.call(RoomJoin { room: id }).unwrap();
    expect_members(&mut ann, "ann", 2);

    // Presence on c, a node with no member: both are in the room.
    let in_room = serde_json::json!({"state": "in_room", "room": id, "game": "test"});
    wait_until("c shows ann in the room", || activity_of(&mut cid, "ann") == in_room);
    wait_until("c shows bob in the room", || activity_of(&mut cid, "bob") == in_room);

    // Bob's connection to b drops; a keeps his seat.
    drop(bob);
    ann.expect_event("bob reconnecting", |e| match e {
        Event::RoomUpdate(u) if u.event == RoomEventKind::Reconnecting => u.player.clone(),
        _ => None,
    });
    wait_until("c lists bob as reconnecting", || {
        let reply: Value = cid.call(RoomList::default()).unwrap();
        reply["rooms"][0]["reconnecting"] == serde_json::json!(["bob"])
    });

    // He resumes on c and is back in his seat, through c.
    let mut bob_on_c = RawConn::hello(c.addr);
    bob_on_c.call(gamestore_protocol::Resume { token }).unwrap();
    let back = ann.expect_event("bob back", |e| match e {
        Event::RoomUpdate(u) if u.event == RoomEventKind::Reconnected => u.player.clone(),
        _ => None,
    });
    assert_eq!(back, "bob");
    ann.call(ChatSend { scope: ChatScope::Room, text: "welcome back".into() }).unwrap();
    bob_on_c.expect_event("ann's room chat reaching bob on c", |e| match e {
        Event::Chat(m) if m.from == "ann" && m.text == "welcome back" => Some(()),
        _ => None,
    });
    bob_on_c.call(ChatSend { scope: ChatScope::Room, text: "thanks".into() }).unwrap();
    ann.expect_event("bob's room chat from c", |e| match e {
        Event::Chat(m) if m.from == "bob" && m.text == "thanks" => Some(()),
        _ => None,
    });
    // Still in that room: another one is refused on c.
    let refused = bob_on_c.call(RoomCreate { game: "test".into() }).unwrap_err();
    assert_eq!(refused.code, ErrorCode::AlreadyInRoom, "{refused:?}");
}

#[test]
fn a_connect4_match_between_launchers_on_two_nodes_in_a_room_owned_by_one() {
    let Some(nodes) = Nodes::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let _a = nodes.start("a");
    let b = nodes.start("b");
    let c = nodes.start("c");
    let dev = Cli::dev(&b, &tmp.path().join("dev"));
    dev.sign_up("dana", PASSWORD);
    dev.run(&["publish", game_package("connect4").to_str().unwrap()]).ok();

    let bea = crate::world::bot_player(&b, &tmp, "bea");
    // Package files live on the node they were published through, so cat
    // installs connect4 through b; her launcher then plays through c.
    let cat_home = tmp.path().join("cat");
    let cat_on_b = Cli::player(&b, &cat_home);
    cat_on_b.sign_up("cat", PASSWORD);
    cat_on_b.run(&["install", "connect4"]).ok();
    let cat = Cli::player(&c, &cat_home).env("GAMESTORE_BOT", "1");
    cat.run_with_stdin(&["login", "--user", "cat", "--password-stdin"], &format!("{PASSWORD}\n"))
        .ok();

    let mut host =
        crate::world::Launcher::start(&bea, &["play", "connect4", "--start-when", "2", "--json"]);
    let room = host.expect("room")["id"].as_u64().unwrap();
    let mut dee = registered_player(&c, "dee");
    wait_until("c lists b's room", || listed(&mut dee) == [room]);
    let mut guest = crate::world::Launcher::start(&cat, &["join", &room.to_string(), "--json"]);
    assert_eq!(guest.expect("room")["id"], room);
    for (who, launcher) in [("bea", &mut host), ("cat", &mut guest)] {
        let ended = launcher.expect("match_ended");
        assert_eq!(ended["outcome"], "completed", "{who}: {ended}");
        assert!(ended["result"]["summary"].is_string(), "{who}: {ended}");
    }
    for (who, launcher) in [("bea", &mut host), ("cat", &mut guest)] {
        let (status, lines) = launcher.finish();
        assert!(status.success(), "{who}'s launcher:\n{}", lines.join("\n"));
    }
}
