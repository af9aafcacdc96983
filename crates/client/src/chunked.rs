//! Installing, updating and repairing from signed, content-addressed
//! versions (MANIFEST_GET and CHUNK_GET).
//!
//! 1. MANIFEST_GET gives the manifest bytes, the signature and the key
//!    chain. The signature is checked over the exact bytes before anything
//!    is parsed from them; the trust store ([`crate::trust`]) then decides
//!    whether that key may sign this game, and whether this is a downgrade.
//! 2. Each distinct chunk is placed at its offsets in the files of a
//!    resumable staging folder: chunks already written by a cut attempt
//!    (its journal, each entry re-hashed), chunks of any installed version
//!    of the game (read and re-hashed), and the rest fetched with pipelined
//!    CHUNK_GETs, each chunk hashed as it arrives and written where it goes
//!    on a small pool of threads, then recorded in the journal.
//! 3. One pass syncs every file, modes are set, and the folder is renamed
//!    into place; the manifest and its signature are written last. A cut or
//!    corrupt install never looks installed and the installed versions keep
//!    working.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, Write};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use gamestore_package::chunked::{
    ChunkHash, ChunkRef, VersionManifest, hash_chunk, hash_chunk_parts, inflate_chunk,
    is_zero_chunk, key_fingerprint, parse_key_hex, parse_signature_hex, verify_manifest,
    verify_rotation,
};
use gamestore_protocol::{
    CHUNK_GET_MAX_BYTES, CHUNK_GET_MAX_CHUNKS, ChunkGet, ChunksReady, ErrorCode, MAX_CHUNK_LEN,
    ManifestGet, ManifestReady,
};
use indicatif::ProgressBar;
use semver::Version;
use tokio::sync::mpsc;

use crate::library::{Library, StoredSignature, sync_dir};
use crate::transfer::progress_bar;
use crate::trust::{KnownKeys, Request, Rotation, Verdict};
use crate::{ClientError, LobbyClient};

/// Longest wait for the next bytes of a reply.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// CHUNK_GETs kept in flight on the connection.
const IN_FLIGHT: usize = 6;

/// A verified manifest, as MANIFEST_GET gave it.
pub struct VerifiedManifest {
    pub bytes: Vec<u8>,
    pub manifest: VersionManifest,
    pub signature: StoredSignature,
    /// The verified rotation chain, oldest first.
    pub chain: Vec<Rotation>,
}

/// True when the lobby does not know the chunked messages (an older lobby).
pub fn is_unsupported(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ClientError>()
        .and_then(ClientError::code)
        .is_some_and(|code| code == ErrorCode::UnknownCommand)
}

/// MANIFEST_GET of `id` `version`, signature checked over the exact bytes
/// before they are parsed, then parsed and checked against what was asked.
pub async fn fetch_manifest(
    client: &LobbyClient,
    id: &str,
    version: &str,
) -> anyhow::Result<VerifiedManifest> {
    let (tx, mut rx) = mpsc::channel(64);
    let request = ManifestGet { id: id.to_owned(), version: version.to_owned() };
    let (_, reply) = client.start(request, Some(tx)).await?;
    let value = tokio::time::timeout(STALL_TIMEOUT, reply)
        .await
        .map_err(|_| ClientError::Timeout(STALL_TIMEOUT))?
        .map_err(|_| ClientError::Closed("connection closed".into()))??;
    let ready: ManifestReady = LobbyClient::decode::<ManifestGet>(value)?;
    let limit = gamestore_package::chunked::MAX_VERSION_MANIFEST_BYTES as u64;
    if ready.size > limit {
        bail!(
            "the lobby offers a manifest of {} bytes for {id} {version}; at most {limit} are accepted",
            ready.size
        );
    }
    let mut bytes = Vec::with_capacity(ready.size as usize);
    while (bytes.len() as u64) < ready.size {
        let data = next_frame(&mut rx).await?;
        bytes.extend_from_slice(&data);
        if bytes.len() as u64 > ready.size {
            bail!("the lobby sent more manifest bytes than it announced");
        }
    }
    let signature = StoredSignature { key: ready.key.clone(), signature: ready.signature.clone() };
    if !ready.key.is_empty() || !ready.signature.is_empty() {
        let key = parse_key_hex(&ready.key)
            .map_err(|e| anyhow::anyhow!("the lobby sent a bad developer key for {id}: {e}"))?;
        let sig = parse_signature_hex(&ready.signature).map_err(|e| {
            anyhow::anyhow!("the lobby sent a bad signature for {id} {version}: {e}")
        })?;
        verify_manifest(&key, &bytes, &sig).map_err(|_| {
            anyhow::anyhow!(
                "the manifest of {id} {version} does not match its signature by {}: the lobby's copy was altered; nothing was installed",
                key_fingerprint(&key)
            )
        })?;
    }
    let manifest = VersionManifest::parse(&bytes).map_err(|e| {
        anyhow::anyhow!("the manifest of {id} {version} is invalid: {e}; nothing was installed")
    })?;
    if manifest.id != id || manifest.version != version {
        bail!(
            "the lobby answered for {id} {version} with a manifest of {} {}; nothing was installed",
            manifest.id,
            manifest.version
        );
    }
    if manifest.key != ready.key {
        bail!(
            "the manifest of {id} {version} names another key than the one that signed it; nothing was installed"
        );
    }
    let mut chain = Vec::new();
    for rotation in &ready.rotations {
        let Ok(sig) = parse_signature_hex(&rotation.signature) else { continue };
        // Unverifiable links are dropped: the chain then does not reach.
        if let Ok(statement) = verify_rotation(rotation.statement.as_bytes(), &sig) {
            chain.push(Rotation { old_key: statement.old_key, new_key: statement.new_key });
        }
    }
    Ok(VerifiedManifest { bytes, manifest, signature, chain })
}

