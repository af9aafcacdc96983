//! The persistent lobby connection, client side.
//!
//! A reader task owns the socket's read half. It completes each pending call
//! when its reply arrives, forwards events to [`LobbyClient::events`], and
//! forwards binary frames to the stream registered for their request id.
//! When the connection ends, every pending call fails with the reason.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gamestore_protocol::{
    Call, ErrorCode, Event, Frame, FrameReader, Hello, PROTOCOL_VERSION, Paged, Ping,
    RawServerMessage, RequestFrame, WireError,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;

use crate::tls::{Target, TlsOptions};

/// The read half of the lobby connection (plain TCP or TLS).
type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of the lobby connection (plain TCP or TLS).
type WriteHalf = Box<dyn AsyncWrite + Send + Sync + Unpin>;
use tokio::sync::{mpsc, oneshot};

/// How long to wait for the TCP connection and the HELLO reply.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an ordinary request may take.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How often an idle long-lived connection pings the lobby.
pub(crate) const KEEPALIVE_EVERY: Duration = Duration::from_secs(30);

/// Why a call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The lobby answered with an error.
    #[error("{0}")]
    Refused(WireError),
    /// `cause` is part of the message and deliberately not a `source`, so
    /// that a printed error chain names it once.
    #[error("cannot reach the lobby at {addr}: {cause}")]
    Connect { addr: String, cause: std::io::Error },
    #[error("connection to the lobby lost: {0}")]
    Closed(String),
    #[error("the lobby did not answer within {0:?}")]
    Timeout(Duration),
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The lobby's TLS certificate is not trusted (or changed since it was pinned).
    #[error("{0}")]
    Certificate(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl ClientError {
    /// True when the lobby could not be reached or stopped answering, as
    /// opposed to refusing: something a later retry may fix.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ClientError::Connect { .. }
                | ClientError::Closed(_)
                | ClientError::Timeout(_)
                | ClientError::Io(_)
        )
    }

    /// The lobby's error code, when the lobby refused.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Refused(e) => Some(e.code),
            _ => None,
        }
    }
}

/// A reply's `OK` data, still JSON: decoded straight into the reply type.
pub(crate) type RawReply = Box<serde_json::value::RawValue>;

type Pending = HashMap<u32, oneshot::Sender<Result<RawReply, ClientError>>>;

#[derive(Default)]
struct Shared {
    pending: Pending,
    streams: HashMap<u32, mpsc::Sender<Vec<u8>>>,
    /// Set once the reader stops; later calls fail with it.
    closed: Option<String>,
}

/// A logged-in or anonymous connection to the lobby.
pub struct LobbyClient {
    writer: tokio::sync::Mutex<BufWriter<WriteHalf>>,
    shared: Arc<Mutex<Shared>>,
    next_id: AtomicU32,
    events: Mutex<Option<mpsc::UnboundedReceiver<Event>>>,
    reader: tokio::task::JoinHandle<()>,
    /// What HELLO answered: the lobby's name and version.
    pub server: String,
    /// The lobby was reached on a loopback address: it runs on this
    /// machine, where moving a byte costs less than compressing it.
    pub local: bool,
}

impl Drop for LobbyClient {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl LobbyClient {
    /// Connects to `server` (`HOST:PORT`, or `tls://HOST:PORT` trusting
    /// only CAs the system trusts) and says HELLO.
    pub async fn connect(server: &str, client_name: &str) -> Result<LobbyClient, ClientError> {
        LobbyClient::connect_with(server, client_name, &TlsOptions::default()).await
    }

