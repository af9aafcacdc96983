//! Pong for two players in a window.
//!
//! The server ([`server`]) runs the only simulation ([`sim`]) at a fixed tick
//! (60 per second by default) and sends the whole state to both clients every
//! tick; clients ([`client`]) send only which way their paddle should move,
//! and draw what the server says. First to `--points` points wins.
//!
//! Protocol `pong/1`, one text line per message, after the common handshake
//! of `gamekit::handshake` (wire forms in [`protocol`]):
//!
//! ```text
//! server: PLAYER <index> <name>          both players, then
//! server: START <your index> <points to win>
//! server: S <tick> <ball x> <ball y> <paddle 0 y> <paddle 1 y> <score 0> <score 1> <pause ticks>
//!                                        every tick; pause > 0 while the ball waits to serve
//! client: IN <-1|0|1>                    paddle up, still, down; on change
//! client: QUIT                           give up (the other player wins)
//! client: PING                           keep-alive when idle (at least every 10 s)
//! server: OVER <winner index|-> <summary>   then the server closes
//! ```
//!
//! Coordinates are pixels of the 640x480 field, origin at the top left.

pub mod bot;
pub mod client;
pub mod protocol;
pub mod server;
pub mod sim;

/// Game and protocol tag sent in `HELLO`.
pub const GAME: &str = "pong/1";
