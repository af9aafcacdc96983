//! Hostile use of the credential endpoints and the game servers, and text
//! that hides or reorders itself: each attack sent to the real lobby, with
//! what the attacker, the victim and a bystander see.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use gamestore_protocol::{
    ChatScope, ChatSend, DevLogin, DevRegister, ErrorCode, Event, GameStartNotify, Login,
    MatchHistory, Register, Resume, ReviewSubmit, RoomCreate, Whoami, WireError,
};
use gamestore_testkit::{Cli, LobbyOptions, RawConn, TestLobby, game_package, game_variant};

const PASSWORD: &str = "correct horse";

/// Cheap password hashes for tests that are not about their cost.
const CHEAP_HASHES: [&str; 4] = ["--password-hash-kib", "64", "--password-hash-passes", "1"];

fn lobby_with(args: &[&str]) -> TestLobby {
    TestLobby::start_with(LobbyOptions {
        args: args.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    })
}

fn addr(a: u8, b: u8, c: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, a, b, c)
}

/// A refusal's code as spelled on the wire.
fn code(result: &Result<serde_json::Value, WireError>) -> &str {
    match result {
        Ok(_) => "OK",
        Err(e) => e.code.as_str(),
    }
}

/// Resident and peak resident memory of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[test]
fn a_wrong_password_flood_is_throttled_and_the_lobby_stays_small_and_responsive() {
    // The deployed Argon2 cost: 19 MiB and two passes per check.
    let lobby = TestLobby::start();
    RawConn::hello(lobby.addr).call(Register::new("victim", PASSWORD)).unwrap();
    let mut bystander = RawConn::hello_from(lobby.addr, addr(0, 0, 2));
    bystander.call(Register::new("bystander", PASSWORD)).unwrap();
    let (before, _) = memory_kib(lobby.pid());

    // 64 connections, each from its own address, guess for three seconds.
    let answers = Arc::new(AtomicU32::new(0));
    let until = Instant::now() + Duration::from_secs(3);
    let flood: Vec<_> = (1..=64)
        .map(|i| {
            let (server, answers) = (lobby.addr, answers.clone());
            thread::spawn(move || {
                let mut conn = RawConn::hello_from(server, addr(0, 1, i));
                let (mut checked, mut limited) = (0u32, 0u32);
                while Instant::now() < until {
                    let reply = conn.call(Login::new("victim", format!("guess {i} {checked}")));
                    match code(&reply) {
                        "LOGIN_FAILED" | "WRONG_PASSWORD" => checked += 1,
                        "RATE_LIMITED" => limited += 1,
                        other => panic!("unexpected answer to a guess: {other} {reply:?}"),
                    }
                    answers.fetch_add(1, Ordering::Relaxed);
                }
                (checked, limited)
            })
        })
        .collect();

    // While it runs, someone else logs in from elsewhere.
    gamestore_testkit::wait_until("the flood to be answered", || {
        answers.load(Ordering::Relaxed) >= 64
    });
    let started = Instant::now();
    bystander.call(Login::new("bystander", PASSWORD)).expect("the bystander logs in");
    let bystander_login = started.elapsed();

    let (mut checked, mut limited) = (0, 0);
    for handle in flood {
        let (c, l) = handle.join().unwrap();
        checked += c;
        limited += l;
    }
    let (after, peak) = memory_kib(lobby.pid());
    println!(
        "flood: {checked} guesses checked, {limited} refused; bystander login {bystander_login:?}; \
         RSS {before} KiB before, peak {peak} KiB, {after} KiB after"
    );
    assert!(checked <= 10, "{checked} guesses at one account were checked in 3 s");
    assert!(limited > 0);

    // The owner, even with the right password, waits like everyone else,
    // and is told for how long.
    let reply = RawConn::hello_from(lobby.addr, addr(0, 0, 3)).call(Login::new("victim", PASSWORD));
    let refusal = reply.expect_err("the account is blocked for now");
    assert_eq!(refusal.code, ErrorCode::RateLimited, "{refusal:?}");
    let retry = refusal.retry_after.expect("RATE_LIMITED says when to retry");
    assert!((1..=60).contains(&retry), "retry after {retry} s");

    // Two hashing threads at 19 MiB each, whatever the number of attackers.
    let grown_mib = peak.saturating_sub(before) / 1024;
    assert!(grown_mib < 128, "the lobby grew by {grown_mib} MiB during the flood");
    bystander.call(Whoami {}).expect("the bystander is still served");
}