    /// Connects to `server` (`HOST:PORT` or `tls://HOST:PORT`, trusted as
    /// `tls` says) and says HELLO.
    pub async fn connect_with(
        server: &str,
        client_name: &str,
        tls: &TlsOptions,
    ) -> Result<LobbyClient, ClientError> {
        let target = Target::parse(server);
        let addr = target.addr();
        let socket = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(socket)) => socket,
            Ok(Err(cause)) => {
                return Err(ClientError::Connect { addr: addr.to_owned(), cause });
            }
            Err(_) => {
                let cause = std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out");
                return Err(ClientError::Connect { addr: addr.to_owned(), cause });
            }
        };
        socket.set_nodelay(true)?;
        let local = socket.peer_addr().is_ok_and(|a| a.ip().is_loopback());
        let mut low_water = None;
        let (read, write): (ReadHalf, WriteHalf) = match &target {
            Target::Plain { .. } => {
                use std::os::fd::AsRawFd;
                low_water = Some(socket.as_raw_fd());
                let (read, write) = socket.into_split();
                (Box::new(read), Box::new(write))
            }
            Target::Tls { addr, host } => {
                let handshake = crate::tls::handshake(socket, addr, host, tls);
                let stream = tokio::time::timeout(CONNECT_TIMEOUT, handshake)
                    .await
                    .map_err(|_| ClientError::Timeout(CONNECT_TIMEOUT))??;
                let (read, write) = tokio::io::split(stream);
                (Box::new(read), Box::new(write))
            }
        };
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let mut frames = FrameReader::new(read);
        if let Some(fd) = low_water {
            // The read half owns the socket with the write half; the reader
            // task holds it as long as the FrameReader.
            frames.set_low_water_socket(fd);
        }
        let reader = tokio::spawn(read_loop(frames, shared.clone(), events_tx));
        let mut client = LobbyClient {
            writer: tokio::sync::Mutex::new(BufWriter::new(write)),
            shared,
            next_id: AtomicU32::new(1),
            events: Mutex::new(Some(events_rx)),
            reader,
            server: String::new(),
            local,
        };
        let hello = Hello { protocol: PROTOCOL_VERSION, client: client_name.to_owned() };
        let reply = tokio::time::timeout(CONNECT_TIMEOUT, client.call(hello))
            .await
            .map_err(|_| ClientError::Timeout(CONNECT_TIMEOUT))??;
        client.server = reply.server;
        Ok(client)
    }

    /// Sends a request and waits for its reply.
    pub async fn call<C: Call>(&self, request: C) -> Result<C::Reply, ClientError> {
        self.call_with_timeout(request, CALL_TIMEOUT).await
    }

    /// [`LobbyClient::call`] with a time limit other than [`CALL_TIMEOUT`].
    pub async fn call_with_timeout<C: Call>(
        &self,
        request: C,
        timeout: Duration,
    ) -> Result<C::Reply, ClientError> {
        let (_, reply) = self.start(request, None).await?;
        let value = tokio::time::timeout(timeout, reply)
            .await
            .map_err(|_| ClientError::Timeout(timeout))?
            .map_err(|_| self.closed_error())??;
        decode_reply::<C>(&value)
    }

    /// Sends a request and returns its id and a future for its reply without
    /// waiting. With `stream`, binary frames for this request are forwarded
    /// to it (a download).
    pub async fn start<C: Call>(
        &self,
        request: C,
        stream: Option<mpsc::Sender<Vec<u8>>>,
    ) -> Result<(u32, oneshot::Receiver<Result<RawReply, ClientError>>), ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut shared = self.shared.lock().unwrap();
            if let Some(reason) = &shared.closed {
                return Err(ClientError::Closed(reason.clone()));
            }
            // Streams whose reader is gone (a download that got all it
            // wanted) are dropped here, so that they do not pile up over a
            // long connection.
            shared.streams.retain(|_, s| !s.is_closed());
            shared.pending.insert(id, tx);
            if let Some(stream) = stream {
                shared.streams.insert(id, stream);
            }
        }
        let frame = RequestFrame { id, request: request.into() };
        let mut bytes = Vec::new();
        if let Err(e) = gamestore_protocol::encode_message(&frame.encode(), &mut bytes) {
            self.shared.lock().unwrap().pending.remove(&id);
            self.shared.lock().unwrap().streams.remove(&id);
            return Err(ClientError::Protocol(format!("the request is too large to send: {e}")));
        }
        self.write(&bytes).await?;
        Ok((id, rx))
    }

    /// Fetches every page of a paged list and returns them as one reply: the
    /// first page's reply with the items of all later pages appended.
    /// Stops with an error if the lobby repeats a cursor or hands out more
    /// than [`MAX_PAGES`](gamestore_protocol::MAX_PAGES) pages.
    pub async fn call_all<C: Paged>(&self, request: C) -> Result<C::Reply, ClientError> {
        let mut all = self.call(request.clone()).await?;
        let mut seen = std::collections::HashSet::new();
        while let Some(cursor) = C::next_cursor(&all).map(str::to_owned) {
            if !seen.insert(cursor.clone()) || seen.len() > gamestore_protocol::MAX_PAGES {
                return Err(ClientError::Protocol(format!(
                    "the lobby's {} pages do not end",
                    C::NAME
                )));
            }
            let mut next = request.clone();
            next.set_cursor(Some(cursor));
            let page = self.call(next).await?;
            C::append(&mut all, page);
        }
        Ok(all)
    }

    /// Sends one binary frame for request `id` (an upload chunk).
    pub async fn send_chunk(&self, id: u32, data: &[u8]) -> Result<(), ClientError> {
        let header = gamestore_protocol::binary_frame_header(id, data.len())
            .map_err(|e| ClientError::Protocol(format!("chunk too large to send: {e}")))?;
        let mut writer = self.writer.lock().await;
        // The header is buffered; the bytes go from `data` to the socket
        // without a copy when they are larger than the buffer.
        self.within_deadline(async {
            writer.write_all(&header).await?;
            writer.write_all(data).await
        })
        .await
    }

    /// Flushes buffered chunks.
    pub async fn flush(&self) -> Result<(), ClientError> {
        let mut writer = self.writer.lock().await;
        self.within_deadline(writer.flush()).await
    }

    async fn write(&self, bytes: &[u8]) -> Result<(), ClientError> {
        let mut writer = self.writer.lock().await;
        self.within_deadline(async {
            writer.write_all(bytes).await?;
            writer.flush().await
        })
        .await
    }

    /// Every write has a deadline: a lobby that takes nothing for
    /// [`CALL_TIMEOUT`] is as good as gone.
    async fn within_deadline(
        &self,
        write: impl std::future::Future<Output = std::io::Result<()>>,
    ) -> Result<(), ClientError> {
        match tokio::time::timeout(CALL_TIMEOUT, write).await {
            Ok(result) => result.map_err(|e| self.io_error(e)),
            Err(_) => {
                // A frame may be half written: nothing more can be sent.
                let mut shared = self.shared.lock().unwrap();
                shared.closed.get_or_insert_with(|| "the lobby stopped reading".to_owned());
                Err(ClientError::Timeout(CALL_TIMEOUT))
            }
        }
    }

    fn io_error(&self, e: std::io::Error) -> ClientError {
        match &self.shared.lock().unwrap().closed {
            Some(reason) => ClientError::Closed(reason.clone()),
            None => ClientError::Io(e),
        }
    }

    fn closed_error(&self) -> ClientError {
        let reason = self.shared.lock().unwrap().closed.clone();
        ClientError::Closed(reason.unwrap_or_else(|| "connection closed".into()))
    }

    /// The server's events. Can be taken once; later calls return `None`.
    pub fn events(&self) -> Option<mpsc::UnboundedReceiver<Event>> {
        self.events.lock().unwrap().take()
    }

    /// Pings the lobby every [`KEEPALIVE_EVERY`] so a long wait is not taken
    /// for an idle connection. Stops when the connection closes.
    pub fn keepalive(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let client = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(KEEPALIVE_EVERY).await;
                let Some(client) = client.upgrade() else {
                    return;
                };
                if client.call(Ping {}).await.is_err() {
                    return;
                }
            }
        })
    }

    /// Decodes a reply obtained through [`LobbyClient::start`].
    pub fn decode<C: Call>(value: RawReply) -> Result<C::Reply, ClientError> {
        decode_reply::<C>(&value)
    }
}

