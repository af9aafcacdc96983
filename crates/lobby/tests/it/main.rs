//! End-to-end tests of the lobby: the real `gamestore-lobby` binary on a
//! loopback port with a temporary data folder, driven by the real clients or
//! by raw frames.

mod abuse;
mod accounts;
mod connections;
mod foreign_games;
mod admin;
mod browser;
mod client_sandbox;
mod frames;
mod install;
mod matches;
mod menus;
mod network;
mod prometheus;
mod publish;
mod replies;
mod reviews;
mod seats;
mod sandbox;
mod sessions;
mod launch;
mod programs;
mod review_drafts;
mod manifest;
mod protocol_doc;
mod tls;
mod web;
