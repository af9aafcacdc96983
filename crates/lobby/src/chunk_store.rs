//! The chunk store: every distinct chunk of every chunked version, once.
//!
//! A chunk is a file `chunks/<first 2 hex>/<hash hex>` holding its raw
//! bytes, or `<hash hex>.z` holding one zstd frame (kept only when zstd-1
//! shrinks the chunk by an eighth; a chunk its uploader sent raw is stored
//! raw, the uploader having tried zstd already). Chunks are written to `chunks/tmp/` and
//! renamed into place, so a present chunk is always complete; a chunk
//! already present is not written again. Durability comes at a version's
//! commit ([`crate::games_area::GamesArea::commit`] syncs the filesystem)
//! before its row is written. At start, chunks no version's manifest names
//! and older than a day are removed (younger ones serve resumed publishes).

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use gamestore_package::chunked::{ChunkHash, compress_chunk};

/// Unreferenced chunks younger than this survive a start.
const GC_AGE: Duration = Duration::from_secs(24 * 3600);

/// Where a stored chunk's bytes are: `stored_size` bytes of `path` from
/// `offset`, a zstd frame if `compressed`.
#[derive(Debug, Clone)]
pub struct StoredChunk {
    pub path: PathBuf,
    pub offset: u64,
    pub compressed: bool,
    pub stored_size: u64,
}

#[derive(Debug)]
pub struct ChunkStore {
    root: PathBuf,
    tmp: PathBuf,
    next_tmp: AtomicU64,
}

impl ChunkStore {
    /// Opens (creating) `<data>/chunks`, emptying its temporary folder.
    pub fn open(data_dir: &Path) -> io::Result<ChunkStore> {
        let root = data_dir.join("chunks");
        let tmp = root.join("tmp");
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp)?;
        Ok(ChunkStore { root, tmp, next_tmp: AtomicU64::new(0) })
    }

    fn raw_path(&self, hash: &ChunkHash) -> PathBuf {
        let hex = hash.to_hex();
        self.root.join(&hex[..2]).join(hex)
    }

    fn packed_path(&self, hash: &ChunkHash) -> PathBuf {
        let mut path = self.raw_path(hash).into_os_string();
        path.push(".z");
        path.into()
    }

    /// The stored chunk, if present.
    pub fn find(&self, hash: &ChunkHash) -> Option<StoredChunk> {
        for (path, compressed) in [(self.raw_path(hash), false), (self.packed_path(hash), true)] {
            if let Ok(meta) = fs::metadata(&path) {
                return Some(StoredChunk { path, offset: 0, compressed, stored_size: meta.len() });
            }
        }
        None
    }

    pub fn has(&self, hash: &ChunkHash) -> bool {
        self.find(hash).is_some()
    }

    /// Stores a verified chunk: `raw` are its bytes, `packed` a zstd frame
    /// of them if the uploader sent one. Returns false if it was present.
    pub fn put(&self, hash: &ChunkHash, raw: &[u8], packed: Option<&[u8]>) -> io::Result<bool> {
        if self.has(hash) {
            return Ok(false);
        }
        match packed {
            Some(p) => self.write(hash, raw, Some(p)),
            None => self.write(hash, raw, compress_chunk(raw).as_deref()),
        }
    }

    /// Stores a verified chunk as its uploader sent it: `packed` is the zstd
    /// frame it sent, if any. A chunk sent raw is stored raw (the uploader
    /// tried zstd on it first; it is not compressed a second time here).
    /// Returns false if it was present.
    pub fn put_as_sent(
        &self,
        hash: &ChunkHash,
        raw: &[u8],
        packed: Option<&[u8]>,
    ) -> io::Result<bool> {
        if self.has(hash) {
            return Ok(false);
        }
        self.write(hash, raw, packed)
    }

    fn write(&self, hash: &ChunkHash, raw: &[u8], packed: Option<&[u8]>) -> io::Result<bool> {
        let (bytes, target) = match packed {
            Some(p) if p.len() <= raw.len() - raw.len() / 8 => (p, self.packed_path(hash)),
            _ => (raw, self.raw_path(hash)),
        };
        fs::create_dir_all(target.parent().expect("chunk path has a parent"))?;
        let n = self.next_tmp.fetch_add(1, Ordering::Relaxed);
        let tmp = self.tmp.join(format!("{}-{n}", std::process::id()));
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        drop(file);
        fs::rename(&tmp, &target)?;
        Ok(true)
    }

    /// Reads a chunk's raw bytes (inflating a packed one to `size`).
    pub fn read(&self, hash: &ChunkHash, size: u32) -> io::Result<Vec<u8>> {
        let stored = self.find(hash).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("chunk {hash} is not stored"))
        })?;
        let bytes = fs::read(&stored.path)?;
        if stored.compressed {
            gamestore_package::chunked::inflate_chunk(&bytes, size).map_err(io::Error::other)
        } else {
            Ok(bytes)
        }
    }

    /// Removes chunks not in `referenced` and older than a day. Returns how many.
    pub fn collect_garbage(&self, referenced: &HashSet<ChunkHash>) -> io::Result<usize> {
        let mut removed = 0;
        let now = SystemTime::now();
        for dir in fs::read_dir(&self.root)? {
            let dir = dir?;
            if dir.file_name() == "tmp" || !dir.file_type()?.is_dir() {
                continue;
            }
            for entry in fs::read_dir(dir.path())? {
                let entry = entry?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let hex = name.strip_suffix(".z").unwrap_or(&name);
                let Ok(hash) = hex.parse::<ChunkHash>() else { continue };
                if referenced.contains(&hash) {
                    continue;
                }
                let age = entry
                    .metadata()?
                    .modified()
                    .ok()
                    .and_then(|m| now.duration_since(m).ok())
                    .unwrap_or_default();
                if age >= GC_AGE {
                    fs::remove_file(entry.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}
