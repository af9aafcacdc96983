//! Shutdown you can await.
//!
//! The server holds a `broadcast::Sender<()>`; every connection task holds a
//! [`Shutdown`] and stops at its next await point once the signal is sent.
//! Each task also holds a clone of an `mpsc::Sender` whose only purpose is to
//! be dropped: when the receiver sees the channel closed, every task is gone.

use tokio::sync::broadcast;

/// Listens for the server's shutdown signal.
#[derive(Debug)]
pub struct Shutdown {
    is_shutdown: bool,
    notify: broadcast::Receiver<()>,
}

impl Shutdown {
    pub fn new(notify: broadcast::Receiver<()>) -> Shutdown {
        Shutdown { is_shutdown: false, notify }
    }

    pub fn is_shutdown(&self) -> bool {
        self.is_shutdown
    }

    /// Waits for the signal (returns at once if it was already seen).
    pub async fn recv(&mut self) {
        if self.is_shutdown {
            return;
        }
        // Lagged or closed both mean the server is going away.
        let _ = self.notify.recv().await;
        self.is_shutdown = true;
    }
}
