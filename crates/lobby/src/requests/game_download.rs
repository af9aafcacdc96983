//! GAME_FILES and GAME_DOWNLOAD: what an install moves (flow P2).
//!
//! GAME_FILES gives a version's per-file listing so the launcher can verify
//! every byte and, when it already has an older version, fetch only what
//! changed. GAME_DOWNLOAD streams either the version's zip (from an offset,
//! to resume a cut download) or the contents of named files back to back.
//! The OK reply announces the byte count; binary frames with the request's
//! id carry the bytes. Stored files are never trusted blindly by the client:
//! it checks sizes and SHA-256 against the listing.

use crate::WireResult;
use std::path::PathBuf;

use gamestore_package::FileList;
use gamestore_protocol::{
    DownloadReady, ErrorCode, GameDownload, GameFiles, GameFilesReply, MAX_CHUNK_LEN,
    ServerMessage, WireError,
};
use gamestore_storage::{GameRecord, VersionRecord};

use crate::connection::Conn;
use crate::paging::{cursor_key, page_limit, take_page};

/// At most `max` characters of `s`, for messages quoting client input.
fn truncate(s: &str, max: usize) -> &str {
    s.char_indices().nth(max).map_or(s, |(i, _)| &s[..i])
}

/// The game if the caller may see it: listed, or their own.
pub(super) async fn visible_game(conn: &Conn, id: &str) -> Result<GameRecord, WireError> {
    let account = conn.account()?.clone();
    let key = id.to_owned();
    let game = conn.lobby.db.game(&key).await.wire()?;
    match game {
        None => Err(WireError::new(ErrorCode::GameNotFound, format!("no game has the id {id:?}"))),
        Some(game) if !game.listed && game.owner_id != account.id => Err(WireError::new(
            ErrorCode::GameDelisted,
            format!("{id} was delisted by its developer and cannot be installed or played"),
        )),
        Some(game) => Ok(game),
    }
}

pub(crate) async fn version(
    conn: &Conn,
    id: &str,
    version: &str,
) -> Result<VersionRecord, WireError> {
    visible_game(conn, id).await?;
    let (key, v) = (id.to_owned(), version.to_owned());
    let record = conn
        .lobby
        .db
        .game_version(&key, &v)
        .await
        .wire()?
        .ok_or_else(|| no_version(id, version))?;
    // Published through another node: its files come from there first.
    crate::replicas::ensure_local(&conn.lobby, &record).await?;
    Ok(record)
}

fn no_version(id: &str, version: &str) -> WireError {
    WireError::new(ErrorCode::VersionNotFound, format!("{id} has no version {version:?}"))
}

/// The version with its zip: a signed, chunked version is published without
/// one, and packed here on the first request that needs it (one at a time;
/// the others wait and find it done).
pub(crate) async fn with_zip(
    conn: &Conn,
    record: VersionRecord,
) -> Result<VersionRecord, WireError> {
    if !record.package_sha256.is_empty() {
        return local_zip(conn, record).await;
    }
    let _packing = conn.lobby.zip_lock.lock().await;
    let (id, v) = (record.game_id.clone(), record.version.clone());
    let fresh =
        conn.lobby.db.game_version(&id, &v).await.wire()?.ok_or_else(|| no_version(&id, &v))?;
    if !fresh.package_sha256.is_empty() {
        drop(_packing);
        return local_zip(conn, fresh).await;
    }
    let lobby = conn.lobby.clone();
    let (size, sha256, packed) =
        tokio::task::spawn_blocking(move || lobby.games.pack_zip(&id, &v))
            .await
            .map_err(|e| WireError::new(ErrorCode::Internal, e.to_string()))?
            .map_err(|e| {
                tracing::error!(game = %record.game_id, version = %record.version, error = %e, "packing a zip failed");
                WireError::new(ErrorCode::Internal, format!("packing the zip failed: {e}"))
            })?;
    // A signed publish lists its files without SHA-256 (its chunks' hashes
    // vouch for them); the zip flow shows them, so they are listed now, from
    // the same read that packed the zip.
    if !crate::games_area::same_listing(&file_list(&fresh)?, &packed) {
        tracing::error!(game = %fresh.game_id, version = %fresh.version, "the version's files are not its listing");
        return Err(WireError::new(
            ErrorCode::Internal,
            "this version's files on disk are not its listing",
        ));
    }
    let files = serde_json::to_string(&packed)
        .map_err(|e| WireError::new(ErrorCode::Internal, e.to_string()))?;
    conn.lobby
        .db
        .set_version_package(&fresh.game_id, &fresh.version, size, &sha256, &files)
        .await
        .wire()?;
    tracing::info!(game = %fresh.game_id, version = %fresh.version, size, "packed a zip on first demand");
    Ok(VersionRecord { package_size: size, package_sha256: sha256, files, ..fresh })
}

