//! The games area: published packages on disk.
//!
//! ```text
//! <data>/games/<id>/<version>/package.zip   the package as uploaded (a signed,
//!                                           chunked version: packed on first demand)
//! <data>/games/<id>/<version>/files/...     the package unpacked
//! <data>/games/<id>/<version>/manifest      a chunked version's signed manifest
//! <data>/tmp/upload-<n>/                    an upload being received
//! ```
//!
//! **Invariant:** the database decides what exists. A version folder is
//! renamed into place complete, before its database row is committed; a
//! crash between the two leaves a folder without a row, which
//! [`GamesArea::reconcile`] removes at the next start, as it removes
//! everything under `tmp/`. Version folders are never modified once in place,
//! except that a version published without a zip gets one later: packed
//! under `tmp/`, synced, renamed in as `package.zip`, then recorded in its row
//! ([`GamesArea::pack_zip`]); a crash before the row only means packing again.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The on-disk store of packages.
#[derive(Debug)]
pub(crate) struct GamesArea {
    games: PathBuf,
    tmp: PathBuf,
    next_staging: AtomicU64,
}

impl GamesArea {
    /// Opens (creating) the area under `data_dir`, emptying its temp folder.
    pub(crate) fn open(data_dir: &Path) -> io::Result<GamesArea> {
        let games = data_dir.join("games");
        let tmp = data_dir.join("tmp");
        fs::create_dir_all(&games)?;
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        fs::create_dir_all(&tmp)?;
        Ok(GamesArea { games, tmp, next_staging: AtomicU64::new(1) })
    }

    /// The folder of one published version.
    pub(crate) fn version_dir(&self, id: &str, version: &str) -> PathBuf {
        self.games.join(id).join(version)
    }

    /// The uploaded zip of one version.
    pub(crate) fn package_zip(&self, id: &str, version: &str) -> PathBuf {
        self.version_dir(id, version).join("package.zip")
    }

    /// The unpacked files of one version.
    pub(crate) fn files_dir(&self, id: &str, version: &str) -> PathBuf {
        self.version_dir(id, version).join("files")
    }

    /// A fresh staging folder, removed when dropped unless committed.
    pub(crate) fn staging(&self) -> io::Result<Staging> {
        let n = self.next_staging.fetch_add(1, Ordering::Relaxed);
        let dir = self.tmp.join(format!("upload-{n}"));
        fs::create_dir_all(&dir)?;
        Ok(Staging { dir: Some(dir) })
    }

