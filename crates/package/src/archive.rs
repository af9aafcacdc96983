//! Game packages as zip archives: deterministic packing of a game folder, and
//! extraction that treats every archive as hostile.
//!
//! [`pack_dir`] writes the same bytes for the same folder on any machine
//! (sorted entries, fixed timestamps, normalized permissions), so a package's
//! checksum identifies its content.
//!
//! [`extract`] refuses anything that could write outside the destination or
//! exhaust the machine: unsafe names, links and special files, duplicate or
//! conflicting entries, too many entries, and data past the size [`Limits`],
//! counted while decompressing rather than taken from the headers. The whole
//! entry table is checked before the first byte is written, and on any error
//! the files written so far are removed.
//!
//! The zip central directory is read into memory before any check (about a
//! hundred bytes per entry), so callers bound the archive's own size, as the
//! lobby does with its upload limit.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use zip::result::ZipError;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, System, ZipArchive, ZipReadOptions, ZipWriter};

use crate::Limits;
use crate::filelist::{FileEntry, FileList};
use crate::manifest::MANIFEST_FILE;
use crate::package_path::check_package_path;
use crate::sha256::{BUFFER_SIZE, Sha256Reader, Sha256Writer};
use crate::walk::{WalkError, walk};

/// Optional file at the root of a game folder listing paths to leave out of the
/// package, one per line: `saves` leaves out the file or folder `saves` and
/// everything under it. Blank lines and lines starting with `#` are ignored; no
/// glob patterns.
pub const IGNORE_FILE: &str = ".gamestoreignore";

const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;

/// Why a package could not be packed or extracted. [`ArchiveError::code`] gives
/// a stable machine-readable code for each kind.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// An entry name that could escape the destination or is not portable.
    #[error("unsafe path in package: {name:?} ({reason})")]
    UnsafePath {
        /// The name as found (lossy UTF-8).
        name: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A symbolic link (in the archive or in the folder being packed).
    #[error("{name}: symbolic links are not allowed in a game package")]
    Symlink {
        /// Name of the entry.
        name: String,
    },
    /// A device, FIFO, socket or other non-regular entry.
    #[error("{name}: only regular files and folders are allowed in a game package")]
    SpecialFile {
        /// Name of the entry.
        name: String,
    },
    /// Two entries with the same name, or a name used as both file and folder.
    #[error("duplicate entry in package{}", name.as_deref().map(|n| format!(": {n}")).unwrap_or_default())]
    Duplicate {
        /// The name, when it can be told.
        name: Option<String>,
    },
    /// More entries (files and folders) than [`Limits::max_entries`].
    #[error("package has {count} entries, more than the limit of {limit}")]
    TooManyFiles {
        /// Entries in the archive.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// One file decompresses past [`Limits::max_file_bytes`].
    #[error("{name}: larger than the limit of {limit} bytes per file")]
    FileTooLarge {
        /// Name of the entry.
        name: String,
        /// The limit.
        limit: u64,
    },
    /// All files together decompress past [`Limits::max_total_bytes`].
    #[error("package contents are larger than the limit of {limit} bytes")]
    TotalTooLarge {
        /// The limit.
        limit: u64,
    },
    /// Not a zip archive, truncated, or data that fails its checksum.
    #[error("corrupt package: {message}")]
    Corrupt {
        /// What the reader found.
        message: String,
    },
    /// A valid zip using a feature packages may not use (encryption, an
    /// unsupported compression method).
    #[error("unsupported package: {message}")]
    Unsupported {
        /// Which feature.
        message: String,
    },
    /// No `config.json` file at the root.
    #[error("package has no config.json at its root")]
    NoManifest,
    /// The extraction destination already holds something.
    #[error("{}: destination folder is not empty", path.display())]
    DestNotEmpty {
        /// The destination.
        path: PathBuf,
    },
    /// Reading the game folder or writing files failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
}

impl ArchiveError {
    /// Stable code for the wire and for scripts.
    ///
    /// | code | variants |
    /// |---|---|
    /// | `PACKAGE_UNSAFE_PATH` | [`UnsafePath`](Self::UnsafePath) |
    /// | `PACKAGE_SYMLINK` | [`Symlink`](Self::Symlink) |
    /// | `PACKAGE_SPECIAL_FILE` | [`SpecialFile`](Self::SpecialFile) |
    /// | `PACKAGE_DUPLICATE_ENTRY` | [`Duplicate`](Self::Duplicate) |
    /// | `PACKAGE_TOO_MANY_FILES` | [`TooManyFiles`](Self::TooManyFiles) |
    /// | `PACKAGE_TOO_LARGE` | [`FileTooLarge`](Self::FileTooLarge), [`TotalTooLarge`](Self::TotalTooLarge) |
    /// | `PACKAGE_CORRUPT` | [`Corrupt`](Self::Corrupt) |
    /// | `PACKAGE_UNSUPPORTED` | [`Unsupported`](Self::Unsupported) |
    /// | `PACKAGE_NO_MANIFEST` | [`NoManifest`](Self::NoManifest) |
    /// | `DEST_NOT_EMPTY` | [`DestNotEmpty`](Self::DestNotEmpty) |
    /// | `IO` | [`Io`](Self::Io) |
    pub fn code(&self) -> &'static str {
        match self {
            ArchiveError::UnsafePath { .. } => "PACKAGE_UNSAFE_PATH",
            ArchiveError::Symlink { .. } => "PACKAGE_SYMLINK",
            ArchiveError::SpecialFile { .. } => "PACKAGE_SPECIAL_FILE",
            ArchiveError::Duplicate { .. } => "PACKAGE_DUPLICATE_ENTRY",
            ArchiveError::TooManyFiles { .. } => "PACKAGE_TOO_MANY_FILES",
            ArchiveError::FileTooLarge { .. } | ArchiveError::TotalTooLarge { .. } => {
                "PACKAGE_TOO_LARGE"
            }
            ArchiveError::Corrupt { .. } => "PACKAGE_CORRUPT",
            ArchiveError::Unsupported { .. } => "PACKAGE_UNSUPPORTED",
            ArchiveError::NoManifest => "PACKAGE_NO_MANIFEST",
            ArchiveError::DestNotEmpty { .. } => "DEST_NOT_EMPTY",
            ArchiveError::Io { .. } => "IO",
        }
    }

    fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> ArchiveError {
        let context = context.into();
        move |source| ArchiveError::Io { context, source }
    }
}

