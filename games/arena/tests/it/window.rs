// A real window under a private Xvfb display, driven by the bot: it must
// open and show the riders' trails (not a blank picture). Fails without Xvfb.

use std::collections::HashSet;
use std::process::{Command, Stdio};

use arena::client::PLAYER_COLORS;
use gamekit::canvas::scale_color;
use gamekit::testkit::{
    Display, Proc, TempDir, capture_window, image_spread, sample_pixels, screenshot_path,
    start_bot, start_server,
};

use crate::{CLIENT, SERVER, WAIT};

#[test]
fn the_window_shows_the_riders() {
    let display =
        Display::start().unwrap_or_else(|e| panic!("the window test needs a display: {e}"));
    let dir = TempDir::new("arena-window");
    let (_server, port) = start_server(SERVER, &["--players", "4", "--token", "w"], &[]);
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
    let _bots: Vec<Proc> =
        ["ada", "ben", "cleo"].iter().map(|n| start_bot(CLIENT, port, n, "w", &[])).collect();
    windowed.wait_for("Match started", WAIT);

    // Trails are drawn at 150/255 of a rider's colour. Sample every cell of
    // every fourth grid row (cells are 8 px, the grid starts 40 px down).
    let trails: Vec<u32> = PLAYER_COLORS.iter().map(|&c| scale_color(c, 150)).collect();
    let points: Vec<(u32, u32)> = (0..55)
        .step_by(4)
        .flat_map(|row| (0..80).map(move |col| (col * 8 + 4, 40 + row * 8 + 4)))
        .collect();
    let path = screenshot_path("arena.png", dir.path());
    capture_window(&display, "Arena - viewer", &path, WAIT, |picture| {
        let on_trails: Vec<u32> =
            sample_pixels(picture, &points)?.into_iter().filter(|c| trails.contains(c)).collect();
        let riders: HashSet<u32> = on_trails.iter().copied().collect();
        // Three riders' trails, long enough to cross the sampled rows a lot.
        Ok(image_spread(picture)? >= 0.03 && riders.len() >= 3 && on_trails.len() >= 40)
    })
    .unwrap_or_else(|e| panic!("{e}; client output:\n{}", windowed.output()));
}