    /// Moves a complete staging folder into place as `id`/`version`, synced
    /// to disk first.
    pub(crate) fn commit(
        &self,
        mut staging: Staging,
        id: &str,
        version: &str,
    ) -> io::Result<PathBuf> {
        let dir = staging.dir.take().expect("staging folder present");
        let target = self.version_dir(id, version);
        fs::create_dir_all(target.parent().expect("version dir has a parent"))?;
        sync_tree(&dir)?;
        if let Err(e) = fs::rename(&dir, &target) {
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
        // The files are on disk; the rename needs only its folder synced.
        fs::File::open(target.parent().expect("version dir has a parent"))?.sync_all()?;
        Ok(target)
    }

    /// Packs the files of a version into its `package.zip` (synced, renamed
    /// into place). Returns the zip's size and SHA-256, and the files it
    /// packed with their SHA-256.
    pub(crate) fn pack_zip(
        &self,
        id: &str,
        version: &str,
    ) -> io::Result<(u64, String, gamestore_package::FileList)> {
        let n = self.next_staging.fetch_add(1, Ordering::Relaxed);
        let staging = Staging { dir: Some(self.tmp.join(format!("zip-{n}"))) };
        fs::create_dir_all(staging.path())?;
        let tmp = staging.path().join("package.zip");
        let mut out = io::BufWriter::with_capacity(1 << 20, fs::File::create(&tmp)?);
        let summary = gamestore_package::pack_dir(&self.files_dir(id, version), &mut out)
            .map_err(io::Error::other)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        let size = file.metadata()?.len();
        let sha256 = gamestore_package::sha256_file(&tmp)?;
        let target = self.package_zip(id, version);
        fs::rename(&tmp, &target)?;
        fs::File::open(self.version_dir(id, version))?.sync_all()?;
        Ok((size, sha256, summary.file_list))
    }

    /// Removes a version folder (used when its database row could not be written).
    pub(crate) fn remove_version(&self, id: &str, version: &str) {
        let _ = fs::remove_dir_all(self.version_dir(id, version));
    }

    /// Removes version folders that have no database row. Returns how many.
    pub(crate) fn reconcile(&self, known: &[(String, String)]) -> io::Result<usize> {
        let mut removed = 0;
        for game in fs::read_dir(&self.games)? {
            let game = game?;
            let id = game.file_name().to_string_lossy().into_owned();
            for version in fs::read_dir(game.path())? {
                let version = version?;
                let v = version.file_name().to_string_lossy().into_owned();
                if !known.iter().any(|(kid, kv)| *kid == id && *kv == v) {
                    tracing::warn!(game = %id, version = %v, "removing an unrecorded version folder");
                    fs::remove_dir_all(version.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// An upload's temporary folder; deleted on drop unless committed.
#[derive(Debug)]
pub(crate) struct Staging {
    dir: Option<PathBuf>,
}

impl Staging {
    pub(crate) fn path(&self) -> &Path {
        self.dir.as_deref().expect("staging folder present")
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// Flushes every file and folder under `root` to disk: the files on a few
/// threads (a staged version's writes were mostly started on their way to
/// the disk as they were made), then the folders. Only this tree is
/// flushed, not whatever else on the filesystem is waiting to be written.
fn sync_tree(root: &Path) -> io::Result<()> {
    let (mut files, mut dirs) = (Vec::new(), vec![root.to_owned()]);
    let mut next = 0;
    while let Some(dir) = dirs.get(next).cloned() {
        next += 1;
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                dirs.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    dirs.reverse();
    sync_paths(&files, &dirs)
}

/// Flushes `files` to disk on a few threads, then `folders` in order (so
/// that the entries naming the files are durable after them).
pub(crate) fn sync_paths(files: &[PathBuf], folders: &[PathBuf]) -> io::Result<()> {
    gamestore_package::map_parallel(files, 8, |path| fs::File::open(path)?.sync_all())?;
    for folder in folders {
        fs::File::open(folder)?.sync_all()?;
    }
    Ok(())
}

/// Parses a version row's listing of its files. A signed publish records
/// its files without their SHA-256 (empty) until its zip is first packed,
/// so this reads the lobby's own record without the checks a listing from
/// the network gets ([`gamestore_package::FileList`]'s deserializer).
pub(crate) fn stored_listing(json: &str) -> serde_json::Result<gamestore_package::FileList> {
    #[derive(serde::Deserialize)]
    struct Stored {
        files: Vec<gamestore_package::FileEntry>,
    }
    let stored: Stored = serde_json::from_str(json)?;
    Ok(gamestore_package::FileList::from_entries(stored.files))
}

/// Whether `found` (files as read from disk) is `listed` (a version row's
/// listing): the same paths, sizes and modes, and the same SHA-256 wherever
/// `listed` has one.
pub(crate) fn same_listing(
    listed: &gamestore_package::FileList,
    found: &gamestore_package::FileList,
) -> bool {
    let (mut listed, mut found) = (listed.files.clone(), found.files.clone());
    listed.sort_by(|a, b| a.path.cmp(&b.path));
    found.sort_by(|a, b| a.path.cmp(&b.path));
    listed.len() == found.len()
        && listed.iter().zip(&found).all(|(l, f)| {
            l.path == f.path
                && l.size == f.size
                && l.executable == f.executable
                && (l.sha256.is_empty() || l.sha256 == f.sha256)
        })
}
