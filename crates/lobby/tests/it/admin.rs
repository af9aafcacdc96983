//! Admin accounts and the admin pages: sign in, ban and unban (which ends
//! sessions at once), delist any game, stop a running match, the audit log;
//! anonymous visitors, non-admins and forged forms are kept out.

use std::net::SocketAddr;

use gamestore_protocol::{Event, GameStartNotify, Login, MatchOutcome, Register, RoomCreate};
use gamestore_testkit::{Cli, RawConn, TestLobby, bin, form_encode, http_get, http_post_form, run};

use crate::web::{publish_game, raw_developer};

const PASSWORD: &str = "correct horse";
const ADMIN_PASSWORD: &str = "admin password 1";

/// `gamestore-lobby admin add` on the lobby's data dir.
fn add_admin(lobby: &TestLobby, name: &str, password: &str) -> gamestore_testkit::Output {
    let mut command = std::process::Command::new(bin("gamestore-lobby"));
    command
        .args(["admin", "add", "--user", name, "--data-dir"])
        .arg(lobby.data_dir())
        .args(["--password-hash-kib", "64", "--password-hash-passes", "1"])
        .env_remove("GAMESTORE_CONFIG");
    run(command, &format!("{password}\n"), gamestore_testkit::TIMEOUT)
}

/// A signed-in admin's cookie and anti-forgery token.
struct AdminSession {
    web: SocketAddr,
    cookie: String,
    csrf: String,
}

fn hidden_csrf(body: &str) -> String {
    let at = body.find("name=\"csrf\" value=\"").expect("a form with a csrf field");
    body[at + 19..].split('"').next().unwrap().to_owned()
}

/// Signs in through the form, as a browser would.
fn sign_in(web: SocketAddr, user: &str, password: &str) -> Result<AdminSession, u16> {
    let form = http_get(web, "/admin/login", None);
    assert_eq!(form.status, 200);
    let login_cookie = form.cookie("gs_admin_login").expect("a sign-in cookie");
    let body = format!(
        "csrf={}&user={}&password={}",
        hidden_csrf(&form.body),
        form_encode(user),
        form_encode(password)
    );
    let signed = http_post_form(web, "/admin/login", Some(&login_cookie), &body);
    if signed.status != 303 {
        return Err(signed.status);
    }
    assert_eq!(signed.header("location"), Some("/admin"));
    let set = signed.set_cookies().into_iter().find(|c| c.starts_with("gs_admin=")).unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP cookies cannot be Secure: {set}");
    let cookie = signed.cookie("gs_admin").unwrap();
    let page = http_get(web, "/admin/accounts", Some(&cookie));
    assert_eq!(page.status, 200);
    Ok(AdminSession { web, cookie, csrf: hidden_csrf(&page.body) })
}

impl AdminSession {
    fn get(&self, path: &str) -> gamestore_testkit::HttpResponse {
        http_get(self.web, path, Some(&self.cookie))
    }

    fn post(&self, path: &str, fields: &str) -> gamestore_testkit::HttpResponse {
        let body = format!("csrf={}&{fields}", self.csrf);
        http_post_form(self.web, path, Some(&self.cookie), &body)
    }
}

fn lobby_with_admin() -> (TestLobby, AdminSession) {
    let lobby = TestLobby::start();
    add_admin(&lobby, "root", ADMIN_PASSWORD).ok();
    let admin = sign_in(lobby.http_addr(), "root", ADMIN_PASSWORD).expect("signed in");
    (lobby, admin)
}

fn raw_player(lobby: &TestLobby, name: &str) -> RawConn {
    let mut conn = RawConn::hello(lobby.addr);
    conn.call(Register::new(name, PASSWORD)).unwrap();
    conn.call(Login::new(name, PASSWORD)).unwrap();
    conn
}

fn login(cli: &Cli, name: &str) -> gamestore_testkit::Output {
    cli.run_with_stdin(&["login", "--user", name, "--password-stdin"], &format!("{PASSWORD}\n"))
}

