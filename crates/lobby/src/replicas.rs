//! Package files across the nodes of one lobby.
//!
//! The catalog is the shared database's; a version's files (its signed
//! manifest, its chunks, its unpacked files and zip) are on the disk of each
//! node that holds a copy. Nodes fetch them from each other over NATS
//! request/reply, so no node needs another listener or address:
//!
//! - `P.version.published`: a node committed a version (`{game, version,
//!   node}`); every other node fetches it in the background.
//! - `P.pkg.get.NODE`: a piece of a file NODE holds (a manifest, a zip or a
//!   chunk's raw bytes, at an offset). The reply is a status byte (`+` or
//!   `-`), the whole file's size (8 bytes, big-endian) and at most
//!   [`PIECE`] bytes of it, or after `-` a message.
//! - `P.pkg.who`: which node holds a version in full? Every node answers
//!   with its id and whether it does.
//!
//! A node asks the node the version was published through first (recorded
//! with the version), then whichever node answers `P.pkg.who`. Nothing a
//! peer sends is trusted: the manifest is checked against the signature and
//! key the database holds for the version, exactly as a developer's publish
//! is, every chunk against its BLAKE3 hash (its size first), the assembled
//! files against the version row's listing (size, mode, SHA-256), the zip
//! against the row's size and SHA-256. The version is assembled in a
//! staging folder and renamed into place complete, like any publish; a
//! refused fetch leaves no version folder behind (verified chunks may stay
//! in the chunk store, as after a cut publish, and are collected at start).
//!
//! One fetch per version runs at a time (later requests for it wait for it
//! and find it done), [`CONCURRENT_FETCHES`] versions at once, each bounded
//! by [`FETCH_TIMEOUT`] and each request by [`REQUEST_TIMEOUT`].

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use gamestore_package::FileList;
use gamestore_package::chunked::{
    self, ChunkHash, MAX_CHUNK, MAX_VERSION_MANIFEST_BYTES, VersionManifest,
};
use gamestore_protocol::{ErrorCode, WireError};
use gamestore_storage::VersionRecord;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::Lobby;
use crate::requests::distribution::{
    Listing, Stage, check_config_file, commit_indexed, finish_stage, manifest_bytes,
};
use crate::shutdown::Shutdown;

/// File bytes per reply: NATS carries at most 1 MiB per message.
pub(crate) const PIECE: u64 = 512 * 1024;
/// How long one request to a peer may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the `P.pkg.who` question waits for a first answer.
const WHO_TIMEOUT: Duration = Duration::from_secs(3);
/// How long fetching one whole version may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(600);
/// Versions fetched at once by one node.
const CONCURRENT_FETCHES: usize = 2;
/// Chunks of one version requested at once.
const CHUNKS_IN_FLIGHT: usize = 4;
/// Requests of other nodes served at once; more wait.
const CONCURRENT_SERVES: usize = 8;
/// How long the failure of a fetch answers the requests that waited for it.
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// Versions waiting for a background fetch at most; more are fetched on demand.
const BACKGROUND_QUEUE: usize = 1024;

/// What a `P.pkg.get.NODE` request asks for.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "snake_case")]
enum Want {
    Manifest { game: String, version: String, offset: u64 },
    Zip { game: String, version: String, offset: u64 },
    Chunk { hash: ChunkHash, size: u32, offset: u64 },
}

/// `P.pkg.who` and `P.version.published`.
#[derive(Debug, Serialize, Deserialize)]
struct VersionAt {
    game: String,
    version: String,
    #[serde(default)]
    node: String,
}

/// The fetch of one version: whoever holds the lock fetches; those who
/// waited for it find the version in place, or the error it ended with.
type Flight = tokio::sync::Mutex<Option<(std::time::Instant, WireError)>>;

/// A node's answer on `P.pkg.who`.
#[derive(Debug, Serialize, Deserialize)]
struct Holder {
    node: String,
    /// Whether it holds the whole version.
    has: bool,
}

/// A node's fetches of versions from the others.
#[derive(Debug)]
pub(crate) struct Replicas {
    /// The fetch of each version in progress (gone once nobody waits for it).
    flights: Mutex<HashMap<(String, String), Weak<Flight>>>,
    fetches: Semaphore,
    background: Mutex<Option<tokio::sync::mpsc::Sender<(String, String)>>>,
}

