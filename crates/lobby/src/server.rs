//! The accept loop and graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gamestore_protocol::{ErrorCode, ServerMessage, WireError};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};

use crate::Lobby;
use crate::connection;
use crate::hub::frame_bytes;
use crate::shutdown::{Shutdown, Signal};
use crate::telemetry::Counted;

/// Serves `listener` until `shutdown` completes, then tells every connection
/// to close and waits (a bounded time) for them to finish.
pub async fn run(lobby: Arc<Lobby>, listener: TcpListener, shutdown: impl Future) {
    let notify_shutdown = Arc::new(Signal::new());
    let (shutdown_complete_tx, mut shutdown_complete_rx) = mpsc::channel::<()>(1);
    let permits = Arc::new(Semaphore::new(lobby.config.limits.max_connections));
    let handshakes = Arc::new(Semaphore::new(lobby.config.limits.max_handshakes));
    let next_id = AtomicU64::new(1);
    // The link to the lobby's other nodes, stopped with the connections.
    let bus =
        tokio::spawn(crate::bus::serve(lobby.clone(), Shutdown::new(notify_shutdown.clone())));
    tokio::spawn(crate::replicas::serve(lobby.clone(), Shutdown::new(notify_shutdown.clone())));
    lobby.listening.store(true, Ordering::Relaxed);

    let accept = async {
        loop {
            let (socket, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors or similar: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = socket.set_nodelay(true);
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                crate::telemetry::refused_busy();
                tokio::spawn(refuse_busy(socket));
                continue;
            };
            let Ok(before_hello) = handshakes.clone().try_acquire_owned() else {
                tokio::spawn(refuse_busy(socket));
                continue;
            };
            let id = next_id.fetch_add(1, Ordering::Relaxed);
            let lobby = lobby.clone();
            let shutdown = Shutdown::new(notify_shutdown.clone());
            let done = shutdown_complete_tx.clone();
            tokio::spawn(async move {
                tracing::debug!(conn = id, %peer, "connected");
                let mut metric = crate::telemetry::ConnectionMetric::opened();
                let local_addr = socket.local_addr().ok();
                let fd = std::os::fd::AsRawFd::as_raw_fd(&socket);
                // TLS or plain, told by the first byte; bounded like HELLO.
                let handshake = lobby.config.timeouts.handshake;
                let require = lobby.config.tls.require;
                let accepted =
                    crate::tls::accept(socket, Some(&lobby.tls), require, handshake).await;
                let stream = |read: connection::ReadHalf, write: connection::WriteHalf| {
                    connection::Accepted { read, write, local_addr, peer: peer.ip(), fd }
                };
                let accepted = match accepted {
                    Ok(crate::tls::Accepted::Plain(socket)) => {
                        metric.transport("plain");
                        let (read, write) = socket.into_split();
                        let write = connection::WriteHalf::Plain(Counted::new(write));
                        Some(stream(Box::new(Counted::new(read)), write))
                    }
                    Ok(crate::tls::Accepted::Tls(tls)) => {
                        metric.transport("tls");
                        let (read, write) = tokio::io::split(*tls);
                        let write = connection::WriteHalf::Stream(Box::new(Counted::new(write)));
                        Some(stream(Box::new(Counted::new(read)), write))
                    }
                    Ok(crate::tls::Accepted::PlainRefused(socket)) => {
                        metric.closing("tls_required");
                        refuse(socket, ErrorCode::TlsRequired, TLS_REQUIRED).await;
                        None
                    }
                    Ok(crate::tls::Accepted::Silent(socket)) => {
                        metric.closing("handshake_timeout");
                        refuse(socket, ErrorCode::ProtocolVersion, NO_HELLO).await;
                        None
                    }
                    Err(e) => {
                        tracing::debug!(conn = id, error = %e, "TLS handshake failed");
                        metric.closing("tls_handshake_failed");
                        None
                    }
                };
                if let Some(accepted) = accepted {
                    // A panic in a handler ends that connection's task only:
                    // the connection's state is released as the task
                    // unwinds, and the panic is reported here, once.
                    let task = tokio::spawn(connection::serve(
                        lobby,
                        id,
                        accepted,
                        shutdown,
                        permit,
                        before_hello,
                    ));
                    if let Err(e) = task.await
                        && e.is_panic()
                    {
                        let panic = panic_message(e.into_panic());
                        tracing::error!(conn = id, %peer, panic, "a request handler panicked; closed that connection");
                    }
                } else {
                    drop(permit);
                    drop(before_hello);
                }
                tracing::debug!(conn = id, "disconnected");
                drop(done);
            });
        }
    };

    tokio::select! {
        _ = accept => {}
        _ = shutdown => tracing::info!("shutting down"),
    }

    // Stop and record running matches first, so members hear about it.
    lobby.game_manager.shutdown().await;
    notify_shutdown.fire();
    drop(shutdown_complete_tx);
    if tokio::time::timeout(Duration::from_secs(5), shutdown_complete_rx.recv()).await.is_err() {
        tracing::warn!("some connections did not close in time");
    }
    // The other nodes hear this node's goodbye (bounded inside).
    let _ = tokio::time::timeout(Duration::from_secs(5), bus).await;
}

/// Tells a client over the connection limit why it is being closed. The
/// socket is closed gracefully (what the client sent is read and dropped) so
/// that the client reads the reason instead of a reset; all of it within a
/// couple of seconds.
async fn refuse_busy(mut socket: TcpStream) {
    let reply = ServerMessage::error(
        0,
        WireError::new(ErrorCode::ServerBusy, "the lobby is full; try again later"),
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        socket.write_all(&frame_bytes(&reply)).await?;
        socket.shutdown().await?;
        let mut sink = [0u8; 1024];
        let mut left: usize = 64 * 1024;
        while left > 0 {
            let n = tokio::io::AsyncReadExt::read(&mut socket, &mut sink).await?;
            if n == 0 {
                break;
            }
            left = left.saturating_sub(n);
        }
        Ok::<(), std::io::Error>(())
    })
    .await;
}

const TLS_REQUIRED: &str =
    "this lobby accepts only TLS connections; connect with --server tls://HOST:PORT";
const NO_HELLO: &str = "no HELLO within the handshake timeout";

/// Tells a client why it is closed before its first message: plain TCP
/// while TLS is required, or silence past the handshake time.
async fn refuse(mut socket: TcpStream, code: ErrorCode, message: &str) {
    let reply = ServerMessage::error(0, WireError::new(code, message));
    let _ =
        tokio::time::timeout(Duration::from_secs(2), socket.write_all(&frame_bytes(&reply))).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), socket.shutdown()).await;
}

/// The text a panic was raised with.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(text) => (*text).to_owned(),
            Err(_) => "(no message)".to_owned(),
        },
    }
}
