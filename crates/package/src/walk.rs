//! Walking a game folder: every regular file and folder under it, sorted by
//! package path, with symlinks and special files refused rather than followed.
//!
//! Shared by [`FileList::scan`](crate::FileList::scan),
//! [`FileList::verify_dir`](crate::FileList::verify_dir) and
//! [`pack_dir`](crate::pack_dir) so that all three see a folder the same way.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::package_path::check_package_path;

/// One regular file or folder found under the root.
#[derive(Debug, Clone)]
pub(crate) struct WalkEntry {
    /// Package path: relative, `/`-separated.
    pub rel: String,
    /// Full path on disk.
    pub path: PathBuf,
    pub is_dir: bool,
    /// File size in bytes (0 for folders).
    pub size: u64,
    /// Any execute bit set (unix); always false elsewhere.
    pub executable: bool,
}

/// Why a folder cannot be walked.
#[derive(Debug)]
pub(crate) enum WalkError {
    Io { path: PathBuf, source: io::Error },
    Symlink { rel: String },
    Special { rel: String },
    BadName { rel: String, reason: &'static str },
}

impl From<WalkError> for io::Error {
    fn from(e: WalkError) -> io::Error {
        match e {
            WalkError::Io { path, source } => {
                io::Error::new(source.kind(), format!("{}: {source}", path.display()))
            }
            WalkError::Symlink { rel } => io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{rel}: symbolic links are not allowed in a game package"),
            ),
            WalkError::Special { rel } => io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{rel}: only regular files and folders are allowed in a game package"),
            ),
            WalkError::BadName { rel, reason } => io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{rel}: name not allowed in a game package ({reason})"),
            ),
        }
    }
}

/// Walks `root` and returns its entries sorted by package path.
///
/// `skip(rel, is_dir)` is asked before an entry is examined; a skipped folder is
/// not entered, so whatever it holds (symlinks included) does not matter.
pub(crate) fn walk(
    root: &Path,
    skip: &dyn Fn(&str, bool) -> bool,
) -> Result<Vec<WalkEntry>, WalkError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WalkError::Io { path, source }
    };
    let root_meta = fs::metadata(root).map_err(io_err(root))?;
    if !root_meta.is_dir() {
        return Err(WalkError::Io {
            path: root.to_path_buf(),
            source: io::Error::new(io::ErrorKind::NotADirectory, "not a folder"),
        });
    }

    let mut entries = Vec::new();
    // Folders still to read, as (package path, disk path); the root has an empty path.
    let mut pending = vec![(String::new(), root.to_path_buf())];
    while let Some((dir_rel, dir_path)) = pending.pop() {
        for item in fs::read_dir(&dir_path).map_err(io_err(&dir_path))? {
            let item = item.map_err(io_err(&dir_path))?;
            let path = item.path();
            let name = item.file_name();
            let rel = match name.to_str() {
                Some(name) if dir_rel.is_empty() => name.to_owned(),
                Some(name) => format!("{dir_rel}/{name}"),
                None => {
                    return Err(WalkError::BadName {
                        rel: path.display().to_string(),
                        reason: "not valid UTF-8",
                    });
                }
            };
            // Not following links: a symlink reports itself here, not its target.
            let meta = fs::symlink_metadata(&path).map_err(io_err(&path))?;
            let file_type = meta.file_type();
            if skip(&rel, file_type.is_dir()) {
                continue;
            }
            if let Err(reason) = check_package_path(&rel) {
                return Err(WalkError::BadName { rel, reason });
            }
            if file_type.is_symlink() {
                return Err(WalkError::Symlink { rel });
            }
            if file_type.is_dir() {
                pending.push((rel.clone(), path.clone()));
                entries.push(WalkEntry { rel, path, is_dir: true, size: 0, executable: false });
            } else if file_type.is_file() {
                entries.push(WalkEntry {
                    rel,
                    path,
                    is_dir: false,
                    size: meta.len(),
                    executable: is_executable(&meta),
                });
            } else {
                return Err(WalkError::Special { rel });
            }
        }
    }
    entries.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(entries)
}

/// Whether any execute bit is set.
#[cfg(unix)]
pub(crate) fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

/// Whether any execute bit is set (no such bits here: always false).
#[cfg(not(unix))]
pub(crate) fn is_executable(_meta: &fs::Metadata) -> bool {
    false
}
