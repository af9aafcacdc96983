//! The games a player has installed, on disk.
//!
//! ```text
//! <home>/games/<player>/<id>/<version>/          an installed version, exactly the package's files
//! <home>/games/<player>/<id>/<version>.files.json its file listing (sizes and SHA-256), zip installs
//! <home>/games/<player>/<id>/<version>.manifest   the verified, signed version manifest (exact bytes)
//! <home>/games/<player>/<id>/<version>.signature  {"key", "signature"} that the manifest was verified with
//! <home>/games/<player>/<id>/.chunked-<version>/  a chunked install in progress (resumable)
//! <home>/games/<player>/<id>/.chunked-<version>.journal  the chunks already written there
//! <home>/games/<player>/<id>/.staging-…          an install in progress
//! <home>/games/<player>/<id>/.download-<v>.part  a zip download that can be resumed
//! ```
//!
//! Each player on a machine has their own folder, so two players may have
//! different versions. **Invariant:** a version folder only appears, by
//! rename, once every file in it has been verified, and its listing is
//! written after it; a version counts as installed only when both exist
//! (the listing being the `.files.json` of a zip install or the `.manifest`
//! of a chunked one).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use gamestore_package::FileList;
use semver::Version;

/// How an installed chunked version was verified: the signer's key and the
/// signature over the manifest bytes (both hex; empty when unsigned).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredSignature {
    pub key: String,
    pub signature: String,
}

/// Writes `bytes` to `path` through a synced temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!(
        "{}tmp",
        path.extension().map(|e| format!("{}.", e.to_string_lossy())).unwrap_or_default()
    ));
    let mut file =
        fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Syncs a folder's entries (renames into it) to disk; best effort.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Where [`Library::move_into_place`] left a version's folder.
enum Placed {
    /// The staging folder became the version's folder.
    Moved(PathBuf),
    /// Another process of this player installed it meanwhile.
    AlreadyInstalled(PathBuf),
}

/// One player's installed games.
#[derive(Debug, Clone)]
pub struct Library {
    root: PathBuf,
    /// The trust store of developer keys (`<home>/known_keys`).
    trust_file: PathBuf,
}

/// An installed version.
#[derive(Debug, Clone)]
pub struct Installed {
    pub id: String,
    pub version: String,
    pub path: PathBuf,
}

impl Library {
    /// The library of `player` under the client home `home`.
    pub fn new(home: &Path, player: &str) -> Library {
        Library {
            root: home.join("games").join(player),
            trust_file: crate::trust::KnownKeys::path_in(home),
        }
    }

    /// A library in any folder `root` (plugins, say), trusting keys through
    /// `trust_file`.
    pub fn at(root: &Path, trust_file: &Path) -> Library {
        Library { root: root.to_owned(), trust_file: trust_file.to_owned() }
    }

    /// The `known_keys` file this library's installs are checked against.
    pub fn trust_file(&self) -> &Path {
        &self.trust_file
    }

    /// The launcher plugins of `player` under the client home `home`
    /// (`<home>/plugins/<player>/<id>/<version>/`), kept exactly as games are.
    pub fn plugins(home: &Path, player: &str) -> Library {
        Library {
            root: home.join("plugins").join(player),
            trust_file: crate::trust::KnownKeys::path_in(home),
        }
    }

    pub fn game_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    pub fn version_dir(&self, id: &str, version: &str) -> PathBuf {
        self.game_dir(id).join(version)
    }

    fn listing_path(&self, id: &str, version: &str) -> PathBuf {
        self.game_dir(id).join(format!("{version}.files.json"))
    }

    fn manifest_path(&self, id: &str, version: &str) -> PathBuf {
        self.game_dir(id).join(format!("{version}.manifest"))
    }

    fn signature_path(&self, id: &str, version: &str) -> PathBuf {
        self.game_dir(id).join(format!("{version}.signature"))
    }

    /// The resumable staging folder of a chunked install of `version`.
    pub fn chunked_staging(&self, id: &str, version: &str) -> PathBuf {
        self.game_dir(id).join(format!(".chunked-{version}"))
    }

    /// The journal of the chunks already written into [`Library::chunked_staging`].
    pub fn chunked_journal(&self, id: &str, version: &str) -> PathBuf {
        self.game_dir(id).join(format!(".chunked-{version}.journal"))
    }

    /// The verified manifest bytes and their signature record of an
    /// installed chunked version, or `None`.
    pub fn manifest(&self, id: &str, version: &str) -> Option<(Vec<u8>, StoredSignature)> {
        if !self.version_dir(id, version).is_dir() {
            return None;
        }
        let bytes = fs::read(self.manifest_path(id, version)).ok()?;
        let sig = fs::read(self.signature_path(id, version)).ok()?;
        Some((bytes, serde_json::from_slice(&sig).ok()?))
    }

    /// True when `version` is completely installed, by either path.
    pub fn is_installed(&self, id: &str, version: &str) -> bool {
        self.version_dir(id, version).is_dir()
            && (self.listing_path(id, version).is_file()
                || self.manifest_path(id, version).is_file())
    }

    /// Moves a verified chunked staging folder into place and records its
    /// manifest (written last: it is what makes the version installed).
    pub fn commit_chunked(
        &self,
        staging: &Path,
        id: &str,
        version: &str,
        manifest: &[u8],
        signature: &StoredSignature,
    ) -> anyhow::Result<PathBuf> {
        let target = match self.move_into_place(staging, id, version)? {
            Placed::AlreadyInstalled(target) => return Ok(target),
            Placed::Moved(target) => target,
        };
        write_atomic(&self.signature_path(id, version), &serde_json::to_vec(signature)?)?;
        write_atomic(&self.manifest_path(id, version), manifest)?;
        sync_dir(&self.game_dir(id));
        Ok(target)
    }

