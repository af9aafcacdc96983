//! Content-defined chunking (FastCDC 2020) and BLAKE3 chunk hashes.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::str::FromStr;

use fastcdc::v2020::{FastCDC, StreamCDC};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::manifest::ManifestFile;
use crate::PackagedFile;

/// Smallest chunk FastCDC cuts (except a file's last chunk).
pub const MIN_CHUNK: u32 = 64 * 1024;
/// Average chunk size FastCDC aims at.
pub const AVG_CHUNK: u32 = 256 * 1024;
/// Largest chunk: also the most a manifest may name for one chunk.
pub const MAX_CHUNK: u32 = 1024 * 1024;

/// The BLAKE3 hash of a chunk's bytes: its name everywhere. Hex in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkHash(pub [u8; 32]);

impl ChunkHash {
    /// 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for ChunkHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ChunkHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChunkHash({})", self.to_hex())
    }
}

impl FromStr for ChunkHash {
    type Err = String;

    /// Parses 64 hex digits (lowercase as written; uppercase accepted).
    fn from_str(s: &str) -> Result<ChunkHash, String> {
        let mut out = [0u8; 32];
        if s.len() != 64 {
            return Err(format!("a chunk hash is 64 hex digits, not {} characters", s.len()));
        }
        hex::decode_to_slice(s, &mut out).map_err(|e| format!("bad chunk hash: {e}"))?;
        Ok(ChunkHash(out))
    }
}

impl Serialize for ChunkHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ChunkHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ChunkHash, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One chunk of a file: its hash and its (uncompressed) size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChunkRef {
    pub hash: ChunkHash,
    pub size: u32,
}

/// BLAKE3 of `data`.
pub fn hash_chunk(data: &[u8]) -> ChunkHash {
    ChunkHash(*blake3::hash(data).as_bytes())
}

/// [`hash_chunk`] of the bytes of `parts` one after the other, without
/// joining them first (a chunk received in several frames).
pub fn hash_chunk_parts(parts: &[Vec<u8>]) -> ChunkHash {
    let mut hasher = blake3::Hasher::new();
    for part in parts {
        hasher.update(part);
    }
    ChunkHash(*hasher.finalize().as_bytes())
}

/// True when `chunk` is all zero bytes, known from its hash and size alone
/// (see [`zeros_hash`]). A file's zero chunks need not be written where the
/// file was created at its size: its holes already read as zeros, and stay
/// sparse.
pub fn is_zero_chunk(chunk: &ChunkRef) -> bool {
    chunk.size != 0 && chunk.size <= MAX_CHUNK && chunk.hash == zeros_hash(chunk.size)
}

/// The BLAKE3 hash of `len` zero bytes (`len` at most [`MAX_CHUNK`]), in a
/// few microseconds: the tree's whole subtrees of zeros are computed once
/// per process (about 2,000 chaining values for a 1 MiB chunk) and merged,
/// so that a manifest whose every chunk has another size costs nothing like
/// hashing that many zeros.
pub fn zeros_hash(len: u32) -> ChunkHash {
    use blake3::hazmat::{Mode, left_subtree_len, merge_subtrees_root};
    const LEAF: u64 = ZERO_LEAF;
    let len = u64::from(len.min(MAX_CHUNK));
    if len <= LEAF {
        return ChunkHash(*blake3::hash(&[0u8; LEAF as usize][..len as usize]).as_bytes());
    }
    let left = left_subtree_len(len);
    let cvs = &mut ZERO_SUBTREES.lock().expect("zero subtrees");
    let root =
        merge_subtrees_root(&zeros_cv(cvs, 0, left), &zeros_cv(cvs, left, len - left), Mode::Hash);
    ChunkHash(*root.as_bytes())
}

/// BLAKE3's chunk: the leaves of its tree.
const ZERO_LEAF: u64 = 1024;

/// Chaining values of whole subtrees of zeros, by (offset, length).
static ZERO_SUBTREES: std::sync::Mutex<
    std::collections::BTreeMap<(u64, u64), blake3::hazmat::ChainingValue>,
> = std::sync::Mutex::new(std::collections::BTreeMap::new());

/// The chaining value of the non-root subtree of `len` zeros at `offset`.
fn zeros_cv(
    cache: &mut std::collections::BTreeMap<(u64, u64), blake3::hazmat::ChainingValue>,
    offset: u64,
    len: u64,
) -> blake3::hazmat::ChainingValue {
    use blake3::hazmat::{HasherExt, Mode, left_subtree_len, merge_subtrees_non_root};
    const LEAF: u64 = ZERO_LEAF;
    if let Some(cv) = cache.get(&(offset, len)) {
        return *cv;
    }
    let cv = if len <= LEAF {
        blake3::Hasher::new()
            .set_input_offset(offset)
            .update(&[0u8; LEAF as usize][..len as usize])
            .finalize_non_root()
    } else {
        let left = left_subtree_len(len);
        let (l, r) = (zeros_cv(cache, offset, left), zeros_cv(cache, offset + left, len - left));
        merge_subtrees_non_root(&l, &r, Mode::Hash)
    };
    // Only whole subtrees recur from one size to the next; bounded by the
    // largest chunk's tree.
    if len.is_power_of_two() && len >= LEAF {
        cache.insert((offset, len), cv);
    }
    cv
}

/// The chunks of a buffer held in memory.
pub fn chunk_bytes(data: &[u8]) -> Vec<ChunkRef> {
    FastCDC::new(data, MIN_CHUNK, AVG_CHUNK, MAX_CHUNK)
        .map(|c| {
            let bytes = &data[c.offset..c.offset + c.length];
            ChunkRef { hash: hash_chunk(bytes), size: c.length as u32 }
        })
        .collect()
}

/// The chunks of everything `reader` yields, read with bounded memory.
pub fn chunk_reader(reader: impl Read) -> io::Result<Vec<ChunkRef>> {
    let mut out = Vec::new();
    for chunk in StreamCDC::new(reader, MIN_CHUNK, AVG_CHUNK, MAX_CHUNK) {
        let chunk = chunk.map_err(|e| match e {
            fastcdc::v2020::Error::IoError(e) => e,
            other => io::Error::other(other.to_string()),
        })?;
        out.push(ChunkRef { hash: hash_chunk(&chunk.data), size: chunk.length as u32 });
    }
    Ok(out)
}

/// The chunks of one file.
pub fn chunk_file(path: &Path) -> io::Result<Vec<ChunkRef>> {
    chunk_reader(File::open(path)?)
}

/// Chunks the package files `files` of `dir` (as [`crate::package_files`]
/// lists them) on a small pool of threads, one per available core, and
/// returns the manifest entries in the same order as `files`. A file whose
/// size changed while it was read is an error: the package must hold still.
pub fn chunk_folder(dir: &Path, files: &[PackagedFile]) -> io::Result<Vec<ManifestFile>> {
    crate::map_parallel(files, usize::MAX, |file| chunk_one(dir, file))
}

fn chunk_one(dir: &Path, file: &PackagedFile) -> io::Result<ManifestFile> {
    let path = dir.join(&file.path);
    let handle = File::open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let executable = handle.metadata()?.permissions().mode() & 0o111 != 0;
    let chunks = chunk_reader(handle)?;
    let size: u64 = chunks.iter().map(|c| u64::from(c.size)).sum();
    if size != file.size {
        return Err(io::Error::other(format!(
            "{} changed while it was read ({} bytes, then {size})",
            path.display(),
            file.size
        )));
    }
    Ok(ManifestFile { path: file.path.clone(), size, executable, chunks })
}
