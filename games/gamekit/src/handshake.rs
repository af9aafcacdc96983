//! Joining a match: the first line every client sends, and how a server
//! gathers its players.
//!
//! ```text
//! client: HELLO <game> <token> <name>      token "-" stands for an empty token
//! server: WELCOME <players>                you are in; the match starts when all are
//!         WAITING <joined> <players>       every 2 s and on each join, until the start
//!    or:  ERR <CODE> <message>             then the server closes the connection
//! ```
//!
//! Codes: `BAD_HELLO`, `WRONG_GAME`, `BAD_TOKEN`, `BAD_NAME`, `NAME_TAKEN`, `FULL`.
//!
//! The lobby checks that a server is ready by connecting and closing at once,
//! and anyone can connect and send garbage: [`gather`] handles every
//! connection on its own thread with a short deadline and counts only those
//! that sent a valid `HELLO` with the right token. Seated players whose
//! connection closes before the start give their seat back.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use crate::flags::{ClientConfig, ServerConfig};
use crate::line::{LineReader, LineSender, is_timeout, split_word};
use crate::say;

/// How long a new connection has to send its `HELLO`.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How often waiting players hear `WAITING` (their liveness check too).
pub const WAITING_INTERVAL: Duration = Duration::from_secs(2);
/// Connections allowed to be mid-handshake at once; more are closed at once.
const MAX_PENDING: usize = 64;
/// Longest player name, in characters.
pub const MAX_NAME: usize = 64;

/// A player who joined, with the connection to talk to them.
#[derive(Debug)]
pub struct Seat {
    /// 0-based position in the match, in joining order.
    pub index: usize,
    /// The name the client gave in its `HELLO`.
    pub name: String,
    /// Writes to this player.
    pub sender: LineSender,
    /// Reads from this player (hand it to [`crate::inbox`]).
    pub reader: LineReader,
}

/// What a server accepts.
#[derive(Debug, Clone)]
pub struct JoinRules {
    /// Game and protocol tag the client must send, e.g. `connect4/1`.
    pub game: String,
    /// Match token the client must present.
    pub token: String,
    /// Players to wait for.
    pub players: usize,
    /// How long to wait for all of them.
    pub timeout: Duration,
}

impl JoinRules {
    /// Rules from a server's flags.
    pub fn new(game: &str, config: &ServerConfig) -> JoinRules {
        JoinRules {
            game: game.to_string(),
            token: config.token.clone(),
            players: config.players,
            timeout: config.join_timeout,
        }
    }
}

/// Why the match could not start.
#[derive(Debug)]
pub enum GatherError {
    /// Not everyone joined in time.
    Timeout { joined: usize, expected: usize, waited: Duration },
}

impl fmt::Display for GatherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GatherError::Timeout { joined, expected, waited } => write!(
                f,
                "timed out after {} s waiting for players ({joined} of {expected} joined)",
                waited.as_secs()
            ),
        }
    }
}

impl std::error::Error for GatherError {}

/// Binds the server's listening socket and logs `listening on <addr>`.
pub fn bind(config: &ServerConfig) -> io::Result<TcpListener> {
    let address = config.bind_address();
    let listener = TcpListener::bind(&address)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {address}: {e}")))?;
    say!("listening on {}", listener.local_addr()?);
    Ok(listener)
}

/// A client that sent a valid `HELLO`, not yet seated.
struct Candidate {
    name: String,
    sender: LineSender,
    reader: LineReader,
}

/// Waits until `rules.players` clients have joined, then returns their seats.
///
/// The listener moves to a background thread that keeps answering late
/// connections with `ERR FULL` for the rest of the process's life.
pub fn gather(listener: TcpListener, rules: &JoinRules) -> Result<Vec<Seat>, GatherError> {
    let (tx, rx) = mpsc::channel();
    let full = Arc::new(AtomicBool::new(false));
    {
        let rules = rules.clone();
        let full = Arc::clone(&full);
        thread::spawn(move || accept_loop(listener, &rules, &full, &tx));
    }

    let started = Instant::now();
    let deadline = started + rules.timeout;
    let mut seated: Vec<Candidate> = Vec::new();
    let mut next_waiting = Instant::now() + WAITING_INTERVAL;
    loop {
        let now = Instant::now();
        if now >= next_waiting {
            seated.retain(is_alive);
            broadcast_waiting(&mut seated, rules.players);
            next_waiting = now + WAITING_INTERVAL;
        }
        if seated.len() == rules.players {
            // Last check: a player who left while we waited gives the seat back.
            seated.retain(is_alive);
            if seated.len() == rules.players {
                break;
            }
            broadcast_waiting(&mut seated, rules.players);
        }
        if now >= deadline {
            return Err(GatherError::Timeout {
                joined: seated.len(),
                expected: rules.players,
                waited: rules.timeout,
            });
        }
        let wait = deadline.min(next_waiting).saturating_duration_since(now);
        let candidate = match rx.recv_timeout(wait) {
            Ok(candidate) => candidate,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // The accept loop ended (listener error): nobody else can join.
                return Err(GatherError::Timeout {
                    joined: seated.len(),
                    expected: rules.players,
                    waited: started.elapsed(),
                });
            }
        };
        if let Some(pos) = seated.iter().position(|c| c.name == candidate.name) {
            if seated[pos].reader.peek_alive() {
                refuse(
                    &candidate.sender,
                    "NAME_TAKEN",
                    &format!("{} is already in this match", candidate.name),
                );
                continue;
            }
            // The same player reconnecting after a drop takes their seat back.
            seated.remove(pos);
        }
        if candidate.sender.send(&format!("WELCOME {}", rules.players)).is_err() {
            continue;
        }
        say!("{} joined ({} of {})", candidate.name, seated.len() + 1, rules.players);
        seated.push(candidate);
        broadcast_waiting(&mut seated, rules.players);
    }
    full.store(true, Ordering::SeqCst);
    Ok(seated
        .into_iter()
        .enumerate()
        .map(|(index, c)| Seat { index, name: c.name, sender: c.sender, reader: c.reader })
        .collect())
}

