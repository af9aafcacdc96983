//! Registering, logging in and out, and the refusals around them.

use gamestore_testkit::{Cli, TestLobby};

const PASSWORD: &str = "correct horse";

fn register(cli: &Cli, user: &str, password: &str) -> gamestore_testkit::Output {
    cli.run_with_stdin(&["register", "--user", user, "--password-stdin"], &format!("{password}\n"))
}

fn login(cli: &Cli, user: &str, password: &str) -> gamestore_testkit::Output {
    cli.run_with_stdin(&["login", "--user", user, "--password-stdin"], &format!("{password}\n"))
}

#[test]
fn developer_and_player_register_login_whoami() {
    let lobby = TestLobby::start();
    let homes = tempfile::tempdir().unwrap();
    let dev = Cli::dev(&lobby, &homes.path().join("dev"));
    let player = Cli::player(&lobby, &homes.path().join("player"));

    // The same name exists once as a developer and once as a player.
    for cli in [&dev, &player] {
        register(cli, "sam", PASSWORD).ok();
        login(cli, "sam", PASSWORD).ok();
    }
    let who = dev.run(&["whoami", "--json"]).ok().json();
    assert_eq!((who["user"].as_str(), who["role"].as_str()), (Some("sam"), Some("developer")));
    let who = player.run(&["whoami"]).ok().stdout.clone();
    assert!(who.starts_with("sam (player)"), "{who}");
}

#[test]
fn refusals_have_codes_and_one_error_line() {
    let lobby = TestLobby::start();
    let home = tempfile::tempdir().unwrap();
    let player = Cli::player(&lobby, home.path());
    register(&player, "ann", PASSWORD).ok();

    register(&player, "ann", PASSWORD).fails_with("NAME_TAKEN");
    register(&player, "ANN", PASSWORD).fails_with("NAME_TAKEN");
    register(&player, "bad name!", PASSWORD).fails_with("INVALID_NAME");
    register(&player, "bob", "short").fails_with("INVALID_PASSWORD");
    login(&player, "ann", "wrong password").fails_with("LOGIN_FAILED");
    let unknown = login(&player, "nobody", PASSWORD);
    unknown.fails_with("LOGIN_FAILED");
    // The lobby does not say which was wrong; the client says what to do.
    assert!(unknown.stderr.contains("register if you have no account"), "{unknown}");
    // Not logged in yet: commands that need a session say so.
    player.run(&["whoami"]).fails_with("NOT_LOGGED_IN");
    // A developer account of that name does not exist.
    let dev = Cli::dev(&lobby, home.path());
    login(&dev, "ann", PASSWORD).fails_with("LOGIN_FAILED");
}

#[test]
fn logout_ends_the_session() {
    let lobby = TestLobby::start();
    let home = tempfile::tempdir().unwrap();
    let player = Cli::player(&lobby, home.path());
    player.sign_up("ann", PASSWORD);
    let session_file = home.path().join("session-player.json");
    let mode = std::fs::metadata(&session_file).unwrap().permissions();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);

    let token = std::fs::read_to_string(&session_file).unwrap();
    player.run(&["logout"]).ok();
    assert!(!session_file.exists());
    player.run(&["whoami"]).fails_with("NOT_LOGGED_IN");

    // The old token no longer resumes, even if someone kept a copy.
    std::fs::write(&session_file, token).unwrap();
    player.run(&["whoami"]).fails_with("INVALID_SESSION");
}

#[test]
fn password_is_never_taken_from_argv_alone() {
    let lobby = TestLobby::start();
    let home = tempfile::tempdir().unwrap();
    let player = Cli::player(&lobby, home.path());
    // No terminal and no --password-stdin: refused before contacting the lobby.
    let out = player.run(&["register", "--user", "ann"]);
    assert!(out.stderr.contains("--password-stdin"), "{out}");
    out.fails_with("error:");
    let out = player.run(&["login", "--user", "ann", "--password", "x"]);
    assert_eq!(out.status.code(), Some(2), "unknown flag is a usage error: {out}");
}

#[test]
fn lobby_unreachable_is_one_clear_line() {
    // Bind and drop a listener to get a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let home = tempfile::tempdir().unwrap();
    let player = Cli::new("gamestore-player", &format!("127.0.0.1:{port}"), home.path());
    let out = player.run_with_stdin(&["login", "--user", "ann", "--password-stdin"], "pw\n");
    out.fails_with("cannot reach the lobby");
}
