//! A raw protocol connection, for tests that send what no client would.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};

use gamestore_protocol::{
    Call, Frame, FrameError, Hello, PROTOCOL_VERSION, RequestFrame, ServerMessage,
};

use crate::TIMEOUT;

/// A blocking connection speaking frames directly.
pub struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
    next_id: u32,
    /// Events that arrived while waiting for a reply, oldest first.
    queued: std::collections::VecDeque<ServerMessage>,
}

impl RawConn {
    pub fn connect(addr: SocketAddr) -> RawConn {
        let stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect to the lobby");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(TIMEOUT)).unwrap();
        RawConn { stream, buf: Vec::new(), next_id: 1, queued: Default::default() }
    }

    /// Connects from the loopback address `source` (any of 127.0.0.0/8),
    /// as a client on another machine would appear to the lobby.
    pub fn connect_from(addr: SocketAddr, source: std::net::Ipv4Addr) -> RawConn {
        use socket2::{Domain, Socket, Type};
        assert!(source.is_loopback(), "tests stay on loopback");
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        socket.bind(&SocketAddr::from((source, 0)).into()).expect("bind the source address");
        socket.connect_timeout(&addr.into(), TIMEOUT).expect("connect to the lobby");
        let stream: TcpStream = socket.into();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(TIMEOUT)).unwrap();
        RawConn { stream, buf: Vec::new(), next_id: 1, queued: Default::default() }
    }

    /// [`RawConn::connect_from`] and the HELLO handshake.
    pub fn hello_from(addr: SocketAddr, source: std::net::Ipv4Addr) -> RawConn {
        let mut conn = RawConn::connect_from(addr, source);
        let reply = conn.call(Hello { protocol: PROTOCOL_VERSION, client: "raw-test".into() });
        assert!(reply.is_ok(), "HELLO refused: {reply:?}");
        conn
    }

    /// Connects and completes the HELLO handshake.
    pub fn hello(addr: SocketAddr) -> RawConn {
        let mut conn = RawConn::connect(addr);
        let reply = conn.call(Hello { protocol: PROTOCOL_VERSION, client: "raw-test".into() });
        assert!(reply.is_ok(), "HELLO refused: {reply:?}");
        conn
    }

    /// The socket, for tests that change how it closes.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Writes raw bytes.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends a request and returns the matching reply's result (events in
    /// between are skipped).
    pub fn call<C: Call>(
        &mut self,
        request: C,
    ) -> Result<serde_json::Value, gamestore_protocol::WireError> {
        let id = self.next_id;
        self.next_id += 1;
        let json = RequestFrame { id, request: request.into() }.encode();
        self.send_bytes(&Frame::Message(json).to_bytes().expect("request fits in a frame"))
            .expect("send request");
        loop {
            match self.read_message() {
                Some(ServerMessage::Reply { id: got, result }) if got == id => return result,
                Some(ServerMessage::Reply { id: 0, result }) => return result,
                Some(event @ ServerMessage::Event(_)) => self.queued.push_back(event),
                Some(_) => continue,
                None => panic!("connection closed while waiting for the reply to request {id}"),
            }
        }
    }

    /// The next server message (events queued during a call first), or
    /// `None` once the server closed the connection.
    pub fn recv(&mut self) -> Option<ServerMessage> {
        match self.queued.pop_front() {
            Some(message) => Some(message),
            None => self.read_message(),
        }
    }

    fn read_message(&mut self) -> Option<ServerMessage> {
        match self.recv_frame()? {
            Frame::Message(json) => Some(ServerMessage::decode(&json).expect("server message")),
            frame => panic!("unexpected frame {frame:?}"),
        }
    }

    /// Reads until the server closes the connection, returning what it sent.
    pub fn recv_until_closed(&mut self) -> Vec<ServerMessage> {
        let mut messages = Vec::new();
        while let Some(message) = self.recv() {
            messages.push(message);
        }
        messages
    }

    /// Closes the writing side (the server sees end of stream).
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// A second handle on the socket, e.g. to write without reading.
    pub fn try_clone_socket(&self) -> TcpStream {
        self.stream.try_clone().expect("clone the socket")
    }

    /// The socket itself, for tests that read or write it directly (bytes
    /// already buffered here are dropped).
    pub fn into_socket(self) -> TcpStream {
        self.stream
    }
}