fn is_alive(candidate: &Candidate) -> bool {
    let alive = candidate.reader.peek_alive();
    if !alive {
        say!("{} left before the start", candidate.name);
    }
    alive
}

fn broadcast_waiting(seated: &mut Vec<Candidate>, players: usize) {
    let joined = seated.len();
    seated.retain(|c| c.sender.send(&format!("WAITING {joined} {players}")).is_ok());
}

fn accept_loop(
    listener: TcpListener,
    rules: &JoinRules,
    full: &Arc<AtomicBool>,
    tx: &mpsc::Sender<Candidate>,
) {
    let pending = Arc::new(AtomicUsize::new(0));
    for connection in listener.incoming() {
        let stream = match connection {
            Ok(stream) => stream,
            Err(error) => {
                // Out of descriptors and the like: back off instead of spinning.
                say!("accept failed: {error}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if pending.load(Ordering::SeqCst) >= MAX_PENDING {
            continue; // dropped: closes the connection
        }
        pending.fetch_add(1, Ordering::SeqCst);
        let (rules, full, tx, pending) =
            (rules.clone(), Arc::clone(full), tx.clone(), Arc::clone(&pending));
        thread::spawn(move || {
            let candidate = handshake(stream, &rules, &full);
            pending.fetch_sub(1, Ordering::SeqCst);
            if let Some(candidate) = candidate {
                let _ = tx.send(candidate);
            }
        });
    }
}

fn handshake(stream: TcpStream, rules: &JoinRules, full: &AtomicBool) -> Option<Candidate> {
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
    let sender = LineSender::new(stream.try_clone().ok()?).ok()?;
    let mut reader = LineReader::new(stream);
    reader.set_timeout(Some(HELLO_TIMEOUT)).ok()?;
    let line = match reader.read_line() {
        Ok(Some(line)) => line,
        Ok(None) => return None, // a readiness probe: connected and closed
        Err(error) => {
            let why =
                if is_timeout(&error) { "sent no hello".to_string() } else { error.to_string() };
            say!("dropped connection from {peer}: {why}");
            refuse(&sender, "BAD_HELLO", "expected: HELLO <game> <token> <name>");
            return None;
        }
    };
    match parse_hello(&line, &rules.game, &rules.token) {
        Ok(_) if full.load(Ordering::SeqCst) => {
            refuse(&sender, "FULL", "the match has already started");
            None
        }
        Ok(name) => Some(Candidate { name, sender, reader }),
        Err((code, message)) => {
            say!("refused {peer}: {code} {message}");
            refuse(&sender, code, &message);
            None
        }
    }
}

fn refuse(sender: &LineSender, code: &str, message: &str) {
    let _ = sender.send(&format!("ERR {code} {message}"));
    sender.shutdown();
}

/// Checks a `HELLO` line; returns the player's name or `(code, message)`.
pub fn parse_hello(line: &str, game: &str, token: &str) -> Result<String, (&'static str, String)> {
    let (verb, rest) = split_word(line);
    if verb != "HELLO" {
        return Err(("BAD_HELLO", "expected: HELLO <game> <token> <name>".into()));
    }
    let (their_game, rest) = split_word(rest);
    let (their_token, name) = split_word(rest);
    if their_game != game {
        return Err(("WRONG_GAME", format!("this server plays {game}, not {their_game:?}")));
    }
    let their_token = if their_token == "-" { "" } else { their_token };
    if their_token != token {
        return Err(("BAD_TOKEN", "wrong match token".into()));
    }
    check_name(name).map_err(|e| ("BAD_NAME", e))?;
    Ok(name.to_string())
}

/// The `HELLO` line a client sends.
pub fn hello_line(game: &str, token: &str, name: &str) -> String {
    let token = if token.is_empty() { "-" } else { token };
    format!("HELLO {game} {token} {name}")
}

/// A player name is 1 to 64 printable characters without surrounding spaces.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.chars().count() > MAX_NAME {
        return Err(format!("the name is longer than {MAX_NAME} characters"));
    }
    if name.trim() != name || name.chars().any(char::is_control) {
        return Err("the name has control characters or surrounding spaces".into());
    }
    Ok(())
}

