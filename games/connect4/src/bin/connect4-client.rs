//! `connect4-client`: plays Connect Four in the terminal. See `connect4::client`.

use std::process::ExitCode;

use gamekit::flags::{self, ClientConfig};

fn main() -> ExitCode {
    gamekit::log::set_program("connect4-client");
    let parsed = flags::parse_env_or_exit(
        "connect4-client",
        "play Connect Four in the terminal",
        &flags::client_flags(),
    );
    let config = ClientConfig::from_flags(&parsed)
        .unwrap_or_else(|e| flags::exit_usage("connect4-client", e));
    connect4::client::run(&config)
}