async fn next_frame(rx: &mut mpsc::Receiver<Vec<u8>>) -> anyhow::Result<Vec<u8>> {
    match tokio::time::timeout(STALL_TIMEOUT, rx.recv()).await {
        Ok(Some(data)) => Ok(data),
        Ok(None) => bail!("the transfer was cut off (connection to the lobby lost)"),
        Err(_) => bail!("the transfer stalled for {}s", STALL_TIMEOUT.as_secs()),
    }
}

/// Where one distinct chunk goes.
#[derive(Debug, Clone)]
struct Need {
    chunk: ChunkRef,
    /// (file index, offset) of every place the chunk appears.
    at: Vec<(usize, u64)>,
}

/// The distinct chunks of a manifest and their places.
fn needs_of(manifest: &VersionManifest) -> Vec<Need> {
    let mut index: HashMap<ChunkHash, usize> = HashMap::new();
    let mut needs: Vec<Need> = Vec::new();
    for (f, file) in manifest.files.iter().enumerate() {
        let mut offset = 0u64;
        for chunk in &file.chunks {
            let i = *index.entry(chunk.hash).or_insert_with(|| {
                needs.push(Need { chunk: *chunk, at: Vec::new() });
                needs.len() - 1
            });
            needs[i].at.push((f, offset));
            offset += u64::from(chunk.size);
        }
    }
    needs
}

/// The files of a folder being filled, written at offsets (none: the
/// chunks are checked and dropped, for measuring the network path).
struct Target {
    paths: Vec<PathBuf>,
    discard: bool,
}

/// Most files one writer keeps open: enough for chunks arriving file after
/// file, few enough for any descriptor limit whatever the game's file count.
const OPEN_FILES: usize = 64;

/// The files of a [`Target`] that one writing thread keeps open, so that a
/// chunk's write opens nothing in the common case.
struct OpenFiles<'a> {
    paths: &'a [PathBuf],
    open: HashMap<usize, fs::File>,
}

impl OpenFiles<'_> {
    fn get(&mut self, f: usize) -> std::io::Result<&fs::File> {
        if !self.open.contains_key(&f) {
            if self.open.len() >= OPEN_FILES {
                let some = *self.open.keys().next().expect("not empty");
                self.open.remove(&some);
            }
            let file = fs::OpenOptions::new().write(true).open(&self.paths[f])?;
            self.open.insert(f, file);
        }
        Ok(&self.open[&f])
    }
}

impl Target {
    /// Creates (or keeps, on resume) every file at its final size.
    fn prepare(root: &Path, manifest: &VersionManifest) -> anyhow::Result<Target> {
        let mut paths = Vec::with_capacity(manifest.files.len());
        for file in &manifest.files {
            let path = safe_join(root, &file.path)?;
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            let out = fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .open(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            if out.metadata()?.len() != file.size {
                out.set_len(file.size)?;
            }
            paths.push(path);
        }
        Ok(Target { paths, discard: false })
    }

    /// Files to write through, kept open by the calling thread.
    fn open_files(&self) -> OpenFiles<'_> {
        OpenFiles { paths: &self.paths, open: HashMap::new() }
    }

