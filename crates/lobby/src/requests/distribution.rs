//! Signed, chunked distribution: developer keys (DEV_KEY_REGISTER,
//! DEV_KEY_ROTATE), publishing chunk by chunk (PUBLISH_BEGIN, CHUNK_PUT,
//! PUBLISH_DONE) and serving manifests and chunks (MANIFEST_GET, CHUNK_GET).
//!
//! The uploader is hostile: the manifest is read whole (at most 16 MiB)
//! before anything is answered, its signature is checked over the exact
//! bytes with the developer's registered key, every chunk's stored size is
//! bounded before it is read, it is inflated at most to the size its
//! manifest names and its BLAKE3 hash is checked before it is stored. A
//! version becomes visible only at PUBLISH_DONE, once every chunk is present:
//! its files are assembled in a staging folder and committed exactly like an
//! uploaded zip's (folder renamed after its files are synced, then the row).

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gamestore_package::chunked::{
    self, ChunkHash, ChunkRef, MAX_CHUNK, MAX_VERSION_MANIFEST_BYTES, ManifestFile, VersionManifest,
};
use gamestore_package::{FileEntry, FileList, MANIFEST_FILE, Manifest};
use gamestore_protocol::{
    CHUNK_GET_MAX_BYTES, CHUNK_GET_MAX_CHUNKS, ChunkGet, ChunkPut, ChunkSent, ChunksReady,
    DevKeyRegister, DevKeyRotate, ErrorCode, Frame, KeyReply, MAX_CHUNK_LEN, ManifestGet,
    ManifestReady, PublishBegin, PublishDone, PublishDoneReply, PublishPlan, PublishReply,
    Rotation, ServerMessage, WireError,
};
use gamestore_storage::{DeveloperKey, NewVersion, Role, StorageError, VersionRecord};
use semver::Version;
use tokio::sync::Semaphore;

use super::game_download::{Pace, send_piece, version as visible_version};
use super::game_upload::{check_owner_and_order, internal, io_error, place_version};
use crate::chunk_store::ChunkStore;
use crate::connection::Conn;
use crate::games_area::{GamesArea, Staging};
use crate::hub::BulkFrame;
use crate::{WireResult, now};

/// Publishes one connection may have open at once (each holds its manifest).
const MAX_OPEN_PUBLISHES: usize = 4;
/// Largest stored chunk a CHUNK_PUT may announce: a raw chunk is at most
/// [`MAX_CHUNK`]; a zstd frame is only sent when smaller.
const MAX_STORED_CHUNK: u32 = MAX_CHUNK + 1024;
/// Manifests whose chunk lists are kept for CHUNK_GET.
const MANIFEST_CACHE_ENTRIES: usize = 32;
/// CHUNK_PUTs of one connection verified and stored at once while the
/// connection reads the next ones (each holds at most one stored chunk and
/// its inflated bytes).
const PUTS_IN_FLIGHT: u32 = 4;

/// A publish between PUBLISH_BEGIN and PUBLISH_DONE.
pub struct OpenPublish {
    owner_id: i64,
    bytes: Arc<Vec<u8>>,
    manifest: Arc<VersionManifest>,
    version: Version,
    signature: String,
    uploaded_bytes: Arc<AtomicU64>,
    /// The staged files and the distinct chunks, shared with a run of the
    /// same publish on another connection.
    shared: Arc<SharedStage>,
}

/// Which publish a stage is for: the developer, the game and the version.
type StageKey = (i64, String, String);

/// The staged files of a publish, shared by every connection publishing
/// the same files of the same version for the same developer: a publish
/// run again while the lobby has not yet noticed that the first run's
/// connection was cut takes over its stage and sends only what did not
/// arrive. Dropped uncommitted (every such connection gone), the chunks
/// that arrived are kept in the store as loose chunks, so that a later run
/// resumes too, and the staging folder is removed.
pub struct SharedStage {
    lobby: Arc<crate::Lobby>,
    key: StageKey,
    files: Vec<ManifestFile>,
    distinct: Vec<ChunkRef>,
    stage: Arc<Stage>,
    /// The version's files; `None` once taken by the commit.
    staging: Mutex<Option<Staging>>,
}

impl Drop for SharedStage {
    fn drop(&mut self) {
        let staging = self.staging.lock().expect("staging").take();
        let mut open = self.lobby.open_stages.inner.lock().expect("open stages");
        if open.open.get(&self.key).is_some_and(|w| w.strong_count() == 0) {
            open.open.remove(&self.key);
        }
        let Some(staging) = staging else { return };
        *open.keeping.entry(self.key.clone()).or_default() += 1;
        drop(open);
        let (lobby, stage, distinct, key) = (
            self.lobby.clone(),
            self.stage.clone(),
            std::mem::take(&mut self.distinct),
            self.key.clone(),
        );
        let keep = move || {
            let quiet = stage.quiet();
            let kept = stage.keep_arrived(&lobby.chunks, &distinct);
            drop(staging);
            drop(quiet);
            match kept {
                Ok(0) => {}
                Ok(kept) => tracing::info!(kept, "kept the chunks of a cut publish"),
                Err(e) => tracing::warn!(error = %e, "cannot keep the chunks of a cut publish"),
            }
            let mut open = lobby.open_stages.inner.lock().expect("open stages");
            if let Some(n) = open.keeping.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    open.keeping.remove(&key);
                }
            }
            drop(open);
            lobby.open_stages.kept.notify_waiters();
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(keep)),
            Err(_) => keep(),
        }
    }
}

/// The lobby's open publish stages, for runs of a publish to find.
#[derive(Default, Debug)]
pub struct OpenStages {
    inner: Mutex<OpenStagesInner>,
    /// Woken when a cut publish's chunks are kept.
    kept: tokio::sync::Notify,
}

#[derive(Default, Debug)]
struct OpenStagesInner {
    open: HashMap<StageKey, std::sync::Weak<SharedStage>>,
    /// Cut publishes whose chunks are being kept, by key.
    keeping: HashMap<StageKey, usize>,
}

/// Longest wait at PUBLISH_BEGIN for a cut run's chunks to be kept.
const KEEP_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl OpenStages {
    /// The open stage of `key` if one holds exactly `files`, once no cut
    /// run of `key` is still having its chunks kept (so that the store
    /// shows them).
    async fn find(&self, key: &StageKey, files: &[ManifestFile]) -> Option<Arc<SharedStage>> {
        let deadline = tokio::time::Instant::now() + KEEP_WAIT;
        loop {
            let kept = self.kept.notified();
            tokio::pin!(kept);
            kept.as_mut().enable();
            {
                let open = self.inner.lock().expect("open stages");
                let live = open.open.get(key).map(|w| w.upgrade());
                match live {
                    Some(Some(shared)) => return (shared.files == files).then_some(shared),
                    // Being dropped: its chunks are about to be kept.
                    Some(None) => {}
                    None if !open.keeping.contains_key(key) => return None,
                    None => {}
                }
            }
            if tokio::time::timeout_at(deadline, kept).await.is_err() {
                return None;
            }
        }
    }

    fn insert(&self, shared: &Arc<SharedStage>) {
        let mut open = self.inner.lock().expect("open stages");
        open.open.insert(shared.key.clone(), Arc::downgrade(shared));
    }
}

