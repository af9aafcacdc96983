//! The website in a real browser: headless Chromium loads the catalog, a
//! game's page and the admin pages of a lobby with published games, a
//! review and a running match, and the tests read the DOM it rendered.
//! With `GAMESTORE_UPDATE_SCREENSHOTS=1` the screenshots are written to
//! docs/screenshots/.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use gamestore_protocol::{Event, GameStartNotify, Login, Register, RoomCreate};
use gamestore_testkit::{Cli, RawConn, TestLobby, game_package, run_command, workspace_root};

const PASSWORD: &str = "correct horse";
/// One page load, start-up included, on a busy machine.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs headless Chromium on `url` with a fresh profile; `extra` adds flags
/// (`--dump-dom`, `--screenshot=...`). Returns its stdout.
fn chromium(url: &str, extra: &[String], profile: &Path) -> String {
    let mut command = Command::new("chromium");
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=1280,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url);
    let out = run_command(command, BROWSER_TIMEOUT);
    assert!(out.success(), "chromium failed on {url}: {}", out.stderr);
    out.stdout
}

/// The text a reader sees: the DOM without tags, styles or entities.
fn visible_text(dom: &str) -> String {
    let without_style = match (dom.find("<style>"), dom.find("</style>")) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &dom[..a], &dom[b + 8..]),
        _ => dom.to_owned(),
    };
    let mut text = String::new();
    let mut in_tag = false;
    for c in without_style.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A forward proxy for the browser that adds the admin's session cookie to
/// every request, standing in for the cookie jar of a signed-in browser.
fn cookie_proxy(cookie: String) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for browser in listener.incoming() {
            let Ok(browser) = browser else { break };
            let cookie = cookie.clone();
            thread::spawn(move || proxy_one(browser, &cookie));
        }
    });
    addr
}

fn proxy_one(browser: TcpStream, cookie: &str) {
    let _ = browser.set_read_timeout(Some(BROWSER_TIMEOUT));
    let mut reader = BufReader::new(browser.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // GET http://127.0.0.1:PORT/path HTTP/1.1
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else { return };
    let Some(rest) = target.strip_prefix("http://") else { return };
    let (host, path) =
        rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut head = format!("{method} {path} HTTP/1.1\r\nCookie: {cookie}\r\nConnection: close\r\n");
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line == "\r\n" || line.is_empty() {
            break;
        }
        let name = line.split(':').next().unwrap_or("").to_ascii_lowercase();
        if !matches!(name.as_str(), "cookie" | "connection" | "proxy-connection" | "keep-alive") {
            head.push_str(&line);
        }
    }
    head.push_str("\r\n");
    let Ok(mut lobby) = TcpStream::connect(host) else { return };
    if lobby.write_all(head.as_bytes()).is_err() {
        return;
    }
    let mut response = Vec::new();
    let _ = lobby.read_to_end(&mut response);
    let mut browser = browser;
    let _ = browser.write_all(&response);
}

fn screenshot(
    url: &str,
    name: &str,
    profile: &Path,
    proxy: Option<SocketAddr>,
    out: &Path,
) -> PathBuf {
    let file = out.join(name);
    let mut flags = vec![format!("--screenshot={}", file.display())];
    flags.extend(proxy_flags(proxy));
    chromium(url, &flags, profile);
    assert!(
        std::fs::metadata(&file).map(|m| m.len() > 10_000).unwrap_or(false),
        "{name} was not saved"
    );
    if std::env::var_os("GAMESTORE_UPDATE_SCREENSHOTS").is_some() {
        let docs = workspace_root().join("docs/screenshots");
        std::fs::copy(&file, docs.join(name)).unwrap();
    }
    file
}

fn proxy_flags(proxy: Option<SocketAddr>) -> Vec<String> {
    match proxy {
        Some(proxy) => vec![
            format!("--proxy-server=http://{proxy}"),
            // Chromium sends loopback straight by default; route it through the proxy.
            "--proxy-bypass-list=<-loopback>".into(),
        ],
        None => Vec::new(),
    }
}

fn dom(url: &str, profile: &Path, proxy: Option<SocketAddr>) -> String {
    let mut flags = vec!["--dump-dom".to_owned()];
    flags.extend(proxy_flags(proxy));
    visible_text(&chromium(url, &flags, profile))
}

