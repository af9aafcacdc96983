//! Bot mode and the bots' random numbers.
//!
//! Tests and benchmarks run whole matches without people: a client started
//! with `--bot` or with `GAMESTORE_BOT=1` plays legal moves by itself and
//! opens no window (it needs no display). `GAMESTORE_BOT=window` shows the
//! window as usual while the bot plays, for screenshots and demos.

use std::time::{SystemTime, UNIX_EPOCH};

/// Name of the environment variable that turns bot mode on.
pub const BOT_ENV: &str = "GAMESTORE_BOT";
/// Optional fixed seed for the bots' random numbers (reproducible matches).
pub const SEED_ENV: &str = "GAMESTORE_BOT_SEED";

/// Who plays on this client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BotMode {
    /// A person, with keyboard (and window for the GUI games).
    Human,
    /// A bot, with no window and no input.
    Headless,
    /// A bot, with the window shown.
    Window,
}

impl BotMode {
    /// Reads `GAMESTORE_BOT` (`1`, `true`, `yes`, `headless`, `window`; empty
    /// or `0` for off); `--bot` forces headless.
    pub fn detect(bot_flag: bool) -> Result<BotMode, String> {
        let value = std::env::var(BOT_ENV).unwrap_or_default();
        if bot_flag {
            return Ok(BotMode::Headless);
        }
        Self::parse(&value)
    }

    /// Interprets a `GAMESTORE_BOT` value.
    pub fn parse(value: &str) -> Result<BotMode, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "0" | "false" | "no" | "off" => Ok(BotMode::Human),
            "1" | "true" | "yes" | "on" | "headless" => Ok(BotMode::Headless),
            "window" => Ok(BotMode::Window),
            other => Err(format!(
                "{BOT_ENV}={other:?}: use 1 (headless bot) or window (bot with a window)"
            )),
        }
    }

    /// Whether a bot chooses the moves.
    pub fn is_bot(self) -> bool {
        self != BotMode::Human
    }

    /// Whether a window should open (GUI games).
    pub fn shows_window(self) -> bool {
        self != BotMode::Headless
    }
}

/// A small xorshift64* generator: plenty for bots, no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; zero is remapped).
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    /// Seeded from `GAMESTORE_BOT_SEED` when set, else from the clock and
    /// the process id, mixed with `salt` (e.g. the player's name).
    pub fn from_env(salt: &str) -> Rng {
        let mut seed = match std::env::var(SEED_ENV).ok().and_then(|s| s.trim().parse::<u64>().ok())
        {
            Some(seed) => seed,
            None => {
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0);
                nanos ^ u64::from(std::process::id()).rotate_left(32)
            }
        };
        for byte in salt.bytes() {
            seed = (seed ^ u64::from(byte)).wrapping_mul(0x100_0000_01B3);
        }
        Rng::new(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// A float in `[0, 1)`.
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// A float in `[low, high)`.
    pub fn range(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * self.unit()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f32) -> bool {
        self.unit() < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(BotMode::parse(""), Ok(BotMode::Human));
        assert_eq!(BotMode::parse("1"), Ok(BotMode::Headless));
        assert_eq!(BotMode::parse("Window"), Ok(BotMode::Window));
        assert!(BotMode::parse("maybe").is_err());
        assert!(!BotMode::Headless.shows_window());
        assert!(BotMode::Window.is_bot() && BotMode::Window.shows_window());
    }

    #[test]
    fn rng_stays_in_range_and_varies() {
        let mut rng = Rng::new(0);
        let draws: Vec<usize> = (0..1000).map(|_| rng.below(7)).collect();
        assert!(draws.iter().all(|&d| d < 7));
        assert!((0..7).all(|v| draws.contains(&v)));
        let f = rng.range(2.0, 3.0);
        assert!((2.0..3.0).contains(&f));
    }
}