/// A connection's open publishes by token.
pub struct Publishes {
    open: HashMap<u64, OpenPublish>,
    next: u64,
    /// Permits of the CHUNK_PUTs being verified and stored.
    puts: Arc<Semaphore>,
}

impl Default for Publishes {
    fn default() -> Publishes {
        Publishes {
            open: HashMap::new(),
            next: 0,
            puts: Arc::new(Semaphore::new(PUTS_IN_FLIGHT as usize)),
        }
    }
}

impl Publishes {
    /// Waits until every CHUNK_PUT of the connection is stored (or refused).
    async fn settle(&self) {
        if let Ok(all) = self.puts.acquire_many(PUTS_IN_FLIGHT).await {
            drop(all);
        }
    }
}

/// The staged files of an open publish: sparse files of their final sizes,
/// into which every verified chunk is written at its places on arrival.
pub struct Stage {
    /// The staging folder the files go to. Only [`Stage::create`] creates
    /// it: once its publish ends and the folder is removed, a write still
    /// under way fails instead of bringing the folder back.
    root: PathBuf,
    /// Each file's path in the staging folder, in manifest order.
    paths: Vec<PathBuf>,
    /// For each distinct chunk, the (file, offset) of each of its places.
    places: Vec<Vec<(usize, u64)>>,
    /// Distinct chunks already written at all their places (zero chunks
    /// from the start: the files are created sparse at their sizes).
    staged: Vec<AtomicBool>,
    /// The index among the distinct chunks of each hash.
    index: HashMap<ChunkHash, usize>,
    /// The pack the compressed chunks of this stage go to, synced before
    /// its version is committed.
    pack: crate::chunk_store::Pack,
    /// Held shared by each chunk being written, and whole by the removal of
    /// a stage whose publish was cut ([`Stage::quiet`]).
    writing: std::sync::RwLock<()>,
}

impl Stage {
    /// Creates the staging folder only: each file, and the folders above
    /// it, are created by the first chunk written into it, or at the end
    /// ([`finish_stage`]), where every file gets its final size (what no
    /// chunk was written to, zero chunks included, stays a hole).
    /// PUBLISH_BEGIN creates nothing else on disk.
    pub(crate) fn create(
        store: &ChunkStore,
        root: &Path,
        manifest: &VersionManifest,
        distinct: &[ChunkRef],
    ) -> io::Result<Stage> {
        std::fs::create_dir_all(root)?;
        let index: HashMap<ChunkHash, usize> =
            distinct.iter().enumerate().map(|(i, c)| (c.hash, i)).collect();
        let mut places = vec![Vec::new(); distinct.len()];
        let mut paths = Vec::with_capacity(manifest.files.len());
        for (f, file) in manifest.files.iter().enumerate() {
            let mut offset = 0u64;
            for chunk in &file.chunks {
                places[index[&chunk.hash]].push((f, offset));
                offset += u64::from(chunk.size);
            }
            paths.push(root.join(&file.path));
        }
        // Zero chunks are the files' holes already: staged from the start,
        // so neither a CHUNK_PUT nor the store's copy writes them.
        let staged = distinct.iter().map(|c| AtomicBool::new(chunked::is_zero_chunk(c))).collect();
        Ok(Stage {
            root: root.to_owned(),
            paths,
            places,
            staged,
            index,
            pack: store.new_pack(),
            writing: std::sync::RwLock::new(()),
        })
    }

    /// Writes the verified bytes of distinct chunk `index` at its places,
    /// and starts writing them back to the disk at once, so that the
    /// commit's sync finds little left to do.
    pub(crate) fn write(&self, index: usize, raw: &[u8]) -> io::Result<()> {
        if self.staged[index].load(Ordering::Acquire) {
            return Ok(());
        }
        let _writing = self.writing.read().unwrap_or_else(|p| p.into_inner());
        for &(f, offset) in &self.places[index] {
            let out = open_staged(&self.root, &self.paths[f])?;
            out.write_all_at(raw, offset)?;
            gamestore_package::start_writeback(&out, offset, raw.len() as u64);
        }
        self.staged[index].store(true, Ordering::Release);
        Ok(())
    }

    /// Waits for the chunks being written to be done, and keeps any other
    /// from starting while the guard is held: what the staging folder's
    /// removal holds, so that no write creates a file in it meanwhile (and
    /// a write after finds the folder gone).
    pub(crate) fn quiet(&self) -> std::sync::RwLockWriteGuard<'_, ()> {
        self.writing.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores the zstd frame `packed` of a verified chunk of `raw_len`
    /// bytes in this stage's pack of the chunk store.
    pub(crate) fn put_packed(
        &self,
        store: &ChunkStore,
        hash: &ChunkHash,
        raw_len: usize,
        packed: &[u8],
    ) -> io::Result<()> {
        store.put_packed(&self.pack, hash, raw_len, packed)
    }

    /// Flushes the chunk store records written for this stage to disk.
    pub(crate) fn sync_store_files(&self) -> io::Result<()> {
        self.pack.sync()
    }

    /// True once distinct chunk `index` is written at all its places.
    pub(crate) fn is_staged(&self, index: usize) -> bool {
        self.staged.get(index).is_some_and(|s| s.load(Ordering::Acquire))
    }

    /// Stores, as loose chunks, the chunks of `distinct` this stage holds
    /// and the store does not (read back and re-hashed). Returns how many.
    fn keep_arrived(&self, store: &ChunkStore, distinct: &[ChunkRef]) -> io::Result<usize> {
        let mut kept = 0;
        let mut buf = Vec::new();
        for (i, chunk) in distinct.iter().enumerate() {
            if !self.staged[i].load(Ordering::Acquire)
                || chunked::is_zero_chunk(chunk)
                || store.has(&chunk.hash)
            {
                continue;
            }
            let Some(&(f, offset)) = self.places[i].first() else { continue };
            buf.resize(chunk.size as usize, 0);
            std::fs::File::open(&self.paths[f])?.read_exact_at(&mut buf, offset)?;
            if chunked::hash_chunk(&buf) == chunk.hash {
                store.put_loose(&self.pack, &chunk.hash, &buf)?;
                kept += 1;
            }
        }
        // The compressed chunks that arrived are in the same pack.
        self.pack.sync()?;
        Ok(kept)
    }
}

/// A staged file under `root`, opened to read and write and created
/// (private) if no chunk was written into it yet, with its folders below
/// `root` if none was written into them either. `root` itself is never
/// created here: a stage whose folder is gone stays gone.
fn open_staged(root: &Path, path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let open = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
    };
    match open() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let below = path
                .parent()
                .and_then(|parent| parent.strip_prefix(root).ok())
                .ok_or_else(|| io::Error::other("a staged file outside its stage"))?;
            let mut dir = root.to_owned();
            for part in below.components() {
                dir.push(part);
                match std::fs::create_dir(&dir) {
                    Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                    _ => {}
                }
            }
            open()
        }
        opened => opened,
    }
}

/// A version's chunk sizes by hash.
type ChunkSizes = Arc<HashMap<ChunkHash, u32>>;

/// Chunk sizes by hash of recently served versions.
#[derive(Default, Debug)]
pub struct ManifestCache {
    entries: Mutex<HashMap<(String, String), ChunkSizes>>,
}

