//! The client's home folder: the saved session (and, for players, the
//! installed games).
//!
//! The session file holds a secret token, so it is written with mode 0600
//! (readable by its owner only) and replaced atomically.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use gamestore_protocol::Role;
use serde::{Deserialize, Serialize};

/// A session saved by `login`, used by every later command.
#[derive(Clone, Serialize, Deserialize)]
pub struct SavedSession {
    /// The lobby it belongs to, as given to `--server`.
    pub server: String,
    pub user: String,
    pub role: Role,
    pub token: String,
    pub expires_at: i64,
}

impl std::fmt::Debug for SavedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavedSession")
            .field("server", &self.server)
            .field("user", &self.user)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// A client's home folder.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// `dir`, or the per-user default for `app` ("developer" or "player"):
    /// `$XDG_DATA_HOME/gamestore/<app>`, else `~/.local/share/gamestore/<app>`.
    ///
    /// The path is made absolute here, against the working directory, so a
    /// relative `--home` still names the same folder once a game client is
    /// started in its installed folder.
    pub fn resolve(dir: Option<&Path>, app: &str) -> anyhow::Result<Home> {
        let root = match dir {
            Some(dir) => dir.to_owned(),
            None => {
                let base = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
                    Some(data) => PathBuf::from(data),
                    None => {
                        let home = std::env::var_os("HOME").context(
                            "neither --home, GAMESTORE_HOME, XDG_DATA_HOME nor HOME is set",
                        )?;
                        PathBuf::from(home).join(".local/share")
                    }
                };
                base.join("gamestore").join(app)
            }
        };
        let root = std::path::absolute(&root)
            .with_context(|| format!("cannot resolve the home folder {}", root.display()))?;
        Ok(Home { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn session_path(&self, role: Role) -> PathBuf {
        self.root.join(format!("session-{role}.json"))
    }

    /// The saved session for `role`, if any.
    pub fn load_session(&self, role: Role) -> anyhow::Result<Option<SavedSession>> {
        let path = self.session_path(role);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .with_context(|| format!("{} is damaged; log in again", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Saves `session`, readable by its owner only.
    pub fn save_session(&self, session: &SavedSession) -> anyhow::Result<()> {
        fs::create_dir_all(&self.root)
            .with_context(|| format!("cannot create {}", self.root.display()))?;
        let path = self.session_path(session.role);
        write_private(&path, &serde_json::to_vec_pretty(session)?)
    }

    /// Forgets the saved session for `role`.
    pub fn clear_session(&self, role: Role) -> anyhow::Result<()> {
        match fs::remove_file(self.session_path(role)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

/// Writes `bytes` to `path` readable by its owner only (0600, whatever the
/// umask), durably and atomically: a temporary file beside it, synced, then
/// renamed over it. A reader sees the old contents or the new, never a mix.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    // The mode given at creation is masked by the umask; make sure.
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
