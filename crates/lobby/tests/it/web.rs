//! The lobby's website and JSON API (`--http-listen`): the catalog with
//! search, sort and pages, a game's page, the lobby now, health checks,
//! `/metrics`, and hostile HTTP input.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use gamestore_protocol::{DevLogin, DevRegister, GameStartNotify, RoomCreate};
use gamestore_testkit::{Cli, RawConn, TestLobby, game_variant, http_get, http_post_form};
use sha2::{Digest, Sha256};

const PASSWORD: &str = "correct horse";

/// A developer on a raw connection, for fast publishing.
pub fn raw_developer(lobby: &TestLobby, name: &str) -> RawConn {
    let mut conn = RawConn::hello(lobby.addr);
    conn.call(DevRegister::new(name, PASSWORD)).unwrap();
    conn.call(DevLogin::new(name, PASSWORD)).unwrap();
    conn
}

/// Publishes a variant of the sample `test` game with `id`, `name` and
/// `description`.
pub fn publish_game(conn: &mut RawConn, tmp: &Path, id: &str, name: &str, description: &str) {
    let dir = game_variant(tmp, "test", |m| {
        m["id"] = id.into();
        m["name"] = name.into();
        m["description"] = description.into();
    });
    let mut zip = std::io::Cursor::new(Vec::new());
    gamestore_package::pack_dir(&dir, &mut zip).unwrap();
    let zip = zip.into_inner();
    let sha = hex::encode(Sha256::digest(&zip));
    conn.upload(id, "1.0.0", &zip, &sha).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_catalog_searches_sorts_and_pages() {
    let lobby = TestLobby::start();
    let web = lobby.http_addr();
    let empty = http_get(web, "/", None);
    assert_eq!(empty.status, 200);
    assert!(empty.body.contains("The store is empty"), "{}", empty.body);

    let tmp = tempfile::tempdir().unwrap();
    let mut dev = raw_developer(&lobby, "dana");
    // 30 games: more than one page of 24.
    for i in 0..30 {
        let id = format!("game{i:02}");
        let name = format!("Game {i:02}");
        let description = if i % 10 == 3 { "a puzzle about crates" } else { "an arcade game" };
        publish_game(&mut dev, tmp.path(), &id, &name, description);
    }

    let first = http_get(web, "/", None);
    assert_eq!(first.status, 200);
    assert!(first.body.contains("30 games · page 1 of 2"), "{}", first.body);
    assert!(first.body.contains("Game 00") && first.body.contains("Game 23"));
    assert!(!first.body.contains("Game 24"));
    let second = http_get(web, "/?page=2", None);
    assert!(second.body.contains("Game 24") && second.body.contains("Game 29"));
    assert!(!second.body.contains("Game 23"));

    let found = http_get(web, "/?q=puzzle", None);
    assert!(found.body.contains("3 games"), "{}", found.body);
    for id in ["Game 03", "Game 13", "Game 23"] {
        assert!(found.body.contains(id), "{id}");
    }
    let none = http_get(web, "/?q=%3Cb%3Enothing", None);
    assert!(none.body.contains("No game matches “&lt;b&gt;nothing”"), "{}", none.body);

    // Newest first: the last published leads.
    let newest = http_get(web, "/api/games?sort=newest", None).json();
    assert_eq!(newest["total"], 30);
    assert_eq!(newest["games"][0]["id"], "game29");
    assert_eq!(newest["games"].as_array().unwrap().len(), 24);
    let by_name = http_get(web, "/api/games?sort=name&page=2", None).json();
    assert_eq!(by_name["games"][0]["id"], "game24");
    // Bad parameters fall back to defaults instead of failing.
    let odd = http_get(web, "/api/games?sort=%00&page=-4", None);
    assert_eq!(odd.status, 200);
    assert_eq!(odd.json()["page"], 1);
}

#[test]
fn a_games_page_shows_versions_reviews_and_the_install_command() {
    let lobby = TestLobby::start();
    let web = lobby.http_addr();
    let tmp = tempfile::tempdir().unwrap();
    let mut dev = raw_developer(&lobby, "dana");
    publish_game(
        &mut dev,
        tmp.path(),
        "evil",
        "<script>alert(1)</script>",
        "Tricky <img src=x onerror=alert(1)> & co",
    );

    let page = http_get(web, "/games/evil", None);
    assert_eq!(page.status, 200);
    let body = &page.body;
    assert!(body.contains("gamestore-player install evil"), "{body}");
    assert!(body.contains("1.0.0") && body.contains("dana"));
    assert!(body.contains("No reviews yet"));
    assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "names are escaped");
    assert!(!body.contains("<script>") && !body.contains("<img"), "{body}");
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");

    let api = http_get(web, "/api/games/evil", None).json();
    assert_eq!(api["versions"][0]["version"], "1.0.0");
    assert!(api["versions"][0]["unpacked_bytes"].as_u64().unwrap() > 0);
    assert!(api["versions"][0]["package_size"].is_u64());
    assert_eq!(api["install"], "gamestore-player install evil");

    let missing = http_get(web, "/games/nope", None);
    assert_eq!(missing.status, 404);
    assert_eq!(http_get(web, "/api/games/nope", None).json()["error"]["code"], "GAME_NOT_FOUND");

    // A delisted game leaves the website with the store.
    let dev_cli = Cli::dev(&lobby, &tmp.path().join("dev"));
    dev_cli
        .run_with_stdin(&["login", "--user", "dana", "--password-stdin"], &format!("{PASSWORD}\n"))
        .ok();
    dev_cli.run(&["delist", "evil"]).ok();
    assert_eq!(http_get(web, "/games/evil", None).status, 404);
    assert_eq!(http_get(web, "/api/games", None).json()["total"], 0);
}

