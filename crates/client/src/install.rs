//! Installing and updating a game (flow P2).
//!
//! Against a lobby that serves signed, chunked versions, [`install`] takes
//! the path of [`crate::chunked`]: manifest checked against the trust store,
//! only missing chunks fetched, resumable. Against an older lobby (no
//! MANIFEST_GET) it falls back to the zip path below:
//!
//! 1. GAME_INFO and GAME_FILES give the target version and its listing.
//! 2. If an older version is installed, the files that did not change are
//!    copied from it and only the changed or new ones are downloaded
//!    (a delta update); otherwise the zip is downloaded, resuming a partial
//!    download left by an earlier attempt, checked against its SHA-256 and
//!    unpacked with the same limits the lobby uses.
//! 3. The staging folder is verified against the listing (every file's size
//!    and SHA-256, nothing extra) and only then renamed into place. A cut or
//!    corrupt download never leaves a version that looks installed, and the
//!    version already installed keeps working.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use gamestore_package::{FileEntry, Limits, Sha256Writer, extract};
use gamestore_protocol::{DownloadReady, GameDownload, GameFiles, GameFilesReply, GameInfo};
use indicatif::ProgressBar;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::library::Library;
use crate::transfer::progress_bar;
use crate::trust::Request;
use crate::{ClientError, LobbyClient};

/// Longest wait for the next chunk of a download.
const CHUNK_TIMEOUT: Duration = Duration::from_secs(60);

/// What an install did.
#[derive(Debug, Clone, Serialize)]
pub struct InstallOutcome {
    pub id: String,
    pub version: String,
    /// The installed folder.
    pub path: PathBuf,
    /// Package bytes moved over the network by this install.
    pub bytes_transferred: u64,
    /// "none" (already installed), "chunked" (a signed manifest, missing
    /// chunks only), "full" (the zip) or "delta" (changed files only).
    pub method: &'static str,
    /// The version this install updated from, if any.
    pub previous: Option<String>,
    /// Chunks taken from installed versions or a cut earlier attempt (chunked installs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reused_chunks: Option<u64>,
    /// Notes for the player: key pinned or rotated, unsigned, older version.
    #[serde(skip)]
    pub notes: Vec<String>,
}

/// What happens to the versions already installed once the new one is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OlderVersions {
    /// Remove versions older than the one installed (an update).
    Remove,
    /// Keep them (a room plays an exact, possibly older, version).
    Keep,
}

