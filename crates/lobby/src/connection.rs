//! One client connection: handshake, request loop, and the writer task.
//!
//! The reader side (this task) reads one frame at a time and handles each
//! request to completion before reading the next, so replies leave in
//! request order. Everything sent to the client (replies, events, download
//! chunks) goes through the connection's [`Outbox`] to a writer task that
//! owns the socket's write half and batches small frames into one write.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use gamestore_protocol::{
    ErrorCode, Frame, FrameReader, MAX_FRAME_LEN, PROTOCOL_VERSION, ReadError, Request,
    RequestFrame, ServerMessage, ServerShutdown, WireError,
};
use gamestore_storage::Account;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use crate::Lobby;
use crate::hub::{BulkFrame, ConnId, FileFrame, Outbox, Outgoing};
use crate::requests;
use crate::shutdown::Shutdown;
use crate::telemetry::Counted;

/// Frames queued for one client before event delivery gives up on it.
pub(crate) const OUTBOX_CAPACITY: usize = 256;

/// The read half of a connection's byte stream (plain TCP or TLS).
pub(crate) type ReadHalf = Box<dyn AsyncRead + Send + Sync + Unpin>;
/// The write half of a connection's byte stream.
pub(crate) enum WriteHalf {
    /// Plain TCP: transfer frames whose payload is a file range go out with
    /// `sendfile(2)`, from the page cache straight into the socket.
    Plain(Counted<tokio::net::tcp::OwnedWriteHalf>),
    /// TLS (or any other stream): bytes only.
    Stream(Box<dyn AsyncWrite + Send + Sync + Unpin>),
}

impl WriteHalf {
    /// Whether file ranges can be sent without reading them first.
    pub(crate) fn sends_files(&self) -> bool {
        matches!(self, WriteHalf::Plain(_))
    }
}

impl AsyncWrite for WriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            WriteHalf::Plain(w) => Pin::new(w).poll_write(cx, buf),
            WriteHalf::Stream(w) => Pin::new(w).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            WriteHalf::Plain(w) => Pin::new(w).poll_flush(cx),
            WriteHalf::Stream(w) => Pin::new(w).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            WriteHalf::Plain(w) => Pin::new(w).poll_shutdown(cx),
            WriteHalf::Stream(w) => Pin::new(w).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            WriteHalf::Plain(w) => Pin::new(w).poll_write_vectored(cx, bufs),
            WriteHalf::Stream(w) => Pin::new(w).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            WriteHalf::Plain(w) => w.is_write_vectored(),
            WriteHalf::Stream(w) => w.is_write_vectored(),
        }
    }
}

/// An accepted connection's byte stream and what the lobby knows of its socket.
pub(crate) struct Accepted {
    pub read: ReadHalf,
    pub write: WriteHalf,
    /// This machine's address the client connected to.
    pub local_addr: Option<std::net::SocketAddr>,
    /// The client's address.
    pub peer: std::net::IpAddr,
    /// The socket's descriptor, for resetting a stalled connection; it lives
    /// as long as `write` does.
    pub fd: std::os::fd::RawFd,
}

/// Largest frame accepted before HELLO: an anonymous connection may make
/// the lobby buffer at most this much (a HELLO is well under 1 KiB).
pub(crate) const PRE_HELLO_MAX_FRAME: usize = 64 * 1024;

/// A logged-in connection's identity.
#[derive(Debug, Clone)]
pub(crate) struct SessionState {
    pub account: Account,
    pub token_hash: Vec<u8>,
}

