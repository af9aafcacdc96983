//! The match report a game server writes for the platform.
//!
//! When the environment variable `GAMESTORE_RESULT_FILE` is set, the server
//! writes there, once the match is over, one JSON object:
//!
//! ```json
//! {"winner": "alice", "draw": false, "scores": {"alice": 4, "bob": 2},
//!  "duration_secs": 73.5, "summary": "alice wins 4-2"}
//! ```
//!
//! `winner` is `null` for a draw or an abandoned match. The file is written to
//! a temporary name in the same folder and renamed, so a reader never sees
//! half a report.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Name of the environment variable that asks for a report.
pub const RESULT_FILE_ENV: &str = "GAMESTORE_RESULT_FILE";

/// The outcome of one match.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchResult {
    /// The winner's player name; `None` for a draw or when nobody won.
    pub winner: Option<String>,
    /// Whether the match ended level.
    pub draw: bool,
    /// Every player's final score, in seat order.
    pub scores: Vec<(String, i64)>,
    /// Wall time from the start of play to the end.
    pub duration: Duration,
    /// One line for people: "alice wins 4-2", "bob wins: alice left".
    pub summary: String,
}

impl MatchResult {
    /// The report as one JSON object.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{\"winner\": ");
        match &self.winner {
            Some(name) => push_json_string(&mut out, name),
            None => out.push_str("null"),
        }
        let _ = write!(out, ", \"draw\": {}, \"scores\": {{", self.draw);
        for (i, (name, score)) in self.scores.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            push_json_string(&mut out, name);
            let _ = write!(out, ": {score}");
        }
        let _ =
            write!(out, "}}, \"duration_secs\": {:.3}, \"summary\": ", self.duration.as_secs_f64());
        push_json_string(&mut out, &self.summary);
        out.push_str("}\n");
        out
    }

    /// Writes the report to `path` atomically (temporary file, then rename).
    pub fn write_to(&self, path: &Path) -> io::Result<()> {
        let file_name = path.file_name().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "result path has no file name")
        })?;
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(file_name);
        temp_name.push(format!(".{}.tmp", std::process::id()));
        let temp: PathBuf = path.with_file_name(temp_name);
        fs::write(&temp, self.to_json())?;
        fs::rename(&temp, path).inspect_err(|_| {
            let _ = fs::remove_file(&temp);
        })
    }

    /// Writes the report where `GAMESTORE_RESULT_FILE` says, if it is set.
    pub fn report(&self) -> io::Result<()> {
        match std::env::var_os(RESULT_FILE_ENV) {
            Some(path) if !path.is_empty() => self.write_to(Path::new(&path)),
            _ => Ok(()),
        }
    }
}

fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_and_escaping() {
        let result = MatchResult {
            winner: Some("a\"b".into()),
            draw: false,
            scores: vec![("a\"b".into(), 3), ("c\\d".into(), -1)],
            duration: Duration::from_millis(1500),
            summary: "line\nbreak\u{1}".into(),
        };
        assert_eq!(
            result.to_json(),
            "{\"winner\": \"a\\\"b\", \"draw\": false, \"scores\": {\"a\\\"b\": 3, \"c\\\\d\": -1}, \
             \"duration_secs\": 1.500, \"summary\": \"line\\nbreak\\u0001\"}\n"
        );
        let draw = MatchResult {
            winner: None,
            draw: true,
            scores: vec![],
            duration: Duration::ZERO,
            summary: String::new(),
        };
        assert!(draw.to_json().starts_with("{\"winner\": null, \"draw\": true, \"scores\": {}"));
    }

    #[test]
    fn writes_atomically() {
        let dir = crate::testkit::TempDir::new("result");
        let path = dir.path().join("result.json");
        let result = MatchResult {
            winner: None,
            draw: true,
            scores: vec![],
            duration: Duration::ZERO,
            summary: "x".into(),
        };
        result.write_to(&path).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), result.to_json());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left behind");
    }
}
