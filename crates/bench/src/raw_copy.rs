//! The physical reference for transfers: the same number of bytes copied
//! over a plain loopback TCP socket, in the same chunk size the protocol
//! uses, with nothing else done to them.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use gamestore_protocol::MAX_CHUNK_LEN;

/// Copies `bytes` bytes from one thread to another over 127.0.0.1 and
/// returns the time from connecting to the last byte read.
pub fn loopback_copy(bytes: u64) -> anyhow::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0").context("bind a loopback socket")?;
    let addr = listener.local_addr()?;
    let reader = std::thread::spawn(move || -> std::io::Result<(u64, Instant)> {
        let (mut socket, _) = listener.accept()?;
        let mut buf = vec![0u8; MAX_CHUNK_LEN];
        let mut got = 0u64;
        while got < bytes {
            match socket.read(&mut buf)? {
                0 => break,
                n => got += n as u64,
            }
        }
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
    #[test]
    fn copies_every_byte() {
        let took = super::loopback_copy(3 * 1024 * 1024 + 17).unwrap();
        assert!(took.as_nanos() > 0);
    }
}
