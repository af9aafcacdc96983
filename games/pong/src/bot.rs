//! The Pong bot: predicts where the ball will cross its paddle (walls
//! included) and moves there, aiming a random amount off centre on each
//! approach. The aim error sometimes exceeds the paddle, and the ball speeds
//! up on every hit, so bots miss now and then and matches between bots end.

use gamekit::bot::Rng;

use crate::sim::{BALL, HEIGHT, PADDLE_H, PADDLE_W, Snapshot, paddle_x};

/// Largest aim error, in pixels from the paddle's centre.
const AIM_ERROR: f32 = 50.0;
/// Distance from the target within which the paddle stays still.
const DEAD_ZONE: f32 = 6.0;

/// A bot's memory between ticks.
#[derive(Debug, Clone)]
pub struct PongBot {
    rng: Rng,
    previous: Option<Snapshot>,
    velocity: Option<(f32, f32)>,
    approaching: bool,
    aim: f32,
}

impl PongBot {
    /// A bot drawing its aim errors from `rng`.
    pub fn new(rng: Rng) -> PongBot {
        PongBot { rng, previous: None, velocity: None, approaching: false, aim: 0.0 }
    }

    /// Records a state from the server (call for every tick received).
    pub fn observe(&mut self, snapshot: &Snapshot) {
        self.velocity = match self.previous {
            Some(prev)
                if snapshot.pause == 0 && prev.pause == 0 && snapshot.tick == prev.tick + 1 =>
            {
                Some((
                    (snapshot.ball.0 - prev.ball.0) as f32,
                    (snapshot.ball.1 - prev.ball.1) as f32,
                ))
            }
            Some(prev) if snapshot.tick == prev.tick + 1 => None,
            _ => self.velocity,
        };
        self.previous = Some(*snapshot);
    }

    /// Which way `me`'s paddle should move now: -1 up, 0 still, 1 down.
    pub fn decide(&mut self, me: usize) -> i8 {
        let Some(state) = self.previous else { return 0 };
        let centre = (state.paddles[me] + PADDLE_H / 2) as f32;
        let towards_me = |vx: f32| if me == 0 { vx < 0.0 } else { vx > 0.0 };
        let target = match self.velocity {
            Some((vx, vy)) if state.pause == 0 && towards_me(vx) => {
                if !self.approaching {
                    self.approaching = true;
                    self.aim = self.rng.range(-AIM_ERROR, AIM_ERROR);
                }
                predict_crossing(state.ball, (vx, vy), me) + BALL as f32 / 2.0 + self.aim
            }
            _ => {
                self.approaching = false;
                HEIGHT as f32 / 2.0
            }
        };
        let gap = target - centre;
        if gap > DEAD_ZONE {
            1
        } else if gap < -DEAD_ZONE {
            -1
        } else {
            0
        }
    }
}

/// The ball's top edge when it reaches `me`'s paddle, bouncing off walls.
pub fn predict_crossing(ball: (i32, i32), (vx, vy): (f32, f32), me: usize) -> f32 {
    let front = if me == 0 { (paddle_x(0) + PADDLE_W) as f32 } else { (paddle_x(1) - BALL) as f32 };
    let ticks = ((front - ball.0 as f32) / vx).max(0.0);
    let span = (HEIGHT - BALL) as f32;
    let raw = ball.1 as f32 + vy * ticks;
    let folded = raw.rem_euclid(2.0 * span);
    if folded > span { 2.0 * span - folded } else { folded }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicts_bounces_off_the_walls() {
        // Straight across: same height.
        assert_eq!(predict_crossing((300, 100), (-5.0, 0.0), 0), 100.0);
        // Heading up at 45 degrees from x=300 to the left paddle (x=36):
        // 264 px up from y=100 folds back off the top wall to y=164.
        assert_eq!(predict_crossing((300, 100), (-5.0, -5.0), 0), 164.0);
    }

    #[test]
    fn moves_towards_an_approaching_ball_and_rests_otherwise() {
        let mut bot = PongBot::new(Rng::new(5));
        let mut state =
            Snapshot { tick: 1, ball: (300, 400), paddles: [100, 100], scores: [0, 0], pause: 0 };
        bot.observe(&state);
        state.tick = 2;
        state.ball = (295, 400);
        bot.observe(&state);
        assert_eq!(bot.decide(0), 1, "the ball comes low on the left: go down");
        assert_eq!(bot.decide(1), 1, "the ball moves away from the right: back to the middle");
        state.tick = 3;
        state.ball = (290, 400);
        state.paddles[1] = 204;
        bot.observe(&state);
        assert_eq!(bot.decide(1), 0, "already in the middle");
    }
}
