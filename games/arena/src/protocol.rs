//! The `arena/1` messages and their one-line wire forms, shared by server
//! and client.

use gamekit::line::split_word;

use crate::sim::{Cell, Dir};

/// A message from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMsg {
    /// A player of the match (one per seat, before `Start`).
    Player { index: usize, name: String },
    /// The match begins.
    Start { you: usize, rounds: u32, columns: i32, rows: i32 },
    /// A round begins: where each seat starts (`None` when absent).
    Round { number: u32, countdown: u32, spawns: Vec<Option<(Cell, Dir)>> },
    /// Ticks left in a countdown or pause.
    Countdown(u32),
    /// One tick of play: each seat's head, `None` once out.
    Tick { tick: u64, heads: Vec<Option<Cell>> },
    /// A cycle is out.
    Dead { index: usize, reason: String },
    /// Everyone's score.
    Score(Vec<i64>),
    /// A round is over.
    RoundEnd { number: u32, winner: Option<usize> },
    /// The match is over.
    Over { winner: Option<usize>, summary: String },
    /// Lobby and keep-alive lines (`WAITING`, `PING`, ...).
    Other,
}

impl ServerMsg {
    /// The wire form, without newline.
    pub fn encode(&self) -> String {
        match self {
            ServerMsg::Player { index, name } => format!("PLAYER {index} {name}"),
            ServerMsg::Start { you, rounds, columns, rows } => {
                format!("START {you} {rounds} {columns} {rows}")
            }
            ServerMsg::Round { number, countdown, spawns } => {
                let spawns: Vec<String> = spawns
                    .iter()
                    .map(|s| s.map_or("-".into(), |((x, y), d)| format!("{x},{y},{}", d.letter())))
                    .collect();
                format!("ROUND {number} {countdown} {}", spawns.join(" "))
            }
            ServerMsg::Countdown(ticks) => format!("C {ticks}"),
            ServerMsg::Tick { tick, heads } => {
                let heads: Vec<String> = heads
                    .iter()
                    .map(|h| h.map_or("-".into(), |(x, y)| format!("{x},{y}")))
                    .collect();
                format!("T {tick} {}", heads.join(" "))
            }
            ServerMsg::Dead { index, reason } => format!("DEAD {index} {reason}"),
            ServerMsg::Score(scores) => {
                let scores: Vec<String> = scores.iter().map(i64::to_string).collect();
                format!("SCORE {}", scores.join(" "))
            }
            ServerMsg::RoundEnd { number, winner } => {
                format!("ROUNDEND {number} {}", seat_text(*winner))
            }
            ServerMsg::Over { winner, summary } => format!("OVER {} {summary}", seat_text(*winner)),
            ServerMsg::Other => "PING".into(),
        }
    }

    /// Parses a line; `None` when it is malformed.
    pub fn parse(line: &str) -> Option<ServerMsg> {
        let (verb, rest) = split_word(line);
        let mut words = rest.split(' ');
        Some(match verb {
            "PLAYER" => {
                let (index, name) = split_word(rest);
                ServerMsg::Player { index: index.parse().ok()?, name: name.to_string() }
            }
            "START" => ServerMsg::Start {
                you: words.next()?.parse().ok()?,
                rounds: words.next()?.parse().ok()?,
                columns: words.next()?.parse().ok()?,
                rows: words.next()?.parse().ok()?,
            },
            "ROUND" => ServerMsg::Round {
                number: words.next()?.parse().ok()?,
                countdown: words.next()?.parse().ok()?,
                spawns: words
                    .map(|w| {
                        if w == "-" {
                            return Some(None);
                        }
                        let mut parts = w.split(',');
                        let x = parts.next()?.parse().ok()?;
                        let y = parts.next()?.parse().ok()?;
                        let dir = Dir::from_letter(parts.next()?)?;
                        Some(Some(((x, y), dir)))
                    })
                    .collect::<Option<_>>()?,
            },
            "C" => ServerMsg::Countdown(rest.parse().ok()?),
            "T" => ServerMsg::Tick {
                tick: words.next()?.parse().ok()?,
                heads: words.map(parse_cell_or_dash).collect::<Option<_>>()?,
            },
            "DEAD" => {
                let (index, reason) = split_word(rest);
                ServerMsg::Dead { index: index.parse().ok()?, reason: reason.to_string() }
            }
            "SCORE" => ServerMsg::Score(words.map(|w| w.parse().ok()).collect::<Option<_>>()?),
            "ROUNDEND" => ServerMsg::RoundEnd {
                number: words.next()?.parse().ok()?,
                winner: parse_seat(words.next()?)?,
            },
            "OVER" => {
                let (winner, summary) = split_word(rest);
                ServerMsg::Over { winner: parse_seat(winner)?, summary: summary.to_string() }
            }
            _ => ServerMsg::Other,
        })
    }
}

