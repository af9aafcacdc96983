// A real window under a private Xvfb display, driven by the bot: it must
// open and show the game (not a blank picture). Fails without Xvfb.

use std::process::{Command, Stdio};

use gamekit::testkit::{
    Display, Proc, TempDir, capture_window, image_spread, sample_pixels, screenshot_path,
    start_bot, start_server,
};
use pong::sim::HEIGHT;

use crate::{CLIENT, SERVER, WAIT};

/// The right player's paddle colour (see `pong::client`).
const RIGHT_PADDLE: u32 = 0xffb74d;
/// The colour of on-field messages (see `pong::client`).
const MESSAGE_TEXT: u32 = 0xe0e6f0;

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
    // Accept a picture that is far from blank and shows the ball in play:
    // the right paddle's colour somewhere down its column, and no message
    // (countdown or "... scores!") across the middle line of text.
    let column: Vec<(u32, u32)> = (0..HEIGHT as u32).step_by(8).map(|y| (610, y)).collect();
    let message_row: Vec<(u32, u32)> = (160..480).step_by(2).map(|x| (x, 187)).collect();
    capture_window(&display, "Pong - viewer", &path, WAIT, |picture| {
        let spread = image_spread(picture)?;
        let paddle = sample_pixels(picture, &column)?.contains(&RIGHT_PADDLE);
        let message = sample_pixels(picture, &message_row)?.contains(&MESSAGE_TEXT);
        Ok(spread >= 0.05 && paddle && !message)
    })
    .unwrap_or_else(|e| panic!("{e}; client output:\n{}", windowed.output()));
}
