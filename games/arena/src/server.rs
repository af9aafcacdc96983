//! The arena server: gathers the players, plays `--rounds` rounds at a fixed
//! tick, and reports the result.
//!
//! A player who quits, disconnects, stops reading or keeps sending malformed
//! lines crashes out of the current round and sits out the rest; if fewer
//! than two players remain, the last one wins by forfeit. A match whose
//! players all left ends with no winner. In every case the server exits 0
//! after writing the result; it fails only when the match cannot start.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use gamekit::flags::{self, Flag, ServerConfig};
use gamekit::handshake::{self, JoinRules, Seat};
use gamekit::inbox::{Inbox, NetEvent};
use gamekit::line::LineSender;
use gamekit::result::MatchResult;
use gamekit::{exit, say};

use crate::GAME;
use crate::protocol::{ClientMsg, ServerMsg};
use crate::sim::{Arena, COLUMNS, ROWS, spawns};

/// How long a player may stay silent (clients send at least once a second).
const IDLE_LIMIT: Duration = Duration::from_secs(10);
/// Malformed lines tolerated from one player before they are put out.
const GARBAGE_LIMIT: u32 = 20;
/// Ticks of countdown before each round.
pub const COUNTDOWN: u32 = 45;
/// Ticks of pause after each round.
pub const INTERMISSION: u32 = 45;

/// The server's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The common flags.
    pub common: ServerConfig,
    /// Rounds in the match.
    pub rounds: u32,
    /// Ticks per second; 15 is normal speed.
    pub tick_hz: u32,
}

/// The server's flags: the common ones plus `--rounds` and `--tick-hz`.
pub fn flags() -> Vec<Flag> {
    let mut flags = flags::server_flags("3");
    flags.push(Flag::with_default("rounds", "N", "3", "Rounds in the match (1-20)"));
    flags.push(Flag::with_default(
        "tick-hz",
        "N",
        "15",
        "Cycle moves per second: 15 is normal speed, more plays faster (tests)",
    ));
    flags
}

