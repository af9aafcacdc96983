//! The per-file listing of a game version: path, size, SHA-256 and execute bit of
//! every file.
//!
//! The lobby records one [`FileList`] per published version; the launcher uses it
//! to check an installed copy ([`FileList::verify_dir`]) and to fetch only what
//! changed between two versions ([`FileList::diff`]). It travels on the wire as
//! JSON, so its shape is part of the protocol.

use std::fs::File;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::package_path::check_package_path;
use crate::sha256::sha256_reader;
use crate::walk::{WalkEntry, WalkError, walk};

/// Every regular file of a game folder, sorted by path. Folders are implied by
/// the paths and not listed.
///
/// Deserializing checks what a list from the network could get wrong: every
/// path must be a safe package path (see
/// [`check_package_path`](crate::check_package_path)) and appear once, and
/// every checksum must be 64 lowercase hex digits. Entries are sorted on the
/// way in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "UncheckedFileList")]
pub struct FileList {
    /// Sorted by `path`, no duplicates.
    pub files: Vec<FileEntry>,
}

/// The wire form of a [`FileList`] before its checks.
#[derive(Deserialize)]
struct UncheckedFileList {
    files: Vec<FileEntry>,
}

impl TryFrom<UncheckedFileList> for FileList {
    type Error = String;

    fn try_from(unchecked: UncheckedFileList) -> Result<FileList, String> {
        let list = FileList::from_entries(unchecked.files);
        for (i, entry) in list.files.iter().enumerate() {
            check_package_path(&entry.path)
                .map_err(|reason| format!("file list path {:?}: {reason}", entry.path))?;
            let hex_ok = entry.sha256.len() == 64
                && entry.sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !hex_ok {
                return Err(format!(
                    "file list path {:?}: sha256 must be 64 lowercase hex digits",
                    entry.path
                ));
            }
            if i > 0 && list.files[i - 1].path == entry.path {
                return Err(format!("file list names {:?} twice", entry.path));
            }
        }
        Ok(list)
    }
}

/// One file of a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative path inside the game folder, `/`-separated (`bin/server`).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
    /// Whether the file must be executable (game binaries and scripts).
    pub executable: bool,
}

/// What an update from one [`FileList`] to another has to move.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// Files of the new list that are new or differ (content or execute bit).
    pub changed_or_new: Vec<FileEntry>,
    /// Files of the new list identical in the old one: they can be copied locally.
    pub unchanged: Vec<FileEntry>,
    /// Paths of the old list that the new one no longer has.
    pub removed: Vec<String>,
}

impl Delta {
    /// Bytes that must be fetched: the total size of `changed_or_new`.
    pub fn bytes_to_fetch(&self) -> u64 {
        self.changed_or_new.iter().map(|f| f.size).sum()
    }
}

/// The first way a folder differs from a [`FileList`].
#[derive(Debug, thiserror::Error)]
pub enum Mismatch {
    /// A listed file is absent.
    #[error("{path}: missing")]
    Missing {
        /// Package path of the file.
        path: String,
    },
    /// The folder holds a file the list does not name.
    #[error("{path}: not part of the package")]
    Extra {
        /// Package path of the file.
        path: String,
    },
    /// The file has another size.
    #[error("{path}: {actual} bytes, expected {expected}")]
    Size {
        /// Package path of the file.
        path: String,
        /// Size in the list.
        expected: u64,
        /// Size on disk.
        actual: u64,
    },
    /// Same size, other content.
    #[error("{path}: content differs (checksum mismatch)")]
    Checksum {
        /// Package path of the file.
        path: String,
        /// SHA-256 in the list.
        expected: String,
        /// SHA-256 of the file on disk.
        actual: String,
    },
    /// The execute bit differs.
    #[error("{path}: execute permission differs (expected executable: {expected})")]
    Executable {
        /// Package path of the file.
        path: String,
        /// Whether the list says executable.
        expected: bool,
    },
    /// A symlink or special file where a regular file or folder belongs.
    #[error("{path}: not a regular file or folder")]
    NotRegular {
        /// Package path of the entry.
        path: String,
    },
    /// The folder could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// Path on disk.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
}