/// Installs `version` (default: the latest) of game `id` into `library`.
pub async fn install(
    client: &LobbyClient,
    library: &Library,
    id: &str,
    version: Option<&str>,
    older: OlderVersions,
) -> anyhow::Result<InstallOutcome> {
    let target = match version {
        Some(v) => v.to_owned(),
        None => client.call(GameInfo { id: id.to_owned() }).await?.game.version,
    };
    let previous = library.versions(id).into_iter().find(|v| *v != target);
    if library.is_installed(id, &target) {
        return Ok(InstallOutcome {
            id: id.to_owned(),
            path: library.version_dir(id, &target),
            version: target,
            bytes_transferred: 0,
            method: "none",
            previous: None,
            reused_chunks: None,
            notes: Vec::new(),
        });
    }
    let request = if version.is_some() { Request::Explicit } else { Request::Latest };
    match crate::chunked::fetch_manifest(client, id, &target).await {
        Ok(verified) => {
            let trust = library.trust_file().to_owned();
            let done = crate::chunked::install_verified(client, library, &trust, verified, request)
                .await?;
            if older == OlderVersions::Remove {
                remove_older(library, id, &target)?;
            }
            return Ok(InstallOutcome {
                id: id.to_owned(),
                version: target,
                path: done.path,
                bytes_transferred: done.stats.fetched_bytes,
                method: "chunked",
                previous,
                reused_chunks: Some(done.stats.reused_chunks + done.stats.resumed_chunks),
                notes: done.notes,
            });
        }
        Err(e) if crate::chunked::is_unsupported(&e) => {}
        Err(e) => return Err(e),
    }
    if crate::trust::KnownKeys::load(library.trust_file())?.get(id).is_some() {
        bail!(
            "{id} has a pinned developer key but the lobby offers {target} only unsigned (as a zip); nothing was installed"
        );
    }
    let files = client.call_all(GameFiles::new(id, target.clone())).await?;
    check_listing(&files)?;
    fs::create_dir_all(library.game_dir(id))?;
    library.clean_leftovers(id, Some(&target));
    let staging = library.staging_dir(id, &target)?;
    let result = fill_staging(client, library, &files, previous.as_deref(), &staging).await;
    let (bytes, method) = match result {
        Ok(done) => done,
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    if let Err(mismatch) = files.files.verify_dir(&staging) {
        let _ = fs::remove_dir_all(&staging);
        let _ = fs::remove_file(library.partial_download(id, &target));
        bail!(
            "the download of {id} {target} is corrupt ({mismatch}); nothing was installed, try again"
        );
    }
    let path = library.commit(&staging, id, &target, &files.files)?;
    let _ = fs::remove_file(library.partial_download(id, &target));
    if older == OlderVersions::Remove {
        remove_older(library, id, &target)?;
    }
    Ok(InstallOutcome {
        id: id.to_owned(),
        version: target,
        path,
        bytes_transferred: bytes,
        method,
        previous,
        reused_chunks: None,
        notes: Vec::new(),
    })
}

/// Removes the installed versions of `id` older than `target` (an update).
fn remove_older(library: &Library, id: &str, target: &str) -> anyhow::Result<()> {
    for old in library.versions(id) {
        if old != target && semver::Version::parse(&old).ok() < semver::Version::parse(target).ok()
        {
            library.remove_version(id, &old)?;
        }
    }
    Ok(())
}

/// Puts the target version's files into `staging`; returns bytes moved and how.
async fn fill_staging(
    client: &LobbyClient,
    library: &Library,
    files: &GameFilesReply,
    previous: Option<&str>,
    staging: &Path,
) -> anyhow::Result<(u64, &'static str)> {
    if let Some(old) = previous.and_then(|v| library.listing(&files.id, v).map(|l| (v, l))) {
        let (old_version, old_list) = old;
        let delta = old_list.diff(&files.files);
        if delta.bytes_to_fetch() < files.package_size {
            let old_dir = library.version_dir(&files.id, old_version);
            for entry in &delta.unchanged {
                let to = staging.join(&entry.path);
                fs::create_dir_all(to.parent().expect("file has a parent"))?;
                fs::copy(old_dir.join(&entry.path), &to)
                    .with_context(|| format!("cannot copy {} from {old_version}", entry.path))?;
            }
            let bytes = download_files(client, files, &delta.changed_or_new, staging).await?;
            return Ok((bytes, "delta"));
        }
    }
    let zip = library.partial_download(&files.id, &files.version);
    let bytes = download_zip(client, files, &zip).await?;
    // The lobby may allow more files than the default; the listing says how
    // many this package has (its folders are at most as many again).
    let defaults = Limits::default();
    let limits =
        Limits { max_entries: defaults.max_entries.max(2 * files.files.len() + 1), ..defaults };
    let dest = staging.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        // `extract` wants an empty or missing destination.
        fs::remove_dir_all(&dest)?;
        extract(fs::File::open(&zip)?, &dest, &limits)?;
        Ok(())
    })
    .await??;
    Ok((bytes, "full"))
}

/// Starts a download and returns its size and the chunk stream.
async fn start_download(
    client: &LobbyClient,
    request: GameDownload,
) -> Result<(u64, mpsc::Receiver<Vec<u8>>), ClientError> {
    let (tx, rx) = mpsc::channel(16);
    let (_, reply) = client.start(request, Some(tx)).await?;
    let value = tokio::time::timeout(CHUNK_TIMEOUT, reply)
        .await
        .map_err(|_| ClientError::Timeout(CHUNK_TIMEOUT))?
        .map_err(|_| ClientError::Closed("connection closed".into()))??;
    let ready: DownloadReady = LobbyClient::decode::<GameDownload>(value)?;
    Ok((ready.size, rx))
}

async fn next_chunk(rx: &mut mpsc::Receiver<Vec<u8>>) -> anyhow::Result<Vec<u8>> {
    match tokio::time::timeout(CHUNK_TIMEOUT, rx.recv()).await {
        Ok(Some(chunk)) => Ok(chunk),
        Ok(None) => bail!("the download was cut off (connection to the lobby lost)"),
        Err(_) => bail!("the download stalled for {}s", CHUNK_TIMEOUT.as_secs()),
    }
}

