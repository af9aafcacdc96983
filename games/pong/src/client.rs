//! The Pong client: draws the server's state in a 640x480 window and sends
//! the paddle direction from the keyboard (W/S or the arrow keys) or from
//! the bot. Esc leaves the match; the result screen stays up for a few
//! seconds (Enter, Space or Esc closes it sooner).
//!
//! The window loop, bot modes and heartbeat are `gamekit::window::run_client`;
//! this module is the game's view: what it remembers of the server's
//! messages, how it turns keys into messages, and how it draws.

use std::process::ExitCode;

use gamekit::bot::{BotMode, Rng};
use gamekit::canvas::{Canvas, scale_color};
use gamekit::flags::ClientConfig;
use gamekit::window::{GameWindow, GuiGame, Key, Outcome, run_client};

use crate::GAME;
use crate::bot::PongBot;
use crate::protocol::{ClientMsg, ServerMsg};
use crate::sim::{BALL, FIRST_SERVE_PAUSE, HEIGHT, PADDLE_H, PADDLE_W, Snapshot, WIDTH, paddle_x};

const BACKGROUND: u32 = 0x0b1020;
const NET: u32 = 0x2a3550;
const BALL_COLOR: u32 = 0xf5f5f5;
const TEXT: u32 = 0xe0e6f0;
const DIM_TEXT: u32 = 0x7080a0;
/// Left and right player colours.
const PLAYER_COLORS: [u32; 2] = [0x4fc3f7, 0xffb74d];

/// Plays one match; returns the process exit code.
pub fn run(config: &ClientConfig) -> ExitCode {
    run_client(config, GAME, PongView::new(config))
}

/// What the client knows of the match.
pub struct PongView {
    my_name: String,
    mode: BotMode,
    names: [String; 2],
    me: Option<usize>,
    points: u32,
    state: Option<Snapshot>,
    waiting: Option<(usize, usize)>,
    outcome: Option<Outcome>,
    bot: PongBot,
    sent: Option<i8>,
    last_scorer: Option<usize>,
}

impl PongView {
    /// A view for the player in `config`.
    pub fn new(config: &ClientConfig) -> PongView {
        PongView {
            my_name: config.name.clone(),
            mode: config.bot,
            names: [String::new(), String::new()],
            me: None,
            points: 0,
            state: None,
            waiting: None,
            outcome: None,
            bot: PongBot::new(Rng::from_env(&config.name)),
            sent: None,
            last_scorer: None,
        }
    }

    fn input_lines(&mut self, direction: i8) -> Vec<String> {
        if self.me.is_none() || self.sent == Some(direction) {
            return Vec::new();
        }
        self.sent = Some(direction);
        vec![ClientMsg::Input(direction).encode()]
    }

    fn draw_waiting(&self, canvas: &mut Canvas) {
        canvas.text_centered(WIDTH / 2, 150, 8, PLAYER_COLORS[0], "PONG");
        let status = match self.waiting {
            Some((joined, total)) => format!("Waiting for players ({joined} of {total})"),
            None => "Connecting...".to_string(),
        };
        canvas.text_centered(WIDTH / 2, 260, 2, TEXT, &status);
        canvas.text_centered(WIDTH / 2, 300, 2, DIM_TEXT, &format!("You are {}", self.my_name));
    }