#[test]
fn a_browser_shows_the_store_a_game_and_the_admin_pages() {
    let lobby = TestLobby::start();
    let web = lobby.http_addr();
    let tmp = tempfile::tempdir().unwrap();
    let shots = tmp.path().join("shots");
    std::fs::create_dir_all(&shots).unwrap();

    // Two published games, a completed match with a review, a running match.
    let dev = Cli::dev(&lobby, &tmp.path().join("dev"));
    dev.sign_up("dana", PASSWORD);
    dev.run(&["publish", game_package("test").to_str().unwrap()]).ok();
    let variant = gamestore_testkit::game_variant(tmp.path(), "test", |m| {
        m["id"] = "duel".into();
        m["name"] = "Duel of Wits".into();
        m["description"] = "Two minds, one board: outthink your rival.".into();
        m["version"] = "2.1.0".into();
    });
    dev.run(&["publish", variant.to_str().unwrap()]).ok();
    let ann = Cli::player(&lobby, &tmp.path().join("ann")).env("GAMESTORE_BOT", "1");
    ann.sign_up("ann", PASSWORD);
    ann.run(&["play", "test", "--start-when", "1", "--json"]).ok();
    ann.run(&["review", "test", "--rating", "5", "--text", "Quick and friendly."]).ok();
    let mut bob = RawConn::hello(lobby.addr);
    bob.call(Register::new("bob", PASSWORD)).unwrap();
    bob.call(Login::new("bob", PASSWORD)).unwrap();
    bob.call(RoomCreate { game: "duel".into() }).unwrap();
    bob.call(GameStartNotify {}).unwrap();
    let running = bob.expect_event("GAME_START", |e| match e {
        Event::GameStart(s) => Some(s.match_id),
        _ => None,
    });

    let profile = tmp.path().join("profile");
    let store = dom(&format!("http://{web}/"), &profile, None);
    for text in
        ["Game Store", "2 games", "Test Game", "Duel of Wits", "by dana", "★ 5.0", "(1 review)"]
    {
        assert!(store.contains(text), "{text:?} not on the store page: {store}");
    }
    let search = dom(&format!("http://{web}/?q=rival&sort=rating"), &profile, None);
    assert!(
        search.contains("1 game")
            && search.contains("Duel of Wits")
            && !search.contains("Test Game"),
        "{search}"
    );
    screenshot(&format!("http://{web}/"), "store.png", &profile, None, &shots);

    let game = dom(&format!("http://{web}/games/test"), &profile, None);
    for text in [
        "Test Game",
        "gamestore-player install test",
        "Versions",
        "1.0.0",
        "Quick and friendly.",
        "ann",
        "cli",
    ] {
        assert!(game.contains(text), "{text:?} not on the game page: {game}");
    }
    screenshot(&format!("http://{web}/games/test"), "game.png", &profile, None, &shots);

    let lobby_page = dom(&format!("http://{web}/lobby"), &profile, None);
    assert!(
        lobby_page.contains("Matches running (1)") && lobby_page.contains("bob"),
        "{lobby_page}"
    );

    // Signed out, the admin pages send the browser to the sign-in form.
    let signed_out = dom(&format!("http://{web}/admin/matches"), &profile, None);
    assert!(signed_out.contains("Admin sign in"), "{signed_out}");

    let mut add = Command::new(gamestore_testkit::bin("gamestore-lobby"));
    add.args(["admin", "add", "--user", "root", "--data-dir"]).arg(lobby.data_dir());
    gamestore_testkit::run(add, "admin password 1\n", gamestore_testkit::TIMEOUT).ok();
    let cookie = admin_cookie(web, "root", "admin password 1");
    let proxy = Some(cookie_proxy(cookie));

    let matches = dom(&format!("http://{web}/admin/matches"), &profile, proxy);
    for text in [
        "Signed in as root",
        "Running (1)",
        &format!("Match {running}: duel 2.1.0"),
        "Stop match",
        "completed",
    ] {
        assert!(matches.contains(text), "{text:?} not on the matches page: {matches}");
    }
    screenshot(
        &format!("http://{web}/admin/matches"),
        "admin-matches.png",
        &profile,
        proxy,
        &shots,
    );
    let accounts = dom(&format!("http://{web}/admin/accounts"), &profile, proxy);
    for text in ["ann", "bob", "dana", "developer", "Ban"] {
        assert!(accounts.contains(text), "{text:?} not on the accounts page: {accounts}");
    }
    screenshot(
        &format!("http://{web}/admin/accounts"),
        "admin-accounts.png",
        &profile,
        proxy,
        &shots,
    );
    let system = dom(&format!("http://{web}/admin/system"), &profile, proxy);
    assert!(system.contains("Sandbox") && system.contains("Recent warnings"), "{system}");
    let games = dom(&format!("http://{web}/admin/games"), &profile, proxy);
    assert!(games.contains("Duel of Wits") && games.contains("Delist"), "{games}");
}

/// Signs in through the form and returns `gs_admin=...`.
fn admin_cookie(web: SocketAddr, user: &str, password: &str) -> String {
    use gamestore_testkit::{form_encode, http_get, http_post_form};
    let form = http_get(web, "/admin/login", None);
    let login_cookie = form.cookie("gs_admin_login").unwrap();
    let at = form.body.find("name=\"csrf\" value=\"").unwrap();
    let csrf = form.body[at + 19..].split('"').next().unwrap();
    let body = format!("csrf={csrf}&user={}&password={}", form_encode(user), form_encode(password));
    let signed = http_post_form(web, "/admin/login", Some(&login_cookie), &body);
    assert_eq!(signed.status, 303, "{}", signed.body);
    signed.cookie("gs_admin").unwrap()
}
