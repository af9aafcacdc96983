//! What the match and launcher tests share: a lobby with a signed-up
//! developer, players made as a user would make them, and the events of
//! `play --json`.

use gamestore_protocol::{Login, Register};
use gamestore_testkit::{Cli, LobbyOptions, Output, RawConn, TestLobby, game_package};
use serde_json::Value;

pub const PASSWORD: &str = "correct horse";

/// A lobby, a temporary folder for homes and games, and developer dana.
pub struct World {
    pub lobby: TestLobby,
    pub tmp: tempfile::TempDir,
    pub dev: Cli,
}

pub fn world() -> World {
    world_with(&[])
}

/// [`world`] with extra lobby flags.
pub fn world_with(args: &[&str]) -> World {
    let lobby = TestLobby::start_with(LobbyOptions {
        args: args.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let dev = Cli::dev(&lobby, &tmp.path().join("dev"));
    dev.sign_up("dana", PASSWORD);
    World { lobby, tmp, dev }
}

/// Dana publishes the game in `folder`.
pub fn publish(w: &World, folder: &std::path::Path) {
    w.dev.run(&["publish", folder.to_str().unwrap()]).ok();
}

/// A signed-up player whose game clients play as bots.
pub fn player(w: &World, name: &str) -> Cli {
    bot_player(&w.lobby, &w.tmp, name)
}

/// [`player`] on any lobby, with a home in `tmp`.
pub fn bot_player(lobby: &TestLobby, tmp: &tempfile::TempDir, name: &str) -> Cli {
    let cli = Cli::player(lobby, &tmp.path().join(name)).env("GAMESTORE_BOT", "1");
    cli.sign_up(name, PASSWORD);
    cli
}

/// A lobby where dana has published the `test` game.
pub fn lobby_with_test_game() -> (TestLobby, tempfile::TempDir, Cli) {
    let w = world();
    publish(&w, &game_package("test"));
    (w.lobby, w.tmp, w.dev)
}

/// A registered, logged-in player on a raw connection.
pub fn raw_player(w: &World, name: &str) -> RawConn {
    registered_player(&w.lobby, name)
}

/// Registers `name` with `lobby` and logs in on a new raw connection.
pub fn registered_player(lobby: &TestLobby, name: &str) -> RawConn {
    let mut conn = RawConn::hello(lobby.addr);
    conn.call(Register::new(name, PASSWORD)).unwrap();
    conn.call(Login::new(name, PASSWORD)).unwrap();
    conn
}

/// The JSON event lines of `play --json` with the given type.
pub fn events_of(out: &Output, kind: &str) -> Vec<Value> {
    out.stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == kind)
        .map(|v| v["data"].clone())
        .collect()
}
