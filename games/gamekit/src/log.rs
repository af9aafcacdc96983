//! One-line diagnostics on standard error, prefixed with the program's name
//! (`connect4-server: player 1 joined: alice`), so that a lobby's log that
//! mixes several processes stays readable.

use std::sync::OnceLock;

static PROGRAM: OnceLock<String> = OnceLock::new();

/// Sets the prefix of every [`say!`](crate::say) line; call once at start-up.
pub fn set_program(name: &str) {
    let _ = PROGRAM.set(name.to_string());
}

/// The prefix set by [`set_program`], or `game` before that.
pub fn program() -> &'static str {
    PROGRAM.get().map(String::as_str).unwrap_or("game")
}

/// Prints one diagnostic line to standard error: `program: message`.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        eprintln!("{}: {}", $crate::log::program(), format_args!($($arg)*))
    };
}