    /// Writes a verified chunk, given as consecutive parts, at each of its
    /// places, and starts the writeback of what was written so that the
    /// final sync has little left to do.
    fn write(
        &self,
        files: &mut OpenFiles<'_>,
        need: &Need,
        parts: &[Vec<u8>],
    ) -> std::io::Result<()> {
        if self.discard {
            return Ok(());
        }
        for &(f, offset) in &need.at {
            let out = files.get(f)?;
            let mut at = offset;
            for part in parts {
                out.write_all_at(part, at)?;
                at += part.len() as u64;
            }
            gamestore_package::start_writeback(out, offset, at - offset);
        }
        Ok(())
    }

    /// True when every place of `need` holds its bytes.
    fn holds(&self, need: &Need) -> bool {
        let mut buf = vec![0u8; need.chunk.size as usize];
        need.at.iter().all(|&(f, offset)| {
            fs::File::open(&self.paths[f])
                .and_then(|file| file.read_exact_at(&mut buf, offset))
                .is_ok()
                && hash_chunk(&buf) == need.chunk.hash
        })
    }
}

/// A manifest path joined to `root`, refusing anything that could leave it.
fn safe_join(root: &Path, path: &str) -> anyhow::Result<PathBuf> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.split('/').any(|part| part.is_empty() || part == "." || part == "..");
    if bad {
        bail!("the manifest names an unsafe path {path:?}; nothing was installed");
    }
    Ok(root.join(path))
}

/// Installed chunks that can be reused: hash → (file path, offset, size).
fn local_chunks(library: &Library, id: &str, except: &str) -> HashMap<ChunkHash, (PathBuf, u64)> {
    let mut found = HashMap::new();
    for version in library.versions(id) {
        if version == except {
            continue;
        }
        let Some((bytes, _)) = library.manifest(id, &version) else { continue };
        let Ok(manifest) = VersionManifest::parse(&bytes) else { continue };
        let dir = library.version_dir(id, &version);
        for file in &manifest.files {
            let Ok(path) = safe_join(&dir, &file.path) else { continue };
            let mut offset = 0;
            for chunk in &file.chunks {
                found.entry(chunk.hash).or_insert_with(|| (path.clone(), offset));
                offset += u64::from(chunk.size);
            }
        }
    }
    found
}

/// What a fill moved.
#[derive(Debug, Default, Clone, Copy)]
pub struct FillStats {
    /// Chunk bytes received from the lobby (as sent: compressed or raw).
    pub fetched_bytes: u64,
    pub fetched_chunks: u64,
    pub reused_chunks: u64,
    pub resumed_chunks: u64,
}

/// A journal of chunks written into a staging folder.
struct Journal {
    file: Mutex<fs::File>,
}

impl Journal {
    fn open(path: &Path) -> anyhow::Result<(Journal, Vec<ChunkHash>)> {
        let mut done = Vec::new();
        if let Ok(file) = fs::File::open(path) {
            for line in std::io::BufReader::new(file).lines() {
                let Ok(line) = line else { break };
                if let Ok(hash) = line.trim().parse::<ChunkHash>() {
                    done.push(hash);
                }
            }
        }
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok((Journal { file: Mutex::new(file) }, done))
    }

    fn record(&self, hash: &ChunkHash) -> std::io::Result<()> {
        let line = format!("{}\n", hash.to_hex());
        self.file.lock().unwrap().write_all(line.as_bytes())
    }
}

/// One CHUNK_GET on its way to a checker: the chunks it brings (index into
/// the needs, compressed, bytes as stored), as the lobby's reply listed and
/// the fetcher checked them, and the stream of its binary frames.
struct Batch {
    chunks: Vec<(usize, bool, usize)>,
    frames: mpsc::Receiver<Vec<u8>>,
}

/// A checked chunk on its way to the writer: its index and its bytes.
type Verified = (usize, Vec<Vec<u8>>);

/// Received chunks, checked (inflated and hashed) on a pool of threads and
/// written by one more thread.
///
/// A checker takes a whole CHUNK_GET's reply and reads its frames straight
/// from the connection's reader, so that a frame wakes one thread, not a
/// task and then a thread. One writer only: writes from several threads
/// into the same file contend on its inode lock, and one thread writes to
/// the page cache faster than the network and the hashing deliver.
struct Writers {
    jobs: Option<mpsc::Sender<Batch>>,
    handles: Vec<std::thread::JoinHandle<()>>,
    error: Arc<Mutex<Option<String>>>,
}

