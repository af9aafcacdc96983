//! GAME_UPLOAD and GAME_UPLOAD_DONE: publishing a package (flows D1, D2).
//!
//! 1. GAME_UPLOAD announces id, version, size and SHA-256. The lobby checks
//!    what it can before any byte moves (developer, owner, version order,
//!    size limit) and answers OK, or an error and nothing is sent.
//! 2. The client streams the zip as binary frames with the GAME_UPLOAD id
//!    into a staging folder, hashed on the way.
//! 3. GAME_UPLOAD_DONE: the lobby checks size and checksum, unpacks the zip
//!    with the package limits, validates its config.json against the header,
//!    re-checks owner and version under the publish lock, renames the
//!    staging folder into place and commits the version row. Only then is
//!    the version visible. Any failure drops the staging folder.

use crate::WireResult;
use gamestore_package::{
    ArchiveError, FileList, Manifest, Sha256Writer, extract, is_valid_game_id,
};
use gamestore_protocol::{
    ErrorCode, Frame, GameUpload, MAX_CHUNK_LEN, PublishReply, Request, RequestFrame,
    ServerMessage, UploadReady, WireError,
};
use gamestore_storage::{GameRecord, NewVersion, Role, StorageError, VersionRecord};
use semver::Version;
use tokio::io::AsyncWriteExt;

use crate::connection::Conn;
use crate::games_area::Staging;
use crate::now;

/// Handles the whole upload conversation; replies itself.
pub(super) async fn game_upload(
    conn: &mut Conn,
    upload_id: u32,
    header: GameUpload,
) -> Result<(), WireError> {
    let owner = conn.require(Role::Developer)?.clone();
    let version = precheck(conn, owner.id, &header).await?;
    let staging = conn.lobby.games.staging().map_err(io_error)?;
    conn.outbox
        .send(&ServerMessage::ok(upload_id, &UploadReady { max_chunk: MAX_CHUNK_LEN as u32 }))
        .await;

    let received = receive(conn, upload_id, &header, &staging).await;
    // The client ends every upload with GAME_UPLOAD_DONE, even one we refused
    // mid-way; its reply carries the outcome.
    let done_id = match received {
        Ok(done_id) => done_id,
        Err(Failure::Closed) => return Ok(()),
        Err(Failure::Refused(done_id, error)) => {
            conn.outbox.send(&ServerMessage::error(done_id, error)).await;
            return Ok(());
        }
    };
    let result = publish(conn, owner.id, &header, version, staging).await;
    if let Ok(reply) = &result {
        tracing::info!(game = %reply.id, version = %reply.version, developer = %owner.name, "published");
    }
    let message = match result {
        Ok(reply) => ServerMessage::ok(done_id, &reply),
        Err(error) => ServerMessage::error(done_id, error),
    };
    conn.outbox.send(&message).await;
    Ok(())
}

/// Checks the header before any byte is accepted.
async fn precheck(conn: &Conn, owner_id: i64, header: &GameUpload) -> Result<Version, WireError> {
    if !is_valid_game_id(&header.id) {
        return Err(WireError::new(
            ErrorCode::BadRequest,
            format!("{:?} is not a valid game id", header.id),
        ));
    }
    let version = Version::parse(&header.version).map_err(|e| {
        WireError::new(
            ErrorCode::BadRequest,
            format!("{:?} is not a semantic version: {e}", header.version),
        )
    })?;
    if header.sha256.len() != 64 || !header.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(WireError::new(ErrorCode::BadRequest, "sha256 must be 64 hex digits"));
    }
    let max = conn.lobby.config.limits.max_upload_bytes;
    if header.size > max {
        return Err(WireError::new(
            ErrorCode::PackageTooLarge,
            format!("the package is {} bytes; this lobby takes at most {max}", header.size),
        ));
    }
    let id = header.id.clone();
    let game = conn.lobby.db.game(&id).await.wire()?;
    if let Some(game) = game {
        check_owner_and_order(&game, owner_id, &version)?;
    }
    if !conn.lobby.db.developer_keys(owner_id).await.wire()?.is_empty() {
        return Err(WireError::new(
            ErrorCode::SignatureRequired,
            "this developer has a signing key: publish signed manifests (PUBLISH_BEGIN), not zips",
        ));
    }
    Ok(version)
}

