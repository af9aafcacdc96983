//! The window of the GUI games: a thin layer over `minifb` that shows a
//! [`Canvas`] and reports the keyboard.
//!
//! `minifb` loads Xlib at run time, so a game built with it starts on a
//! machine without X11 development files; it only fails, with a clear error,
//! when there is no display to open a window on.

use crate::canvas::Canvas;

pub use minifb::Key;

/// An open game window.
pub struct GameWindow {
    window: minifb::Window,
}

impl GameWindow {
    /// Opens a `width` x `height` window titled `title`.
    pub fn open(title: &str, width: usize, height: usize) -> Result<GameWindow, String> {
        let options = minifb::WindowOptions { resize: false, ..minifb::WindowOptions::default() };
        let mut window = minifb::Window::new(title, width, height, options).map_err(|e| {
            let display = std::env::var("DISPLAY").unwrap_or_default();
            if display.is_empty() {
                format!("cannot open a window: DISPLAY is not set ({e}); set GAMESTORE_BOT=1 to let a bot play headless")
            } else {
                format!("cannot open a window on display {display}: {e}")
            }
        })?;
        window.set_target_fps(60);
        Ok(GameWindow { window })
    }

    /// Shows the canvas and processes window events; waits for the next
    /// frame at 60 frames per second.
    pub fn present(&mut self, canvas: &Canvas) -> Result<(), String> {
        self.window
            .update_with_buffer(canvas.pixels(), canvas.width(), canvas.height())
            .map_err(|e| format!("cannot draw the window: {e}"))
    }

    /// Whether the window is still open (the user has not closed it).
    pub fn is_open(&self) -> bool {
        self.window.is_open()
    }

    /// Whether `key` is held down now.
    pub fn is_down(&self, key: Key) -> bool {
        self.window.is_key_down(key)
    }

    /// Keys pressed since the last frame (no key repeat).
    pub fn pressed(&self) -> Vec<Key> {
        self.window.get_keys_pressed(minifb::KeyRepeat::No)
    }
}

/// How a finished match ended, as a client shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The winner's seat, `None` for a draw.
    pub winner: Option<usize>,
    /// The server's one-line summary.
    pub summary: String,
}

/// A GUI game's client side, driven by [`run_client`].
pub trait GuiGame {
    /// Window title.
    fn title(&self) -> String;
    /// Canvas size in pixels.
    fn size(&self) -> (usize, usize);
    /// Applies one line from the server (the handshake is already done).
    fn on_server_line(&mut self, line: &str);
    /// This client's seat, once the match has started.
    fn me(&self) -> Option<usize>;
    /// The outcome, once the server said the match is over.
    fn outcome(&self) -> Option<&Outcome>;
    /// Lines to send for a person at `window` this frame.
    fn human_input(&mut self, window: &GameWindow) -> Vec<String>;
    /// Lines to send for the bot now.
    fn bot_input(&mut self) -> Vec<String>;
    /// Draws the current frame; `result_left` counts down the seconds the
    /// result screen stays up once the match is over.
    fn draw(&self, canvas: &mut Canvas, result_left: Option<u64>);
}

/// How long the result screen stays up.
pub const RESULT_SCREEN: std::time::Duration = std::time::Duration::from_secs(5);
/// Clients send something at least this often (`PING` when idle).
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_millis(1000);

enum NetMsg {
    Line(String),
    Gone(String),
}