#[test]
fn the_lobby_page_shows_players_rooms_and_running_matches() {
    let lobby = TestLobby::start();
    let web = lobby.http_addr();
    let tmp = tempfile::tempdir().unwrap();
    let mut dev = raw_developer(&lobby, "dana");
    publish_game(&mut dev, tmp.path(), "test", "Test Game", "the test game");
    let mut ann = RawConn::hello(lobby.addr);
    ann.call(gamestore_protocol::Register::new("ann", PASSWORD)).unwrap();
    ann.call(gamestore_protocol::Login::new("ann", PASSWORD)).unwrap();
    ann.call(RoomCreate { game: "test".into() }).unwrap();
    let mut bob = RawConn::hello(lobby.addr);
    bob.call(gamestore_protocol::Register::new("bob", PASSWORD)).unwrap();
    bob.call(gamestore_protocol::Login::new("bob", PASSWORD)).unwrap();

    let page = http_get(web, "/lobby", None).body;
    assert!(page.contains("Players online (2)"), "{page}");
    assert!(page.contains("ann") && page.contains("bob"));
    assert!(page.contains("Rooms (1)") && page.contains("waiting"), "{page}");

    ann.call(GameStartNotify {}).unwrap();
    ann.expect_event("GAME_START", |e| {
        matches!(e, gamestore_protocol::Event::GameStart(_)).then_some(())
    });
    let now = http_get(web, "/api/lobby", None).json();
    assert_eq!(now["matches"][0]["game"], "test", "{now}");
    assert_eq!(now["matches"][0]["players"][0], "ann");
    assert_eq!(now["rooms"][0]["state"], "playing");
    assert!(http_get(web, "/lobby", None).body.contains("Matches running (1)"));
}

