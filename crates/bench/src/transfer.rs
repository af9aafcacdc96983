//! Scenarios 1 and 2: moving packages, and updating one.
//!
//! **Transfer.** A generated game is packed and published (GAME_UPLOAD, the
//! zip as binary frames, GAME_UPLOAD_DONE) with the client library's own
//! upload, then downloaded whole (GAME_DOWNLOAD, bytes received and dropped)
//! and installed into a fresh player library (download to disk, SHA-256,
//! unpack, verify every file, rename into place). Each is compared with a
//! plain loopback socket copy of the same number of bytes done here, in the
//! same run.
//!
//! **Delta.** One file of the installed game is rewritten with new bytes of
//! the same size, the game is published as the next version, and the player
//! updates: the bytes the update moved against the bytes that changed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use gamestore_client::LobbyClient;
use gamestore_client::install::{OlderVersions, install};
use gamestore_client::library::Library;
use gamestore_client::transfer::upload_package;
use gamestore_package::{pack_dir, sha256_file};
use gamestore_protocol::{GameDownload, GameUpload};
use indicatif::ProgressBar;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::accounts::{new_developer, new_player};
use crate::generated_game::{GameSpec, GeneratedGame, generate};
use crate::lobby::Server;
use crate::raw_copy::loopback_copy;
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
    /// Bytes of the zip, what every transfer below moves.
    pub zip_bytes: u64,
    /// Bytes of the game's files before packing.
    pub data_bytes: u64,
    pub files: usize,
    pub pack_secs: f64,
    /// Loopback socket copies of `zip_bytes`, MB/s (10^6 bytes/s): each
    /// run, the best and the median.
    pub raw_runs_mb_s: Vec<f64>,
    pub raw_mb_s: f64,
    pub raw_median_mb_s: f64,
    /// From GAME_UPLOAD to the last byte handed to the socket.
    pub upload_secs: f64,
    pub upload_mb_s: f64,
    /// From GAME_UPLOAD to GAME_UPLOAD_DONE's reply: the lobby has also
    /// unpacked, verified and synced the version.
    pub publish_secs: f64,
    pub publish_mb_s: f64,
    /// GAME_DOWNLOAD of the whole zip, received and dropped: each run, the
    /// best and the median.
    pub download_runs_mb_s: Vec<f64>,
    pub download_mb_s: f64,
    pub download_median_mb_s: f64,
    /// A first install: download to disk, check, unpack, verify, rename.
    pub install_secs: f64,
    pub install_mb_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeltaResult {
    pub changed_bytes: u64,
    /// The new version's zip.
    pub zip_bytes: u64,
    pub data_bytes: u64,
    pub bytes_transferred: u64,
    /// "delta" when only changed files moved, "full" for the whole zip.
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
    let packed = pack(&game.dir, &work.join("v1.zip")).await?;
    let zip_bytes = packed.size;

    let dev = new_developer(&server.addr, &format!("{tag}dev")).await?;
    crate::progress(&format!("transfer: publishing {} MB", zip_bytes / 1_000_000));
    let published = publish(&dev, &id, "1.0.0", &packed).await?;

    let player_name = format!("{tag}inst");
    let player = new_player(&server.addr, &player_name).await?;
    crate::progress("transfer: downloading, and loopback copies of the same size");
    // Alternated, so that both see the same machine; each keeps its best
    // run, since a loopback copy is much faster when the two ends happen to
    // run on different cores.
    let (mut raw_runs, mut download_runs) = (Vec::new(), Vec::new());
    for _ in 0..options.repeats.max(1) {
        let took = tokio::task::spawn_blocking(move || loopback_copy(zip_bytes)).await??;
        raw_runs.push(mb_per_s(zip_bytes, took));
        let took = download_zip(&player, &id, "1.0.0", zip_bytes).await?;
        download_runs.push(mb_per_s(zip_bytes, took));
    }
    crate::progress("transfer: installing");
    let library = Library::new(&work.join("player-home"), &player_name);
    let started = Instant::now();
    let outcome = install(&player, &library, &id, None, OlderVersions::Keep).await?;
    let install_time = started.elapsed();
    ensure!(outcome.method == "full", "the first install was {:?}, not full", outcome.method);
    ensure!(
        outcome.bytes_transferred == zip_bytes,
        "the first install moved {} bytes, the zip has {zip_bytes}",
        outcome.bytes_transferred
    );

    let transfer = TransferResult {
        zip_bytes,
        data_bytes: game.data_bytes,
        files: game.files,
        pack_secs: packed.took.as_secs_f64(),
        raw_mb_s: best(&raw_runs),
        raw_median_mb_s: median(&raw_runs),
        raw_runs_mb_s: raw_runs,
        upload_secs: published.sent.as_secs_f64(),
        upload_mb_s: mb_per_s(zip_bytes, published.sent),
        publish_secs: published.done.as_secs_f64(),
        publish_mb_s: mb_per_s(zip_bytes, published.done),
        download_mb_s: best(&download_runs),
        download_median_mb_s: median(&download_runs),
        download_runs_mb_s: download_runs,
        install_secs: install_time.as_secs_f64(),
        install_mb_s: mb_per_s(zip_bytes, install_time),
    };
    let delta = if with_delta {
        Some(delta(&dev, &player, &library, &game, &id, options, work).await?)
    } else {
        None
    };
    Ok(TransferResults { transfer: Some(transfer), delta })
}

