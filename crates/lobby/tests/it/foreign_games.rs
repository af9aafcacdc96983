//! Games written for other launchers, fitted by their config.json alone:
//! the sample `nim` game (Python, stdlib only) takes its own flags, a
//! numeric player id and a seat, runs a blocking terminal loop and prints
//! its result; the platform publishes it and plays it end to end.

use std::thread;

use gamestore_testkit::{Cli, LobbyOptions, Output, TestLobby, game_package};

use crate::world::{PASSWORD, events_of};

#[test]
fn a_python_game_for_another_launcher_publishes_and_plays_by_its_config_alone() {
    let lobby = TestLobby::start_with(LobbyOptions::default());
    let tmp = tempfile::tempdir().unwrap();
    let dev = Cli::dev(&lobby, &tmp.path().join("dev"));
    dev.sign_up("dana", PASSWORD);
    dev.run(&["publish", game_package("nim").to_str().unwrap()]).ok();

    let players: Vec<Cli> = ["ann", "bob"]
        .iter()
        .map(|name| {
            let cli = Cli::player(&lobby, &tmp.path().join(name));
            cli.sign_up(name, PASSWORD);
            cli
        })
        .collect();
    let handles: Vec<_> = players
        .iter()
        .map(|cli| {
            let cli = cli.clone();
            thread::spawn(move || cli.run(&["play", "nim", "--start-when", "2", "--json"]))
        })
        .collect();
    let outs: Vec<Output> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for out in &outs {
        out.ok();
    }

    // Seats are the joining order, the same for everyone; each client was
    // told its own seat ({seat}) and saw the names ({player_list} in env).
    let seating: Vec<String> = events_of(&outs[0], "game_start")[0]["players"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    for (out, me) in outs.iter().zip(["ann", "bob"]) {
        assert!(out.stdout.contains(&format!("You are {me}.")), "{out}");
        let room = events_of(out, "room")[0]["id"].as_u64().unwrap();
        assert!(out.stdout.contains(&format!("Last Stone, room {room}.")), "{out}");
    }

    // The result the server printed (`"result": "stdout"`) is the match's.
    let ended = &events_of(&outs[0], "match_ended")[0];
    assert_eq!(ended["outcome"], "completed", "{}", outs[0]);
    let winner = ended["result"]["winner"].as_str().expect("a winner");
    assert!(seating.iter().any(|p| p == winner), "{ended}");
    assert_eq!(ended["message"], format!("{winner} took the last stone"));
    let history = players[1].run(&["history", "--json"]).ok().json();
    assert_eq!(history[0]["result"]["winner"], winner);

    // The server got the seat order by name ({player_list}) and each client
    // joined with its numeric account id ({player_id}) and seat ({seat}).
    let match_id = ended["match_id"].as_i64().unwrap();
    let log = std::fs::read_to_string(
        lobby.data_dir().join("matches").join(match_id.to_string()).join("server.log"),
    )
    .unwrap();
    let mut ids = Vec::new();
    for (seat, name) in seating.iter().enumerate() {
        let line = log
            .lines()
            .find(|l| l.starts_with(&format!("seat {seat}: {name} (id ")))
            .unwrap_or_else(|| panic!("seat {seat} ({name}) in the server log:\n{log}"));
        let id: i64 = line
            .split("(id ")
            .nth(1)
            .unwrap()
            .trim_end_matches(" joined")
            .trim_end_matches(')')
            .parse()
            .unwrap();
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1], "{log}");
}