impl Writers {
    fn start(
        needs: Arc<Vec<Need>>,
        target: Arc<Target>,
        journal: Option<Arc<Journal>>,
        bar: ProgressBar,
        label: String,
    ) -> Writers {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
        let (tx, rx) = mpsc::channel::<Batch>(threads);
        let rx = Arc::new(Mutex::new(rx));
        let error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let mut handles = Vec::with_capacity(threads + 1);
        // Verified chunks on their way to the writer.
        let (verified_tx, verified_rx) = std::sync::mpsc::sync_channel::<Verified>(threads * 2);
        if !target.discard {
            let (needs, error, bar) = (needs.clone(), error.clone(), bar.clone());
            let label = label.clone();
            handles.push(spawn_named("chunk-write", move || {
                let mut files = target.open_files();
                for (index, parts) in verified_rx {
                    let need = &needs[index];
                    let result = target
                        .write(&mut files, need, &parts)
                        .map_err(|e| format!("cannot write {label}: {e}"))
                        .and_then(|()| match &journal {
                            Some(journal) => {
                                journal.record(&need.chunk.hash).map_err(|e| e.to_string())
                            }
                            None => Ok(()),
                        });
                    match result {
                        Ok(()) => bar.inc(u64::from(need.chunk.size)),
                        Err(e) => {
                            error.lock().unwrap().get_or_insert(e);
                        }
                    }
                }
            }));
        }
        let verified_tx = (!handles.is_empty()).then_some(verified_tx);
        let runtime = tokio::runtime::Handle::current();
        for _ in 0..threads {
            let (rx, needs, error, bar, label) =
                (rx.clone(), needs.clone(), error.clone(), bar.clone(), label.clone());
            let (verified_tx, runtime) = (verified_tx.clone(), runtime.clone());
            handles.push(spawn_named("chunk-check", move || {
                loop {
                    let job = rx.lock().unwrap().blocking_recv();
                    let Some(batch) = job else { return };
                    if error.lock().unwrap().is_some() {
                        // Another batch failed: the fill is over.
                        continue;
                    }
                    let checked = check_batch(batch, &needs, &runtime, &label, |index, parts| {
                        match &verified_tx {
                            Some(tx) => tx.send((index, parts)).is_ok(),
                            None => {
                                bar.inc(u64::from(needs[index].chunk.size));
                                true
                            }
                        }
                    });
                    if let Err(e) = checked {
                        error.lock().unwrap().get_or_insert(e);
                    }
                }
            }));
        }
        Writers { jobs: Some(tx), handles, error }
    }

    fn failed(&self) -> Option<String> {
        self.error.lock().unwrap().clone()
    }

    async fn send(&self, job: Batch) -> anyhow::Result<()> {
        if let Some(e) = self.failed() {
            bail!("{e}");
        }
        let jobs = self.jobs.as_ref().expect("writers running");
        if jobs.send(job).await.is_err() {
            bail!("the chunk writers stopped");
        }
        Ok(())
    }

    /// Waits for every job to be done; the first error, if any.
    async fn finish(mut self) -> anyhow::Result<()> {
        self.jobs = None;
        let handles = std::mem::take(&mut self.handles);
        tokio::task::spawn_blocking(move || {
            for h in handles {
                let _ = h.join();
            }
        })
        .await?;
        match self.failed() {
            Some(e) => bail!("{e}"),
            None => Ok(()),
        }
    }
}

/// Starts a thread called `name` (as tools such as `top -H` show it).
fn spawn_named(name: &str, f: impl FnOnce() + Send + 'static) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new().name(name.to_owned()).spawn(f).expect("start a thread")
}

