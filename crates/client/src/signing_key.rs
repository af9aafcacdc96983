//! The developer's signing key: `<home>/signing_key`.
//!
//! An Ed25519 key pair made on first use from the system's random source;
//! the file holds the 32 secret bytes as hex, mode 0600, and never leaves
//! the machine (the lobby learns the public key only). A rotation writes
//! the new key beside it, and only once the lobby accepted the statement
//! moves the old file aside as `signing_key.old-<unix time>`.

use std::fs;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use gamestore_package::chunked::{SigningKey, VerifyingKey};

/// The key file of a developer home.
#[derive(Debug, Clone)]
pub struct KeyFile {
    path: PathBuf,
}

impl KeyFile {
    pub fn in_home(home: &Path) -> KeyFile {
        KeyFile { path: home.join("signing_key") }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key, made and saved first if there is none yet.
    pub fn load_or_create(&self) -> anyhow::Result<SigningKey> {
        match self.load()? {
            Some(key) => Ok(key),
            None => {
                let key = generate()?;
                write_key(&self.path, &key)?;
                Ok(key)
            }
        }
    }

    /// The key, if the file exists.
    pub fn load(&self) -> anyhow::Result<Option<SigningKey>> {
        read_key(&self.path)
    }

    /// Where a rotation keeps the new key until the lobby accepts it.
    pub fn pending_path(&self) -> PathBuf {
        self.path.with_extension("new")
    }

    /// Makes and saves a new key as pending (see [`KeyFile::pending_path`]).
    pub fn create_pending(&self) -> anyhow::Result<SigningKey> {
        let key = generate()?;
        let _ = fs::remove_file(self.pending_path());
        write_key(&self.pending_path(), &key)?;
        Ok(key)
    }

    /// The pending key of a rotation that did not finish, if any.
    pub fn load_pending(&self) -> anyhow::Result<Option<SigningKey>> {
        read_key(&self.pending_path())
    }

    /// The lobby accepted the rotation: the pending key becomes the key,
    /// the old one is kept as `signing_key.old-<time>`.
    pub fn promote_pending(&self, now: u64) -> anyhow::Result<PathBuf> {
        let old = self.path.with_file_name(format!("signing_key.old-{now}"));
        fs::rename(&self.path, &old)
            .with_context(|| format!("cannot keep the old key as {}", old.display()))?;
        fs::rename(self.pending_path(), &self.path)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        Ok(old)
    }
}

fn generate() -> anyhow::Result<SigningKey> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no random source: {e}"))?;
    Ok(SigningKey::from_bytes(&secret))
}

fn read_key(path: &Path) -> anyhow::Result<Option<SigningKey>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut secret = [0u8; 32];
    if hex::decode_to_slice(text.trim(), &mut secret).is_err() {
        bail!("{} is damaged: it does not hold a signing key", path.display());
    }
    Ok(Some(SigningKey::from_bytes(&secret)))
}

fn write_key(path: &Path, key: &SigningKey) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    crate::home::write_private(path, format!("{}\n", hex::encode(key.to_bytes())).as_bytes())
}

/// The public half.
pub fn public(key: &SigningKey) -> VerifyingKey {
    key.verifying_key()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_key_is_made_once_private_and_rotations_keep_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = KeyFile::in_home(dir.path());
        assert!(file.load().unwrap().is_none());
        let first = file.load_or_create().unwrap();
        let mode = fs::metadata(file.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(file.load_or_create().unwrap().to_bytes(), first.to_bytes());

        let next = file.create_pending().unwrap();
        assert_ne!(next.to_bytes(), first.to_bytes());
        assert_eq!(file.load().unwrap().unwrap().to_bytes(), first.to_bytes(), "not yet");
        let old = file.promote_pending(1234).unwrap();
        assert!(old.ends_with("signing_key.old-1234"));
        assert_eq!(read_key(&old).unwrap().unwrap().to_bytes(), first.to_bytes());
        assert_eq!(file.load().unwrap().unwrap().to_bytes(), next.to_bytes());

        fs::write(file.path(), "not a key").unwrap();
        assert!(file.load().unwrap_err().to_string().contains("damaged"));
    }
}