/// Downloads the zip into `part`, resuming from what is already there.
async fn download_zip(
    client: &LobbyClient,
    files: &GameFilesReply,
    part: &Path,
) -> anyhow::Result<u64> {
    let mut have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    if have > files.package_size {
        fs::remove_file(part)?;
        have = 0;
    }
    let request = GameDownload {
        id: files.id.clone(),
        version: files.version.clone(),
        files: None,
        offset: have,
    };
    let (size, mut rx) = start_download(client, request).await?;
    if size != files.package_size - have {
        bail!("the lobby offered {size} bytes, expected {}", files.package_size - have);
    }
    let bar =
        progress_bar(files.package_size, &format!("downloading {} {}", files.id, files.version));
    bar.set_position(have);
    let file = fs::OpenOptions::new().create(true).append(true).open(part)?;
    // The part already there is hashed, not downloaded again.
    let existing = std::io::Read::take(fs::File::open(part)?, have);
    let mut out = Sha256Writer::resuming(file, existing)?;
    let mut got = 0u64;
    while got < size {
        let chunk = next_chunk(&mut rx).await?;
        got += chunk.len() as u64;
        if got > size {
            bail!("the lobby sent more bytes than announced");
        }
        out.write_all(&chunk)?;
        bar.inc(chunk.len() as u64);
    }
    let digest = out.hex_digest();
    out.into_inner().sync_all()?;
    bar.finish_and_clear();
    if digest != files.package_sha256 {
        fs::remove_file(part)?;
        bail!(
            "the download of {} {} is corrupt (SHA-256 {digest}, expected {}); nothing was installed, try again",
            files.id,
            files.version,
            files.package_sha256
        );
    }
    Ok(size)
}

/// The pages of a listing joined up must still be one listing: sorted by
/// path, each path once.
fn check_listing(files: &GameFilesReply) -> anyhow::Result<()> {
    if let Some(pair) = files.files.files.windows(2).find(|w| w[0].path >= w[1].path) {
        bail!(
            "the lobby's listing of {} {} is out of order at {:?}; nothing was installed",
            files.id,
            files.version,
            pair[1].path
        );
    }
    Ok(())
}

/// Bytes of paths one GAME_DOWNLOAD names at most, so that the request stays
/// well inside a frame however many files an update moves.
const PATHS_PER_REQUEST_BYTES: usize = 256 * 1024;

/// Downloads `wanted` files' contents into `staging`, checking each; in as
/// many requests as the paths need.
async fn download_files(
    client: &LobbyClient,
    files: &GameFilesReply,
    wanted: &[FileEntry],
    staging: &Path,
) -> anyhow::Result<u64> {
    let total: u64 = wanted.iter().map(|e| e.size).sum();
    let bar: ProgressBar =
        progress_bar(total, &format!("updating {} to {}", files.id, files.version));
    let mut rest = wanted;
    while !rest.is_empty() {
        let mut bytes = 0;
        let n = rest
            .iter()
            .position(|e| {
                bytes += e.path.len() + 3;
                bytes > PATHS_PER_REQUEST_BYTES
            })
            .unwrap_or(rest.len())
            .max(1);
        let (batch, later) = rest.split_at(n);
        download_batch(client, files, batch, staging, &bar).await?;
        rest = later;
    }
    bar.finish_and_clear();
    Ok(total)
}

/// One GAME_DOWNLOAD of `wanted` files' contents into `staging`.
async fn download_batch(
    client: &LobbyClient,
    files: &GameFilesReply,
    wanted: &[FileEntry],
    staging: &Path,
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    let request = GameDownload {
        id: files.id.clone(),
        version: files.version.clone(),
        files: Some(wanted.iter().map(|e| e.path.clone()).collect()),
        offset: 0,
    };
    let total: u64 = wanted.iter().map(|e| e.size).sum();
    let (size, mut rx) = start_download(client, request).await?;
    if size != total {
        bail!("the lobby offered {size} bytes, expected {total}");
    }
    let mut pending: Vec<u8> = Vec::new();
    for entry in wanted {
        let path = staging.join(&entry.path);
        fs::create_dir_all(path.parent().expect("file has a parent"))?;
        let mut out =
            fs::File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
        let mut left = entry.size;
        while left > 0 {
            if pending.is_empty() {
                pending = next_chunk(&mut rx).await?;
            }
            let take = (left as usize).min(pending.len());
            out.write_all(&pending[..take])?;
            pending.drain(..take);
            left -= take as u64;
            bar.inc(take as u64);
        }
        let mode = if entry.executable { 0o700 } else { 0o600 };
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
    }
    if !pending.is_empty() {
        bail!("the lobby sent more bytes than announced");
    }
    Ok(())
}
