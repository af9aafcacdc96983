//! A pixel buffer to draw the GUI games on: filled rectangles and text in an
//! 8x8 bitmap font scaled by whole numbers, colours as `0xRRGGBB`.
//!
//! Drawing is clipped to the buffer, so callers may pass any coordinates.

use font8x8::legacy::BASIC_LEGACY;

/// `0` without the slash of the font's own glyph.
const PLAIN_ZERO: [u8; 8] = [0x3E, 0x63, 0x63, 0x63, 0x63, 0x63, 0x3E, 0x00];

/// Width and height of one glyph at scale 1, in pixels.
pub const GLYPH: i32 = 8;

/// An RGB frame buffer.
#[derive(Debug, Clone)]
pub struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u32>,
}

impl Canvas {
    /// A black canvas.
    pub fn new(width: usize, height: usize) -> Canvas {
        Canvas { width, height, pixels: vec![0; width * height] }
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The pixels, row by row, as `0x00RRGGBB`.
    pub fn pixels(&self) -> &[u32] {
        &self.pixels
    }

    /// Paints the whole canvas.
    pub fn clear(&mut self, color: u32) {
        self.pixels.fill(color);
    }

    /// The colour at `(x, y)`, if inside.
    pub fn pixel(&self, x: i32, y: i32) -> Option<u32> {
        self.index(x, y).map(|i| self.pixels[i])
    }

    fn index(&self, x: i32, y: i32) -> Option<usize> {
        if x < 0 || y < 0 || x as usize >= self.width || y as usize >= self.height {
            None
        } else {
            Some(y as usize * self.width + x as usize)
        }
    }

    /// Fills the rectangle with top-left `(x, y)`, clipped to the canvas.
    pub fn rect(&mut self, x: i32, y: i32, w: i32, h: i32, color: u32) {
        let x0 = x.max(0);
        let y0 = y.max(0);
        let x1 = (x + w).min(self.width as i32);
        let y1 = (y + h).min(self.height as i32);
        if x0 >= x1 || y0 >= y1 {
            return;
        }
        for row in y0..y1 {
            let start = row as usize * self.width;
            self.pixels[start + x0 as usize..start + x1 as usize].fill(color);
        }
    }

    /// Draws a rectangle's outline, `thickness` pixels wide, inside its bounds.
    pub fn frame(&mut self, x: i32, y: i32, w: i32, h: i32, thickness: i32, color: u32) {
        self.rect(x, y, w, thickness, color);
        self.rect(x, y + h - thickness, w, thickness, color);
        self.rect(x, y, thickness, h, color);
        self.rect(x + w - thickness, y, thickness, h, color);
    }

    /// Draws `text` with its top-left corner at `(x, y)`, each font pixel a
    /// `scale` x `scale` square. Characters outside ASCII show as `?`.
    pub fn text(&mut self, x: i32, y: i32, scale: i32, color: u32, text: &str) {
        for (i, c) in text.chars().enumerate() {
            let glyph = match c {
                // The font's zero is slashed; a plain one reads better as a score.
                '0' => PLAIN_ZERO,
                c if c.is_ascii() => BASIC_LEGACY[c as usize],
                _ => BASIC_LEGACY['?' as usize],
            };
            let gx = x + i as i32 * GLYPH * scale;
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits & (1 << col) != 0 {
                        self.rect(gx + col * scale, y + row as i32 * scale, scale, scale, color);
                    }
                }
            }
        }
    }

    /// Width of `text` at `scale`, in pixels.
    pub fn text_width(text: &str, scale: i32) -> i32 {
        text.chars().count() as i32 * GLYPH * scale
    }

    /// Draws `text` centred horizontally on `center_x`.
    pub fn text_centered(&mut self, center_x: i32, y: i32, scale: i32, color: u32, text: &str) {
        let x = center_x - Self::text_width(text, scale) / 2;
        self.text(x, y, scale, color, text);
    }

    /// Darkens the whole canvas towards black by `keep` (0..=255 of 255),
    /// e.g. behind a result panel.
    pub fn dim(&mut self, keep: u32) {
        for pixel in &mut self.pixels {
            *pixel = scale_color(*pixel, keep);
        }
    }
}

/// Multiplies each channel of `color` by `keep / 255`.
pub fn scale_color(color: u32, keep: u32) -> u32 {
    let r = ((color >> 16) & 0xff) * keep / 255;
    let g = ((color >> 8) & 0xff) * keep / 255;
    let b = (color & 0xff) * keep / 255;
    (r << 16) | (g << 8) | b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rectangles_clip() {
        let mut canvas = Canvas::new(10, 5);
        canvas.rect(-5, -5, 8, 7, 0xff0000);
        assert_eq!(canvas.pixel(0, 0), Some(0xff0000));
        assert_eq!(canvas.pixel(2, 1), Some(0xff0000));
        assert_eq!(canvas.pixel(3, 1), Some(0));
        assert_eq!(canvas.pixel(2, 2), Some(0));
        canvas.rect(8, 3, 100, 100, 0xff);
        assert_eq!(canvas.pixel(9, 4), Some(0xff));
        assert_eq!(canvas.pixel(10, 4), None);
    }

    #[test]
    fn text_draws_glyphs() {
        let mut canvas = Canvas::new(64, 16);
        canvas.text(0, 0, 2, 0xffffff, "I");
        let lit = canvas.pixels().iter().filter(|&&p| p == 0xffffff).count();
        assert!(lit > 20, "{lit} pixels lit");
        assert_eq!(Canvas::text_width("abc", 2), 48);
        assert_eq!(scale_color(0x804020, 128), 0x402010);
    }
}