/// The state of one connection, handed to request handlers.
///
/// `Conn` is also the connection's guard: it owns the connection's place in
/// the hub (through `session`), its room membership and its connection
/// permit, and dropping it releases all three, whether the connection ended
/// normally, through an early return, or by a panic in a handler.
pub(crate) struct Conn {
    pub lobby: Arc<Lobby>,
    pub id: ConnId,
    pub reader: FrameReader<ReadHalf>,
    pub outbox: Outbox,
    pub session: Option<SessionState>,
    /// The lobby's shutdown signal; long handlers wait on it beside their work.
    pub shutdown: Shutdown,
    /// The connection's slot under the lobby's connection cap, shared with
    /// the writer task: it is freed once both the connection's state and its
    /// socket are gone.
    _permit: Arc<OwnedSemaphorePermit>,
    /// The address of this machine the client connected to (the socket's
    /// local address): the client can reach it, so game servers are
    /// advertised on it when no `--public-host` is set.
    pub local_addr: Option<std::net::SocketAddr>,
    /// The client's address, for limits per source address.
    pub peer: std::net::IpAddr,
    /// Publishes begun on this connection (they die with it).
    pub publishes: requests::distribution::Publishes,
    /// Whether the writer sends file ranges itself (plain TCP), so a
    /// download queues [`FileFrame`]s instead of reading chunks into frames.
    pub sends_files: bool,
    /// The version this connection's CHUNK_GETs last read.
    pub chunk_source: Option<requests::distribution::ChunkSource>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Leaving the hub first: no event is queued for a connection that is
        // going away.
        if let Some(session) = self.session.take() {
            self.lobby.hub.detach(session.account.id, self.id);
        }
        // The one place a closed connection's room seat is given up (kept
        // for the seat grace period first).
        self.lobby.rooms.member_disconnected(self.id);
        self.lobby.xrooms.conn_closed(&self.lobby, self.id);
        // Flush what is queued (an error reply) and close; a full queue is
        // dropped at once. The writer's deadline bounds either.
        self.outbox.close();
    }
}

/// Serves one accepted connection (plain TCP or TLS) until it closes, the
/// session is revoked or the lobby shuts down. `permit` is the connection's
/// slot; it is freed when the connection's state is. `handshake` is its place among the connections
/// before HELLO, freed once the handshake is over.
pub(crate) async fn serve(
    lobby: Arc<Lobby>,
    id: ConnId,
    accepted: Accepted,
    shutdown: Shutdown,
    permit: OwnedSemaphorePermit,
    handshake: OwnedSemaphorePermit,
) {
    let Accepted { read, write, local_addr, peer, fd } = accepted;
    let (tx, rx) = mpsc::channel(OUTBOX_CAPACITY);
    let outbox = Outbox::new(tx);
    let deadline = lobby.config.timeouts.idle;
    let permit = Arc::new(permit);
    let sends_files = write.sends_files();
    let writer = write_loop(write, fd, rx, outbox.clone(), deadline, shutdown.clone());
    let writer = tokio::spawn({
        let permit = permit.clone();
        async move {
            writer.await;
            drop(permit);
        }
    });
    let mut reader = FrameReader::new(read);
    reader.set_max_frame_len(PRE_HELLO_MAX_FRAME);
    if sends_files {
        // Plain TCP, read straight from the socket (the TLS sniffing only
        // peeked): an upload's large frames may wake the reader once each.
        // The socket stays open until the writer task ends, after `conn`.
        reader.set_low_water_socket(fd);
    }
    let mut conn = Conn {
        lobby,
        id,
        reader,
        outbox,
        session: None,
        shutdown,
        _permit: permit,
        local_addr,
        peer,
        publishes: Default::default(),
        sends_files,
        chunk_source: None,
    };

    let greeted = conn.handshake().await;
    drop(handshake);
    if greeted {
        conn.reader.set_max_frame_len(MAX_FRAME_LEN);
        conn.request_loop().await;
    }
    drop(conn);
    let _ = writer.await;
}