/// The version's recorded zip on this node's disk: a copy fetched from
/// another node before that node packed its zip has none, and packs it
/// here (packing is deterministic); a zip that comes out other than the
/// recorded one is refused.
async fn local_zip(conn: &Conn, record: VersionRecord) -> Result<VersionRecord, WireError> {
    let zip = conn.lobby.games.package_zip(&record.game_id, &record.version);
    if tokio::fs::try_exists(&zip).await.unwrap_or(false) {
        return Ok(record);
    }
    let _packing = conn.lobby.zip_lock.lock().await;
    if tokio::fs::try_exists(&zip).await.unwrap_or(false) {
        return Ok(record);
    }
    let lobby = conn.lobby.clone();
    let (id, v) = (record.game_id.clone(), record.version.clone());
    let (size, sha256, _) = tokio::task::spawn_blocking(move || lobby.games.pack_zip(&id, &v))
        .await
        .map_err(|e| WireError::new(ErrorCode::Internal, e.to_string()))?
        .map_err(|e| WireError::new(ErrorCode::Internal, format!("packing the zip failed: {e}")))?;
    if size != record.package_size || !sha256.eq_ignore_ascii_case(&record.package_sha256) {
        let _ = tokio::fs::remove_file(&zip).await;
        tracing::error!(game = %record.game_id, version = %record.version, "a zip packed here is not the recorded one");
        return Err(WireError::new(
            ErrorCode::Internal,
            "this node's copy of the version does not pack into its recorded zip",
        ));
    }
    Ok(record)
}

fn file_list(record: &VersionRecord) -> Result<FileList, WireError> {
    crate::games_area::stored_listing(&record.files).map_err(|e| {
        WireError::new(ErrorCode::Internal, format!("stored file list is damaged: {e}"))
    })
}

/// Files on a GAME_FILES page by default and at most.
const FILES_PAGE: (u32, u32) = (2000, 5000);

/// A page of a version's listing, by path. A version never changes, so the
/// pages of one listing always join up.
pub(super) async fn game_files(
    conn: &Conn,
    request: GameFiles,
) -> Result<GameFilesReply, WireError> {
    let after: Option<String> = cursor_key(request.cursor.as_deref())?;
    let record = with_zip(conn, version(conn, &request.id, &request.version).await?).await?;
    let limit = page_limit(request.limit, FILES_PAGE.0, FILES_PAGE.1);
    let list = file_list(&record)?;
    let start = after.map_or(0, |after| list.files.partition_point(|e| e.path <= after));
    let (files, next_cursor) =
        take_page(list.files.into_iter().skip(start), limit, |e| e.path.clone());
    Ok(GameFilesReply {
        files: FileList { files },
        id: record.game_id,
        version: record.version,
        package_size: record.package_size,
        package_sha256: record.package_sha256,
        next_cursor,
    })
}

