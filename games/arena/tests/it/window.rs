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

/// A player who presses Esc leaves a match that goes on without them, and
/// the client exits 0 (a voluntary end, as games/README.md promises).
/// Needs Xvfb and xdotool (to press the key in the window).
#[test]
fn escape_leaves_the_match_with_exit_0() {
    let display =
        Display::start().unwrap_or_else(|e| panic!("the window test needs a display: {e}"));
    let (_server, port) = start_server(SERVER, &["--players", "3", "--token", "q"], &[]);
    let mut command = Command::new(CLIENT);
    command
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--name", "leaver"])
        .args(["--token", "q"])
        .env("DISPLAY", display.name())
        .env_remove("GAMESTORE_BOT")
        .stdin(Stdio::null());
    let mut human = Proc::spawn("leaver", command);
    human.wait_for("Joined the match", WAIT);
    let _bots: Vec<Proc> =
        ["ada", "ben"].iter().map(|n| start_bot(CLIENT, port, n, "q", &[])).collect();
    human.wait_for("Match started", WAIT);

    // Focus the window and hold Esc down (through the X test extension)
    // until the client has seen it: the window reads key states once a
    // frame, so a press and release within one frame would go unseen.
    let xdotool = |args: &[&str]| {
        let status = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", display.name())
            .status()
            .expect("run xdotool (install it to run this test)");
        assert!(status.success(), "xdotool {args:?} failed");
    };
    xdotool(&["search", "--sync", "--name", "Arena - leaver", "windowfocus", "--sync", "%1"]);
    xdotool(&["keydown", "Escape"]);
    human.wait_for("Escape pressed", WAIT);
    xdotool(&["keyup", "Escape"]);
    let status = human.wait_exit(WAIT);
    assert_eq!(status.code(), Some(0), "client output:\n{}", human.output());
    assert!(!human.output().contains("error:"), "{}", human.output());
}
