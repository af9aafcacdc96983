//! One client connection: handshake, request loop, and the writer task.
//!
//! The reader side (this task) reads one frame at a time and handles each
//! request to completion before reading the next, so replies leave in
//! request order. Everything sent to the client (replies, events, download
//! chunks) goes through the connection's [`Outbox`] to a writer task that
//! owns the socket's write half and batches small frames into one write.

use std::sync::Arc;

use gamestore_protocol::{
    ErrorCode, Frame, FrameReader, PROTOCOL_VERSION, ReadError, Request, RequestFrame,
    ServerMessage, ServerShutdown, WireError,
};
use gamestore_storage::Account;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, mpsc};

use crate::Lobby;
use crate::hub::{ConnId, Outbox, Outgoing};
use crate::requests;
use crate::shutdown::Shutdown;

/// Frames queued for one client before event delivery gives up on it.
const OUTBOX_CAPACITY: usize = 256;

/// A logged-in connection's identity.
#[derive(Debug, Clone)]
pub struct SessionState {
    pub account: Account,
    pub token_hash: Vec<u8>,
}

/// The state of one connection, handed to request handlers.
pub struct Conn {
    pub lobby: Arc<Lobby>,
    pub id: ConnId,
    pub reader: FrameReader<OwnedReadHalf>,
    pub outbox: Outbox,
    pub session: Option<SessionState>,
    kill: Arc<Notify>,
}

/// Serves one accepted socket until it closes, the session is revoked or the
/// lobby shuts down.
pub async fn serve(lobby: Arc<Lobby>, id: ConnId, socket: TcpStream, mut shutdown: Shutdown) {
    let (read, write) = socket.into_split();
    let (tx, rx) = mpsc::channel(OUTBOX_CAPACITY);
    let kill = Arc::new(Notify::new());
    let writer = tokio::spawn(write_loop(write, rx, kill.clone()));
    let mut conn = Conn {
        lobby,
        id,
        reader: FrameReader::new(read),
        outbox: Outbox::new(tx, kill.clone()),
        session: None,
        kill,
    };

    if conn.handshake(&mut shutdown).await {
        conn.request_loop(&mut shutdown).await;
    }
    if let Some(session) = conn.session.take() {
        conn.lobby.hub.detach(session.account.id, conn.id);
    }
    conn.lobby.rooms.disconnected(conn.id);
    conn.outbox.close();
    drop(conn);
    let _ = writer.await;
}

impl Conn {
    /// Waits for HELLO. False when the connection should close.
    async fn handshake(&mut self, shutdown: &mut Shutdown) -> bool {
        let timeout = self.lobby.config.timeouts.handshake;
        let frame = tokio::select! {
            frame = tokio::time::timeout(timeout, self.reader.read_frame()) => frame,
            _ = shutdown.recv() => return false,
        };
        let json = match frame {
            Ok(Ok(Some(Frame::Message(json)))) => json,
            Ok(Ok(None)) => return false,
            Err(_) => {
                self.fail(0, ErrorCode::ProtocolVersion, "no HELLO within the handshake timeout")
                    .await;
                return false;
            }
            Ok(Ok(Some(Frame::Binary { .. }))) => {
                self.fail(0, ErrorCode::BadFrame, "expected HELLO, got a binary frame").await;
                return false;
            }
            Ok(Err(e)) => {
                self.read_failed(e).await;
                return false;
            }
        };
        match RequestFrame::decode(&json) {
            Ok(RequestFrame { id, request: Request::Hello(hello) }) => {
                if hello.protocol != PROTOCOL_VERSION {
                    let message = format!(
                        "this lobby speaks protocol {PROTOCOL_VERSION}, the client {}",
                        hello.protocol
                    );
                    self.fail(id, ErrorCode::ProtocolVersion, message).await;
                    return false;
                }
                tracing::debug!(conn = self.id, client = %hello.client, "hello");
                let reply = gamestore_protocol::HelloReply {
                    protocol: PROTOCOL_VERSION,
                    server: format!("gamestore-lobby/{}", env!("CARGO_PKG_VERSION")),
                };
                self.outbox.send(&ServerMessage::ok(id, &reply)).await
            }
            Ok(RequestFrame { id, .. }) => {
                self.fail(id, ErrorCode::ProtocolVersion, "the first message must be HELLO").await;
                false
            }
            Err(bad) => {
                self.fail(bad.id.unwrap_or(0), bad.error.code, bad.error.message).await;
                false
            }
        }
    }

