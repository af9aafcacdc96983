//! Integration tests of Connect Four, driving the real binaries on loopback.

mod client;
mod matches;
mod rules;

use std::time::Duration;

pub const SERVER: &str = env!("CARGO_BIN_EXE_connect4-server");
pub const CLIENT: &str = env!("CARGO_BIN_EXE_connect4-client");
/// Bound on any single wait; healthy runs take well under a second.
pub const WAIT: Duration = Duration::from_secs(30);

/// Reads and parses the result file a server wrote.
pub fn read_result(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("the server wrote a result file");
    serde_json::from_str(&text).expect("the result file is JSON")
}
