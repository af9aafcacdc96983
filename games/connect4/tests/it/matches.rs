// Whole matches between bots, with the lobby's probe and stray peers around.

use std::io::Write;
use std::net::TcpStream;

use gamekit::testkit::{TempDir, start_bot, start_server};

use crate::{CLIENT, SERVER, WAIT, read_result};

#[test]
fn two_bots_play_a_match_to_the_end() {
    let dir = TempDir::new("c4-match");
    let result = dir.path().join("result.json");
    let (mut server, port) = start_server(
        SERVER,
        &["--token", "tok"],
        &[("GAMESTORE_RESULT_FILE", result.to_str().unwrap())],
    );
    // The lobby's readiness probe and a peer sending garbage must not count.
    drop(TcpStream::connect(("127.0.0.1", port)).unwrap());
    TcpStream::connect(("127.0.0.1", port)).unwrap().write_all(b"\x00\x01garbage\n").unwrap();

    let mut ann = start_bot(CLIENT, port, "ann", "tok", &[("GAMESTORE_BOT_SEED", "1")]);
    let mut bob = start_bot(CLIENT, port, "bob", "tok", &[("GAMESTORE_BOT_SEED", "2")]);
    ann.expect_success(WAIT);
    bob.expect_success(WAIT);
    server.expect_success(WAIT);

    let report = read_result(&result);
    let summary = report["summary"].as_str().unwrap();
    let scores = report["scores"].as_object().unwrap();
    assert_eq!(scores.len(), 2);
    assert!(scores.contains_key("ann") && scores.contains_key("bob"));
    if report["draw"] == true {
        assert_eq!(report["winner"], serde_json::Value::Null);
        assert!(summary.contains("draw"), "{summary}");
    } else {
        let winner = report["winner"].as_str().unwrap();
        assert!(winner == "ann" || winner == "bob");
        assert_eq!(report["scores"][winner], 1);
        assert!(summary.contains("four in a row"), "{summary}");
    }
    for client in [&ann, &bob] {
        assert!(client.output().contains("Game over:"), "{}", client.output());
    }
}

#[test]
fn a_wrong_token_is_refused() {
    let (_server, port) = start_server(SERVER, &["--token", "right"], &[]);
    let mut client = start_bot(CLIENT, port, "mallory", "wrong", &[]);
    assert_eq!(client.wait_exit(WAIT).code(), Some(1));
    assert!(client.output().contains("BAD_TOKEN"), "{}", client.output());
}
