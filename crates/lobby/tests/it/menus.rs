//! The interactive menus of `gamestore-player` and `gamestore-dev`, driven
//! through a real pseudo-terminal (a tmux pane per user: keys in with
//! send-keys, the screen out with capture-pane), plus one scripted run with
//! piped input.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gamestore_testkit::{Cli, LobbyOptions, TIMEOUT, TestLobby, game_package};

const PASSWORD: &str = "correct horse";

/// One program running in its own tmux server (so tests never share one),
/// killed with everything in it when dropped, even on failure.
pub(crate) struct Screen {
    /// The tmux server's socket, in `_dir` (removed with it).
    socket: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Screen {
    /// Runs `command` (program, arguments and environment) in a 200×50 pane.
    fn start(name: &str, command: &Command) -> Screen {
        let dir = tempfile::Builder::new().prefix(&format!("menus-{name}-")).tempdir().unwrap();
        let conf = dir.path().join("tmux.conf");
        // The pane stays after the program exits, so its last words can be read.
        std::fs::write(&conf, "set -g remain-on-exit on\nset -g history-limit 20000\n").unwrap();
        let socket = dir.path().join("tmux.sock");
        let mut tmux = Command::new("tmux");
        tmux.arg("-S")
            .arg(&socket)
            .arg("-f")
            .arg(&conf)
            .args(["new-session", "-d", "-s", "main", "-x", "200", "-y", "50"])
            .args(env_argv(command));
        let screen = Screen { socket, _dir: dir };
        let status = tmux.status().expect("run tmux");
        assert!(status.success(), "tmux new-session failed");
        screen
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux").arg("-S").arg(&self.socket).args(args).output().expect("run tmux")
    }

    /// Types `text` and Enter.
    pub(crate) fn line(&self, text: &str) {
        self.typed(text);
        self.key("Enter");
    }

    /// Types `text` without Enter.
    pub(crate) fn typed(&self, text: &str) {
        if !text.is_empty() {
            assert!(self.tmux(&["send-keys", "-t", "main", "-l", text]).status.success());
        }
    }

    /// Presses a key by its tmux name (`Enter`, `C-d`, `C-c`).
    pub(crate) fn key(&self, key: &str) {
        assert!(self.tmux(&["send-keys", "-t", "main", key]).status.success());
    }

    /// Everything the pane showed, scrollback included, wrapped lines joined.
    pub(crate) fn text(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", "main"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The last line that is not empty: the prompt and what is typed on it.
    fn last_line(&self) -> String {
        self.text().lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim_end().to_owned()
    }

    /// Waits until `what` is on the screen `times` times in all.
    #[track_caller]
    pub(crate) fn wait_for_times(&self, what: &str, times: usize) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let text = self.text();
            if text.matches(what).count() >= times {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what:?} (×{times}) on screen {}:\n{text}",
                self.socket.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[track_caller]
    pub(crate) fn wait_for(&self, what: &str) {
        self.wait_for_times(what, 1);
    }

    /// Waits until the line being edited reads `line`.
    #[track_caller]
    pub(crate) fn wait_for_prompt(&self, line: &str) {
        let deadline = Instant::now() + TIMEOUT;
        while self.last_line() != line {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for the prompt {line:?}; screen:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The lines after the first line holding `from` and before the first
    /// later line holding `to`.
    fn lines_between(&self, from: &str, to: &str) -> Vec<String> {
        let text = self.text();
        text.lines()
            .skip_while(|line| !line.contains(from))
            .skip(1)
            .take_while(|line| !line.contains(to))
            .map(str::to_owned)
            .collect()
    }

    /// The program's exit status once it has exited (the shell around it
    /// prints it; see [`env_argv`]).
    #[track_caller]
    fn wait_exit(&self) -> i32 {
        self.wait_for("[exited with ");
        let text = self.text();
        let status = text.rsplit("[exited with ").next().unwrap();
        status.split(']').next().unwrap().parse().expect("exit status")
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        // Ends the pane's program (SIGHUP) and any game client it started.
        let _ = self.tmux(&["kill-server"]);
    }
}

/// `sh -c 'trap : INT; "$@"; echo "[exited with $?]"' sh env -u A K=V
/// program args...` for a prepared command: its environment as `env`
/// arguments, and its exit status printed when it ends (the shell outlives
/// a Ctrl-C meant for the program).
fn env_argv(command: &Command) -> Vec<OsString> {
    let mut removed = Vec::new();
    let mut set = Vec::new();
    for (key, value) in command.get_envs() {
        match value {
            None => {
                removed.push(OsString::from("-u"));
                removed.push(key.to_owned());
            }
            Some(value) => {
                let mut pair = key.to_owned();
                pair.push("=");
                pair.push(value);
                set.push(pair);
            }
        }
    }
    let mut argv: Vec<OsString> =
        ["sh", "-c", "trap : INT; \"$@\"; echo \"[exited with $?]\"", "sh", "env"]
            .map(OsString::from)
            .into();
    argv.extend(removed);
    argv.extend(set);
    argv.push(command.get_program().to_owned());
    argv.extend(command.get_args().map(ToOwned::to_owned));
    argv
}

/// A lobby with the test game published.
fn lobby_with_test_game(tmp: &Path) -> TestLobby {
    let lobby = TestLobby::start();
    let dev = Cli::dev(&lobby, &tmp.join("dev"));
    dev.sign_up("dana", PASSWORD);
    dev.run(&["publish", game_package("test").to_str().unwrap()]).ok();
    lobby
}

/// A player's menu in a pane; its game clients play by themselves.
pub(crate) fn player_menu(lobby: &TestLobby, home: &Path, name: &str) -> Screen {
    let cli = Cli::player(lobby, home).env("GAMESTORE_BOT", "1");
    Screen::start(name, &cli.command(&[]))
}

#[test]
fn players_meet_chat_and_play_from_the_menus() {
    let tmp = tempfile::tempdir().unwrap();
    let lobby = lobby_with_test_game(tmp.path());
    let ann_home = tmp.path().join("ann");
    Cli::player(&lobby, &ann_home)
        .run_with_stdin(
            &["register", "--user", "ann", "--password-stdin"],
            &format!("{PASSWORD}\n"),
        )
        .ok();
    // Bob is logged in already: his menu resumes the saved session.
    let bob_home = tmp.path().join("bob");
    Cli::player(&lobby, &bob_home).sign_up("bob", PASSWORD);

    // Ann logs in from the menu; a letter is not a choice.
    let ann = player_menu(&lobby, &ann_home, "ann");
    ann.wait_for("not logged in");
    ann.wait_for_prompt("main menu>");
    ann.line("x");
    ann.wait_for("\"x\" is not a choice: type a number from 0 to 2");
    ann.line("1");
    ann.wait_for("user name");
    ann.line("ann");
    ann.wait_for("password:");
    ann.line(PASSWORD);
    ann.wait_for("logged in as ann (player)");
    ann.wait_for_prompt("main menu (ann)>");

    // Store: out of range is re-asked; then install the test game.
    ann.line("1");
    ann.wait_for_prompt("store>");
    ann.line("9");
    ann.wait_for("\"9\" is not a choice: type a number from 0 to 3");
    ann.line("3");
    ann.wait_for("1) Test Game (test 1.0.0, cli)");
    ann.line("1");
    ann.wait_for("installed test 1.0.0");
    ann.wait_for_prompt("store>");
    // A game's details offer to install it or play it.
    ann.line("2");
    ann.wait_for_prompt("details of>");
    ann.line("1");
    ann.wait_for("1) Install or update");
    ann.wait_for("2) Play (quick play)");
    ann.wait_for_prompt("test game (test)>");
    ann.line("0");
    ann.wait_for_prompt("store>");
    ann.line("0");

    // Lobby: an empty answer is re-asked; then create a room.
    ann.wait_for_prompt("main menu (ann)>");
    ann.line("3");
    ann.wait_for_prompt("lobby>");
    ann.line("");
    ann.wait_for("nothing chosen: type a number from 0 to 5");
    ann.line("3");
    ann.wait_for_prompt("create a room for>");
    ann.line("1");
    ann.wait_for("== Room 1: Test Game 1.0.0 ==");
    ann.wait_for_prompt("room 1>");

    // Ann starts typing; Bob joins by the menu meanwhile.
    ann.typed("hello b");
    ann.wait_for_prompt("room 1> hello b");
    let bob = player_menu(&lobby, &bob_home, "bob");
    bob.wait_for("logged in as bob (player)");
    bob.wait_for_prompt("main menu (bob)>");
    bob.line("3");
    bob.wait_for_prompt("lobby>");
    bob.line("2");
    bob.wait_for("1) Room 1: Test Game 1.0.0, host ann, 1/16 players, waiting");
    bob.line("1");
    bob.wait_for("2/16 players, waiting: ann (host), bob");
    bob.wait_for_prompt("room 1>");

    // Ann sees Bob arrive, and her half-typed line is intact.
    ann.wait_for("bob joined the room (2/16 players)");
    // The room's maker is not told of their own arrival.
    assert!(!ann.text().contains("ann joined the room"), "{}", ann.text());
    ann.wait_for_prompt("room 1> hello b");

    // Chat both ways.
    ann.line("ob");
    for screen in [&ann, &bob] {
        screen.wait_for("[room 1] ann: hello bob");
    }
    bob.line("hi ann");
    for screen in [&ann, &bob] {
        screen.wait_for("[room 1] bob: hi ann");
    }

    // Only the host may start; Ann presses s.
    bob.line("s");
    bob.wait_for("error: only the room's host can start the match");
    ann.line("s");
    for screen in [&ann, &bob] {
        screen.wait_for("match 1 starting: game server at 127.0.0.1:");
        // The game client ran in the terminal and talked to the game server.
        screen.wait_for("greeted: Hello");
        // The room's prompt was put away before the game took the terminal.
        let before_game = screen.lines_between("match 1 starting", "greeted: Hello");
        assert!(
            !before_game.iter().any(|line| line.contains("room 1>")),
            "a room prompt was left before the game's output: {before_game:#?}"
        );
        screen.wait_for("your game client finished");
        screen.wait_for("back in the room. ");
        screen.wait_for("match 1 ended");
        screen.wait_for("the room is waiting again (2/16 players)");
        screen.wait_for_prompt("room 1>");
    }
    // The room screen works again after the match.
    bob.line("gg");
    ann.wait_for("[room 1] bob: gg");

    // Ctrl-D leaves cleanly; the saved session stays for next time.
    ann.key("C-d");
    ann.wait_for("bye");
    assert_eq!(ann.wait_exit(), 0);
    assert!(ann_home.join("session-player.json").exists(), "the session was kept");
    // The lobby removed Ann from the room with her connection.
    bob.wait_for("ann left the room (1/16 players)");
    bob.wait_for("bob is now the host");

    // Bob leaves the room and reviews the game he has just played.
    bob.line("l");
    bob.wait_for("you left room 1");
    bob.wait_for_prompt("lobby>");
    bob.line("0");
    bob.wait_for_prompt("main menu (bob)>");
    bob.line("4");
    bob.wait_for_prompt("reviews>");
    bob.line("2");
    bob.wait_for_prompt("review>");
    bob.line("1");
    bob.wait_for("stars, 1 to 5");
    bob.line("five");
    bob.wait_for("\"five\" is not a number from 1 to 5; try again");
    bob.line("4");
    bob.wait_for("text (optional");
    bob.line("fun to test");
    bob.wait_for("saved your review of test: 4 stars");
    bob.line("1");
    bob.wait_for_prompt("reviews of>");
    bob.line("1");
    bob.wait_for("****  bob");
    bob.wait_for("      fun to test");
}

#[test]
fn developer_registers_and_publishes_from_the_menu() {
    let tmp = tempfile::tempdir().unwrap();
    let lobby = TestLobby::start();
    let home = tmp.path().join("dev");
    let dev = Cli::dev(&lobby, &home);
    let screen = Screen::start("dev", &dev.command(&[]));
    screen.wait_for_prompt("main menu>");
    screen.line("2");
    screen.line("dana");
    screen.wait_for("password (8 to 128 characters):");
    screen.line(PASSWORD);
    screen.wait_for("password again:");
    screen.line(PASSWORD);
    screen.wait_for("registered developer account dana and logged in");
    screen.wait_for_prompt("main menu (dana)>");
    screen.line("publish");
    screen.wait_for("\"publish\" is not a choice: type a number from 0 to 4");

    // A broken folder is refused with its problems, and the menu goes on.
    let broken = tmp.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("config.json"), r#"{"id": "Bad Id"}"#).unwrap();
    screen.line("2");
    screen.wait_for("game folder to publish");
    screen.line(broken.to_str().unwrap());
    screen.wait_for("problems in config.json");
    screen.wait_for_prompt("main menu (dana)>");

    let package = game_package("test");
    screen.line("2");
    screen.wait_for_times("game folder to publish", 2);
    screen.line(package.to_str().unwrap());
    screen.wait_for("is a valid package: test 1.0.0");
    screen.wait_for("published test 1.0.0");
    screen.wait_for_prompt("main menu (dana)>");

    // My games shows it, with its versions.
    screen.line("1");
    screen.wait_for_prompt("my games>");
    screen.line("2");
    screen.wait_for("1) Test Game (test 1.0.0, listed)");
    screen.line("1");
    screen.wait_for("versions:");
    screen.wait_for("No reviews yet.");
    screen.wait_for_prompt("my games>");

    // Delisting asks first: anything but yes keeps the game listed.
    screen.line("3");
    screen.wait_for_prompt("delist>");
    screen.line("1");
    screen.wait_for("delist Test Game (test)? It leaves the store");
    screen.line("n");
    screen.wait_for("test stays listed");
    screen.wait_for_prompt("my games>");
    assert_eq!(dev.run(&["games", "--json"]).ok().json()[0]["listed"], true);
    screen.line("3");
    screen.wait_for_prompt("delist>");
    screen.line("1");
    screen.wait_for_times("delist Test Game (test)? It leaves the store", 2);
    screen.line("y");
    screen.wait_for("test is delisted");
    screen.wait_for_prompt("my games>");
    screen.line("4");
    screen.wait_for_prompt("relist>");
    screen.line("1");
    screen.wait_for("test is listed again");
    screen.wait_for_prompt("my games>");

    // A new game from the terminal template.
    screen.line("0");
    screen.wait_for_prompt("main menu (dana)>");
    screen.line("3");
    screen.wait_for("folder for the new game");
    screen.line(tmp.path().join("tictac").to_str().unwrap());
    screen.wait_for_prompt("template>");
    screen.line("1");
    screen.wait_for("Tictac (tictac), from the cli template");
    assert!(tmp.path().join("tictac/config.json").exists());
    screen.wait_for_prompt("main menu (dana)>");

    // Ctrl-C at a prompt leaves.
    screen.key("C-c");
    screen.wait_for("bye");
    assert_eq!(screen.wait_exit(), 0);

    let games = dev.run(&["games", "--json"]).ok().json();
    assert_eq!(games[0]["id"], "test");
    assert_eq!(games[0]["listed"], true);
}

#[test]
fn a_menu_whose_session_ends_goes_back_to_log_in() {
    let tmp = tempfile::tempdir().unwrap();
    let lobby = lobby_with_test_game(tmp.path());
    let home = tmp.path().join("ann");
    Cli::player(&lobby, &home).sign_up("ann", PASSWORD);
    let ann = player_menu(&lobby, &home, "ann-revoked");
    ann.wait_for_prompt("main menu (ann)>");
    ann.line("3");
    ann.wait_for_prompt("lobby>");

    // Ann logs in somewhere else: this menu's session is revoked.
    Cli::player(&lobby, &tmp.path().join("ann-elsewhere"))
        .run_with_stdin(&["login", "--user", "ann", "--password-stdin"], &format!("{PASSWORD}\n"))
        .ok();
    ann.wait_for("your session has ended: log in again");
    ann.wait_for_prompt("lobby>");
    // The next answer leads to the login screen, not to NOT_LOGGED_IN errors.
    ann.line("1");
    ann.wait_for("back to the main menu");
    ann.wait_for_prompt("main menu>");
    assert!(!ann.text().contains("NOT_LOGGED_IN"), "{}", ann.text());
    ann.line("1");
    ann.wait_for("user name");
}

#[test]
fn menu_reconnects_after_a_lobby_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let mut lobby = lobby_with_test_game(tmp.path());
    let home = tmp.path().join("ann");
    Cli::player(&lobby, &home).sign_up("ann", PASSWORD);
    let ann = player_menu(&lobby, &home, "ann-restart");
    ann.wait_for_prompt("main menu (ann)>");
    ann.line("3");
    ann.line("4");
    ann.wait_for_prompt("quick play>");
    ann.line("1");
    ann.wait_for_prompt("room 1>");

    lobby.restart();
    ann.wait_for("connection lost");
    ann.wait_for("you are no longer in room 1");
    ann.wait_for("reconnected as ann");
    ann.wait_for_prompt("lobby>");
    // The session goes on over the new connection.
    ann.line("1");
    ann.wait_for("PLAYER");
    ann.wait_for("ann     idle");
}

#[test]
fn ctrl_c_stops_a_slow_install_and_the_menu_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let lobby = TestLobby::start_with(LobbyOptions {
        args: vec!["--download-rate".into(), "20000".into()],
        ..Default::default()
    });
    let dev = Cli::dev(&lobby, &tmp.path().join("dev"));
    dev.sign_up("dana", PASSWORD);
    dev.run(&["publish", game_package("test").to_str().unwrap()]).ok();
    let home = tmp.path().join("ann");
    Cli::player(&lobby, &home).sign_up("ann", PASSWORD);
    let ann = player_menu(&lobby, &home, "ann-interrupt");
    ann.wait_for_prompt("main menu (ann)>");
    ann.line("1");
    ann.wait_for_prompt("store>");
    ann.line("3");
    ann.wait_for_prompt("install>");
    ann.line("1");
    // At 20 kB/s the download takes half a minute: stop it.
    ann.wait_for("downloading test 1.0.0");
    ann.key("C-c");
    ann.wait_for("interrupted");
    ann.wait_for("reconnected as ann");
    ann.wait_for_prompt("store>");
    // Nothing half-installed shows up.
    ann.line("0");
    ann.wait_for_prompt("main menu (ann)>");
    ann.line("2");
    ann.wait_for_prompt("library>");
    ann.line("1");
    ann.wait_for("No game installed yet");
    ann.key("C-d");
    assert_eq!(ann.wait_exit(), 0);
}

#[test]
fn menu_reads_piped_input_for_scripts() {
    let tmp = tempfile::tempdir().unwrap();
    let lobby = lobby_with_test_game(tmp.path());
    let player = Cli::player(&lobby, &tmp.path().join("ann"));
    player
        .run_with_stdin(
            &["register", "--user", "ann", "--password-stdin"],
            &format!("{PASSWORD}\n"),
        )
        .ok();
    // Log in, a bad answer, the store list, who am I, quit.
    let script = format!("1\nann\n{PASSWORD}\nx\n1\n1\n0\n5\n1\n0\n0\n");
    let out = player.run_with_stdin(&[], &script).ok().clone();
    for expected in [
        "logged in as ann (player)",
        "\"x\" is not a choice",
        "Test Game",
        "ann (player) on",
        "bye",
    ] {
        assert!(out.stdout.contains(expected), "missing {expected:?}: {out}");
    }
    // The end of the input leaves too.
    let out = player.run_with_stdin(&[], "1\n").ok().clone();
    assert!(out.stdout.contains("== Store =="), "{out}");
    assert!(out.stdout.ends_with("bye\n"), "{out}");
}

#[test]
fn menu_tells_a_player_who_never_played_before_asking_for_stars() {
    let tmp = tempfile::tempdir().unwrap();
    let lobby = lobby_with_test_game(tmp.path());
    let home = tmp.path().join("ann");
    Cli::player(&lobby, &home).sign_up("ann", PASSWORD);
    let ann = player_menu(&lobby, &home, "ann-review");
    ann.wait_for_prompt("main menu (ann)>");
    ann.line("4");
    ann.wait_for_prompt("reviews>");
    ann.line("2");
    ann.wait_for_prompt("review>");
    ann.line("1");
    ann.wait_for("you have not played Test Game yet");
    ann.wait_for_prompt("reviews>");
    assert!(!ann.text().contains("stars, 1 to 5"), "asked for stars first:\n{}", ann.text());
}
