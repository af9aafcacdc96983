//! The framing every sample game speaks: UTF-8 text lines ending in `\n` over
//! TCP, at most [`MAX_LINE`] bytes each.
//!
//! [`LineReader`] keeps a partial line across read timeouts ("need more bytes"
//! is not a failure), returns `Ok(None)` on a clean end of stream between
//! lines, and refuses over-long or non-UTF-8 lines with `InvalidData`, so a
//! peer sending garbage costs at most one buffer. [`LineSender`] is a cloneable
//! writer that keeps each line whole when several threads send.

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest accepted line, newline included.
pub const MAX_LINE: usize = 4096;

/// Reads lines from a TCP stream.
#[derive(Debug)]
pub struct LineReader {
    inner: BufReader<TcpStream>,
    partial: Vec<u8>,
}

impl LineReader {
    /// Wraps a stream (usually a `try_clone` of the one used for writing).
    pub fn new(stream: TcpStream) -> LineReader {
        LineReader { inner: BufReader::new(stream), partial: Vec::new() }
    }

    /// Sets the read timeout of the underlying socket (`None` blocks).
    pub fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.get_ref().set_read_timeout(timeout)
    }

    /// Whether the peer still holds the connection, without blocking: a peek
    /// that sees the end of stream (or an error) means it left. Only call it
    /// while no other thread reads this stream.
    pub fn peek_alive(&self) -> bool {
        if !self.inner.buffer().is_empty() {
            return true;
        }
        let stream = self.inner.get_ref();
        if stream.set_nonblocking(true).is_err() {
            return false;
        }
        let alive = match stream.peek(&mut [0u8; 1]) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
        };
        let _ = stream.set_nonblocking(false);
        alive
    }

    /// Reads the next line without its line ending.
    ///
    /// Returns `Ok(None)` on a clean end of stream; a timeout surfaces as an
    /// error of kind `WouldBlock` or `TimedOut` (use [`is_timeout`]) and keeps
    /// what was read so far for the next call; a stream ending inside a line
    /// is `UnexpectedEof`.
    pub fn read_line(&mut self) -> io::Result<Option<String>> {
        loop {
            let available = match self.inner.fill_buf() {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return if self.partial.is_empty() {
                    Ok(None)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed inside a line",
                    ))
                };
            }
            let (taken, complete) = match available.iter().position(|&b| b == b'\n') {
                Some(end) => (end + 1, true),
                None => (available.len(), false),
            };
            if self.partial.len() + taken > MAX_LINE {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
            }
            self.partial.extend_from_slice(&available[..taken]);
            self.inner.consume(taken);
            if complete {
                let mut bytes = std::mem::take(&mut self.partial);
                bytes.pop();
                if bytes.last() == Some(&b'\r') {
                    bytes.pop();
                }
                return String::from_utf8(bytes)
                    .map(Some)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "line is not UTF-8"));
            }
        }
    }
}

/// Whether an I/O error is a read or write timeout rather than a failure.
pub fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Sends whole lines on a TCP stream; clones share the stream.
#[derive(Debug, Clone)]
pub struct LineSender {
    stream: Arc<Mutex<TcpStream>>,
}

impl LineSender {
    /// How long one line may take to leave before the peer counts as gone.
    pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

    /// Wraps a stream, turning off Nagle's delay (the games send small
    /// messages that should leave at once) and setting a write timeout.
    pub fn new(stream: TcpStream) -> io::Result<LineSender> {
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(Self::WRITE_TIMEOUT))?;
        Ok(LineSender { stream: Arc::new(Mutex::new(stream)) })
    }

    /// Sends `line` followed by `\n`. The line must not contain a newline.
    pub fn send(&self, line: &str) -> io::Result<()> {
        debug_assert!(!line.contains('\n'), "protocol lines carry no newline: {line:?}");
        let mut buffer = Vec::with_capacity(line.len() + 1);
        buffer.extend_from_slice(line.as_bytes());
        buffer.push(b'\n');
        let mut stream = self.stream.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        stream.write_all(&buffer)
    }

    /// Closes both directions; the reader on the other side sees the end.
    pub fn shutdown(&self) {
        let stream = self.stream.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }
}

/// Splits `text` at the first space: `("MOVE", "3")` for `"MOVE 3"`.
pub fn split_word(text: &str) -> (&str, &str) {
    match text.split_once(' ') {
        Some((word, rest)) => (word, rest),
        None => (text, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    #[test]
    fn reads_lines_across_writes_and_timeouts() {
        let (mut client, server) = pair();
        let mut reader = LineReader::new(server);
        reader.set_timeout(Some(Duration::from_millis(50))).unwrap();
        client.write_all(b"HEL").unwrap();
        let error = reader.read_line().unwrap_err();
        assert!(is_timeout(&error), "{error:?}");
        client.write_all(b"LO a b\r\nsecond\n").unwrap();
        assert_eq!(reader.read_line().unwrap().as_deref(), Some("HELLO a b"));
        assert_eq!(reader.read_line().unwrap().as_deref(), Some("second"));
        drop(client);
        assert_eq!(reader.read_line().unwrap(), None);
    }

    #[test]
    fn refuses_garbage() {
        let (mut client, server) = pair();
        let mut reader = LineReader::new(server);
        client.write_all(&[0xff, 0xfe, b'\n']).unwrap();
        assert_eq!(reader.read_line().unwrap_err().kind(), io::ErrorKind::InvalidData);
        client.write_all(&vec![b'x'; MAX_LINE + 10]).unwrap();
        assert_eq!(reader.read_line().unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn eof_inside_a_line_is_an_error() {
        let (mut client, server) = pair();
        let mut reader = LineReader::new(server);
        client.write_all(b"half").unwrap();
        drop(client);
        assert_eq!(reader.read_line().unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn sender_writes_whole_lines() {
        let (client, server) = pair();
        let sender = LineSender::new(client).unwrap();
        let mut reader = LineReader::new(server);
        sender.clone().send("one").unwrap();
        sender.send("two words").unwrap();
        assert_eq!(reader.read_line().unwrap().as_deref(), Some("one"));
        assert_eq!(reader.read_line().unwrap().as_deref(), Some("two words"));
        assert_eq!(split_word("MOVE 3"), ("MOVE", "3"));
        assert_eq!(split_word("QUIT"), ("QUIT", ""));
    }
}