#[test]
fn health_checks_and_metrics_answer() {
    let lobby = TestLobby::start();
    let web = lobby.http_addr();
    assert_eq!(http_get(web, "/healthz", None).status, 200);
    let ready = http_get(web, "/readyz", None);
    assert_eq!((ready.status, ready.body.trim()), (200, "ready"));

    let tmp = tempfile::tempdir().unwrap();
    let before = request_count(&http_get(web, "/metrics", None).body, "REGISTER");
    Cli::player(&lobby, &tmp.path().join("ann")).sign_up("ann", PASSWORD);
    let metrics = http_get(web, "/metrics", None);
    assert!(metrics.header("content-type").unwrap().starts_with("text/plain"));
    assert_eq!(request_count(&metrics.body, "REGISTER"), before + 1.0, "{}", metrics.body);
    for name in [
        "gamestore_connections_current",
        "gamestore_connections_opened_total{transport=\"plain\"}",
        "gamestore_request_duration_seconds_bucket{type=\"LOGIN\"",
        "gamestore_bytes_received_total",
        "gamestore_bytes_sent_total",
        "gamestore_rooms{state=\"waiting\"}",
        "gamestore_sessions",
        "gamestore_game_servers_active",
    ] {
        assert!(metrics.body.contains(name), "{name} missing:\n{}", metrics.body);
    }
    // A wrong password is counted as a login failure.
    Cli::player(&lobby, &tmp.path().join("ann"))
        .run_with_stdin(&["login", "--user", "ann", "--password-stdin"], "wrong password\n")
        .fails_with("LOGIN_FAILED");
    let after = http_get(web, "/metrics", None).body;
    assert!(after.contains("gamestore_login_failures_total 1"), "{after}");
}

/// `gamestore_requests_total{type="T",code="OK"}` in a scrape, 0 if absent.
pub fn request_count(metrics: &str, kind: &str) -> f64 {
    let prefix = format!("gamestore_requests_total{{type=\"{kind}\",code=\"OK\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}

#[test]
fn hostile_http_input_is_refused_and_everyone_else_is_served() {
    let lobby = TestLobby::start();
    let web = lobby.http_addr();
    // A body past the limit.
    let big = "x=".to_owned() + &"a".repeat(100_000);
    let refused = http_post_form(web, "/admin/login", None, &big);
    assert_eq!(refused.status, 413, "{}", refused.body);
    // Garbage instead of a request line.
    let mut raw = TcpStream::connect(web).unwrap();
    raw.set_read_timeout(Some(gamestore_testkit::TIMEOUT)).unwrap();
    raw.write_all(b"\x00\x01\x02 garbage \r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = raw.read_to_end(&mut answer);
    assert!(answer.is_empty() || String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 400"));
    // An unknown path and a path with odd bytes.
    assert_eq!(http_get(web, "/nowhere/%FF%00", None).status, 404);
    assert_eq!(http_get(web, "/games/%3Cscript%3E", None).status, 404);
    // Still serving, both faces.
    assert_eq!(http_get(web, "/", None).status, 200);
    let tmp = tempfile::tempdir().unwrap();
    Cli::player(&lobby, &tmp.path().join("ann")).sign_up("ann", PASSWORD);
}

#[test]
fn over_https_the_admin_cookies_are_secure() {
    use std::sync::Arc;
    let tmp = tempfile::tempdir().unwrap();
    let (ca, cert, key) = crate::tls::make_ca(tmp.path(), "web");
    let lobby = TestLobby::start_with(gamestore_testkit::LobbyOptions {
        args: vec![
            "--https".into(),
            "--tls-cert".into(),
            cert.display().to_string(),
            "--tls-key".into(),
            key.display().to_string(),
        ],
        ..Default::default()
    });
    assert!(lobby.log().contains("website on https://"), "{}", lobby.log());
    let mut roots = rustls::RootCertStore::empty();
    let ca_pem = std::fs::read(&ca).unwrap();
    for der in rustls::pki_types::pem::PemObject::pem_slice_iter(&ca_pem) {
        roots.add(der.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let session = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let socket = TcpStream::connect(lobby.http_addr()).unwrap();
    socket.set_read_timeout(Some(gamestore_testkit::TIMEOUT)).unwrap();
    let mut stream = rustls::StreamOwned::new(session, socket);
    stream
        .write_all(b"GET /admin/login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let cookie = text.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    // Plain HTTP is not served on the HTTPS listener.
    let mut plain = TcpStream::connect(lobby.http_addr()).unwrap();
    plain.set_read_timeout(Some(gamestore_testkit::TIMEOUT)).unwrap();
    plain.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!String::from_utf8_lossy(&answer).contains("Game Store"));
}
