// Whole matches between headless bots, including a player who leaves.

use std::net::TcpStream;

use gamekit::testkit::{Proc, RawPeer, TempDir, start_bot, start_server};

use crate::{CLIENT, SERVER, WAIT, read_result};

#[test]
fn three_bots_play_every_round() {
    let dir = TempDir::new("arena-match");
    let result = dir.path().join("result.json");
    let (mut server, port) = start_server(
        SERVER,
        &["--players", "3", "--token", "tk", "--rounds", "2", "--tick-hz", "400"],
        &[("GAMESTORE_RESULT_FILE", result.to_str().unwrap())],
    );
    drop(TcpStream::connect(("127.0.0.1", port)).unwrap()); // the lobby's probe
    let names = ["ann", "bob", "cy"];
    let mut bots: Vec<Proc> = names.iter().map(|n| start_bot(CLIENT, port, n, "tk", &[])).collect();
    for bot in &mut bots {
        bot.expect_success(WAIT);
        assert!(bot.output().contains("Game over:"), "{}", bot.output());
    }
    server.expect_success(WAIT);
    assert!(server.output().contains("round 2:"), "{}", server.output());

    let report = read_result(&result);
    let scores = report["scores"].as_object().unwrap();
    assert_eq!(scores.len(), 3);
    // Each round hands out 2 + 1 points when the three crash one by one, and
    // fewer when some crash together: at most 6 over two rounds.
    let total: i64 = scores.values().map(|v| v.as_i64().unwrap()).sum();
    assert!((0..=6).contains(&total), "total {total}: {report}");
    match report["winner"].as_str() {
        Some(winner) => {
            let best = scores.values().map(|v| v.as_i64().unwrap()).max().unwrap();
            assert_eq!(scores[winner].as_i64().unwrap(), best);
            assert_eq!(report["draw"], false);
        }
        None => assert_eq!(report["draw"], true, "{report}"),
    }
}

#[test]
fn the_match_goes_on_when_one_of_three_leaves() {
    let dir = TempDir::new("arena-leave");
    let result = dir.path().join("result.json");
    let (mut server, port) = start_server(
        SERVER,
        &["--players", "3", "--token", "t", "--rounds", "2", "--tick-hz", "400"],
        &[("GAMESTORE_RESULT_FILE", result.to_str().unwrap())],
    );
    let mut quitter = RawPeer::connect(port);
    quitter.send("HELLO arena/1 t quitter");
    assert_eq!(quitter.recv_until("WELCOME"), "WELCOME 3");
    let mut bots: Vec<Proc> =
        ["ann", "bob"].iter().map(|n| start_bot(CLIENT, port, n, "t", &[])).collect();
    quitter.recv_until("ROUND 1 ");
    drop(quitter);
    for bot in &mut bots {
        bot.expect_success(WAIT);
    }
    server.expect_success(WAIT);
    assert!(server.output().contains("quitter left the game"), "{}", server.output());
    assert!(server.output().contains("round 2:"), "two rounds were played: {}", server.output());
    let report = read_result(&result);
    assert_eq!(report["scores"]["quitter"], 0);
    assert_ne!(report["winner"], "quitter");
}

#[test]
fn a_wrong_token_is_refused() {
    let (_server, port) = start_server(SERVER, &["--players", "3", "--token", "right"], &[]);
    let mut client = start_bot(CLIENT, port, "mallory", "wrong", &[]);
    assert_eq!(client.wait_exit(WAIT).code(), Some(1));
    assert!(client.output().contains("BAD_TOKEN"), "{}", client.output());
}
