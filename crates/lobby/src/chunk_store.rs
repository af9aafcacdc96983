//! The chunk store: where the bytes of every distinct chunk of every chunked
//! version are, each chunk's bytes kept once.
//!
//! A chunk's raw bytes are kept once, where games need them anyway: inside
//! the files of the committed version that first brought it ("placed": a
//! range of `games/<id>/<version>/files/<path>`, which never changes once
//! committed). Beside them, `chunks/<first 2 hex>/<hash hex>.z` holds a zstd
//! frame of a chunk that its uploader sent compressed (zstd-1 shrank it by
//! an eighth), so downloads move the smaller form; and
//! `chunks/<first 2 hex>/<hash hex>` holds the raw bytes of a chunk no
//! committed version holds ("loose"): one that arrived in a publish cut
//! before its PUBLISH_DONE, kept so that the publish resumes. Files under
//! `chunks/` are written to `chunks/tmp/` and renamed into place, so a
//! present one is always complete.
//!
//! The store keeps an index of all of it in memory (about 100 bytes a
//! chunk), built at start from the stored versions' manifests and the
//! folder's listing, so that finding a chunk costs no system call. A
//! version's placed chunks are durable with its commit
//! ([`crate::games_area::GamesArea::commit`] syncs its files before the row
//! is written), and the compressed chunks its publish wrote are synced just
//! before. At start, loose and compressed chunks that no version's
//! manifest names and older than a day are removed (younger ones serve
//! resumed publishes).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use gamestore_package::chunked::{ChunkHash, VersionManifest, compress_chunk};

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

/// A chunk inside a committed version's file.
#[derive(Debug, Clone)]
struct Placed {
    file: Arc<Path>,
    offset: u64,
    size: u32,
}

/// What the store holds of one chunk.
#[derive(Debug, Default, Clone)]
struct Entry {
    placed: Option<Placed>,
    /// Size of `<hash>.z`, if present.
    packed: Option<u64>,
    /// Size of the loose raw file `<hash>`, if present.
    loose: Option<u64>,
}

#[derive(Debug)]
pub struct ChunkStore {
    root: PathBuf,
    tmp: PathBuf,
    next_tmp: AtomicU64,
    index: RwLock<HashMap<ChunkHash, Entry>>,
}

impl ChunkStore {
    /// Opens (creating) `<data>/chunks`, emptying its temporary folder, and
    /// indexes the chunk files present there.
    pub fn open(data_dir: &Path) -> io::Result<ChunkStore> {
        let root = data_dir.join("chunks");
        let tmp = root.join("tmp");
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp)?;
        let store = ChunkStore {
            root,
            tmp,
            next_tmp: AtomicU64::new(0),
            index: RwLock::new(HashMap::new()),
        };
        let mut index = store.index.write().expect("chunk index");
        store.each_file(|hash, packed, size| {
            let entry = index.entry(hash).or_default();
            if packed {
                entry.packed = Some(size);
            } else {
                entry.loose = Some(size);
            }
            Ok(())
        })?;
        drop(index);
        Ok(store)
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

    /// Where the chunk's bytes can be read, if it is stored: its zstd frame
    /// when there is one (fewer bytes to send), else its raw bytes.
    pub fn find(&self, hash: &ChunkHash) -> Option<StoredChunk> {
        let index = self.index.read().expect("chunk index");
        let entry = index.get(hash)?;
        if let Some(size) = entry.packed {
            return Some(StoredChunk {
                path: self.packed_path(hash),
                offset: 0,
                compressed: true,
                stored_size: size,
            });
        }
        drop(index);
        self.find_raw(hash)
    }

    /// Where the chunk's raw bytes can be read, if anywhere.
    fn find_raw(&self, hash: &ChunkHash) -> Option<StoredChunk> {
        let index = self.index.read().expect("chunk index");
        let entry = index.get(hash)?;
        if let Some(placed) = &entry.placed {
            return Some(StoredChunk {
                path: placed.file.to_path_buf(),
                offset: placed.offset,
                compressed: false,
                stored_size: u64::from(placed.size),
            });
        }
        entry.loose.map(|size| StoredChunk {
            path: self.raw_path(hash),
            offset: 0,
            compressed: false,
            stored_size: size,
        })
    }

    pub fn has(&self, hash: &ChunkHash) -> bool {
        self.index.read().expect("chunk index").contains_key(hash)
    }

    /// Records that the committed version whose files are in `files_dir`
    /// holds the chunks of `manifest` (the first version to hold a chunk
    /// keeps serving it).
    pub fn place_version(&self, files_dir: &Path, manifest: &VersionManifest) {
        let mut index = self.index.write().expect("chunk index");
        for file in &manifest.files {
            let path: Arc<Path> = Arc::from(files_dir.join(&file.path));
            let mut offset = 0u64;
            for chunk in &file.chunks {
                let entry = index.entry(chunk.hash).or_default();
                if entry.placed.is_none() {
                    entry.placed = Some(Placed { file: path.clone(), offset, size: chunk.size });
                }
                offset += u64::from(chunk.size);
            }
        }
    }

    /// Forgets the placed chunks inside `files_dir` (a version folder
    /// removed again because its row could not be written).
    pub fn forget_dir(&self, files_dir: &Path) {
        let mut index = self.index.write().expect("chunk index");
        index.retain(|_, entry| {
            if entry.placed.as_ref().is_some_and(|p| p.file.starts_with(files_dir)) {
                entry.placed = None;
            }
            entry.placed.is_some() || entry.packed.is_some() || entry.loose.is_some()
        });
    }