fn error(code: ErrorCode, message: impl Into<String>) -> WireError {
    WireError::new(code, message)
}

async fn current_key(conn: &Conn, developer: i64) -> Result<Option<DeveloperKey>, WireError> {
    Ok(conn.lobby.db.developer_keys(developer).await.wire()?.pop())
}

pub async fn key_register(conn: &mut Conn, request: DevKeyRegister) -> Result<KeyReply, WireError> {
    let owner = conn.require(Role::Developer)?.clone();
    let key = chunked::parse_key_hex(&request.key)
        .map_err(|e| error(ErrorCode::BadRequest, format!("key: {e}")))?;
    let hex = chunked::key_hex(&key);
    let fingerprint = chunked::key_fingerprint(&key);
    match current_key(conn, owner.id).await? {
        Some(current) if current.key == hex => return Ok(KeyReply { fingerprint }),
        Some(current) => {
            let current = chunked::parse_key_hex(&current.key).map_err(internal)?;
            return Err(error(
                ErrorCode::KeyExists,
                format!(
                    "this developer already has the key {}; change it with a rotation signed by that key",
                    chunked::key_fingerprint(&current)
                ),
            ));
        }
        None => {}
    }
    let record = DeveloperKey { key: hex, added_at: now(), rotation: None };
    conn.lobby.db.add_developer_key(owner.id, None, &record).await.map_err(|e| match e {
        StorageError::Conflict(what) => error(ErrorCode::KeyExists, what),
        other => internal(other),
    })?;
    tracing::info!(developer = %owner.name, %fingerprint, "developer key registered");
    Ok(KeyReply { fingerprint })
}

pub async fn key_rotate(conn: &mut Conn, request: DevKeyRotate) -> Result<KeyReply, WireError> {
    let owner = conn.require(Role::Developer)?.clone();
    let Some(current) = current_key(conn, owner.id).await? else {
        return Err(error(ErrorCode::SignatureRequired, "no key is registered yet: register one"));
    };
    let signature = chunked::parse_signature_hex(&request.signature)
        .map_err(|e| error(ErrorCode::BadSignature, e.to_string()))?;
    let statement = chunked::verify_rotation(request.statement.as_bytes(), &signature)
        .map_err(|e| error(ErrorCode::BadSignature, format!("the rotation statement: {e}")))?;
    if statement.old_key != current.key {
        return Err(error(
            ErrorCode::BadSignature,
            "the rotation statement is not signed by the developer's current key",
        ));
    }
    if statement.developer != owner.name {
        return Err(error(
            ErrorCode::BadSignature,
            "the rotation statement names another developer",
        ));
    }
    if statement.new_key == current.key {
        return Err(error(ErrorCode::KeyExists, "the new key is the current key"));
    }
    let new_key = chunked::parse_key_hex(&statement.new_key).map_err(internal)?;
    let fingerprint = chunked::key_fingerprint(&new_key);
    let record = DeveloperKey {
        key: statement.new_key.clone(),
        // Strictly after the current key, so the order of keys is the chain.
        added_at: now().max(current.added_at + 1),
        rotation: Some((request.statement, request.signature.to_ascii_lowercase())),
    };
    conn.lobby.db.add_developer_key(owner.id, Some(&current.key), &record).await.map_err(|e| {
        match e {
            StorageError::Conflict(what) => error(ErrorCode::KeyExists, what),
            other => internal(other),
        }
    })?;
    Ok(KeyReply { fingerprint })
}

/// Reads exactly `size` bytes of binary frames for request `id`, which the
/// client sends right after its request. `None` when the connection ended
/// or broke the protocol (it is then closed).
async fn read_payload(conn: &mut Conn, id: u32, size: usize) -> Option<Vec<u8>> {
    let idle = conn.lobby.config.timeouts.idle;
    let (outbox, shutdown) = (conn.outbox.clone(), conn.shutdown.clone());
    let mut bytes = Vec::with_capacity(size);
    while bytes.len() < size {
        let frame = tokio::select! {
            frame = tokio::time::timeout(idle, conn.reader.read_frame()) => frame,
            _ = shutdown.recv() => return None,
            _ = outbox.killed() => return None,
        };
        match frame {
            Ok(Ok(Some(Frame::Binary { id: for_id, data })))
                if for_id == id && bytes.len() + data.len() <= size =>
            {
                if bytes.is_empty() && data.len() == size {
                    // A payload in one frame is that frame's buffer.
                    return Some(data);
                }
                bytes.extend_from_slice(&data);
            }
            Ok(Ok(Some(_))) => {
                let message = format!("expected {size} bytes of binary frames for request {id}");
                conn.outbox
                    .send(&ServerMessage::error(id, error(ErrorCode::BadFrame, message)))
                    .await;
                conn.outbox.close();
                return None;
            }
            _ => {
                conn.outbox.close();
                return None;
            }
        }
    }
    Some(bytes)
}

/// Replies `error` to `id` and closes the connection.
async fn refuse_and_close(
    conn: &Conn,
    id: u32,
    error: WireError,
) -> Result<Option<Vec<u8>>, WireError> {
    conn.outbox.send(&ServerMessage::error(id, error)).await;
    conn.outbox.close();
    Ok(None)
}

pub async fn publish_begin(
    conn: &mut Conn,
    id: u32,
    request: PublishBegin,
) -> Result<Option<Vec<u8>>, WireError> {
    if request.size > MAX_VERSION_MANIFEST_BYTES as u64 {
        let message = format!(
            "the manifest is {} bytes; this lobby takes at most {MAX_VERSION_MANIFEST_BYTES}",
            request.size
        );
        return refuse_and_close(conn, id, error(ErrorCode::ManifestTooLarge, message)).await;
    }
    let Some(bytes) = read_payload(conn, id, request.size as usize).await else {
        return Ok(None);
    };
    let plan = check_publish(conn, &request, bytes).await?;
    super::reply(plan)
}