    async fn request_loop(&mut self, shutdown: &mut Shutdown) {
        let idle = self.lobby.config.timeouts.idle;
        loop {
            let frame = tokio::select! {
                frame = tokio::time::timeout(idle, self.reader.read_frame()) => frame,
                _ = shutdown.recv() => {
                    let event = ServerShutdown { message: "the lobby is shutting down".into() };
                    self.outbox.close_with(event.into());
                    return;
                }
                _ = self.kill.notified() => return,
            };
            let json = match frame {
                Ok(Ok(Some(Frame::Message(json)))) => json,
                Ok(Ok(None)) => return,
                Ok(Ok(Some(Frame::Binary { id, .. }))) => {
                    let message = format!("unexpected binary frame for request {id}");
                    self.fail(0, ErrorCode::BadFrame, message).await;
                    return;
                }
                Ok(Err(e)) => return self.read_failed(e).await,
                Err(_) => {
                    tracing::debug!(conn = self.id, "idle timeout");
                    return;
                }
            };
            let (id, request) = match RequestFrame::decode(&json) {
                Ok(frame) => (frame.id, frame.request),
                Err(bad) => match bad.id {
                    // The envelope was fine: answer and carry on.
                    Some(id) => {
                        self.outbox.send(&ServerMessage::error(id, bad.error)).await;
                        continue;
                    }
                    None => return self.fail(0, bad.error.code, bad.error.message).await,
                },
            };
            let name = request.name();
            let result = requests::dispatch(self, id, request).await;
            match result {
                Ok(Some(data)) => {
                    // A reply too large for a frame goes out as REPLY_TOO_LARGE.
                    self.outbox.send_bytes(ServerMessage::reply_frame(id, &data)).await;
                }
                // The handler replied itself (a download stream).
                Ok(None) => {}
                Err(error) => {
                    tracing::debug!(conn = self.id, request = name, code = %error.code, "refused");
                    let fatal = error.code == ErrorCode::BadFrame;
                    self.outbox.send(&ServerMessage::error(id, error)).await;
                    if fatal {
                        self.outbox.close();
                        return;
                    }
                }
            }
        }
    }

    /// Sends an error reply and closes the connection.
    async fn fail(&self, id: u32, code: ErrorCode, message: impl Into<String>) {
        self.outbox.send(&ServerMessage::error(id, WireError::new(code, message))).await;
        self.outbox.close();
    }

    async fn read_failed(&self, e: ReadError) {
        match e {
            ReadError::Frame(e) => self.fail(0, ErrorCode::BadFrame, e.to_string()).await,
            ReadError::UnexpectedEof | ReadError::Io(_) => {
                tracing::debug!(conn = self.id, error = %e, "connection lost")
            }
        }
    }

    /// The logged-in account if it has `role`: NOT_LOGGED_IN or WRONG_ROLE otherwise.
    pub fn require(&self, role: gamestore_storage::Role) -> Result<&Account, WireError> {
        let account = self.account()?;
        if account.role != role {
            let (is, needs) = match role {
                gamestore_storage::Role::Developer => ("player", "developer"),
                gamestore_storage::Role::Player => ("developer", "player"),
            };
            return Err(WireError::new(
                ErrorCode::WrongRole,
                format!("this is a {needs} command and you are logged in as a {is}"),
            ));
        }
        Ok(account)
    }

    /// The logged-in account, or NOT_LOGGED_IN.
    pub fn account(&self) -> Result<&Account, WireError> {
        self.session
            .as_ref()
            .map(|s| &s.account)
            .ok_or_else(|| WireError::new(ErrorCode::NotLoggedIn, "log in first"))
    }
}

async fn write_loop(write: OwnedWriteHalf, mut rx: mpsc::Receiver<Outgoing>, kill: Arc<Notify>) {
    let mut out = BufWriter::with_capacity(64 * 1024, write);
    while let Some(item) = rx.recv().await {
        let ok = match item {
            Outgoing::Frame(bytes) | Outgoing::Bulk(bytes, _) => {
                let written = out.write_all(&bytes).await.is_ok();
                // Flush once nothing else is queued: small frames share a write.
                written && (!rx.is_empty() || out.flush().await.is_ok())
            }
            Outgoing::Close => {
                let _ = out.flush().await;
                false
            }
        };
        if !ok {
            break;
        }
    }
    let _ = out.shutdown().await;
    kill.notify_one();
}
