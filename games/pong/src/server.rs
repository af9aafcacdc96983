//! The Pong server: gathers two players, runs the simulation at a fixed
//! tick, sends every tick's state to both, and reports the result.
//!
//! A player who quits, disconnects, stops reading or sends more than a
//! handful of malformed lines loses by forfeit; the server then ends
//! normally (exit 0) and says so in the summary.

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gamekit::flags::{self, Flag, ServerConfig};
use gamekit::handshake::{self, JoinRules, Seat};
use gamekit::inbox::{Inbox, NetEvent};
use gamekit::line::LineSender;
use gamekit::result::MatchResult;
use gamekit::{exit, say};

use crate::GAME;
use crate::protocol::{ClientMsg, ServerMsg};
use crate::sim::Field;

/// How long a player may stay silent (clients send at least once a second).
const IDLE_LIMIT: Duration = Duration::from_secs(10);
/// Malformed lines tolerated from one player before they are put out.
const GARBAGE_LIMIT: u32 = 20;

/// The server's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The common flags.
    pub common: ServerConfig,
    /// Points needed to win.
    pub points: u32,
    /// Simulation ticks per second; 60 is normal speed.
    pub tick_hz: u32,
}

/// The server's flags: the common ones plus `--points` and `--tick-hz`.
pub fn flags() -> Vec<Flag> {
    let mut flags = flags::server_flags("2");
    flags.push(Flag::with_default("points", "N", "5", "Points needed to win (1-21)"));
    flags.push(Flag::with_default(
        "tick-hz",
        "N",
        "60",
        "Simulation ticks per second: 60 is normal speed, more plays faster (tests)",
    ));
    flags
}

impl Settings {
    /// Reads the settings from parsed flags.
    pub fn from_flags(parsed: &flags::Parsed) -> Result<Settings, flags::UsageError> {
        Ok(Settings {
            common: ServerConfig::from_flags(parsed, 2..=2)?,
            points: parsed.ranged("points", 1..=21)?,
            tick_hz: parsed.ranged("tick-hz", 10..=1000)?,
        })
    }
}

/// Runs one match; the exit code follows the platform contract.
pub fn run(settings: &Settings) -> ExitCode {
    let seats =
        match handshake::bind(&settings.common).map_err(|e| e.to_string()).and_then(|listener| {
            handshake::gather(listener, &JoinRules::new(GAME, &settings.common))
                .map_err(|e| e.to_string())
        }) {
            Ok(seats) => seats,
            Err(error) => {
                say!("error: {error}");
                return ExitCode::from(exit::FAILURE);
            }
        };
    let result = Match::new(seats, settings).play();
    say!("{}", result.summary);
    if let Err(error) = result.report() {
        say!("error: cannot write the result file: {error}");
        return ExitCode::from(exit::FAILURE);
    }
    ExitCode::from(exit::OK)
}

enum Ending {
    Won { winner: usize },
    Forfeit { loser: usize, why: String },
}

struct Player {
    name: String,
    sender: LineSender,
    garbage: u32,
}

struct Match {
    players: Vec<Player>,
    inbox: Inbox,
    field: Field,
    points: u32,
    period: Duration,
}

impl Match {
    fn new(seats: Vec<Seat>, settings: &Settings) -> Match {
        let inbox = Inbox::new();
        let players = seats
            .into_iter()
            .map(|Seat { index, name, sender, reader }| {
                inbox.watch(index, reader, IDLE_LIMIT);
                Player { name, sender, garbage: 0 }
            })
            .collect();
        let seed =
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
        Match {
            players,
            inbox,
            field: Field::new(seed),
            points: settings.points,
            period: Duration::from_secs_f64(1.0 / f64::from(settings.tick_hz)),
        }
    }

    fn play(mut self) -> MatchResult {
        let started = Instant::now();
        for you in 0..2 {
            for (index, player) in self.players.iter().enumerate() {
                let _ = self.players[you]
                    .sender
                    .send(&ServerMsg::Player { index, name: player.name.clone() }.encode());
            }
            let _ = self.players[you]
                .sender
                .send(&ServerMsg::Start { you, points: self.points }.encode());
        }
        let ending = self.run_ticks();
        self.finish(ending, started.elapsed())
    }

    fn run_ticks(&mut self) -> Ending {
        let mut next_tick = Instant::now() + self.period;
        loop {
            while let Some((who, event)) = self.inbox.next_before(next_tick) {
                if let Some(ending) = self.on_event(who, event) {
                    return ending;
                }
            }
            if let Some(scorer) = self.field.step() {
                let [a, b] = self.field.scores();
                say!("{} scores ({a}-{b})", self.players[scorer].name);
            }
            let state = ServerMsg::State(self.field.snapshot()).encode();
            for (index, player) in self.players.iter().enumerate() {
                if player.sender.send(&state).is_err() {
                    return Ending::Forfeit { loser: index, why: "stopped responding".into() };
                }
            }
            if let Some(winner) = (0..2).find(|&p| self.field.scores()[p] >= self.points) {
                return Ending::Won { winner };
            }
            next_tick += self.period;
            let now = Instant::now();
            if now > next_tick + Duration::from_secs(1) {
                next_tick = now + self.period; // fell far behind: do not race to catch up
            }
        }
    }

    fn on_event(&mut self, who: usize, event: NetEvent) -> Option<Ending> {
        let line = match event {
            NetEvent::Line(line) => line,
            NetEvent::Closed(why) => {
                return Some(Ending::Forfeit { loser: who, why: format!("left the game ({why})") });
            }
        };
        match ClientMsg::parse(&line) {
            Some(ClientMsg::Input(direction)) => self.field.set_input(who, direction),
            Some(ClientMsg::Ping) => {}
            Some(ClientMsg::Quit) => {
                return Some(Ending::Forfeit { loser: who, why: "quit".into() });
            }
            None => {
                let player = &mut self.players[who];
                player.garbage += 1;
                let _ = player.sender.send("ERR BAD_MESSAGE expected IN <-1|0|1>, QUIT or PING");
                if player.garbage > GARBAGE_LIMIT {
                    return Some(Ending::Forfeit {
                        loser: who,
                        why: "kept sending malformed messages".into(),
                    });
                }
            }
        }
        None
    }

    fn finish(self, ending: Ending, duration: Duration) -> MatchResult {
        let scores = self.field.scores();
        let (winner, summary) = match ending {
            Ending::Won { winner } => {
                let loser = 1 - winner;
                (
                    winner,
                    format!(
                        "{} wins {}-{}",
                        self.players[winner].name, scores[winner], scores[loser]
                    ),
                )
            }
            Ending::Forfeit { loser, why } => {
                let winner = 1 - loser;
                (
                    winner,
                    format!(
                        "{} wins by forfeit: {} {why} (score {}-{})",
                        self.players[winner].name,
                        self.players[loser].name,
                        scores[winner],
                        scores[loser]
                    ),
                )
            }
        };
        let over = ServerMsg::Over { winner: Some(winner), summary: summary.clone() }.encode();
        for player in &self.players {
            let _ = player.sender.send(&over);
            player.sender.shutdown();
        }
        MatchResult {
            winner: Some(self.players[winner].name.clone()),
            draw: false,
            scores: self
                .players
                .iter()
                .zip(scores)
                .map(|(p, s)| (p.name.clone(), i64::from(s)))
                .collect(),
            duration,
            summary,
        }
    }
}