fn seat_text(seat: Option<usize>) -> String {
    seat.map_or("-".to_string(), |s| s.to_string())
}

/// `Some(None)` for `-`, `Some(Some(seat))` for a number, `None` otherwise.
fn parse_seat(text: &str) -> Option<Option<usize>> {
    if text == "-" { Some(None) } else { text.parse().ok().map(Some) }
}

fn parse_cell_or_dash(text: &str) -> Option<Option<Cell>> {
    if text == "-" {
        return Some(None);
    }
    let (x, y) = text.split_once(',')?;
    Some(Some((x.parse().ok()?, y.parse().ok()?)))
}

/// A message from a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientMsg {
    /// Turn.
    Turn(Dir),
    /// Leave the match.
    Quit,
    /// Keep-alive.
    Ping,
}

impl ClientMsg {
    /// The wire form, without newline.
    pub fn encode(self) -> String {
        match self {
            ClientMsg::Turn(dir) => format!("DIR {}", dir.letter()),
            ClientMsg::Quit => "QUIT".into(),
            ClientMsg::Ping => "PING".into(),
        }
    }

    /// Parses a line; `None` when it is not a valid message.
    pub fn parse(line: &str) -> Option<ClientMsg> {
        let (verb, rest) = split_word(line);
        match verb {
            "DIR" => Dir::from_letter(rest.trim()).map(ClientMsg::Turn),
            "QUIT" => Some(ClientMsg::Quit),
            "PING" => Some(ClientMsg::Ping),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_messages_round_trip() {
        let messages = [
            ServerMsg::Player { index: 3, name: "Zoë K".into() },
            ServerMsg::Start { you: 2, rounds: 3, columns: 80, rows: 55 },
            ServerMsg::Round {
                number: 1,
                countdown: 45,
                spawns: vec![Some(((4, 5), Dir::Left)), None],
            },
            ServerMsg::Countdown(7),
            ServerMsg::Tick { tick: 99, heads: vec![Some((0, 54)), None, Some((79, 0))] },
            ServerMsg::Dead { index: 1, reason: "crashed".into() },
            ServerMsg::Score(vec![3, 0, -1]),
            ServerMsg::RoundEnd { number: 2, winner: None },
            ServerMsg::RoundEnd { number: 2, winner: Some(0) },
            ServerMsg::Over { winner: Some(1), summary: "bo wins with 6 points".into() },
        ];
        for message in messages {
            assert_eq!(
                ServerMsg::parse(&message.encode()),
                Some(message.clone()),
                "{}",
                message.encode()
            );
        }
        for bad in ["T x 1,1", "ROUND 1 2 3,4", "SCORE a", "C", "START 1 2"] {
            assert_eq!(ServerMsg::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn client_messages() {
        for message in [
            ClientMsg::Turn(Dir::Up),
            ClientMsg::Turn(Dir::Right),
            ClientMsg::Quit,
            ClientMsg::Ping,
        ] {
            assert_eq!(ClientMsg::parse(&message.encode()), Some(message));
        }
        for bad in ["DIR", "DIR X", "DIR up", "GO", ""] {
            assert_eq!(ClientMsg::parse(bad), None, "{bad}");
        }
    }
}
