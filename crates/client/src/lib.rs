//! Game Store client library, shared by `gamestore-dev` and `gamestore-player`.
//!
//! [`LobbyClient`] is the persistent lobby connection: typed
//! calls matched to replies by id, server events on a channel, binary
//! transfer frames routed to the request that started them. [`Home`] keeps
//! the saved session on disk. [`cli`] is the command-line plumbing both
//! programs share: global flags, passwords, one-line errors, exit codes, and
//! the account commands.

pub mod chunked;
pub mod cli;
mod connection;
mod home;
pub mod install;
pub mod launcher;
pub mod library;
pub mod menu;
pub mod plugins;
pub mod publish;
pub mod reviews;
pub mod signing_key;
pub mod tls;
pub mod transfer;
pub mod trust;

pub use connection::{ClientError, LobbyClient};
pub use home::{Home, SavedSession};
