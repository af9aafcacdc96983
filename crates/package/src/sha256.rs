//! SHA-256 checksums as lowercase hex strings, computed while streaming.
//!
//! Packages and files are hashed on the way through (while packing, extracting,
//! uploading or downloading) so that no file is read twice and memory stays
//! bounded by a fixed buffer.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

/// Size of the buffer used to stream files through the hasher.
pub(crate) const BUFFER_SIZE: usize = 64 * 1024;

/// Hashes the file at `path`, returning its SHA-256 as lowercase hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let (digest, _size) = sha256_reader(File::open(path)?)?;
    Ok(digest)
}

/// Hashes everything `reader` yields, returning the lowercase hex SHA-256 and the
/// number of bytes read.
pub fn sha256_reader(reader: impl Read) -> io::Result<(String, u64)> {
    let mut hashing = Sha256Reader::new(reader);
    let mut buf = vec![0u8; BUFFER_SIZE];
    loop {
        match hashing.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((hashing.hex_digest(), hashing.bytes_read()))
}

/// Hex SHA-256 of an in-memory byte slice.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A writer that hashes everything written through it to `inner`.
///
/// Use `Sha256Writer::new(io::sink())` to hash without keeping the bytes.
#[derive(Debug)]
pub struct Sha256Writer<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Sha256Writer<W> {
    /// Wraps `inner`; nothing has been hashed yet.
    pub fn new(inner: W) -> Self {
        Sha256Writer { inner, hasher: Sha256::new(), bytes: 0 }
    }

    /// Wraps `inner`, which already holds the bytes `existing` yields (a
    /// download resumed): those are hashed, not written again, and the
    /// digest goes on from them.
    pub fn resuming(inner: W, existing: impl Read) -> io::Result<Self> {
        let mut before = Sha256Writer::new(io::sink());
        io::copy(&mut { existing }, &mut before)?;
        Ok(Sha256Writer { inner, hasher: before.hasher, bytes: before.bytes })
    }

    /// Number of bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// Lowercase hex SHA-256 of the bytes written so far.
    pub fn hex_digest(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }

    /// The wrapped writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for Sha256Writer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Hash only what the inner writer accepted, so the digest matches the output.
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes everything read through it from `inner`.
#[derive(Debug)]
pub struct Sha256Reader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Sha256Reader<R> {
    /// Wraps `inner`; nothing has been hashed yet.
    pub fn new(inner: R) -> Self {
        Sha256Reader { inner, hasher: Sha256::new(), bytes: 0 }
    }

    /// Number of bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// Lowercase hex SHA-256 of the bytes read so far.
    pub fn hex_digest(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for Sha256Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO_WORLD: &str = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";

    #[test]
    fn known_digest_by_every_route() {
        assert_eq!(sha256_bytes(b"hello world"), HELLO_WORLD);

        let (digest, size) = sha256_reader(&b"hello world"[..]).unwrap();
        assert_eq!((digest.as_str(), size), (HELLO_WORLD, 11));

        let mut writer = Sha256Writer::new(Vec::new());
        writer.write_all(b"hello ").unwrap();
        writer.write_all(b"world").unwrap();
        assert_eq!(writer.hex_digest(), HELLO_WORLD);
        assert_eq!(writer.bytes_written(), 11);
        assert_eq!(writer.into_inner(), b"hello world");

        let mut resumed = Sha256Writer::resuming(Vec::new(), &b"hello "[..]).unwrap();
        resumed.write_all(b"world").unwrap();
        assert_eq!(resumed.hex_digest(), HELLO_WORLD);
        assert_eq!(resumed.bytes_written(), 11);
        assert_eq!(resumed.into_inner(), b"world", "what was there is not written again");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello world").unwrap();
        assert_eq!(sha256_file(&path).unwrap(), HELLO_WORLD);
    }

    #[test]
    fn empty_input() {
        assert_eq!(
            sha256_bytes(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
