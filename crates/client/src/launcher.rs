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
    Ok(command)
}

/// `{seat}` and `{player_id}` for `player`: the seat is the lobby's (else
/// the player's place in the list); the id only comes from the lobby.
fn seat_of(start: &GameStart, player: &str) -> Option<Seat> {
    let index =
        start.seat.or_else(|| start.players.iter().position(|p| p == player).map(|i| i as u32))?;
    Some(Seat { index, player_id: start.player_id? })
}