async fn delta(
    dev: &LobbyClient,
    player: &LobbyClient,
    library: &Library,
    game: &GeneratedGame,
    id: &str,
    options: &TransferOptions,
    work: &Path,
) -> anyhow::Result<DeltaResult> {
    crate::progress(&format!("delta: changing {} and publishing 1.0.1", game.changed_file));
    game.change_one_file("1.0.1", options.seed.wrapping_add(1))?;
    let packed = pack(&game.dir, &work.join("v2.zip")).await?;
    let published = publish(dev, id, "1.0.1", &packed).await?;
    crate::progress("delta: updating");
    let started = Instant::now();
    let outcome = install(player, library, id, None, OlderVersions::Remove).await?;
    let took = started.elapsed();
    ensure!(outcome.version == "1.0.1", "the update installed {}", outcome.version);
    Ok(DeltaResult {
        changed_bytes: game.changed_bytes,
        zip_bytes: packed.size,
        data_bytes: game.data_bytes,
        bytes_transferred: outcome.bytes_transferred,
        method: outcome.method.to_owned(),
        ratio_to_changed: outcome.bytes_transferred as f64 / game.changed_bytes.max(1) as f64,
        ratio_to_package: outcome.bytes_transferred as f64 / packed.size.max(1) as f64,
        publish_secs: published.done.as_secs_f64(),
        update_secs: took.as_secs_f64(),
    })
}

/// A packed game.
struct Packed {
    zip: PathBuf,
    size: u64,
    sha256: String,
    took: Duration,
}

async fn pack(dir: &Path, zip: &Path) -> anyhow::Result<Packed> {
    let (dir, zip) = (dir.to_owned(), zip.to_owned());
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let file = std::fs::File::create(&zip)?;
        pack_dir(&dir, std::io::BufWriter::new(file))
            .with_context(|| format!("cannot pack {}", dir.display()))?;
        let took = started.elapsed();
        let size = std::fs::metadata(&zip)?.len();
        let sha256 = sha256_file(&zip)?;
        Ok(Packed { zip, size, sha256, took })
    })
    .await?
}

struct Published {
    /// Until the last byte was handed to the socket.
    sent: Duration,
    /// Until GAME_UPLOAD_DONE's reply.
    done: Duration,
}

/// Publishes with the client library's upload; a watcher notes when the
/// progress bar (advanced as each chunk is written) reaches the end.
async fn publish(
    dev: &LobbyClient,
    id: &str,
    version: &str,
    packed: &Packed,
) -> anyhow::Result<Published> {
    let header = GameUpload {
        id: id.to_owned(),
        version: version.to_owned(),
        size: packed.size,
        sha256: packed.sha256.clone(),
    };
    let bar = ProgressBar::hidden();
    bar.set_length(packed.size);
    let watcher = {
        let (bar, size) = (bar.clone(), packed.size);
        tokio::spawn(async move {
            while bar.position() < size {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Instant::now()
        })
    };
    let started = Instant::now();
    let reply = upload_package(dev, header, &packed.zip, &bar).await;
    let done = started.elapsed();
    let reply = match reply {
        Ok(reply) => reply,
        Err(e) => {
            watcher.abort();
            return Err(e).context("publish");
        }
    };
    let sent = watcher.await? - started;
    ensure!(reply.version == version, "published {} instead of {version}", reply.version);
    Ok(Published { sent: sent.min(done), done })
}

/// Downloads the whole zip of `id` `version` and drops the bytes.
async fn download_zip(
    player: &LobbyClient,
    id: &str,
    version: &str,
    size: u64,
) -> anyhow::Result<Duration> {
    const WAIT: Duration = Duration::from_secs(60);
    let (tx, mut rx) = mpsc::channel(16);
    let request =
        GameDownload { id: id.to_owned(), version: version.to_owned(), files: None, offset: 0 };
    let started = Instant::now();
    let (_, reply) = player.start(request, Some(tx)).await?;
    let reply = tokio::time::timeout(WAIT, reply)
        .await
        .context("GAME_DOWNLOAD was not answered")?
        .context("the connection closed")??;
    let ready = LobbyClient::decode::<GameDownload>(reply)?;
    ensure!(ready.size == size, "the lobby offered {} bytes, the zip has {size}", ready.size);
    let mut got = 0u64;
    while got < size {
        match tokio::time::timeout(WAIT, rx.recv()).await {
            Ok(Some(chunk)) => got += chunk.len() as u64,
            Ok(None) => bail!("the download was cut after {got} of {size} bytes"),
            Err(_) => bail!("the download stalled after {got} of {size} bytes"),
        }
    }
    Ok(started.elapsed())
}
