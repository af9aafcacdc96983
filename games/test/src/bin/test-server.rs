//! `test-server`: the server of the minimal `test` game.
//!
//! It listens on `--host`/`--port`, waits for `--players` clients that send
//! `HELLO test <token> <name>` with the right `--token`, greets each, and
//! exits 0 once every client has answered. Connections that close or send
//! nothing valid before their hello (the lobby's readiness probe, port
//! scanners, garbage) are ignored and never counted. Past `--timeout` seconds
//! it exits 1 saying what it was waiting for.
//!
//! ```text
//! client: HELLO test <token|-> <name>
//! server: WELCOME <players>                 seated; wait for the others
//! server: GREET <index> <players> <text>    once everyone is in
//! client: ANSWER <text>
//! server: DONE <summary>                    then the server closes
//!    or:  ERR <CODE> <message>              refused (BAD_HELLO, WRONG_GAME,
//!                                           BAD_TOKEN, BAD_NAME, NAME_TAKEN, FULL)
//! ```
//!
//! `--fault` makes the server misbehave on purpose, for the platform's fault
//! tests: `exit-early` (exit 3 before listening), `no-listen` (never listen),
//! `crash` (exit 3 once everyone joined), `hang` (stop responding once
//! everyone joined).
//!
//! Deliberately std-only and self-contained, so it builds in seconds and
//! reads as the smallest example of the game contract.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

const GAME: &str = "test";
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_LINE: u64 = 4096;
const USAGE: &str = "usage: test-server --port N [--host ADDR] [--players N] [--token T] [--timeout SECS] \
[--fault exit-early|no-listen|crash|hang]";

struct Config {
    host: String,
    port: u16,
    players: usize,
    token: String,
    timeout: Duration,
    fault: Option<String>,
}

/// A client that sent a valid hello.
struct Player {
    name: String,
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

fn main() -> ExitCode {
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("test-server: error: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("test-server: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Config, String> {
    let mut config = Config {
        host: "0.0.0.0".into(),
        port: 0,
        players: 1,
        // The manifest passes the match token in MATCH_TOKEN (off the
        // command line, where every local user could read it); --token wins.
        token: std::env::var("MATCH_TOKEN").unwrap_or_default(),
        timeout: Duration::from_secs(30),
        fault: None,
    };
    let mut port = None;
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--host" => config.host = value,
            "--port" => port = Some(value.parse().map_err(|_| format!("bad --port {value:?}"))?),
            "--players" => {
                config.players = value.parse().map_err(|_| format!("bad --players {value:?}"))?;
                if !(1..=16).contains(&config.players) {
                    return Err("--players must be between 1 and 16".into());
                }
            }
            "--token" => config.token = value,
            "--timeout" => {
                let secs: f64 = value.parse().map_err(|_| format!("bad --timeout {value:?}"))?;
                if !(secs > 0.0 && secs <= 86_400.0) {
                    return Err("--timeout must be between 0 and 86400 seconds".into());
                }
                config.timeout = Duration::from_secs_f64(secs);
            }
            "--fault" => match value.as_str() {
                "exit-early" | "no-listen" | "crash" | "hang" => config.fault = Some(value),
                _ => return Err(format!("unknown --fault {value:?}")),
            },
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    config.port = port.ok_or("--port is required")?;
    Ok(config)
}

fn run(config: &Config) -> Result<(), String> {
    match config.fault.as_deref() {
        Some("exit-early") => {
            eprintln!("test-server: fault injected: exiting before listening");
            std::process::exit(3);
        }
        Some("no-listen") => {
            eprintln!("test-server: fault injected: not listening");
            thread::sleep(config.timeout);
            return Err("fault injected: never listened".into());
        }
        _ => {}
    }
    let started = Instant::now();
    let deadline = started + config.timeout;
    let address = if config.host.contains(':') && !config.host.starts_with('[') {
        format!("[{}]:{}", config.host, config.port)
    } else {
        format!("{}:{}", config.host, config.port)
    };
    let listener =
        TcpListener::bind(&address).map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("test-server: listening on {local}");

    let mut players = gather(listener, config, deadline)?;
    match config.fault.as_deref() {
        Some("crash") => {
            eprintln!("test-server: fault injected: crashing after everyone joined");
            std::process::exit(3);
        }
        Some("hang") => {
            eprintln!("test-server: fault injected: hanging");
            thread::sleep(Duration::from_secs(3600));
            return Err("fault injected: hung".into());
        }
        _ => {}
    }

    let count = players.len();
    let names: Vec<&str> = players.iter().map(|p| p.name.as_str()).collect();
    let roster = names.join(", ");
    for (index, player) in players.iter().enumerate() {
        let greeting =
            format!("Hello {}! You are player {} of {count}: {roster}", player.name, index + 1);
        send(&player.stream, &format!("GREET {index} {count} {greeting}"))
            .map_err(|e| format!("cannot greet {}: {e}", player.name))?;
    }
    for player in &mut players {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        player.stream.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
        match read_line(&mut player.reader) {
            Ok(Some(line)) if line.starts_with("ANSWER") => {
                eprintln!("test-server: {} answered: {}", player.name, line[6..].trim());
            }
            Ok(Some(line)) => {
                return Err(format!("{} sent {line:?} instead of an ANSWER", player.name));
            }
            Ok(None) => return Err(format!("{} left without answering", player.name)),
            Err(e) if is_timeout(&e) => {
                return Err(format!(
                    "timed out after {} s waiting for {} to answer",
                    config.timeout.as_secs(),
                    player.name
                ));
            }
            Err(e) => return Err(format!("lost {}: {e}", player.name)),
        }
    }
    let summary = format!("{count} player(s) greeted and answered: {roster}");
    for player in &players {
        let _ = send(&player.stream, &format!("DONE {summary}"));
    }
    write_result(&players, started.elapsed(), &summary)?;
    eprintln!("test-server: {summary}");
    Ok(())
}

/// Waits for `config.players` valid hellos; probes and garbage are ignored.
fn gather(
    listener: TcpListener,
    config: &Config,
    deadline: Instant,
) -> Result<Vec<Player>, String> {
    let (tx, rx) = mpsc::channel::<Player>();
    let full = Arc::new(AtomicBool::new(false));
    let (game_token, full_flag) = (config.token.clone(), Arc::clone(&full));
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (tx, token, full) = (tx.clone(), game_token.clone(), Arc::clone(&full_flag));
            thread::spawn(move || {
                if let Some(player) = handshake(stream, &token, &full) {
                    let _ = tx.send(player);
                }
            });
        }
    });
    let mut players: Vec<Player> = Vec::new();
    while players.len() < config.players {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(player) = rx.recv_timeout(left) else {
            return Err(format!(
                "timed out after {} s waiting for players ({} of {} joined)",
                config.timeout.as_secs(),
                players.len(),
                config.players
            ));
        };
        if players.iter().any(|p| p.name == player.name) {
            let _ = send(
                &player.stream,
                &format!("ERR NAME_TAKEN {} is already in this match", player.name),
            );
            continue;
        }
        if send(&player.stream, &format!("WELCOME {}", config.players)).is_ok() {
            eprintln!(
                "test-server: {} joined ({} of {})",
                player.name,
                players.len() + 1,
                config.players
            );
            players.push(player);
        }
    }
    full.store(true, Ordering::SeqCst);
    Ok(players)
}