#[test]
fn unknown_users_and_wrong_passwords_get_the_same_answer_in_the_same_time() {
    let lobby = TestLobby::start();
    let mut conn = RawConn::hello_from(lobby.addr, addr(0, 2, 1));
    conn.call(Register::new("ann", PASSWORD)).unwrap();
    conn.call(DevRegister::new("dana", PASSWORD)).unwrap();

    let mut timed = |login: Login| {
        let started = Instant::now();
        let refusal = conn.call(login).expect_err("the login is refused");
        (started.elapsed(), refusal)
    };
    let (mut wrong, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..9 {
        let (t, w) = timed(Login::new("ann", format!("wrong password {i}")));
        wrong.push(t);
        let (t, u) = timed(Login::new(format!("nobody{i}"), PASSWORD));
        unknown.push(t);
        assert_eq!(w.code.as_str(), "LOGIN_FAILED", "{w:?}");
        assert_eq!((u.code, &u.message), (w.code, &w.message), "the answers differ");
    }
    // A developer login has the same single answer.
    let dev = conn.call(DevLogin::new("ann", PASSWORD)).unwrap_err();
    assert_eq!(dev.code.as_str(), "LOGIN_FAILED", "{dev:?}");

    wrong.sort();
    unknown.sort();
    let ratio = unknown[4].as_secs_f64() / wrong[4].as_secs_f64();
    println!("median login failure: wrong password {:?}, unknown user {:?}", wrong[4], unknown[4]);
    // Without a dummy check the ratio is about 0.005 (0.1 ms against 19 ms);
    // the bound leaves room for a machine busy with other work.
    assert!(ratio > 0.25, "an unknown user is answered {ratio:.3}× as fast as a wrong password");
}

#[test]
fn failed_logins_and_resumes_are_throttled_per_address_and_per_account() {
    let lobby = lobby_with(&CHEAP_HASHES);
    let mut owner = RawConn::hello(lobby.addr);
    owner.call(Register::new("ann", PASSWORD)).unwrap();
    owner.call(DevRegister::new("dana", PASSWORD)).unwrap();

    // One address spraying many names: 30 failures a minute, then blocked,
    // whichever name or password it tries next.
    let mut sprayer = RawConn::hello_from(lobby.addr, addr(0, 3, 1));
    for i in 0..30 {
        let reply = sprayer.call(Login::new(format!("user{i}"), "guess guess"));
        assert_eq!(code(&reply), "LOGIN_FAILED", "attempt {i}: {reply:?}");
    }
    let reply = sprayer.call(Login::new("ann", PASSWORD));
    assert_eq!(code(&reply), "RATE_LIMITED", "{reply:?}");

    // Guessing session tokens counts the same way.
    let mut resumer = RawConn::hello_from(lobby.addr, addr(0, 3, 2));
    for i in 0..30 {
        let reply = resumer.call(Resume { token: format!("{i:064x}") });
        assert_eq!(code(&reply), "INVALID_SESSION", "attempt {i}: {reply:?}");
    }
    let reply = resumer.call(Resume { token: "0".repeat(64) });
    assert_eq!(code(&reply), "RATE_LIMITED", "{reply:?}");

    // DEV_LOGIN: ten guesses per account a minute, from any addresses.
    for i in 0..10 {
        let mut conn = RawConn::hello_from(lobby.addr, addr(0, 3, 10 + i));
        let reply = conn.call(DevLogin::new("dana", "guess guess"));
        assert_eq!(code(&reply), "LOGIN_FAILED", "attempt {i}: {reply:?}");
    }
    let reply =
        RawConn::hello_from(lobby.addr, addr(0, 3, 30)).call(DevLogin::new("dana", PASSWORD));
    assert_eq!(code(&reply), "RATE_LIMITED", "{reply:?}");

    // Others are untouched: ann logs in from her own address, and the
    // player account "dana" is not the developer "dana".
    let mut ann = RawConn::hello_from(lobby.addr, addr(0, 3, 40));
    ann.call(Login::new("ann", PASSWORD)).expect("ann logs in");
    let token =
        owner.call(Login::new("ann", PASSWORD)).unwrap()["token"].as_str().unwrap().to_owned();
    let reply = RawConn::hello_from(lobby.addr, addr(0, 3, 41)).call(Resume { token });
    assert_eq!(code(&reply), "OK", "{reply:?}");
}

#[test]
fn registrations_are_limited_per_address() {
    let lobby = lobby_with(&CHEAP_HASHES);
    let mut conn = RawConn::hello_from(lobby.addr, addr(0, 4, 1));
    let started = Instant::now();
    let mut accepted = 0;
    let refusal = loop {
        match conn.call(Register::new(format!("bulk{accepted}"), PASSWORD)) {
            Ok(_) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted <= 100, "100 accounts registered from one address");
    };
    println!("{accepted} registrations from one address in {:?}", started.elapsed());
    assert_eq!(accepted, 20);
    assert_eq!(refusal.code, ErrorCode::RateLimited, "{refusal:?}");
    assert!(refusal.retry_after.is_some_and(|s| s > 60), "{refusal:?}");
    // Another address registers as usual.
    RawConn::hello_from(lobby.addr, addr(0, 4, 2))
        .call(Register::new("newcomer", PASSWORD))
        .expect("another address registers");
}

/// Logs `name` in on a new connection.
fn player(lobby: &TestLobby, name: &str) -> RawConn {
    let mut conn = RawConn::hello(lobby.addr);
    conn.call(Login::new(name, PASSWORD)).unwrap();
    conn
}

fn publish_test_game(lobby: &TestLobby, tmp: &std::path::Path) -> Cli {
    let dev = Cli::dev(lobby, &tmp.join("dev"));
    dev.sign_up("dana", PASSWORD);
    dev.run(&["publish", game_package("test").to_str().unwrap()]).ok();
    dev
}

/// Makes a room for `test` and starts it: the game server waits for a
/// player who never comes. The GAME_START port, or the refusal (a
/// MATCH_ENDED before GAME_START counts as `INTERNAL` with its message).
fn start_lonely_match(conn: &mut RawConn) -> Result<u16, WireError> {
    conn.call(RoomCreate { game: "test".into() }).unwrap();
    conn.call(GameStartNotify {})?;
    conn.expect_event("GAME_START", |e| match e {
        Event::GameStart(s) => Some(Ok(s.port)),
        Event::MatchEnded(m) => Some(Err(WireError::new(ErrorCode::Internal, m.message.clone()))),
        _ => None,
    })
}

fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

#[test]
fn one_player_cannot_pile_up_game_servers_and_others_still_play() {
    // Without a seat grace period a dropped player is out of the room at
    // once and can start again: the worst case for these limits.
    let lobby = lobby_with(&[&CHEAP_HASHES[..], &["--seat-grace", "0"]].concat());
    let tmp = tempfile::tempdir().unwrap();
    publish_test_game(&lobby, tmp.path());
    RawConn::hello(lobby.addr).call(Register::new("mallory", PASSWORD)).unwrap();

    // Create a room, start, disconnect, again and again.
    let (mut started, mut refused) = (Vec::new(), Vec::new());
    let clock = Instant::now();
    for _ in 0..30 {
        let mut conn = player(&lobby, "mallory");
        match start_lonely_match(&mut conn) {
            Ok(port) => started.push(port),
            Err(e) => refused.push(e),
        }
    }
    println!(
        "{} game servers started and {} starts refused in {:?}",
        started.len(),
        refused.len(),
        clock.elapsed()
    );
    assert_eq!(started.len(), 2, "game servers one player keeps running");
    assert!(refused.iter().all(|e| e.code.as_str() == "MATCH_LIMIT"), "{refused:?}");

    // Someone else plays a whole match meanwhile.
    let bob = Cli::player(&lobby, &tmp.path().join("bob")).env("GAMESTORE_BOT", "1");
    bob.sign_up("bob", PASSWORD);
    bob.run(&["play", "test", "--start-when", "1"]).ok();
}

#[test]
fn a_match_everyone_left_is_stopped_after_the_grace_period_and_its_port_returns() {
    // No seat grace: the dropped player leaves the room at once.
    let lobby = lobby_with(
        &[&CHEAP_HASHES[..], &["--abandoned-match-grace-secs", "1", "--seat-grace", "0"]].concat(),
    );
    let tmp = tempfile::tempdir().unwrap();
    publish_test_game(&lobby, tmp.path());
    RawConn::hello(lobby.addr).call(Register::new("ann", PASSWORD)).unwrap();

    let mut ann = player(&lobby, "ann");
    let port = start_lonely_match(&mut ann).unwrap();
    assert!(!port_is_free(port), "the game server listens");
    drop(ann);
    gamestore_testkit::wait_until("the abandoned game server to stop", || port_is_free(port));

    let mut ann = player(&lobby, "ann");
    let history = ann.call(MatchHistory { limit: 1, ..Default::default() }).unwrap();
    assert_eq!(history["matches"][0]["outcome"], "aborted", "{history}");
    // The port went back to the pool, and the stopped server no longer
    // counts against ann.
    for _ in 0..2 {
        let mut conn = player(&lobby, "ann");
        start_lonely_match(&mut conn).expect("ann starts again");
    }
}

#[test]
fn match_folders_are_removed_after_their_retention_and_at_start() {
    let lobby = lobby_with(&[&CHEAP_HASHES[..], &["--match-retention-secs", "0"]].concat());
    let tmp = tempfile::tempdir().unwrap();
    publish_test_game(&lobby, tmp.path());
    let bob = Cli::player(&lobby, &tmp.path().join("bob")).env("GAMESTORE_BOT", "1");
    bob.sign_up("bob", PASSWORD);
    bob.run(&["play", "test", "--start-when", "1"]).ok();
    let matches = lobby.data_dir().join("matches");
    gamestore_testkit::wait_until("the ended match's folder to go", || {
        std::fs::read_dir(&matches).unwrap().next().is_none()
    });

    drop(lobby);

    // Folders left from an earlier run: the old one goes at start, the
    // recent one stays (the default keeps them three days).
    let mut lobby = TestLobby::start();
    lobby.terminate();
    let matches = lobby.data_dir().join("matches");
    let (old, recent) = (matches.join("41"), matches.join("42"));
    for dir in [&old, &recent] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("server.log"), "x".repeat(1 << 16)).unwrap();
    }
    let four_days_ago = std::time::SystemTime::now() - Duration::from_secs(4 * 24 * 3600);
    std::fs::File::open(&old).unwrap().set_modified(four_days_ago).unwrap();
    lobby.restart();
    assert!(!old.exists(), "a four-day-old match folder is removed at start");
    assert!(recent.join("server.log").exists(), "a recent match folder is kept");
}