/// Streams the requested bytes; replies itself.
pub(super) async fn game_download(
    conn: &Conn,
    id: u32,
    request: GameDownload,
) -> Result<(), WireError> {
    let mut record = version(conn, &request.id, &request.version).await?;
    if request.files.is_none() {
        record = with_zip(conn, record).await?;
    }
    let area = &conn.lobby.games;
    // (path, start offset, length) of each piece to send.
    let mut pieces: Vec<(PathBuf, u64, u64)> = Vec::new();
    match &request.files {
        None => {
            if request.offset > record.package_size {
                return Err(WireError::new(
                    ErrorCode::BadRequest,
                    "offset is past the end of the package",
                ));
            }
            let zip = area.package_zip(&record.game_id, &record.version);
            pieces.push((zip, request.offset, record.package_size - request.offset));
        }
        Some(paths) => {
            if request.offset != 0 {
                return Err(WireError::new(
                    ErrorCode::BadRequest,
                    "offset applies to whole-package downloads only",
                ));
            }
            let list = file_list(&record)?;
            let root = area.files_dir(&record.game_id, &record.version);
            // Each file at most once: a request cannot make the lobby send
            // more than the version holds.
            let mut seen = std::collections::HashSet::with_capacity(paths.len());
            for path in paths {
                if !seen.insert(path.as_str()) {
                    return Err(WireError::new(
                        ErrorCode::DuplicatePath,
                        format!("{:?} is named more than once", truncate(path, 200)),
                    ));
                }
                // Only paths from the stored listing: never a path the client made up.
                let entry = list.get(path).ok_or_else(|| {
                    WireError::new(
                        ErrorCode::BadRequest,
                        format!("{path:?} is not a file of this version"),
                    )
                })?;
                pieces.push((root.join(&entry.path), 0, entry.size));
            }
        }
    }
    let total: u64 = pieces.iter().map(|(_, _, len)| len).sum();
    let holds = record.package_size.max(record.unpacked_bytes);
    if total > holds {
        return Err(WireError::new(
            ErrorCode::BadRequest,
            format!("the request asks for {total} bytes; this version holds {holds}"),
        ));
    }
    conn.outbox.send(&ServerMessage::ok(id, &DownloadReady { size: total })).await;

    let mut pace = Pace::new(conn.lobby.config.limits.download_bytes_per_sec);
    for (path, start, len) in pieces {
        if let Err(e) = send_piece(conn, id, &path, start, len, &mut pace).await {
            // The reply was sent already: all we can do is cut the connection,
            // which the client sees as an incomplete download.
            tracing::error!(path = %path.display(), error = %e, "download failed");
            conn.outbox.kill();
            return Ok(());
        }
    }
    Ok(())
}

/// Keeps a download at or under a byte rate.
pub(crate) struct Pace {
    bytes_per_sec: u64,
    started: tokio::time::Instant,
    sent: u64,
}

impl Pace {
    pub(crate) fn new(bytes_per_sec: u64) -> Pace {
        Pace { bytes_per_sec, started: tokio::time::Instant::now(), sent: 0 }
    }

    /// Accounts for `n` bytes and waits until they are due.
    async fn sent(&mut self, n: u64) {
        self.sent += n;
        if self.bytes_per_sec > 0 {
            let due =
                std::time::Duration::from_secs_f64(self.sent as f64 / self.bytes_per_sec as f64);
            tokio::time::sleep_until(self.started + due).await;
        }
    }
}

/// Frames read from disk per trip to the blocking pool: fewer thread hops
/// than one per frame, a bounded read-ahead (2 MiB of full frames).
const FRAMES_PER_READ: usize = 8;

pub(crate) async fn send_piece(
    conn: &Conn,
    id: u32,
    path: &std::path::Path,
    start: u64,
    len: u64,
    pace: &mut Pace,
) -> std::io::Result<()> {
    let path = path.to_owned();
    let mut file = tokio::task::spawn_blocking(move || {
        use std::io::Seek;
        let mut file = std::fs::File::open(path)?;
        file.seek(std::io::SeekFrom::Start(start))?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(std::io::Error::other)??;
    let chunk = if pace.bytes_per_sec > 0 { 16 * 1024 } else { MAX_CHUNK_LEN as u64 };
    let mut left = len;
    while left > 0 {
        let (back, frames) =
            tokio::task::spawn_blocking(move || read_frames(file, id, chunk, left))
                .await
                .map_err(std::io::Error::other)??;
        file = back;
        for frame in frames {
            let data = (frame.len() - 9) as u64;
            // A kill (a stalled reader, a revoked session) or shutdown ends
            // the stream; the client sees an incomplete download.
            let sent = tokio::select! {
                sent = async {
                    let queued = conn.outbox.send_bulk(frame).await;
                    if queued {
                        pace.sent(data).await;
                    }
                    queued
                } => sent,
                _ = conn.interrupted() => false,
            };
            if !sent {
                return Ok(());
            }
            left -= data;
        }
    }
    Ok(())
}

/// Reads up to [`FRAMES_PER_READ`] binary frames of at most `chunk` bytes
/// (of the `left` still to send) from `file`, straight into each frame's
/// buffer after its header. Returns the file for the next batch.
fn read_frames(
    mut file: std::fs::File,
    id: u32,
    chunk: u64,
    mut left: u64,
) -> std::io::Result<(std::fs::File, Vec<Vec<u8>>)> {
    let mut frames = Vec::with_capacity(FRAMES_PER_READ);
    while left > 0 && frames.len() < FRAMES_PER_READ {
        let want = chunk.min(left) as usize;
        frames.push(gamestore_protocol::read_binary_frame(&mut file, id, want)?);
        left -= want as u64;
    }
    Ok((file, frames))
}
