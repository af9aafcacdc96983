//! Connect Four for two players in the terminal.
//!
//! The server ([`server`]) holds the only real board: it checks every move,
//! detects wins and draws, and ends the match when a player quits, leaves or
//! runs out of time. Clients ([`client`]) draw the board the server sends and
//! read moves from the keyboard, or let [`bot`] choose them.
//!
//! Protocol `connect4/1`, one text line per message, after the common
//! handshake of `gamekit::handshake`:
//!
//! ```text
//! server: PLAYER <index> <X|O> <name>   both players, then
//! server: START <your index>
//! server: BOARD <42 chars>              rows top to bottom, '.', 'X' or 'O'
//! server: TURN <index> <seconds>        whose move, and the time allowed
//! client: MOVE <column 1-7>
//! server: MOVED <index> <column>        then BOARD and TURN again
//! server: ILLEGAL <reason>              the move was refused; still your turn
//! server: WIN <row,col> x4              the winning four (0-based, row 0 on top)
//! server: OVER <winner index|-> <summary>   then the server closes
//! client: QUIT                          give up (the other player wins)
//! both:   PING                          keep-alive, at least every 5 s
//! ```

pub mod board;
pub mod bot;
pub mod client;
pub mod server;

/// Game and protocol tag sent in `HELLO`.
pub const GAME: &str = "connect4/1";
