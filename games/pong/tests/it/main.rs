//! Integration tests of Pong, driving the real binaries on loopback (and a
//! private X display for the window test).

mod matches;
mod rules;
mod window;

use std::time::Duration;

pub const SERVER: &str = env!("CARGO_BIN_EXE_pong-server");
pub const CLIENT: &str = env!("CARGO_BIN_EXE_pong-client");
/// Bound on any single wait.
pub const WAIT: Duration = Duration::from_secs(60);

/// Reads and parses the result file a server wrote.
pub fn read_result(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("the server wrote a result file");
    serde_json::from_str(&text).expect("the result file is JSON")
}
