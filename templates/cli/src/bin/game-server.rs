//! `game-server`: runs one tic-tac-toe match for the Game Store.
//!
//! The Game Store starts it with `--host ADDR --port N --players 2 --token T`
//! (see config.json). It waits for two clients that send the right token,
//! plays the match, writes the result to `$GAMESTORE_RESULT_FILE` if set, and
//! exits 0. Connections that close or send garbage before their HELLO (the
//! lobby's readiness check does exactly that) are ignored. Every wait has a
//! deadline, so the server never hangs.

use std::io::BufReader;
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use game::{Board, MARKS, encode, flag, read_line, send, winner};

/// Time allowed for one move before the player forfeits.
const TURN_TIMEOUT: Duration = Duration::from_secs(120);

struct Player {
    name: String,
    stream: TcpStream,
}

enum Event {
    Line(usize, String),
    Gone(usize),
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let host = flag(&args, "--host", "0.0.0.0");
    let port = flag(&args, "--port", "");
    // The lobby passes the match token in the environment (off the
    // command line, where every local user could read it); --token wins.
    let token = flag(&args, "--token", &std::env::var("MATCH_TOKEN").unwrap_or_default());
    let wait: u64 = flag(&args, "--timeout", "60").parse().unwrap_or(60);
    if port.is_empty() || flag(&args, "--players", "2") != "2" {
        eprintln!(
            "usage: game-server --port N [--host ADDR] [--players 2] [--token T] [--timeout SECS]"
        );
        return ExitCode::from(2);
    }
    let listener = match TcpListener::bind(format!("{host}:{port}")) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("game-server: error: cannot listen on {host}:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "game-server: listening on {}",
        listener.local_addr().map(|a| a.to_string()).unwrap_or_default()
    );

    // Each connection says hello on its own thread, so a silent one blocks nobody.
    let (joined_tx, joined) = mpsc::channel::<(String, TcpStream)>();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (joined_tx, token) = (joined_tx.clone(), token.clone());
            thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(stream.try_clone().ok()?);
                let line = read_line(&mut reader).ok()??; // a probe or garbage: ignore
                let mut words = line.splitn(3, ' ');
                let (verb, their_token, name) =
                    (words.next()?, words.next()?, words.next()?.trim());
                let their_token = if their_token == "-" { "" } else { their_token };
                if verb != "HELLO" || their_token != token || name.is_empty() {
                    let _ = send(&stream, "ERR wrong token or bad hello");
                    return None;
                }
                joined_tx.send((name.to_string(), stream)).ok()
            });
        }
    });
    let deadline = Instant::now() + Duration::from_secs(wait);
    let mut players: Vec<Player> = Vec::new();
    while players.len() < 2 {
        let Ok((name, stream)) =
            joined.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        else {
            eprintln!(
                "game-server: error: timed out waiting for players ({} of 2 joined)",
                players.len()
            );
            return ExitCode::FAILURE;
        };
        if players.iter().any(|p| p.name == name)
            || send(&stream, &format!("WELCOME {}", players.len())).is_err()
        {
            let _ = send(&stream, "ERR name taken");
            continue;
        }
        eprintln!("game-server: {name} joined");
        players.push(Player { name, stream });
    }

    // One reader thread per player feeds one channel.
    let (events_tx, events) = mpsc::channel();
    for (index, player) in players.iter().enumerate() {
        let events_tx = events_tx.clone();
        let mut reader = BufReader::new(player.stream.try_clone().expect("clone the stream"));
        let _ = player.stream.set_read_timeout(None);
        thread::spawn(move || {
            while let Ok(Some(line)) = read_line(&mut reader) {
                if events_tx.send(Event::Line(index, line)).is_err() {
                    return;
                }
            }
            let _ = events_tx.send(Event::Gone(index));
        });
    }

    let started = Instant::now();
    let broadcast = |line: &str| players.iter().for_each(|p| drop(send(&p.stream, line)));
    broadcast(&format!("START {} / {}", players[0].name, players[1].name));
    let mut board: Board = [None; 9];
    let mut turn = 0;
    broadcast(&format!("BOARD {}", encode(&board)));
    broadcast(&format!("TURN {turn}"));
    // (winner seat, summary)
    let (winner_seat, summary): (Option<usize>, String) = loop {
        let event = match events.recv_timeout(TURN_TIMEOUT) {
            Ok(event) => event,
            Err(_) => break (Some(1 - turn), format!("{} ran out of time", players[turn].name)),
        };
        let (who, line) = match event {
            Event::Gone(who) => {
                break (Some(1 - who), format!("{} left the game", players[who].name));
            }
            Event::Line(who, line) => (who, line),
        };
        if line == "QUIT" {
            break (Some(1 - who), format!("{} quit", players[who].name));
        }
        let cell = line.strip_prefix("MOVE ").and_then(|c| c.trim().parse::<usize>().ok());
        let reply = match cell {
            _ if who != turn => "ILLEGAL it is not your turn",
            Some(cell @ 1..=9) if board[cell - 1].is_none() => {
                board[cell - 1] = Some(MARKS[who]);
                broadcast(&format!("BOARD {}", encode(&board)));
                if winner(&board).is_some() {
                    break (Some(who), format!("{} wins with three in a row", players[who].name));
                }
                if board.iter().all(Option::is_some) {
                    break (None, "draw: the board is full".to_string());
                }
                turn = 1 - turn;
                broadcast(&format!("TURN {turn}"));
                continue;
            }
            Some(1..=9) => "ILLEGAL that cell is taken",
            _ => "ILLEGAL send MOVE <cell 1-9>",
        };
        let _ = send(&players[who].stream, reply);
    };

    let tag = winner_seat.map_or("-".to_string(), |w| w.to_string());
    broadcast(&format!("OVER {tag} {summary}"));
    eprintln!("game-server: {summary}");
    write_result(&players, winner_seat, started.elapsed(), &summary);
    ExitCode::SUCCESS
}

/// Writes `{"winner", "draw", "scores", "duration_secs", "summary"}` to
/// `$GAMESTORE_RESULT_FILE` (via a temporary file and a rename).
fn write_result(players: &[Player], winner: Option<usize>, duration: Duration, summary: &str) {
    let Some(path) = std::env::var_os("GAMESTORE_RESULT_FILE").filter(|p| !p.is_empty()) else {
        return;
    };
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let scores: Vec<String> = players
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}: {}", quote(&p.name), u8::from(winner == Some(i))))
        .collect();
    let json = format!(
        "{{\"winner\": {}, \"draw\": {}, \"scores\": {{{}}}, \"duration_secs\": {:.3}, \"summary\": {}}}\n",
        winner.map_or("null".to_string(), |w| quote(&players[w].name)),
        winner.is_none(),
        scores.join(", "),
        duration.as_secs_f64(),
        quote(summary)
    );
    let mut temp = path.clone();
    temp.push(".tmp");
    if let Err(e) = std::fs::write(&temp, json).and_then(|()| std::fs::rename(&temp, &path)) {
        eprintln!("game-server: cannot write the result file: {e}");
    }
}
