//! Matches running now, for the admin pages and the metrics: what each plays,
//! who is in it, and a handle to stop it.
//!
//! [`run_match`](crate::matches::run_match) registers its match and holds
//! the returned [`RunningGuard`] until the match is recorded, so a match
//! leaves the list however its task ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// One running match as the admin sees it.
#[derive(Debug, Clone)]
pub(crate) struct RunningMatch {
    pub match_id: i64,
    pub room: u64,
    pub game: String,
    pub version: String,
    pub players: Vec<String>,
    pub started_at: i64,
    /// Set once the game server accepts connections.
    pub port: Option<u16>,
}

#[derive(Debug)]
struct Entry {
    info: RunningMatch,
    stop: Arc<Notify>,
    stop_reason: Arc<Mutex<Option<String>>>,
}

/// Running matches by id.
#[derive(Debug, Default)]
pub(crate) struct RunningMatches {
    inner: Mutex<HashMap<i64, Entry>>,
}

impl RunningMatches {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Entry>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a match; it stays listed while the guard lives.
    pub(crate) fn register(self: &Arc<Self>, info: RunningMatch) -> RunningGuard {
        let stop = Arc::new(Notify::new());
        let stop_reason = Arc::new(Mutex::new(None));
        let match_id = info.match_id;
        self.lock()
            .insert(match_id, Entry { info, stop: stop.clone(), stop_reason: stop_reason.clone() });
        RunningGuard { matches: self.clone(), match_id, stop, stop_reason }
    }

    /// The running matches, oldest first.
    pub(crate) fn list(&self) -> Vec<RunningMatch> {
        let mut list: Vec<RunningMatch> = self.lock().values().map(|e| e.info.clone()).collect();
        list.sort_by_key(|m| m.match_id);
        list
    }

    pub(crate) fn count(&self) -> usize {
        self.lock().len()
    }

    /// Asks a match to stop; false when it is not running.
    pub(crate) fn stop(&self, match_id: i64, reason: &str) -> bool {
        let inner = self.lock();
        let Some(entry) = inner.get(&match_id) else { return false };
        *entry.stop_reason.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.to_owned());
        entry.stop.notify_one();
        true
    }
}

/// Keeps a match listed; dropping it removes the match.
pub(crate) struct RunningGuard {
    matches: Arc<RunningMatches>,
    match_id: i64,
    stop: Arc<Notify>,
    stop_reason: Arc<Mutex<Option<String>>>,
}

impl RunningGuard {
    /// Records that the game server listens on `port`.
    pub(crate) fn started(&self, port: u16) {
        if let Some(entry) = self.matches.lock().get_mut(&self.match_id) {
            entry.info.port = Some(port);
        }
    }

    /// Completes when an admin stops the match, with the reason given.
    pub(crate) async fn stopped(&self) -> String {
        self.stop.notified().await;
        self.stop_reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| "stopped by the lobby's admin".into())
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.matches.lock().remove(&self.match_id);
    }
}