impl Conn {
    /// Waits for HELLO. False when the connection should close.
    async fn handshake(&mut self) -> bool {
        let timeout = self.lobby.config.timeouts.handshake;
        let frame = tokio::select! {
            frame = tokio::time::timeout(timeout, self.reader.read_frame()) => frame,
            _ = self.shutdown.recv() => return false,
            _ = self.outbox.killed() => return false,
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
                    // A handshake failure is about the connection: id 0.
                    self.fail(0, ErrorCode::ProtocolVersion, message).await;
                    return false;
                }
                tracing::debug!(conn = self.id, client = %hello.client, "hello");
                let reply = gamestore_protocol::HelloReply {
                    protocol: PROTOCOL_VERSION,
                    server: format!("gamestore-lobby/{}", env!("CARGO_PKG_VERSION")),
                };
                self.outbox.send(&ServerMessage::ok(id, &reply)).await
            }
            Ok(RequestFrame { .. }) => {
                self.fail(0, ErrorCode::ProtocolVersion, "the first message must be HELLO").await;
                false
            }
            Err(bad) => {
                self.fail(0, bad.error.code, bad.error.message).await;
                false
            }
        }
    }

    async fn request_loop(&mut self) {
        let idle = self.lobby.config.timeouts.idle;
        loop {
            let frame = tokio::select! {
                frame = tokio::time::timeout(idle, self.reader.read_frame()) => frame,
                _ = self.shutdown.recv() => {
                    let event = ServerShutdown { message: "the lobby is shutting down".into() };
                    self.outbox.close_with(event.into());
                    return;
                }
                _ = self.outbox.killed() => return,
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
            let started = std::time::Instant::now();
            // For the tests: GAMESTORE_FAULT_PANIC_ON=<REQUEST TYPE> makes that
            // request's handling panic, to prove a panic is contained. Debug
            // builds only: a release build has no such hook.
            #[cfg(debug_assertions)]
            if std::env::var("GAMESTORE_FAULT_PANIC_ON").is_ok_and(|on| on == name) {
                panic!("fault injection: {name} handler panics");
            }
            let result = requests::dispatch(self, id, request).await;
            let code = result.as_ref().map_or_else(|e| e.code.as_str(), |_| "OK");
            crate::telemetry::request(name, code, started.elapsed());
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
    pub(crate) fn require(&self, role: gamestore_storage::Role) -> Result<&Account, WireError> {
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
    pub(crate) fn account(&self) -> Result<&Account, WireError> {
        self.session
            .as_ref()
            .map(|s| &s.account)
            .ok_or_else(|| WireError::new(ErrorCode::NotLoggedIn, "log in first"))
    }

    /// Completes when a long handler must stop: the lobby is shutting down
    /// or this connection was killed (too slow, or its writer gave up).
    pub(crate) async fn interrupted(&self) {
        tokio::select! {
            _ = self.shutdown.recv() => {}
            _ = self.outbox.killed() => {}
        }
    }
}

/// Why the writer stopped.
enum WriterEnd {
    /// Asked to close, or every sender is gone: flush and close gracefully.
    Closed,
    /// Killed: drop the queue and reset the socket.
    Killed,
    /// The client did not take a write within the deadline.
    Stalled,
    /// The socket failed.
    Lost,
}

/// How long the last bytes before a close (an error reply, SESSION_REVOKED)
/// may take to be taken by the client.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// How long a write may still take once the lobby is shutting down (the
/// server waits a few seconds for every connection to finish).
const SHUTDOWN_WRITE_GRACE: Duration = Duration::from_secs(1);

/// Owns the socket's write half. Every write has a deadline (the idle
/// timeout, cut to [`SHUTDOWN_WRITE_GRACE`] at shutdown): a client that does
/// not drain its socket for that long is closed, which frees its slot and
/// wakes whatever waits to send to it.
async fn write_loop(
    write: WriteHalf,
    fd: std::os::fd::RawFd,
    mut rx: mpsc::Receiver<Outgoing>,
    outbox: Outbox,
    deadline: Duration,
    shutdown: Shutdown,
) {
    let stop = Stop { outbox: &outbox, shutdown: &shutdown, deadline };
    let mut out = BufWriter::with_capacity(64 * 1024, write);
    let end = loop {
        let item = tokio::select! {
            biased;
            _ = outbox.killed() => break WriterEnd::Killed,
            item = rx.recv() => item,
        };
        let bytes = match item {
            Some(Outgoing::Frame(bytes)) => bytes,
            // The permit is held until the bytes are written.
            Some(Outgoing::Bulk(frame, _permit)) => {
                let written = match &frame {
                    BulkFrame::Bytes(bytes) => stop.write(&mut out, bytes, rx.is_empty()).await,
                    BulkFrame::File(frame) => stop.send_file(&mut out, frame).await,
                };
                match written {
                    Ok(()) => continue,
                    Err(end) => break end,
                }
            }
            Some(Outgoing::Close) | None => break WriterEnd::Closed,
        };
        if let Err(end) = stop.write(&mut out, &bytes, rx.is_empty()).await {
            break end;
        }
    };
    // Nothing more will be written: whatever is still queued goes now.
    rx.close();
    drop(rx);
    match end {
        WriterEnd::Closed => {
            let grace = if shutdown.is_shutdown() { SHUTDOWN_WRITE_GRACE } else { CLOSE_GRACE };
            let deadline = grace.min(deadline);
            let _ = tokio::time::timeout(deadline, async {
                let _ = out.flush().await;
                let _ = out.shutdown().await;
            })
            .await;
        }
        WriterEnd::Stalled | WriterEnd::Killed => {
            if matches!(end, WriterEnd::Stalled) {
                outbox.report_slow("its socket did not drain within the idle timeout");
            }
            // A reset frees the socket's buffers now instead of after the
            // kernel gives up on a peer that does not read.
            set_zero_linger(fd);
        }
        WriterEnd::Lost => {}
    }
    drop(out);
    // Wakes the reader and anything waiting to send.
    outbox.kill();
}

/// What ends a write early: a kill, the deadline, or shutdown's grace.
struct Stop<'a> {
    outbox: &'a Outbox,
    shutdown: &'a Shutdown,
    deadline: Duration,
}

impl Stop<'_> {
    /// Writes `bytes` (flushing when nothing else is queued, so small frames
    /// share a write) unless the deadline passes, the connection is killed,
    /// or the lobby shuts down and the write outlasts the grace.
    async fn write(
        &self,
        out: &mut BufWriter<WriteHalf>,
        bytes: &[u8],
        flush: bool,
    ) -> Result<(), WriterEnd> {
        self.bounded(async {
            out.write_all(bytes).await?;
            if flush {
                out.flush().await?;
            }
            Ok(())
        })
        .await
    }

    /// Writes `frame`: its header and whatever is buffered first, then its
    /// file range with `sendfile(2)` as the socket takes it, under the same
    /// deadline, kill and shutdown rules as [`Stop::write`]. A file shorter
    /// than the range loses the connection (the frame cannot be completed).
    async fn send_file(
        &self,
        out: &mut BufWriter<WriteHalf>,
        frame: &FileFrame,
    ) -> Result<(), WriterEnd> {
        self.bounded(async {
            out.flush().await?;
            match out.get_mut() {
                WriteHalf::Plain(socket) => {
                    // MSG_MORE: the header leaves in one segment with the
                    // start of its payload, not in a tiny one of its own.
                    send_more(socket, &frame.header).await?;
                    sendfile_all(socket, frame).await
                }
                WriteHalf::Stream(stream) => {
                    // Not reached: only plain connections are sent file
                    // frames. Correct anyway, if slower.
                    let (file, offset, len) = (frame.file.clone(), frame.offset, frame.len);
                    let data = tokio::task::spawn_blocking(move || {
                        let mut data = vec![0u8; len];
                        std::os::unix::fs::FileExt::read_exact_at(&*file, &mut data, offset)
                            .map(|()| data)
                    })
                    .await??;
                    stream.write_all(&frame.header).await?;
                    stream.write_all(&data).await
                }
            }
        })
        .await
    }

    /// Runs one write under the deadline, the kill signal and shutdown's grace.
    async fn bounded(
        &self,
        write: impl std::future::Future<Output = std::io::Result<()>>,
    ) -> Result<(), WriterEnd> {
        let grace = async {
            self.shutdown.recv().await;
            tokio::time::sleep(SHUTDOWN_WRITE_GRACE).await;
        };
        tokio::select! {
            written = tokio::time::timeout(self.deadline, write) => match written {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(WriterEnd::Lost),
                Err(_) => Err(WriterEnd::Stalled),
            },
            _ = self.outbox.killed() => Err(WriterEnd::Killed),
            _ = grace => Err(WriterEnd::Killed),
        }
    }
}

/// Sends `bytes` into the plain socket with `MSG_MORE` (more follows at
/// once), waiting for the socket's writable readiness whenever it is full.
async fn send_more(
    socket: &Counted<tokio::net::tcp::OwnedWriteHalf>,
    mut bytes: &[u8],
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let stream: &tokio::net::TcpStream = socket.get_ref().as_ref();
    let fd = stream.as_raw_fd();
    while !bytes.is_empty() {
        stream.writable().await?;
        let sent = stream.try_io(tokio::io::Interest::WRITABLE, || {
            // SAFETY: `bytes` is valid for its length; the socket is open.
            let n = unsafe {
                libc::send(
                    fd,
                    bytes.as_ptr().cast(),
                    bytes.len(),
                    libc::MSG_MORE | libc::MSG_NOSIGNAL,
                )
            };
            if n < 0 { Err(std::io::Error::last_os_error()) } else { Ok(n as usize) }
        });
        match sent {
            Ok(n) => {
                socket.count_sent(n as u64);
                bytes = &bytes[n..];
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sends `frame`'s file range into the plain socket with `sendfile(2)`,
/// waiting for the socket's writable readiness whenever it is full.
async fn sendfile_all(
    socket: &Counted<tokio::net::tcp::OwnedWriteHalf>,
    frame: &FileFrame,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let stream: &tokio::net::TcpStream = socket.get_ref().as_ref();
    let (out_fd, in_fd) = (stream.as_raw_fd(), frame.file.as_raw_fd());
    let mut offset = libc::off_t::try_from(frame.offset)
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let mut left = frame.len;
    while left > 0 {
        stream.writable().await?;
        let sent = stream.try_io(tokio::io::Interest::WRITABLE, || {
            // SAFETY: both descriptors are open for the call (the socket by
            // the write half, the file by the frame); `offset` is a valid
            // pointer that the kernel advances by what it sent.
            let n = unsafe { libc::sendfile(out_fd, in_fd, &mut offset, left) };
            if n < 0 { Err(std::io::Error::last_os_error()) } else { Ok(n as usize) }
        });
        match sent {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                socket.count_sent(n as u64);
                left -= n;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Makes closing `fd` reset the connection (SO_LINGER 0), so a client that
/// does not read has its socket buffers freed at once rather than after the
/// kernel gives up on it.
fn set_zero_linger(fd: std::os::fd::RawFd) {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: setsockopt on a descriptor owned by the still-live write half,
    // with a correctly sized value.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::sync::Arc;

    use super::*;
    use crate::shutdown::Signal;

    /// A loopback pair: the lobby's write half and a client socket that the
    /// test reads (or does not).
    async fn pair()
    -> ((WriteHalf, std::os::fd::RawFd), std::net::TcpStream, tokio::net::tcp::OwnedReadHalf) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&server);
        let (read, write) = server.into_split();
        ((WriteHalf::Plain(Counted::new(write)), fd), client, read)
    }

    /// A writer task on `write`, and the outbox that feeds it.
    fn start_writer(
        (write, fd): (WriteHalf, std::os::fd::RawFd),
        deadline: Duration,
    ) -> (Outbox, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(OUTBOX_CAPACITY);
        let outbox = Outbox::new(tx);
        let shutdown = Shutdown::new(Arc::new(Signal::new()));
        let writer = tokio::spawn(write_loop(write, fd, rx, outbox.clone(), deadline, shutdown));
        (outbox, writer)
    }

    /// Everything the client receives until the lobby closes or resets.
    fn read_all(mut client: std::net::TcpStream) -> Vec<u8> {
        client.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        loop {
            match client.read(&mut buf) {
                Ok(0) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
                Err(e) => panic!("the connection stayed open: {e}"),
            }
        }
    }

    #[tokio::test]
    async fn kill_drops_what_is_queued() {
        let ((write, fd), client, _read) = pair().await;
        let (tx, rx) = mpsc::channel(OUTBOX_CAPACITY);
        let outbox = Outbox::new(tx);
        for n in 0..3 {
            assert!(outbox.push_frame(format!("frame {n}").into_bytes()));
        }
        outbox.kill();
        let shutdown = Shutdown::new(Arc::new(Signal::new()));
        let writer = tokio::spawn(write_loop(
            write,
            fd,
            rx,
            outbox.clone(),
            Duration::from_secs(120),
            shutdown,
        ));
        writer.await.unwrap();
        assert!(!outbox.push_frame(b"late".to_vec()), "the queue is gone");
        assert!(!outbox.send_bytes(b"late".to_vec()).await);
        let got = tokio::task::spawn_blocking(move || read_all(client)).await.unwrap();
        assert!(got.is_empty(), "{} bytes were sent after the kill", got.len());
    }

    #[tokio::test]
    async fn close_flushes_what_is_queued_first() {
        let ((write, fd), client, _read) = pair().await;
        let (tx, rx) = mpsc::channel(OUTBOX_CAPACITY);
        let outbox = Outbox::new(tx);
        assert!(outbox.push_frame(b"one".to_vec()) && outbox.push_frame(b"two".to_vec()));
        outbox.close();
        let shutdown = Shutdown::new(Arc::new(Signal::new()));
        write_loop(write, fd, rx, outbox.clone(), Duration::from_secs(120), shutdown).await;
        let got = tokio::task::spawn_blocking(move || read_all(client)).await.unwrap();
        assert_eq!(got, b"onetwo");
        assert!(outbox.is_killed(), "the reader is told to stop too");
    }

    /// Against a client that never reads, a producer that waits for room
    /// (as a download does) and queues far more than the socket takes: the
    /// writer gives up at the deadline and the producer is released, not
    /// left waiting for room.
    async fn assert_given_up_at_the_deadline<F, Fut>(send_one: F)
    where
        F: Fn(Outbox) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = bool> + Send,
    {
        let (socket, client, _read) = pair().await;
        let deadline = Duration::from_secs(120);
        let (outbox, writer) = start_writer(socket, deadline);
        let producer = {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                let mut sent = 0u64;
                while send_one(outbox.clone()).await {
                    sent += 1;
                }
                sent
            })
        };
        let started = tokio::time::Instant::now();
        writer.await.unwrap();
        assert!(started.elapsed() >= deadline, "gave up after {:?}", started.elapsed());
        assert!(outbox.is_killed());
        let sent = producer.await.unwrap();
        assert!(sent < 1000, "{sent} chunks were queued");
        drop(client);
    }

    #[tokio::test(start_paused = true)]
    async fn a_socket_that_does_not_drain_within_the_deadline_is_given_up() {
        assert_given_up_at_the_deadline(|outbox| async move {
            outbox.send_bulk(vec![0u8; 256 * 1024]).await
        })
        .await;
    }

    /// A file of `len` known bytes.
    fn numbered_file(len: usize) -> (tempfile::NamedTempFile, Vec<u8>) {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, &bytes).unwrap();
        (file, bytes)
    }

    fn file_frame(file: &Arc<std::fs::File>, id: u32, offset: u64, len: usize) -> FileFrame {
        let header = gamestore_protocol::binary_frame_header(id, len).unwrap();
        FileFrame { header, file: file.clone(), offset, len }
    }

    #[tokio::test]
    async fn file_frames_carry_exactly_their_range_in_order_with_other_frames() {
        let (socket, client, _read) = pair().await;
        let (file, bytes) = numbered_file(700_000);
        let file = Arc::new(std::fs::File::open(file.path()).unwrap());
        let (outbox, writer) = start_writer(socket, Duration::from_secs(120));
        // A range that starts inside the file, in two frames, between
        // ordinary frames.
        let (offset, first, second) = (12_345u64, 262_144usize, 300_001usize);
        assert!(outbox.send_bytes(b"before".to_vec()).await);
        assert!(outbox.send_bulk(file_frame(&file, 9, offset, first)).await);
        let at = offset + first as u64;
        assert!(outbox.send_bulk(file_frame(&file, 9, at, second)).await);
        assert!(outbox.send_bytes(b"after".to_vec()).await);
        outbox.close();
        let got = tokio::task::spawn_blocking(move || read_all(client)).await.unwrap();
        writer.await.unwrap();
        let mut expected = b"before".to_vec();
        let range = |from: u64, len: usize| &bytes[from as usize..from as usize + len];
        gamestore_protocol::encode_binary(9, range(offset, first), &mut expected).unwrap();
        gamestore_protocol::encode_binary(9, range(at, second), &mut expected).unwrap();
        expected.extend_from_slice(b"after");
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "the bytes sent differ from the file's range");
    }

    #[tokio::test]
    async fn a_file_shorter_than_its_frame_ends_the_connection() {
        let (socket, client, _read) = pair().await;
        let (file, _) = numbered_file(1000);
        let file = Arc::new(std::fs::File::open(file.path()).unwrap());
        let (outbox, writer) = start_writer(socket, Duration::from_secs(120));
        assert!(outbox.send_bulk(file_frame(&file, 1, 500, 1000)).await);
        let got = tokio::task::spawn_blocking(move || read_all(client)).await.unwrap();
        tokio::time::timeout(Duration::from_secs(30), writer).await.unwrap().unwrap();
        assert!(outbox.is_killed(), "the connection was not ended");
        assert!(got.len() < 9 + 1000, "a whole frame was sent from a short file");
    }

    #[tokio::test(start_paused = true)]
    async fn a_socket_that_does_not_drain_during_a_sendfile_is_given_up() {
        let (file, _) = numbered_file(256 * 1024);
        let file = Arc::new(std::fs::File::open(file.path()).unwrap());
        assert_given_up_at_the_deadline(move |outbox| {
            let frame = file_frame(&file, 1, 0, 256 * 1024);
            async move { outbox.send_bulk(frame).await }
        })
        .await;
    }
}
