//! `game-server`: runs one coin race for the Game Store.
//!
//! Started with `--host ADDR --port N --players N --token T` (see
//! config.json; `--points N` sets the coins needed to win, default 10). It
//! waits for the players, runs the game at 30 ticks a second, writes the
//! result to `$GAMESTORE_RESULT_FILE` if set, and exits 0. Connections that
//! close or send garbage before their HELLO (like the lobby's readiness
//! check) are ignored; every wait has a deadline.

use std::io::BufReader;
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use game::{COIN, HEIGHT, PLAYER, SPEED, WIDTH, flag, read_line, send, touches};

const TICK: Duration = Duration::from_millis(33);

enum Event {
    Line(usize, String),
    Gone(usize),
}

struct Player {
    name: String,
    stream: TcpStream,
    here: bool,
    pos: (i32, i32),
    dir: (i32, i32),
    score: u32,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let host = flag(&args, "--host", "0.0.0.0");
    let port = flag(&args, "--port", "");
    // The lobby passes the match token in the environment (off the
    // command line, where every local user could read it); --token wins.
    let token = flag(&args, "--token", &std::env::var("MATCH_TOKEN").unwrap_or_default());
    let count: usize = flag(&args, "--players", "2").parse().unwrap_or(0);
    let points: u32 = flag(&args, "--points", "10").parse().unwrap_or(10);
    let wait: u64 = flag(&args, "--timeout", "60").parse().unwrap_or(60);
    if port.is_empty() || !(1..=8).contains(&count) {
        eprintln!(
            "usage: game-server --port N [--host ADDR] [--players 1-8] [--token T] [--points N] [--timeout SECS]"
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
                let _ = stream.set_nodelay(true);
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
    while players.len() < count {
        let Ok((name, stream)) =
            joined.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        else {
            eprintln!(
                "game-server: error: timed out waiting for players ({} of {count} joined)",
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
        // Start spread along the bottom of the field.
        let x = (players.len() as i32 + 1) * WIDTH / (count as i32 + 1) - PLAYER / 2;
        players.push(Player {
            name,
            stream,
            here: true,
            pos: (x, HEIGHT - 60),
            dir: (0, 0),
            score: 0,
        });
    }

    // One reader thread per player; clients ping every second, so ten
    // seconds of silence means the player is gone.
    let (events_tx, events) = mpsc::channel();
    for (index, player) in players.iter().enumerate() {
        let events_tx = events_tx.clone();
        let mut reader = BufReader::new(player.stream.try_clone().expect("clone the stream"));
        thread::spawn(move || {
            while let Ok(Some(line)) = read_line(&mut reader) {
                if events_tx.send(Event::Line(index, line)).is_err() {
                    return;
                }
            }
            let _ = events_tx.send(Event::Gone(index));
        });
    }
    for player in &players {
        for (index, other) in players.iter().enumerate() {
            let _ = send(&player.stream, &format!("PLAYER {index} {}", other.name));
        }
    }

    let started = Instant::now();
    let mut seed =
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1;
    let mut random = move |below: i32| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % below as u64) as i32
    };
    let mut coin = (WIDTH / 2 - COIN / 2, HEIGHT / 3);
    let mut next_tick = Instant::now() + TICK;
    let (winner, summary): (Option<usize>, String) = 'game: loop {
        while let Ok(event) =
            events.recv_timeout(next_tick.saturating_duration_since(Instant::now()))
        {
            let gone = match event {
                Event::Gone(who) => who,
                Event::Line(who, line) if line == "QUIT" => who,
                Event::Line(who, line) => {
                    let mut numbers =
                        line.strip_prefix("IN ").unwrap_or("").split(' ').map(|n| n.parse::<i32>());
                    if let (Some(Ok(dx)), Some(Ok(dy))) = (numbers.next(), numbers.next()) {
                        players[who].dir = (dx.clamp(-1, 1), dy.clamp(-1, 1));
                    }
                    continue;
                }
            };
            if players[gone].here {
                players[gone].here = false;
                eprintln!("game-server: {} left", players[gone].name);
            }
            let left: Vec<usize> = (0..players.len()).filter(|&i| players[i].here).collect();
            match left.as_slice() {
                [] => break 'game (None, "abandoned: every player left".to_string()),
                [last] if players.len() > 1 => {
                    break 'game (
                        Some(*last),
                        format!("{} wins: everyone else left", players[*last].name),
                    );
                }
                _ => {}
            }
        }
        next_tick += TICK;
        for (index, player) in players.iter_mut().enumerate().filter(|(_, p)| p.here) {
            player.pos.0 = (player.pos.0 + player.dir.0 * SPEED).clamp(0, WIDTH - PLAYER);
            player.pos.1 = (player.pos.1 + player.dir.1 * SPEED).clamp(0, HEIGHT - PLAYER);
            if touches((player.pos.0, player.pos.1, PLAYER), (coin.0, coin.1, COIN)) {
                player.score += 1;
                coin = (random(WIDTH - COIN), 40 + random(HEIGHT - 40 - COIN));
                if player.score >= points {
                    break 'game (
                        Some(index),
                        format!("{} grabs {points} coins first", player.name),
                    );
                }
            }
        }
        let mut state = format!("S {} {}", coin.0, coin.1);
        for p in &players {
            let x = if p.here { p.pos.0 } else { -1 };
            state.push_str(&format!(" {x} {} {}", p.pos.1, p.score));
        }
        for player in players.iter().filter(|p| p.here) {
            let _ = send(&player.stream, &state);
        }
    };

    let tag = winner.map_or("-".to_string(), |w| w.to_string());
    for player in players.iter().filter(|p| p.here) {
        let _ = send(&player.stream, &format!("OVER {tag} {summary}"));
    }
    eprintln!("game-server: {summary}");
    write_result(&players, winner, started.elapsed(), &summary);
    ExitCode::SUCCESS
}

/// Writes `{"winner", "draw", "scores", "duration_secs", "summary"}` to
/// `$GAMESTORE_RESULT_FILE` (via a temporary file and a rename).
fn write_result(players: &[Player], winner: Option<usize>, duration: Duration, summary: &str) {
    let Some(path) = std::env::var_os("GAMESTORE_RESULT_FILE").filter(|p| !p.is_empty()) else {
        return;
    };
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let scores: Vec<String> =
        players.iter().map(|p| format!("{}: {}", quote(&p.name), p.score)).collect();
    let json = format!(
        "{{\"winner\": {}, \"draw\": false, \"scores\": {{{}}}, \"duration_secs\": {:.3}, \"summary\": {}}}\n",
        winner.map_or("null".to_string(), |w| quote(&players[w].name)),
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
