//! Publishing a game folder as a signed, chunked version.
//!
//! The folder's package files (the ignore file applies) are cut into
//! content-defined chunks and hashed on a pool of threads; the manifest is
//! signed with the developer's key and sent with PUBLISH_BEGIN, which
//! answers which chunks the lobby lacks. Only those are sent, each
//! compressed with zstd where that pays (not to a lobby on this machine,
//! where moving the bytes costs less than compressing them: the lobby
//! compresses them itself after the commit), several CHUNK_PUTs in flight; then
//! PUBLISH_DONE makes the version visible. A cut publish resumes by running
//! it again: chunks that arrived are not asked for twice.

use std::collections::VecDeque;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use gamestore_package::chunked::{
    FORMAT, MAX_FILE_BYTES, SigningKey, VersionManifest, chunk_folder, compress_chunk, key_hex,
    sign_manifest, signature_hex,
};
use gamestore_package::package_files;
use gamestore_protocol::{
    ChunkPut, DevKeyRegister, ErrorCode, MAX_CHUNK_LEN, PublishBegin, PublishDone,
    PublishDoneReply, PublishPlan,
};
use indicatif::ProgressBar;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::{ClientError, LobbyClient};

/// CHUNK_PUTs kept in flight.
const IN_FLIGHT: usize = 8;
/// How long PUBLISH_DONE may take (the lobby syncs every new chunk).
const DONE_TIMEOUT: Duration = Duration::from_secs(600);

/// Whether a publish compresses the chunks it sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Compress where zstd pays, unless the lobby was reached on a loopback
    /// address (it runs on this machine).
    #[default]
    Auto,
    /// Compress where zstd pays.
    Always,
    /// Send every chunk raw.
    Never,
}

impl Compression {
    /// Whether chunks sent to `client` are compressed.
    pub fn applies_to(self, client: &LobbyClient) -> bool {
        match self {
            Compression::Auto => !client.local,
            Compression::Always => true,
            Compression::Never => false,
        }
    }
}

/// What a publish did.
#[derive(Debug, Clone, Serialize)]
pub struct PublishOutcome {
    #[serde(flatten)]
    pub reply: PublishDoneReply,
    pub files: usize,
    /// Bytes of all files.
    pub total_bytes: u64,
    /// Distinct chunks of the version, and how many were sent.
    pub chunks: u64,
    pub sent_chunks: u64,
    /// Chunk bytes this run sent (compressed where that paid).
    pub sent_bytes: u64,
    /// Whether chunks were compressed where zstd paid.
    pub compressed: bool,
    /// `SHA256:<hex>` of the signing key.
    pub fingerprint: String,
    /// Where the time went, in seconds.
    pub phases: PublishPhases,
}

/// Seconds spent in each step of a publish.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PublishPhases {
    /// Chunking, hashing and signing the manifest.
    pub manifest_secs: f64,
    /// PUBLISH_BEGIN until its plan (the lobby checks the manifest and
    /// prepares the staged files).
    pub begin_secs: f64,
    /// Sending the missing chunks until the last is acknowledged.
    pub upload_secs: f64,
    /// PUBLISH_DONE until its reply (the lobby completes, syncs and commits).
    pub done_secs: f64,
}

/// The lobby does not know the chunked messages (an older lobby).
#[derive(Debug, thiserror::Error)]
#[error("this lobby does not take signed, chunked publishes")]
pub struct Unsupported;

/// Registers `key` for the logged-in developer (a no-op when it already is).
pub async fn register_key(client: &LobbyClient, key: &SigningKey) -> anyhow::Result<String> {
    let public = key_hex(&key.verifying_key());
    match client.call(DevKeyRegister { key: public }).await {
        Ok(reply) => Ok(reply.fingerprint),
        Err(e) if e.code() == Some(ErrorCode::UnknownCommand) => Err(Unsupported.into()),
        Err(e) if e.code() == Some(ErrorCode::KeyExists) => bail!(
            "the lobby has another signing key registered for this account than the one in this home ({e}); use the home that holds it, or rotate from it with `gamestore-dev key rotate`"
        ),
        Err(e) => Err(e.into()),
    }
}