async fn check_publish(
    conn: &mut Conn,
    request: &PublishBegin,
    bytes: Vec<u8>,
) -> Result<PublishPlan, WireError> {
    let owner = conn.require(Role::Developer)?.clone();
    let version = Version::parse(&request.version).map_err(|e| {
        error(
            ErrorCode::BadRequest,
            format!("{:?} is not a semantic version: {e}", request.version),
        )
    })?;
    if !gamestore_package::is_valid_game_id(&request.id) {
        return Err(error(
            ErrorCode::BadRequest,
            format!("{:?} is not a valid game id", request.id),
        ));
    }
    if let Some(game) = conn.lobby.db.game(&request.id).await.wire()? {
        check_owner_and_order(&game, owner.id, &version)?;
    }
    if conn.publishes.open.len() >= MAX_OPEN_PUBLISHES {
        return Err(error(
            ErrorCode::BadRequest,
            format!("at most {MAX_OPEN_PUBLISHES} publishes may be open on one connection"),
        ));
    }
    let Some(key) = current_key(conn, owner.id).await? else {
        return Err(error(
            ErrorCode::SignatureRequired,
            "register a signing key (DEV_KEY_REGISTER) before publishing signed versions",
        ));
    };
    let signature = chunked::parse_signature_hex(&request.signature)
        .map_err(|e| error(ErrorCode::BadSignature, e.to_string()))?;
    let verifying = chunked::parse_key_hex(&key.key).map_err(internal)?;
    let bytes = Arc::new(bytes);
    let limits = conn.lobby.config.limits.package;
    let checked = {
        let bytes = bytes.clone();
        tokio::task::spawn_blocking(move || -> Result<VersionManifest, WireError> {
            chunked::verify_manifest(&verifying, &bytes, &signature).map_err(|_| {
                error(
                    ErrorCode::BadSignature,
                    format!(
                        "the manifest is not signed by the developer's key {}",
                        chunked::key_fingerprint(&verifying)
                    ),
                )
            })?;
            let manifest = VersionManifest::parse(&bytes).map_err(|e| {
                let list: Vec<String> = e
                    .problems
                    .iter()
                    .map(|p| {
                        if p.field.is_empty() {
                            p.message.clone()
                        } else {
                            format!("{}: {}", p.field, p.message)
                        }
                    })
                    .collect();
                error(ErrorCode::ManifestInvalid, format!("invalid manifest: {}", list.join("; ")))
            })?;
            Ok(manifest)
        })
        .await
        .map_err(internal)??
    };
    let manifest = checked;
    if manifest.key != key.key {
        return Err(error(
            ErrorCode::BadSignature,
            "the manifest names another key than the signer's",
        ));
    }
    if manifest.id != request.id || manifest.version != version.to_string() {
        return Err(error(
            ErrorCode::ManifestMismatch,
            format!(
                "the publish was announced as {} {} but the manifest says {} {}",
                request.id, request.version, manifest.id, manifest.version
            ),
        ));
    }
    let config =
        manifest.package_config().map_err(|e| error(ErrorCode::ManifestInvalid, e.to_string()))?;
    check_texts(&config)?;
    if manifest.files.len() > limits.max_entries {
        return Err(error(
            ErrorCode::PackageTooManyFiles,
            format!(
                "{} files; this lobby takes at most {}",
                manifest.files.len(),
                limits.max_entries
            ),
        ));
    }
    if let Some(big) = manifest.files.iter().find(|f| f.size > limits.max_file_bytes) {
        return Err(error(
            ErrorCode::PackageTooLarge,
            format!(
                "{} has {} bytes; this lobby takes at most {} per file",
                big.path, big.size, limits.max_file_bytes
            ),
        ));
    }
    if manifest.total_bytes() > limits.max_total_bytes {
        return Err(error(
            ErrorCode::PackageTooLarge,
            format!(
                "the version has {} bytes; this lobby takes at most {}",
                manifest.total_bytes(),
                limits.max_total_bytes
            ),
        ));
    }
    // Chunks this connection is still storing count as present.
    conn.publishes.settle().await;
    let distinct = manifest.distinct_chunks();
    let manifest = Arc::new(manifest);
    let key: StageKey = (owner.id, manifest.id.clone(), manifest.version.clone());
    let shared = match conn.lobby.open_stages.find(&key, &manifest.files).await {
        Some(shared) => shared,
        None => {
            let lobby = conn.lobby.clone();
            let staging = conn.lobby.games.staging().map_err(io_error)?;
            let stage = {
                let (root, manifest, distinct) =
                    (staging.path().join("files"), manifest.clone(), distinct.clone());
                let lobby = conn.lobby.clone();
                tokio::task::spawn_blocking(move || {
                    Stage::create(&lobby.chunks, &root, &manifest, &distinct)
                })
                .await
                .map_err(internal)?
                .map_err(io_error)?
            };
            let shared = Arc::new(SharedStage {
                lobby,
                key,
                files: manifest.files.clone(),
                distinct,
                stage: Arc::new(stage),
                staging: Mutex::new(Some(staging)),
            });
            conn.lobby.open_stages.insert(&shared);
            shared
        }
    };
    let missing = missing_ranges(&conn.lobby.chunks, &shared.distinct, &shared.stage);
    let chunks = shared.distinct.len() as u64;
    let publishes = &mut conn.publishes;
    publishes.next += 1;
    let token = publishes.next;
    publishes.open.insert(
        token,
        OpenPublish {
            owner_id: owner.id,
            bytes,
            manifest,
            version,
            signature: chunked::signature_hex(&signature),
            uploaded_bytes: Arc::new(AtomicU64::new(0)),
            shared,
        },
    );
    Ok(PublishPlan { publish: token, chunks, missing, max_chunk: MAX_CHUNK_LEN as u32 })
}

fn check_texts(config: &Manifest) -> Result<(), WireError> {
    for (field, value, lines) in [
        ("name", &config.name, crate::text::Lines::Single),
        ("description", &config.description, crate::text::Lines::Multi),
    ] {
        if let Err(problem) = crate::text::check(value, lines) {
            return Err(error(
                ErrorCode::ManifestInvalid,
                format!("config.json: {field}: {problem}"),
            ));
        }
    }
    Ok(())
}

/// `[start, count]` ranges of the indices of `distinct` neither staged
/// already nor in the store.
fn missing_ranges(store: &ChunkStore, distinct: &[ChunkRef], stage: &Stage) -> Vec<[u64; 2]> {
    let mut ranges: Vec<[u64; 2]> = Vec::new();
    for (i, chunk) in distinct.iter().enumerate() {
        if stage.is_staged(i) || store.has(&chunk.hash) {
            continue;
        }
        match ranges.last_mut() {
            Some(last) if last[0] + last[1] == i as u64 => last[1] += 1,
            _ => ranges.push([i as u64, 1]),
        }
    }
    ranges
}

pub async fn chunk_put(
    conn: &mut Conn,
    id: u32,
    request: ChunkPut,
) -> Result<Option<Vec<u8>>, WireError> {
    if request.size > MAX_STORED_CHUNK {
        let message = format!("a chunk is at most {MAX_STORED_CHUNK} bytes, not {}", request.size);
        return refuse_and_close(conn, id, error(ErrorCode::BadRequest, message)).await;
    }
    let Some(bytes) = read_payload(conn, id, request.size as usize).await else {
        return Ok(None);
    };
    let Some(publish) = conn.publishes.open.get(&request.publish) else {
        return Err(error(ErrorCode::BadRequest, "no such publish on this connection"));
    };
    let Some(chunk) = publish.shared.distinct.get(request.index as usize).copied() else {
        return Err(error(
            ErrorCode::BadRequest,
            format!(
                "the manifest has {} distinct chunks, no index {}",
                publish.shared.distinct.len(),
                request.index
            ),
        ));
    };
    // The chunk is verified, stored and staged while the connection reads
    // the next ones; its reply goes out once it is stored.
    let permit = conn.publishes.puts.clone().acquire_owned().await.map_err(internal)?;
    let (lobby, stage, uploaded) =
        (conn.lobby.clone(), publish.shared.stage.clone(), publish.uploaded_bytes.clone());
    let outbox = conn.outbox.clone();
    let (index, compressed) = (request.index as usize, request.compressed);
    tokio::spawn(async move {
        let stored = bytes.len() as u64;
        let result = tokio::task::spawn_blocking(move || {
            store_chunk(&lobby, &stage, index, chunk, compressed, bytes)
        })
        .await
        .map_err(internal)
        .and_then(|stored| stored);
        let message = match result {
            Ok(()) => {
                uploaded.fetch_add(stored, Ordering::Relaxed);
                ServerMessage::ok(id, &gamestore_protocol::Empty {})
            }
            Err(e) => ServerMessage::error(id, e),
        };
        outbox.send(&message).await;
        drop(permit);
    });
    Ok(None)
}

