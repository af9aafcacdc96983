//! `connect4-server`: runs one Connect Four match. See `connect4::server`.

use std::process::ExitCode;

use connect4::server::{self, Settings};
use gamekit::flags;

fn main() -> ExitCode {
    gamekit::log::set_program("connect4-server");
    let parsed =
        flags::parse_env_or_exit("connect4-server", "one Connect Four match", &server::flags());
    let settings =
        Settings::from_flags(&parsed).unwrap_or_else(|e| flags::exit_usage("connect4-server", e));
    server::run(&settings)
}
