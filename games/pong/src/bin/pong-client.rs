//! `pong-client`: plays Pong in a window (or headless as a bot). See `pong::client`.

use std::process::ExitCode;

use gamekit::flags::{self, ClientConfig};

fn main() -> ExitCode {
    gamekit::log::set_program("pong-client");
    let parsed =
        flags::parse_env_or_exit("pong-client", "play Pong in a window", &flags::client_flags());
    let config =
        ClientConfig::from_flags(&parsed).unwrap_or_else(|e| flags::exit_usage("pong-client", e));
    pong::client::run(&config)
}
