//! Checks of the game package format (`config.json` plus files), as the
//! Game Store's validator applies them, for the packages that
//! `scripts/package-games` writes and the folders the templates produce.
//!
//! This is a test-side mirror of the platform's rules, kept small: id,
//! semantic version, kind, player counts, commands whose placeholders are
//! among the allowed ones and whose program exists in the package and is
//! executable.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;

/// Placeholders a command may use; `{player}` only in the client's.
const PLACEHOLDERS: [&str; 7] =
    ["{host}", "{port}", "{players}", "{player}", "{match_id}", "{token}", "{game_dir}"];

/// Checks the package folder `dir`; returns every problem found.
pub fn check_package(dir: &Path) -> Result<Value, Vec<String>> {
    let mut problems = Vec::new();
    let text = match std::fs::read_to_string(dir.join("config.json")) {
        Ok(text) => text,
        Err(e) => return Err(vec![format!("{}: no config.json: {e}", dir.display())]),
    };
    let manifest: Value = match serde_json::from_str(&text) {
        Ok(value) => value,
        Err(e) => return Err(vec![format!("config.json is not JSON: {e}")]),
    };
    let id = manifest["id"].as_str().unwrap_or_default();
    if !valid_id(id) {
        problems.push(format!("id {id:?} must match [a-z0-9][a-z0-9_-]{{0,31}}"));
    }
    for field in ["name", "description"] {
        if manifest[field].as_str().is_none_or(|s| s.trim().is_empty()) {
            problems.push(format!("{field} is missing or empty"));
        }
    }
    if !manifest["version"].as_str().is_some_and(valid_semver) {
        problems.push(format!("version {} is not semver", manifest["version"]));
    }
    if !matches!(manifest["kind"].as_str(), Some("cli" | "gui")) {
        problems.push(format!("kind {} must be cli or gui", manifest["kind"]));
    }
    let min = manifest["min_players"].as_u64().unwrap_or(0);
    let max = manifest["max_players"].as_u64().unwrap_or(0);
    if !(1 <= min && min <= max && max <= 16) {
        problems.push(format!("player counts {min}..{max} must satisfy 1 <= min <= max <= 16"));
    }
    for role in ["server", "client"] {
        let command: Vec<&str> = manifest[role]["command"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if command.is_empty() {
            problems.push(format!("{role}.command is missing or empty"));
            continue;
        }
        for arg in &command {
            for placeholder in placeholders_in(arg) {
                let allowed = PLACEHOLDERS.contains(&placeholder.as_str())
                    && !(role == "server" && placeholder == "{player}");
                if !allowed {
                    problems.push(format!(
                        "{role}.command uses {placeholder}, which the {role} cannot have"
                    ));
                }
            }
        }
        let program = dir.join(command[0]);
        match std::fs::metadata(&program) {
            Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => {}
            Ok(_) => {
                problems.push(format!("{role} program {} is not an executable file", command[0]))
            }
            Err(_) => problems.push(format!("{role} program {} is not in the package", command[0])),
        }
        if !manifest[role]["env"].is_null() && !manifest[role]["env"].is_object() {
            problems.push(format!("{role}.env must be an object"));
        }
    }
    if problems.is_empty() { Ok(manifest) } else { Err(problems) }
}

/// `[a-z0-9][a-z0-9_-]{0,31}`.
pub fn valid_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 32
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// `MAJOR.MINOR.PATCH` with optional `-pre` and `+build` parts.
pub fn valid_semver(version: &str) -> bool {
    let core = version.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        })
}

fn placeholders_in(arg: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = arg;
    while let Some(start) = rest.find('{') {
        match rest[start..].find('}') {
            Some(end) => {
                found.push(rest[start..start + end + 1].to_string());
                rest = &rest[start + end + 1..];
            }
            None => break,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_versions() {
        for id in ["test", "connect4", "a", "my_game-2"] {
            assert!(valid_id(id), "{id}");
        }
        for id in ["", "Test", "-x", "a b", &"a".repeat(33)] {
            assert!(!valid_id(id), "{id}");
        }
        for v in ["1.0.0", "0.1.0", "10.20.30-beta.1+b5"] {
            assert!(valid_semver(v), "{v}");
        }
        for v in ["1.0", "01.0.0", "1.0.x", ""] {
            assert!(!valid_semver(v), "{v}");
        }
        assert_eq!(placeholders_in("--x={host}:{port}"), vec!["{host}", "{port}"]);
    }
}
