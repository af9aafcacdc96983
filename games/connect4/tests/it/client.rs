// The terminal client as a person uses it: typed input, re-asking, quitting.

use std::io::Write;
use std::process::{Command, Stdio};

use gamekit::testkit::{Proc, start_bot, start_server};

use crate::{CLIENT, SERVER, WAIT};

#[test]
fn bad_input_re_asks_and_q_quits() {
    let (mut server, port) = start_server(SERVER, &["--token", "t"], &[]);
    let mut command = Command::new(CLIENT);
    command
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--name",
            "human",
            "--token",
            "t",
        ])
        .env_remove("GAMESTORE_BOT")
        .stdin(Stdio::piped());
    let mut human = Proc::spawn("human", command);
    let mut keyboard = human.stdin();
    human.wait_for("Waiting for players (1 of 2", WAIT);
    let mut bot = start_bot(CLIENT, port, "robot", "t", &[]);

    // The human joined first, so plays X and moves first.
    human.wait_for("Your move, human (X)", WAIT);
    writeln!(keyboard, "banana").unwrap();
    human.wait_for("Please type a column number from 1 to 7", WAIT);
    writeln!(keyboard, "9").unwrap();
    human.wait_for("Please type a column number from 1 to 7", WAIT);
    writeln!(keyboard, "4").unwrap();
    human.wait_for("You (X) played column 4.", WAIT);
    human.wait_for("robot (O) played column", WAIT);
    human.wait_for("Your move, human (X)", WAIT);
    writeln!(keyboard, "q").unwrap();
    human.wait_for("You left the match.", WAIT);
    human.wait_for("Game over: robot wins by forfeit: human quit. You lose.", WAIT);
    human.expect_success(WAIT);
    bot.expect_success(WAIT);
    assert!(bot.output().contains("You win!"), "{}", bot.output());
    server.expect_success(WAIT);
}