impl From<WalkError> for ArchiveError {
    fn from(e: WalkError) -> ArchiveError {
        match e {
            WalkError::Io { path, source } => {
                ArchiveError::Io { context: format!("reading {}", path.display()), source }
            }
            WalkError::Symlink { rel } => ArchiveError::Symlink { name: rel },
            WalkError::Special { rel } => ArchiveError::SpecialFile { name: rel },
            WalkError::BadName { rel, reason } => {
                ArchiveError::UnsafePath { name: rel, reason: reason.to_owned() }
            }
        }
    }
}

/// Errors from the zip reader: the archive itself is at fault.
fn read_error(e: ZipError) -> ArchiveError {
    match e {
        ZipError::UnsupportedArchive(message) => {
            ArchiveError::Unsupported { message: message.to_owned() }
        }
        ZipError::CompressionMethodNotSupported(method) => {
            ArchiveError::Unsupported { message: format!("compression method {method}") }
        }
        other => ArchiveError::Corrupt { message: other.to_string() },
    }
}

/// What [`pack_dir`] put in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackSummary {
    /// Regular files packed.
    pub files: u64,
    /// Archive entries: files plus folders (what [`Limits::max_entries`] counts).
    pub entries: u64,
    /// Sum of the files' sizes before compression.
    pub total_bytes: u64,
    /// Every packed file with its checksum, as [`extract`] will report it.
    pub file_list: FileList,
}