fn decode_reply<C: Call>(value: &serde_json::value::RawValue) -> Result<C::Reply, ClientError> {
    serde_json::from_str(value.get())
        .map_err(|e| ClientError::Protocol(format!("bad reply to {}: {e}", C::NAME)))
}

async fn read_loop(
    mut reader: FrameReader<ReadHalf>,
    shared: Arc<Mutex<Shared>>,
    events: mpsc::UnboundedSender<Event>,
) {
    let reason = loop {
        match reader.read_frame().await {
            Ok(Some(Frame::Message(json))) => match RawServerMessage::decode(&json) {
                Ok(RawServerMessage::Reply { id: 0, result: Err(error) }) => {
                    // A connection-level refusal (busy, bad frame): it ends the connection.
                    fail_all(&shared, ClientError::Refused(error.clone()));
                    break error.message;
                }
                Ok(RawServerMessage::Reply { id, result }) => {
                    let waiter = {
                        let mut shared = shared.lock().unwrap();
                        // A download's data follows its OK; after an error
                        // nothing follows.
                        if result.is_err() {
                            shared.streams.remove(&id);
                        }
                        shared.pending.remove(&id)
                    };
                    if let Some(waiter) = waiter {
                        let _ = waiter.send(result.map_err(ClientError::Refused));
                    }
                }
                Ok(RawServerMessage::Event(event)) => {
                    let _ = events.send(event);
                }
                Err(e) => match unreadable_message_id(&json) {
                    // Not JSON at all: the stream cannot be trusted any more.
                    None => break format!("the lobby sent a bad message: {e}"),
                    // An event this build does not know, or a known one with
                    // values it does not know (a newer lobby): skipped.
                    Some(None) => {}
                    // A reply this build cannot read: that call fails, the
                    // connection carries on.
                    Some(Some(id)) => {
                        let waiter = {
                            let mut shared = shared.lock().unwrap();
                            shared.streams.remove(&id);
                            shared.pending.remove(&id)
                        };
                        if let Some(waiter) = waiter {
                            let message = format!("the lobby's reply could not be read: {e}");
                            let _ = waiter.send(Err(ClientError::Protocol(message)));
                        }
                    }
                },
            },
            Ok(Some(Frame::Binary { id, data })) => {
                let stream = shared.lock().unwrap().streams.get(&id).cloned();
                if let Some(stream) = stream {
                    // Backpressure: a slow consumer slows the socket, not memory.
                    if stream.send(data).await.is_err() {
                        shared.lock().unwrap().streams.remove(&id);
                    }
                }
            }
            Ok(None) => break "the lobby closed the connection".to_owned(),
            Err(e) => break e.to_string(),
        }
    };
    let mut shared = shared.lock().unwrap();
    shared.closed = Some(reason.clone());
    shared.streams.clear();
    for (_, waiter) in shared.pending.drain() {
        let _ = waiter.send(Err(ClientError::Closed(reason.clone())));
    }
}