/// Builds the signed manifest of `dir`: chunks and hashes its package files
/// in parallel.
pub async fn build_manifest(dir: &Path, key: &SigningKey) -> anyhow::Result<VersionManifest> {
    let dir = dir.to_owned();
    let public = key_hex(&key.verifying_key());
    tokio::task::spawn_blocking(move || -> anyhow::Result<VersionManifest> {
        let listed = package_files(&dir)
            .with_context(|| format!("cannot list the files of {}", dir.display()))?;
        if let Some(big) = listed.iter().find(|f| f.size > MAX_FILE_BYTES) {
            bail!(
                "{} has {} bytes: a file of a package may have at most {MAX_FILE_BYTES} bytes (4 GiB)",
                big.path,
                big.size
            );
        }
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json"))?)
                .context("config.json is not JSON")?;
        let files = chunk_folder(&dir, &listed)
            .with_context(|| format!("cannot read the files of {}", dir.display()))?;
        let id = config["id"].as_str().unwrap_or_default().to_owned();
        let version = config["version"].as_str().unwrap_or_default().to_owned();
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(VersionManifest { format: FORMAT, id, version, created, config, files, key: public })
    })
    .await?
}

/// Publishes the folder `dir` signed with `key`, compressing as
/// `compression` says and advancing `progress` over the bytes of the chunks
/// sent.
pub async fn publish_chunked(
    client: &LobbyClient,
    dir: &Path,
    key: &SigningKey,
    compression: Compression,
    progress: impl Fn(u64, u64) + Send + Sync,
) -> anyhow::Result<PublishOutcome> {
    let compress = compression.applies_to(client);
    let fingerprint = register_key(client, key).await?;
    let started = std::time::Instant::now();
    let mut phases = PublishPhases::default();
    let manifest = build_manifest(dir, key).await?;
    let bytes = manifest.to_bytes();
    let signature = signature_hex(&sign_manifest(key, &bytes));
    phases.manifest_secs = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();

    let begin = PublishBegin {
        id: manifest.id.clone(),
        version: manifest.version.clone(),
        size: bytes.len() as u64,
        signature,
    };
    let (request_id, reply) = client.start(begin, None).await.map_err(unsupported)?;
    for piece in bytes.chunks(MAX_CHUNK_LEN) {
        client.send_chunk(request_id, piece).await?;
    }
    client.flush().await?;
    let plan = tokio::time::timeout(DONE_TIMEOUT, reply)
        .await
        .map_err(|_| ClientError::Timeout(DONE_TIMEOUT))?
        .map_err(|_| ClientError::Closed("connection closed".into()))?
        .map_err(unsupported)?;
    let plan: PublishPlan = LobbyClient::decode::<PublishBegin>(plan)?;
    phases.begin_secs = started.elapsed().as_secs_f64();

    let distinct = manifest.distinct_chunks();
    if plan.chunks != distinct.len() as u64 {
        bail!(
            "the lobby counts {} distinct chunks in the manifest, this client {}",
            plan.chunks,
            distinct.len()
        );
    }
    // Where each distinct chunk can be read: its first appearance.
    let mut places: Vec<(PathBuf, u64, u32)> = Vec::with_capacity(distinct.len());
    {
        let mut seen = std::collections::HashSet::new();
        for file in &manifest.files {
            let mut offset = 0u64;
            for chunk in &file.chunks {
                if seen.insert(chunk.hash) {
                    places.push((dir.join(&file.path), offset, chunk.size));
                }
                offset += u64::from(chunk.size);
            }
        }
    }
    let mut missing: Vec<usize> = Vec::new();
    for &[start, count] in &plan.missing {
        let end = start.checked_add(count).filter(|&e| e <= places.len() as u64);
        let Some(end) = end else {
            bail!("the lobby asks for chunks the manifest does not have");
        };
        missing.extend(start as usize..end as usize);
    }
    let to_send: u64 = missing.iter().map(|&i| u64::from(places[i].2)).sum();

    let started = std::time::Instant::now();
    let places = Arc::new(places);
    let sent_bytes = send_chunks(client, plan.publish, places, missing.clone(), compress, |n| {
        progress(n, to_send)
    })
    .await?;
    phases.upload_secs = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let reply =
        client.call_with_timeout(PublishDone { publish: plan.publish }, DONE_TIMEOUT).await?;
    phases.done_secs = started.elapsed().as_secs_f64();
    Ok(PublishOutcome {
        reply,
        files: manifest.files.len(),
        total_bytes: manifest.total_bytes(),
        chunks: distinct.len() as u64,
        sent_chunks: missing.len() as u64,
        sent_bytes,
        compressed: compress,
        fingerprint,
        phases,
    })
}