impl FileList {
    /// Builds a list from entries in any order (sorted here).
    pub fn from_entries(mut files: Vec<FileEntry>) -> FileList {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        FileList { files }
    }

    /// Lists and hashes every regular file under `dir`.
    ///
    /// Fails on symlinks, special files and names a package may not hold (see
    /// [`check_package_path`](crate::check_package_path)), with
    /// [`io::ErrorKind::InvalidData`] and a message naming the entry.
    pub fn scan(dir: &Path) -> io::Result<FileList> {
        let entries = walk(dir, &|_, _| false)?;
        let mut files = Vec::new();
        for entry in entries.into_iter().filter(|e| !e.is_dir) {
            files.push(hash_entry(&entry)?);
        }
        Ok(FileList { files })
    }

    /// Checks that `dir` holds exactly these files with these sizes, checksums
    /// and execute bits. Empty folders are ignored; any other file is a mismatch.
    ///
    /// Sizes are compared before any file is hashed, so a wrong size fails fast.
    pub fn verify_dir(&self, dir: &Path) -> Result<(), Mismatch> {
        let entries = walk(dir, &|_, _| false).map_err(|e| match e {
            WalkError::Io { path, source } => {
                Mismatch::Io { path: path.display().to_string(), source }
            }
            WalkError::Symlink { rel } | WalkError::Special { rel } => {
                Mismatch::NotRegular { path: rel }
            }
            WalkError::BadName { rel, .. } => Mismatch::Extra { path: rel },
        })?;
        let on_disk: Vec<&WalkEntry> = entries.iter().filter(|e| !e.is_dir).collect();

        // Both sides are sorted by path: walk them together.
        let (mut i, mut j) = (0, 0);
        let mut to_hash = Vec::new();
        while i < self.files.len() || j < on_disk.len() {
            let expected = self.files.get(i);
            let actual = on_disk.get(j);
            match (expected, actual) {
                (Some(e), Some(a)) if e.path == a.rel => {
                    if e.size != a.size {
                        return Err(Mismatch::Size {
                            path: e.path.clone(),
                            expected: e.size,
                            actual: a.size,
                        });
                    }
                    if e.executable != a.executable {
                        return Err(Mismatch::Executable {
                            path: e.path.clone(),
                            expected: e.executable,
                        });
                    }
                    to_hash.push((e, *a));
                    i += 1;
                    j += 1;
                }
                (Some(e), Some(a)) if e.path < a.rel => {
                    return Err(Mismatch::Missing { path: e.path.clone() });
                }
                (Some(e), None) => {
                    return Err(Mismatch::Missing { path: e.path.clone() });
                }
                (_, Some(a)) => {
                    return Err(Mismatch::Extra { path: a.rel.clone() });
                }
                (None, None) => unreachable!("loop condition"),
            }
        }
        for (expected, actual) in to_hash {
            let hashed = hash_entry(actual).map_err(|source| Mismatch::Io {
                path: actual.path.display().to_string(),
                source,
            })?;
            if hashed.sha256 != expected.sha256 {
                return Err(Mismatch::Checksum {
                    path: expected.path.clone(),
                    expected: expected.sha256.clone(),
                    actual: hashed.sha256,
                });
            }
        }
        Ok(())
    }

    /// What moving from `self` (the old version) to `new` involves.
    pub fn diff(&self, new: &FileList) -> Delta {
        let mut delta = Delta::default();
        for entry in &new.files {
            match self.get(&entry.path) {
                Some(old) if old == entry => delta.unchanged.push(entry.clone()),
                _ => delta.changed_or_new.push(entry.clone()),
            }
        }
        delta.removed = self
            .files
            .iter()
            .filter(|old| new.get(&old.path).is_none())
            .map(|old| old.path.clone())
            .collect();
        delta
    }