/// Packs the game folder `dir` into a zip written to `out`.
///
/// The archive holds every regular file and folder of `dir` except the
/// top-level `target/` folder, any `.git`, the [`IGNORE_FILE`] and the paths it
/// lists. Entries are sorted by path, dated 1980-01-01, and have mode `0755`
/// (any execute bit set) or `0644`, so packing is reproducible. Fails on
/// symlinks and special files (which are not followed), names [`extract`] would
/// refuse, and a folder without `config.json`.
pub fn pack_dir(dir: &Path, out: impl Write + Seek) -> Result<PackSummary, ArchiveError> {
    let entries = package_entries(dir)?;

    let base = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default())
        .system(System::Unix);
    let zip_err = |e: ZipError| ArchiveError::Io {
        context: "writing the package".to_owned(),
        source: match e {
            ZipError::Io(e) => e,
            other => io::Error::other(other),
        },
    };
    let mut zip = ZipWriter::new(out);
    let mut files = Vec::new();
    let mut buf = vec![0u8; BUFFER_SIZE];
    for entry in &entries {
        if entry.is_dir {
            zip.add_directory(entry.rel.as_str(), base.unix_permissions(0o755)).map_err(zip_err)?;
            continue;
        }
        let mode = if entry.executable { 0o755 } else { 0o644 };
        let options = base.unix_permissions(mode).large_file(entry.size >= u64::from(u32::MAX));
        zip.start_file(entry.rel.as_str(), options).map_err(zip_err)?;
        let file = File::open(&entry.path)
            .map_err(ArchiveError::io(format!("reading {}", entry.path.display())))?;
        let mut reader = Sha256Reader::new(file);
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(ArchiveError::Io {
                        context: format!("reading {}", entry.path.display()),
                        source: e,
                    });
                }
            };
            zip.write_all(&buf[..n]).map_err(ArchiveError::io("writing the package"))?;
        }
        files.push(FileEntry {
            path: entry.rel.clone(),
            size: reader.bytes_read(),
            sha256: reader.hex_digest(),
            executable: entry.executable,
        });
    }
    zip.finish().map_err(zip_err)?;

    let file_list = FileList::from_entries(files);
    Ok(PackSummary {
        files: file_list.len() as u64,
        entries: entries.len() as u64,
        total_bytes: file_list.total_size(),
        file_list,
    })
}

/// A file [`pack_dir`] would put in the package.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PackagedFile {
    /// Package path: relative, `/`-separated.
    pub path: String,
    pub size: u64,
}

/// The files [`pack_dir`] would pack from `dir`, sorted by path, without
/// packing anything: what `publish` will send.
pub fn package_files(dir: &Path) -> Result<Vec<PackagedFile>, ArchiveError> {
    Ok(package_entries(dir)?
        .into_iter()
        .filter(|e| !e.is_dir)
        .map(|e| PackagedFile { path: e.rel, size: e.size })
        .collect())
}

/// The entries of the package of `dir`: everything but `target/`, `.git`,
/// the ignore file and what it lists.
fn package_entries(dir: &Path) -> Result<Vec<crate::walk::WalkEntry>, ArchiveError> {
    let ignored = read_ignore_file(dir)?;
    let skip = |rel: &str, is_dir: bool| {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        name == ".git"
            || (rel == "target" && is_dir)
            || rel == IGNORE_FILE
            || ignored.iter().any(|pattern| ignore_matches(pattern, rel))
    };
    let entries = walk(dir, &skip)?;
    if !entries.iter().any(|e| !e.is_dir && e.rel == MANIFEST_FILE) {
        return Err(ArchiveError::NoManifest);
    }
    Ok(entries)
}

/// Whether an ignore-file pattern covers the package path `rel` (a file or
/// folder; a covered folder is skipped whole). A pattern with a `/` is
/// matched against the whole path from the game folder (`logs/debug`,
/// `assets/*.psd`); one without matches a name at any depth (`*.log`,
/// `__pycache__`). `*` matches any run of characters other than `/`, `?`
/// one such character.
pub(crate) fn ignore_matches(pattern: &str, rel: &str) -> bool {
    if pattern.contains('/') {
        let parts: Vec<&str> = pattern.split('/').collect();
        let names: Vec<&str> = rel.split('/').collect();
        names.len() >= parts.len() && parts.iter().zip(&names).all(|(p, n)| glob_name(p, n))
    } else {
        rel.split('/').any(|name| glob_name(pattern, name))
    }
}

/// `*` and `?` matching of one path component.
fn glob_name(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Classic two-pointer wildcard match with backtracking to the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// The paths listed in `dir/.gamestoreignore`, normalized (no leading `./` or
/// `/`, no trailing `/`); empty when there is no such file.
fn read_ignore_file(dir: &Path) -> Result<Vec<String>, ArchiveError> {
    let path = dir.join(IGNORE_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(ArchiveError::Io {
                context: format!("reading {}", path.display()),
                source: e,
            });
        }
    };
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let mut p = line;
            loop {
                if let Some(rest) = p.strip_prefix("./") {
                    p = rest;
                } else if let Some(rest) = p.strip_prefix('/') {
                    p = rest;
                } else {
                    break;
                }
            }
            p.trim_end_matches('/').to_owned()
        })
        .filter(|p| !p.is_empty())
        .collect())
}

