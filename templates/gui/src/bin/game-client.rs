//! `game-client`: the coin race in a window.
//!
//! Started with `--host H --port N --name PLAYER --token T`. Move with the
//! arrow keys or WASD; Esc leaves. `GAMESTORE_BOT=1` (or `--bot`) lets a bot
//! play with no window and no display; `GAMESTORE_BOT=window` shows the
//! window while the bot plays. Exits 0 when the match is over, 1 when the
//! connection fails or no window can be opened.

use std::io::BufReader;
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use game::{COIN, COLORS, Canvas, HEIGHT, PLAYER, WIDTH, flag, read_line, send};
use minifb::{Key, KeyRepeat, Window, WindowOptions};

#[derive(Default)]
struct View {
    me: usize,
    names: Vec<String>,
    coin: (i32, i32),
    /// (x, y, score) per seat; x = -1 once a player left.
    players: Vec<(i32, i32, u32)>,
    over: Option<(Option<usize>, String)>,
}

impl View {
    fn apply(&mut self, line: &str) {
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        match verb {
            "PLAYER" => {
                let (index, name) = rest.split_once(' ').unwrap_or(("", ""));
                if let Ok(index) = index.parse::<usize>() {
                    self.names.resize(self.names.len().max(index + 1), String::new());
                    self.names[index] = name.to_string();
                }
            }
            "S" => {
                let numbers: Vec<i32> = rest.split(' ').filter_map(|n| n.parse().ok()).collect();
                if numbers.len() >= 2 {
                    self.coin = (numbers[0], numbers[1]);
                    self.players =
                        numbers[2..].chunks(3).map(|c| (c[0], c[1], c[2].max(0) as u32)).collect();
                }
            }
            "OVER" => {
                let (winner, summary) = rest.split_once(' ').unwrap_or((rest, ""));
                self.over = Some((winner.parse().ok(), summary.to_string()));
            }
            _ => {}
        }
    }

    /// The bot's move: straight for the coin.
    fn bot(&self) -> (i32, i32) {
        let Some(&(x, y, _)) = self.players.get(self.me) else { return (0, 0) };
        let aim = |from: i32, to: i32| if (to - from).abs() < 4 { 0 } else { (to - from).signum() };
        (aim(x + PLAYER / 2, self.coin.0 + COIN / 2), aim(y + PLAYER / 2, self.coin.1 + COIN / 2))
    }

