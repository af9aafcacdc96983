//! Reading frames from an async byte stream.
//!
//! [`FrameReader`] buffers what the socket delivers and hands out whole
//! frames. A clean end of stream between frames is `Ok(None)`; an end of
//! stream inside a frame is [`ReadError::UnexpectedEof`].
//!
//! Small frames are cut out of a shared buffer. The payload of a large binary
//! frame (a transfer chunk) is read from the socket straight into its own
//! buffer once the frame's header has arrived, so transfer bytes are copied
//! once, not again out of the shared buffer.

use std::io;
use std::os::fd::RawFd;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::frame::{Frame, FrameError, MAX_FRAME_LEN};

/// Initial read buffer size; idle connections keep no more than this.
const INITIAL_BUFFER: usize = 4 * 1024;
/// Binary frames with at least this many payload bytes are read straight
/// into their own buffer.
const DIRECT_PAYLOAD: usize = 16 * 1024;
/// Header bytes of a binary frame: length, kind, request id.
const BINARY_HEADER: usize = 9;

/// Why no frame could be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("bad frame: {0}")]
    Frame(#[from] FrameError),
    #[error("connection closed in the middle of a frame")]
    UnexpectedEof,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Reads whole frames from `R`.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// A large binary frame being read: its request id, payload length, and
    /// the payload so far. Kept here (not in a local) so that a cancelled
    /// `read_frame` loses nothing.
    direct: Option<(u32, usize, Vec<u8>)>,
    /// Longest frame accepted; at most [`MAX_FRAME_LEN`].
    max_frame_len: usize,
    /// The TCP socket `inner` reads straight from, and the low-water mark
    /// last set on it (see [`FrameReader::set_low_water_socket`]).
    low_water: Option<(RawFd, usize)>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R) -> FrameReader<R> {
        FrameReader {
            inner,
            buf: Vec::new(),
            direct: None,
            max_frame_len: MAX_FRAME_LEN,
            low_water: None,
        }
    }

    /// Accepts frames of at most `max` bytes from now on (capped at
    /// [`MAX_FRAME_LEN`]); a longer one is refused from its header, before
    /// its body is buffered. The lobby keeps this small until HELLO.
    pub fn set_max_frame_len(&mut self, max: usize) {
        self.max_frame_len = max.min(MAX_FRAME_LEN);
    }

    /// Tells the reader that `inner` reads straight from the TCP socket
    /// `fd`, with no buffer of its own in between (a plain socket, not
    /// TLS). While the payload of a large binary frame is awaited, the
    /// socket's receive low-water mark is then raised to what the frame
    /// still needs (up to [`LOW_WATER`]), so that the kernel wakes the
    /// reader once per large read instead of once per arriving segment.
    /// `fd` must stay open as long as the reader.
    pub fn set_low_water_socket(&mut self, fd: RawFd) {
        self.low_water = Some((fd, 1));
    }

    /// The next frame, or `None` at a clean end of stream.
    pub async fn read_frame(&mut self) -> Result<Option<Frame>, ReadError> {
        loop {
            if let Some((id, len, data)) = &mut self.direct {
                while data.len() < *len {
                    let want = *len - data.len();
                    set_low_water(&mut self.low_water, want.min(LOW_WATER));
                    if (&mut self.inner).take(want as u64).read_buf(data).await? == 0 {
                        return Err(ReadError::UnexpectedEof);
                    }
                }
                set_low_water(&mut self.low_water, 1);
                let (id, data) = (*id, std::mem::take(data));
                self.direct = None;
                return Ok(Some(Frame::Binary { id, data }));
            }
            self.start_direct();
            if self.direct.is_some() {
                continue;
            }
            match Frame::decode_limited(&self.buf, self.max_frame_len) {
                Ok((frame, used)) => {
                    self.buf.drain(..used);
                    if self.buf.is_empty() && self.buf.capacity() > 4 * INITIAL_BUFFER {
                        // A large transfer is over: give the memory back.
                        self.buf = Vec::new();
                    }
                    return Ok(Some(frame));
                }
                Err(FrameError::Incomplete) => {}
                Err(e) => return Err(e.into()),
            }
            // Read at least what the current frame still needs, in one go
            // when the length is known.
            let want = needed(&self.buf).max(INITIAL_BUFFER);
            self.buf.reserve(want);
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() { Ok(None) } else { Err(ReadError::UnexpectedEof) };
            }
        }
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// When the buffer starts with the header of a large binary frame that
    /// has not fully arrived, moves its payload so far into its own buffer
    /// and leaves the rest to be read straight into it.
    fn start_direct(&mut self) {
        if self.buf.len() < BINARY_HEADER || self.buf[4] != crate::frame::KIND_BINARY {
            return;
        }
        let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        // Bad lengths are left to `Frame::decode` to report; whole frames to
        // be cut out of the buffer as usual.
        if !(BINARY_HEADER - 4 + DIRECT_PAYLOAD..=self.max_frame_len).contains(&len)
            || self.buf.len() >= 4 + len
        {
            return;
        }
        let id = u32::from_be_bytes([self.buf[5], self.buf[6], self.buf[7], self.buf[8]]);
        let payload = len - (BINARY_HEADER - 4);
        let mut data = Vec::with_capacity(payload);
        data.extend_from_slice(&self.buf[BINARY_HEADER..]);
        self.buf.clear();
        if self.buf.capacity() > 4 * INITIAL_BUFFER {
            self.buf = Vec::new();
        }
        self.direct = Some((id, payload, data));
    }
}

