//! Scenarios 1 and 2: moving packages, and updating one.
//!
//! **Transfer.** A generated game is published as `gamestore-dev publish`
//! does it (chunked, hashed and signed here, only missing chunks sent,
//! PUBLISH_DONE), then downloaded whole (every chunk fetched with CHUNK_GET,
//! hashed and dropped) and installed into a fresh player library (chunks
//! written in place, one sync pass, rename). Publish and install are
//! compared with a durable write (write + fsync) of the same files to the
//! same disk, the download with a plain loopback socket copy of the same
//! number of bytes, all in the same run.
//!
//! **Delta.** One file of the installed game is rewritten with new bytes of
//! the same size, the game is published as the next version, and the player
//! updates: the bytes the publish and the update moved against the bytes
//! that changed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::ensure;
use gamestore_client::LobbyClient;
use gamestore_client::chunked::download_all;
use gamestore_client::install::{OlderVersions, install};
use gamestore_client::library::Library;
use gamestore_client::publish::{Compression, publish_chunked};
use gamestore_client::signing_key::KeyFile;
use gamestore_package::chunked::SigningKey;
use serde::Serialize;

use crate::accounts::{new_developer, new_player};
use crate::generated_game::{GameSpec, GeneratedGame, generate};
use crate::lobby::Server;
use crate::raw_copy::{Receiver, loopback_copy};
use crate::stats::{best, mb_per_s, median};

