//! Shared plumbing of the sample games.
//!
//! Every sample game is a pair of programs, a server and a client, that know
//! nothing of the Game Store: they get everything on the command line (see
//! [`flags`]). This crate holds what the games have in common so that each game
//! crate is only its rules, its protocol and its screen:
//!
//! - [`flags`]: the platform's flag contract (`--host --port --players --token`
//!   for servers, `--host --port --name --token` for clients) and a tiny parser.
//! - [`line`]: the line-based TCP framing every game speaks, with timeouts.
//! - [`handshake`]: gathering the players of a match (the `HELLO` line with the
//!   match token), ignoring readiness probes and garbage.
//! - [`inbox`]: one reader thread per connection feeding one channel, so a
//!   server's main loop waits on a single `recv_timeout`.
//! - [`result`]: the `GAMESTORE_RESULT_FILE` match report.
//! - [`bot`]: bot mode (`GAMESTORE_BOT`) and a small random number generator.
//! - [`canvas`] and, with the `window` feature, [`window`]: pixel drawing and
//!   the window of the GUI games.
//! - [`testkit`]: helpers for the games' integration tests (child processes
//!   that are always killed, waits with deadlines).

pub mod bot;
pub mod canvas;
pub mod flags;
pub mod handshake;
pub mod inbox;
pub mod line;
pub mod log;
pub mod result;
pub mod testkit;
#[cfg(feature = "window")]
pub mod window;

/// Process exit codes shared by every game binary.
pub mod exit {
    /// The match (or the client's part of it) completed.
    pub const OK: u8 = 0;
    /// Something went wrong: timeout, lost connection, refused, I/O error.
    pub const FAILURE: u8 = 1;
    /// The command line was wrong.
    pub const USAGE: u8 = 2;
}