impl Settings {
    /// Reads the settings from parsed flags.
    pub fn from_flags(parsed: &flags::Parsed) -> Result<Settings, flags::UsageError> {
        Ok(Settings {
            common: ServerConfig::from_flags(parsed, 2..=8)?,
            rounds: parsed.ranged("rounds", 1..=20)?,
            tick_hz: parsed.ranged("tick-hz", 5..=1000)?,
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

struct Player {
    name: String,
    sender: LineSender,
    /// Still in the match (not quit or disconnected).
    connected: bool,
    garbage: u32,
    score: i64,
}

/// What interrupted the normal flow of ticks.
enum Interrupt {
    /// Fewer than two players are left.
    TooFewPlayers,
}

struct Match {
    players: Vec<Player>,
    inbox: Inbox,
    rounds: u32,
    period: Duration,
    tick: u64,
    next_tick: Instant,
    arena: Arena,
    /// Players whose last write failed.
    failed: Vec<usize>,
}

impl Match {
    fn new(seats: Vec<Seat>, settings: &Settings) -> Match {
        let inbox = Inbox::new();
        let players: Vec<Player> = seats
            .into_iter()
            .map(|Seat { index, name, sender, reader }| {
                inbox.watch(index, reader, IDLE_LIMIT);
                Player { name, sender, connected: true, garbage: 0, score: 0 }
            })
            .collect();
        let arena = Arena::new(&vec![true; players.len()]);
        Match {
            players,
            inbox,
            rounds: settings.rounds,
            period: Duration::from_secs_f64(1.0 / f64::from(settings.tick_hz)),
            tick: 0,
            next_tick: Instant::now(),
            arena,
            failed: Vec::new(),
        }
    }

    fn play(mut self) -> MatchResult {
        let started = Instant::now();
        for you in 0..self.players.len() {
            for (index, player) in self.players.iter().enumerate() {
                let _ = self.players[you]
                    .sender
                    .send(&ServerMsg::Player { index, name: player.name.clone() }.encode());
            }
            let start = ServerMsg::Start { you, rounds: self.rounds, columns: COLUMNS, rows: ROWS };
            let _ = self.players[you].sender.send(&start.encode());
        }
        self.next_tick = Instant::now() + self.period;
        let mut played = 0;
        for round in 1..=self.rounds {
            played = round;
            if self.play_round(round).is_err() {
                break;
            }
        }
        self.finish(played, started.elapsed())
    }

    fn play_round(&mut self, round: u32) -> Result<(), Interrupt> {
        let present: Vec<bool> = self.players.iter().map(|p| p.connected).collect();
        self.arena = Arena::new(&present);
        let spawns = spawns(present.len())
            .into_iter()
            .zip(&present)
            .map(|(spawn, &here)| here.then_some(spawn))
            .collect();
        self.broadcast(&ServerMsg::Round { number: round, countdown: COUNTDOWN, spawns }.encode());
        for left in (1..=COUNTDOWN).rev() {
            self.wait_for_tick()?;
            self.broadcast(&ServerMsg::Countdown(left).encode());
        }
        while self.arena.riders().len() > 1 {
            self.wait_for_tick()?;
            self.tick += 1;
            let crashed = self.arena.step();
            let heads = self.arena.cycles().iter().map(|c| c.alive.then_some(c.head)).collect();
            self.broadcast(&ServerMsg::Tick { tick: self.tick, heads }.encode());
            if !crashed.is_empty() {
                for &index in &crashed {
                    self.broadcast(&ServerMsg::Dead { index, reason: "crashed".into() }.encode());
                }
                self.award_survivors(crashed.len());
            }
        }
        let winner = self.arena.riders().first().copied();
        match winner {
            Some(w) => say!("round {round}: {} survives", self.players[w].name),
            None => say!("round {round}: nobody survives"),
        }
        self.broadcast(&ServerMsg::RoundEnd { number: round, winner }.encode());
        if round < self.rounds {
            for left in (1..=INTERMISSION).rev() {
                self.wait_for_tick()?;
                self.broadcast(&ServerMsg::Countdown(left).encode());
            }
        }
        Ok(())
    }

    /// Every rider still in the round gets a point per cycle that just went out.
    fn award_survivors(&mut self, out: usize) {
        for index in self.arena.riders() {
            self.players[index].score += out as i64;
        }
        let scores = self.players.iter().map(|p| p.score).collect();
        self.broadcast(&ServerMsg::Score(scores).encode());
    }

    /// Handles client messages until the next tick is due.
    fn wait_for_tick(&mut self) -> Result<(), Interrupt> {
        while let Some((who, event)) = self.inbox.next_before(self.next_tick) {
            match event {
                NetEvent::Line(line) => match ClientMsg::parse(&line) {
                    Some(ClientMsg::Turn(dir)) => self.arena.turn(who, dir),
                    Some(ClientMsg::Ping) => {}
                    Some(ClientMsg::Quit) => self.drop_player(who, "quit"),
                    None => {
                        let player = &mut self.players[who];
                        player.garbage += 1;
                        let _ = player
                            .sender
                            .send("ERR BAD_MESSAGE expected DIR <U|D|L|R>, QUIT or PING");
                        if player.garbage > GARBAGE_LIMIT {
                            self.drop_player(who, "kept sending malformed messages");
                        }
                    }
                },
                NetEvent::Closed(why) => self.drop_player(who, &format!("left the game ({why})")),
            }
        }
        // A write that failed means the player is gone.
        for index in std::mem::take(&mut self.failed) {
            self.drop_player(index, "stopped responding");
        }
        if self.players.iter().filter(|p| p.connected).count() < 2 {
            return Err(Interrupt::TooFewPlayers);
        }
        self.next_tick += self.period;
        let now = Instant::now();
        if now > self.next_tick + Duration::from_secs(1) {
            self.next_tick = now + self.period;
        }
        Ok(())
    }

    fn drop_player(&mut self, index: usize, why: &str) {
        let player = &mut self.players[index];
        if !player.connected {
            return;
        }
        player.connected = false;
        player.sender.shutdown();
        say!("{} {why}", self.players[index].name);
        if self.arena.remove(index) {
            self.broadcast(&ServerMsg::Dead { index, reason: format!("left: {why}") }.encode());
            self.award_survivors(1);
        }
    }

    /// Sends to every connected player; failures are dealt with at the
    /// next tick (see [`Match::wait_for_tick`]).
    fn broadcast(&mut self, line: &str) {
        for (index, player) in self.players.iter().enumerate().filter(|(_, p)| p.connected) {
            if player.sender.send(line).is_err() && !self.failed.contains(&index) {
                self.failed.push(index);
            }
        }
    }

    fn finish(self, rounds_played: u32, duration: Duration) -> MatchResult {
        let connected: Vec<usize> =
            (0..self.players.len()).filter(|&i| self.players[i].connected).collect();
        let best = connected.iter().map(|&i| self.players[i].score).max();
        let leaders: Vec<usize> =
            connected.iter().copied().filter(|&i| Some(self.players[i].score) == best).collect();
        let standings = {
            let mut order: Vec<usize> = (0..self.players.len()).collect();
            order.sort_by_key(|&i| std::cmp::Reverse(self.players[i].score));
            order
                .iter()
                .map(|&i| format!("{} {}", self.players[i].name, self.players[i].score))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (winner, draw, summary) = match (connected.len(), leaders.as_slice()) {
            (0, _) => (None, false, format!("abandoned: every player left ({standings})")),
            (1, [only]) => (
                Some(*only),
                false,
                format!(
                    "{} wins by forfeit: everyone else left ({standings})",
                    self.players[*only].name
                ),
            ),
            (_, [one]) => (
                Some(*one),
                false,
                format!(
                    "{} wins with {} points after {rounds_played} rounds ({standings})",
                    self.players[*one].name, self.players[*one].score
                ),
            ),
            (_, tied) => {
                let names: Vec<&str> =
                    tied.iter().map(|&i| self.players[i].name.as_str()).collect();
                (None, true, format!("draw between {} ({standings})", names.join(" and ")))
            }
        };
        let over = ServerMsg::Over { winner, summary: summary.clone() }.encode();
        for player in self.players.iter().filter(|p| p.connected) {
            let _ = player.sender.send(&over);
            player.sender.shutdown();
        }
        MatchResult {
            winner: winner.map(|w| self.players[w].name.clone()),
            draw,
            scores: self.players.iter().map(|p| (p.name.clone(), p.score)).collect(),
            duration,
            summary,
        }
    }
}