/// Checks one received chunk (inflated at most to its manifest size, then
/// hashed), stores it as it was sent and writes it into the staged files.
fn store_chunk(
    lobby: &crate::Lobby,
    stage: &Stage,
    index: usize,
    chunk: ChunkRef,
    compressed: bool,
    bytes: Vec<u8>,
) -> Result<(), WireError> {
    let inflated;
    let raw: &[u8] = if compressed {
        inflated = chunked::inflate_chunk(&bytes, chunk.size)
            .map_err(|e| error(ErrorCode::ChunkInvalid, format!("chunk {index}: {e}")))?;
        &inflated
    } else {
        if bytes.len() != chunk.size as usize {
            return Err(error(
                ErrorCode::ChunkInvalid,
                format!(
                    "chunk {index} has {} bytes, its manifest says {}",
                    bytes.len(),
                    chunk.size
                ),
            ));
        }
        &bytes
    };
    if chunked::hash_chunk(raw) != chunk.hash {
        return Err(error(
            ErrorCode::ChunkInvalid,
            format!("chunk {index}'s bytes do not hash to {}", chunk.hash),
        ));
    }
    // The raw bytes are kept in the version's files only; a chunk sent
    // compressed also keeps its zstd frame, which downloads then send.
    if compressed {
        stage.put_packed(&lobby.chunks, &chunk.hash, raw.len(), &bytes).map_err(io_error)?;
    }
    stage.write(index, raw).map_err(io_error)
}

pub async fn publish_done(
    conn: &mut Conn,
    request: PublishDone,
) -> Result<PublishDoneReply, WireError> {
    conn.require(Role::Developer)?;
    conn.publishes.settle().await;
    let Some(publish) = conn.publishes.open.get(&request.publish) else {
        return Err(error(ErrorCode::BadRequest, "no such publish on this connection"));
    };
    let absent = publish
        .shared
        .distinct
        .iter()
        .enumerate()
        .filter(|(i, c)| !publish.shared.stage.is_staged(*i) && !conn.lobby.chunks.has(&c.hash))
        .count();
    if absent > 0 {
        return Err(error(
            ErrorCode::ChunksMissing,
            format!("{absent} chunks of the manifest are still missing"),
        ));
    }
    let publish = conn.publishes.open.remove(&request.publish).expect("checked above");
    let uploaded_bytes = publish.uploaded_bytes.load(Ordering::Relaxed);
    let distinct = publish.shared.distinct.clone();
    let published = commit_version(conn, publish).await?;
    // Chunks that came raw (from a launcher on this machine, or that did
    // not compress) get their zstd frame where one pays, after the reply.
    let lobby = conn.lobby.clone();
    drop(tokio::task::spawn_blocking(move || match lobby.chunks.compress_missing(&distinct) {
        Ok(0) => {}
        Ok(n) => tracing::debug!(chunks = n, "compressed the chunks of a version"),
        Err(e) => tracing::warn!(error = %e, "cannot compress the chunks of a version"),
    }));
    tracing::info!(game = %published.id, version = %published.version, "published a signed version");
    Ok(PublishDoneReply { published, uploaded_bytes })
}

/// Completes the version's staged files (chunks that were already stored
/// are copied from the store), lists them with their SHA-256 and commits
/// folder then row. The zip GAME_DOWNLOAD serves to clients of the zip flow
/// is packed on first demand ([`super::game_download::with_zip`]), not
/// here: a publish costs what its bytes cost to write.
async fn commit_version(conn: &Conn, publish: OpenPublish) -> Result<PublishReply, WireError> {
    let lobby = conn.lobby.clone();
    let manifest = publish.manifest.clone();
    let bytes = publish.bytes.clone();
    let stage = publish.shared.stage.clone();
    let Some(staging) = publish.shared.staging.lock().expect("staging").take() else {
        return Err(error(
            ErrorCode::BadRequest,
            "this publish was completed on another connection",
        ));
    };
    let dir = staging.path().to_owned();
    let files = tokio::task::spawn_blocking(move || -> Result<FileList, WireError> {
        std::fs::write(dir.join("manifest"), bytes.as_slice()).map_err(io_error)?;
        let files = finish_stage(&lobby.chunks, &manifest.files, &stage, Listing::WithoutSha256)
            .map_err(io_error)?;
        stage.sync_store_files().map_err(io_error)?;
        check_config_file(&dir.join("files"), &manifest)?;
        Ok(files)
    })
    .await
    .map_err(internal)??;
    let config = publish
        .manifest
        .package_config()
        .map_err(|e| error(ErrorCode::ManifestInvalid, e.to_string()))?;
    let key = publish.manifest.key.clone();
    let signature = (!key.is_empty()).then(|| publish.signature.clone());
    commit_staged(
        conn,
        publish.owner_id,
        &config,
        &publish.version,
        staging,
        files,
        0,
        String::new(),
        signature.map(|s| (s, key)),
    )
    .await
}

/// The config.json among the files must be the manifest's `config`.
pub(crate) fn check_config_file(
    files_dir: &Path,
    manifest: &VersionManifest,
) -> Result<(), WireError> {
    let bytes = std::fs::read(files_dir.join(MANIFEST_FILE)).map_err(io_error)?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        error(ErrorCode::ManifestInvalid, format!("config.json does not parse: {e}"))
    })?;
    if value != manifest.config {
        return Err(error(
            ErrorCode::ManifestInvalid,
            "config.json's bytes are not the manifest's config",
        ));
    }
    Ok(())
}

/// Whether [`finish_stage`] lists each file's SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listing {
    /// Read every file back for its SHA-256 (to compare with a listing
    /// that has them).
    WithSha256,
    /// Paths, sizes and modes only: the chunk hashes already vouch for the
    /// bytes, and the SHA-256 the zip flow shows are listed when its zip is
    /// first packed.
    WithoutSha256,
}

/// Writes into the staged files the chunks nothing wrote there yet (read
/// from the store, re-verified as read), sets each file's mode and lists
/// them, on a few threads.
pub(crate) fn finish_stage(
    store: &ChunkStore,
    files: &[ManifestFile],
    stage: &Stage,
    listing: Listing,
) -> io::Result<FileList> {
    let order: Vec<usize> = (0..files.len()).collect();
    let entries = gamestore_package::map_parallel(&order, 4, |&f| {
        finish_file(store, &files[f], &stage.paths[f], stage, listing)
    })?;
    Ok(FileList::from_entries(entries))
}

