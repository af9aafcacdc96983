//! The launcher's trust in developer keys: `<home>/known_keys`.
//!
//! One line per game: `GAME_ID KEY_HEX HIGHEST_VERSION`. The first install
//! of a signed game pins the key that signed it (trust on first use, like
//! ssh's `known_hosts`). Later versions must be signed by the pinned key, or
//! by a key reached from it through rotation statements each signed by the
//! key before it; the pin then moves. Once a key is pinned an unsigned
//! version is refused, and installing "the latest" refuses a version below
//! the highest one verified (a downgrade); naming an older version
//! explicitly is allowed, with a note.
//!
//! The rotation statements' signatures are checked by the caller (see
//! `gamestore_package::chunked`); this module gets the verified chain and
//! decides.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use semver::Version;

/// A verified rotation: `old_key` signed a statement naming `new_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub old_key: String,
    pub new_key: String,
}

/// What pinned trust a game has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// Hex of the Ed25519 public key.
    pub key: String,
    /// The highest version verified with this pin.
    pub highest: Version,
}

/// How a version to be installed is to be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// "The latest": a version below the highest verified is a downgrade.
    Latest,
    /// A version named by the player or a room: older is allowed.
    Explicit,
}

/// What the store accepted, for the notes shown to the player.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No key was pinned: this one now is.
    FirstUse { key: String },
    /// Signed by the pinned key.
    Pinned,
    /// Signed by a key the pinned one rotated to: the pin moves.
    Rotated { from: String, to: String },
    /// Signed by a key that the pinned one rotated away from: an old
    /// version, signed before the rotation.
    Earlier { key: String },
    /// Unsigned, and nothing is pinned.
    Unsigned,
}

/// Why a version is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "the developer key of {game} changed without a rotation signed by the old key: pinned {pinned}, this version is signed by {offered}; nothing was installed (if the developer really lost their key, remove the line for {game} from {file})"
    )]
    KeyChanged { game: String, pinned: String, offered: String, file: String },
    #[error(
        "{game} {version} is not signed, but versions of {game} were signed by {pinned}; nothing was installed"
    )]
    Unsigned { game: String, version: String, pinned: String },
    #[error(
        "{game} {version} is older than {highest}, the highest version verified here: the lobby offers a downgrade; nothing was installed (`install {game} --version {version}` installs it on purpose)"
    )]
    Downgrade { game: String, version: String, highest: String },
}

/// The `known_keys` file.
#[derive(Debug, Clone)]
pub struct KnownKeys {
    path: PathBuf,
    pins: BTreeMap<String, Pin>,
}

impl KnownKeys {
    /// The file in the client home `home`.
    pub fn path_in(home: &Path) -> PathBuf {
        home.join("known_keys")
    }

