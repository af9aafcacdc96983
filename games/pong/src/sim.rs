//! The Pong simulation, run by the server only, one fixed step per tick.
//!
//! Units are pixels of the 640x480 field and ticks (1/60 s at the default
//! rate). The ball bounces off the top and bottom walls; off a paddle it
//! leaves at an angle set by where it hit (the edge sends it steeper) and a
//! little faster each time. Paddle hits are tested along the ball's path, so
//! a fast ball cannot pass through a paddle between two ticks.

use gamekit::bot::Rng;

/// Field width.
pub const WIDTH: i32 = 640;
/// Field height.
pub const HEIGHT: i32 = 480;
/// Paddle width.
pub const PADDLE_W: i32 = 12;
/// Paddle height.
pub const PADDLE_H: i32 = 72;
/// Gap between a paddle and its side of the field.
pub const PADDLE_MARGIN: i32 = 24;
/// Side of the (square) ball.
pub const BALL: i32 = 10;
/// Paddle speed, pixels per tick.
pub const PADDLE_SPEED: f32 = 6.0;
/// Ticks the ball waits before the first serve.
pub const FIRST_SERVE_PAUSE: u32 = 180;
/// Ticks the ball waits after a point.
pub const POINT_PAUSE: u32 = 60;

const SERVE_SPEED: f32 = 5.0;
const SPEEDUP: f32 = 1.06;
const MAX_SPEED: f32 = 15.0;
/// Steepest return angle, in radians from the horizontal.
const MAX_ANGLE: f32 = 1.0;

/// What clients see of one tick, in whole pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Ticks since the match started.
    pub tick: u64,
    /// Ball's top-left corner.
    pub ball: (i32, i32),
    /// Top edge of each paddle.
    pub paddles: [i32; 2],
    /// Points of each player.
    pub scores: [u32; 2],
    /// Ticks left before the next serve (0 while the ball is in play).
    pub pause: u32,
}

/// The x of a paddle's left edge: player 0 plays on the left.
pub fn paddle_x(player: usize) -> i32 {
    if player == 0 { PADDLE_MARGIN } else { WIDTH - PADDLE_MARGIN - PADDLE_W }
}

/// The whole state of a match in play.
#[derive(Debug, Clone)]
pub struct Field {
    tick: u64,
    ball: (f32, f32),
    velocity: (f32, f32),
    speed: f32,
    paddles: [f32; 2],
    inputs: [i8; 2],
    scores: [u32; 2],
    pause: u32,
    serve_to: usize,
    rng: Rng,
}

impl Field {
    /// A field ready for the first serve, towards a random player.
    pub fn new(seed: u64) -> Field {
        let mut rng = Rng::new(seed);
        let serve_to = rng.below(2);
        let middle = (HEIGHT - PADDLE_H) as f32 / 2.0;
        Field {
            tick: 0,
            ball: centre(),
            velocity: (0.0, 0.0),
            speed: SERVE_SPEED,
            paddles: [middle, middle],
            inputs: [0, 0],
            scores: [0, 0],
            pause: FIRST_SERVE_PAUSE,
            serve_to,
            rng,
        }
    }

    /// Sets which way `player`'s paddle moves from now on (-1 up, 1 down).
    pub fn set_input(&mut self, player: usize, direction: i8) {
        self.inputs[player] = direction.clamp(-1, 1);
    }

    /// Points so far.
    pub fn scores(&self) -> [u32; 2] {
        self.scores
    }

    /// Advances one tick; returns the player who scored, if one did.
    pub fn step(&mut self) -> Option<usize> {
        self.tick += 1;
        for player in 0..2 {
            let y = self.paddles[player] + f32::from(self.inputs[player]) * PADDLE_SPEED;
            self.paddles[player] = y.clamp(0.0, (HEIGHT - PADDLE_H) as f32);
        }
        if self.pause > 0 {
            self.pause -= 1;
            if self.pause == 0 {
                self.serve();
            }
            return None;
        }
        let (ox, oy) = self.ball;
        let (mut nx, mut ny) = (ox + self.velocity.0, oy + self.velocity.1);
        let floor = (HEIGHT - BALL) as f32;
        if ny < 0.0 {
            ny = -ny;
            self.velocity.1 = -self.velocity.1;
        } else if ny > floor {
            ny = 2.0 * floor - ny;
            self.velocity.1 = -self.velocity.1;
        }
        // Left paddle: the ball's left edge crosses the paddle's front.
        let front = (paddle_x(0) + PADDLE_W) as f32;
        if self.velocity.0 < 0.0 && ox >= front && nx < front {
            let y_at = oy + (ny - oy) * (ox - front) / (ox - nx);
            if self.touches(0, y_at) {
                self.bounce(0, y_at);
                nx = front + (front - nx);
            }
        }
        // Right paddle: the ball's right edge crosses the paddle's front.
        let front = paddle_x(1) as f32;
        let ball = BALL as f32;
        if self.velocity.0 > 0.0 && ox + ball <= front && nx + ball > front {
            let y_at = oy + (ny - oy) * (front - ox - ball) / (nx - ox);
            if self.touches(1, y_at) {
                self.bounce(1, y_at);
                nx = front - ball - (nx + ball - front);
            }
        }
        self.ball = (nx, ny);
        let scorer = if nx + ball < 0.0 {
            Some(1)
        } else if nx > WIDTH as f32 {
            Some(0)
        } else {
            None
        };
        if let Some(scorer) = scorer {
            self.scores[scorer] += 1;
            self.ball = centre();
            self.velocity = (0.0, 0.0);
            self.pause = POINT_PAUSE;
            self.serve_to = 1 - scorer;
        }
        scorer
    }