    fn draw_field(&self, canvas: &mut Canvas, state: &Snapshot) {
        for y in (8..HEIGHT).step_by(32) {
            canvas.rect(WIDTH / 2 - 2, y, 4, 16, NET);
        }
        for (player, &color) in PLAYER_COLORS.iter().enumerate() {
            let centre = if player == 0 { WIDTH / 4 } else { WIDTH * 3 / 4 };
            canvas.text_centered(
                centre,
                24,
                6,
                scale_color(color, 200),
                &state.scores[player].to_string(),
            );
            let mut label = self.names[player].clone();
            if Some(player) == self.me {
                label.push_str(" (you)");
            }
            canvas.text_centered(centre, 80, 2, color, &label);
            canvas.rect(paddle_x(player), state.paddles[player], PADDLE_W, PADDLE_H, color);
        }
        if state.pause == 0 {
            canvas.rect(state.ball.0, state.ball.1, BALL, BALL, BALL_COLOR);
        }
        if state.pause > 0 {
            let first = state.scores == [0, 0] && state.tick < u64::from(FIRST_SERVE_PAUSE) + 1;
            let message = match (first, self.last_scorer) {
                (true, _) => format!("First to {} wins", self.points),
                (false, Some(scorer)) => format!("{} scores!", self.names[scorer]),
                (false, None) => String::new(),
            };
            canvas.text_centered(WIDTH / 2, HEIGHT / 2 - 60, 2, TEXT, &message);
            let seconds = state.pause.div_ceil(60);
            if first {
                canvas.text_centered(WIDTH / 2, HEIGHT / 2 - 20, 6, TEXT, &seconds.to_string());
            }
        }
        let hint = if self.mode.is_bot() {
            "Bot playing"
        } else {
            "W/S or Up/Down to move  -  Esc to quit"
        };
        canvas.text_centered(WIDTH / 2, HEIGHT - 18, 1, DIM_TEXT, hint);
    }

    fn draw_result(&self, canvas: &mut Canvas, outcome: &Outcome, seconds_left: u64) {
        canvas.dim(70);
        canvas.rect(60, 140, WIDTH - 120, 200, 0x182038);
        canvas.frame(60, 140, WIDTH - 120, 200, 2, 0x3a4a70);
        let (headline, color) = match (outcome.winner, self.me) {
            (Some(w), Some(me)) if w == me => ("YOU WIN!".to_string(), 0x66dd88),
            (Some(_), Some(_)) => ("YOU LOSE".to_string(), 0xff6666),
            (Some(w), None) => (format!("{} WINS", self.names[w]), TEXT),
            (None, _) => ("DRAW".to_string(), TEXT),
        };
        canvas.text_centered(WIDTH / 2, 170, 5, color, &headline);
        if let Some(state) = self.state {
            let score = format!(
                "{}  {} - {}  {}",
                self.names[0], state.scores[0], state.scores[1], self.names[1]
            );
            canvas.text_centered(WIDTH / 2, 230, 2, TEXT, &score);
        }
        let scale = if Canvas::text_width(&outcome.summary, 2) <= WIDTH - 140 { 2 } else { 1 };
        canvas.text_centered(WIDTH / 2, 262, scale, DIM_TEXT, &outcome.summary);
        let closing = format!("Closing in {seconds_left} s  -  Enter or Esc to close now");
        canvas.text_centered(WIDTH / 2, 310, 1, DIM_TEXT, &closing);
    }
}

impl GuiGame for PongView {
    fn title(&self) -> String {
        format!("Pong - {}", self.my_name)
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
            Some(ServerMsg::Player { index, name }) => self.names[index] = name,
            Some(ServerMsg::Start { you, points }) => {
                self.me = Some(you);
                self.points = points;
                let side = if you == 0 { "left" } else { "right" };
                println!(
                    "Match started: {} vs {}, first to {points}. You play on the {side}.",
                    self.names[0], self.names[1]
                );
            }
            Some(ServerMsg::State(state)) => {
                if let Some(previous) = self.state
                    && let Some(scorer) = (0..2).find(|&p| state.scores[p] > previous.scores[p])
                {
                    self.last_scorer = Some(scorer);
                }
                self.bot.observe(&state);
                self.state = Some(state);
            }
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
        let up = window.is_down(Key::W) || window.is_down(Key::Up);
        let down = window.is_down(Key::S) || window.is_down(Key::Down);
        let direction = i8::from(down) - i8::from(up);
        self.input_lines(direction)
    }

    fn bot_input(&mut self) -> Vec<String> {
        let Some(me) = self.me else { return Vec::new() };
        let direction = self.bot.decide(me);
        self.input_lines(direction)
    }

    fn draw(&self, canvas: &mut Canvas, result_left: Option<u64>) {
        canvas.clear(BACKGROUND);
        match self.state {
            Some(state) => self.draw_field(canvas, &state),
            None => self.draw_waiting(canvas),
        }
        if let (Some(outcome), Some(seconds)) = (&self.outcome, result_left) {
            self.draw_result(canvas, outcome, seconds);
        }
    }
}