    /// Reads `path`; a missing file is an empty store. Lines that do not
    /// parse are an error: a damaged trust store must not silently forget.
    pub fn load(path: &Path) -> anyhow::Result<KnownKeys> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let mut pins = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parsed = (|| {
                let mut parts = line.split_whitespace();
                let id = parts.next()?;
                let key = parts.next()?;
                let highest = Version::parse(parts.next()?).ok()?;
                let valid_key = key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit());
                (parts.next().is_none() && valid_key)
                    .then(|| (id.to_owned(), Pin { key: key.to_ascii_lowercase(), highest }))
            })();
            let Some((id, pin)) = parsed else {
                anyhow::bail!("{} line {} is damaged: {line:?}", path.display(), n + 1);
            };
            pins.insert(id, pin);
        }
        Ok(KnownKeys { path: path.to_owned(), pins })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pin of `game`, if any.
    pub fn get(&self, game: &str) -> Option<&Pin> {
        self.pins.get(game)
    }

    /// Decides whether `version` of `game`, signed by `key` (empty when
    /// unsigned), may be installed. `chain` is the verified rotation chain
    /// the lobby sent, oldest first. Changes nothing: call
    /// [`KnownKeys::record`] once the install succeeded.
    pub fn check(
        &self,
        game: &str,
        version: &Version,
        key: &str,
        chain: &[Rotation],
        request: Request,
    ) -> Result<Verdict, Refusal> {
        let Some(pin) = self.pins.get(game) else {
            return Ok(if key.is_empty() {
                Verdict::Unsigned
            } else {
                Verdict::FirstUse { key: key.to_owned() }
            });
        };
        if request == Request::Latest && *version < pin.highest {
            return Err(Refusal::Downgrade {
                game: game.to_owned(),
                version: version.to_string(),
                highest: pin.highest.to_string(),
            });
        }
        if key.is_empty() {
            return Err(Refusal::Unsigned {
                game: game.to_owned(),
                version: version.to_string(),
                pinned: fingerprint_of_hex(&pin.key),
            });
        }
        if key == pin.key {
            return Ok(Verdict::Pinned);
        }
        if reaches(chain, &pin.key, key) {
            return Ok(Verdict::Rotated { from: pin.key.clone(), to: key.to_owned() });
        }
        // A key rotated away from may still vouch for the versions it signed
        // before the rotation, never for newer ones (it may be why the
        // developer rotated).
        if *version <= pin.highest && reaches(chain, key, &pin.key) {
            return Ok(Verdict::Earlier { key: key.to_owned() });
        }
        Err(Refusal::KeyChanged {
            game: game.to_owned(),
            pinned: fingerprint_of_hex(&pin.key),
            offered: fingerprint_of_hex(key),
            file: self.path.display().to_string(),
        })
    }

    /// Records an installed, verified version: pins its key (unless it was
    /// an earlier key) and raises the highest version. Unsigned versions
    /// record nothing.
    pub fn record(&mut self, game: &str, version: &Version, verdict: &Verdict) {
        let key = match verdict {
            Verdict::Unsigned => return,
            Verdict::FirstUse { key } | Verdict::Rotated { to: key, .. } => key.clone(),
            Verdict::Pinned | Verdict::Earlier { .. } => match self.pins.get(game) {
                Some(pin) => pin.key.clone(),
                None => return,
            },
        };
        let highest = match self.pins.get(game) {
            Some(pin) if pin.highest > *version => pin.highest.clone(),
            _ => version.clone(),
        };
        self.pins.insert(game.to_owned(), Pin { key, highest });
    }

    /// Writes the store atomically.
    pub fn save(&self) -> anyhow::Result<()> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let tmp = self.path.with_extension("tmp");
        let mut file =
            fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        for (id, pin) in &self.pins {
            writeln!(file, "{id} {} {}", pin.key, pin.highest)?;
        }
        file.sync_all()?;
        fs::rename(&tmp, &self.path)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        Ok(())
    }
}

/// True when `chain` leads from `from` to `to` by consecutive rotations.
fn reaches(chain: &[Rotation], from: &str, to: &str) -> bool {
    let Some(start) = chain.iter().position(|r| r.old_key == from) else {
        return false;
    };
    let mut at = from;
    for rotation in &chain[start..] {
        if rotation.old_key != at {
            return false;
        }
        at = &rotation.new_key;
        if at == to {
            return true;
        }
    }
    false
}