pub(crate) fn check_owner_and_order(
    game: &gamestore_storage::GameRecord,
    owner_id: i64,
    version: &Version,
) -> Result<(), WireError> {
    if game.owner_id != owner_id {
        return Err(WireError::new(
            ErrorCode::NotOwner,
            format!("the game id {:?} belongs to another developer", game.id),
        ));
    }
    let latest = Version::parse(&game.latest_version).map_err(|e| {
        WireError::new(
            ErrorCode::Internal,
            format!("stored version {:?} is bad: {e}", game.latest_version),
        )
    })?;
    if *version <= latest {
        return Err(WireError::new(
            ErrorCode::VersionTooOld,
            format!(
                "{} is already at version {latest}; publish a higher version than that (not {version})",
                game.id
            ),
        ));
    }
    Ok(())
}

enum Failure {
    /// The connection ended; nobody to answer.
    Closed,
    /// Answer request `.0` (GAME_UPLOAD_DONE or whatever came instead) with `.1`.
    Refused(u32, WireError),
}

/// Receives exactly `header.size` bytes into `staging/package.zip`, then
/// waits for GAME_UPLOAD_DONE. Returns that request's id.
async fn receive(
    conn: &mut Conn,
    upload_id: u32,
    header: &GameUpload,
    staging: &Staging,
) -> Result<u32, Failure> {
    let path = staging.path().join("package.zip");
    let file = tokio::fs::File::create(&path).await.map_err(|_| Failure::Closed)?;
    let mut file = tokio::io::BufWriter::with_capacity(1 << 20, file);
    // Hashed on the way to the file; the file itself is written asynchronously.
    let mut hasher = Sha256Writer::new(std::io::sink());
    let mut received: u64 = 0;
    let idle = conn.lobby.config.timeouts.idle;
    let (outbox, shutdown) = (conn.outbox.clone(), conn.shutdown.clone());
    let mut overflow = false;
    let done_id = loop {
        // Silence, shutdown or a kill abandon the upload (the staging
        // folder goes with it).
        let frame = tokio::select! {
            frame = tokio::time::timeout(idle, conn.reader.read_frame()) => frame,
            _ = shutdown.recv() => return Err(Failure::Closed),
            _ = outbox.killed() => return Err(Failure::Closed),
        };
        let frame = match frame {
            Ok(Ok(Some(frame))) => frame,
            _ => return Err(Failure::Closed),
        };
        match frame {
            Frame::Binary { id, data } if id == upload_id => {
                received += data.len() as u64;
                if received > header.size {
                    // Keep reading until DONE so the connection stays in step.
                    overflow = true;
                    continue;
                }
                if std::io::Write::write_all(&mut hasher, &data).is_err()
                    || file.write_all(&data).await.is_err()
                {
                    return Err(Failure::Closed);
                }
            }
            Frame::Binary { id, .. } => {
                conn.outbox
                    .send(&ServerMessage::error(
                        0,
                        WireError::new(
                            ErrorCode::BadFrame,
                            format!("binary frame for {id} during upload {upload_id}"),
                        ),
                    ))
                    .await;
                conn.outbox.close();
                return Err(Failure::Closed);
            }
            Frame::Message(json) => match RequestFrame::decode(&json) {
                Ok(RequestFrame { id, request: Request::GameUploadDone(done) })
                    if done.upload == upload_id =>
                {
                    break id;
                }
                Ok(RequestFrame { id, request }) => {
                    let message = format!(
                        "{} while upload {upload_id} is unfinished; it was abandoned",
                        request.name()
                    );
                    return Err(Failure::Refused(
                        id,
                        WireError::new(ErrorCode::UploadIncomplete, message),
                    ));
                }
                Err(bad) => {
                    let id = bad.id.unwrap_or(0);
                    return Err(Failure::Refused(id, bad.error));
                }
            },
        }
    };
    if overflow || received != header.size {
        let message = format!("announced {} bytes, received {received}", header.size);
        let code = if received < header.size {
            ErrorCode::UploadIncomplete
        } else {
            ErrorCode::ChecksumMismatch
        };
        return Err(Failure::Refused(done_id, WireError::new(code, message)));
    }
    let digest = hasher.hex_digest();
    if !digest.eq_ignore_ascii_case(&header.sha256) {
        let message =
            format!("the package's SHA-256 is {digest}, the header said {}", header.sha256);
        return Err(Failure::Refused(
            done_id,
            WireError::new(ErrorCode::ChecksumMismatch, message),
        ));
    }
    if file.flush().await.is_err() {
        return Err(Failure::Closed);
    }
    Ok(done_id)
}