/// Reads and checks one connection's hello; `None` for probes and refusals.
fn handshake(stream: TcpStream, token: &str, full: &AtomicBool) -> Option<Player> {
    stream.set_read_timeout(Some(HELLO_TIMEOUT)).ok()?;
    stream.set_write_timeout(Some(HELLO_TIMEOUT)).ok()?;
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let line = match read_line(&mut reader) {
        Ok(Some(line)) => line,
        Ok(None) => return None, // readiness probe: connected and closed
        Err(e) => {
            eprintln!("test-server: dropped {peer}: {e}");
            let _ = send(&stream, "ERR BAD_HELLO expected: HELLO test <token> <name>");
            return None;
        }
    };
    let mut words = line.splitn(4, ' ');
    let refusal = match (words.next(), words.next(), words.next(), words.next()) {
        (Some("HELLO"), Some(GAME), Some(their_token), Some(name)) => {
            let their_token = if their_token == "-" { "" } else { their_token };
            if their_token != token {
                "BAD_TOKEN wrong match token".to_string()
            } else if name.is_empty()
                || name.len() > 64
                || name.trim() != name
                || name.chars().any(char::is_control)
            {
                "BAD_NAME names are 1 to 64 printable characters".to_string()
            } else if full.load(Ordering::SeqCst) {
                "FULL the match has already started".to_string()
            } else {
                stream.set_read_timeout(None).ok()?;
                return Some(Player { name: name.to_string(), stream, reader });
            }
        }
        (Some("HELLO"), Some(game), _, _) if game != GAME => {
            format!("WRONG_GAME this server plays {GAME}")
        }
        _ => "BAD_HELLO expected: HELLO test <token> <name>".to_string(),
    };
    eprintln!("test-server: refused {peer}: {refusal}");
    let _ = send(&stream, &format!("ERR {refusal}"));
    None
}

/// One line without its ending; `None` at a clean end of stream.
fn read_line(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<String>> {
    let mut bytes = Vec::new();
    let read = std::io::Read::take(&mut *reader, MAX_LINE).read_until(b'\n', &mut bytes)?;
    if read == 0 {
        return Ok(None);
    }
    if bytes.pop() != Some(b'\n') {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "line too long or cut short",
        ));
    }
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "line is not UTF-8"))
}

fn send(mut stream: &TcpStream, line: &str) -> std::io::Result<()> {
    stream.write_all(format!("{line}\n").as_bytes())
}

fn is_timeout(error: &std::io::Error) -> bool {
    matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
}

/// Writes the match report where `GAMESTORE_RESULT_FILE` says (temp + rename).
fn write_result(players: &[Player], duration: Duration, summary: &str) -> Result<(), String> {
    let Some(path) = std::env::var_os("GAMESTORE_RESULT_FILE").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let scores: Vec<String> =
        players.iter().map(|p| format!("{}: 1", json_string(&p.name))).collect();
    let json = format!(
        "{{\"winner\": null, \"draw\": true, \"scores\": {{{}}}, \"duration_secs\": {:.3}, \"summary\": {}}}\n",
        scores.join(", "),
        duration.as_secs_f64(),
        json_string(summary)
    );
    let path = std::path::PathBuf::from(path);
    let mut temp = path.clone().into_os_string();
    temp.push(format!(".{}.tmp", std::process::id()));
    std::fs::write(&temp, json)
        .and_then(|()| std::fs::rename(&temp, &path))
        .map_err(|e| format!("cannot write the result file {}: {e}", path.display()))
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
