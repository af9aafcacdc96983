//! The chunk store: where the bytes of every distinct chunk of every chunked
//! version are, each chunk's bytes kept once.
//!
//! A chunk's raw bytes are kept once, where games need them anyway: inside
//! the files of the committed version that first brought it ("placed": a
//! range of `games/<id>/<version>/files/<path>`, which never changes once
//! committed). Beside them, pack files under `chunks/packs/` hold records
//! of two kinds: the zstd frame of a chunk that its uploader sent
//! compressed (zstd-1 shrank it by an eighth), so that downloads move the
//! smaller form; and the raw bytes of a chunk no committed version holds
//! ("loose"): one that arrived in a publish cut before its PUBLISH_DONE,
//! kept so that the publish resumes.
//!
//! Each publish (each zip chunked, each cut publish kept) appends to a pack
//! of its own, created at its first record, so a publish of thousands of
//! compressible chunks creates one file and syncs one file instead of one
//! each. A record is a 48-byte header (magic, kind, stored and raw sizes,
//! hash) followed by its bytes; a pack left torn by a crash is read up to
//! its last whole record. Data dirs of the earlier layout, one file per
//! chunk (`chunks/<2 hex>/<hash>[.z]`), are still read.
//!
//! The store keeps an index of all of it in memory (about 100 bytes a
//! chunk), built at start from the stored versions' manifests and the packs'
//! headers, so that finding a chunk costs no system call. A version's placed
//! chunks are durable with its commit
//! ([`crate::games_area::GamesArea::commit`] syncs its files before the row
//! is written), and the pack its publish wrote is synced just before. At
//! start, a pack none of whose records a version still needs, and older
//! than a day, is removed (younger ones serve resumed publishes).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use gamestore_package::chunked::{
    ChunkHash, ChunkRef, VersionManifest, compress_chunk, hash_chunk, is_zero_chunk,
};

/// Unreferenced chunks younger than this survive a start.
const GC_AGE: Duration = Duration::from_secs(24 * 3600);
/// The first bytes of every pack record.
const RECORD_MAGIC: [u8; 4] = *b"GSC1";
/// Bytes of a record's header.
const HEADER_LEN: u64 = 48;
/// A record's kind: a zstd frame, or raw bytes.
const KIND_PACKED: u8 = 1;
const KIND_RAW: u8 = 0;

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

/// A record in a pack (or a whole file of the earlier layout).
#[derive(Debug, Clone)]
struct Record {
    file: Arc<Path>,
    offset: u64,
    size: u64,
}

/// What the store holds of one chunk.
#[derive(Debug, Default, Clone)]
struct Entry {
    placed: Option<Placed>,
    /// Its zstd frame.
    packed: Option<Record>,
    /// Its raw bytes, while no committed version holds them.
    loose: Option<Record>,
}

impl Entry {
    fn is_empty(&self) -> bool {
        self.placed.is_none() && self.packed.is_none() && self.loose.is_none()
    }
}

#[derive(Debug)]
pub struct ChunkStore {
    root: PathBuf,
    packs: PathBuf,
    next_pack: AtomicU64,
    index: RwLock<HashMap<ChunkHash, Entry>>,
    /// Held by the one [`ChunkStore::compress_missing`] that runs.
    compressing: Mutex<()>,
}

/// One pack being written: created by its first record, synced once by
/// [`Pack::sync`] before a version that relies on it is committed.
#[derive(Debug)]
pub struct Pack {
    path: Arc<Path>,
    folder: PathBuf,
    file: Mutex<PackFile>,
}

#[derive(Debug, Default)]
struct PackFile {
    open: Option<fs::File>,
    len: u64,
    /// Whether the pack's folder entry still needs syncing.
    unsynced_entry: bool,
}

