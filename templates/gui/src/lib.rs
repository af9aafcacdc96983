//! Coin race: the rules, the wire protocol and the drawing helpers shared
//! by `game-server` and `game-client`.
//!
//! The server owns the game and steps it 30 times a second; clients send
//! only which way they want to move and draw what the server sends.
//!
//! ```text
//! client: HELLO <token> <name>          first line; "-" for an empty token
//! server: WELCOME <index>               or ERR <reason>, then it closes
//! server: PLAYER <index> <name>         every player, once all have joined
//! server: S <coin x> <coin y> <x> <y> <score>...   every tick, per player;
//!                                       x = -1 for a player who left
//! client: IN <dx> <dy>                  each -1, 0 or 1; when it changes
//! client: PING                          at least every second otherwise
//! client: QUIT
//! server: OVER <winner index|-> <summary>   then it closes
//! ```

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;

/// Field size in pixels.
pub const WIDTH: i32 = 640;
pub const HEIGHT: i32 = 480;
/// Side of a player's square and of the coin.
pub const PLAYER: i32 = 24;
pub const COIN: i32 = 12;
/// Pixels a player moves per tick.
pub const SPEED: i32 = 5;
/// One colour per seat.
pub const COLORS: [u32; 8] =
    [0x4fc3f7, 0xff8a65, 0xaed581, 0xba68c8, 0xfff176, 0x4db6ac, 0xf06292, 0x90a4ae];

/// Reads one line (at most 1 KiB) without its newline; `None` at the end
/// of the stream. Set a read timeout on the stream so this cannot hang.
pub fn read_line(reader: &mut BufReader<TcpStream>) -> io::Result<Option<String>> {
    let mut bytes = Vec::new();
    if io::Read::take(&mut *reader, 1024).read_until(b'\n', &mut bytes)? == 0 {
        return Ok(None);
    }
    if bytes.pop() != Some(b'\n') {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long or cut short"));
    }
    String::from_utf8(bytes)
        .map(|line| Some(line.trim_end_matches('\r').to_string()))
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8"))
}

/// Sends one line.
pub fn send(mut stream: &TcpStream, line: &str) -> io::Result<()> {
    stream.write_all(format!("{line}\n").as_bytes())
}

/// Returns the value of `--name` in `args`, or `default`.
pub fn flag(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

/// Whether two squares overlap.
pub fn touches((ax, ay, aw): (i32, i32, i32), (bx, by, bw): (i32, i32, i32)) -> bool {
    ax < bx + bw && bx < ax + aw && ay < by + bw && by < ay + aw
}

/// A frame buffer of `0xRRGGBB` pixels with clipped drawing.
pub struct Canvas {
    pub pixels: Vec<u32>,
}

impl Default for Canvas {
    fn default() -> Self {
        Canvas { pixels: vec![0; (WIDTH * HEIGHT) as usize] }
    }
}

impl Canvas {
    /// Fills a rectangle, clipped to the canvas.
    pub fn rect(&mut self, x: i32, y: i32, w: i32, h: i32, color: u32) {
        for row in y.max(0)..(y + h).min(HEIGHT) {
            for col in x.max(0)..(x + w).min(WIDTH) {
                self.pixels[(row * WIDTH + col) as usize] = color;
            }
        }
    }

    /// Draws ASCII text from the 8x8 font, each dot `scale` pixels wide.
    pub fn text(&mut self, x: i32, y: i32, scale: i32, color: u32, text: &str) {
        for (i, ch) in text.chars().enumerate() {
            let glyph = font8x8::legacy::BASIC_LEGACY
                [if ch.is_ascii() { ch as usize } else { '?' as usize }];
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits & (1 << col) != 0 {
                        let px = x + (i as i32 * 8 + col) * scale;
                        self.rect(px, y + row as i32 * scale, scale, scale, color);
                    }
                }
            }
        }
    }

    /// Draws text centred on `x`.
    pub fn text_centered(&mut self, x: i32, y: i32, scale: i32, color: u32, text: &str) {
        self.text(x - text.chars().count() as i32 * 4 * scale, y, scale, color, text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap() {
        assert!(touches((0, 0, 24), (20, 20, 12)));
        assert!(!touches((0, 0, 24), (24, 0, 12)));
        let mut canvas = Canvas::default();
        canvas.text(0, 0, 1, 0xffffff, "A");
        assert!(canvas.pixels.contains(&0xffffff));
    }
}
