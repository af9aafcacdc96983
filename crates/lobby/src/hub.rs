//! The hub: every live connection, by account.
//!
//! Handlers use it to reach other connections: to revoke a session's
//! connections when its account logs in elsewhere, and (later) to push chat
//! and room events. Delivery never waits on a slow peer: an event that does
//! not fit in a connection's outbox closes that connection instead of
//! stalling the sender.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use gamestore_protocol::{Event, ServerMessage};
use gamestore_storage::AccountId;
use tokio::sync::mpsc;

use crate::bus::{Presence, PresenceSink};
use crate::shutdown::Signal;

/// Identifies one connection for its lifetime.
pub(crate) type ConnId = u64;

/// What a connection's writer task is asked to do.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// Write these bytes (one or more encoded frames).
    Frame(Vec<u8>),
    /// Write this piece of a transfer; the permit is returned once written,
    /// which bounds how much transfer data waits in memory (and how many
    /// files a connection holds open).
    Bulk(BulkFrame, tokio::sync::OwnedSemaphorePermit),
    /// Flush, close the socket and stop the connection.
    Close,
}

/// A piece of a transfer: encoded frames, or one binary frame whose payload
/// stays in a file until the writer sends it (with `sendfile(2)` on plain
/// TCP).
#[derive(Debug)]
pub(crate) enum BulkFrame {
    Bytes(Vec<u8>),
    File(FileFrame),
}

impl BulkFrame {
    fn len(&self) -> usize {
        match self {
            BulkFrame::Bytes(bytes) => bytes.len(),
            BulkFrame::File(frame) => frame.len,
        }
    }
}

impl From<Vec<u8>> for BulkFrame {
    fn from(bytes: Vec<u8>) -> BulkFrame {
        BulkFrame::Bytes(bytes)
    }
}

impl From<FileFrame> for BulkFrame {
    fn from(frame: FileFrame) -> BulkFrame {
        BulkFrame::File(frame)
    }
}

/// One binary frame of a transfer whose payload stays in a file until the
/// writer sends it: `header`, then `len` bytes of `file` from `offset`.
#[derive(Debug)]
pub(crate) struct FileFrame {
    /// The frame's length, kind and request id.
    pub header: [u8; 9],
    /// Shared by the frames of one stored chunk.
    pub file: Arc<std::fs::File>,
    pub offset: u64,
    pub len: usize,
}

/// What every clone of one connection's [`Outbox`] shares.
#[derive(Debug)]
struct OutboxShared {
    /// Raised to stop the connection at once: its writer drops the queue
    /// and resets the socket, its reader and handlers stop waiting.
    kill: Signal,
    /// Set once this client was found too slow, so it is reported once.
    reported_slow: AtomicBool,
    /// KiB of transfer data that may wait in the queue.
    bulk_budget: Arc<tokio::sync::Semaphore>,
}

/// The sending side of one connection.
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    tx: mpsc::Sender<Outgoing>,
    shared: Arc<OutboxShared>,
}

/// Transfer data queued per connection at most, in KiB.
const BULK_BUDGET_KIB: usize = 4 * 1024;

impl Outbox {
    pub(crate) fn new(tx: mpsc::Sender<Outgoing>) -> Outbox {
        let shared = OutboxShared {
            kill: Signal::new(),
            reported_slow: AtomicBool::new(false),
            bulk_budget: Arc::new(tokio::sync::Semaphore::new(BULK_BUDGET_KIB)),
        };
        Outbox { tx, shared: Arc::new(shared) }
    }

    /// Queues transfer data (bytes, or a frame whose payload the writer
    /// reads from a file), waiting while more than a few MiB are queued.
    /// False when the connection is gone or killed.
    pub(crate) async fn send_bulk(&self, frame: impl Into<BulkFrame>) -> bool {
        let frame = frame.into();
        let kib = (frame.len().div_ceil(1024)).clamp(1, BULK_BUDGET_KIB) as u32;
        let queued = async {
            let Ok(permit) = self.shared.bulk_budget.clone().acquire_many_owned(kib).await else {
                return false;
            };
            self.tx.send(Outgoing::Bulk(frame, permit)).await.is_ok()
        };
        self.unless_killed(queued).await
    }