#[test]
fn hidden_and_direction_characters_are_refused_in_chat_reviews_and_game_names() {
    let lobby = lobby_with(&CHEAP_HASHES);
    let tmp = tempfile::tempdir().unwrap();
    let dev = publish_test_game(&lobby, tmp.path());
    RawConn::hello(lobby.addr).call(Register::new("ann", PASSWORD)).unwrap();
    let mut ann = player(&lobby, "ann");

    let chat = |conn: &mut RawConn, text: &str| {
        conn.call(ChatSend { scope: ChatScope::Lobby, text: text.into() })
    };
    for text in ["txt.\u{202E}exe", "ad\u{200B}min", "\u{2066}isolated\u{2069}", "bell\u{7}"] {
        let reply = chat(&mut ann, text);
        assert_eq!(code(&reply), "INVALID_MESSAGE", "{text:?}: {reply:?}");
    }
    assert_eq!(code(&chat(&mut ann, "gg wp 👍")), "OK");

    // Reviews: line breaks are fine, hidden characters are not.
    start_lonely_match(&mut ann).unwrap();
    let review = |conn: &mut RawConn, text: &str| {
        conn.call(ReviewSubmit { game: "test".into(), rating: 4, text: text.into() })
    };
    let reply = review(&mut ann, "great\u{FEFF} game");
    assert_eq!(code(&reply), "INVALID_REVIEW", "{reply:?}");
    assert_eq!(code(&review(&mut ann, "great game\nwould play again")), "OK");

    // A game name or description the lobby would show.
    for (field, value) in [("name", "Chess \u{202E}3v"), ("description", "fun\u{200D}ny")] {
        let folder = game_variant(&tmp.path().join(field), "test", |m| {
            m["id"] = format!("hidden-{field}").into();
            m[field] = value.into();
        });
        let out = dev.run(&["publish", folder.to_str().unwrap()]);
        out.fails_with("MANIFEST_INVALID");
        assert!(out.stderr.contains(field), "{out}");
    }
}

