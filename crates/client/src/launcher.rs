//! The launcher: runs a game's client program for a match (seed §4,
//! `game_launcher.py`).
//!
//! The command comes from the installed version's `config.json`, with the
//! placeholders filled from GAME_START; it runs in the installed folder with
//! the player's environment (so a GUI game finds the display) and the
//! terminal, and knows nothing of the launcher.

use std::path::Path;
use std::process::Stdio;

use anyhow::Context;
use gamestore_package::{Manifest, Placeholders, Seat};
use gamestore_protocol::GameStart;

/// The game client command for `player` in the match `start`, installed at `game_dir`.
pub fn client_command(
    game_dir: &Path,
    start: &GameStart,
    player: &str,
) -> anyhow::Result<tokio::process::Command> {
    Ok(client_launch(game_dir, start, player)?.command)
}

/// A game client ready to start, with what an error about it must name.
pub struct ClientLaunch {
    pub command: tokio::process::Command,
    /// The program as the manifest resolved it.
    pub program: String,
    /// The folder it runs in (the installed version).
    pub dir: std::path::PathBuf,
}

impl ClientLaunch {
    /// Starts the client; a failure names the program and its folder.
    pub fn spawn(mut self) -> anyhow::Result<tokio::process::Child> {
        self.command.spawn().with_context(|| {
            format!("cannot start the game client {} in {}", self.program, self.dir.display())
        })
    }
}

/// The game client for `player` in the match `start`, installed at `game_dir`.
pub fn client_launch(
    game_dir: &Path,
    start: &GameStart,
    player: &str,
) -> anyhow::Result<ClientLaunch> {
    // The client runs in its folder, so every path it is given is absolute.
    let game_dir = &std::path::absolute(game_dir)
        .with_context(|| format!("cannot resolve {}", game_dir.display()))?;
    let manifest = Manifest::load_dir(game_dir).map_err(|e| {
        anyhow::anyhow!("the installed game at {} is damaged: {e}", game_dir.display())
    })?;
    let placeholders = Placeholders {
        host: start.host.clone(),
        port: start.port,
        players: start.players.len() as u32,
        player: Some(player.to_owned()),
        match_id: start.match_id.to_string(),
        token: start.token.clone(),
        game_dir: game_dir.to_owned(),
        seat: seat_of(start, player),
        room_id: start.room,
        player_list: start.players.clone(),
    };
    let expanded =
        manifest.client.expand(&placeholders).context("cannot build the game client command")?;
    let mut command = tokio::process::Command::new(&expanded.argv[0]);
    command
        .args(&expanded.argv[1..])
        .current_dir(game_dir)
        .envs(expanded.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    Ok(ClientLaunch { command, program: expanded.argv[0].clone(), dir: game_dir.clone() })
}

/// Why a game of `kind` cannot show its window here, if it cannot: a `gui`
/// client needs a display (`DISPLAY` or `WAYLAND_DISPLAY`). Checked before
/// joining or starting a match, since a client that fails once the match
/// has started forfeits it for everyone. `GAMESTORE_BOT` set to a headless
/// mode (the sample games' bots, which open no window) lifts the check.
pub fn display_problem(kind: gamestore_package::GameKind, name: &str) -> Option<String> {
    if kind != gamestore_package::GameKind::Gui {
        return None;
    }
    let set = |var: &str| std::env::var_os(var).is_some_and(|v| !v.is_empty());
    if set("DISPLAY") || set("WAYLAND_DISPLAY") {
        return None;
    }
    let headless_bot = std::env::var("GAMESTORE_BOT").is_ok_and(|v| {
        matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on" | "headless")
    });
    if headless_bot {
        return None;
    }
    Some(format!(
        "{name} is a gui game and opens a window, but there is no display here \
         (DISPLAY and WAYLAND_DISPLAY are not set); run the launcher in a desktop session"
    ))
}

/// `{seat}` and `{player_id}` for `player`: the seat is the lobby's (else
/// the player's place in the list); the id only comes from the lobby.
fn seat_of(start: &GameStart, player: &str) -> Option<Seat> {
    let index =
        start.seat.or_else(|| start.players.iter().position(|p| p == player).map(|i| i as u32))?;
    Some(Seat { index, player_id: start.player_id? })
}