    /// Queues a message, waiting for room (used for replies and transfers,
    /// whose producer is the connection itself). False when the connection
    /// is gone or killed.
    pub(crate) async fn send(&self, message: &ServerMessage) -> bool {
        self.send_bytes(frame_bytes(message)).await
    }

    /// Queues already encoded frames, waiting for room. The wait ends when
    /// the connection is killed (its writer gives up on a client that does
    /// not drain within the idle timeout), so a reply never waits forever.
    pub(crate) async fn send_bytes(&self, bytes: Vec<u8>) -> bool {
        self.unless_killed(async { self.tx.send(Outgoing::Frame(bytes)).await.is_ok() }).await
    }

    async fn unless_killed(&self, send: impl std::future::Future<Output = bool>) -> bool {
        if self.is_killed() {
            return false;
        }
        tokio::select! {
            sent = send => sent,
            _ = self.shared.kill.fired() => false,
        }
    }

    /// Queues an event without waiting; a peer too slow to take it is
    /// disconnected. False when the event was not queued.
    pub(crate) fn push_event(&self, event: Event) -> bool {
        self.push_frame(frame_bytes(&ServerMessage::Event(event)))
    }

    /// [`Outbox::push_event`] for an event already encoded as a frame, so a
    /// broadcast encodes once for all its recipients.
    pub(crate) fn push_frame(&self, frame: Vec<u8>) -> bool {
        match self.tx.try_send(Outgoing::Frame(frame)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.report_slow("its queue of events is full");
                self.kill();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Logs, once per connection, that this client is too slow and is
    /// being closed.
    pub(crate) fn report_slow(&self, why: &str) {
        if !self.shared.reported_slow.swap(true, Ordering::AcqRel) {
            tracing::warn!(why, "closing a connection too slow to take what it is sent");
        }
    }

    /// Sends `event` (if there is room) and then closes the connection.
    pub(crate) fn close_with(&self, event: Event) {
        let _ = self.tx.try_send(Outgoing::Frame(frame_bytes(&ServerMessage::Event(event))));
        self.close();
    }

    /// Asks the writer to flush and close, then the reader to stop. A
    /// connection whose queue is full is killed instead.
    pub(crate) fn close(&self) {
        if self.tx.try_send(Outgoing::Close).is_err() {
            self.kill();
        }
    }

    /// Stops the connection at once: the writer drops whatever is queued
    /// and resets the socket; the reader and any waiting handler stop.
    pub(crate) fn kill(&self) {
        self.shared.kill.fire();
    }

    /// Whether [`Outbox::kill`] was called (or the writer gave up).
    pub(crate) fn is_killed(&self) -> bool {
        self.shared.kill.is_fired()
    }

    /// Waits until the connection is killed.
    pub(crate) async fn killed(&self) {
        self.shared.kill.fired().await
    }
}

/// Pushes one event to several connections, encoding it once.
pub(crate) fn push_to_all<'a>(outboxes: impl Iterator<Item = &'a Outbox>, event: &Event) {
    let frame = frame_bytes(&ServerMessage::Event(event.clone()));
    for outbox in outboxes {
        outbox.push_frame(frame.clone());
    }
}

/// One message frame holding `message`. A reply too large for a frame is
/// sent as a `REPLY_TOO_LARGE` error; an event too large is dropped (and
/// logged): nothing is written for it.
pub(crate) fn frame_bytes(message: &ServerMessage) -> Vec<u8> {
    message.to_frame().unwrap_or_else(|e| {
        tracing::error!(error = %e, "dropped an event too large for a frame");
        Vec::new()
    })
}

/// One logged-in connection.
#[derive(Debug)]
struct LiveConn {
    id: ConnId,
    outbox: Outbox,
    /// The SHA-256 of the session token the connection logged in or
    /// resumed with.
    token_hash: Arc<[u8]>,
}

#[derive(Debug)]
struct Online {
    name: String,
    is_player: bool,
    conns: Vec<LiveConn>,
}

#[derive(Debug, Default)]
struct HubInner {
    by_account: HashMap<AccountId, Online>,
}

/// Live connections by logged-in account.
#[derive(Debug)]
pub(crate) struct Hub {
    inner: Mutex<HubInner>,
    /// Told, in order, when a player comes online or leaves (the bus
    /// tells the lobby's other nodes).
    presence: PresenceSink,
}

impl Hub {
    pub(crate) fn new(presence: PresenceSink) -> Hub {
        Hub { inner: Mutex::default(), presence }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, HubInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that connection `conn` is logged in as `account` with the
    /// session whose token hashes to `token_hash`.
    pub(crate) fn attach(
        &self,
        account: &gamestore_storage::Account,
        conn: ConnId,
        outbox: Outbox,
        token_hash: &[u8],
    ) {
        let is_player = account.role == gamestore_storage::Role::Player;
        let mut inner = self.inner();
        let online = inner.by_account.entry(account.id).or_insert_with(|| Online {
            name: account.name.clone(),
            is_player,
            conns: Vec::new(),
        });
        if online.conns.is_empty() && is_player {
            self.presence
                .changed(Presence::Online { account: account.id, name: account.name.clone() });
        }
        online.conns.push(LiveConn { id: conn, outbox, token_hash: token_hash.into() });
    }

    /// Forgets connection `conn` of `account`.
    pub(crate) fn detach(&self, account: AccountId, conn: ConnId) {
        let mut inner = self.inner();
        if let Some(online) = inner.by_account.get_mut(&account) {
            online.conns.retain(|c| c.id != conn);
            if online.conns.is_empty() {
                self.went_offline(&mut inner, account);
            }
        }
    }

    /// Removes `account` (whose last connection is gone) and says so.
    fn went_offline(&self, inner: &mut HubInner, account: AccountId) {
        if let Some(online) = inner.by_account.remove(&account)
            && online.is_player
        {
            self.presence.changed(Presence::Offline { account });
        }
    }

    /// Players with at least one live connection, by name.
    pub(crate) fn online_players(&self) -> Vec<(AccountId, String)> {
        let mut players: Vec<(AccountId, String)> = self
            .inner()
            .by_account
            .iter()
            .filter(|(_, o)| o.is_player)
            .map(|(id, o)| (*id, o.name.clone()))
            .collect();
        players.sort_by_cached_key(|p| p.1.to_lowercase());
        players
    }

    /// Pushes `event` to every connection of every logged-in player.
    pub(crate) fn broadcast_to_players(&self, event: &Event) {
        let outboxes: Vec<Outbox> = self
            .inner()
            .by_account
            .values()
            .filter(|o| o.is_player)
            .flat_map(|o| o.conns.iter().map(|c| c.outbox.clone()))
            .collect();
        push_to_all(outboxes.iter(), event);
    }

    /// Closes every connection of `account` except `keep`, telling each why.
    /// Returns how many were closed.
    pub(crate) fn revoke(&self, account: AccountId, keep: Option<ConnId>, event: Event) -> usize {
        self.close_where(account, |c| Some(c.id) != keep, event)
    }

    /// Closes the connections of `account` that use the session whose
    /// token hashes to `token_hash`, telling each why. Returns how many
    /// were closed.
    pub(crate) fn revoke_session(
        &self,
        account: AccountId,
        token_hash: &[u8],
        event: Event,
    ) -> usize {
        self.close_where(account, |c| &*c.token_hash == token_hash, event)
    }

    fn close_where(
        &self,
        account: AccountId,
        close: impl Fn(&LiveConn) -> bool,
        event: Event,
    ) -> usize {
        let victims: Vec<Outbox> = {
            let mut inner = self.inner();
            let Some(online) = inner.by_account.get_mut(&account) else {
                return 0;
            };
            let (go, stay): (Vec<_>, Vec<_>) = online.conns.drain(..).partition(|c| close(c));
            online.conns = stay;
            if online.conns.is_empty() {
                self.went_offline(&mut inner, account);
            }
            go.into_iter().map(|c| c.outbox).collect()
        };
        for outbox in &victims {
            outbox.close_with(event.clone());
        }
        victims.len()
    }

    /// The token hashes of the sessions `account`'s connections use here.
    pub(crate) fn sessions_of(&self, account: AccountId) -> Vec<Arc<[u8]>> {
        let inner = self.inner();
        let mut hashes: Vec<Arc<[u8]>> = inner
            .by_account
            .get(&account)
            .map(|o| o.conns.iter().map(|c| c.token_hash.clone()).collect())
            .unwrap_or_default();
        hashes.sort();
        hashes.dedup();
        hashes
    }

    /// Number of accounts with at least one live connection.
    pub(crate) fn online_accounts(&self) -> usize {
        self.inner().by_account.len()
    }
}