fn finish_file(
    store: &ChunkStore,
    file: &ManifestFile,
    path: &Path,
    stage: &Stage,
    listing: Listing,
) -> io::Result<FileEntry> {
    use std::os::unix::fs::PermissionsExt;
    let out = open_staged(&stage.root, path)?;
    out.set_len(file.size)?;
    let mut offset = 0u64;
    for chunk in &file.chunks {
        if !stage.staged[stage.index[&chunk.hash]].load(Ordering::Acquire) {
            let data = store.read(&chunk.hash, chunk.size)?;
            if chunked::hash_chunk(&data) != chunk.hash {
                return Err(io::Error::other(format!("stored chunk {} is damaged", chunk.hash)));
            }
            out.write_all_at(&data, offset)?;
            gamestore_package::start_writeback(&out, offset, data.len() as u64);
        }
        offset += u64::from(chunk.size);
    }
    let (sha256, size) = match listing {
        Listing::WithSha256 => gamestore_package::sha256_reader(&out)?,
        Listing::WithoutSha256 => (String::new(), out.metadata()?.len()),
    };
    if size != file.size {
        return Err(io::Error::other(format!("{} has {size} bytes, not {}", file.path, file.size)));
    }
    let mode = if file.executable { 0o700 } else { 0o600 };
    out.set_permissions(std::fs::Permissions::from_mode(mode))?;
    Ok(FileEntry { path: file.path.clone(), size: file.size, sha256, executable: file.executable })
}

/// The final check and commit shared by chunked publishes and zip uploads.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn commit_staged(
    conn: &Conn,
    owner_id: i64,
    config: &Manifest,
    version: &Version,
    staging: crate::games_area::Staging,
    files: FileList,
    package_size: u64,
    package_sha256: String,
    signature: Option<(String, String)>,
) -> Result<PublishReply, WireError> {
    let version_text = version.to_string();
    let record = NewVersion {
        owner_id,
        name: config.name.clone(),
        description: config.description.clone(),
        kind: config.kind.as_str().to_owned(),
        min_players: config.min_players,
        max_players: config.max_players,
        version: VersionRecord {
            game_id: config.id.clone(),
            version: version_text.clone(),
            manifest: serde_json::to_string(config).map_err(internal)?,
            files: serde_json::to_string(&files).map_err(internal)?,
            package_size,
            package_sha256,
            unpacked_bytes: files.total_size(),
            published_at: now(),
        },
    };
    let _guard = conn.lobby.publish_lock.lock().await;
    let current = conn.lobby.db.game(&config.id).await.wire()?;
    if let Some(game) = &current {
        check_owner_and_order(game, owner_id, version)?;
    }
    if let Some((signature, key)) = &signature {
        conn.lobby
            .db
            .set_version_signature(&config.id, &version_text, signature, key)
            .await
            .map_err(internal)?;
    }
    // The commit syncs the version's files, which hold this publish's raw
    // chunks; its compressed chunks were synced before.
    place_version(conn, staging, &record, current.as_ref()).await?;
    Ok(PublishReply {
        id: config.id.clone(),
        version: version_text,
        created: current.is_none(),
        files: files.len() as u64,
        unpacked_bytes: files.total_size(),
    })
}

/// Chunks an unpacked folder and returns its unsigned manifest (for zip
/// uploads and versions published before chunks). Chunks that zstd shrinks
/// get their compressed form stored; the raw bytes stay in the folder's
/// files, which hold them once the version is committed
/// ([`index_version`]).
pub(crate) fn unsigned_manifest(
    store: &ChunkStore,
    files_dir: &Path,
    config: &Manifest,
    created: u64,
) -> std::io::Result<VersionManifest> {
    let listed = gamestore_package::package_files(files_dir).map_err(std::io::Error::other)?;
    let files = chunked::chunk_folder(files_dir, &listed)?;
    let pack = store.new_pack();
    for file in &files {
        let mut handle = std::fs::File::open(files_dir.join(&file.path))?;
        for chunk in &file.chunks {
            let mut data = vec![0u8; chunk.size as usize];
            std::io::Read::read_exact(&mut handle, &mut data)?;
            if let Some(packed) = chunked::compress_chunk(&data) {
                store.put_packed(&pack, &chunk.hash, data.len(), &packed)?;
            }
        }
    }
    pack.sync()?;
    let config_bytes = std::fs::read(files_dir.join(MANIFEST_FILE))?;
    let manifest = VersionManifest {
        format: chunked::FORMAT,
        id: config.id.clone(),
        version: config.version.to_string(),
        created,
        config: serde_json::from_slice(&config_bytes).map_err(std::io::Error::other)?,
        files,
        key: String::new(),
    };
    Ok(manifest)
}

/// The manifest bytes of a stored version, made (unsigned) on first request
/// for a version stored before chunked distribution.
pub(crate) fn manifest_bytes(
    lobby: &crate::Lobby,
    record: &VersionRecord,
) -> std::io::Result<Vec<u8>> {
    let dir = lobby.games.version_dir(&record.game_id, &record.version);
    let path = dir.join("manifest");
    match std::fs::read(&path) {
        Ok(bytes) => return Ok(bytes),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    let config: Manifest = serde_json::from_str(&record.manifest).map_err(std::io::Error::other)?;
    let manifest = unsigned_manifest(
        &lobby.chunks,
        &dir.join("files"),
        &config,
        record.published_at.max(0) as u64,
    )?;
    let bytes = manifest.to_bytes();
    let tmp = dir.join(format!("manifest.tmp-{}", std::process::id()));
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, &path)?;
    lobby.chunks.place_version(&dir.join("files"), &manifest);
    Ok(bytes)
}

/// Records in the chunk store that the committed version `id` `version`
/// holds the chunks its manifest names (a version without a manifest yet
/// gets one, and is indexed then, on its first MANIFEST_GET). Returns the
/// chunks it names.
pub(crate) fn index_version(
    games: &GamesArea,
    chunks: &ChunkStore,
    id: &str,
    version: &str,
) -> Vec<ChunkHash> {
    let dir = games.version_dir(id, version);
    let Ok(bytes) = std::fs::read(dir.join("manifest")) else { return Vec::new() };
    match serde_json::from_slice::<VersionManifest>(&bytes) {
        Ok(manifest) => {
            chunks.place_version(&dir.join("files"), &manifest);
            manifest.files.iter().flat_map(|f| f.chunks.iter().map(|c| c.hash)).collect()
        }
        Err(e) => {
            tracing::warn!(game = %id, %version, error = %e, "unreadable stored manifest");
            Vec::new()
        }
    }
}

/// Commits a staging folder as `id` `version` ([`GamesArea::commit`]) and
/// indexes the chunks its files now hold.
pub(crate) fn commit_indexed(
    lobby: &crate::Lobby,
    staging: Staging,
    id: &str,
    version: &str,
) -> io::Result<PathBuf> {
    let placed = lobby.games.commit(staging, id, version)?;
    index_version(&lobby.games, &lobby.chunks, id, version);
    Ok(placed)
}

/// Indexes every stored version's chunks (at start); returns every chunk
/// they name, for the start's garbage collection.
pub fn index_versions(
    games: &GamesArea,
    chunks: &ChunkStore,
    versions: &[(String, String)],
) -> HashSet<ChunkHash> {
    let mut referenced = HashSet::new();
    for (id, version) in versions {
        referenced.extend(index_version(games, chunks, id, version));
    }
    referenced
}