/// Unpacks, validates and commits a received package.
async fn publish(
    conn: &Conn,
    owner_id: i64,
    header: &GameUpload,
    version: Version,
    staging: Staging,
) -> Result<PublishReply, WireError> {
    let limits = conn.lobby.config.limits.package;
    let zip = staging.path().join("package.zip");
    let files_dir = staging.path().join("files");
    let lobby = conn.lobby.clone();
    let manifest_path = staging.path().join("manifest");
    let (files, manifest) =
        tokio::task::spawn_blocking(move || -> Result<(FileList, Manifest), WireError> {
            let archive = std::fs::File::open(&zip).map_err(io_error)?;
            let files = extract(archive, &files_dir, &limits).map_err(archive_error)?;
            let manifest = Manifest::load_dir(&files_dir)
                .map_err(|e| WireError::new(ErrorCode::ManifestInvalid, e.to_string()))?;
            // The same version as chunks, unsigned: installs may fetch it
            // chunk by chunk like any other.
            let chunked = super::distribution::unsigned_manifest(
                &lobby.chunks,
                &files_dir,
                &manifest,
                now().max(0) as u64,
            )
            .map_err(io_error)?;
            std::fs::write(&manifest_path, chunked.to_bytes()).map_err(io_error)?;
            Ok((files, manifest))
        })
        .await
        .map_err(|e| WireError::new(ErrorCode::Internal, format!("unpacking failed: {e}")))??;

    for (field, value, lines) in [
        ("name", &manifest.name, crate::text::Lines::Single),
        ("description", &manifest.description, crate::text::Lines::Multi),
    ] {
        if let Err(problem) = crate::text::check(value, lines) {
            return Err(WireError::new(
                ErrorCode::ManifestInvalid,
                format!("config.json: {field}: {problem}"),
            ));
        }
    }
    if manifest.id != header.id || manifest.version != version {
        return Err(WireError::new(
            ErrorCode::ManifestMismatch,
            format!(
                "the upload was announced as {} {} but its config.json says {} {}",
                header.id, header.version, manifest.id, manifest.version
            ),
        ));
    }

    let version_text = version.to_string();
    let record = NewVersion {
        owner_id,
        name: manifest.name.clone(),
        description: manifest.description.clone(),
        kind: manifest.kind.as_str().to_owned(),
        min_players: manifest.min_players,
        max_players: manifest.max_players,
        version: VersionRecord {
            game_id: manifest.id.clone(),
            version: version_text.clone(),
            manifest: serde_json::to_string(&manifest).map_err(internal)?,
            files: serde_json::to_string(&files).map_err(internal)?,
            package_size: header.size,
            package_sha256: header.sha256.to_ascii_lowercase(),
            unpacked_bytes: files.total_size(),
            published_at: now(),
        },
    };

    // Final check and commit, one publish at a time.
    let _guard = conn.lobby.publish_lock.lock().await;
    let id = manifest.id.clone();
    let current = conn.lobby.db.game(&id).await.wire()?;
    if let Some(game) = &current {
        check_owner_and_order(game, owner_id, &version)?;
    }
    place_version(conn, staging, &record, current.as_ref()).await?;

    Ok(PublishReply {
        id: manifest.id,
        version: version_text,
        created: current.is_none(),
        files: files.len() as u64,
        unpacked_bytes: files.total_size(),
    })
}

