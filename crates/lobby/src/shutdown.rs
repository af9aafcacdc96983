//! Shutdown you can await, and the one-shot signal it is built on.
//!
//! The server holds a [`Signal`]; every connection task holds a
//! [`Shutdown`] (a cheap clone) and stops at its next await point once the
//! signal fires. Long handlers (uploads, downloads) wait on it beside their
//! work, the way mini-redis passes `Shutdown` into `Subscribe::apply`. Each
//! task also holds a clone of an `mpsc::Sender` whose only purpose is to be
//! dropped: when the receiver sees the channel closed, every task is gone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// A flag that is raised once and can be awaited by any number of tasks;
/// waiting on a raised signal returns at once.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    fired: AtomicBool,
    notify: Notify,
}

impl Signal {
    pub(crate) fn new() -> Signal {
        Signal::default()
    }

    /// Raises the signal and wakes every waiter. Later calls do nothing.
    pub(crate) fn fire(&self) {
        if !self.fired.swap(true, Ordering::AcqRel) {
            self.notify.notify_waiters();
        }
    }

    pub(crate) fn is_fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }

    /// Waits until the signal is raised.
    pub(crate) async fn fired(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the check, so a `fire` in between is not missed.
            notified.as_mut().enable();
            if self.is_fired() {
                return;
            }
            notified.await;
        }
    }
}

/// Listens for the server's shutdown signal.
#[derive(Debug, Clone)]
pub(crate) struct Shutdown {
    signal: Arc<Signal>,
}

impl Shutdown {
    pub(crate) fn new(signal: Arc<Signal>) -> Shutdown {
        Shutdown { signal }
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.signal.is_fired()
    }

    /// Waits for the signal (returns at once if it was already given).
    pub(crate) async fn recv(&self) {
        self.signal.fired().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_waiter_wakes_and_late_waiters_return_at_once() {
        let signal = Arc::new(Signal::new());
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let s = Shutdown::new(signal.clone());
                tokio::spawn(async move { s.recv().await })
            })
            .collect();
        tokio::task::yield_now().await;
        signal.fire();
        for w in waiters {
            tokio::time::timeout(std::time::Duration::from_secs(5), w).await.unwrap().unwrap();
        }
        let late = Shutdown::new(signal.clone());
        assert!(late.is_shutdown());
        late.recv().await;
    }
}