/// Reads the frames of one CHUNK_GET's reply, cuts them into its chunks and
/// checks each, handing every verified chunk to `done` (false: stop).
fn check_batch(
    batch: Batch,
    needs: &[Need],
    runtime: &tokio::runtime::Handle,
    label: &str,
    mut done: impl FnMut(usize, Vec<Vec<u8>>) -> bool,
) -> Result<(), String> {
    let Batch { chunks, mut frames } = batch;
    let mut next_frame = || -> Result<Vec<u8>, String> {
        // Built inside block_on, which enters the runtime its timer needs.
        match runtime.block_on(async { tokio::time::timeout(STALL_TIMEOUT, frames.recv()).await }) {
            Ok(Some(data)) => Ok(data),
            Ok(None) => {
                Err(format!("the transfer of {label} was cut off (connection to the lobby lost)"))
            }
            Err(_) => {
                Err(format!("the transfer of {label} stalled for {}s", STALL_TIMEOUT.as_secs()))
            }
        }
    };
    // The lobby frames each chunk on its own, so a chunk's frames are kept
    // as they are, not joined; a frame that runs into the next chunk is
    // split.
    let mut carry: Option<Vec<u8>> = None;
    for (index, compressed, want) in chunks {
        let mut parts = Vec::new();
        let mut have = 0;
        while have < want {
            let mut data = match carry.take() {
                Some(data) => data,
                None => next_frame()?,
            };
            if have + data.len() > want {
                carry = Some(data.split_off(want - have));
            }
            have += data.len();
            if !data.is_empty() {
                parts.push(data);
            }
        }
        let parts = verify(&needs[index], compressed, parts, label)?;
        if !done(index, parts) {
            return Ok(());
        }
    }
    if carry.is_some_and(|rest| !rest.is_empty()) {
        return Err(format!("the lobby sent more bytes of {label} than it announced"));
    }
    Ok(())
}

/// A received chunk's bytes once inflated and checked against its hash:
/// nothing unverified is ever written.
fn verify(
    need: &Need,
    compressed: bool,
    stored: Vec<Vec<u8>>,
    label: &str,
) -> Result<Vec<Vec<u8>>, String> {
    let parts = if compressed {
        let joined = match <[Vec<u8>; 1]>::try_from(stored) {
            Ok([one]) => one,
            Err(parts) => parts.concat(),
        };
        let data = inflate_chunk(&joined, need.chunk.size)
            .map_err(|e| format!("a chunk of {label} is damaged: {e}"))?;
        vec![data]
    } else {
        stored
    };
    let len: usize = parts.iter().map(Vec::len).sum();
    if len != need.chunk.size as usize || hash_chunk_parts(&parts) != need.chunk.hash {
        return Err(format!(
            "chunk {} of {label} does not match its hash: the lobby's copy was altered or damaged",
            need.chunk.hash
        ));
    }
    Ok(parts)
}

/// Fetches the chunks `wanted` (indices into `needs`) with pipelined
/// CHUNK_GETs and hands each reply to `writers`. Returns the chunk bytes
/// the lobby announced (as stored); `writers` checks that they all came.
async fn fetch_chunks(
    client: &LobbyClient,
    id: &str,
    version: &str,
    needs: &[Need],
    wanted: &[usize],
    writers: &Writers,
) -> anyhow::Result<u64> {
    // Batches within the request limits.
    let mut batches: Vec<&[usize]> = Vec::new();
    let mut start = 0;
    while start < wanted.len() {
        let mut end = start;
        let mut bytes = 0u64;
        while end < wanted.len()
            && end - start < CHUNK_GET_MAX_CHUNKS
            && (end == start
                || bytes + u64::from(needs[wanted[end]].chunk.size) <= CHUNK_GET_MAX_BYTES)
        {
            bytes += u64::from(needs[wanted[end]].chunk.size);
            end += 1;
        }
        batches.push(&wanted[start..end]);
        start = end;
    }
    let mut announced = 0u64;
    let mut in_flight = std::collections::VecDeque::new();
    let mut next = 0;
    loop {
        while in_flight.len() < IN_FLIGHT && next < batches.len() {
            let batch = batches[next];
            let request = ChunkGet {
                id: id.to_owned(),
                version: version.to_owned(),
                chunks: batch.iter().map(|&i| needs[i].chunk.hash).collect(),
                raw: client.local,
            };
            // Room for every frame of a reply: a chunk is at least one
            // frame, and a reply holds at most CHUNK_GET_MAX_BYTES, so the
            // reader never waits for a checker that has not started.
            let frames =
                CHUNK_GET_MAX_CHUNKS + (CHUNK_GET_MAX_BYTES as usize).div_ceil(MAX_CHUNK_LEN);
            let (tx, rx) = mpsc::channel(frames);
            let (_, reply) = client.start(request, Some(tx)).await?;
            in_flight.push_back((batch, reply, rx));
            next += 1;
        }
        let Some((batch, reply, frames)) = in_flight.pop_front() else { break };
        let value = tokio::time::timeout(STALL_TIMEOUT, reply)
            .await
            .map_err(|_| ClientError::Timeout(STALL_TIMEOUT))?
            .map_err(|_| ClientError::Closed("connection closed".into()))??;
        let ready: ChunksReady = LobbyClient::decode::<ChunkGet>(value)?;
        if ready.chunks.len() != batch.len() {
            bail!("the lobby answered {} chunks for {} asked", ready.chunks.len(), batch.len());
        }
        let mut chunks = Vec::with_capacity(batch.len());
        for (sent, &index) in ready.chunks.iter().zip(batch) {
            let need = &needs[index];
            let max_stored = u64::from(need.chunk.size) + 1024 + u64::from(need.chunk.size) / 8;
            if sent.hash != need.chunk.hash
                || sent.size != need.chunk.size
                || u64::from(sent.stored_size) > max_stored
                || (!sent.compressed && sent.stored_size != sent.size)
            {
                bail!(
                    "the lobby's reply for {id} {version} does not describe the chunks asked for"
                );
            }
            announced += u64::from(sent.stored_size);
            chunks.push((index, sent.compressed, sent.stored_size as usize));
        }
        writers.send(Batch { chunks, frames }).await?;
    }
    Ok(announced)
}

