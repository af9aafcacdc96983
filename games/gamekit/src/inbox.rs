//! One reader thread per connection, all feeding one channel.
//!
//! A game server's main loop then waits on a single [`Inbox::next`] with a
//! deadline (the next tick, a turn timeout) instead of juggling sockets. Each
//! reader gives up on a peer that stays silent past its idle limit (clients
//! send something at least every couple of seconds), on an over-long or
//! non-UTF-8 line, and at the end of the stream; the server then hears
//! [`NetEvent::Closed`] exactly once for that peer.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::line::{LineReader, is_timeout};

/// What a connection produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// One line from the peer.
    Line(String),
    /// The peer is gone; the text says why. Nothing follows.
    Closed(String),
}

/// The receiving end of every reader thread.
#[derive(Debug)]
pub struct Inbox {
    tx: mpsc::Sender<(usize, NetEvent)>,
    rx: mpsc::Receiver<(usize, NetEvent)>,
}

impl Default for Inbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Inbox {
    /// An inbox with no readers yet.
    pub fn new() -> Inbox {
        let (tx, rx) = mpsc::channel();
        Inbox { tx, rx }
    }

    /// Starts a thread that reads lines from `reader` and delivers them
    /// tagged with `id`. `idle` is how long the peer may stay silent.
    pub fn watch(&self, id: usize, mut reader: LineReader, idle: Duration) {
        let tx = self.tx.clone();
        thread::spawn(move || {
            if let Err(error) = reader.set_timeout(Some(idle)) {
                let _ = tx.send((id, NetEvent::Closed(error.to_string())));
                return;
            }
            loop {
                let event = match reader.read_line() {
                    Ok(Some(line)) => NetEvent::Line(line),
                    Ok(None) => NetEvent::Closed("disconnected".into()),
                    Err(error) if is_timeout(&error) => {
                        NetEvent::Closed(format!("silent for {} s", idle.as_secs()))
                    }
                    Err(error) => NetEvent::Closed(format!("connection error: {error}")),
                };
                let closed = matches!(event, NetEvent::Closed(_));
                if tx.send((id, event)).is_err() || closed {
                    return;
                }
            }
        });
    }

    /// The next event, or `None` when `deadline` passes first.
    pub fn next_before(&self, deadline: Instant) -> Option<(usize, NetEvent)> {
        let wait = deadline.saturating_duration_since(Instant::now());
        // The inbox holds a sender itself, so the only error is the timeout.
        self.rx.recv_timeout(wait).ok()
    }

    /// An event that is already waiting, without blocking.
    pub fn try_next(&self) -> Option<(usize, NetEvent)> {
        self.rx.try_recv().ok()
    }
}
