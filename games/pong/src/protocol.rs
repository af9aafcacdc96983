//! The `pong/1` messages and their one-line wire forms, shared by server
//! and client so that both sides agree by construction.

use gamekit::line::split_word;

use crate::sim::Snapshot;

/// A message from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMsg {
    /// A player of the match (sent for both before `Start`).
    Player { index: usize, name: String },
    /// The match begins; `you` is the receiver's seat.
    Start { you: usize, points: u32 },
    /// The state after one tick.
    State(Snapshot),
    /// The match is over.
    Over { winner: Option<usize>, summary: String },
    /// Lobby and keep-alive lines (`WAITING`, `PING`, ...), ignored.
    Other,
}

impl ServerMsg {
    /// The wire form, without newline.
    pub fn encode(&self) -> String {
        match self {
            ServerMsg::Player { index, name } => format!("PLAYER {index} {name}"),
            ServerMsg::Start { you, points } => format!("START {you} {points}"),
            ServerMsg::State(s) => format!(
                "S {} {} {} {} {} {} {} {}",
                s.tick,
                s.ball.0,
                s.ball.1,
                s.paddles[0],
                s.paddles[1],
                s.scores[0],
                s.scores[1],
                s.pause
            ),
            ServerMsg::Over { winner, summary } => {
                format!("OVER {} {summary}", winner.map_or("-".to_string(), |w| w.to_string()))
            }
            ServerMsg::Other => "PING".into(),
        }
    }

    /// Parses a line; `None` when it is malformed.
    pub fn parse(line: &str) -> Option<ServerMsg> {
        let (verb, rest) = split_word(line);
        Some(match verb {
            "PLAYER" => {
                let (index, name) = split_word(rest);
                ServerMsg::Player { index: seat(index)?, name: name.to_string() }
            }
            "START" => {
                let (you, points) = split_word(rest);
                ServerMsg::Start { you: seat(you)?, points: points.parse().ok()? }
            }
            "S" => {
                let n: Vec<i64> = rest.split(' ').map(str::parse).collect::<Result<_, _>>().ok()?;
                let [tick, bx, by, p0, p1, s0, s1, pause] = n.as_slice() else { return None };
                ServerMsg::State(Snapshot {
                    tick: u64::try_from(*tick).ok()?,
                    ball: (i32::try_from(*bx).ok()?, i32::try_from(*by).ok()?),
                    paddles: [i32::try_from(*p0).ok()?, i32::try_from(*p1).ok()?],
                    scores: [u32::try_from(*s0).ok()?, u32::try_from(*s1).ok()?],
                    pause: u32::try_from(*pause).ok()?,
                })
            }
            "OVER" => {
                let (winner, summary) = split_word(rest);
                let winner = if winner == "-" { None } else { Some(seat(winner)?) };
                ServerMsg::Over { winner, summary: summary.to_string() }
            }
            _ => ServerMsg::Other,
        })
    }
}

fn seat(text: &str) -> Option<usize> {
    text.parse().ok().filter(|&i| i < 2)
}

/// A message from a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientMsg {
    /// Paddle direction: -1 up, 0 still, 1 down.
    Input(i8),
    /// Give up.
    Quit,
    /// Keep-alive.
    Ping,
}

impl ClientMsg {
    /// The wire form, without newline.
    pub fn encode(self) -> String {
        match self {
            ClientMsg::Input(dir) => format!("IN {dir}"),
            ClientMsg::Quit => "QUIT".into(),
            ClientMsg::Ping => "PING".into(),
        }
    }

    /// Parses a line; `None` when it is not a valid message.
    pub fn parse(line: &str) -> Option<ClientMsg> {
        let (verb, rest) = split_word(line);
        match verb {
            "IN" => match rest.trim() {
                "-1" => Some(ClientMsg::Input(-1)),
                "0" => Some(ClientMsg::Input(0)),
                "1" => Some(ClientMsg::Input(1)),
                _ => None,
            },
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
            ServerMsg::Player { index: 1, name: "Mary Ann".into() },
            ServerMsg::Start { you: 0, points: 5 },
            ServerMsg::State(Snapshot {
                tick: 9,
                ball: (-3, 400),
                paddles: [10, 300],
                scores: [2, 4],
                pause: 0,
            }),
            ServerMsg::Over { winner: Some(1), summary: "bob wins 5-2".into() },
            ServerMsg::Over { winner: None, summary: "abandoned".into() },
        ];
        for message in messages {
            assert_eq!(
                ServerMsg::parse(&message.encode()),
                Some(message.clone()),
                "{}",
                message.encode()
            );
        }
        assert_eq!(ServerMsg::parse("S 1 2 3"), None);
        assert_eq!(ServerMsg::parse("START 5 5"), None);
        assert_eq!(ServerMsg::parse("WAITING 1 2"), Some(ServerMsg::Other));
    }

    #[test]
    fn client_messages() {
        for message in [
            ClientMsg::Input(-1),
            ClientMsg::Input(0),
            ClientMsg::Input(1),
            ClientMsg::Quit,
            ClientMsg::Ping,
        ] {
            assert_eq!(ClientMsg::parse(&message.encode()), Some(message));
        }
        for bad in ["IN 2", "IN", "IN up", "MOVE 1", ""] {
            assert_eq!(ClientMsg::parse(bad), None, "{bad}");
        }
    }
}