/// The last step of every publish, zip or chunked, under the publish lock:
/// renames the staging folder into place, then commits the version row
/// (expecting `current`'s latest version still to be the latest). If the row
/// loses a race, the folder is removed again and the publish is
/// `VERSION_TOO_OLD`.
pub(crate) async fn place_version(
    conn: &Conn,
    staging: Staging,
    record: &NewVersion,
    current: Option<&GameRecord>,
) -> Result<(), WireError> {
    let lobby = conn.lobby.clone();
    let expect_latest = current.map(|g| g.latest_version.clone());
    let (id, v) = (record.version.game_id.clone(), record.version.version.clone());
    let files_area = lobby.clone();
    let (commit_id, commit_v) = (id.clone(), v.clone());
    // Placed, the version's files hold its chunks for downloads: indexed
    // before the row makes the version visible.
    tokio::task::spawn_blocking(move || {
        super::distribution::commit_indexed(&files_area, staging, &commit_id, &commit_v)
    })
    .await
    .map_err(internal)?
    .map_err(io_error)?;
    // The node holding the files, for the other nodes to ask first.
    let recorded = lobby.db.set_version_node(&id, &v, lobby.node_id()).await;
    let written = match recorded {
        Ok(()) => lobby.db.publish_version(record, expect_latest.as_deref()).await,
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        let files_area = lobby.clone();
        let game = id.clone();
        let _ = tokio::task::spawn_blocking(move || {
            files_area.chunks.forget_dir(&files_area.games.files_dir(&game, &v));
            files_area.games.remove_version(&game, &v)
        })
        .await;
        return Err(match e {
            StorageError::Conflict(what) => {
                WireError::new(ErrorCode::VersionTooOld, format!("{what}; try again"))
            }
            other => internal(other),
        });
    }
    lobby.catalog.game_changed(&lobby.db, &id).await;
    crate::replicas::announce(&lobby, &id, &record.version.version);
    Ok(())
}

fn archive_error(e: ArchiveError) -> WireError {
    let code = match e.code() {
        "PACKAGE_UNSAFE_PATH" => ErrorCode::PackageUnsafePath,
        "PACKAGE_SYMLINK" => ErrorCode::PackageSymlink,
        "PACKAGE_SPECIAL_FILE" => ErrorCode::PackageSpecialFile,
        "PACKAGE_DUPLICATE_ENTRY" => ErrorCode::PackageDuplicateEntry,
        "PACKAGE_TOO_MANY_FILES" => ErrorCode::PackageTooManyFiles,
        "PACKAGE_TOO_LARGE" => ErrorCode::PackageTooLarge,
        "PACKAGE_CORRUPT" => ErrorCode::PackageCorrupt,
        "PACKAGE_UNSUPPORTED" => ErrorCode::PackageUnsupported,
        "PACKAGE_NO_MANIFEST" => ErrorCode::PackageNoManifest,
        _ => ErrorCode::Internal,
    };
    WireError::new(code, e.to_string())
}

pub(crate) fn io_error(e: std::io::Error) -> WireError {
    tracing::error!(error = %e, "games area I/O failed");
    WireError::new(ErrorCode::Internal, format!("the lobby could not store the package: {e}"))
}

pub(crate) fn internal(e: impl std::fmt::Display) -> WireError {
    WireError::new(ErrorCode::Internal, e.to_string())
}
