//! Checks of what the games workspace ships: the packages written by
//! `scripts/package-games`, and the developer templates.

mod packaging;
mod templates;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use gamekit::testkit::Proc;

/// Bound on builds (a cold build of a template takes a while on two cores).
pub const BUILD_WAIT: Duration = Duration::from_secs(900);
/// Bound on a match or a start-up.
pub const WAIT: Duration = Duration::from_secs(60);

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// Starts `role` ("server" or "client") of the package in `dir` the way the
/// platform does: argv from config.json with the placeholders filled in,
/// argv[0] relative to the package, working directory the package.
pub fn launch(
    dir: &Path,
    role: &str,
    values: &HashMap<&str, String>,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Proc {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let argv: Vec<String> = manifest[role]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|arg| {
            let mut arg = arg.as_str().unwrap().to_string();
            for (key, value) in values {
                arg = arg.replace(&format!("{{{key}}}"), value);
            }
            arg
        })
        .collect();
    let mut command = Command::new(dir.join(&argv[0]));
    command
        .args(&argv[1..])
        .args(extra)
        .current_dir(dir)
        .stdin(Stdio::null())
        .env_remove("DISPLAY");
    if let Some(vars) = manifest[role]["env"].as_object() {
        for (key, value) in vars {
            let mut value = value.as_str().unwrap_or_default().to_string();
            for (name, filled) in values {
                value = value.replace(&format!("{{{name}}}"), filled);
            }
            command.env(key, value);
        }
    }
    for (key, value) in env {
        command.env(key, value);
    }
    Proc::spawn(&format!("{role} of {}", dir.display()), command)
}

/// Placeholder values for a match on loopback; the server picks its port.
pub fn placeholders(dir: &Path, players: usize) -> HashMap<&'static str, String> {
    HashMap::from([
        ("host", "127.0.0.1".to_string()),
        ("port", "0".to_string()),
        ("players", players.to_string()),
        ("match_id", "m1".to_string()),
        ("token", "secret".to_string()),
        ("game_dir", dir.display().to_string()),
    ])
}

/// Starts a packaged server and returns it with the port it listens on.
pub fn launch_server(
    dir: &Path,
    players: usize,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Proc, HashMap<&'static str, String>) {
    let mut values = placeholders(dir, players);
    let server = launch(dir, "server", &values, extra, env);
    let line = server.wait_for_line("listening on", WAIT);
    let port = line.rsplit(':').next().unwrap().trim().to_string();
    values.insert("port", port);
    (server, values)
}