impl Default for Replicas {
    fn default() -> Replicas {
        Replicas {
            flights: Mutex::new(HashMap::new()),
            fetches: Semaphore::new(CONCURRENT_FETCHES),
            background: Mutex::new(None),
        }
    }
}

fn unavailable(record: &VersionRecord, why: impl std::fmt::Display) -> WireError {
    WireError::new(
        ErrorCode::VersionNotFound,
        format!(
            "no node of this lobby can serve the files of {} {} now: {why}",
            record.game_id, record.version
        ),
    )
}

/// Is the version's folder on this node's disk (complete: it is renamed
/// into place whole)?
pub(crate) fn is_local(lobby: &Lobby, game: &str, version: &str) -> bool {
    lobby.games.version_dir(game, version).is_dir()
}

/// Makes sure the files of `record` are on this node, fetching them from
/// another node if they are not. A lobby on its own always has them.
pub(crate) async fn ensure_local(
    lobby: &Arc<Lobby>,
    record: &VersionRecord,
) -> Result<(), WireError> {
    if is_local(lobby, &record.game_id, &record.version) {
        return Ok(());
    }
    let Some(nats) = lobby.bus.nats() else { return Ok(()) };
    let key = (record.game_id.clone(), record.version.clone());
    let flight = {
        let mut flights = lobby.replicas.flights.lock().unwrap_or_else(|p| p.into_inner());
        flights.retain(|_, f| f.strong_count() > 0);
        match flights.get(&key).and_then(Weak::upgrade) {
            Some(flight) => flight,
            None => {
                let flight = Arc::new(Flight::new(None));
                flights.insert(key, Arc::downgrade(&flight));
                flight
            }
        }
    };
    let mut outcome = flight.lock().await;
    // A fetch this request waited for failed just now: its answer is this
    // one's (an older failure is tried again).
    if let Some((at, failed)) = outcome.as_ref()
        && at.elapsed() < RETRY_AFTER
    {
        return Err(failed.clone());
    }
    if is_local(lobby, &record.game_id, &record.version) {
        return Ok(());
    }
    let result = fetch_bounded(lobby, &nats, record).await;
    if let Err(e) = &result {
        *outcome = Some((std::time::Instant::now(), e.clone()));
    }
    result
}

/// One fetch of a version, among at most [`CONCURRENT_FETCHES`], within
/// [`FETCH_TIMEOUT`].
async fn fetch_bounded(
    lobby: &Arc<Lobby>,
    nats: &Nats,
    record: &VersionRecord,
) -> Result<(), WireError> {
    let _permit = lobby.replicas.fetches.acquire().await.map_err(|e| unavailable(record, e))?;
    let started = std::time::Instant::now();
    match tokio::time::timeout(FETCH_TIMEOUT, fetch(lobby, nats, record)).await {
        Ok(Ok(node)) => {
            tracing::info!(
                game = %record.game_id,
                version = %record.version,
                from = %node,
                took_ms = started.elapsed().as_millis() as u64,
                "fetched a version's files from another node"
            );
            Ok(())
        }
        Ok(Err(e)) => {
            tracing::warn!(game = %record.game_id, version = %record.version, error = %e.message, "cannot fetch a version from the other nodes");
            Err(e)
        }
        Err(_) => Err(unavailable(record, format!("the fetch took over {FETCH_TIMEOUT:?}"))),
    }
}

/// The bus's NATS connection as this module uses it.
#[derive(Debug, Clone)]
pub(crate) struct Nats {
    pub(crate) client: async_nats::Client,
    pub(crate) prefix: String,
    pub(crate) node: String,
}

impl Nats {
    fn subject(&self, rest: &str) -> String {
        format!("{}.{rest}", self.prefix)
    }
}

/// Why one node could not give a version.
type Refusal = String;