    /// Stores the zstd frame `packed` of a verified chunk of `raw_len`
    /// bytes, if it saves an eighth and none is stored yet. Returns the file
    /// written, which the caller syncs before it commits a version that
    /// relies on it (its writing back is started here).
    pub fn put_packed(
        &self,
        hash: &ChunkHash,
        raw_len: usize,
        packed: &[u8],
    ) -> io::Result<Option<PathBuf>> {
        if packed.len() > raw_len - raw_len / 8 || self.has_packed(hash) {
            return Ok(None);
        }
        let path = self.packed_path(hash);
        self.write_file(&path, packed)?;
        self.index.write().expect("chunk index").entry(*hash).or_default().packed =
            Some(packed.len() as u64);
        Ok(Some(path))
    }

    /// Stores a verified chunk that no committed version holds: its zstd
    /// frame if one pays, else its raw bytes. A chunk already stored is
    /// left as it is.
    pub fn put_loose(&self, hash: &ChunkHash, raw: &[u8]) -> io::Result<()> {
        if self.has(hash) {
            return Ok(());
        }
        let packed = compress_chunk(raw).filter(|p| p.len() <= raw.len() - raw.len() / 8);
        if let Some(packed) = packed {
            return self.put_packed(hash, raw.len(), &packed).map(drop);
        }
        self.write_file(&self.raw_path(hash), raw)?;
        self.index.write().expect("chunk index").entry(*hash).or_default().loose =
            Some(raw.len() as u64);
        Ok(())
    }

    fn has_packed(&self, hash: &ChunkHash) -> bool {
        self.index.read().expect("chunk index").get(hash).is_some_and(|e| e.packed.is_some())
    }

    fn write_file(&self, target: &Path, bytes: &[u8]) -> io::Result<()> {
        fs::create_dir_all(target.parent().expect("chunk path has a parent"))?;
        let n = self.next_tmp.fetch_add(1, Ordering::Relaxed);
        let tmp = self.tmp.join(format!("{}-{n}", std::process::id()));
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        gamestore_package::start_writeback(&file, 0, 0);
        drop(file);
        fs::rename(&tmp, target)
    }

    /// Flushes chunk files `put_packed` wrote, and their folders, to disk.
    pub fn sync_files(paths: &[PathBuf]) -> io::Result<()> {
        let mut dirs: Vec<PathBuf> =
            paths.iter().filter_map(|p| p.parent()).map(Into::into).collect();
        dirs.sort();
        dirs.dedup();
        crate::games_area::sync_paths(paths, &dirs)
    }

    /// Reads a chunk's raw bytes (inflating a packed one to `size`).
    pub fn read(&self, hash: &ChunkHash, size: u32) -> io::Result<Vec<u8>> {
        let not_stored =
            || io::Error::new(io::ErrorKind::NotFound, format!("chunk {hash} is not stored"));
        if let Some(raw) = self.find_raw(hash) {
            let mut bytes = vec![0u8; raw.stored_size as usize];
            fs::File::open(&raw.path)?.read_exact_at(&mut bytes, raw.offset)?;
            return Ok(bytes);
        }
        let stored = self.find(hash).ok_or_else(not_stored)?;
        let bytes = fs::read(&stored.path)?;
        gamestore_package::chunked::inflate_chunk(&bytes, size).map_err(io::Error::other)
    }

    /// Calls `each(hash, packed, size)` for every chunk file.
    fn each_file(
        &self,
        mut each: impl FnMut(ChunkHash, bool, u64) -> io::Result<()>,
    ) -> io::Result<()> {
        for dir in fs::read_dir(&self.root)? {
            let dir = dir?;
            if dir.file_name() == "tmp" || !dir.file_type()?.is_dir() {
                continue;
            }
            for entry in fs::read_dir(dir.path())? {
                let entry = entry?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let (hex, packed) = match name.strip_suffix(".z") {
                    Some(hex) => (hex, true),
                    None => (&*name, false),
                };
                let Ok(hash) = hex.parse::<ChunkHash>() else { continue };
                let size = entry.metadata()?.len();
                each(hash, packed, size)?;
            }
        }
        Ok(())
    }

    /// Removes chunk files not in `referenced` and older than a day, and
    /// loose raw files of chunks a committed version now holds. Returns how
    /// many files went.
    pub fn collect_garbage(&self, referenced: &HashSet<ChunkHash>) -> io::Result<usize> {
        let mut removed = 0;
        let now = SystemTime::now();
        let mut index = self.index.write().expect("chunk index");
        // The chunk files are in the index since `open` listed them.
        let files: Vec<(ChunkHash, bool)> = index
            .iter()
            .flat_map(|(hash, e)| {
                let packed = e.packed.map(|_| (*hash, true));
                let loose = e.loose.map(|_| (*hash, false));
                packed.into_iter().chain(loose)
            })
            .collect();
        for (hash, packed) in files {
            let path = if packed { self.packed_path(&hash) } else { self.raw_path(&hash) };
            let placed = index.get(&hash).is_some_and(|e| e.placed.is_some());
            let old = || {
                fs::metadata(&path)
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .and_then(|m| now.duration_since(m).ok())
                    .unwrap_or_default()
                    >= GC_AGE
            };
            let stale = (!packed && placed) || (!referenced.contains(&hash) && old());
            if !stale {
                continue;
            }
            fs::remove_file(&path)?;
            removed += 1;
            if let Some(entry) = index.get_mut(&hash) {
                if packed {
                    entry.packed = None;
                } else {
                    entry.loose = None;
                }
                if entry.placed.is_none() && entry.packed.is_none() && entry.loose.is_none() {
                    index.remove(&hash);
                }
            }
        }
        Ok(removed)
    }
}
