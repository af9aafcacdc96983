//! The Connect Four terminal client.
//!
//! Three threads feed one channel: the server's lines, the keyboard's lines
//! (not in bot mode) and nothing else; a fourth sends `PING` every few
//! seconds. The main thread owns the game view and reacts to each event, so
//! the screen stays right when the opponent quits while you are typing.
//!
//! Typing a column number 1-7 and Enter drops a disc; `q` quits (the
//! opponent wins). Bad input re-asks. In bot mode (`--bot` or
//! `GAMESTORE_BOT=1`) the bot plays at once and prints one line per move;
//! with `GAMESTORE_BOT=window` the full board is drawn and the bot pauses a
//! moment before each move so a person can follow.

use std::io::{self, BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use gamekit::bot::{BotMode, Rng};
use gamekit::flags::ClientConfig;
use gamekit::handshake;
use gamekit::line::{LineSender, split_word};
use gamekit::{exit, say};

use crate::GAME;
use crate::board::{Board, COLUMNS, Cell, Disc, ROWS};
use crate::bot::choose_move;

/// How often the client tells the server it is still there.
const PING_INTERVAL: Duration = Duration::from_secs(5);
/// Pause before a bot move when someone watches (`GAMESTORE_BOT=window`).
const WATCHED_BOT_DELAY: Duration = Duration::from_millis(600);

enum Event {
    Server(String),
    ServerGone(String),
    Input(String),
    InputClosed,
}

/// Plays one match; returns the process exit code.
pub fn run(config: &ClientConfig) -> ExitCode {
    let connection = match handshake::join(config, GAME) {
        Ok(connection) => connection,
        Err(error) => {
            say!("error: {error}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let (tx, rx) = mpsc::channel();
    {
        let tx = tx.clone();
        let mut reader = connection.reader;
        thread::spawn(move || {
            loop {
                let event = match reader.read_line() {
                    Ok(Some(line)) => Event::Server(line),
                    Ok(None) => Event::ServerGone("the server closed the connection".into()),
                    Err(error) if gamekit::line::is_timeout(&error) => {
                        Event::ServerGone("the server stopped answering".into())
                    }
                    Err(error) => Event::ServerGone(error.to_string()),
                };
                let gone = matches!(event, Event::ServerGone(_));
                if tx.send(event).is_err() || gone {
                    return;
                }
            }
        });
    }
    {
        let sender = connection.sender.clone();
        thread::spawn(move || {
            while sender.send("PING").is_ok() {
                thread::sleep(PING_INTERVAL);
            }
        });
    }
    if !config.bot.is_bot() {
        let tx = tx.clone();
        thread::spawn(move || {
            for line in io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(Event::Input(line)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Event::InputClosed);
        });
    }
    drop(tx);
    let mut view = View::new(config, connection.sender, connection.players);
    view.run(&rx)
}

/// What the client knows of the match.
struct View {
    mode: BotMode,
    my_name: String,
    sender: LineSender,
    rng: Rng,
    color: bool,
    me: Option<usize>,
    names: [String; 2],
    board: Board,
    turn: Option<usize>,
    move_pending: bool,
    winning_four: Option<[Cell; 4]>,
    last_waiting: Option<String>,
}

impl View {
    fn new(config: &ClientConfig, sender: LineSender, players: usize) -> View {
        let color = io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        println!("Joined the Connect Four match as {} ({players} players).", config.name);
        View {
            mode: config.bot,
            my_name: config.name.clone(),
            sender,
            rng: Rng::from_env(&config.name),
            color,
            me: None,
            names: [String::new(), String::new()],
            board: Board::new(),
            turn: None,
            move_pending: false,
            winning_four: None,
            last_waiting: None,
        }
    }

    fn run(&mut self, events: &mpsc::Receiver<Event>) -> ExitCode {
        // Every source ends with a closing event, so this loop cannot hang:
        // the server's reader has a timeout and the server pings.
        while let Ok(event) = events.recv() {
            match event {
                Event::Server(line) => {
                    if let Some(code) = self.on_server(&line) {
                        return code;
                    }
                }
                Event::ServerGone(why) => {
                    say!("error: lost the game server: {why}");
                    return ExitCode::from(exit::FAILURE);
                }
                Event::Input(line) => self.on_input(line.trim()),
                Event::InputClosed => {
                    println!("Input closed: leaving the match.");
                    let _ = self.sender.send("QUIT");
                }
            }
        }
        say!("error: lost the game server");
        ExitCode::from(exit::FAILURE)
    }

    /// Handles one server line; `Some(exit code)` when the client is done.
    fn on_server(&mut self, line: &str) -> Option<ExitCode> {
        let (verb, rest) = split_word(line);
        match verb {
            "PING" | "WELCOME" => {}
            "WAITING" if self.last_waiting.as_deref() != Some(rest) => {
                let mut parts = rest.split(' ');
                let (joined, total) = (parts.next().unwrap_or("?"), parts.next().unwrap_or("?"));
                println!("Waiting for players ({joined} of {total} here)...");
                self.last_waiting = Some(rest.to_string());
            }
            "PLAYER" => {
                let mut parts = rest.splitn(3, ' ');
                let index = parts.next().and_then(|i| i.parse::<usize>().ok()).filter(|&i| i < 2);
                if let (Some(index), Some(_), Some(name)) = (index, parts.next(), parts.next()) {
                    self.names[index] = name.to_string();
                }
            }
            "START" => {
                let me = rest.trim().parse::<usize>().ok().filter(|&i| i < 2)?;
                self.me = Some(me);
                let them = 1 - me;
                println!(
                    "\nConnect Four: {} ({}) against {} ({}). {} moves first.",
                    self.names[me],
                    self.disc_text(Disc::of_player(me)),
                    self.names[them],
                    self.disc_text(Disc::of_player(them)),
                    self.names[0]
                );
                if !self.mode.is_bot() {
                    println!("Type a column number (1-7) and Enter to drop a disc; q quits.");
                }
            }
            "BOARD" => {
                if let Some(board) = Board::decode(rest.trim()) {
                    self.board = board;
                }
            }
            "MOVED" => {
                let mut parts = rest.split(' ');
                let who = parts.next().and_then(|w| w.parse::<usize>().ok()).filter(|&w| w < 2);
                if let (Some(who), Some(col)) = (who, parts.next()) {
                    self.move_pending = false;
                    if Some(who) == self.me && self.mode.is_bot() {
                        return None; // the bot already said so
                    }
                    let disc = self.disc_text(Disc::of_player(who));
                    let name = if Some(who) == self.me { "You" } else { &self.names[who] };
                    println!("{name} ({disc}) played column {col}.");
                }
            }
            "TURN" => {
                let turn = rest
                    .split(' ')
                    .next()
                    .and_then(|t| t.parse::<usize>().ok())
                    .filter(|&t| t < 2)?;
                self.turn = Some(turn);
                self.move_pending = false;
                self.on_turn();
            }
            "ILLEGAL" => {
                self.move_pending = false;
                println!("Move refused: {rest}.");
                if self.turn == self.me {
                    self.on_turn();
                }
            }
            "WIN" => {
                let cells: Vec<Cell> = rest
                    .split(' ')
                    .filter_map(|pair| {
                        let (r, c) = pair.split_once(',')?;
                        Some((r.parse().ok()?, c.parse().ok()?))
                    })
                    .filter(|&(r, c): &Cell| r < ROWS && c < COLUMNS)
                    .collect();
                self.winning_four = cells.try_into().ok();
            }
            "OVER" => {
                let (winner, summary) = split_word(rest);
                self.draw_board();
                let verdict = match winner.parse::<usize>().ok() {
                    Some(w) if Some(w) == self.me => "You win!",
                    Some(_) => "You lose.",
                    None => "It's a draw.",
                };
                println!("Game over: {summary}. {verdict}");
                return Some(ExitCode::from(exit::OK));
            }
            "ERR" => println!("Server error: {rest}"),
            _ => {}
        }
        None
    }

    fn on_turn(&mut self) {
        let (Some(me), Some(turn)) = (self.me, self.turn) else {
            return;
        };
        if self.mode != BotMode::Headless {
            self.draw_board();
        }
        if turn != me {
            println!(
                "Waiting for {} ({})...",
                self.names[turn],
                self.disc_text(Disc::of_player(turn))
            );
            return;
        }
        if self.mode.is_bot() {
            if self.mode == BotMode::Window {
                thread::sleep(WATCHED_BOT_DELAY);
            }
            if let Some(col) = choose_move(&self.board, Disc::of_player(me), &mut self.rng) {
                println!("{} (bot) plays column {}.", self.my_name, col + 1);
                self.send_move(col + 1);
            }
        } else {
            self.prompt();
        }
    }

    fn on_input(&mut self, input: &str) {
        if input.is_empty() {
            if self.turn == self.me && self.me.is_some() {
                self.prompt();
            }
            return;
        }
        if matches!(input.to_ascii_lowercase().as_str(), "q" | "quit" | "exit") {
            println!("You left the match.");
            let _ = self.sender.send("QUIT");
            return;
        }
        let (Some(me), Some(turn)) = (self.me, self.turn) else {
            println!("The match has not started yet: waiting for the other player.");
            return;
        };
        if turn != me {
            println!("It's not your turn yet: waiting for {}.", self.names[turn]);
            return;
        }
        if self.move_pending {
            println!("Your move is on its way...");
            return;
        }
        match input.parse::<usize>() {
            Ok(col) if (1..=COLUMNS).contains(&col) => {
                if self.board.can_drop(col - 1) {
                    self.send_move(col);
                } else {
                    println!("Column {col} is full: pick another.");
                    self.prompt();
                }
            }
            _ => {
                println!("Please type a column number from 1 to {COLUMNS} (or q to quit).");
                self.prompt();
            }
        }
    }

    fn send_move(&mut self, col: usize) {
        self.move_pending = true;
        if let Err(error) = self.sender.send(&format!("MOVE {col}")) {
            say!("cannot send the move: {error}");
        }
    }

    fn prompt(&self) {
        let Some(me) = self.me else { return };
        print!(
            "Your move, {} ({}): column 1-7, q to quit > ",
            self.names[me],
            self.disc_text(Disc::of_player(me))
        );
        let _ = io::stdout().flush();
    }

    fn draw_board(&self) {
        let mut out = String::from("\n  ");
        for col in 1..=COLUMNS {
            out.push_str(&format!(" {col}"));
        }
        out.push('\n');
        for row in 0..ROWS {
            out.push_str("  |");
            for col in 0..COLUMNS {
                out.push(' ');
                let winning = self.winning_four.is_some_and(|four| four.contains(&(row, col)));
                match self.board.at((row, col)) {
                    Some(disc) if winning && self.color => {
                        out.push_str(&format!("\x1b[7m{}", self.disc_text(disc)))
                    }
                    Some(disc) if winning => out.push(disc.symbol().to_ascii_lowercase()),
                    Some(disc) => out.push_str(&self.disc_text(disc)),
                    None => out.push('.'),
                }
            }
            out.push_str(" |\n");
        }
        out.push_str(&format!("  +{}+\n", "-".repeat(COLUMNS * 2 + 1)));
        print!("{out}");
        let _ = io::stdout().flush();
    }

    /// `X` or `O`, coloured (red, yellow) on a terminal.
    fn disc_text(&self, disc: Disc) -> String {
        if !self.color {
            return disc.symbol().to_string();
        }
        let code = match disc {
            Disc::X => "1;31",
            Disc::O => "1;33",
        };
        format!("\x1b[{code}m{}\x1b[0m", disc.symbol())
    }
}
