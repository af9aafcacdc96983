//! The games a player has installed, on disk.
//!
//! ```text
//! <home>/games/<player>/<id>/<version>/          an installed version, exactly the package's files
//! <home>/games/<player>/<id>/<version>.files.json its file listing (sizes and SHA-256)
//! <home>/games/<player>/<id>/.staging-…          an install in progress
//! <home>/games/<player>/<id>/.download-<v>.part  a zip download that can be resumed
//! ```
//!
//! Each player on a machine has their own folder, so two players may have
//! different versions. **Invariant:** a version folder only appears, by
//! rename, once every file in it has been verified, and its listing is
//! written after it; a version counts as installed only when both exist.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use gamestore_package::FileList;
use semver::Version;

/// One player's installed games.
#[derive(Debug, Clone)]
pub struct Library {
    root: PathBuf,
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
        Library { root: home.join("games").join(player) }
    }

    /// The launcher plugins of `player` under the client home `home`
    /// (`<home>/plugins/<player>/<id>/<version>/`), kept exactly as games are.
    pub fn plugins(home: &Path, player: &str) -> Library {
        Library { root: home.join("plugins").join(player) }
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
            .filter(|name| !name.starts_with('.') && !name.ends_with(".json"))
            .filter_map(|name| Version::parse(&name).ok())
            .filter(|v| self.listing(id, &v.to_string()).is_some())
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
        let target = self.version_dir(id, version);
        if target.exists() {
            // A folder without a listing is a leftover from a crash; a complete
            // one was installed meanwhile by another process of this player.
            if self.listing(id, version).is_some() {
                fs::remove_dir_all(staging)?;
                return Ok(target);
            }
            fs::remove_dir_all(&target)?;
        }
        fs::rename(staging, &target)
            .with_context(|| format!("cannot move the game into {}", target.display()))?;
        let listing_path = self.listing_path(id, version);
        let tmp = listing_path.with_extension("json.tmp");
        fs::write(&tmp, serde_json::to_vec(listing)?)?;
        fs::rename(&tmp, &listing_path)?;
        Ok(target)
    }

    /// Removes one installed version.
    pub fn remove_version(&self, id: &str, version: &str) -> anyhow::Result<()> {
        let _ = fs::remove_file(self.listing_path(id, version));
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
            if let Some(version) =
                name.strip_prefix(".download-").and_then(|n| n.strip_suffix(".part"))
            {
                let superseded = match installing {
                    Some(target) => version != target,
                    None => match (Version::parse(version), &newest) {
                        (Ok(v), Some(newest)) => v <= *newest,
                        (Ok(_), None) => false,
                        (Err(_), _) => true,
                    },
                };
                if superseded {
                    let _ = fs::remove_file(entry.path());
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