impl RawConn {
    /// Sends a request without waiting for its reply; returns its id.
    pub fn send_request<C: Call>(&mut self, request: C) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        let json = RequestFrame { id, request: request.into() }.encode();
        self.send_bytes(&Frame::Message(json).to_bytes().expect("request fits in a frame"))
            .expect("send request");
        id
    }

    /// Sends `data` as binary frames for request `id`.
    pub fn send_binary(&mut self, id: u32, data: &[u8]) {
        for piece in data.chunks(gamestore_protocol::MAX_CHUNK_LEN) {
            let frame = Frame::Binary { id, data: piece.to_vec() };
            self.send_bytes(&frame.to_bytes().expect("fits in a frame")).expect("send bytes");
        }
    }

    /// The next frame of any kind, or `None` once the server closed.
    pub fn recv_frame(&mut self) -> Option<Frame> {
        loop {
            match Frame::decode(&self.buf) {
                Ok((frame, used)) => {
                    self.buf.drain(..used);
                    return Some(frame);
                }
                Err(FrameError::Incomplete) => {}
                Err(e) => panic!("server sent a bad frame: {e}"),
            }
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("reading from the lobby failed (timeout?): {e}"),
            }
        }
    }

    /// The reply to request `id` followed by `size` bytes of binary frames
    /// for it, where `size` is read from the reply by `size_of`.
    pub fn reply_with_bytes(
        &mut self,
        id: u32,
        size_of: impl Fn(&serde_json::Value) -> u64,
    ) -> Result<(serde_json::Value, Vec<u8>), gamestore_protocol::WireError> {
        let reply = loop {
            match self.recv_frame() {
                Some(Frame::Message(json)) => {
                    match ServerMessage::decode(&json).expect("message") {
                        ServerMessage::Reply { id: got, result } if got == id => break result?,
                        _ => continue,
                    }
                }
                Some(Frame::Binary { .. }) => panic!("binary frame before the reply to {id}"),
                None => panic!("connection closed before the reply to {id}"),
            }
        };
        let size = size_of(&reply);
        let mut bytes = Vec::new();
        while (bytes.len() as u64) < size {
            match self.recv_frame() {
                Some(Frame::Binary { id: got, data }) if got == id => {
                    bytes.extend_from_slice(&data)
                }
                Some(other) => panic!("unexpected frame while reading bytes of {id}: {other:?}"),
                None => panic!("connection closed while reading bytes of {id}"),
            }
        }
        Ok((reply, bytes))
    }

    /// Uploads `zip` as a package the way a client would, bypassing every
    /// client-side check: GAME_UPLOAD, the bytes in chunks, GAME_UPLOAD_DONE.
    /// `declared_sha256` lets a test lie about the checksum.
    pub fn upload(
        &mut self,
        id: &str,
        version: &str,
        zip: &[u8],
        declared_sha256: &str,
    ) -> Result<serde_json::Value, gamestore_protocol::WireError> {
        use gamestore_protocol::{GameUpload, GameUploadDone};
        let upload_id = self.next_id;
        self.call(GameUpload {
            id: id.into(),
            version: version.into(),
            size: zip.len() as u64,
            sha256: declared_sha256.into(),
        })?;
        for chunk in zip.chunks(gamestore_protocol::MAX_CHUNK_LEN) {
            let frame = Frame::Binary { id: upload_id, data: chunk.to_vec() };
            self.send_bytes(&frame.to_bytes().expect("chunk fits in a frame")).expect("send chunk");
        }
        self.call(GameUploadDone { upload: upload_id })
    }

    /// Sends GAME_UPLOAD for `size` bytes and then only `send` of them.
    pub fn start_upload(&mut self, id: &str, version: &str, size: u64, send: &[u8]) {
        use gamestore_protocol::GameUpload;
        let upload_id = self.next_id;
        self.call(GameUpload {
            id: id.into(),
            version: version.into(),
            size,
            sha256: "0".repeat(64),
        })
        .expect("upload accepted");
        let frame = Frame::Binary { id: upload_id, data: send.to_vec() };
        self.send_bytes(&frame.to_bytes().expect("chunk fits in a frame")).expect("send chunk");
    }
}

impl RawConn {
    /// Reads messages until an event matching `want` arrives (replies and
    /// other events are skipped); panics if the connection closes first or
    /// nothing matches within the test timeout.
    #[track_caller]
    pub fn expect_event<T>(
        &mut self,
        what: &str,
        mut want: impl FnMut(&gamestore_protocol::Event) -> Option<T>,
    ) -> T {
        let deadline = std::time::Instant::now() + TIMEOUT;
        loop {
            assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
            match self.recv() {
                Some(ServerMessage::Event(event)) => {
                    if let Some(found) = want(&event) {
                        return found;
                    }
                }
                Some(_) => {}
                None => panic!("connection closed while waiting for {what}"),
            }
        }
    }
}
