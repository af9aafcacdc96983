//! `game-client`: plays tic-tac-toe in the terminal.
//!
//! The Game Store starts it with `--host H --port N --name PLAYER --token T`.
//! Type a cell number 1-9 (laid out like a phone keypad) and Enter; `q`
//! quits. With `GAMESTORE_BOT=1` (or `--bot`) a bot plays instead, reading
//! no keyboard. Exits 0 when the match is over, 1 when the connection fails.

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use game::{Board, MARKS, bot_move, decode, flag, read_line, send};

enum Event {
    Server(String),
    ServerGone,
    Key(String),
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let address = format!("{}:{}", flag(&args, "--host", "127.0.0.1"), flag(&args, "--port", ""));
    let name = flag(&args, "--name", "player");
    // The lobby passes the match token in the environment (off the
    // command line, where every local user could read it); --token wins.
    let token = flag(&args, "--token", &std::env::var("MATCH_TOKEN").unwrap_or_default());
    let bot = args.iter().any(|a| a == "--bot")
        || matches!(std::env::var("GAMESTORE_BOT").as_deref(), Ok("1" | "true" | "window"));

    let stream = match TcpStream::connect(&address) {
        Ok(stream) => stream,
        Err(e) => {
            eprintln!("game-client: error: cannot connect to {address}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The server answers within seconds or says something every turn;
    // two minutes of silence means it is gone.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(150)));
    let token = if token.is_empty() { "-".to_string() } else { token };
    let _ = send(&stream, &format!("HELLO {token} {name}"));

    let (events_tx, events) = mpsc::channel();
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let server_tx = events_tx.clone();
    thread::spawn(move || {
        while let Ok(Some(line)) = read_line(&mut reader) {
            if server_tx.send(Event::Server(line)).is_err() {
                return;
            }
        }
        let _ = server_tx.send(Event::ServerGone);
    });
    if !bot {
        thread::spawn(move || {
            for line in io::stdin().lock().lines().map_while(Result::ok) {
                if events_tx.send(Event::Key(line)).is_err() {
                    return;
                }
            }
            let _ = events_tx.send(Event::Key("q".into()));
        });
    }

    let mut me = None;
    let mut board: Board = [None; 9];
    let mut my_turn = false;
    while let Ok(event) = events.recv() {
        match event {
            Event::ServerGone => {
                eprintln!("game-client: error: lost the game server");
                return ExitCode::FAILURE;
            }
            Event::Key(key) => {
                let key = key.trim();
                if key == "q" {
                    println!("You left the match.");
                    let _ = send(&stream, "QUIT");
                } else if !my_turn {
                    println!("Not your turn yet.");
                } else {
                    match key.parse::<usize>() {
                        Ok(cell @ 1..=9) if board[cell - 1].is_none() => {
                            my_turn = false;
                            let _ = send(&stream, &format!("MOVE {cell}"));
                        }
                        _ => prompt("That is not a free cell (1-9). Your move"),
                    }
                }
            }
            Event::Server(line) => {
                let (verb, rest) = line.split_once(' ').unwrap_or((&line, ""));
                match verb {
                    "WELCOME" => {
                        me = rest.parse::<usize>().ok();
                        println!(
                            "Joined as {name} ({}). Waiting for the other player...",
                            MARKS[me.unwrap_or(0)]
                        );
                    }
                    "ERR" => {
                        eprintln!("game-client: error: the server refused us: {rest}");
                        return ExitCode::FAILURE;
                    }
                    "START" => println!("Match: {rest} (X moves first)"),
                    "BOARD" => {
                        board = decode(rest).unwrap_or(board);
                        show(&board);
                    }
                    "TURN" => {
                        my_turn = rest.parse::<usize>().ok() == me;
                        if !my_turn {
                            println!("Waiting for the other player...");
                        } else if bot {
                            if let Some(cell) = bot_move(&board, MARKS[me.unwrap_or(0)]) {
                                println!("Bot plays {}.", cell + 1);
                                let _ = send(&stream, &format!("MOVE {}", cell + 1));
                            }
                        } else {
                            prompt("Your move: cell 1-9, q to quit");
                        }
                    }
                    "ILLEGAL" => {
                        my_turn = true;
                        prompt(&format!("Refused ({rest}). Your move"));
                    }
                    "OVER" => {
                        let (winner, summary) = rest.split_once(' ').unwrap_or((rest, ""));
                        let verdict = match winner.parse::<usize>().ok() {
                            None => "Draw.",
                            w if w == me => "You win!",
                            _ => "You lose.",
                        };
                        println!("Game over: {summary}. {verdict}");
                        return ExitCode::SUCCESS;
                    }
                    _ => {}
                }
            }
        }
    }
    ExitCode::FAILURE
}

fn show(board: &Board) {
    println!();
    for row in 0..3 {
        let cells: Vec<String> = (0..3)
            .map(|col| board[row * 3 + col].map_or((row * 3 + col + 1).to_string(), String::from))
            .collect();
        println!("  {} | {} | {}", cells[0], cells[1], cells[2]);
        if row < 2 {
            println!("  --+---+--");
        }
    }
}

fn prompt(text: &str) {
    print!("{text} > ");
    let _ = io::stdout().flush();
}
