//! The arena client: rebuilds the grid from the heads the server sends each
//! tick, draws it in a 640x480 window, and sends turns from the arrow keys
//! (or WASD) or from the bot. Esc leaves the match; the result screen stays
//! up for a few seconds (Enter, Space or Esc closes it sooner).
//!
//! The window loop, bot modes and heartbeat are `gamekit::window::run_client`;
//! this module is the game's view.

use std::process::ExitCode;

use gamekit::bot::{BotMode, Rng};
use gamekit::canvas::{Canvas, scale_color};
use gamekit::flags::ClientConfig;
use gamekit::window::{GameWindow, GuiGame, Key, Outcome, run_client};

use crate::GAME;
use crate::bot::choose_dir;
use crate::protocol::{ClientMsg, ServerMsg};
use crate::sim::{COLUMNS, Cell, Dir, ROWS};

/// Pixels per cell.
const CELL: i32 = 8;
/// Height of the score bar above the grid.
const HUD: i32 = 40;
const WIDTH: i32 = COLUMNS * CELL;
const HEIGHT: i32 = HUD + ROWS * CELL;
const BACKGROUND: u32 = 0x05070d;
const GRID_LINE: u32 = 0x0c1322;
const HUD_BACKGROUND: u32 = 0x0e1424;
const TEXT: u32 = 0xe0e6f0;
const DIM_TEXT: u32 = 0x7080a0;
/// One colour per seat.
pub const PLAYER_COLORS: [u32; 8] =
    [0x00e5ff, 0xff4081, 0xffd740, 0x76ff03, 0xb388ff, 0xff6d00, 0xeceff1, 0x2979ff];
/// Ticks per second at normal speed, to show countdowns in seconds.
const NORMAL_TICK_HZ: u32 = 15;

/// Plays one match; returns the process exit code.
pub fn run(config: &ClientConfig) -> ExitCode {
    run_client(config, GAME, ArenaView::new(config))
}

/// What the client knows of the match.
pub struct ArenaView {
    my_name: String,
    mode: BotMode,
    rng: Rng,
    names: Vec<String>,
    me: Option<usize>,
    rounds: u32,
    round: u32,
    /// Owner of each cell plus one; 0 for free.
    grid: Vec<u8>,
    /// Last known head of each seat.
    heads: Vec<Option<Cell>>,
    dirs: Vec<Dir>,
    riding: Vec<bool>,
    left: Vec<bool>,
    scores: Vec<i64>,
    countdown: u32,
    round_winner: Option<Option<usize>>,
    /// Counts ticks and countdown steps, so the bot decides once per step.
    step: u64,
    decided: u64,
    waiting: Option<(usize, usize)>,
    outcome: Option<Outcome>,
}

impl ArenaView {
    /// A view for the player in `config`.
    pub fn new(config: &ClientConfig) -> ArenaView {
        ArenaView {
            my_name: config.name.clone(),
            mode: config.bot,
            rng: Rng::from_env(&config.name),
            names: Vec::new(),
            me: None,
            rounds: 0,
            round: 0,
            grid: vec![0; (COLUMNS * ROWS) as usize],
            heads: Vec::new(),
            dirs: Vec::new(),
            riding: Vec::new(),
            left: Vec::new(),
            scores: Vec::new(),
            countdown: 0,
            round_winner: None,
            step: 0,
            decided: 0,
            waiting: None,
            outcome: None,
        }
    }

    fn seat(&mut self, index: usize) {
        if index >= self.names.len() && index < PLAYER_COLORS.len() {
            let n = index + 1;
            self.names.resize(n, String::new());
            self.heads.resize(n, None);
            self.dirs.resize(n, Dir::Up);
            self.riding.resize(n, false);
            self.left.resize(n, false);
            self.scores.resize(n, 0);
        }
    }

    fn mark(&mut self, (x, y): Cell, owner: usize) {
        if (0..COLUMNS).contains(&x) && (0..ROWS).contains(&y) {
            self.grid[(y * COLUMNS + x) as usize] = owner as u8 + 1;
        }
    }

    fn color(&self, index: usize) -> u32 {
        PLAYER_COLORS[index % PLAYER_COLORS.len()]
    }

