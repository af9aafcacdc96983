//! The version manifest: what a version is made of, as the developer signed it.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::chunker::{ChunkHash, ChunkRef, MAX_CHUNK};
use crate::{MANIFEST_FILE, Manifest, ManifestErrors, Problem, check_package_path};

/// The `format` of the manifests this build writes and reads.
pub const FORMAT: u32 = 2;
/// Most bytes a serialized version manifest may have.
pub const MAX_VERSION_MANIFEST_BYTES: usize = 16 * 1024 * 1024;
/// Most files one version may hold.
pub const MAX_FILES: usize = 100_000;
/// Largest file a manifest may name (4 GiB).
pub const MAX_FILE_BYTES: u64 = 4 << 30;

/// A version: every file with its chunks, the package's `config.json` as a
/// value, and the key that signed it (empty for versions the lobby made
/// from a zip uploaded by a developer without a key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionManifest {
    /// Always [`FORMAT`].
    pub format: u32,
    pub id: String,
    pub version: String,
    /// When it was made, unix seconds.
    pub created: u64,
    /// The package's `config.json` parsed: its commands are what the
    /// launcher and the lobby run. The file itself is also in `files`.
    pub config: Value,
    /// Sorted by path, each path once.
    pub files: Vec<ManifestFile>,
    /// Hex of the signer's Ed25519 public key; empty when unsigned.
    #[serde(default)]
    pub key: String,
}

/// One file of a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Package path: relative, `/`-separated.
    pub path: String,
    pub size: u64,
    #[serde(default)]
    pub executable: bool,
    /// The file's bytes are these chunks, back to back.
    pub chunks: Vec<ChunkRef>,
}