impl Pack {
    /// Appends one record; returns the offset of its bytes.
    fn append(&self, kind: u8, hash: &ChunkHash, raw_len: usize, bytes: &[u8]) -> io::Result<u64> {
        let mut header = [0u8; HEADER_LEN as usize];
        header[..4].copy_from_slice(&RECORD_MAGIC);
        header[4] = kind;
        header[8..12].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
        header[12..16].copy_from_slice(&(raw_len as u32).to_le_bytes());
        header[16..48].copy_from_slice(&hash.0);
        let mut pack = self.file.lock().expect("pack file");
        if pack.open.is_none() {
            let file = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&self.path)?;
            pack.open = Some(file);
            pack.unsynced_entry = true;
        }
        let at = pack.len;
        let file = pack.open.as_ref().expect("pack open");
        let written =
            file.write_all_at(&header, at).and_then(|()| file.write_all_at(bytes, at + HEADER_LEN));
        if let Err(e) = written {
            // A torn record would end the pack when it is read again.
            let _ = file.set_len(at);
            return Err(e);
        }
        let len = HEADER_LEN + bytes.len() as u64;
        gamestore_package::start_writeback(file, at, len);
        pack.len += len;
        Ok(at + HEADER_LEN)
    }

    /// Flushes the pack, and its entry in the folder, to disk (nothing
    /// when no record was written).
    pub fn sync(&self) -> io::Result<()> {
        let mut pack = self.file.lock().expect("pack file");
        let Some(file) = &pack.open else { return Ok(()) };
        file.sync_data()?;
        if pack.unsynced_entry {
            fs::File::open(&self.folder)?.sync_all()?;
            pack.unsynced_entry = false;
        }
        Ok(())
    }
}

impl ChunkStore {
    /// Opens (creating) `<data>/chunks` and indexes the chunks its packs
    /// (and the files of the earlier layout) hold.
    pub fn open(data_dir: &Path) -> io::Result<ChunkStore> {
        let root = data_dir.join("chunks");
        let packs = root.join("packs");
        // Temporary files of the earlier layout.
        let _ = fs::remove_dir_all(root.join("tmp"));
        fs::create_dir_all(&packs)?;
        let store = ChunkStore {
            root,
            packs,
            next_pack: AtomicU64::new(0),
            index: RwLock::new(HashMap::new()),
            compressing: Mutex::new(()),
        };
        let mut index = store.index.write().expect("chunk index");
        let mut add = |hash: ChunkHash, packed: bool, record: Record| {
            let entry = index.entry(hash).or_default();
            if packed {
                entry.packed = Some(record);
            } else {
                entry.loose = Some(record);
            }
        };
        for pack in fs::read_dir(&store.packs)? {
            let path = pack?.path();
            if path.extension().is_some_and(|e| e == "pack") {
                read_pack(&path, &mut add)?;
            }
        }
        store.each_single_file(&mut add)?;
        drop(index);
        Ok(store)
    }

    /// A new, empty pack to write records into.
    pub fn new_pack(&self) -> Pack {
        let n = self.next_pack.fetch_add(1, Ordering::Relaxed);
        let stamp =
            SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let name = format!("{stamp}-{}-{n}.pack", std::process::id());
        Pack {
            path: Arc::from(self.packs.join(name)),
            folder: self.packs.clone(),
            file: Mutex::new(PackFile::default()),
        }
    }

    /// Where the chunk's bytes can be read, if it is stored: its zstd frame
    /// when there is one (fewer bytes to send), else its raw bytes.
    pub fn find(&self, hash: &ChunkHash) -> Option<StoredChunk> {
        let index = self.index.read().expect("chunk index");
        let entry = index.get(hash)?;
        if let Some(packed) = &entry.packed {
            return Some(stored(packed, true));
        }
        drop(index);
        self.find_raw(hash)
    }