/// Runs a GUI game's client: joins the match, then either plays headless
/// (bot mode), or opens the window and plays with the keyboard or the bot.
/// Returns the process exit code.
pub fn run_client<G: GuiGame>(
    config: &crate::flags::ClientConfig,
    game_tag: &str,
    mut game: G,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use crate::bot::BotMode;
    use crate::{exit, say};

    let connection = match crate::handshake::join(config, game_tag) {
        Ok(connection) => connection,
        Err(error) => {
            say!("error: {error}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let players = connection.players;
    let sender = connection.sender;
    let (tx, rx) = mpsc::channel();
    let mut reader = connection.reader;
    std::thread::spawn(move || {
        loop {
            let message = match reader.read_line() {
                Ok(Some(line)) => NetMsg::Line(line),
                Ok(None) => NetMsg::Gone("the server closed the connection".into()),
                Err(e) if crate::line::is_timeout(&e) => {
                    NetMsg::Gone("the server stopped answering".into())
                }
                Err(e) => NetMsg::Gone(e.to_string()),
            };
            let gone = matches!(message, NetMsg::Gone(_));
            if tx.send(message).is_err() || gone {
                return;
            }
        }
    });

    let mut last_sent = Instant::now();
    let send_all = |lines: Vec<String>, last_sent: &mut Instant| -> bool {
        let mut ok = true;
        for line in lines
            .iter()
            .map(String::as_str)
            .chain((last_sent.elapsed() >= HEARTBEAT).then_some("PING"))
        {
            ok &= sender.send(line).is_ok();
            *last_sent = Instant::now();
        }
        ok
    };
    let finish = |game: &G| -> ExitCode {
        if let Some(outcome) = game.outcome() {
            let verdict = match (outcome.winner, game.me()) {
                (None, _) => "It's a draw.",
                (Some(w), Some(me)) if w == me => "You win!",
                _ => "You lose.",
            };
            println!("Game over: {}. {verdict}", outcome.summary);
        }
        ExitCode::from(exit::OK)
    };

    let how = match config.bot {
        BotMode::Human => "",
        BotMode::Headless => " (bot, no window)",
        BotMode::Window => " (bot, window)",
    };
    println!("Joined the match as {}{how}; {} players.", config.name, players);
    if config.bot == BotMode::Headless {
        loop {
            let first = rx.recv_timeout(Duration::from_millis(100));
            let mut batch: Vec<NetMsg> = Vec::new();
            match first {
                Ok(message) => batch.push(message),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    batch.push(NetMsg::Gone("connection lost".into()))
                }
            }
            batch.extend(rx.try_iter());
            for message in batch {
                match message {
                    NetMsg::Line(line) => game.on_server_line(&line),
                    NetMsg::Gone(why) => {
                        if game.outcome().is_some() {
                            return finish(&game);
                        }
                        say!("error: lost the game server: {why}");
                        return ExitCode::from(exit::FAILURE);
                    }
                }
            }
            if game.outcome().is_some() {
                return finish(&game);
            }
            // A failed send shows up as the reader's `Gone` on the next turn.
            send_all(game.bot_input(), &mut last_sent);
        }
    }

    let (width, height) = game.size();
    let mut window = match GameWindow::open(&game.title(), width, height) {
        Ok(window) => window,
        Err(error) => {
            say!("error: {error}");
            let _ = sender.send("QUIT");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let mut canvas = Canvas::new(width, height);
    let mut over_since: Option<Instant> = None;
    let mut quit_sent = false;
    loop {
        for message in rx.try_iter() {
            match message {
                NetMsg::Line(line) => game.on_server_line(&line),
                NetMsg::Gone(why) => {
                    if game.outcome().is_some() {
                        continue;
                    }
                    if quit_sent {
                        // The server lets a quitting player go; the match
                        // may go on without them. Leaving is a clean end.
                        println!("You left the match.");
                        return ExitCode::from(exit::OK);
                    }
                    say!("error: lost the game server: {why}");
                    return ExitCode::from(exit::FAILURE);
                }
            }
        }
        if game.outcome().is_some() && over_since.is_none() {
            over_since = Some(Instant::now());
        }
        if !window.is_open() {
            if game.outcome().is_none() {
                println!("Window closed: leaving the match.");
                let _ = sender.send("QUIT");
            }
            return finish(&game);
        }
        let pressed = window.pressed();
        match over_since {
            Some(since) => {
                let dismissed =
                    pressed.iter().any(|k| matches!(k, Key::Escape | Key::Enter | Key::Space));
                if dismissed || since.elapsed() >= RESULT_SCREEN {
                    return finish(&game);
                }
            }
            None => {
                if pressed.contains(&Key::Escape) && !quit_sent {
                    println!("Escape pressed: leaving the match.");
                    let _ = sender.send("QUIT");
                    quit_sent = true;
                }
                let lines =
                    if config.bot.is_bot() { game.bot_input() } else { game.human_input(&window) };
                send_all(lines, &mut last_sent);
            }
        }
        let result_left =
            over_since.map(|since| RESULT_SCREEN.saturating_sub(since.elapsed()).as_secs() + 1);
        game.draw(&mut canvas, result_left);
        if let Err(error) = window.present(&canvas) {
            say!("error: {error}");
            return ExitCode::from(exit::FAILURE);
        }
    }
}
