//! `arena-client`: rides a light cycle in a window (or headless as a bot).
//! See `arena::client`.

use std::process::ExitCode;

use gamekit::flags::{self, ClientConfig};

fn main() -> ExitCode {
    gamekit::log::set_program("arena-client");
    let parsed = flags::parse_env_or_exit(
        "arena-client",
        "ride in the light-cycle arena",
        &flags::client_flags(),
    );
    let config =
        ClientConfig::from_flags(&parsed).unwrap_or_else(|e| flags::exit_usage("arena-client", e));
    arena::client::run(&config)
}