/// Fetches `record` from the node it was published through, else from
/// whichever node says it holds it. Returns the node that gave it.
async fn fetch(
    lobby: &Arc<Lobby>,
    nats: &Nats,
    record: &VersionRecord,
) -> Result<String, WireError> {
    let recorded = lobby
        .db
        .version_node(&record.game_id, &record.version)
        .await
        .map_err(|e| unavailable(record, e))?
        .filter(|n| *n != nats.node);
    let mut tried = Vec::new();
    let mut problems = Vec::new();
    if let Some(node) = recorded {
        match fetch_from(lobby, nats, record, &node).await {
            Ok(()) => return Ok(node),
            Err(e) => problems.push(format!("{node}: {e}")),
        }
        tried.push(node);
    }
    match who_has(nats, record, &tried, lobby.bus.other_nodes()).await {
        Some(node) => match fetch_from(lobby, nats, record, &node).await {
            Ok(()) => return Ok(node),
            Err(e) => problems.push(format!("{node}: {e}")),
        },
        None => problems.push("no other node answered that it holds it".to_owned()),
    }
    Err(unavailable(record, problems.join("; ")))
}

/// The first other node (not in `skip`) that says it holds the version.
async fn who_has(
    nats: &Nats,
    record: &VersionRecord,
    skip: &[String],
    nodes_alive: usize,
) -> Option<String> {
    let question = VersionAt {
        game: record.game_id.clone(),
        version: record.version.clone(),
        node: nats.node.clone(),
    };
    let body = serde_json::to_vec(&question).ok()?;
    let inbox = nats.client.new_inbox();
    let mut answers = nats.client.subscribe(inbox.clone()).await.ok()?;
    nats.client.publish_with_reply(nats.subject("pkg.who"), inbox, body.into()).await.ok()?;
    let deadline = tokio::time::Instant::now() + WHO_TIMEOUT;
    // The first answer from a node not tried yet, among a bounded number;
    // once every node known alive has answered, nobody else will.
    let alive = nodes_alive.max(1);
    for _ in 0..alive.min(64) {
        let answer = tokio::time::timeout_at(deadline, answers.next()).await.ok()??;
        let Ok(Holder { node, has }) = serde_json::from_slice::<Holder>(&answer.payload) else {
            continue;
        };
        if has && node != nats.node && !skip.contains(&node) {
            return Some(node);
        }
    }
    None
}

/// Asks `node` for one piece: returns the whole file's size and the bytes.
async fn ask(nats: &Nats, node: &str, want: &Want) -> Result<(u64, Vec<u8>), Refusal> {
    let body = serde_json::to_vec(want).map_err(|e| e.to_string())?;
    let subject = nats.subject(&format!("pkg.get.{node}"));
    let reply = tokio::time::timeout(REQUEST_TIMEOUT, nats.client.request(subject, body.into()))
        .await
        .map_err(|_| format!("no answer within {REQUEST_TIMEOUT:?}"))?
        .map_err(|e| format!("request failed: {e}"))?;
    let payload = reply.payload;
    match payload.first() {
        Some(b'+') if payload.len() >= 9 => {
            let total = u64::from_be_bytes(payload[1..9].try_into().expect("8 bytes"));
            Ok((total, payload[9..].to_vec()))
        }
        Some(b'-') => Err(format!(
            "it refused: {}",
            String::from_utf8_lossy(&payload[1..payload.len().min(300)])
        )),
        _ => Err("a malformed reply".to_owned()),
    }
}

