//! Reading frames from an async byte stream.
//!
//! [`FrameReader`] buffers what the socket delivers and hands out whole
//! frames. A clean end of stream between frames is `Ok(None)`; an end of
//! stream inside a frame is [`ReadError::UnexpectedEof`].

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::frame::{Frame, FrameError};

/// Initial read buffer size; idle connections keep no more than this.
const INITIAL_BUFFER: usize = 4 * 1024;

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
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R) -> FrameReader<R> {
        FrameReader { inner, buf: Vec::new() }
    }

    /// The next frame, or `None` at a clean end of stream.
    pub async fn read_frame(&mut self) -> Result<Option<Frame>, ReadError> {
        loop {
            match Frame::decode(&self.buf) {
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
}

/// How many more bytes the frame at the start of `buf` needs, when known.
fn needed(buf: &[u8]) -> usize {
    if buf.len() < 4 {
        return 4 - buf.len();
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    (4 + len).saturating_sub(buf.len())
}

/// Writes one frame and flushes it.
pub async fn write_frame<W: AsyncWrite + Unpin>(writer: &mut W, frame: &Frame) -> io::Result<()> {
    writer.write_all(&frame.to_bytes()).await?;
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
        let bytes: Vec<u8> = frames.iter().flat_map(Frame::to_bytes).collect();
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
    async fn eof_inside_a_frame_is_an_error() {
        let bytes = Frame::Message(b"{\"a\":1}".to_vec()).to_bytes();
        let mut reader = FrameReader::new(&bytes[..bytes.len() - 1]);
        assert!(matches!(reader.read_frame().await, Err(ReadError::UnexpectedEof)));
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
