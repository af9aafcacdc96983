//! The Game Store package format, shared by the developer client, the lobby and
//! the player's launcher.
//!
//! A game is a folder with a manifest, `config.json` ([`Manifest`]), next to
//! the programs and assets it names. The developer client validates the
//! manifest ([`Manifest::load_dir`]) and packs the folder into a zip
//! ([`pack_dir`]); the lobby and the launcher extract packages they receive
//! with [`extract`], which treats every archive as hostile and enforces
//! [`Limits`]. A [`FileList`] records each file's size and SHA-256 so an
//! installed copy can be verified and an update can move only what changed.
//!
//! This crate does no networking and spawns nothing: [`Command::expand`] turns
//! a manifest command into an argv for the caller to run.

mod archive;
mod bytes;
pub mod chunked;
mod command;
mod filelist;
mod manifest;
mod package_path;
mod parallel;
mod sha256;
mod walk;
mod writeback;

pub use archive::{
    ArchiveError, IGNORE_FILE, PackSummary, PackagedFile, extract, pack_dir, package_files,
};
pub use bytes::human_bytes;
pub use command::{
    Command, ExpandError, ExpandedCommand, Placeholder, Placeholders, Seat, TemplateError,
    template_placeholders,
};
pub use filelist::{Delta, FileEntry, FileList, Mismatch};
pub use manifest::{
    GameKind, MANIFEST_FILE, MAX_MANIFEST_BYTES, MAX_PLAYERS, Manifest, ManifestErrors,
    PluginEvent, PluginPanel, PluginSpec, Problem, RESULT_PREFIX, ResultMode, is_valid_game_id,
};
pub use package_path::{MAX_DEPTH, MAX_PATH_BYTES, check_package_path};
pub use parallel::map_parallel;
pub use sha256::{Sha256Reader, Sha256Writer, sha256_bytes, sha256_file, sha256_reader};
pub use writeback::start_writeback;

/// Bounds on what [`extract`] accepts from an untrusted package.
///
/// Sizes are counted on the decompressed data as it is written, not taken from
/// the archive's headers, so a zip bomb is stopped at the limit with memory
/// bounded by a fixed buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most entries (files and folders) an archive may hold. Default 30 000.
    pub max_entries: usize,
    /// Most bytes all files may decompress to together. Default 1 GiB.
    pub max_total_bytes: u64,
    /// Most bytes one file may decompress to. Default 512 MiB.
    pub max_file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_entries: 30_000, max_total_bytes: 1 << 30, max_file_bytes: 512 << 20 }
    }
}