    /// Where a resumable zip download of `version` is kept.
    pub fn partial_download(&self, id: &str, version: &str) -> PathBuf {
        self.game_dir(id).join(format!(".download-{version}.part"))
    }

    /// A fresh staging folder for installing `version`.
    pub fn staging_dir(&self, id: &str, version: &str) -> anyhow::Result<PathBuf> {
        let dir = self.game_dir(id).join(format!(".staging-{version}-{}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(dir)
    }

    /// The listing of an installed version, or `None` when it is not (fully) installed.
    pub fn listing(&self, id: &str, version: &str) -> Option<FileList> {
        if !self.version_dir(id, version).is_dir() {
            return None;
        }
        let bytes = fs::read(self.listing_path(id, version)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Installed versions of `id`, newest first.
    pub fn versions(&self, id: &str) -> Vec<String> {
        let mut versions: Vec<Version> = fs::read_dir(self.game_dir(id))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|name| {
                !name.starts_with('.')
                    && !name.contains(".json")
                    && !name.contains(".manifest")
                    && !name.ends_with(".signature")
            })
            .filter_map(|name| Version::parse(&name).ok())
            .filter(|v| self.is_installed(id, &v.to_string()))
            .collect();
        versions.sort();
        versions.into_iter().rev().map(|v| v.to_string()).collect()
    }

    /// The newest installed version of every game, by id.
    pub fn installed(&self) -> Vec<Installed> {
        let mut ids: Vec<String> = fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .collect();
        ids.sort();
        ids.into_iter()
            .filter_map(|id| {
                let version = self.versions(&id).into_iter().next()?;
                let path = self.version_dir(&id, &version);
                Some(Installed { id, version, path })
            })
            .collect()
    }

    /// Moves a verified staging folder into place and records its listing.
    pub fn commit(
        &self,
        staging: &Path,
        id: &str,
        version: &str,
        listing: &FileList,
    ) -> anyhow::Result<PathBuf> {
        let target = match self.move_into_place(staging, id, version)? {
            Placed::AlreadyInstalled(target) => return Ok(target),
            Placed::Moved(target) => target,
        };
        write_atomic(&self.listing_path(id, version), &serde_json::to_vec(listing)?)?;
        Ok(target)
    }

    /// Renames a verified staging folder to `version`'s folder. A folder
    /// there without its listing or manifest is a leftover from a crash and
    /// is replaced; a complete one was installed meanwhile by another
    /// process of this player, and the staging folder is dropped.
    fn move_into_place(&self, staging: &Path, id: &str, version: &str) -> anyhow::Result<Placed> {
        let target = self.version_dir(id, version);
        if target.exists() {
            if self.is_installed(id, version) {
                fs::remove_dir_all(staging)?;
                return Ok(Placed::AlreadyInstalled(target));
            }
            fs::remove_dir_all(&target)?;
        }
        fs::rename(staging, &target)
            .with_context(|| format!("cannot move the game into {}", target.display()))?;
        Ok(Placed::Moved(target))
    }

    /// Removes one installed version.
    pub fn remove_version(&self, id: &str, version: &str) -> anyhow::Result<()> {
        let _ = fs::remove_file(self.listing_path(id, version));
        let _ = fs::remove_file(self.manifest_path(id, version));
        let _ = fs::remove_file(self.signature_path(id, version));
        let dir = self.version_dir(id, version);
        if dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
        }
        Ok(())
    }

    /// [`Library::clean_leftovers`] for every game of the player.
    pub fn clean_all_leftovers(&self) {
        for entry in fs::read_dir(&self.root).into_iter().flatten().flatten() {
            if let Some(id) = entry.file_name().to_str().filter(|_| entry.path().is_dir()) {
                self.clean_leftovers(id, None);
            }
        }
    }

    /// Removes every version of a game and its leftovers. False when nothing was installed.
    pub fn uninstall(&self, id: &str) -> anyhow::Result<bool> {
        let dir = self.game_dir(id);
        if !dir.exists() {
            return Ok(false);
        }
        let had = !self.versions(id).is_empty();
        fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
        Ok(had)
    }

    /// Removes what interrupted installs of `id` left: staging folders of
    /// installs no longer running, and partial downloads of versions that
    /// are superseded (not `installing`, and not newer than the newest
    /// installed version), which would never be resumed.
    pub fn clean_leftovers(&self, id: &str, installing: Option<&str>) {
        let newest = self.versions(id).first().and_then(|v| Version::parse(v).ok());
        for entry in fs::read_dir(self.game_dir(id)).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let resumable = name
                .strip_prefix(".download-")
                .and_then(|n| n.strip_suffix(".part"))
                .or_else(|| name.strip_prefix(".chunked-").map(|n| n.trim_end_matches(".journal")));
            if let Some(version) = resumable {
                let superseded = match installing {
                    Some(target) => version != target,
                    None => match (Version::parse(version), &newest) {
                        (Ok(v), Some(newest)) => v <= *newest,
                        (Ok(_), None) => false,
                        (Err(_), _) => true,
                    },
                };
                if superseded {
                    if entry.path().is_dir() {
                        let _ = fs::remove_dir_all(entry.path());
                    } else {
                        let _ = fs::remove_file(entry.path());
                    }
                }
                continue;
            }
            if !name.starts_with(".staging-") {
                continue;
            }
            // Leave the staging folder of an install still running elsewhere.
            let pid = name.rsplit('-').next().and_then(|p| p.parse::<u32>().ok());
            let alive = pid.is_some_and(|p| {
                p != std::process::id() && Path::new(&format!("/proc/{p}")).exists()
            });
            if !alive {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}
