//! `test-client`: the client of the minimal `test` game.
//!
//! Connects to `--host`/`--port`, introduces itself with `--name` and the
//! match `--token`, waits for the server's greeting (up to `--timeout`
//! seconds, default 30), answers it, prints what it got and exits 0 once the
//! server says the match is done. Any refusal, timeout or lost connection
//! exits 1 with one `error:` line on standard error. See `test-server` for
//! the protocol. There is nothing to play, so `--bot` and `GAMESTORE_BOT`
//! change nothing.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

const USAGE: &str =
    "usage: test-client --port N --name PLAYER [--host H] [--token T] [--timeout SECS] [--bot]";
const MAX_LINE: u64 = 4096;

struct Config {
    host: String,
    port: u16,
    name: String,
    token: String,
    timeout: Duration,
}

fn main() -> ExitCode {
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("test-client: error: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("test-client: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Config, String> {
    let mut config = Config {
        host: "127.0.0.1".into(),
        port: 0,
        name: String::new(),
        // The manifest passes the match token in MATCH_TOKEN (off the
        // command line, where every local user could read it); --token wins.
        token: std::env::var("MATCH_TOKEN").unwrap_or_default(),
        timeout: Duration::from_secs(30),
    };
    let mut port = None;
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--bot" => continue,
            _ => {}
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--host" => config.host = value,
            "--port" => port = Some(value.parse().map_err(|_| format!("bad --port {value:?}"))?),
            "--name" => config.name = value,
            "--token" => config.token = value,
            "--timeout" => {
                let secs: f64 = value.parse().map_err(|_| format!("bad --timeout {value:?}"))?;
                if !(secs > 0.0 && secs <= 86_400.0) {
                    return Err("--timeout must be between 0 and 86400 seconds".into());
                }
                config.timeout = Duration::from_secs_f64(secs);
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    config.port = port.ok_or("--port is required")?;
    if config.name.is_empty() || config.name.trim() != config.name || config.name.contains('\n') {
        return Err("--name is required (no surrounding spaces)".into());
    }
    if config.token.chars().any(char::is_whitespace) {
        return Err("--token cannot contain spaces".into());
    }
    Ok(config)
}

fn run(config: &Config) -> Result<(), String> {
    let deadline = Instant::now() + config.timeout;
    let stream = connect(&config.host, config.port, deadline)?;
    stream.set_write_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    let token = if config.token.is_empty() { "-" } else { &config.token };
    send(&stream, &format!("HELLO test {token} {}", config.name))?;

    let welcome = expect(&stream, &mut reader, deadline, "WELCOME")?;
    println!("joined: waiting for {} player(s)", welcome.trim());
    let greeting = expect(&stream, &mut reader, deadline, "GREET")?;
    // GREET <index> <players> <text>
    let text = greeting.splitn(3, ' ').nth(2).unwrap_or_default();
    println!("greeted: {text}");
    send(&stream, &format!("ANSWER Hi, this is {}", config.name))?;
    let done = expect(&stream, &mut reader, deadline, "DONE")?;
    println!("done: {done}");
    Ok(())
}

/// Connects, retrying a refused connection for a few seconds: the server may
/// be a moment from listening when both are started by hand.
fn connect(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, String> {
    let retry_until = Instant::now() + Duration::from_secs(5);
    let addresses: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    loop {
        let mut last_error = String::from("no address");
        for address in &addresses {
            match TcpStream::connect_timeout(address, Duration::from_secs(5)) {
                Ok(stream) => return Ok(stream),
                Err(e) => last_error = e.to_string(),
            }
        }
        if Instant::now() >= retry_until.min(deadline) {
            return Err(format!("cannot connect to {host}:{port}: {last_error}"));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Reads the next line, which must start with `verb`; returns the rest.
fn expect(
    stream: &TcpStream,
    reader: &mut BufReader<TcpStream>,
    deadline: Instant,
    verb: &str,
) -> Result<String, String> {
    let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
    stream.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    match std::io::Read::take(&mut *reader, MAX_LINE).read_until(b'\n', &mut bytes) {
        Ok(0) => {
            return Err(format!("the server closed the connection while we waited for {verb}"));
        }
        Ok(_) => {}
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            return Err(format!("timed out waiting for {verb} from the server"));
        }
        Err(e) => return Err(format!("lost the server: {e}")),
    }
    let line = String::from_utf8_lossy(&bytes).trim_end_matches(['\r', '\n']).to_string();
    if let Some(rest) = line.strip_prefix("ERR ") {
        return Err(format!("the server refused us: {rest}"));
    }
    match line.strip_prefix(verb) {
        Some(rest) => Ok(rest.trim_start().to_string()),
        None => Err(format!("expected {verb} from the server, got {line:?}")),
    }
}

fn send(mut stream: &TcpStream, line: &str) -> Result<(), String> {
    stream.write_all(format!("{line}\n").as_bytes()).map_err(|e| format!("lost the server: {e}"))
}
