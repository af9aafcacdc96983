//! The authoritative Connect Four server: gathers two players, runs the
//! turns, and reports the result.
//!
//! The board lives here only. A move is applied only when it is the mover's
//! turn and the column is legal; anything else is answered with `ILLEGAL` and
//! the turn stays. The match ends with four in a row, a full board, a player
//! quitting or disconnecting (the other wins by forfeit), or a turn running
//! past `--turn-timeout` (the other wins).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use gamekit::flags::{self, Flag, ServerConfig};
use gamekit::handshake::{self, JoinRules, Seat};
use gamekit::inbox::{Inbox, NetEvent};
use gamekit::line::{LineSender, split_word};
use gamekit::result::MatchResult;
use gamekit::{exit, say};

use crate::GAME;
use crate::board::{Board, COLUMNS, Disc};

/// How often the server sends `PING` to both players.
const PING_INTERVAL: Duration = Duration::from_secs(2);
/// How long a player may stay completely silent (clients ping every 5 s).
const IDLE_LIMIT: Duration = Duration::from_secs(20);

/// The server's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The common flags.
    pub common: ServerConfig,
    /// Time allowed for one move.
    pub turn_timeout: Duration,
}

/// The server's flags: the common ones plus `--turn-timeout`.
pub fn flags() -> Vec<Flag> {
    let mut flags = flags::server_flags("2");
    flags.push(Flag::with_default("turn-timeout", "SECS", "120", "Time allowed for one move"));
    flags
}

impl Settings {
    /// Reads the settings from parsed flags.
    pub fn from_flags(parsed: &flags::Parsed) -> Result<Settings, flags::UsageError> {
        Ok(Settings {
            common: ServerConfig::from_flags(parsed, 2..=2)?,
            turn_timeout: parsed.seconds("turn-timeout")?,
        })
    }
}

