// A real window under a private Xvfb display, driven by the bot: it must
// open and show the game (not a blank picture). Fails without Xvfb.

use gamekit::testkit::{
    Display, Proc, TempDir, capture_window, screenshot_path, start_bot, start_server,
};
use std::process::{Command, Stdio};

use crate::{CLIENT, SERVER, WAIT};

#[test]
fn the_window_shows_the_match() {
    let display =
        Display::start().unwrap_or_else(|e| panic!("the window test needs a display: {e}"));
    let dir = TempDir::new("pong-window");
    let (_server, port) = start_server(SERVER, &["--token", "w"], &[]);
    let mut command = Command::new(CLIENT);
    command
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--name",
            "viewer",
            "--token",
            "w",
        ])
        .env("DISPLAY", display.name())
        .env("GAMESTORE_BOT", "window")
        .stdin(Stdio::null());
    let windowed = Proc::spawn("viewer", command);
    windowed.wait_for("Joined the match", WAIT);
    let _bot = start_bot(CLIENT, port, "rival", "w", &[]);
    windowed.wait_for("Match started", WAIT);

    let path = screenshot_path("pong.png", dir.path());
    let spread = capture_window(&display, "Pong - viewer", &path, 0.05, WAIT)
        .unwrap_or_else(|e| panic!("{e}; client output:\n{}", windowed.output()));
    assert!(spread >= 0.05, "the window looks blank (spread {spread}): {}", path.display());
}
