//! The lobby's metrics, in the Prometheus text format at `/metrics`.
//!
//! Code records through the `metrics` facade (atomic counters and histogram
//! buckets, no locks on the request path); [`install`] sets up the
//! Prometheus recorder once per process. Gauges that describe state (sessions,
//! rooms by state, running game servers) are read from the lobby when
//! `/metrics` is scraped, by [`render`], on a blocking thread.
//!
//! Every name starts with `gamestore_`; docs/README.md lists them.

use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder (once per process; later calls reuse
/// it) and starts its upkeep task on the current runtime.
pub(crate) fn install() {
    let mut first = false;
    HANDLE.get_or_init(|| {
        first = true;
        let seconds = [
            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            2.5, 5.0, 10.0, 30.0,
        ];
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)
            .expect("bucket list is not empty");
        match builder.install_recorder() {
            Ok(handle) => Some(handle),
            Err(e) => {
                tracing::warn!(error = %e, "metrics disabled: cannot install the recorder");
                None
            }
        }
    });
    if first && let Some(Some(handle)) = HANDLE.get() {
        let handle = handle.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(5));
                loop {
                    every.tick().await;
                    handle.run_upkeep();
                }
            });
        }
    }
}

/// The current metrics as Prometheus text, with state gauges refreshed
/// from `lobby` first. Runs on a blocking thread.
pub(crate) async fn render(lobby: std::sync::Arc<crate::Lobby>) -> String {
    let task = tokio::task::spawn_blocking(move || {
        refresh_state_gauges(&lobby);
        match HANDLE.get() {
            Some(Some(handle)) => handle.render(),
            _ => String::new(),
        }
    });
    task.await.unwrap_or_default()
}

fn refresh_state_gauges(lobby: &crate::Lobby) {
    gauge!("gamestore_sessions").set(lobby.hub.online_accounts() as f64);
    let mut waiting = 0usize;
    let mut starting = 0usize;
    let mut playing = 0usize;
    for room in lobby.rooms.list() {
        match room.state {
            gamestore_protocol::RoomState::Waiting => waiting += 1,
            gamestore_protocol::RoomState::Starting => starting += 1,
            gamestore_protocol::RoomState::Playing => playing += 1,
        }
    }
    gauge!("gamestore_rooms", "state" => "waiting").set(waiting as f64);
    gauge!("gamestore_rooms", "state" => "starting").set(starting as f64);
    gauge!("gamestore_rooms", "state" => "playing").set(playing as f64);
    gauge!("gamestore_game_servers_active").set(lobby.running.count() as f64);
}

/// Counts a connection while it is open; records why it closed.
pub(crate) struct ConnectionMetric {
    reason: &'static str,
}

impl ConnectionMetric {
    pub(crate) fn opened() -> ConnectionMetric {
        gauge!("gamestore_connections_current").increment(1.0);
        ConnectionMetric { reason: "ended" }
    }

    /// Names why the connection is closing (default `ended`).
    pub(crate) fn closing(&mut self, reason: &'static str) {
        self.reason = reason;
    }

    /// Records the transport once the first bytes told it.
    pub(crate) fn transport(&self, transport: &'static str) {
        counter!("gamestore_connections_opened_total", "transport" => transport).increment(1);
    }
}

impl Drop for ConnectionMetric {
    fn drop(&mut self) {
        gauge!("gamestore_connections_current").decrement(1.0);
        counter!("gamestore_connections_closed_total", "reason" => self.reason).increment(1);
    }
}

/// A connection refused at the connection cap.
pub(crate) fn refused_busy() {
    counter!("gamestore_connections_closed_total", "reason" => "busy").increment(1);
}

/// One handled request: its type, `OK` or its error code, and how long it took.
pub(crate) fn request(kind: &'static str, code: &'static str, elapsed: Duration) {
    counter!("gamestore_requests_total", "type" => kind, "code" => code).increment(1);
    histogram!("gamestore_request_duration_seconds", "type" => kind).record(elapsed.as_secs_f64());
    match code {
        "WRONG_PASSWORD" | "UNKNOWN_USER" | "LOGIN_FAILED" => {
            counter!("gamestore_login_failures_total").increment(1)
        }
        "RATE_LIMITED" => counter!("gamestore_rate_limited_total", "type" => kind).increment(1),
        _ => {}
    }
}

/// A match's game server was started: ready after `to_ready`, or `None`
/// when it failed to start.
pub(crate) fn match_spawned(to_ready: Option<Duration>) {
    if let Some(elapsed) = to_ready {
        histogram!("gamestore_game_server_spawn_to_ready_seconds").record(elapsed.as_secs_f64());
    }
    counter!("gamestore_matches_started_total").increment(1);
}

/// A match ended with `outcome`.
pub(crate) fn match_ended(outcome: &'static str) {
    counter!("gamestore_matches_ended_total", "outcome" => outcome).increment(1);
}

/// Why a storage call failed, as `/metrics` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StorageFailure {
    /// SQLite reported the database locked or busy.
    Busy,
    Error,
}

/// A storage call failed.
pub(crate) fn storage_error(failure: StorageFailure) {
    let kind = match failure {
        StorageFailure::Busy => "busy",
        StorageFailure::Error => "error",
    };
    counter!("gamestore_storage_errors_total", "kind" => kind).increment(1);
}

/// A byte stream that counts what crosses it into
/// `gamestore_bytes_received_total` / `gamestore_bytes_sent_total`.
pub(crate) struct Counted<T> {
    inner: T,
    received: metrics::Counter,
    sent: metrics::Counter,
}

impl<T> Counted<T> {
    pub(crate) fn new(inner: T) -> Counted<T> {
        Counted {
            inner,
            received: counter!("gamestore_bytes_received_total"),
            sent: counter!("gamestore_bytes_sent_total"),
        }
    }

    /// The wrapped stream, for writes that bypass it (`sendfile(2)`).
    pub(crate) fn get_ref(&self) -> &T {
        &self.inner
    }

    /// Counts bytes sent past the wrapper.
    pub(crate) fn count_sent(&self, bytes: u64) {
        self.sent.increment(bytes);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 {
            self.received.increment(read as u64);
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = result {
            self.sent.increment(n as u64);
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = result {
            self.sent.increment(n as u64);
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