/// One archive entry, checked and ready to write.
struct PlannedEntry {
    index: usize,
    rel: String,
    is_dir: bool,
    executable: bool,
}

/// Extracts an untrusted package into `dest` and returns its file list.
///
/// `dest` must not exist (it is created, with its parents) or be an empty
/// folder. On error, everything written is removed again: a `dest` created here
/// is deleted, an existing one is emptied. Files get mode `0700` or `0600`
/// (executable or not): only the owner's bits are kept, never setuid and the
/// like. See the module docs for what is refused.
pub fn extract(
    archive: impl Read + Seek,
    dest: &Path,
    limits: &Limits,
) -> Result<FileList, ArchiveError> {
    let created = match fs::read_dir(dest) {
        Ok(mut items) => {
            if items.next().is_some() {
                return Err(ArchiveError::DestNotEmpty { path: dest.to_path_buf() });
            }
            false
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dest)
                .map_err(ArchiveError::io(format!("creating {}", dest.display())))?;
            true
        }
        Err(e) => {
            return Err(ArchiveError::Io {
                context: format!("opening {}", dest.display()),
                source: e,
            });
        }
    };
    let result = extract_into(archive, dest, limits);
    if result.is_err() {
        // Best effort: the error being reported matters more than a cleanup failure.
        if created {
            let _ = fs::remove_dir_all(dest);
        } else if let Ok(items) = fs::read_dir(dest) {
            for item in items.flatten() {
                let path = item.path();
                let _ = match item.file_type() {
                    Ok(t) if t.is_dir() => fs::remove_dir_all(&path),
                    _ => fs::remove_file(&path),
                };
            }
        }
    }
    result
}

fn extract_into(
    archive: impl Read + Seek,
    dest: &Path,
    limits: &Limits,
) -> Result<FileList, ArchiveError> {
    let mut zip = ZipArchive::new(archive).map_err(read_error)?;
    if zip.has_duplicate_names() {
        return Err(ArchiveError::Duplicate { name: None });
    }
    if zip.len() > limits.max_entries {
        return Err(ArchiveError::TooManyFiles { count: zip.len(), limit: limits.max_entries });
    }
    let plan = plan_entries(&zip, limits)?;

    let mut files = Vec::new();
    let mut total: u64 = 0;
    let mut buf = vec![0u8; BUFFER_SIZE];
    for entry in &plan {
        let target = dest.join(&entry.rel);
        if entry.is_dir {
            fs::create_dir_all(&target)
                .map_err(ArchiveError::io(format!("creating {}", target.display())))?;
            continue;
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)
                .map_err(ArchiveError::io(format!("creating {}", parent.display())))?;
        }
        let mode = if entry.executable { 0o700 } else { 0o600 };
        let file = create_new_file(&target, mode)
            .map_err(ArchiveError::io(format!("creating {}", target.display())))?;
        let mut out = Sha256Writer::new(file);
        let options = ZipReadOptions::new().enforce_header_consistency(true);
        let mut reader = zip.by_index_with_options(entry.index, options).map_err(read_error)?;
        loop {
            // The decompressed stream is counted here, whatever the headers claim.
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(ArchiveError::Corrupt { message: format!("{}: {e}", entry.rel) });
                }
            };
            total += n as u64;
            if out.bytes_written() + n as u64 > limits.max_file_bytes {
                return Err(ArchiveError::FileTooLarge {
                    name: entry.rel.clone(),
                    limit: limits.max_file_bytes,
                });
            }
            if total > limits.max_total_bytes {
                return Err(ArchiveError::TotalTooLarge { limit: limits.max_total_bytes });
            }
            out.write_all(&buf[..n])
                .map_err(ArchiveError::io(format!("writing {}", target.display())))?;
        }
        set_mode(&target, mode)
            .map_err(ArchiveError::io(format!("setting mode of {}", target.display())))?;
        files.push(FileEntry {
            path: entry.rel.clone(),
            size: out.bytes_written(),
            sha256: out.hex_digest(),
            executable: entry.executable,
        });
    }
    Ok(FileList::from_entries(files))
}

