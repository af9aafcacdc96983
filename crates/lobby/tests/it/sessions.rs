//! One live session per account, and sessions surviving a lobby restart.

use gamestore_protocol::{ErrorCode, Event, Login, Register, ServerMessage, Whoami};
use gamestore_testkit::{Cli, RawConn, TestLobby};

const PASSWORD: &str = "correct horse";

#[test]
fn second_login_revokes_the_first_connection() {
    let lobby = TestLobby::start();
    let mut first = RawConn::hello(lobby.addr);
    first.call(Register::new("ann", PASSWORD)).unwrap();
    first.call(Login::new("ann", PASSWORD)).unwrap();
    assert!(first.call(Whoami {}).is_ok());

    let mut second = RawConn::hello(lobby.addr);
    second.call(Login::new("ann", PASSWORD)).unwrap();

    // The first connection is told why, then closed.
    let messages = first.recv_until_closed();
    let revoked = messages.iter().any(|m| {
        matches!(m, ServerMessage::Event(Event::SessionRevoked(r)) if r.reason.contains("elsewhere"))
    });
    assert!(revoked, "no SESSION_REVOKED before close: {messages:?}");
    // The second one works.
    let who = second.call(Whoami {}).unwrap();
    assert_eq!(who["user"], "ann");
}

#[test]
fn login_from_another_home_invalidates_the_saved_session() {
    let lobby = TestLobby::start();
    let homes = tempfile::tempdir().unwrap();
    let laptop = Cli::player(&lobby, &homes.path().join("laptop"));
    let desktop = Cli::player(&lobby, &homes.path().join("desktop"));
    laptop.sign_up("ann", PASSWORD);
    desktop.run_with_stdin(&["login", "--user", "ann", "--password-stdin"], "correct horse\n").ok();
    desktop.run(&["whoami"]).ok();
    laptop.run(&["whoami"]).fails_with("INVALID_SESSION");
}

#[test]
fn accounts_and_sessions_survive_kill_9() {
    let mut lobby = TestLobby::start();
    let homes = tempfile::tempdir().unwrap();
    let users: Vec<(String, Cli)> = (0..5)
        .map(|i| {
            let name = format!("user{i}");
            let cli = if i % 2 == 0 {
                Cli::player(&lobby, &homes.path().join(&name))
            } else {
                Cli::dev(&lobby, &homes.path().join(&name))
            };
            cli.sign_up(&name, PASSWORD);
            (name, cli)
        })
        .collect();

    lobby.kill9();
    lobby.restart();

    for (name, cli) in &users {
        // The saved session still resumes, and the password still logs in.
        let who = cli.run(&["whoami", "--json"]).ok().json();
        assert_eq!(who["user"].as_str(), Some(name.as_str()));
        cli.run_with_stdin(&["login", "--user", name, "--password-stdin"], "correct horse\n").ok();
    }
}

#[test]
fn sigterm_shuts_down_cleanly_and_tells_clients() {
    let mut lobby = TestLobby::start();
    let mut conn = RawConn::hello(lobby.addr);
    let status = lobby.terminate();
    assert!(status.success(), "lobby exited with {status} on SIGTERM:\n{}", lobby.log());
    let messages = conn.recv_until_closed();
    assert!(
        messages.iter().any(|m| matches!(m, ServerMessage::Event(Event::ServerShutdown(_)))),
        "{messages:?}"
    );
}

#[test]
fn whoami_without_login_is_refused() {
    let lobby = TestLobby::start();
    let mut conn = RawConn::hello(lobby.addr);
    let err = conn.call(Whoami {}).unwrap_err();
    assert_eq!(err.code, ErrorCode::NotLoggedIn);
}