/// Reads a whole file of at most `max` bytes piece by piece into `out`.
/// Every piece must be the size its offset calls for. Returns the size.
async fn read_whole(
    nats: &Nats,
    node: &str,
    max: u64,
    want: impl Fn(u64) -> Want,
    mut out: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<u64, Refusal> {
    let mut offset = 0u64;
    let mut size = None;
    loop {
        let (total, piece) = ask(nats, node, &want(offset)).await?;
        if total > max {
            return Err(format!("it announced {total} bytes; at most {max} are expected"));
        }
        if *size.get_or_insert(total) != total {
            return Err("its file changed size between pieces".to_owned());
        }
        let expect = PIECE.min(total - offset);
        if piece.len() as u64 != expect {
            return Err(format!("a piece at {offset} has {} bytes, not {expect}", piece.len()));
        }
        out(&piece).map_err(|e| format!("cannot store what it sent: {e}"))?;
        offset += expect;
        if offset >= total {
            return Ok(total);
        }
    }
}

/// Fetches, checks and commits the whole version from `node`.
async fn fetch_from(
    lobby: &Arc<Lobby>,
    nats: &Nats,
    record: &VersionRecord,
    node: &str,
) -> Result<(), Refusal> {
    let (game, version) = (record.game_id.clone(), record.version.clone());
    // The manifest, checked as a developer's publish is.
    let mut bytes = Vec::new();
    read_whole(
        nats,
        node,
        MAX_VERSION_MANIFEST_BYTES as u64,
        |offset| Want::Manifest { game: game.clone(), version: version.clone(), offset },
        |piece| {
            bytes.extend_from_slice(piece);
            Ok(())
        },
    )
    .await?;
    let signed = lobby.db.version_signature(&game, &version).await.map_err(|e| e.to_string())?;
    let listing: FileList = crate::games_area::stored_listing(&record.files)
        .map_err(|e| format!("the stored listing: {e}"))?;
    let manifest = {
        let bytes = bytes.clone();
        let record = record.clone();
        tokio::task::spawn_blocking(move || check_manifest(&bytes, signed, &record, &listing))
            .await
            .map_err(|e| e.to_string())??
    };
    let manifest = Arc::new(manifest);
    let staging = lobby.games.staging().map_err(|e| e.to_string())?;
    let distinct = manifest.distinct_chunks();
    let stage = {
        let (root, manifest, distinct) =
            (staging.path().join("files"), manifest.clone(), distinct.clone());
        let lobby = lobby.clone();
        tokio::task::spawn_blocking(move || {
            Stage::create(&lobby.chunks, &root, &manifest, &distinct)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?
    };
    let stage = Arc::new(stage);
    // The chunks not in the store yet, a few at a time.
    let missing: Vec<(usize, chunked::ChunkRef)> = {
        let lobby = lobby.clone();
        tokio::task::spawn_blocking(move || {
            distinct.into_iter().enumerate().filter(|(_, c)| !lobby.chunks.has(&c.hash)).collect()
        })
        .await
        .map_err(|e| e.to_string())?
    };
    // After a failure no new chunk is asked for, and the ones in flight
    // finish before the staging folder is removed, so that none of them
    // writes into it after.
    let failed = std::sync::atomic::AtomicBool::new(false);
    let mut fetched = futures_util::stream::iter(missing)
        .map(|(index, chunk)| {
            let (lobby, stage, failed) = (lobby.clone(), stage.clone(), &failed);
            async move {
                if failed.load(std::sync::atomic::Ordering::Relaxed) {
                    return Ok(());
                }
                fetch_chunk(&lobby, nats, node, &stage, index, chunk).await
            }
        })
        .buffer_unordered(CHUNKS_IN_FLIGHT);
    let mut first_failure = None;
    while let Some(result) = fetched.next().await {
        if let Err(e) = result {
            failed.store(true, std::sync::atomic::Ordering::Relaxed);
            first_failure.get_or_insert(e);
        }
    }
    drop(fetched);
    if let Some(e) = first_failure {
        return Err(e);
    }
    // The files, completed from the store and checked against the row.
    let dir = staging.path().to_owned();
    {
        let (lobby, manifest, stage, record) =
            (lobby.clone(), manifest.clone(), stage.clone(), record.clone());
        tokio::task::spawn_blocking(move || -> Result<(), Refusal> {
            let listing: FileList =
                crate::games_area::stored_listing(&record.files).map_err(|e| e.to_string())?;
            // A listing with SHA-256 (a zip upload, or a version whose zip
            // was packed) is compared whole; one without was written by a
            // signed publish, whose chunk hashes were all checked above.
            let with_sha256 = listing.files.iter().all(|f| !f.sha256.is_empty());
            let files = finish_stage(
                &lobby.chunks,
                &manifest.files,
                &stage,
                if with_sha256 { Listing::WithSha256 } else { Listing::WithoutSha256 },
            )
            .map_err(|e| format!("assembling its files: {e}"))?;
            if !crate::games_area::same_listing(&listing, &files) {
                return Err("its files are not the version's listing".to_owned());
            }
            check_config_file(&dir.join("files"), &manifest).map_err(|e| e.message)?;
            stage.sync_store_files().map_err(|e| e.to_string())?;
            std::fs::write(dir.join("manifest"), &bytes).map_err(|e| e.to_string())?;
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())??;
    }
    // The zip the version row names, if it has one, byte for byte.
    if !record.package_sha256.is_empty() {
        let path = staging.path().join("package.zip");
        let file = std::fs::File::create(&path).map_err(|e| e.to_string())?;
        let mut writer = gamestore_package::Sha256Writer::new(std::io::BufWriter::new(file));
        let size = read_whole(
            nats,
            node,
            record.package_size,
            |offset| Want::Zip { game: game.clone(), version: version.clone(), offset },
            |piece| writer.write_all(piece),
        )
        .await?;
        let digest = writer.hex_digest();
        if size != record.package_size || !digest.eq_ignore_ascii_case(&record.package_sha256) {
            return Err("its zip is not the version's (size or SHA-256)".to_owned());
        }
        writer.flush().map_err(|e| e.to_string())?;
    }
    let files_area = lobby.clone();
    let committed =
        tokio::task::spawn_blocking(move || commit_indexed(&files_area, staging, &game, &version))
            .await
            .map_err(|e| e.to_string())?;
    match committed {
        Ok(_) => Ok(()),
        // Placed meanwhile by another path: the folder is whole either way.
        Err(_) if is_local(lobby, &record.game_id, &record.version) => Ok(()),
        Err(e) => Err(format!("cannot place the version: {e}")),
    }
}

/// Checks fetched manifest bytes: the signature the database holds for the
/// version (over these exact bytes, by the key it names), the manifest's
/// own key, id and version, and its files against the version's listing.
pub(crate) fn check_manifest(
    bytes: &[u8],
    signed: Option<(String, String)>,
    record: &VersionRecord,
    listing: &FileList,
) -> Result<VersionManifest, Refusal> {
    let key = match &signed {
        Some((signature, key)) if !key.is_empty() => {
            let verifying = chunked::parse_key_hex(key).map_err(|e| format!("stored key: {e}"))?;
            let signature = chunked::parse_signature_hex(signature)
                .map_err(|e| format!("stored signature: {e}"))?;
            chunked::verify_manifest(&verifying, bytes, &signature)
                .map_err(|_| "its manifest does not match the version's signature".to_owned())?;
            key.clone()
        }
        _ => String::new(),
    };
    let manifest = VersionManifest::parse(bytes)
        .map_err(|e| format!("its manifest does not parse: {:?}", e.problems.first()))?;
    if manifest.key != key {
        return Err("its manifest names another key than the version's".to_owned());
    }
    if manifest.id != record.game_id || manifest.version != record.version {
        return Err(format!("its manifest is of {} {}", manifest.id, manifest.version));
    }
    let same = manifest.files.len() == listing.files.len()
        && manifest
            .files
            .iter()
            .zip(&listing.files)
            .all(|(m, l)| m.path == l.path && m.size == l.size && m.executable == l.executable);
    if !same {
        return Err("its manifest's files are not the version's listing".to_owned());
    }
    Ok(manifest)
}

/// Fetches one chunk (its size known before a byte is kept), checks its
/// hash, stores it and writes it into the staged files.
async fn fetch_chunk(
    lobby: &Arc<Lobby>,
    nats: &Nats,
    node: &str,
    stage: &Arc<Stage>,
    index: usize,
    chunk: chunked::ChunkRef,
) -> Result<(), Refusal> {
    if chunk.size > MAX_CHUNK {
        return Err(format!("chunk {} is larger than a chunk can be", chunk.hash));
    }
    let mut raw = Vec::with_capacity(chunk.size as usize);
    let size = read_whole(
        nats,
        node,
        u64::from(chunk.size),
        |offset| Want::Chunk { hash: chunk.hash, size: chunk.size, offset },
        |piece| {
            raw.extend_from_slice(piece);
            Ok(())
        },
    )
    .await?;
    if size != u64::from(chunk.size) {
        return Err(format!("chunk {} has {size} bytes, not {}", chunk.hash, chunk.size));
    }
    let (lobby, stage) = (lobby.clone(), stage.clone());
    tokio::task::spawn_blocking(move || -> Result<(), Refusal> {
        if chunked::hash_chunk(&raw) != chunk.hash {
            return Err(format!("chunk {}'s bytes do not hash to it", chunk.hash));
        }
        // The raw bytes live in the version's files once committed; the
        // compressed form, if zstd pays, is kept for downloads.
        if let Some(packed) = chunked::compress_chunk(&raw) {
            stage
                .put_packed(&lobby.chunks, &chunk.hash, raw.len(), &packed)
                .map_err(|e| e.to_string())?;
        }
        stage.write(index, &raw).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Asks the other nodes to fetch a version just committed here.
pub(crate) fn announce(lobby: &Lobby, game: &str, version: &str) {
    let Some(nats) = lobby.bus.nats() else { return };
    let body = VersionAt { game: game.to_owned(), version: version.to_owned(), node: nats.node };
    lobby.bus.queue_message("version.published", &body);
}

/// Serves the other nodes' requests and fetches what they publish, until
/// shutdown; at start, fetches every version missing here. Returns at once
/// on a lobby on its own.
pub(crate) async fn serve(lobby: Arc<Lobby>, shutdown: Shutdown) {
    let Some(nats) = lobby.bus.nats() else { return };
    let mut subscriptions = Vec::new();
    for rest in
        [format!("pkg.get.{}", nats.node), "pkg.who".to_owned(), "version.published".to_owned()]
    {
        match nats.client.subscribe(nats.subject(&rest)).await {
            Ok(s) => subscriptions.push(s),
            Err(e) => {
                tracing::error!(subject = %rest, error = %e, "cannot subscribe: package files are not shared");
                return;
            }
        }
    }
    let mut incoming = futures_util::stream::select_all(subscriptions);
    let (queue, mut wanted) = tokio::sync::mpsc::channel::<(String, String)>(BACKGROUND_QUEUE);
    *lobby.replicas.background.lock().unwrap_or_else(|p| p.into_inner()) = Some(queue.clone());
    // Whatever was published while this node was away.
    {
        let (lobby, queue) = (lobby.clone(), queue.clone());
        tokio::spawn(async move {
            let Ok(all) = lobby.db.all_versions().await else { return };
            for (game, version) in all {
                if !is_local(&lobby, &game, &version) && queue.send((game, version)).await.is_err()
                {
                    return;
                }
            }
        });
    }
    // One background fetch at a time, beside the on-demand ones; it stops
    // with the lobby.
    {
        let (lobby, shutdown) = (lobby.clone(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.recv() => break,
                    Some((game, version)) = wanted.recv() => {
                        replicate(&lobby, &game, &version).await;
                    }
                }
            }
        });
    }
    let serving = Arc::new(Semaphore::new(CONCURRENT_SERVES));
    loop {
        tokio::select! {
            _ = shutdown.recv() => break,
            Some(message) = incoming.next() => {
                let rest = message.subject.as_str().get(nats.prefix.len() + 1..).unwrap_or("");
                if rest == "version.published" {
                    match serde_json::from_slice::<VersionAt>(&message.payload) {
                        Ok(at) if at.node != nats.node => {
                            if queue.try_send((at.game, at.version)).is_err() {
                                tracing::warn!("background fetch queue full; the version is fetched on demand");
                            }
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "ignored a bad version announcement"),
                    }
                    continue;
                }
                let Ok(permit) = serving.clone().acquire_owned().await else { break };
                let (lobby, nats) = (lobby.clone(), nats.clone());
                let who = rest == "pkg.who";
                tokio::spawn(async move {
                    if who {
                        answer_who(&lobby, &nats, message).await;
                    } else {
                        answer_get(&lobby, &nats, message).await;
                    }
                    drop(permit);
                });
            }
        }
    }
}

/// Fetches a version in the background (it may be delisted; it is fetched
/// all the same, so it survives its node).
async fn replicate(lobby: &Arc<Lobby>, game: &str, version: &str) {
    match lobby.db.game_version(game, version).await {
        Ok(Some(record)) => {
            let _ = ensure_local(lobby, &record).await;
        }
        Ok(None) => tracing::warn!(game, version, "an announced version has no row"),
        Err(e) => tracing::warn!(game, version, error = %e, "cannot read an announced version"),
    }
}

/// A version named by another node, if its name is one a folder may have.
fn checked_name(game: &str, version: &str) -> bool {
    gamestore_package::is_valid_game_id(game)
        && semver::Version::parse(version).is_ok_and(|v| v.to_string() == version)
}

async fn answer_who(lobby: &Lobby, nats: &Nats, message: async_nats::Message) {
    let Some(reply) = message.reply else { return };
    let Ok(at) = serde_json::from_slice::<VersionAt>(&message.payload) else { return };
    if !checked_name(&at.game, &at.version) {
        return;
    }
    let has = is_local(lobby, &at.game, &at.version);
    let body = Holder { node: nats.node.clone(), has };
    let Ok(bytes) = serde_json::to_vec(&body) else { return };
    let _ = nats.client.publish(reply, bytes.into()).await;
}

async fn answer_get(lobby: &Arc<Lobby>, nats: &Nats, message: async_nats::Message) {
    let Some(reply) = message.reply else { return };
    let answer = match serde_json::from_slice::<Want>(&message.payload) {
        Ok(want) => piece(lobby, want).await,
        Err(e) => Err(format!("a bad request: {e}")),
    };
    let mut body = Vec::new();
    match answer {
        Ok((total, bytes)) => {
            body.push(b'+');
            body.extend_from_slice(&total.to_be_bytes());
            body.extend_from_slice(&bytes);
        }
        Err(e) => {
            body.push(b'-');
            body.extend_from_slice(e.as_bytes());
        }
    }
    let _ = nats.client.publish(reply, body.into()).await;
}

/// One piece of a file this node holds: the file's size and the bytes at
/// `offset` (at most [`PIECE`]).
async fn piece(lobby: &Arc<Lobby>, want: Want) -> Result<(u64, Vec<u8>), String> {
    let lobby = lobby.clone();
    match want {
        Want::Manifest { game, version, offset } | Want::Zip { game, version, offset }
            if !checked_name(&game, &version) =>
        {
            let _ = offset;
            Err(format!("{game:?} {version:?} is not a version name"))
        }
        Want::Manifest { game, version, offset } => {
            if !is_local(&lobby, &game, &version) {
                return Err("this node does not hold that version".to_owned());
            }
            let record = lobby
                .db
                .game_version(&game, &version)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("no such version")?;
            tokio::task::spawn_blocking(move || {
                let bytes = manifest_bytes(&lobby, &record).map_err(|e| e.to_string())?;
                Ok(slice(&bytes, offset))
            })
            .await
            .map_err(|e| e.to_string())?
        }
        Want::Zip { game, version, offset } => tokio::task::spawn_blocking(move || {
            read_at(&lobby.games.package_zip(&game, &version), offset)
        })
        .await
        .map_err(|e| e.to_string())?,
        Want::Chunk { hash, size, offset } => {
            if size > MAX_CHUNK {
                return Err("no chunk is that large".to_owned());
            }
            tokio::task::spawn_blocking(move || {
                let raw = lobby.chunks.read(&hash, size).map_err(|e| e.to_string())?;
                Ok(slice(&raw, offset))
            })
            .await
            .map_err(|e| e.to_string())?
        }
    }
}

fn slice(bytes: &[u8], offset: u64) -> (u64, Vec<u8>) {
    let total = bytes.len() as u64;
    let start = offset.min(total) as usize;
    let end = (offset.saturating_add(PIECE)).min(total) as usize;
    (total, bytes[start..end].to_vec())
}

fn read_at(path: &Path, offset: u64) -> Result<(u64, Vec<u8>), String> {
    use std::os::unix::fs::FileExt;
    let file =
        std::fs::File::open(path).map_err(|_| "this node does not hold that zip".to_owned())?;
    let total = file.metadata().map_err(|e| e.to_string())?.len();
    let want = PIECE.min(total.saturating_sub(offset)) as usize;
    let mut buf = vec![0u8; want];
    file.read_exact_at(&mut buf, offset).map_err(|e| e.to_string())?;
    Ok((total, buf))
}