/// The account id in the ban form on the accounts page for `name`.
fn account_id(admin: &AdminSession, name: &str) -> String {
    let page = admin.get(&format!("/admin/accounts?q={name}")).body;
    let at = page.find("/admin/accounts/").expect("an account row");
    page[at + 16..].split('/').next().unwrap().to_owned()
}

#[test]
fn admin_add_refuses_a_duplicate_and_bad_passwords() {
    let lobby = TestLobby::start();
    add_admin(&lobby, "root", ADMIN_PASSWORD).ok();
    let again = add_admin(&lobby, "root", ADMIN_PASSWORD);
    assert!(!again.success() && again.stderr.contains("already exists"), "{}", again.stderr);
    let short = add_admin(&lobby, "other", "x");
    assert!(!short.success(), "{}", short.stderr);
    assert_eq!(sign_in(lobby.http_addr(), "root", "not the password").err(), Some(403));
}

#[test]
fn a_ban_ends_the_players_session_at_once_and_is_audited() {
    let (lobby, admin) = lobby_with_admin();
    let tmp = tempfile::tempdir().unwrap();
    let mut ann = RawConn::hello(lobby.addr);
    ann.call(Register::new("ann", PASSWORD)).unwrap();
    let session = ann.call(Login::new("ann", PASSWORD)).unwrap();
    let token = session["token"].as_str().unwrap().to_owned();
    let ann_cli = Cli::player(&lobby, &tmp.path().join("ann"));

    let id = account_id(&admin, "ann");
    let banned = admin.post(&format!("/admin/accounts/{id}/ban"), "reason=cheating+in+chess");
    assert_eq!(banned.status, 303, "{}", banned.body);
    let reason = ann.expect_event("SESSION_REVOKED", |e| match e {
        Event::SessionRevoked(r) => Some(r.reason.clone()),
        _ => None,
    });
    assert!(reason.contains("cheating in chess"), "{reason}");
    // The connection is closed by the lobby (a read timeout would panic).
    ann.recv_until_closed();
    // The session is gone, not only the connection.
    let mut again = RawConn::hello(lobby.addr);
    let resumed = again.call(gamestore_protocol::Resume { token }).unwrap_err();
    assert_eq!(resumed.code, gamestore_protocol::ErrorCode::InvalidSession);
    login(&ann_cli, "ann").fails_with("ACCOUNT_BANNED");
    let accounts = admin.get("/admin/accounts?q=ann").body;
    assert!(accounts.contains("banned") && accounts.contains("cheating in chess"), "{accounts}");

    let lifted = admin.post(&format!("/admin/accounts/{id}/unban"), "reason=appeal+accepted");
    assert_eq!(lifted.status, 303);
    login(&ann_cli, "ann").ok();

    let audit = admin.get("/admin/audit").body;
    for row in ["ban", "unban", "cheating in chess", "appeal accepted", "root"] {
        assert!(audit.contains(row), "{row} missing from the audit log:\n{audit}");
    }
}

#[test]
fn anonymous_visitors_and_non_admins_are_kept_out() {
    let (lobby, admin) = lobby_with_admin();
    let web = lobby.http_addr();
    let tmp = tempfile::tempdir().unwrap();
    Cli::player(&lobby, &tmp.path().join("ann")).sign_up("ann", PASSWORD);
    let id = account_id(&admin, "ann");

    for path in [
        "/admin",
        "/admin/accounts",
        "/admin/games",
        "/admin/matches",
        "/admin/system",
        "/admin/audit",
    ] {
        let visit = http_get(web, path, None);
        assert_eq!((visit.status, visit.header("location")), (303, Some("/admin/login")), "{path}");
        let forged = http_get(web, path, Some(&format!("gs_admin={}", "ab".repeat(32))));
        assert_eq!(forged.status, 303, "{path} with a forged cookie");
    }
    let anonymous = http_post_form(web, &format!("/admin/accounts/{id}/ban"), None, "reason=x");
    assert_eq!(anonymous.status, 403);
    // A player's own name and password are not an admin's.
    assert_eq!(sign_in(web, "ann", PASSWORD).err(), Some(403));
    // Nothing changed: ann can still log in.
    login(&Cli::player(&lobby, &tmp.path().join("ann")), "ann").ok();
}