    fn draw_waiting(&self, canvas: &mut Canvas) {
        canvas.text_centered(WIDTH / 2, 140, 4, PLAYER_COLORS[0], "LIGHT CYCLE");
        canvas.text_centered(WIDTH / 2, 180, 4, PLAYER_COLORS[1], "ARENA");
        let status = match self.waiting {
            Some((joined, total)) => format!("Waiting for players ({joined} of {total})"),
            None => "Connecting...".to_string(),
        };
        canvas.text_centered(WIDTH / 2, 260, 2, TEXT, &status);
        canvas.text_centered(WIDTH / 2, 300, 2, DIM_TEXT, &format!("You are {}", self.my_name));
        canvas.text_centered(
            WIDTH / 2,
            340,
            1,
            DIM_TEXT,
            "Steer with the arrow keys or WASD. Outlive the others.",
        );
    }

    fn draw_grid(&self, canvas: &mut Canvas) {
        for x in 0..=COLUMNS {
            canvas.rect(x * CELL, HUD, 1, ROWS * CELL, GRID_LINE);
        }
        for y in 0..=ROWS {
            canvas.rect(0, HUD + y * CELL, WIDTH, 1, GRID_LINE);
        }
        for (i, &owner) in self.grid.iter().enumerate() {
            let Some(seat) = owner.checked_sub(1).map(usize::from) else { continue };
            let (x, y) = (i as i32 % COLUMNS, i as i32 / COLUMNS);
            let keep = if self.riding.get(seat).copied().unwrap_or(false) { 150 } else { 70 };
            canvas.rect(x * CELL, HUD + y * CELL, CELL, CELL, scale_color(self.color(seat), keep));
        }
        for (seat, head) in self.heads.iter().enumerate() {
            let Some((x, y)) = *head else { continue };
            let (px, py) = (x * CELL, HUD + y * CELL);
            if self.riding[seat] {
                canvas.rect(px, py, CELL, CELL, self.color(seat));
                canvas.rect(px + 2, py + 2, CELL - 4, CELL - 4, 0xffffff);
            } else {
                // A crash: a small cross in the player's colour.
                canvas.rect(px - 4, py + 3, CELL + 8, 2, self.color(seat));
                canvas.rect(px + 3, py - 4, 2, CELL + 8, self.color(seat));
            }
        }
    }

    fn draw_hud(&self, canvas: &mut Canvas) {
        canvas.rect(0, 0, WIDTH, HUD, HUD_BACKGROUND);
        canvas.text(8, 6, 1, TEXT, &format!("ROUND {}/{}", self.round.max(1), self.rounds));
        let hint = if self.mode.is_bot() { "Bot playing" } else { "Arrows/WASD steer - Esc quits" };
        canvas.text(WIDTH - 8 - Canvas::text_width(hint, 1), 6, 1, DIM_TEXT, hint);
        let n = self.names.len().max(1) as i32;
        let chip = WIDTH / n;
        for (seat, name) in self.names.iter().enumerate() {
            let x = seat as i32 * chip;
            let gone = self.left[seat];
            let color = if gone { scale_color(self.color(seat), 90) } else { self.color(seat) };
            canvas.rect(x + 6, 22, 8, 8, color);
            let score = self.scores[seat].to_string();
            let room = ((chip - 24) / 8) as usize;
            let name_room = room.saturating_sub(score.len() + 1).max(1);
            let shown: String = name.chars().take(name_room).collect();
            canvas.text(x + 18, 22, 1, color, &format!("{shown} {score}"));
            if Some(seat) == self.me {
                canvas.rect(x + 4, 33, chip - 8, 2, color);
            }
        }
    }