    /// The entry for `path`, if listed.
    pub fn get(&self, path: &str) -> Option<&FileEntry> {
        self.files.binary_search_by(|f| f.path.as_str().cmp(path)).ok().map(|i| &self.files[i])
    }

    /// Sum of all file sizes in bytes.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the list has no files.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// Hashes one walked file into a list entry; the size is what was actually read.
fn hash_entry(entry: &WalkEntry) -> io::Result<FileEntry> {
    let file = File::open(&entry.path)?;
    let (sha256, size) = sha256_reader(file)?;
    Ok(FileEntry { path: entry.rel.clone(), size, sha256, executable: entry.executable })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn entry(path: &str, content: &str, executable: bool) -> FileEntry {
        FileEntry {
            path: path.to_owned(),
            size: content.len() as u64,
            sha256: crate::sha256_bytes(content.as_bytes()),
            executable,
        }
    }

    fn write(dir: &Path, rel: &str, content: &[u8]) {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    #[cfg(unix)]
    fn make_executable(path: &Path) {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A small game folder: config, an executable and a nested asset.
    fn sample_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "config.json", b"{}");
        write(dir.path(), "bin/server", b"#!/bin/sh\necho hi\n");
        write(dir.path(), "assets/img/logo.txt", b"logo");
        fs::create_dir(dir.path().join("empty")).unwrap();
        #[cfg(unix)]
        make_executable(&dir.path().join("bin/server"));
        dir
    }

    #[test]
    fn scan_lists_sorted_files_with_hashes() {
        let dir = sample_dir();
        let list = FileList::scan(dir.path()).unwrap();
        let paths: Vec<&str> = list.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["assets/img/logo.txt", "bin/server", "config.json"]);
        assert_eq!(list.get("config.json"), Some(&entry("config.json", "{}", false)));
        assert_eq!(list.get("bin/server").unwrap().executable, cfg!(unix));
        assert_eq!(list.total_size(), 4 + 18 + 2);
        assert_eq!(list.len(), 3);
    }