/// `SHA256:<hex>` of a key given as hex, or the hex itself if it is not one.
pub fn fingerprint_of_hex(key: &str) -> String {
    use sha2::Digest;
    match hex::decode(key) {
        Ok(bytes) if bytes.len() == 32 => {
            format!("SHA256:{}", hex::encode(sha2::Sha256::digest(&bytes)))
        }
        _ => key.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> String {
        hex::encode([n; 32])
    }

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    fn rot(a: u8, b: u8) -> Rotation {
        Rotation { old_key: key(a), new_key: key(b) }
    }

    fn store() -> (tempfile::TempDir, KnownKeys) {
        let dir = tempfile::tempdir().unwrap();
        let keys = KnownKeys::load(&KnownKeys::path_in(dir.path())).unwrap();
        (dir, keys)
    }

    /// Installs (check + record) and returns the verdict or the refusal.
    fn install(
        keys: &mut KnownKeys,
        version: &str,
        signer: &str,
        chain: &[Rotation],
        request: Request,
    ) -> Result<Verdict, Refusal> {
        let verdict = keys.check("chess", &v(version), signer, chain, request)?;
        keys.record("chess", &v(version), &verdict);
        Ok(verdict)
    }

    #[test]
    fn first_use_pins_and_later_versions_need_the_pinned_key() {
        let (_dir, mut keys) = store();
        assert_eq!(
            install(&mut keys, "1.0.0", &key(1), &[], Request::Latest),
            Ok(Verdict::FirstUse { key: key(1) })
        );
        assert_eq!(install(&mut keys, "1.1.0", &key(1), &[], Request::Latest), Ok(Verdict::Pinned));
        let refused = install(&mut keys, "1.2.0", &key(2), &[], Request::Latest).unwrap_err();
        assert!(matches!(refused, Refusal::KeyChanged { .. }), "{refused}");
        let text = refused.to_string();
        assert!(text.contains("without a rotation signed by the old key"), "{text}");
        assert!(text.contains(&fingerprint_of_hex(&key(1))), "{text}");
        assert!(text.contains(&fingerprint_of_hex(&key(2))), "{text}");
        assert_eq!(keys.get("chess").unwrap().key, key(1), "a refusal moves nothing");
    }

    #[test]
    fn rotation_chains_move_the_pin_only_when_they_link_up() {
        let cases: &[(&[Rotation], u8, bool)] = &[
            (&[rot(1, 2)], 2, true),
            (&[rot(1, 2), rot(2, 3)], 3, true),
            (&[rot(0, 1), rot(1, 2), rot(2, 3)], 3, true),
            (&[rot(1, 2), rot(4, 3)], 3, false),
            (&[rot(5, 3)], 3, false),
            (&[rot(2, 1)], 2, false),
            (&[], 2, false),
        ];
        for (chain, signer, accepted) in cases {
            let (_dir, mut keys) = store();
            install(&mut keys, "1.0.0", &key(1), &[], Request::Latest).unwrap();
            let result = install(&mut keys, "2.0.0", &key(*signer), chain, Request::Latest);
            assert_eq!(result.is_ok(), *accepted, "{chain:?} to {signer}: {result:?}");
            let pinned = if *accepted { key(*signer) } else { key(1) };
            assert_eq!(keys.get("chess").unwrap().key, pinned, "{chain:?}");
        }
    }

    #[test]
    fn a_version_signed_before_a_rotation_stays_installable_by_name() {
        let (_dir, mut keys) = store();
        install(&mut keys, "1.0.0", &key(1), &[], Request::Latest).unwrap();
        install(&mut keys, "2.0.0", &key(2), &[rot(1, 2)], Request::Latest).unwrap();
        assert_eq!(
            install(&mut keys, "1.0.0", &key(1), &[rot(1, 2)], Request::Explicit),
            Ok(Verdict::Earlier { key: key(1) })
        );
        assert_eq!(keys.get("chess").unwrap(), &Pin { key: key(2), highest: v("2.0.0") });
    }

    #[test]
    fn unsigned_versions_only_while_nothing_is_pinned() {
        let (_dir, mut keys) = store();
        assert_eq!(install(&mut keys, "1.0.0", "", &[], Request::Latest), Ok(Verdict::Unsigned));
        assert!(keys.get("chess").is_none());
        install(&mut keys, "1.1.0", &key(1), &[], Request::Latest).unwrap();
        let refused = install(&mut keys, "1.2.0", "", &[], Request::Latest).unwrap_err();
        assert!(matches!(refused, Refusal::Unsigned { .. }), "{refused}");
    }

    #[test]
    fn downgrades_are_refused_for_the_latest_and_allowed_by_name() {
        let (_dir, mut keys) = store();
        install(&mut keys, "2.0.0", &key(1), &[], Request::Latest).unwrap();
        let refused = install(&mut keys, "1.5.0", &key(1), &[], Request::Latest).unwrap_err();
        assert!(matches!(refused, Refusal::Downgrade { .. }), "{refused}");
        assert_eq!(
            install(&mut keys, "1.5.0", &key(1), &[], Request::Explicit),
            Ok(Verdict::Pinned)
        );
        assert_eq!(keys.get("chess").unwrap().highest, v("2.0.0"), "the highest stays");
        assert_eq!(install(&mut keys, "2.0.0", &key(1), &[], Request::Latest), Ok(Verdict::Pinned));
    }

    #[test]
    fn the_file_round_trips_and_damage_is_an_error() {
        let (dir, mut keys) = store();
        install(&mut keys, "1.0.0", &key(1), &[], Request::Latest).unwrap();
        keys.record("other", &v("0.3.0"), &Verdict::FirstUse { key: key(9) });
        keys.save().unwrap();
        let again = KnownKeys::load(keys.path()).unwrap();
        assert_eq!(again.get("chess"), keys.get("chess"));
        assert_eq!(again.get("other"), Some(&Pin { key: key(9), highest: v("0.3.0") }));
        let text = fs::read_to_string(keys.path()).unwrap();
        assert_eq!(text.lines().next(), Some(format!("chess {} 1.0.0", key(1)).as_str()));

        for damaged in ["chess zz 1.0.0\n", "chess\n", &format!("chess {} nope\n", key(1))] {
            fs::write(keys.path(), damaged).unwrap();
            let err = KnownKeys::load(keys.path()).unwrap_err().to_string();
            assert!(err.contains("damaged"), "{damaged:?}: {err}");
        }
        drop(dir);
    }
}