pub async fn manifest_get(conn: &mut Conn, id: u32, request: ManifestGet) -> Result<(), WireError> {
    let record = visible_version(conn, &request.id, &request.version).await?;
    let lobby = conn.lobby.clone();
    let bytes = {
        let record = record.clone();
        tokio::task::spawn_blocking(move || manifest_bytes(&lobby, &record))
            .await
            .map_err(internal)?
            .map_err(io_error)?
    };
    let signed = conn.lobby.db.version_signature(&record.game_id, &record.version).await.wire()?;
    let (signature, key) = signed.unwrap_or_default();
    let mut rotations = Vec::new();
    let mut fingerprint = None;
    if !key.is_empty() {
        let owner = conn.lobby.db.game(&record.game_id).await.wire()?.map(|g| g.owner_id);
        if let Some(owner) = owner {
            let keys = conn.lobby.db.developer_keys(owner).await.wire()?;
            if let Some(at) = keys.iter().position(|k| k.key == key) {
                rotations = keys[1..=at]
                    .iter()
                    .filter_map(|k| k.rotation.clone())
                    .map(|(statement, signature)| Rotation { statement, signature })
                    .collect();
            }
        }
        fingerprint = chunked::parse_key_hex(&key).ok().map(|k| chunked::key_fingerprint(&k));
    }
    let ready = ManifestReady { size: bytes.len() as u64, signature, key, rotations, fingerprint };
    conn.outbox.send(&ServerMessage::ok(id, &ready)).await;
    for piece in bytes.chunks(MAX_CHUNK_LEN) {
        let mut frame = Vec::new();
        gamestore_protocol::encode_binary(id, piece, &mut frame).map_err(internal)?;
        let sent = tokio::select! {
            sent = conn.outbox.send_bulk(frame) => sent,
            _ = conn.interrupted() => false,
        };
        if !sent {
            break;
        }
    }
    Ok(())
}

/// Chunk sizes by hash of a version, cached.
async fn version_chunks(conn: &Conn, record: &VersionRecord) -> Result<ChunkSizes, WireError> {
    let key = (record.game_id.clone(), record.version.clone());
    if let Some(hit) = conn.lobby.manifest_cache.entries.lock().expect("manifest cache").get(&key) {
        return Ok(hit.clone());
    }
    let lobby = conn.lobby.clone();
    let record = record.clone();
    let sizes =
        tokio::task::spawn_blocking(move || -> Result<HashMap<ChunkHash, u32>, WireError> {
            let bytes = manifest_bytes(&lobby, &record).map_err(io_error)?;
            let manifest: VersionManifest = serde_json::from_slice(&bytes).map_err(internal)?;
            Ok(manifest
                .files
                .iter()
                .flat_map(|f| f.chunks.iter().map(|c| (c.hash, c.size)))
                .collect())
        })
        .await
        .map_err(internal)??;
    let sizes = Arc::new(sizes);
    let mut entries = conn.lobby.manifest_cache.entries.lock().expect("manifest cache");
    if entries.len() >= MANIFEST_CACHE_ENTRIES {
        entries.clear();
    }
    entries.insert(key, sizes.clone());
    Ok(sizes)
}

/// How long a connection's CHUNK_GETs trust their last check that the
/// version is still published and visible to the account: an install sends
/// dozens of them, and a delisting reaches a running install within this.
const CHUNK_SOURCE_RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// The version a connection's CHUNK_GETs last read: which one, its chunk
/// sizes, and when it was last checked.
pub struct ChunkSource {
    id: String,
    version: String,
    sizes: Arc<HashMap<ChunkHash, u32>>,
    checked: std::time::Instant,
}

/// The chunk sizes of `id` `version`, checked visible to the account at
/// most [`CHUNK_SOURCE_RECHECK`] ago.
async fn chunk_source(
    conn: &mut Conn,
    id: &str,
    version: &str,
) -> Result<Arc<HashMap<ChunkHash, u32>>, WireError> {
    if let Some(source) = &conn.chunk_source
        && source.id == id
        && source.version == version
        && source.checked.elapsed() < CHUNK_SOURCE_RECHECK
    {
        return Ok(source.sizes.clone());
    }
    conn.chunk_source = None;
    let record = visible_version(conn, id, version).await?;
    let sizes = version_chunks(conn, &record).await?;
    conn.chunk_source = Some(ChunkSource {
        id: id.to_owned(),
        version: version.to_owned(),
        sizes: sizes.clone(),
        checked: std::time::Instant::now(),
    });
    Ok(sizes)
}