/// Runs one match; the exit code follows the platform contract.
pub fn run(settings: &Settings) -> ExitCode {
    let listener = match handshake::bind(&settings.common) {
        Ok(listener) => listener,
        Err(error) => {
            say!("error: {error}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let seats = match handshake::gather(listener, &JoinRules::new(GAME, &settings.common)) {
        Ok(seats) => seats,
        Err(error) => {
            say!("error: {error}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let result = Match::new(seats, settings.turn_timeout).play();
    say!("{}", result.summary);
    if let Err(error) = result.report() {
        say!("error: cannot write the result file: {error}");
        return ExitCode::from(exit::FAILURE);
    }
    ExitCode::from(exit::OK)
}

/// How the match ended.
enum Ending {
    Four { winner: usize },
    Draw,
    Forfeit { loser: usize, why: String },
}

/// A seated player, as the match sees them (their reader moved to the inbox).
struct Player {
    index: usize,
    name: String,
    sender: LineSender,
}

struct Match {
    seats: Vec<Player>,
    inbox: Inbox,
    board: Board,
    turn: usize,
    moves: usize,
    turn_timeout: Duration,
    started: Instant,
}

impl Match {
    fn new(seats: Vec<Seat>, turn_timeout: Duration) -> Match {
        let inbox = Inbox::new();
        let mut kept = Vec::with_capacity(seats.len());
        for Seat { index, name, sender, reader } in seats {
            inbox.watch(index, reader, IDLE_LIMIT);
            kept.push(Player { index, name, sender });
        }
        Match {
            seats: kept,
            inbox,
            board: Board::new(),
            turn: 0,
            moves: 0,
            turn_timeout,
            started: Instant::now(),
        }
    }

    fn play(mut self) -> MatchResult {
        for seat in &self.seats {
            for other in &self.seats {
                self.send(
                    seat.index,
                    &format!(
                        "PLAYER {} {} {}",
                        other.index,
                        Disc::of_player(other.index).symbol(),
                        other.name
                    ),
                );
            }
            self.send(seat.index, &format!("START {}", seat.index));
        }
        self.broadcast(&format!("BOARD {}", self.board.encode()));
        self.announce_turn();
        let ending = self.run_turns();
        self.finish(ending)
    }

    fn run_turns(&mut self) -> Ending {
        let mut turn_deadline = Instant::now() + self.turn_timeout;
        let mut next_ping = Instant::now() + PING_INTERVAL;
        loop {
            let Some((who, event)) = self.inbox.next_before(turn_deadline.min(next_ping)) else {
                let now = Instant::now();
                if now >= turn_deadline {
                    let secs = self.turn_timeout.as_secs();
                    return Ending::Forfeit {
                        loser: self.turn,
                        why: format!("ran out of time ({secs} s per move)"),
                    };
                }
                self.broadcast("PING");
                next_ping = now + PING_INTERVAL;
                continue;
            };
            let line = match event {
                NetEvent::Line(line) => line,
                NetEvent::Closed(why) => {
                    return Ending::Forfeit { loser: who, why: format!("left the game ({why})") };
                }
            };
            let (verb, rest) = split_word(&line);
            match verb {
                "PING" => {}
                "QUIT" => {
                    return Ending::Forfeit { loser: who, why: "quit".into() };
                }
                "MOVE" if who != self.turn => self.send(who, "ILLEGAL it is not your turn"),
                "MOVE" => {
                    let Some(col) =
                        rest.trim().parse::<usize>().ok().filter(|c| (1..=COLUMNS).contains(c))
                    else {
                        self.send(who, &format!("ILLEGAL columns are numbered 1 to {COLUMNS}"));
                        continue;
                    };
                    let disc = Disc::of_player(who);
                    match self.board.drop_disc(col - 1, disc) {
                        Err(error) => self.send(who, &format!("ILLEGAL column {col}: {error}")),
                        Ok(cell) => {
                            self.moves += 1;
                            self.broadcast(&format!("MOVED {who} {col}"));
                            self.broadcast(&format!("BOARD {}", self.board.encode()));
                            if let Some(four) = self.board.four_through(cell) {
                                let cells: Vec<String> =
                                    four.iter().map(|(r, c)| format!("{r},{c}")).collect();
                                self.broadcast(&format!("WIN {}", cells.join(" ")));
                                return Ending::Four { winner: who };
                            }
                            if self.board.is_full() {
                                return Ending::Draw;
                            }
                            self.turn = 1 - self.turn;
                            self.announce_turn();
                            turn_deadline = Instant::now() + self.turn_timeout;
                        }
                    }
                }
                _ => {
                    self.send(who, "ILLEGAL unknown command (expected MOVE <column>, QUIT or PING)")
                }
            }
        }
    }

    fn finish(self, ending: Ending) -> MatchResult {
        let name = |i: usize| self.seats[i].name.clone();
        let (winner, summary) = match &ending {
            Ending::Four { winner } => (
                Some(*winner),
                format!(
                    "{} ({}) wins with four in a row after {} moves",
                    name(*winner),
                    Disc::of_player(*winner).symbol(),
                    self.moves
                ),
            ),
            Ending::Draw => (None, format!("draw: the board is full after {} moves", self.moves)),
            Ending::Forfeit { loser, why } => {
                let winner = 1 - loser;
                (Some(winner), format!("{} wins by forfeit: {} {why}", name(winner), name(*loser)))
            }
        };
        let tag = winner.map_or("-".to_string(), |w| w.to_string());
        self.broadcast(&format!("OVER {tag} {summary}"));
        for seat in &self.seats {
            seat.sender.shutdown();
        }
        MatchResult {
            winner: winner.map(name),
            draw: matches!(ending, Ending::Draw),
            scores: self
                .seats
                .iter()
                .map(|s| (s.name.clone(), i64::from(winner == Some(s.index))))
                .collect(),
            duration: self.started.elapsed(),
            summary,
        }
    }

    fn announce_turn(&self) {
        self.broadcast(&format!("TURN {} {}", self.turn, self.turn_timeout.as_secs()));
    }

    /// Sends to one player; a failed write shows up as that player's
    /// `Closed` event from the inbox, so it is not handled here.
    fn send(&self, to: usize, line: &str) {
        let _ = self.seats[to].sender.send(line);
    }

    fn broadcast(&self, line: &str) {
        for seat in &self.seats {
            let _ = seat.sender.send(line);
        }
    }
}