    fn draw(&self, canvas: &mut Canvas, closing_in: Option<u64>) {
        canvas.rect(0, 0, WIDTH, HEIGHT, 0x101820);
        canvas.rect(self.coin.0, self.coin.1, COIN, COIN, 0xffd54f);
        for (seat, &(x, y, score)) in self.players.iter().enumerate() {
            let color = COLORS[seat % COLORS.len()];
            let name = self.names.get(seat).cloned().unwrap_or_default();
            canvas.text(8 + seat as i32 * 78, 8, 1, color, &format!("{name} {score}"));
            if x >= 0 {
                canvas.rect(x, y, PLAYER, PLAYER, color);
                if seat == self.me {
                    canvas.rect(x + 8, y + 8, 8, 8, 0xffffff);
                }
            }
        }
        if let (Some((winner, summary)), Some(seconds)) = (&self.over, closing_in) {
            let headline = match winner {
                Some(w) if *w == self.me => "YOU WIN!",
                Some(_) => "GAME OVER",
                None => "NO WINNER",
            };
            canvas.text_centered(WIDTH / 2, 180, 5, 0xffffff, headline);
            canvas.text_centered(WIDTH / 2, 240, 1, 0xe0e0e0, summary);
            canvas.text_centered(
                WIDTH / 2,
                270,
                1,
                0x909090,
                &format!("closing in {seconds} s (Esc to close)"),
            );
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let address = format!("{}:{}", flag(&args, "--host", "127.0.0.1"), flag(&args, "--port", ""));
    let name = flag(&args, "--name", "player");
    // The lobby passes the match token in the environment (off the
    // command line, where every local user could read it); --token wins.
    let token = flag(&args, "--token", &std::env::var("MATCH_TOKEN").unwrap_or_default());
    let mode = std::env::var("GAMESTORE_BOT").unwrap_or_default();
    let bot = args.iter().any(|a| a == "--bot") || matches!(mode.as_str(), "1" | "true" | "window");
    let headless = args.iter().any(|a| a == "--bot") || matches!(mode.as_str(), "1" | "true");

    let stream = match TcpStream::connect(&address) {
        Ok(stream) => stream,
        Err(e) => {
            eprintln!("game-client: error: cannot connect to {address}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _ = stream.set_nodelay(true);
    // The server sends a state every tick once the match runs; allow a
    // minute for the others to join.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let token = if token.is_empty() { "-".to_string() } else { token };
    let _ = send(&stream, &format!("HELLO {token} {name}"));
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut view = View::default();
    match read_line(&mut reader) {
        Ok(Some(line)) if line.starts_with("WELCOME ") => {
            view.me = line[8..].trim().parse().unwrap_or(0)
        }
        Ok(Some(line)) => {
            eprintln!("game-client: error: the server refused us: {line}");
            return ExitCode::FAILURE;
        }
        _ => {
            eprintln!("game-client: error: no answer from the server");
            return ExitCode::FAILURE;
        }
    }
    println!("Joined as {name}; waiting for the other players...");
    let (lines_tx, lines) = mpsc::channel::<Option<String>>();
    thread::spawn(move || {
        while let Ok(Some(line)) = read_line(&mut reader) {
            if lines_tx.send(Some(line)).is_err() {
                return;
            }
        }
        let _ = lines_tx.send(None);
    });

    let mut window = if headless {
        None
    } else {
        match Window::new(
            &format!("Coin race - {name}"),
            WIDTH as usize,
            HEIGHT as usize,
            WindowOptions::default(),
        ) {
            Ok(mut window) => {
                window.set_target_fps(60);
                Some(window)
            }
            Err(e) => {
                eprintln!(
                    "game-client: error: cannot open a window ({e}); GAMESTORE_BOT=1 plays headless"
                );
                return ExitCode::FAILURE;
            }
        }
    };
    let mut canvas = Canvas::default();
    let mut sent = (9, 9);
    let mut last_send = Instant::now();
    let mut over_at: Option<Instant> = None;
    loop {
        // Headless, wait for the next line; with a window, take what came.
        let incoming: Vec<Option<String>> = match window {
            None => lines
                .recv_timeout(Duration::from_millis(100))
                .into_iter()
                .chain(lines.try_iter())
                .collect(),
            Some(_) => lines.try_iter().collect(),
        };
        for line in incoming {
            match line {
                Some(line) => view.apply(&line),
                None if view.over.is_some() => {}
                None => {
                    eprintln!("game-client: error: lost the game server");
                    return ExitCode::FAILURE;
                }
            }
        }
        if let Some((winner, summary)) = &view.over {
            let at = *over_at.get_or_insert_with(Instant::now);
            let dismissed = window
                .as_ref()
                .is_none_or(|w| !w.is_open() || w.is_key_pressed(Key::Escape, KeyRepeat::No));
            if dismissed || at.elapsed() >= Duration::from_secs(5) {
                let verdict = if *winner == Some(view.me) { "You win!" } else { "You lose." };
                println!("Game over: {summary}. {verdict}");
                return ExitCode::SUCCESS;
            }
        }
        let dir = match &window {
            _ if bot => view.bot(),
            Some(w) => {
                let held = |keys: [Key; 2]| keys.iter().any(|&k| w.is_key_down(k));
                let dx =
                    i32::from(held([Key::Right, Key::D])) - i32::from(held([Key::Left, Key::A]));
                let dy = i32::from(held([Key::Down, Key::S])) - i32::from(held([Key::Up, Key::W]));
                (dx, dy)
            }
            None => (0, 0),
        };
        if view.over.is_none() && (dir != sent || last_send.elapsed() >= Duration::from_secs(1)) {
            let line =
                if dir != sent { format!("IN {} {}", dir.0, dir.1) } else { "PING".to_string() };
            let _ = send(&stream, &line);
            sent = dir;
            last_send = Instant::now();
        }
        if let Some(w) = &mut window {
            if !w.is_open() || (view.over.is_none() && w.is_key_down(Key::Escape)) {
                let _ = send(&stream, "QUIT");
                println!("You left the match.");
                return ExitCode::SUCCESS;
            }
            let closing_in = over_at.map(|at| 5u64.saturating_sub(at.elapsed().as_secs()));
            view.draw(&mut canvas, closing_in);
            if w.update_with_buffer(&canvas.pixels, WIDTH as usize, HEIGHT as usize).is_err() {
                return ExitCode::FAILURE;
            }
        }
    }
}