    /// [`ChunkStore::find`], or with `raw` where its raw bytes are.
    pub fn find_as(&self, hash: &ChunkHash, raw: bool) -> Option<StoredChunk> {
        if raw { self.find_raw(hash).or_else(|| self.find(hash)) } else { self.find(hash) }
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
        entry.loose.as_ref().map(|loose| stored(loose, false))
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
            !entry.is_empty()
        });
    }

    /// Appends the zstd frame `packed` of a verified chunk of `raw_len`
    /// bytes to `pack`, if it saves an eighth and none is stored yet. The
    /// caller syncs `pack` before it commits a version that relies on it
    /// (its writing back is started here).
    pub fn put_packed(
        &self,
        pack: &Pack,
        hash: &ChunkHash,
        raw_len: usize,
        packed: &[u8],
    ) -> io::Result<()> {
        if packed.len() > raw_len - raw_len / 8 || self.has_packed(hash) {
            return Ok(());
        }
        let offset = pack.append(KIND_PACKED, hash, raw_len, packed)?;
        let record = Record { file: pack.path.clone(), offset, size: packed.len() as u64 };
        self.index.write().expect("chunk index").entry(*hash).or_default().packed = Some(record);
        Ok(())
    }

    /// Appends to `pack` a verified chunk that no committed version holds:
    /// its zstd frame if one pays, else its raw bytes. A chunk already
    /// stored is left as it is.
    pub fn put_loose(&self, pack: &Pack, hash: &ChunkHash, raw: &[u8]) -> io::Result<()> {
        if self.has(hash) {
            return Ok(());
        }
        let packed = compress_chunk(raw).filter(|p| p.len() <= raw.len() - raw.len() / 8);
        if let Some(packed) = packed {
            return self.put_packed(pack, hash, raw.len(), &packed);
        }
        let offset = pack.append(KIND_RAW, hash, raw.len(), raw)?;
        let record = Record { file: pack.path.clone(), offset, size: raw.len() as u64 };
        self.index.write().expect("chunk index").entry(*hash).or_default().loose = Some(record);
        Ok(())
    }

    /// Stores the zstd frame of each of `chunks` that has none and that
    /// zstd-1 shrinks by an eighth, read from its raw bytes and checked
    /// against its hash, into one new pack: what a version whose chunks
    /// arrived raw gets after its commit, so that downloads from afar move
    /// fewer bytes. One runs at a time. Returns how many were stored.
    pub fn compress_missing(&self, chunks: &[ChunkRef]) -> io::Result<usize> {
        let _one = self.compressing.lock().expect("compressing");
        let pack = self.new_pack();
        let mut stored = 0;
        let mut bytes = Vec::new();
        for chunk in chunks {
            if is_zero_chunk(chunk) || self.has_packed(&chunk.hash) {
                continue;
            }
            let Some(raw) = self.find_raw(&chunk.hash) else { continue };
            bytes.resize(raw.stored_size as usize, 0);
            fs::File::open(&raw.path)?.read_exact_at(&mut bytes, raw.offset)?;
            let Some(packed) = compress_chunk(&bytes) else { continue };
            if hash_chunk(&bytes) != chunk.hash {
                tracing::warn!(chunk = %chunk.hash, path = %raw.path.display(), "a stored chunk does not match its hash");
                continue;
            }
            self.put_packed(&pack, &chunk.hash, bytes.len(), &packed)?;
            stored += 1;
        }
        pack.sync()?;
        Ok(stored)
    }

    fn has_packed(&self, hash: &ChunkHash) -> bool {
        self.index.read().expect("chunk index").get(hash).is_some_and(|e| e.packed.is_some())
    }

    /// Reads a chunk's raw bytes (inflating a packed one to `size`).
    pub fn read(&self, hash: &ChunkHash, size: u32) -> io::Result<Vec<u8>> {
        let not_stored =
            || io::Error::new(io::ErrorKind::NotFound, format!("chunk {hash} is not stored"));
        let stored = self.find_as(hash, true).ok_or_else(not_stored)?;
        let mut bytes = vec![0u8; stored.stored_size as usize];
        fs::File::open(&stored.path)?.read_exact_at(&mut bytes, stored.offset)?;
        if !stored.compressed {
            return Ok(bytes);
        }
        gamestore_package::chunked::inflate_chunk(&bytes, size).map_err(io::Error::other)
    }

    /// Calls `each(hash, packed, record)` for every chunk file of the
    /// earlier layout, one file per chunk: `chunks/<2 hex>/<hash>[.z]`.
    fn each_single_file(&self, each: &mut impl FnMut(ChunkHash, bool, Record)) -> io::Result<()> {
        for dir in fs::read_dir(&self.root)? {
            let dir = dir?;
            if dir.file_name().len() != 2 || !dir.file_type()?.is_dir() {
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
                each(hash, packed, Record { file: Arc::from(entry.path()), offset: 0, size });
            }
        }
        Ok(())
    }

    /// Removes the packs (and single chunk files) of which no record is
    /// needed: each record's chunk is either not in `referenced` (then the
    /// file must be older than a day) or, for raw records, held by a
    /// committed version now. Returns how many files went.
    pub fn collect_garbage(&self, referenced: &HashSet<ChunkHash>) -> io::Result<usize> {
        let now = SystemTime::now();
        let old = |path: &Path| {
            fs::metadata(path)
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|m| now.duration_since(m).ok())
                .unwrap_or_default()
                >= GC_AGE
        };
        let mut index = self.index.write().expect("chunk index");
        // For each file: whether every record in it may go.
        let mut files: HashMap<Arc<Path>, bool> = HashMap::new();
        for (hash, entry) in index.iter() {
            let needed = referenced.contains(hash);
            let records = [(&entry.packed, false), (&entry.loose, entry.placed.is_some())];
            for (record, superseded) in records {
                let Some(record) = record else { continue };
                let may_go = files.entry(record.file.clone()).or_insert(true);
                if *may_go && !superseded && (needed || !old(&record.file)) {
                    *may_go = false;
                }
            }
        }
        let doomed: HashSet<Arc<Path>> =
            files.into_iter().filter(|(_, may_go)| *may_go).map(|(file, _)| file).collect();
        for file in &doomed {
            fs::remove_file(file)?;
        }
        let in_doomed = |r: &Option<Record>| r.as_ref().is_some_and(|r| doomed.contains(&r.file));
        index.retain(|_, entry| {
            if in_doomed(&entry.packed) {
                entry.packed = None;
            }
            if in_doomed(&entry.loose) {
                entry.loose = None;
            }
            !entry.is_empty()
        });
        Ok(doomed.len())
    }
}