    /// What clients are sent.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            tick: self.tick,
            ball: (self.ball.0.round() as i32, self.ball.1.round() as i32),
            paddles: [self.paddles[0].round() as i32, self.paddles[1].round() as i32],
            scores: self.scores,
            pause: self.pause,
        }
    }

    fn touches(&self, player: usize, ball_y: f32) -> bool {
        let top = self.paddles[player];
        ball_y + BALL as f32 >= top && ball_y <= top + PADDLE_H as f32
    }

    fn bounce(&mut self, player: usize, ball_y: f32) {
        let ball_centre = ball_y + BALL as f32 / 2.0;
        let paddle_centre = self.paddles[player] + PADDLE_H as f32 / 2.0;
        let reach = (PADDLE_H + BALL) as f32 / 2.0;
        let offset = ((ball_centre - paddle_centre) / reach).clamp(-1.0, 1.0);
        let angle = offset * MAX_ANGLE;
        self.speed = (self.speed * SPEEDUP).min(MAX_SPEED);
        let direction = if player == 0 { 1.0 } else { -1.0 };
        self.velocity = (direction * self.speed * angle.cos(), self.speed * angle.sin());
    }

    fn serve(&mut self) {
        self.speed = SERVE_SPEED;
        let angle = self.rng.range(-0.45, 0.45);
        let direction = if self.serve_to == 0 { -1.0 } else { 1.0 };
        self.velocity = (direction * self.speed * angle.cos(), self.speed * angle.sin());
    }

    /// Test hook: puts the ball at `position` moving with `velocity`, in play.
    pub fn place_ball(&mut self, position: (f32, f32), velocity: (f32, f32)) {
        self.ball = position;
        self.velocity = velocity;
        self.speed = (velocity.0 * velocity.0 + velocity.1 * velocity.1).sqrt();
        self.pause = 0;
    }

    /// Test hook: moves a paddle's top edge to `y`.
    pub fn place_paddle(&mut self, player: usize, y: f32) {
        self.paddles[player] = y;
    }
}

fn centre() -> (f32, f32) {
    ((WIDTH - BALL) as f32 / 2.0, (HEIGHT - BALL) as f32 / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_play() -> Field {
        let mut field = Field::new(3);
        field.place_paddle(0, 0.0);
        field.place_paddle(1, 0.0);
        field
    }

    #[test]
    fn the_first_serve_waits_then_goes() {
        let mut field = Field::new(1);
        for _ in 0..FIRST_SERVE_PAUSE {
            assert_eq!(field.snapshot().ball, (315, 235));
            field.step();
        }
        field.step();
        assert_ne!(field.snapshot().ball, (315, 235), "the ball is in play");
    }

    #[test]
    fn walls_reflect_the_ball() {
        let mut field = in_play();
        field.place_ball((300.0, 2.0), (0.0, -5.0));
        field.step();
        assert_eq!(field.snapshot().ball, (300, 3));
        field.step();
        assert_eq!(field.snapshot().ball, (300, 8));
    }

    #[test]
    fn a_paddle_returns_the_ball_even_at_top_speed() {
        for speed in [5.0, 15.0, 40.0] {
            let mut field = in_play();
            field.place_paddle(0, 200.0);
            field.place_ball((100.0, 230.0), (-speed, 0.0));
            let mut returned = false;
            for _ in 0..50 {
                assert_eq!(field.step(), None, "speed {speed}: no point");
                if field.velocity.0 > 0.0 {
                    returned = true;
                    break;
                }
            }
            assert!(returned, "speed {speed}: the paddle sent the ball back");
            assert!(field.snapshot().ball.0 >= paddle_x(0) + PADDLE_W);
        }
    }

    #[test]
    fn the_edge_of_the_paddle_sends_the_ball_steeper() {
        let mut centre_hit = in_play();
        centre_hit.place_paddle(1, 200.0);
        centre_hit.place_ball((590.0, 231.0), (10.0, 0.0));
        let mut edge_hit = centre_hit.clone();
        edge_hit.place_ball((590.0, 265.0), (10.0, 0.0));
        centre_hit.step();
        edge_hit.step();
        assert!(centre_hit.velocity.0 < 0.0 && edge_hit.velocity.0 < 0.0);
        assert!(edge_hit.velocity.1 > centre_hit.velocity.1.abs() + 3.0);
    }

    #[test]
    fn a_miss_scores_for_the_other_player_and_pauses() {
        let mut field = in_play();
        field.place_paddle(0, 400.0);
        field.place_ball((60.0, 100.0), (-8.0, 0.0));
        let scorer = (0..20).find_map(|_| field.step());
        assert_eq!(scorer, Some(1));
        assert_eq!(field.scores(), [0, 1]);
        assert_eq!(field.snapshot().pause, POINT_PAUSE);
    }

    #[test]
    fn paddles_stay_on_the_field() {
        let mut field = in_play();
        field.set_input(0, -1);
        field.set_input(1, 1);
        for _ in 0..200 {
            field.step();
        }
        assert_eq!(field.snapshot().paddles, [0, HEIGHT - PADDLE_H]);
    }
}
