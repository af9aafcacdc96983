//! End-to-end tests of the lobby: the real `gamestore-lobby` binary on a
//! loopback port with a temporary data folder, driven by the real clients or
//! by raw frames.

mod accounts;
mod frames;
mod install;
mod matches;
mod menus;
mod publish;
mod reviews;
mod sessions;
mod torture;