/// Why a client could not join.
#[derive(Debug)]
pub enum JoinError {
    /// No connection could be made.
    Connect(String),
    /// The server answered `ERR`.
    Refused { code: String, message: String },
    /// The server closed or said something unexpected.
    Protocol(String),
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Connect(message) => write!(f, "cannot connect: {message}"),
            JoinError::Refused { code, message } => {
                write!(f, "the server refused us ({code}): {message}")
            }
            JoinError::Protocol(message) => {
                write!(f, "unexpected answer from the server: {message}")
            }
        }
    }
}

impl std::error::Error for JoinError {}

/// A client's connection to its game server, after `WELCOME`.
#[derive(Debug)]
pub struct Connection {
    /// Writes to the server.
    pub sender: LineSender,
    /// Reads from the server.
    pub reader: LineReader,
    /// Players the match waits for.
    pub players: usize,
}

/// How long [`join`] retries a refused connection (the server may be a
/// moment from listening when started by hand).
pub const CONNECT_RETRY: Duration = Duration::from_secs(5);
/// How long a client waits for any line from a server before giving up;
/// servers send something at least every [`WAITING_INTERVAL`].
pub const SERVER_SILENCE: Duration = Duration::from_secs(15);

/// Connects, sends `HELLO` and waits for `WELCOME`.
pub fn join(config: &ClientConfig, game: &str) -> Result<Connection, JoinError> {
    let stream = connect(&config.server_address())?;
    let sender =
        LineSender::new(stream.try_clone().map_err(|e| JoinError::Connect(e.to_string()))?)
            .map_err(|e| JoinError::Connect(e.to_string()))?;
    let mut reader = LineReader::new(stream);
    reader.set_timeout(Some(SERVER_SILENCE)).map_err(|e| JoinError::Connect(e.to_string()))?;
    sender
        .send(&hello_line(game, &config.token, &config.name))
        .map_err(|e| JoinError::Connect(e.to_string()))?;
    let line = match reader.read_line() {
        Ok(Some(line)) => line,
        Ok(None) => {
            return Err(JoinError::Protocol("the server closed the connection".into()));
        }
        Err(e) => return Err(JoinError::Protocol(e.to_string())),
    };
    let (verb, rest) = split_word(&line);
    match verb {
        "WELCOME" => {
            let players = rest
                .trim()
                .parse()
                .map_err(|_| JoinError::Protocol(format!("bad WELCOME line {line:?}")))?;
            Ok(Connection { sender, reader, players })
        }
        "ERR" => {
            let (code, message) = split_word(rest);
            Err(JoinError::Refused { code: code.to_string(), message: message.to_string() })
        }
        _ => Err(JoinError::Protocol(format!("{line:?}"))),
    }
}

fn connect(address: &str) -> Result<TcpStream, JoinError> {
    let addresses: Vec<SocketAddr> = address
        .to_socket_addrs()
        .map_err(|e| JoinError::Connect(format!("{address}: {e}")))?
        .collect();
    let deadline = Instant::now() + CONNECT_RETRY;
    loop {
        let mut last_error = None;
        for addr in &addresses {
            match TcpStream::connect_timeout(addr, Duration::from_secs(5)) {
                Ok(stream) => return Ok(stream),
                Err(error) => last_error = Some(error),
            }
        }
        let error = last_error.map(|e| e.to_string()).unwrap_or_else(|| "no address".into());
        if Instant::now() >= deadline {
            return Err(JoinError::Connect(format!("{address}: {error}")));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_lines() {
        let check = |line: &str, expect: Result<&str, &str>| {
            let got = parse_hello(line, "g/1", "tok");
            match (got, expect) {
                (Ok(name), Ok(want)) => assert_eq!(name, want),
                (Err((code, _)), Err(want)) => assert_eq!(code, want, "{line}"),
                (got, expect) => panic!("{line:?}: got {got:?}, expected {expect:?}"),
            }
        };
        check("HELLO g/1 tok alice", Ok("alice"));
        check("HELLO g/1 tok Mary Ann", Ok("Mary Ann"));
        check("HELLO g/1 bad alice", Err("BAD_TOKEN"));
        check("HELLO g/2 tok alice", Err("WRONG_GAME"));
        check("HELLO g/1 tok", Err("BAD_NAME"));
        check("GET / HTTP/1.1", Err("BAD_HELLO"));
        check("", Err("BAD_HELLO"));
        assert_eq!(parse_hello(&hello_line("g/1", "", "bob"), "g/1", ""), Ok("bob".into()));
    }
}