    fn draw_overlay(&self, canvas: &mut Canvas) {
        let centre_y = HUD + ROWS * CELL / 2;
        match self.round_winner {
            Some(winner) => {
                let text = match winner {
                    Some(w) if Some(w) == self.me => format!("You win round {}!", self.round),
                    Some(w) => format!("{} wins round {}", self.names[w], self.round),
                    None => format!("Nobody survives round {}", self.round),
                };
                canvas.text_centered(WIDTH / 2, centre_y - 30, 2, TEXT, &text);
                if self.countdown > 0 && self.round < self.rounds {
                    let next = format!("Next round in {}", self.countdown.div_ceil(NORMAL_TICK_HZ));
                    canvas.text_centered(WIDTH / 2, centre_y + 4, 1, DIM_TEXT, &next);
                }
            }
            None if self.countdown > 0 => {
                canvas.text_centered(
                    WIDTH / 2,
                    centre_y - 70,
                    2,
                    TEXT,
                    &format!("Round {}", self.round),
                );
                let seconds = self.countdown.div_ceil(NORMAL_TICK_HZ).to_string();
                canvas.text_centered(WIDTH / 2, centre_y - 40, 6, TEXT, &seconds);
                // Show the player where they start.
                if let Some((x, y)) = self.me.and_then(|me| self.heads.get(me).copied().flatten()) {
                    if (self.countdown / 4).is_multiple_of(2) {
                        canvas.frame(
                            x * CELL - 8,
                            HUD + y * CELL - 8,
                            CELL + 16,
                            CELL + 16,
                            2,
                            0xffffff,
                        );
                    }
                    canvas.text_centered(
                        x * CELL + CELL / 2,
                        HUD + y * CELL - 22,
                        1,
                        0xffffff,
                        "YOU",
                    );
                }
            }
            None => {}
        }
    }

    fn draw_result(&self, canvas: &mut Canvas, outcome: &Outcome, seconds_left: u64) {
        canvas.dim(70);
        let rows = self.names.len() as i32;
        let height = 150 + rows * 20;
        let top = (HEIGHT - height) / 2;
        canvas.rect(80, top, WIDTH - 160, height, 0x182038);
        canvas.frame(80, top, WIDTH - 160, height, 2, 0x3a4a70);
        let (headline, color) = match (outcome.winner, self.me) {
            (Some(w), Some(me)) if w == me => ("YOU WIN!".to_string(), 0x66dd88),
            (Some(w), _) => (format!("{} WINS", self.names[w].to_uppercase()), self.color(w)),
            (None, _) => ("DRAW".to_string(), TEXT),
        };
        let scale = if Canvas::text_width(&headline, 4) <= WIDTH - 200 { 4 } else { 2 };
        canvas.text_centered(WIDTH / 2, top + 20, scale, color, &headline);
        let mut order: Vec<usize> = (0..self.names.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.scores[i]));
        for (rank, &seat) in order.iter().enumerate() {
            let marker = if Some(seat) == self.me { "  <- you" } else { "" };
            let gone = if self.left[seat] { " (left)" } else { "" };
            let line =
                format!("{}. {} {}{gone}{marker}", rank + 1, self.names[seat], self.scores[seat]);
            canvas.text(120, top + 70 + rank as i32 * 20, 2, self.color(seat), &line);
        }
        let summary_y = top + 80 + rows * 20;
        let summary: String = outcome.summary.chars().take(60).collect();
        canvas.text_centered(WIDTH / 2, summary_y, 1, DIM_TEXT, &summary);
        let closing = format!("Closing in {seconds_left} s  -  Enter or Esc to close now");
        canvas.text_centered(WIDTH / 2, summary_y + 24, 1, DIM_TEXT, &closing);
    }
}

impl GuiGame for ArenaView {
    fn title(&self) -> String {
        format!("Arena - {}", self.my_name)
    }

    fn size(&self) -> (usize, usize) {
        (WIDTH as usize, HEIGHT as usize)
    }