#[test]
fn forms_without_the_anti_forgery_token_are_refused() {
    let (lobby, admin) = lobby_with_admin();
    let web = lobby.http_addr();
    let tmp = tempfile::tempdir().unwrap();
    let ann = Cli::player(&lobby, &tmp.path().join("ann"));
    ann.sign_up("ann", PASSWORD);
    let id = account_id(&admin, "ann");
    let path = format!("/admin/accounts/{id}/ban");

    let without = http_post_form(web, &path, Some(&admin.cookie), "reason=forged");
    assert_eq!(without.status, 403);
    let wrong = http_post_form(
        web,
        &path,
        Some(&admin.cookie),
        &format!("csrf={}&reason=forged", "0".repeat(64)),
    );
    assert_eq!(wrong.status, 403);
    assert!(wrong.body.contains("anti-forgery"), "{}", wrong.body);
    ann.run(&["whoami"]).ok();
    assert!(!admin.get("/admin/audit").body.contains("forged"));

    // The sign-in form needs its own token too.
    let login = http_post_form(
        web,
        "/admin/login",
        None,
        &format!("user=root&password={}", form_encode(ADMIN_PASSWORD)),
    );
    assert_eq!(login.status, 403);
    assert!(login.cookie("gs_admin").is_none());
}

#[test]
fn admins_delist_any_game_and_stop_a_running_match() {
    let (lobby, admin) = lobby_with_admin();
    let tmp = tempfile::tempdir().unwrap();
    let mut dev = raw_developer(&lobby, "dana");
    publish_game(&mut dev, tmp.path(), "test", "Test Game", "the test game");
    publish_game(&mut dev, tmp.path(), "other", "Other Game", "another game");

    let games = admin.get("/admin/games").body;
    assert!(games.contains("Test Game") && games.contains("1.0.0"), "{games}");
    assert_eq!(admin.post("/admin/games/other/delist", "").status, 303);
    assert_eq!(http_get(lobby.http_addr(), "/games/other", None).status, 404);
    assert!(admin.get("/admin/games").body.contains("delisted"));

    // A host alone in a started room: the game server waits for players.
    let mut host = raw_player(&lobby, "ann");
    host.call(RoomCreate { game: "test".into() }).unwrap();
    host.call(GameStartNotify {}).unwrap();
    let match_id = host.expect_event("GAME_START", |e| match e {
        Event::GameStart(s) => Some(s.match_id),
        _ => None,
    });
    let matches = admin.get("/admin/matches").body;
    assert!(
        matches.contains(&format!("Match {match_id}")) && matches.contains("Running (1)"),
        "{matches}"
    );

    let stopped = admin.post(&format!("/admin/matches/{match_id}/stop"), "reason=maintenance");
    assert_eq!(stopped.status, 303);
    let (outcome, message) = host.expect_event("MATCH_ENDED", |e| match e {
        Event::MatchEnded(m) => Some((m.outcome, m.message.clone())),
        _ => None,
    });
    assert_eq!(outcome, MatchOutcome::Aborted);
    assert!(message.contains("maintenance"), "{message}");
    let after = admin.get("/admin/matches").body;
    assert!(after.contains("Running (0)") && after.contains("aborted"), "{after}");

    let audit = admin.get("/admin/audit").body;
    assert!(audit.contains("delist") && audit.contains("game:other"), "{audit}");
    assert!(audit.contains("stop_match") && audit.contains("maintenance"), "{audit}");
    let system = admin.get("/admin/system").body;
    assert!(system.contains("Sandbox") && system.contains("Largest upload"), "{system}");
    assert!(system.contains("Recent warnings"), "{system}");
}