/// Checks every entry's name, type and declared size before anything is
/// written. Declared sizes only serve to refuse early: the real sizes are
/// counted during extraction.
fn plan_entries<R: Read + Seek>(
    zip: &ZipArchive<R>,
    limits: &Limits,
) -> Result<Vec<PlannedEntry>, ArchiveError> {
    let mut plan = Vec::with_capacity(zip.len());
    let mut names = HashSet::with_capacity(zip.len());
    let mut declared_total: u64 = 0;
    for index in 0..zip.len() {
        let entry = zip.by_index_data(index).map_err(read_error)?;
        let raw = entry.name_raw();
        let Ok(name) = std::str::from_utf8(raw) else {
            return Err(ArchiveError::UnsafePath {
                name: String::from_utf8_lossy(raw).into_owned(),
                reason: "not valid UTF-8".to_owned(),
            });
        };
        let is_dir = name.ends_with('/');
        let rel = name.strip_suffix('/').unwrap_or(name);
        check_package_path(rel).map_err(|reason| ArchiveError::UnsafePath {
            name: name.to_owned(),
            reason: reason.to_owned(),
        })?;

        // The upper half of the external attributes is the unix mode, whatever
        // system the archive claims to come from.
        let mode = entry.external_attributes() >> 16;
        match mode & S_IFMT {
            0 => {}
            S_IFREG if !is_dir => {}
            S_IFDIR if is_dir => {}
            S_IFLNK => {
                return Err(ArchiveError::Symlink { name: rel.to_owned() });
            }
            S_IFREG | S_IFDIR => {
                return Err(ArchiveError::Corrupt {
                    message: format!("{name}: file type disagrees with the name"),
                });
            }
            _ => {
                return Err(ArchiveError::SpecialFile { name: rel.to_owned() });
            }
        }
        if entry.encrypted() {
            return Err(ArchiveError::Unsupported { message: format!("{rel}: encrypted entries") });
        }
        if !is_dir {
            let method = entry.compression();
            if !matches!(method, CompressionMethod::Stored | CompressionMethod::Deflated) {
                return Err(ArchiveError::Unsupported {
                    message: format!("{rel}: compression method {method}"),
                });
            }
            if entry.size() > limits.max_file_bytes {
                return Err(ArchiveError::FileTooLarge {
                    name: rel.to_owned(),
                    limit: limits.max_file_bytes,
                });
            }
            declared_total = declared_total.saturating_add(entry.size());
            if declared_total > limits.max_total_bytes {
                return Err(ArchiveError::TotalTooLarge { limit: limits.max_total_bytes });
            }
        }
        if !names.insert(rel.to_owned()) {
            return Err(ArchiveError::Duplicate { name: Some(rel.to_owned()) });
        }
        plan.push(PlannedEntry {
            index,
            rel: rel.to_owned(),
            is_dir,
            executable: !is_dir && mode & 0o111 != 0,
        });
    }

    // A name used as a file must not also be a folder on another entry's path.
    let files: HashSet<&str> = plan.iter().filter(|e| !e.is_dir).map(|e| e.rel.as_str()).collect();
    for entry in &plan {
        let mut ancestor = entry.rel.as_str();
        while let Some((parent, _)) = ancestor.rsplit_once('/') {
            if files.contains(parent) {
                return Err(ArchiveError::Duplicate { name: Some(parent.to_owned()) });
            }
            ancestor = parent;
        }
    }
    if !files.contains(MANIFEST_FILE) {
        return Err(ArchiveError::NoManifest);
    }
    Ok(plan)
}

/// Creates a file that must not exist yet, with `mode` from the start.
fn create_new_file(path: &Path, mode: u32) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)
}

/// Sets the final mode, whatever the umask took away at creation.
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

#[cfg(test)]
mod ignore_tests {
    use super::ignore_matches;

    #[test]
    fn ignore_patterns() {
        for (pattern, path, expect) in [
            ("notes.txt", "notes.txt", true),
            ("logs", "logs", true),
            ("logs", "logs/a.log", true),
            ("logs", "src/logs/a.log", true),
            ("*.log", "server.log", true),
            ("*.log", "bin/debug/x.log", true),
            ("*.log", "server.log.txt", false),
            ("src/*.rs", "src/main.rs", true),
            ("src/*.rs", "lib/src/main.rs", false),
            ("assets/raw", "assets/raw/big.psd", true),
            ("assets/raw", "assets/rawer", false),
            ("te?t", "test", true),
            ("te?t", "tet", false),
            ("*", "anything", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
        ] {
            assert_eq!(ignore_matches(pattern, path), expect, "{pattern} vs {path}");
        }
    }
}
