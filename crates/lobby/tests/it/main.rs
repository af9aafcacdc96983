//! End-to-end tests of the lobby: the real `gamestore-lobby` binary on a
//! loopback port with a temporary data folder, driven by the real clients or
//! by raw frames.

mod abuse;
mod accounts;
mod admin;
mod browser;
mod client_sandbox;
mod connections;
mod distribution;
mod foreign_games;
mod frames;
mod install;
mod launch;
mod manifest;
mod matches;
mod menus;
mod network;
mod nodes;
mod nodes_packages;
mod nodes_rooms;
mod plugins;
mod programs;
mod prometheus;
mod protocol_doc;
mod publish;
mod replies;
mod review_drafts;
mod reviews;
mod sandbox;
mod seats;
mod sessions;
mod signed_installs;
mod tls;
mod torture;
mod web;
mod world;
