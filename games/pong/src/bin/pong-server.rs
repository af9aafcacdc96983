//! `pong-server`: runs one Pong match. See `pong::server`.

use std::process::ExitCode;

use gamekit::flags;
use pong::server::{self, Settings};

fn main() -> ExitCode {
    gamekit::log::set_program("pong-server");
    let parsed = flags::parse_env_or_exit("pong-server", "one Pong match", &server::flags());
    let settings =
        Settings::from_flags(&parsed).unwrap_or_else(|e| flags::exit_usage("pong-server", e));
    server::run(&settings)
}
