//! Lines typed on standard input while `play` or `join` waits in a room
//! (`/p text` for the player's plugins).
//!
//! The game client inherits standard input once the match starts, so the
//! launcher must not hold back any of it: the reader takes one byte at a
//! time, only when `poll` says one is there, and [`TypedLines::stop`]
//! returns only once it has stopped reading.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use tokio::sync::mpsc;

/// How often the reader looks at its stop flag while nothing is typed.
const POLL_MS: i32 = 50;
/// Longest line kept; the rest of a longer line is dropped.
const MAX_LINE: usize = 4096;

/// A reader of standard input's lines, on its own thread.
pub(crate) struct TypedLines {
    lines: mpsc::UnboundedReceiver<String>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TypedLines {
    /// Starts reading standard input.
    pub(crate) fn start() -> TypedLines {
        let (sender, lines) = mpsc::unbounded_channel();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("typed-lines".into())
            .spawn(move || read_lines(&flag, &sender))
            .ok();
        TypedLines { lines, stop, thread }
    }

    /// The next line typed; never ready once standard input has ended.
    pub(crate) async fn next(&mut self) -> String {
        match self.lines.recv().await {
            Some(line) => line,
            None => std::future::pending().await,
        }
    }

    /// Stops reading and waits until the reader has let go of standard input.
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TypedLines {
    fn drop(&mut self) {
        self.stop();
    }
}

fn read_lines(stop: &AtomicBool, lines: &mpsc::UnboundedSender<String>) {
    let mut line = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let mut fd = libc::pollfd { fd: libc::STDIN_FILENO, events: libc::POLLIN, revents: 0 };
        // SAFETY: poll(2) on one pollfd we own.
        let ready = unsafe { libc::poll(&mut fd, 1, POLL_MS) };
        if ready < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if ready == 0 {
            continue;
        }
        let mut byte = 0u8;
        // SAFETY: read(2) of one byte into a local; poll said it will not block.
        let read = unsafe { libc::read(libc::STDIN_FILENO, (&mut byte as *mut u8).cast(), 1) };
        match read {
            1 if byte == b'\n' => {
                let text = String::from_utf8_lossy(&line).into_owned();
                line.clear();
                if lines.send(text).is_err() {
                    return;
                }
            }
            1 => {
                if line.len() < MAX_LINE {
                    line.push(byte);
                }
            }
            // The end of input (or a read error): nothing more will come.
            _ if read < 0
                && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
            _ => return,
        }
    }
}