/// Sizes for the transfer and delta scenarios.
#[derive(Debug, Clone, Serialize)]
pub struct TransferOptions {
    /// Data bytes in the generated game.
    pub package_bytes: u64,
    pub files: usize,
    /// Size of the file the update changes.
    pub changed_bytes: u64,
    pub seed: u64,
    /// Downloads and loopback copies measured, alternately; the best of
    /// each counts.
    pub repeats: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct TransferResult {
    /// Bytes of the game's files: what every transfer below moves.
    pub data_bytes: u64,
    pub files: usize,
    /// Loopback socket copies of `data_bytes`, MB/s (10^6 bytes/s): each
    /// run, the best and the median.
    pub raw_runs_mb_s: Vec<f64>,
    pub raw_mb_s: f64,
    pub raw_median_mb_s: f64,
    /// The same copies with the receiver hashing every byte (BLAKE3) as it
    /// arrives: what this machine allows a download that verifies.
    pub verified_runs_mb_s: Vec<f64>,
    pub verified_mb_s: f64,
    pub verified_median_mb_s: f64,
    /// Writing and syncing the same files to the same disk (each file
    /// written then fsynced, on as many threads as cores): the reference
    /// for publish and install.
    pub durable_write_secs: f64,
    pub durable_write_mb_s: f64,
    /// The signed publish as `gamestore-dev publish` does it, chunking and
    /// hashing included, until PUBLISH_DONE's reply.
    pub publish_secs: f64,
    pub publish_mb_s: f64,
    pub publish_sent_bytes: u64,
    /// Where the publish's time went.
    pub publish_phases: gamestore_client::publish::PublishPhases,
    /// Every chunk fetched with CHUNK_GET, hashed, and dropped: each run,
    /// the best and the median.
    pub download_runs_mb_s: Vec<f64>,
    pub download_mb_s: f64,
    pub download_median_mb_s: f64,
    /// A first install: manifest, chunks written in place, one sync pass, rename.
    pub install_secs: f64,
    pub install_mb_s: f64,
    pub install_method: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeltaResult {
    pub changed_bytes: u64,
    pub data_bytes: u64,
    /// Chunk bytes the new version's publish sent.
    pub publish_sent_bytes: u64,
    pub bytes_transferred: u64,
    /// "chunked" when only missing chunks moved.
    pub method: String,
    pub ratio_to_changed: f64,
    pub ratio_to_package: f64,
    pub publish_secs: f64,
    pub update_secs: f64,
}

/// What the run produced; a scenario not asked for is `None`.
#[derive(Debug, Default)]
pub struct TransferResults {
    pub transfer: Option<TransferResult>,
    pub delta: Option<DeltaResult>,
}

/// Runs the transfer scenario and, with `with_delta`, the delta one (which
/// needs the transfer's install as its starting point).
pub async fn run(
    server: &Server,
    tag: &str,
    options: &TransferOptions,
    work: &Path,
    with_delta: bool,
) -> anyhow::Result<TransferResults> {
    let id = format!("{tag}-big");
    let spec = GameSpec {
        id: id.clone(),
        version: "1.0.0".into(),
        total_bytes: options.package_bytes,
        files: options.files,
        changed_bytes: options.changed_bytes,
        seed: options.seed,
    };
    crate::progress(&format!(
        "transfer: generating {} files, {} MB",
        spec.files,
        spec.total_bytes / 1_000_000
    ));
    let game = {
        let (work, spec) = (work.to_owned(), spec.clone());
        tokio::task::spawn_blocking(move || generate(&work, &spec)).await??
    };
    let data_bytes = folder_bytes(&game.dir)?;
    crate::progress("transfer: durable write of the same files");
    let durable = {
        let (from, to) = (game.dir.clone(), work.join("durable-copy"));
        tokio::task::spawn_blocking(move || durable_write(&from, &to)).await??
    };

    let dev = new_developer(&server.addr, &format!("{tag}dev")).await?;
    let key = dev_key(work)?;
    crate::progress(&format!("transfer: publishing {} MB", data_bytes / 1_000_000));
    let started = Instant::now();
    let published = publish_chunked(&dev, &game.dir, &key, Compression::Auto, |_, _| {}).await?;
    let publish_time = started.elapsed();

    let player_name = format!("{tag}inst");
    let player = new_player(&server.addr, &player_name).await?;
    crate::progress("transfer: downloading, and loopback copies of the same size");
    // Alternated, so that both see the same machine; each keeps its best
    // run, since a loopback copy is much faster when the two ends happen to
    // run on different cores.
    let (mut raw_runs, mut verified_runs, mut download_runs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..options.repeats.max(1) {
        for (receiver, runs) in
            [(Receiver::Drops, &mut raw_runs), (Receiver::Hashes, &mut verified_runs)]
        {
            let took =
                tokio::task::spawn_blocking(move || loopback_copy(data_bytes, receiver)).await??;
            runs.push(mb_per_s(data_bytes, took));
        }
        let started = Instant::now();
        let got = download_all(&player, &id, "1.0.0").await?;
        let took = started.elapsed();
        download_runs.push(mb_per_s(got, took));
    }
    crate::progress("transfer: installing");
    let library = Library::new(&work.join("player-home"), &player_name);
    let started = Instant::now();
    let outcome = install(&player, &library, &id, None, OlderVersions::Keep).await?;
    let install_time = started.elapsed();
    ensure!(outcome.method == "chunked", "the first install was {:?}, not chunked", outcome.method);

    let transfer = TransferResult {
        data_bytes,
        files: game.files,
        raw_mb_s: best(&raw_runs),
        raw_median_mb_s: median(&raw_runs),
        raw_runs_mb_s: raw_runs,
        verified_mb_s: best(&verified_runs),
        verified_median_mb_s: median(&verified_runs),
        verified_runs_mb_s: verified_runs,
        durable_write_secs: durable.as_secs_f64(),
        durable_write_mb_s: mb_per_s(data_bytes, durable),
        publish_secs: publish_time.as_secs_f64(),
        publish_mb_s: mb_per_s(data_bytes, publish_time),
        publish_sent_bytes: published.sent_bytes,
        publish_phases: published.phases,
        download_mb_s: best(&download_runs),
        download_median_mb_s: median(&download_runs),
        download_runs_mb_s: download_runs,
        install_secs: install_time.as_secs_f64(),
        install_mb_s: mb_per_s(data_bytes, install_time),
        install_method: outcome.method.to_owned(),
    };
    let delta = if with_delta {
        Some(delta(&dev, &key, &player, &library, &game, &id, options).await?)
    } else {
        None
    };
    Ok(TransferResults { transfer: Some(transfer), delta })
}

async fn delta(
    dev: &LobbyClient,
    key: &SigningKey,
    player: &LobbyClient,
    library: &Library,
    game: &GeneratedGame,
    id: &str,
    options: &TransferOptions,
) -> anyhow::Result<DeltaResult> {
    crate::progress(&format!("delta: changing {} and publishing 1.0.1", game.changed_file));
    game.change_one_file("1.0.1", options.seed.wrapping_add(1))?;
    let started = Instant::now();
    let published = publish_chunked(dev, &game.dir, key, Compression::Auto, |_, _| {}).await?;
    let publish_time = started.elapsed();
    crate::progress("delta: updating");
    let started = Instant::now();
    let outcome = install(player, library, id, None, OlderVersions::Remove).await?;
    let took = started.elapsed();
    ensure!(outcome.version == "1.0.1", "the update installed {}", outcome.version);
    let data_bytes = folder_bytes(&game.dir)?;
    Ok(DeltaResult {
        changed_bytes: game.changed_bytes,
        data_bytes,
        publish_sent_bytes: published.sent_bytes,
        bytes_transferred: outcome.bytes_transferred,
        method: outcome.method.to_owned(),
        ratio_to_changed: outcome.bytes_transferred as f64 / game.changed_bytes.max(1) as f64,
        ratio_to_package: outcome.bytes_transferred as f64 / data_bytes.max(1) as f64,
        publish_secs: publish_time.as_secs_f64(),
        update_secs: took.as_secs_f64(),
    })
}

/// A developer signing key kept in the bench's work folder.
pub fn dev_key(work: &Path) -> anyhow::Result<SigningKey> {
    KeyFile::in_home(&work.join("dev-home")).load_or_create()
}

/// Bytes of every file under `dir`.
pub fn folder_bytes(dir: &Path) -> anyhow::Result<u64> {
    Ok(gamestore_package::package_files(dir)?.iter().map(|f| f.size).sum())
}

/// Copies the package files of `from` into `to`, each file written and
/// fsynced, on one thread per core, then syncs the folders: what a durable
/// write of these files costs on this disk. The source is read from the
/// page cache, as an install's chunks come from the network.
pub fn durable_write(from: &Path, to: &Path) -> anyhow::Result<Duration> {
    use std::io::Write;
    let files = gamestore_package::package_files(from)?;
    let _ = std::fs::remove_dir_all(to);
    for f in &files {
        let path = to.join(&f.path);
        std::fs::create_dir_all(path.parent().expect("file has a parent"))?;
        // Warm the source into the page cache.
        let _ = std::fs::read(from.join(&f.path))?;
    }
    let started = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let failed = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(f) = files.get(i) else { return };
                    let result = (|| -> std::io::Result<()> {
                        let data = std::fs::read(from.join(&f.path))?;
                        let mut out = std::fs::File::create(to.join(&f.path))?;
                        out.write_all(&data)?;
                        out.sync_all()
                    })();
                    if let Err(e) = result {
                        failed.lock().unwrap().get_or_insert(e);
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().unwrap() {
        return Err(e.into());
    }
    let mut dirs: Vec<PathBuf> =
        files.iter().filter_map(|f| to.join(&f.path).parent().map(Path::to_owned)).collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        std::fs::File::open(dir)?.sync_all()?;
    }
    let took = started.elapsed();
    std::fs::remove_dir_all(to)?;
    Ok(took)
}
