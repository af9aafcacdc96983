//! Integration tests of the light-cycle arena, driving the real binaries on
//! loopback (and a private X display for the window test).

mod matches;
mod rules;
mod window;

use std::time::Duration;

pub const SERVER: &str = env!("CARGO_BIN_EXE_arena-server");
pub const CLIENT: &str = env!("CARGO_BIN_EXE_arena-client");
/// Bound on any single wait.
pub const WAIT: Duration = Duration::from_secs(90);

/// Reads and parses the result file a server wrote.
pub fn read_result(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("the server wrote a result file");
    serde_json::from_str(&text).expect("the result file is JSON")
}