impl VersionManifest {
    /// The canonical bytes of this manifest: what is signed, sent and stored.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a manifest serializes")
    }

    /// Parses manifest bytes and checks everything that can be checked
    /// without the chunks: format, id and version, the config (a valid
    /// `config.json` naming the same id and version), paths, sizes, chunk
    /// sizes adding up, limits. Lists every problem found.
    pub fn parse(bytes: &[u8]) -> Result<VersionManifest, ManifestErrors> {
        if bytes.len() > MAX_VERSION_MANIFEST_BYTES {
            return Err(problems(vec![problem(
                "",
                format!(
                    "the manifest has {} bytes; at most {MAX_VERSION_MANIFEST_BYTES} are allowed",
                    bytes.len()
                ),
            )]));
        }
        let manifest: VersionManifest = serde_json::from_slice(bytes)
            .map_err(|e| problems(vec![problem("", format!("not a version manifest: {e}"))]))?;
        let found = manifest.problems();
        if found.is_empty() { Ok(manifest) } else { Err(problems(found)) }
    }

    /// The `config.json` this manifest carries, validated.
    pub fn package_config(&self) -> Result<Manifest, ManifestErrors> {
        Manifest::from_value(&self.config)
    }

    /// Total bytes of all files.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// The distinct chunks in order of first appearance (the indices
    /// PUBLISH_BEGIN's `missing` ranges and CHUNK_PUT's `index` refer to).
    pub fn distinct_chunks(&self) -> Vec<ChunkRef> {
        let mut seen = std::collections::HashSet::new();
        self.files
            .iter()
            .flat_map(|f| f.chunks.iter())
            .filter(|c| seen.insert(c.hash))
            .copied()
            .collect()
    }

    /// The file entry at `path`.
    pub fn file(&self, path: &str) -> Option<&ManifestFile> {
        self.files.binary_search_by(|f| f.path.as_str().cmp(path)).ok().map(|i| &self.files[i])
    }

    fn problems(&self) -> Vec<Problem> {
        let mut found = Vec::new();
        if self.format != FORMAT {
            found.push(problem("format", format!("format {} is not {FORMAT}", self.format)));
        }
        if !crate::is_valid_game_id(&self.id) {
            found.push(problem("id", format!("{:?} is not a valid game id", self.id)));
        }
        if semver::Version::parse(&self.version).is_err() {
            found.push(problem("version", format!("{:?} is not a semantic version", self.version)));
        }
        if !self.key.is_empty() && super::parse_key_hex(&self.key).is_err() {
            found.push(problem("key", "not the hex of an Ed25519 public key".to_owned()));
        }
        match Manifest::from_value(&self.config) {
            Ok(config) => {
                if config.id != self.id {
                    found.push(problem(
                        "config.id",
                        format!("config.json says id {:?}, the manifest {:?}", config.id, self.id),
                    ));
                }
                if config.version.to_string() != self.version {
                    found.push(problem(
                        "config.version",
                        format!(
                            "config.json says version {}, the manifest {:?}",
                            config.version, self.version
                        ),
                    ));
                }
            }
            Err(errors) => found.extend(errors.problems.into_iter().map(|p| Problem {
                field: if p.field.is_empty() {
                    "config".to_owned()
                } else {
                    format!("config.{}", p.field)
                },
                message: p.message,
            })),
        }
        if self.files.len() > MAX_FILES {
            found.push(problem(
                "files",
                format!("{} files; at most {MAX_FILES} are allowed", self.files.len()),
            ));
            return found;
        }
        let mut sizes: HashMap<ChunkHash, u32> = HashMap::new();
        let mut has_config = false;
        let paths: std::collections::HashSet<&str> =
            self.files.iter().map(|f| f.path.as_str()).collect();
        for (i, file) in self.files.iter().enumerate() {
            let field = || format!("files[{i}]");
            if let Err(why) = check_package_path(&file.path) {
                found.push(problem(&field(), format!("{:?}: {why}", file.path)));
            }
            if i > 0 && self.files[i - 1].path.as_str() >= file.path.as_str() {
                found.push(problem(
                    &field(),
                    format!(
                        "{:?} is out of order or named twice (files are sorted by path)",
                        file.path
                    ),
                ));
            }
            // A file cannot also be a folder of another file.
            let mut ancestor = file.path.as_str();
            while let Some((parent, _)) = ancestor.rsplit_once('/') {
                if paths.contains(parent) {
                    found.push(problem(
                        &field(),
                        format!("{:?} is inside {parent:?}, which is a file", file.path),
                    ));
                    break;
                }
                ancestor = parent;
            }
            has_config |= file.path == MANIFEST_FILE;
            if file.size > MAX_FILE_BYTES {
                found.push(problem(
                    &field(),
                    format!("{:?} has {} bytes; at most {MAX_FILE_BYTES}", file.path, file.size),
                ));
            }
            let mut sum = 0u64;
            for chunk in &file.chunks {
                if chunk.size == 0 || chunk.size > MAX_CHUNK {
                    found.push(problem(
                        &field(),
                        format!(
                            "{:?} names a chunk of {} bytes (1 to {MAX_CHUNK} allowed)",
                            file.path, chunk.size
                        ),
                    ));
                }
                sum += u64::from(chunk.size);
                match sizes.entry(chunk.hash) {
                    Entry::Vacant(v) => {
                        v.insert(chunk.size);
                    }
                    Entry::Occupied(o) if *o.get() != chunk.size => found.push(problem(
                        &field(),
                        format!("chunk {} is named with two sizes", chunk.hash),
                    )),
                    Entry::Occupied(_) => {}
                }
            }
            if sum != file.size {
                found.push(problem(
                    &field(),
                    format!(
                        "{:?} says {} bytes but its chunks add up to {sum}",
                        file.path, file.size
                    ),
                ));
            }
            if found.len() > 100 {
                found.push(problem("files", "too many problems; the rest are not listed".into()));
                return found;
            }
        }
        if !has_config {
            found.push(problem("files", format!("no {MANIFEST_FILE} among the files")));
        }
        found
    }
}

fn problem(field: &str, message: String) -> Problem {
    Problem { field: field.to_owned(), message }
}

fn problems(problems: Vec<Problem>) -> ManifestErrors {
    ManifestErrors { problems }
}