pub async fn chunk_get(conn: &mut Conn, id: u32, request: ChunkGet) -> Result<(), WireError> {
    if request.chunks.len() > CHUNK_GET_MAX_CHUNKS {
        return Err(error(
            ErrorCode::BadRequest,
            format!(
                "at most {CHUNK_GET_MAX_CHUNKS} chunks per CHUNK_GET, not {}",
                request.chunks.len()
            ),
        ));
    }
    let sizes = chunk_source(conn, &request.id, &request.version).await?;
    let mut seen = HashSet::with_capacity(request.chunks.len());
    let mut total = 0u64;
    for hash in &request.chunks {
        if !seen.insert(*hash) {
            return Err(error(ErrorCode::BadRequest, format!("chunk {hash} is named twice")));
        }
        let Some(size) = sizes.get(hash) else {
            return Err(error(
                ErrorCode::BadRequest,
                format!("chunk {hash} is not in this version"),
            ));
        };
        total += u64::from(*size);
    }
    if total > CHUNK_GET_MAX_BYTES {
        return Err(error(
            ErrorCode::BadRequest,
            format!("the chunks hold {total} bytes; at most {CHUNK_GET_MAX_BYTES} per CHUNK_GET"),
        ));
    }
    // The store's index is in memory: no trip to the blocking pool.
    let stored = request
        .chunks
        .iter()
        .map(|h| conn.lobby.chunks.find_as(h, request.raw))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            error(ErrorCode::Internal, "a chunk of this version is missing from the store")
        })?;
    let listed = request
        .chunks
        .iter()
        .zip(&stored)
        .map(|(hash, s)| ChunkSent {
            hash: *hash,
            size: sizes[hash],
            compressed: s.compressed,
            stored_size: s.stored_size as u32,
        })
        .collect();
    conn.outbox.send(&ServerMessage::ok(id, &ChunksReady { chunks: listed })).await;
    let rate = conn.lobby.config.limits.download_bytes_per_sec;
    if rate > 0 {
        // Paced: small frames, each chunk on its own.
        let mut pace = Pace::new(rate);
        for chunk in stored {
            if let Err(e) =
                send_piece(conn, id, &chunk.path, chunk.offset, chunk.stored_size, &mut pace).await
            {
                tracing::error!(path = %chunk.path.display(), error = %e, "chunk send failed");
                conn.outbox.kill();
                return Ok(());
            }
        }
        return Ok(());
    }
    let stored = Arc::new(stored);
    let sends_files = conn.sends_files;
    let mut next = 0;
    while next < stored.len() {
        let batch = {
            let stored = stored.clone();
            tokio::task::spawn_blocking(move || -> io::Result<(Vec<BulkFrame>, usize)> {
                let (frames, next) = if sends_files {
                    let (frames, next) = open_chunk_frames(&stored, next, id)?;
                    (frames.into_iter().map(BulkFrame::File).collect(), next)
                } else {
                    let (frames, next) = read_chunk_frames(&stored, next, id)?;
                    (frames.into_iter().map(BulkFrame::Bytes).collect(), next)
                };
                Ok((frames, next))
            })
            .await
            .map_err(internal)?
        };
        let (frames, after) = match batch {
            Ok(batch) => batch,
            Err(e) => {
                tracing::error!(error = %e, "chunk send failed");
                conn.outbox.kill();
                return Ok(());
            }
        };
        next = after;
        // A kill (a stalled reader, a revoked session) or shutdown ends the
        // stream; the client sees an incomplete download.
        for frame in frames {
            let sent = tokio::select! {
                sent = conn.outbox.send_bulk(frame) => sent,
                _ = conn.interrupted() => false,
            };
            if !sent {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Stored chunk bytes read per trip to the blocking pool (whole chunks, at
/// least one): small, since every downloading connection holds one batch.
const CHUNK_READ_BYTES: u64 = 256 << 10;

/// Reads whole stored chunks from `stored[start..]`, about
/// [`CHUNK_READ_BYTES`] of them, as binary frames for request `id`: each
/// frame's bytes read straight after its header, no frame spanning two
/// chunks. Returns the frames and the index of the next chunk.
fn read_chunk_frames(
    stored: &[crate::chunk_store::StoredChunk],
    start: usize,
    id: u32,
) -> io::Result<(Vec<Vec<u8>>, usize)> {
    let mut frames = Vec::new();
    let mut read = 0u64;
    let mut next = start;
    while next < stored.len() && (next == start || read < CHUNK_READ_BYTES) {
        let chunk = &stored[next];
        let mut file = std::fs::File::open(&chunk.path)?;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(chunk.offset))?;
        let mut left = chunk.stored_size;
        while left > 0 {
            let want = (MAX_CHUNK_LEN as u64).min(left) as usize;
            frames.push(gamestore_protocol::read_binary_frame(&mut file, id, want)?);
            left -= want as u64;
        }
        read += chunk.stored_size;
        next += 1;
    }
    Ok((frames, next))
}

/// Stored chunk bytes opened per trip to the blocking pool when the writer
/// sends them from their files: nothing is read into memory, so this only
/// bounds the files held open (with the outbox's budget) and the read-ahead
/// asked for at once.
const CHUNK_OPEN_BYTES: u64 = 1 << 20;

/// Opens whole stored chunks from `stored[start..]`, about
/// [`CHUNK_OPEN_BYTES`] of them, as [`FileFrame`]s for request `id` (the
/// frames of one chunk share its open file, no frame spans two chunks), and
/// asks the kernel to read their bytes ahead, so that the writer's
/// `sendfile(2)` finds them in the page cache. A file too short for its
/// chunk is an error here, before any of the chunk is sent. Returns the
/// frames and the index of the next chunk.
fn open_chunk_frames(
    stored: &[crate::chunk_store::StoredChunk],
    start: usize,
    id: u32,
) -> io::Result<(Vec<crate::hub::FileFrame>, usize)> {
    use std::os::fd::AsRawFd;
    let mut frames = Vec::new();
    let mut opened = 0u64;
    let mut next = start;
    // Chunks that follow each other in one file (a version's files, a
    // pack) share its descriptor.
    let mut last: Option<(&Path, Arc<std::fs::File>, u64)> = None;
    while next < stored.len() && (next == start || opened < CHUNK_OPEN_BYTES) {
        let chunk = &stored[next];
        let (file, len) = match &last {
            Some((path, file, len)) if *path == chunk.path.as_path() => (file.clone(), *len),
            _ => {
                let file = std::fs::File::open(&chunk.path)?;
                let len = file.metadata()?.len();
                (Arc::new(file), len)
            }
        };
        last = Some((chunk.path.as_path(), file.clone(), len));
        if len < chunk.offset + chunk.stored_size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} is shorter than its chunk", chunk.path.display()),
            ));
        }
        // SAFETY: advice on an open descriptor; it reads nothing into memory
        // of ours.
        unsafe {
            libc::posix_fadvise(
                file.as_raw_fd(),
                chunk.offset as libc::off_t,
                chunk.stored_size as libc::off_t,
                libc::POSIX_FADV_WILLNEED,
            );
        }
        let mut at = 0u64;
        while at < chunk.stored_size {
            let len = (MAX_CHUNK_LEN as u64).min(chunk.stored_size - at) as usize;
            let header = gamestore_protocol::binary_frame_header(id, len)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            frames.push(crate::hub::FileFrame {
                header,
                file: file.clone(),
                offset: chunk.offset + at,
                len,
            });
            at += len as u64;
        }
        opened += chunk.stored_size;
        next += 1;
    }
    Ok((frames, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_file_manifest(data: &[u8]) -> (VersionManifest, Vec<ChunkRef>) {
        let chunk = ChunkRef { hash: chunked::hash_chunk(data), size: data.len() as u32 };
        let manifest = VersionManifest {
            format: chunked::FORMAT,
            id: "stage".into(),
            version: "1.0.0".into(),
            created: 0,
            config: serde_json::json!({}),
            files: vec![chunked::ManifestFile {
                path: "levels/one/level.bin".into(),
                size: data.len() as u64,
                executable: false,
                chunks: vec![chunk],
            }],
            key: String::new(),
        };
        (manifest, vec![chunk])
    }

    #[test]
    fn a_write_creates_the_folders_of_its_file_but_never_brings_back_a_removed_stage() {
        let data_dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(data_dir.path()).unwrap();
        let data = vec![7u8; 4096];
        let (manifest, distinct) = one_file_manifest(&data);

        let root = data_dir.path().join("live/files");
        let stage = Stage::create(&store, &root, &manifest, &distinct).unwrap();
        stage.write(0, &data).unwrap();
        assert_eq!(std::fs::read(root.join("levels/one/level.bin")).unwrap(), data);

        // The publish ended and its staging folder was removed while a
        // chunk was still being written.
        let removed = data_dir.path().join("gone/files");
        let late = Stage::create(&store, &removed, &manifest, &distinct).unwrap();
        std::fs::remove_dir_all(data_dir.path().join("gone")).unwrap();
        assert!(late.write(0, &data).is_err(), "a write into a removed stage succeeded");
        assert!(!data_dir.path().join("gone").exists(), "the removed stage came back");
    }

    #[test]
    fn a_chunk_written_while_a_stage_is_being_removed_waits_and_then_fails() {
        let data_dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(data_dir.path()).unwrap();
        let data = vec![9u8; 4096];
        let (manifest, distinct) = one_file_manifest(&data);
        let root = data_dir.path().join("cut/files");
        let stage = Stage::create(&store, &root, &manifest, &distinct).unwrap();
        std::fs::create_dir_all(root.join("levels/one")).unwrap();

        let written = std::thread::scope(|scope| {
            let quiet = stage.quiet();
            let (started_tx, started_rx) = std::sync::mpsc::channel();
            let (stage, data) = (&stage, &data);
            let writer = scope.spawn(move || {
                started_tx.send(()).unwrap();
                stage.write(0, data)
            });
            started_rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
            // The removal, with the folders still there for the writer.
            std::fs::remove_dir_all(data_dir.path().join("cut")).unwrap();
            drop(quiet);
            writer.join().unwrap()
        });
        assert!(written.is_err(), "a chunk was written into a stage being removed");
        assert!(!data_dir.path().join("cut").exists(), "the removed stage came back");
    }
}