fn unsupported(e: ClientError) -> anyhow::Error {
    if e.code() == Some(ErrorCode::UnknownCommand) { Unsupported.into() } else { e.into() }
}

/// Reads (and, with `compress`, compresses where that pays) the chunks
/// `todo` on a pool of threads and sends them, [`IN_FLIGHT`] CHUNK_PUTs at a
/// time.
async fn send_chunks(
    client: &LobbyClient,
    publish: u64,
    places: Arc<Vec<(PathBuf, u64, u32)>>,
    todo: Vec<usize>,
    compress: bool,
    progress: impl Fn(u64),
) -> anyhow::Result<u64> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
    let (tx, mut rx) = mpsc::channel::<std::io::Result<(usize, bool, Vec<u8>)>>(threads * 2);
    let todo = Arc::new(todo);
    let next = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..threads)
        .map(|_| {
            let (tx, todo, next, places) = (tx.clone(), todo.clone(), next.clone(), places.clone());
            std::thread::spawn(move || {
                loop {
                    let Some(&index) = todo.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        return;
                    };
                    let (path, offset, size) = &places[index];
                    let mut buf = vec![0u8; *size as usize];
                    let read =
                        std::fs::File::open(path).and_then(|f| f.read_exact_at(&mut buf, *offset));
                    let packed = (compress && read.is_ok()).then(|| compress_chunk(&buf)).flatten();
                    let item = read.map(|()| match packed {
                        Some(packed) => (index, true, packed),
                        None => (index, false, buf),
                    });
                    if tx.blocking_send(item).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let mut sent = 0u64;
    let mut done = 0u64;
    let mut in_flight = VecDeque::new();
    let result: anyhow::Result<()> = async {
        while let Some(item) = rx.recv().await {
            let (index, compressed, data) =
                item.context("a file changed or vanished while it was published")?;
            let header =
                ChunkPut { publish, index: index as u64, compressed, size: data.len() as u32 };
            let (id, reply) = client.start(header, None).await?;
            for piece in data.chunks(MAX_CHUNK_LEN) {
                client.send_chunk(id, piece).await?;
            }
            sent += data.len() as u64;
            in_flight.push_back((reply, u64::from(places[index].2)));
            if in_flight.len() >= IN_FLIGHT {
                client.flush().await?;
                let (reply, size) = in_flight.pop_front().expect("in flight");
                wait_put(reply).await?;
                done += size;
                progress(done);
            }
        }
        client.flush().await?;
        while let Some((reply, size)) = in_flight.pop_front() {
            wait_put(reply).await?;
            done += size;
            progress(done);
        }
        Ok(())
    }
    .await;
    drop(rx);
    for reader in readers {
        let _ = reader.join();
    }
    result.map(|()| sent)
}

async fn wait_put(
    reply: tokio::sync::oneshot::Receiver<Result<crate::connection::RawReply, ClientError>>,
) -> anyhow::Result<()> {
    tokio::time::timeout(crate::connection::CALL_TIMEOUT, reply)
        .await
        .map_err(|_| ClientError::Timeout(crate::connection::CALL_TIMEOUT))?
        .map_err(|_| ClientError::Closed("connection closed".into()))??;
    Ok(())
}

/// A progress bar callback for [`publish_chunked`].
pub fn bar_progress(bar: &ProgressBar) -> impl Fn(u64, u64) + Send + Sync + '_ {
    move |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    }
}