/// Fills `root` with the files of `manifest`: resumed, reused and fetched
/// chunks. With `journal`, completed chunks are recorded there.
async fn fill(
    client: &LobbyClient,
    library: &Library,
    verified: &VerifiedManifest,
    root: &Path,
    journal_path: Option<&Path>,
    only: Option<Vec<usize>>,
) -> anyhow::Result<FillStats> {
    let manifest = &verified.manifest;
    let (id, version) = (manifest.id.clone(), manifest.version.clone());
    let needs = Arc::new(needs_of(manifest));
    let target = {
        let (root, m) = (root.to_owned(), manifest.clone());
        Arc::new(tokio::task::spawn_blocking(move || Target::prepare(&root, &m)).await??)
    };
    let mut stats = FillStats::default();
    let mut todo: Vec<usize> = only.unwrap_or_else(|| (0..needs.len()).collect());
    let journal = match journal_path {
        Some(path) => {
            let (journal, done) = Journal::open(path)?;
            if !done.is_empty() {
                // Journal entries are re-hashed where they were written.
                let done: std::collections::HashSet<ChunkHash> = done.into_iter().collect();
                let (needs, target, list) = (needs.clone(), target.clone(), todo.clone());
                let kept: Vec<usize> = tokio::task::spawn_blocking(move || {
                    list.into_iter()
                        .filter(|&i| {
                            !(done.contains(&needs[i].chunk.hash) && target.holds(&needs[i]))
                        })
                        .collect()
                })
                .await?;
                stats.resumed_chunks = (todo.len() - kept.len()) as u64;
                todo = kept;
            }
            Some(Arc::new(journal))
        }
        None => None,
    };
    if journal.is_some() {
        // A staging folder's files were created at their sizes and hold
        // nothing but their own chunks: a zero chunk is there already, as a
        // hole, and the file stays sparse. (A repair writes into installed
        // files, whose damage may be anywhere: it fetches every chunk.)
        let before = todo.len();
        todo.retain(|&i| !is_zero_chunk(&needs[i].chunk));
        stats.reused_chunks += (before - todo.len()) as u64;
    }
    // Chunks of installed versions, read and re-hashed.
    let local = local_chunks(library, &id, &version);
    if !local.is_empty() {
        let (needs, target, journal, list) =
            (needs.clone(), target.clone(), journal.clone(), todo.clone());
        let (kept, reused) = tokio::task::spawn_blocking(move || {
            let mut kept = Vec::new();
            let mut reused = 0u64;
            let mut buf = Vec::new();
            let mut files = target.open_files();
            for i in list {
                let need = &needs[i];
                let copied = local.get(&need.chunk.hash).is_some_and(|(path, offset)| {
                    buf.resize(need.chunk.size as usize, 0);
                    fs::File::open(path).and_then(|f| f.read_exact_at(&mut buf, *offset)).is_ok()
                        && hash_chunk(&buf) == need.chunk.hash
                        && target.write(&mut files, need, std::slice::from_ref(&buf)).is_ok()
                        && journal.as_ref().is_none_or(|j| j.record(&need.chunk.hash).is_ok())
                });
                if copied {
                    reused += 1;
                } else {
                    kept.push(i);
                }
            }
            (kept, reused)
        })
        .await?;
        stats.reused_chunks += reused;
        todo = kept;
    }
    let total: u64 = todo.iter().map(|&i| u64::from(needs[i].chunk.size)).sum();
    let label = format!("{id} {version}");
    let bar = progress_bar(total, &format!("downloading {label}"));
    let writers =
        Writers::start(needs.clone(), target.clone(), journal.clone(), bar.clone(), label);
    let fetched = fetch_chunks(client, &id, &version, &needs, &todo, &writers).await;
    let finished = writers.finish().await;
    bar.finish_and_clear();
    stats.fetched_bytes = fetched?;
    finished?;
    stats.fetched_chunks = todo.len() as u64;
    Ok(stats)
}

