//! The window of the GUI games: a thin layer over `minifb` that shows a
//! [`Canvas`] and reports the keyboard.
//!
//! `minifb` loads Xlib at run time, so a game built with it starts on a
//! machine without X11 development files; it only fails, with a clear error,
//! when there is no display to open a window on.

use crate::canvas::Canvas;

pub use minifb::Key;

/// An open game window.
pub struct GameWindow {
    window: minifb::Window,
}

impl GameWindow {
    /// Opens a `width` x `height` window titled `title`.
    pub fn open(title: &str, width: usize, height: usize) -> Result<GameWindow, String> {
        let options = minifb::WindowOptions {
            resize: false,
            ..minifb::WindowOptions::default()
        };
        let mut window = minifb::Window::new(title, width, height, options).map_err(|e| {
            let display = std::env::var("DISPLAY").unwrap_or_default();
            if display.is_empty() {
                format!("cannot open a window: DISPLAY is not set ({e}); set GAMESTORE_BOT=1 to let a bot play headless")
            } else {
                format!("cannot open a window on display {display}: {e}")
            }
        })?;
        window.set_target_fps(60);
        Ok(GameWindow { window })
    }

    /// Shows the canvas and processes window events; waits for the next
    /// frame at 60 frames per second.
    pub fn present(&mut self, canvas: &Canvas) -> Result<(), String> {
        self.window
            .update_with_buffer(canvas.pixels(), canvas.width(), canvas.height())
            .map_err(|e| format!("cannot draw the window: {e}"))
    }

    /// Whether the window is still open (the user has not closed it).
    pub fn is_open(&self) -> bool {
        self.window.is_open()
    }

    /// Whether `key` is held down now.
    pub fn is_down(&self, key: Key) -> bool {
        self.window.is_key_down(key)
    }

    /// Keys pressed since the last frame (no key repeat).
    pub fn pressed(&self) -> Vec<Key> {
        self.window.get_keys_pressed(minifb::KeyRepeat::No)
    }
}