fn stored(record: &Record, compressed: bool) -> StoredChunk {
    StoredChunk {
        path: record.file.to_path_buf(),
        offset: record.offset,
        compressed,
        stored_size: record.size,
    }
}

/// Calls `each` for every whole record of the pack at `path`, stopping at
/// the first torn or foreign one.
fn read_pack(path: &Path, each: &mut impl FnMut(ChunkHash, bool, Record)) -> io::Result<()> {
    let file = fs::File::open(path)?;
    let len = file.metadata()?.len();
    let path: Arc<Path> = Arc::from(path);
    let mut at = 0u64;
    let mut header = [0u8; HEADER_LEN as usize];
    while at + HEADER_LEN <= len {
        file.read_exact_at(&mut header, at)?;
        let size = u64::from(u32::from_le_bytes(header[8..12].try_into().expect("4 bytes")));
        let kind = header[4];
        if header[..4] != RECORD_MAGIC
            || (kind != KIND_PACKED && kind != KIND_RAW)
            || at + HEADER_LEN + size > len
        {
            tracing::warn!(pack = %path.display(), at, "a pack ends in a torn record; read up to it");
            break;
        }
        let hash = ChunkHash(header[16..48].try_into().expect("32 bytes"));
        each(
            hash,
            kind == KIND_PACKED,
            Record { file: path.clone(), offset: at + HEADER_LEN, size },
        );
        at += HEADER_LEN + size;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use gamestore_package::chunked::{compress_chunk, hash_chunk};

    use super::*;

    fn text(n: usize) -> Vec<u8> {
        (0..n).map(|i| b"abcdefgh"[(i / 7) % 8]).collect()
    }

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        gamestore_testkit::fixtures::pattern(&seed.to_string(), n)
    }

    #[test]
    fn one_pack_holds_a_publishs_records_and_is_read_back_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(dir.path()).unwrap();
        let pack = store.new_pack();
        let chunks: Vec<Vec<u8>> = (0..20).map(|i| text(70_000 + i * 1000)).collect();
        for raw in &chunks {
            let packed = compress_chunk(raw).unwrap();
            store.put_packed(&pack, &hash_chunk(raw), raw.len(), &packed).unwrap();
        }
        let loose = noise(100_000, 7);
        store.put_loose(&pack, &hash_chunk(&loose), &loose).unwrap();
        pack.sync().unwrap();
        let packs: Vec<_> = fs::read_dir(dir.path().join("chunks/packs")).unwrap().collect();
        assert_eq!(packs.len(), 1, "one file for 21 chunks");
        drop(store);

        let store = ChunkStore::open(dir.path()).unwrap();
        for raw in chunks.iter().chain([&loose]) {
            let hash = hash_chunk(raw);
            assert_eq!(store.read(&hash, raw.len() as u32).unwrap(), *raw);
        }
        assert!(store.find(&hash_chunk(&chunks[3])).unwrap().compressed);
        assert!(!store.find(&hash_chunk(&loose)).unwrap().compressed);
    }

    #[test]
    fn a_torn_pack_is_read_up_to_its_last_whole_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(dir.path()).unwrap();
        let pack = store.new_pack();
        let (a, b) = (noise(90_000, 1), noise(90_000, 2));
        store.put_loose(&pack, &hash_chunk(&a), &a).unwrap();
        store.put_loose(&pack, &hash_chunk(&b), &b).unwrap();
        pack.sync().unwrap();
        drop(store);
        let file = fs::OpenOptions::new().write(true).open(&*pack.path).unwrap();
        file.set_len(HEADER_LEN * 2 + 90_000 + 1_000).unwrap();

        let store = ChunkStore::open(dir.path()).unwrap();
        assert_eq!(store.read(&hash_chunk(&a), 90_000).unwrap(), a);
        assert!(!store.has(&hash_chunk(&b)), "the torn record is not indexed");
    }

    #[test]
    fn a_pack_goes_only_when_none_of_its_records_is_needed() {
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(dir.path()).unwrap();
        let (kept, placed) = (store.new_pack(), store.new_pack());
        let a = noise(80_000, 3);
        store.put_loose(&kept, &hash_chunk(&a), &a).unwrap();
        // A loose chunk a committed version now holds is not needed.
        let b = noise(80_000, 4);
        store.put_loose(&placed, &hash_chunk(&b), &b).unwrap();
        let files = dir.path().join("games/g/1.0.0/files");
        fs::create_dir_all(&files).unwrap();
        fs::write(files.join("b.bin"), &b).unwrap();
        let manifest = VersionManifest {
            format: gamestore_package::chunked::FORMAT,
            id: "g".into(),
            version: "1.0.0".into(),
            created: 0,
            config: serde_json::json!({}),
            files: vec![gamestore_package::chunked::ManifestFile {
                path: "b.bin".into(),
                size: b.len() as u64,
                executable: false,
                chunks: gamestore_package::chunked::chunk_bytes(&b),
            }],
            key: String::new(),
        };
        store.place_version(&files, &manifest);
        // Young and unreferenced: kept for a resume.
        let referenced: HashSet<ChunkHash> = [hash_chunk(&b)].into();
        assert_eq!(store.collect_garbage(&referenced).unwrap(), 1);
        assert!(kept.path.exists() && !placed.path.exists());
        assert_eq!(store.read(&hash_chunk(&a), 80_000).unwrap(), a);
        assert_eq!(store.read(&hash_chunk(&b), 80_000).unwrap(), b);
    }

    #[test]
    fn chunk_files_of_the_earlier_layout_are_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let raw = text(200_000);
        let hash = hash_chunk(&raw);
        let hex = hash.to_hex();
        let shard = dir.path().join("chunks").join(&hex[..2]);
        fs::create_dir_all(&shard).unwrap();
        fs::write(shard.join(format!("{hex}.z")), compress_chunk(&raw).unwrap()).unwrap();
        let store = ChunkStore::open(dir.path()).unwrap();
        assert!(store.find(&hash).unwrap().compressed);
        assert_eq!(store.read(&hash, raw.len() as u32).unwrap(), raw);
    }
}