/// Largest receive low-water mark a reader sets: a few segments of the
/// loopback interface, small enough to keep the hashing of a frame's start
/// overlapped with the arrival of its end.
const LOW_WATER: usize = 256 * 1024;

/// Sets the socket's `SO_RCVLOWAT` to `bytes` when it differs from the
/// value last set. A failure only loses the saving: the mark is forgotten.
fn set_low_water(low_water: &mut Option<(RawFd, usize)>, bytes: usize) {
    let Some((fd, current)) = low_water else { return };
    if *current == bytes {
        return;
    }
    let value = bytes as libc::c_int;
    // SAFETY: an int option on a descriptor the owner keeps open.
    let done = unsafe {
        libc::setsockopt(
            *fd,
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if done == 0 {
        *current = bytes;
    } else {
        *low_water = None;
    }
}

/// How many more bytes the frame at the start of `buf` needs, when known.
fn needed(buf: &[u8]) -> usize {
    if buf.len() < 4 {
        return 4 - buf.len();
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    (4 + len).saturating_sub(buf.len())
}

/// Writes one frame and flushes it. A frame over the size limit is an
/// `InvalidInput` error and nothing is written.
pub async fn write_frame<W: AsyncWrite + Unpin>(writer: &mut W, frame: &Frame) -> io::Result<()> {
    let bytes = frame.to_bytes().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    writer.write_all(&bytes).await?;
    writer.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_frames_split_anywhere() {
        let frames = vec![
            Frame::Message(b"{\"a\":1}".to_vec()),
            Frame::Binary { id: 9, data: vec![7; 100_000] },
            Frame::Message(b"{}".to_vec()),
        ];
        let bytes: Vec<u8> = frames.iter().flat_map(|f| f.to_bytes().unwrap()).collect();
        // A reader that delivers the bytes 1000 at a time.
        let (mut tx, rx) = tokio::io::duplex(1000);
        let writer = tokio::spawn(async move {
            for chunk in bytes.chunks(777) {
                tx.write_all(chunk).await.unwrap();
            }
        });
        let mut reader = FrameReader::new(rx);
        for expected in &frames {
            assert_eq!(reader.read_frame().await.unwrap().as_ref(), Some(expected));
        }
        writer.await.unwrap();
        assert!(reader.read_frame().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn large_frames_back_to_back_with_messages() {
        let frames: Vec<Frame> = (0..6u8)
            .map(|i| {
                if i % 2 == 0 {
                    Frame::Binary { id: i.into(), data: vec![i; 200_000 + i as usize] }
                } else {
                    Frame::Message(format!("{{\"n\":{i}}}").into_bytes())
                }
            })
            .collect();
        let bytes: Vec<u8> = frames.iter().flat_map(|f| f.to_bytes().unwrap()).collect();
        for chunk in [1, 9, 4096, 65_536, 300_000] {
            let (mut tx, rx) = tokio::io::duplex(chunk.max(64));
            let bytes = bytes.clone();
            let writer = tokio::spawn(async move {
                for piece in bytes.chunks(chunk) {
                    tx.write_all(piece).await.unwrap();
                }
            });
            let mut reader = FrameReader::new(rx);
            for expected in &frames {
                assert_eq!(
                    reader.read_frame().await.unwrap().as_ref(),
                    Some(expected),
                    "chunk {chunk}"
                );
            }
            writer.await.unwrap();
            assert!(reader.read_frame().await.unwrap().is_none());
        }
    }

    #[tokio::test]
    async fn a_cancelled_read_loses_nothing() {
        let frame = Frame::Binary { id: 5, data: (0..100_000u32).map(|i| i as u8).collect() };
        let bytes = frame.to_bytes().unwrap();
        let (mut tx, rx) = tokio::io::duplex(1 << 20);
        let mut reader = FrameReader::new(rx);
        tx.write_all(&bytes[..50_000]).await.unwrap();
        let cut = tokio::time::timeout(std::time::Duration::from_millis(20), reader.read_frame());
        assert!(cut.await.is_err(), "the frame is not complete yet");
        tx.write_all(&bytes[50_000..]).await.unwrap();
        assert_eq!(reader.read_frame().await.unwrap(), Some(frame));
    }

    fn low_water_of(fd: RawFd) -> libc::c_int {
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: an int option read from an open socket into a local.
        let got = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                (&raw mut value).cast(),
                &raw mut len,
            )
        };
        assert_eq!(got, 0, "getsockopt: {}", io::Error::last_os_error());
        value
    }

    #[tokio::test]
    async fn a_low_water_socket_still_reads_a_frame_whose_tail_comes_late() {
        use std::os::fd::AsRawFd;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut tx = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (rx, _) = listener.accept().await.unwrap();
        let fd = rx.as_raw_fd();
        let mut reader = FrameReader::new(rx);
        reader.set_low_water_socket(fd);
        let frame =
            Frame::Binary { id: 3, data: (0..700_000u32).map(|i| (i % 251) as u8).collect() };
        let bytes = frame.to_bytes().unwrap();
        let (head, tail) = bytes.split_at(bytes.len() - 10);
        tx.write_all(head).await.unwrap();
        let cut = tokio::time::timeout(std::time::Duration::from_millis(50), reader.read_frame());
        assert!(cut.await.is_err(), "the frame is not complete yet");
        assert!(low_water_of(fd) <= LOW_WATER as libc::c_int);
        // Ten bytes, far below the mark set at the frame's start: the
        // reader must have lowered it to what the frame still needs.
        tx.write_all(tail).await.unwrap();
        let wait = std::time::Duration::from_secs(10);
        let got = tokio::time::timeout(wait, reader.read_frame()).await;
        assert_eq!(got.expect("the tail wakes the reader").unwrap(), Some(frame));
        assert_eq!(low_water_of(fd), 1, "the mark is back to one byte between frames");
        // A small message after it is read at once.
        tx.write_all(&Frame::Message(b"{}".to_vec()).to_bytes().unwrap()).await.unwrap();
        let got = tokio::time::timeout(wait, reader.read_frame()).await;
        assert_eq!(
            got.expect("a message wakes the reader").unwrap(),
            Some(Frame::Message(b"{}".to_vec()))
        );
    }

    #[tokio::test]
    async fn eof_inside_a_large_frame_is_an_error() {
        let bytes = Frame::Binary { id: 1, data: vec![1; 100_000] }.to_bytes().unwrap();
        let mut reader = FrameReader::new(&bytes[..60_000]);
        assert!(matches!(reader.read_frame().await, Err(ReadError::UnexpectedEof)));
    }

    #[tokio::test]
    async fn eof_inside_a_frame_is_an_error() {
        let bytes = Frame::Message(b"{\"a\":1}".to_vec()).to_bytes().unwrap();
        let mut reader = FrameReader::new(&bytes[..bytes.len() - 1]);
        assert!(matches!(reader.read_frame().await, Err(ReadError::UnexpectedEof)));
    }

    #[tokio::test]
    async fn a_lowered_limit_refuses_what_the_protocol_limit_allows() {
        let big = Frame::Binary { id: 1, data: vec![0; 70_000] }.to_bytes().unwrap();
        let mut reader = FrameReader::new(&big[..]);
        reader.set_max_frame_len(64 * 1024);
        assert!(matches!(
            reader.read_frame().await,
            Err(ReadError::Frame(FrameError::OverLimit { len: 70_005, max: 65_536 }))
        ));
        let mut reader = FrameReader::new(&big[..]);
        assert!(matches!(reader.read_frame().await, Ok(Some(Frame::Binary { .. }))));
    }

    #[tokio::test]
    async fn oversized_length_is_refused_before_buffering() {
        let bytes = [0x7f, 0xff, 0xff, 0xff, 1];
        let mut reader = FrameReader::new(&bytes[..]);
        assert!(matches!(
            reader.read_frame().await,
            Err(ReadError::Frame(FrameError::TooLarge(_)))
        ));
    }
}