#[test]
fn no_chat_burst_fits_across_the_rate_window() {
    let lobby = lobby_with(&CHEAP_HASHES);
    RawConn::hello(lobby.addr).call(Register::new("ann", PASSWORD)).unwrap();
    let mut ann = player(&lobby, "ann");
    let mut say = |text: &str| ann.call(ChatSend { scope: ChatScope::Lobby, text: text.into() });

    // One message, then nine more just before the window of 10 s ends…
    let first = Instant::now();
    assert_eq!(code(&say("first")), "OK");
    // The point of this test is the passage of time itself: it waits for
    // the clock, not for another process.
    thread::sleep((first + Duration::from_secs(9)).saturating_duration_since(Instant::now()));
    for i in 0..9 {
        assert_eq!(code(&say(&format!("late {i}"))), "OK");
    }
    // …and ten more just after it: only the first message has aged out.
    thread::sleep(
        (first + Duration::from_millis(10_300)).saturating_duration_since(Instant::now()),
    );
    let replies: Vec<_> = (0..10).map(|i| say(&format!("next {i}"))).collect();
    let accepted = replies.iter().filter(|r| r.is_ok()).count();
    println!("{accepted} of 10 accepted right after the window boundary");
    assert_eq!(accepted, 1, "{replies:?}");
    let refusal = replies.last().unwrap().as_ref().unwrap_err();
    assert_eq!(refusal.code, ErrorCode::RateLimited);
    assert!(refusal.retry_after.is_some_and(|s| (1..=9).contains(&s)), "{refusal:?}");
}