    fn on_server_line(&mut self, line: &str) {
        if let Some(rest) = line.strip_prefix("WAITING ") {
            let mut parts = rest.split(' ').filter_map(|p| p.parse().ok());
            if let (Some(joined), Some(total)) = (parts.next(), parts.next()) {
                self.waiting = Some((joined, total));
            }
            return;
        }
        match ServerMsg::parse(line) {
            Some(ServerMsg::Player { index, name }) => {
                self.seat(index);
                if let Some(slot) = self.names.get_mut(index) {
                    *slot = name;
                }
            }
            Some(ServerMsg::Start { you, rounds, .. }) => {
                self.me = Some(you);
                self.rounds = rounds;
                let others: Vec<&str> = self
                    .names
                    .iter()
                    .enumerate()
                    .filter(|&(i, _)| i != you)
                    .map(|(_, n)| n.as_str())
                    .collect();
                println!("Match started: {rounds} rounds against {}.", others.join(", "));
            }
            Some(ServerMsg::Round { number, countdown, spawns }) => {
                self.round = number;
                self.countdown = countdown;
                self.round_winner = None;
                self.grid.fill(0);
                for (seat, spawn) in spawns.into_iter().enumerate().take(PLAYER_COLORS.len()) {
                    self.seat(seat);
                    self.riding[seat] = spawn.is_some();
                    self.heads[seat] = spawn.map(|(cell, _)| cell);
                    if let Some((cell, dir)) = spawn {
                        self.dirs[seat] = dir;
                        self.mark(cell, seat);
                    }
                }
                self.step += 1;
            }
            Some(ServerMsg::Countdown(ticks)) => {
                self.countdown = ticks;
                self.step += 1;
            }
            Some(ServerMsg::Tick { heads, .. }) => {
                self.countdown = 0;
                for (seat, head) in heads.into_iter().enumerate().take(self.heads.len()) {
                    let Some(cell) = head else { continue };
                    if let Some(dir) =
                        self.heads[seat].and_then(|previous| Dir::between(previous, cell))
                    {
                        self.dirs[seat] = dir;
                    }
                    self.heads[seat] = Some(cell);
                    self.mark(cell, seat);
                }
                self.step += 1;
            }
            Some(ServerMsg::Dead { index, reason }) => {
                if index < self.riding.len() {
                    self.riding[index] = false;
                    if reason.starts_with("left") {
                        self.left[index] = true;
                    }
                }
            }
            Some(ServerMsg::Score(scores)) => {
                for (seat, score) in scores.into_iter().enumerate().take(self.scores.len()) {
                    self.scores[seat] = score;
                }
            }
            Some(ServerMsg::RoundEnd { winner, .. }) => self.round_winner = Some(winner),
            Some(ServerMsg::Over { winner, summary }) => {
                self.outcome = Some(Outcome { winner, summary })
            }
            Some(ServerMsg::Other) | None => {}
        }
    }

    fn me(&self) -> Option<usize> {
        self.me
    }

    fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    fn human_input(&mut self, window: &GameWindow) -> Vec<String> {
        window
            .pressed()
            .into_iter()
            .filter_map(|key| match key {
                Key::Up | Key::W => Some(Dir::Up),
                Key::Down | Key::S => Some(Dir::Down),
                Key::Left | Key::A => Some(Dir::Left),
                Key::Right | Key::D => Some(Dir::Right),
                _ => None,
            })
            .map(|dir| ClientMsg::Turn(dir).encode())
            .collect()
    }

    fn bot_input(&mut self) -> Vec<String> {
        let Some(me) = self.me else { return Vec::new() };
        let deciding = self.round_winner.is_none() && self.countdown <= 1;
        if self.step == self.decided || !deciding || !self.riding.get(me).copied().unwrap_or(false)
        {
            return Vec::new();
        }
        self.decided = self.step;
        let Some(head) = self.heads[me] else { return Vec::new() };
        let taken: Vec<bool> = self.grid.iter().map(|&o| o != 0).collect();
        let rivals: Vec<(Cell, Dir)> = (0..self.heads.len())
            .filter(|&i| i != me && self.riding[i])
            .filter_map(|i| self.heads[i].map(|h| (h, self.dirs[i])))
            .collect();
        let dir = choose_dir(&taken, head, self.dirs[me], &rivals, &mut self.rng);
        if dir == self.dirs[me] { Vec::new() } else { vec![ClientMsg::Turn(dir).encode()] }
    }

    fn draw(&self, canvas: &mut Canvas, result_left: Option<u64>) {
        canvas.clear(BACKGROUND);
        if self.round == 0 {
            self.draw_waiting(canvas);
        } else {
            self.draw_grid(canvas);
            self.draw_hud(canvas);
            self.draw_overlay(canvas);
        }
        if let (Some(outcome), Some(seconds)) = (&self.outcome, result_left) {
            self.draw_result(canvas, outcome, seconds);
        }
    }
}
