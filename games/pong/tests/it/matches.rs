// Whole matches between headless bots.

use std::net::TcpStream;

use gamekit::testkit::{TempDir, start_bot, start_server};

use crate::{CLIENT, SERVER, WAIT, read_result};

#[test]
fn two_bots_play_to_the_winning_score() {
    let dir = TempDir::new("pong-match");
    let result = dir.path().join("result.json");
    // Ten times the normal tick rate: the same match, played faster.
    let (mut server, port) = start_server(
        SERVER,
        &["--token", "tk", "--points", "2", "--tick-hz", "600"],
        &[("GAMESTORE_RESULT_FILE", result.to_str().unwrap())],
    );
    drop(TcpStream::connect(("127.0.0.1", port)).unwrap()); // the lobby's probe
    let mut left = start_bot(CLIENT, port, "lefty", "tk", &[]);
    let mut right = start_bot(CLIENT, port, "righty", "tk", &[]);
    left.expect_success(WAIT);
    right.expect_success(WAIT);
    server.expect_success(WAIT);

    let report = read_result(&result);
    let winner = report["winner"].as_str().expect("Pong always has a winner").to_string();
    let loser = if winner == "lefty" { "righty" } else { "lefty" };
    assert_eq!(report["draw"], false);
    assert_eq!(report["scores"][&winner], 2);
    assert!(report["scores"][loser].as_i64().unwrap() < 2);
    assert!(report["summary"].as_str().unwrap().starts_with(&format!("{winner} wins 2-")));
    assert!(report["duration_secs"].as_f64().unwrap() > 0.0);
    let winner_output = if winner == "lefty" { left.output() } else { right.output() };
    assert!(winner_output.contains("You win!"), "{winner_output}");
}

#[test]
fn a_wrong_token_is_refused() {
    let (_server, port) = start_server(SERVER, &["--token", "right"], &[]);
    let mut client = start_bot(CLIENT, port, "mallory", "wrong", &[]);
    assert_eq!(client.wait_exit(WAIT).code(), Some(1));
    assert!(client.output().contains("BAD_TOKEN"), "{}", client.output());
}