    #[cfg(unix)]
    #[test]
    fn scan_refuses_symlinks() {
        let dir = sample_dir();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("assets/link")).unwrap();
        let err = FileList::scan(dir.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("assets/link"), "{err}");
    }

    #[test]
    fn verify_accepts_an_exact_copy() {
        let dir = sample_dir();
        let list = FileList::scan(dir.path()).unwrap();
        list.verify_dir(dir.path()).unwrap();
    }

    #[test]
    fn verify_detects_a_flipped_byte() {
        let dir = sample_dir();
        let list = FileList::scan(dir.path()).unwrap();
        write(dir.path(), "assets/img/logo.txt", b"lOgo");
        let err = list.verify_dir(dir.path()).unwrap_err();
        assert!(
            matches!(&err, Mismatch::Checksum { path, .. } if path == "assets/img/logo.txt"),
            "{err:?}"
        );
    }

    #[test]
    fn verify_detects_a_size_change() {
        let dir = sample_dir();
        let list = FileList::scan(dir.path()).unwrap();
        write(dir.path(), "config.json", b"{ }");
        let err = list.verify_dir(dir.path()).unwrap_err();
        assert!(
            matches!(&err, Mismatch::Size { path, expected: 2, actual: 3 } if path == "config.json"),
            "{err:?}"
        );
    }

    #[test]
    fn verify_detects_an_extra_file() {
        let dir = sample_dir();
        let list = FileList::scan(dir.path()).unwrap();
        write(dir.path(), "bin/zz-extra", b"x");
        let err = list.verify_dir(dir.path()).unwrap_err();
        assert!(matches!(&err, Mismatch::Extra { path } if path == "bin/zz-extra"), "{err:?}");
    }

    #[test]
    fn verify_detects_a_missing_file() {
        let dir = sample_dir();
        let list = FileList::scan(dir.path()).unwrap();
        fs::remove_file(dir.path().join("bin/server")).unwrap();
        let err = list.verify_dir(dir.path()).unwrap_err();
        assert!(matches!(&err, Mismatch::Missing { path } if path == "bin/server"), "{err:?}");
    }

    #[cfg(unix)]
    #[test]
    fn verify_detects_a_lost_execute_bit() {
        use std::os::unix::fs::PermissionsExt;
        let dir = sample_dir();
        let list = FileList::scan(dir.path()).unwrap();
        let server = dir.path().join("bin/server");
        fs::set_permissions(&server, fs::Permissions::from_mode(0o644)).unwrap();
        let err = list.verify_dir(dir.path()).unwrap_err();
        assert!(
            matches!(&err, Mismatch::Executable { path, expected: true } if path == "bin/server"),
            "{err:?}"
        );
    }

    #[test]
    fn verify_reports_a_missing_folder() {
        let dir = tempfile::tempdir().unwrap();
        let list = FileList::from_entries(vec![entry("a", "x", false)]);
        let err = list.verify_dir(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(err, Mismatch::Io { .. }), "{err:?}");
    }

    #[test]
    fn diff_sorts_files_into_changed_unchanged_and_removed() {
        let old = FileList::from_entries(vec![
            entry("config.json", "v1", false),
            entry("bin/server", "server", true),
            entry("bin/client", "client", true),
            entry("assets/old.png", "old", false),
            entry("run.sh", "echo", false),
        ]);
        let new = FileList::from_entries(vec![
            entry("config.json", "v2", false),
            entry("bin/server", "server", true),
            entry("bin/client", "client", true),
            entry("assets/new.png", "new", false),
            entry("run.sh", "echo", true),
        ]);
        let delta = old.diff(&new);
        let paths = |v: &[FileEntry]| v.iter().map(|f| f.path.clone()).collect::<Vec<_>>();
        assert_eq!(paths(&delta.changed_or_new), ["assets/new.png", "config.json", "run.sh"]);
        assert_eq!(paths(&delta.unchanged), ["bin/client", "bin/server"]);
        assert_eq!(delta.removed, ["assets/old.png"]);
        assert_eq!(delta.bytes_to_fetch(), 3 + 2 + 4);

        let same = new.diff(&new);
        assert!(same.changed_or_new.is_empty() && same.removed.is_empty());
        assert_eq!(same.unchanged.len(), 5);
    }

    #[test]
    fn json_shape_is_stable() {
        let list = FileList::from_entries(vec![entry("a", "", true)]);
        let json = serde_json::to_value(&list).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"files": [{
                "path": "a",
                "size": 0,
                "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "executable": true
            }]})
        );
        assert_eq!(serde_json::from_value::<FileList>(json).unwrap(), list);
    }

    #[test]
    fn deserializing_sorts_and_refuses_unsafe_lists() {
        let hash = crate::sha256_bytes(b"");
        let file = |path: &str, sha256: &str| serde_json::json!({"path": path, "size": 0, "sha256": sha256, "executable": false});
        let parse = |files: Vec<serde_json::Value>| {
            serde_json::from_value::<FileList>(serde_json::json!({ "files": files }))
        };

        let sorted = parse(vec![file("b", &hash), file("a/c", &hash)]).unwrap();
        assert_eq!(sorted.files[0].path, "a/c");

        for (files, fragment) in [
            (vec![file("../evil", &hash)], "path \"../evil\""),
            (vec![file("/etc/passwd", &hash)], "absolute path"),
            (vec![file("a", &hash), file("a", &hash)], "twice"),
            (vec![file("a", "ABC")], "64 lowercase hex"),
            (vec![file("a", &hash.to_uppercase())], "64 lowercase hex"),
        ] {
            let err = parse(files).unwrap_err().to_string();
            assert!(err.contains(fragment), "{err}");
        }
    }
}