/// Fetches every chunk of `id` `version` and checks it, writing nothing:
/// the network path of an install alone. Returns the bytes received.
pub async fn download_all(client: &LobbyClient, id: &str, version: &str) -> anyhow::Result<u64> {
    let verified = fetch_manifest(client, id, version).await?;
    let needs = Arc::new(needs_of(&verified.manifest));
    let target = Arc::new(Target { paths: Vec::new(), discard: true });
    let all: Vec<usize> = (0..needs.len()).collect();
    let writers = Writers::start(
        needs.clone(),
        target,
        None,
        ProgressBar::hidden(),
        format!("{id} {version}"),
    );
    let fetched = fetch_chunks(client, id, version, &needs, &all, &writers).await;
    let finished = writers.finish().await;
    let bytes = fetched?;
    finished?;
    Ok(bytes)
}

/// Sets modes and syncs every file of `manifest` under `root`, in parallel,
/// then the folders.
fn finish_files(root: &Path, manifest: &VersionManifest) -> anyhow::Result<()> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(file) = manifest.files.get(i) else { return };
                    let result = (|| -> anyhow::Result<()> {
                        let path = safe_join(root, &file.path)?;
                        let mode = if file.executable { 0o700 } else { 0o600 };
                        fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
                        fs::File::open(&path)?.sync_all()?;
                        Ok(())
                    })();
                    if let Err(e) = result {
                        error.lock().unwrap().get_or_insert(e);
                    }
                }
            });
        }
    });
    if let Some(e) = error.into_inner().unwrap() {
        return Err(e);
    }
    let mut dirs: Vec<PathBuf> = manifest
        .files
        .iter()
        .filter_map(|f| root.join(&f.path).parent().map(Path::to_owned))
        .collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        sync_dir(&dir);
    }
    sync_dir(root);
    Ok(())
}

/// What a chunked install did.
#[derive(Debug, Clone)]
pub struct ChunkedInstall {
    pub path: PathBuf,
    pub stats: FillStats,
    /// Notes for the player (key pinned, rotated, unsigned, older version).
    pub notes: Vec<String>,
}

/// Installs `verified` (already fetched) into `library`, checking trust
/// first. `request` says whether it is "the latest" or a version asked for.
pub async fn install_verified(
    client: &LobbyClient,
    library: &Library,
    trust_file: &Path,
    verified: VerifiedManifest,
    request: Request,
) -> anyhow::Result<ChunkedInstall> {
    let manifest = &verified.manifest;
    let (id, version) = (manifest.id.as_str(), manifest.version.as_str());
    let semver = Version::parse(version)?;
    let mut trust = KnownKeys::load(trust_file)?;
    let verdict = trust.check(id, &semver, &manifest.key, &verified.chain, request)?;
    let mut notes = Vec::new();
    match &verdict {
        Verdict::FirstUse { key } => notes.push(format!(
            "note: {id} is signed by developer key {}; it is now pinned in {} and later versions must be signed by it",
            crate::trust::fingerprint_of_hex(key),
            trust.path().display()
        )),
        Verdict::Rotated { from, to } => notes.push(format!(
            "note: the developer of {id} rotated their key from {} to {} (a rotation signed by the old key); the pin moves",
            crate::trust::fingerprint_of_hex(from),
            crate::trust::fingerprint_of_hex(to)
        )),
        Verdict::Earlier { key } => notes.push(format!(
            "note: {id} {version} is signed by {}, the developer's earlier key",
            crate::trust::fingerprint_of_hex(key)
        )),
        Verdict::Unsigned => notes.push(format!(
            "warning: {id} {version} is not signed by its developer; the lobby vouches for it alone"
        )),
        Verdict::Pinned => {}
    }
    if let Some(pin) = trust.get(id)
        && semver < pin.highest
    {
        notes.push(format!(
            "note: installing {id} {version}, older than {} installed before",
            pin.highest
        ));
    }
    fs::create_dir_all(library.game_dir(id))?;
    library.clean_leftovers(id, Some(version));
    let staging = library.chunked_staging(id, version);
    let journal = library.chunked_journal(id, version);
    let _lock = InstallLock::take(&library.game_dir(id).join(format!(".chunked-{version}.lock")))?;
    let stats = fill(client, library, &verified, &staging, Some(&journal), None).await?;
    {
        let (root, m) = (staging.clone(), manifest.clone());
        tokio::task::spawn_blocking(move || finish_files(&root, &m)).await??;
    }
    let path =
        library.commit_chunked(&staging, id, version, &verified.bytes, &verified.signature)?;
    let _ = fs::remove_file(&journal);
    trust.record(id, &semver, &verdict);
    trust.save()?;
    Ok(ChunkedInstall { path, stats, notes })
}

