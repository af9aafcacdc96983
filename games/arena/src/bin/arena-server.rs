//! `arena-server`: runs one light-cycle arena match. See `arena::server`.

use std::process::ExitCode;

use arena::server::{self, Settings};
use gamekit::flags;

fn main() -> ExitCode {
    gamekit::log::set_program("arena-server");
    let parsed =
        flags::parse_env_or_exit("arena-server", "one light-cycle arena match", &server::flags());
    let settings =
        Settings::from_flags(&parsed).unwrap_or_else(|e| flags::exit_usage("arena-server", e));
    server::run(&settings)
}
