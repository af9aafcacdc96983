//! Integration tests of the `test` game, driving the real binaries on
//! loopback as the platform does.

mod faults;
mod matches;

use std::time::Duration;

pub const SERVER: &str = env!("CARGO_BIN_EXE_test-server");
pub const CLIENT: &str = env!("CARGO_BIN_EXE_test-client");
/// Generous bound on any single wait; a healthy run takes milliseconds.
pub const WAIT: Duration = Duration::from_secs(20);