/// An exclusive lock on a file, released on drop: one install of a version
/// at a time per player.
struct InstallLock(fs::File);

impl InstallLock {
    fn take(path: &Path) -> anyhow::Result<InstallLock> {
        let file = fs::File::create(path)?;
        // SAFETY: flock on an open descriptor.
        let rc = unsafe {
            libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX | libc::LOCK_NB)
        };
        if rc != 0 {
            bail!("another install of this version is running");
        }
        Ok(InstallLock(file))
    }
}

impl Drop for InstallLock {
    fn drop(&mut self) {
        let _ = &self.0;
    }
}

/// What `verify` found and did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyReport {
    pub id: String,
    pub version: String,
    pub files: usize,
    /// Files whose size or mode was wrong, or that were missing.
    pub repaired_files: Vec<String>,
    /// Chunks that did not match and were fetched again.
    pub damaged_chunks: u64,
    /// Bytes received from the lobby for the repair.
    pub bytes_transferred: u64,
}

/// Re-checks an installed chunked version against its verified manifest,
/// chunk by chunk, and re-fetches only the damaged chunks.
pub async fn verify_installed(
    client: &LobbyClient,
    library: &Library,
    id: &str,
    version: &str,
) -> anyhow::Result<VerifyReport> {
    let Some((bytes, signature)) = library.manifest(id, version) else {
        bail!(
            "{id} {version} was not installed from a signed manifest; reinstall it with `gamestore-player uninstall {id}` and `install {id}`"
        );
    };
    if !signature.key.is_empty() {
        let key = parse_key_hex(&signature.key)?;
        let sig = parse_signature_hex(&signature.signature)?;
        verify_manifest(&key, &bytes, &sig)
            .map_err(|_| anyhow::anyhow!("the kept manifest of {id} {version} no longer matches its signature; reinstall the game"))?;
    }
    let manifest = VersionManifest::parse(&bytes)
        .map_err(|e| anyhow::anyhow!("the kept manifest of {id} {version} is damaged: {e}"))?;
    let dir = library.version_dir(id, version);
    let needs = needs_of(&manifest);
    let (repaired_files, damaged) = {
        let (dir, m, needs) = (dir.clone(), manifest.clone(), needs.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<(Vec<String>, Vec<usize>)> {
            let mut repaired = Vec::new();
            for file in &m.files {
                let path = safe_join(&dir, &file.path)?;
                let ok = fs::metadata(&path).is_ok_and(|meta| {
                    meta.is_file()
                        && meta.len() == file.size
                        && (meta.permissions().mode() & 0o100 != 0) == file.executable
                });
                if !ok {
                    repaired.push(file.path.clone());
                }
            }
            let target = Target::prepare(&dir, &m)?;
            let damaged = (0..needs.len()).filter(|&i| !target.holds(&needs[i])).collect();
            Ok((repaired, damaged))
        })
        .await??
    };
    let mut bytes_transferred = 0;
    if !damaged.is_empty() {
        let verified = VerifiedManifest {
            bytes: bytes.clone(),
            manifest: manifest.clone(),
            signature,
            chain: Vec::new(),
        };
        let stats = fill(client, library, &verified, &dir, None, Some(damaged.clone())).await?;
        bytes_transferred = stats.fetched_bytes;
    }
    {
        let (root, m) = (dir.clone(), manifest.clone());
        tokio::task::spawn_blocking(move || finish_files(&root, &m)).await??;
    }
    Ok(VerifyReport {
        id: id.to_owned(),
        version: version.to_owned(),
        files: manifest.files.len(),
        repaired_files,
        damaged_chunks: damaged.len() as u64,
        bytes_transferred,
    })
}