/// For a server message that did not decode: `None` when it is not even a
/// JSON object, otherwise its `id` (`None` for an event). Tolerant reading:
/// only a broken stream ends the connection, never a message from a newer
/// lobby.
fn unreadable_message_id(json: &[u8]) -> Option<Option<u32>> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        #[serde(default)]
        id: Option<u32>,
    }
    serde_json::from_slice::<Envelope>(json).ok().map(|envelope| envelope.id)
}

fn fail_all(shared: &Mutex<Shared>, error: ClientError) {
    let mut shared = shared.lock().unwrap();
    let message = error.to_string();
    let mut first = Some(error);
    for (_, waiter) in shared.pending.drain() {
        let e = first.take().unwrap_or_else(|| ClientError::Closed(message.clone()));
        let _ = waiter.send(Err(e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gamestore_protocol::{ChatScope, Frame};
    use tokio::net::TcpListener;

    /// A lobby from the future: it adds fields, events, enum values and
    /// error codes this build has never heard of.
    async fn newer_lobby(listener: TcpListener) {
        let (socket, _) = listener.accept().await.unwrap();
        let (read, mut write) = socket.into_split();
        let mut reader = FrameReader::new(read);
        let mut send = async |json: &str| {
            let frame = Frame::Message(json.as_bytes().to_vec());
            gamestore_protocol::write_frame(&mut write, &frame).await.unwrap();
        };
        let mut next_id = async || match reader.read_frame().await.unwrap() {
            Some(Frame::Message(json)) => RequestFrame::decode(&json).unwrap().id,
            other => panic!("expected a request, got {other:?}"),
        };
        let id = next_id().await;
        send(&format!(
            r#"{{"id":{id},"type":"OK","data":{{"protocol":1,"server":"gamestore-lobby/9.0","regions":["eu"]}}}}"#
        ))
        .await;
        send(r#"{"type":"MOTD","data":{"text":"welcome"}}"#).await;
        send(r#"{"type":"ROOM_UPDATE","data":{"event":"kicked","room":{}}}"#).await;
        send(r#"{"type":"FRIEND_ONLINE"}"#).await;
        send(r#"{"type":"CHAT","data":{"scope":"lobby","from":"ann","text":"hi","at":1,"badge":"gold"}}"#)
            .await;
        let id = next_id().await;
        send(&format!(
            r#"{{"id":{id},"type":"ERROR","data":{{"code":"SHINY_NEW_CODE","message":"try the new thing","hint":"x"}}}}"#
        ))
        .await;
        let id = next_id().await;
        send(&format!(r#"{{"id":{id},"type":"PARTIAL","data":{{}}}}"#)).await;
        let id = next_id().await;
        send(&format!(r#"{{"id":{id},"type":"OK","data":{{"extra":true}}}}"#)).await;
        // Hold the connection until the client is done.
        let _ = reader.read_frame().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_lobby_that_stops_reading_fails_the_write_after_the_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        // Answers HELLO, then never reads again.
        let server = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let (read, mut write) = socket.into_split();
            let mut reader = FrameReader::new(read);
            let Ok(Some(Frame::Message(json))) = reader.read_frame().await else { panic!() };
            let id = RequestFrame::decode(&json).unwrap().id;
            let reply =
                format!(r#"{{"id":{id},"type":"OK","data":{{"protocol":1,"server":"x"}}}}"#);
            gamestore_protocol::write_frame(&mut write, &Frame::Message(reply.into_bytes()))
                .await
                .unwrap();
            std::future::pending::<()>().await;
            drop((reader, write));
        });
        let client = LobbyClient::connect(&addr, "test").await.unwrap();
        let chunk = vec![0u8; gamestore_protocol::MAX_CHUNK_LEN];
        let started = tokio::time::Instant::now();
        let error = loop {
            if let Err(e) = client.send_chunk(1, &chunk).await {
                break e;
            }
            assert!(started.elapsed() < CALL_TIMEOUT * 2, "the writes never gave up");
        };
        assert!(matches!(error, ClientError::Timeout(_)), "{error:?}");
        // Nothing more goes out after a half-written frame.
        assert!(matches!(client.call(Ping {}).await, Err(ClientError::Closed(_))));
        server.abort();
    }

    #[tokio::test]
    async fn unknown_events_fields_and_codes_from_a_newer_lobby_are_not_fatal() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(newer_lobby(listener));
        let wait = Duration::from_secs(30);
        let client = tokio::time::timeout(wait, LobbyClient::connect(&addr, "test"))
            .await
            .unwrap()
            .expect("HELLO with an unknown field is fine");
        assert_eq!(client.server, "gamestore-lobby/9.0");
        let mut events = client.events().unwrap();
        // The unknown events are skipped; the known one arrives, its unknown
        // field ignored.
        match tokio::time::timeout(wait, events.recv()).await.unwrap() {
            Some(Event::Chat(chat)) => {
                assert_eq!((chat.scope, chat.text.as_str()), (ChatScope::Lobby, "hi"))
            }
            other => panic!("expected the chat message, got {other:?}"),
        }
        // An unknown error code is shown with its message.
        let error = client.call_with_timeout(Ping {}, wait).await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::Unknown));
        assert!(error.to_string().contains("try the new thing"), "{error}");
        // A reply of a kind this build does not know fails that call only.
        let error = client.call_with_timeout(Ping {}, wait).await.unwrap_err();
        assert!(matches!(error, ClientError::Protocol(_)), "{error:?}");
        // And the connection still works.
        client.call_with_timeout(Ping {}, wait).await.expect("the connection survived");
        drop(client);
        tokio::time::timeout(wait, server).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn finished_downloads_do_not_pile_up_on_a_long_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        // Answers every request with OK and one binary frame for it.
        let server = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            socket.set_nodelay(true).unwrap();
            let (read, mut write) = socket.into_split();
            let mut reader = FrameReader::new(read);
            while let Ok(Some(Frame::Message(json))) = reader.read_frame().await {
                let id = RequestFrame::decode(&json).unwrap().id;
                let reply =
                    format!(r#"{{"id":{id},"type":"OK","data":{{"protocol":1,"server":"x"}}}}"#);
                for frame in
                    [Frame::Message(reply.into_bytes()), Frame::Binary { id, data: vec![7; 10] }]
                {
                    gamestore_protocol::write_frame(&mut write, &frame).await.unwrap();
                }
            }
        });
        let wait = Duration::from_secs(30);
        let client =
            tokio::time::timeout(wait, LobbyClient::connect(&addr, "test")).await.unwrap().unwrap();
        for _ in 0..50 {
            let (tx, mut rx) = mpsc::channel(4);
            let (_, reply) = client.start(Ping {}, Some(tx)).await.unwrap();
            tokio::time::timeout(wait, reply).await.unwrap().unwrap().unwrap();
            assert_eq!(tokio::time::timeout(wait, rx.recv()).await.unwrap(), Some(vec![7; 10]));
        }
        let streams = client.shared.lock().unwrap().streams.len();
        assert!(streams <= 1, "{streams} finished downloads still registered");
        drop(client);
        server.abort();
    }
}
