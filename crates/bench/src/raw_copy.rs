//! The physical reference for transfers: the same number of bytes copied
//! over a plain loopback TCP socket, in the same chunk size the protocol
//! uses, with nothing else done to them, or with the receiver hashing every
//! byte with BLAKE3 as it arrives: the least a verified download does.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use gamestore_protocol::MAX_CHUNK_LEN;

/// What the receiving end of [`loopback_copy`] does with the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receiver {
    /// Nothing.
    Drops,
    /// Hashes each buffer it read (BLAKE3) on the reading thread, as soon
    /// as it is read.
    Hashes,
}

/// Copies `bytes` bytes from one thread to another over 127.0.0.1 and
/// returns the time from connecting to the last byte read (and hashed).
pub fn loopback_copy(bytes: u64, receiver: Receiver) -> anyhow::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0").context("bind a loopback socket")?;
    let addr = listener.local_addr()?;
    let reader = std::thread::spawn(move || -> std::io::Result<(u64, Instant)> {
        let (mut socket, _) = listener.accept()?;
        let mut buf = vec![0u8; MAX_CHUNK_LEN];
        let mut got = 0u64;
        let mut digest = 0u8;
        while got < bytes {
            match socket.read(&mut buf)? {
                0 => break,
                n => {
                    got += n as u64;
                    if receiver == Receiver::Hashes {
                        digest ^= gamestore_package::chunked::hash_chunk(&buf[..n]).0[0];
                    }
                }
            }
        }
        std::hint::black_box(digest);
        Ok((got, Instant::now()))
    });
    let started = Instant::now();
    let mut socket = TcpStream::connect(addr).context("connect over loopback")?;
    socket.set_nodelay(true)?;
    let chunk = vec![0x5au8; MAX_CHUNK_LEN];
    let mut sent = 0u64;
    while sent < bytes {
        let n = (bytes - sent).min(chunk.len() as u64) as usize;
        socket.write_all(&chunk[..n])?;
        sent += n as u64;
    }
    let (got, finished) = reader.join().expect("reader thread")?;
    if got != bytes {
        bail!("the loopback copy moved {got} of {bytes} bytes");
    }
    Ok(finished - started)
}

#[cfg(test)]
mod tests {
    use super::{Receiver, loopback_copy};

    #[test]
    fn copies_every_byte() {
        for receiver in [Receiver::Drops, Receiver::Hashes] {
            let took = loopback_copy(3 * 1024 * 1024 + 17, receiver).unwrap();
            assert!(took.as_nanos() > 0);
        }
    }
}
