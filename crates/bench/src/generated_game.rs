//! A generated game folder of a chosen size: a valid manifest, two tiny
//! scripts, and data files of mixed sizes with deterministic content.
//!
//! Sizes are spread log-uniformly from a few KiB to a few MiB (like the
//! assets of a real game) and scaled to the requested total. One file in four
//! is text-like and compresses well; the rest are random bytes, like
//! already-compressed images and audio. One file has exactly the size the
//! delta scenario changes, so an update can replace just it.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GameSpec {
    pub id: String,
    pub version: String,
    /// Bytes of data files in all.
    pub total_bytes: u64,
    /// Number of data files.
    pub files: usize,
    /// Size of the file the delta scenario changes.
    pub changed_bytes: u64,
    pub seed: u64,
}

/// A generated game on disk.
#[derive(Debug, Clone)]
pub struct GeneratedGame {
    pub dir: PathBuf,
    /// Relative path of the file [`GeneratedGame::change_one_file`] rewrites.
    pub changed_file: String,
    pub changed_bytes: u64,
    /// Bytes of data files in all.
    pub data_bytes: u64,
    pub files: usize,
}

/// Writes the game into `parent/<id>` (replacing what is there).
pub fn generate(parent: &Path, spec: &GameSpec) -> anyhow::Result<GeneratedGame> {
    let dir = parent.join(&spec.id);
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(dir.join("bin"))?;
    write_manifest(&dir, &spec.id, &spec.version)?;
    for script in ["server.sh", "client.sh"] {
        let path = dir.join("bin").join(script);
        fs::write(&path, "#!/bin/sh\necho \"$0 $*\"\n")?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
    }

    let sizes = file_sizes(spec);
    let mut rng = Rng::new(spec.seed);
    let mut changed_file = String::new();
    for (i, size) in sizes.iter().enumerate() {
        let text = i % 4 == 1;
        let rel =
            format!("data/pack{:02}/asset{i:04}.{}", i % 16, if text { "txt" } else { "bin" });
        if i == 0 {
            changed_file = rel.clone();
        }
        let path = dir.join(&rel);
        fs::create_dir_all(path.parent().expect("file has a parent"))?;
        write_file(&path, *size, text, &mut rng)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(GeneratedGame {
        dir,
        changed_file,
        changed_bytes: sizes[0],
        data_bytes: sizes.iter().sum(),
        files: sizes.len(),
    })
}

impl GeneratedGame {
    /// Rewrites the delta file with other bytes of the same size and sets
    /// the manifest's version, as a developer's small update would.
    pub fn change_one_file(&self, version: &str, seed: u64) -> anyhow::Result<()> {
        let id = self.dir.file_name().and_then(|n| n.to_str()).context("game folder name")?;
        write_manifest(&self.dir, id, version)?;
        write_file(
            &self.dir.join(&self.changed_file),
            self.changed_bytes,
            false,
            &mut Rng::new(seed),
        )
    }
}

fn write_manifest(dir: &Path, id: &str, version: &str) -> anyhow::Result<()> {
    let manifest = serde_json::json!({
        "id": id,
        "name": format!("Bench {id}"),
        "version": version,
        "description": "A generated game for the benchmarks.",
        "kind": "cli",
        "min_players": 1,
        "max_players": 16,
        "server": {"command": ["bin/server.sh", "{port}", "{players}"]},
        "client": {"command": ["bin/client.sh", "{host}", "{port}", "{player}"]},
    });
    fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&manifest)?)?;
    Ok(())
}

/// The data files' sizes: the changed file first, then log-uniform sizes
/// scaled so that all add up to the total.
fn file_sizes(spec: &GameSpec) -> Vec<u64> {
    let files = spec.files.max(1);
    let changed = spec.changed_bytes.min(spec.total_bytes).max(1);
    let mut rng = Rng::new(spec.seed ^ 0x5eed);
    let (lo, hi) = ((4.0f64 * 1024.0).ln(), (8.0f64 * 1024.0 * 1024.0).ln());
    let raw: Vec<f64> = (1..files).map(|_| (lo + rng.unit() * (hi - lo)).exp()).collect();
    let rest = spec.total_bytes.saturating_sub(changed);
    let scale = rest as f64 / raw.iter().sum::<f64>().max(1.0);
    let mut sizes = vec![changed];
    sizes.extend(raw.iter().map(|r| ((r * scale) as u64).max(1)));
    // Rounding leaves a few bytes over or under: settle them on the largest file.
    let sum: u64 = sizes.iter().sum();
    if files > 1 {
        let largest = (1..sizes.len()).max_by_key(|&i| sizes[i]).expect("at least two files");
        sizes[largest] = (sizes[largest] + spec.total_bytes.max(sum)).saturating_sub(sum).max(1);
    }
    sizes
}

fn write_file(path: &Path, size: u64, text: bool, rng: &mut Rng) -> anyhow::Result<()> {
    const WORDS: &[&str] = &[
        "sprite", "level", "enemy", "player", "score", "tile", "music", "door", "key", "boss",
        "coin", "jump", "shield", "potion", "map", "quest",
    ];
    let mut out = std::io::BufWriter::with_capacity(1 << 20, fs::File::create(path)?);
    let mut left = size;
    let mut buf = Vec::with_capacity(1 << 16);
    while left > 0 {
        buf.clear();
        if text {
            while buf.len() < 1 << 16 {
                let r = rng.next();
                buf.extend_from_slice(WORDS[(r % WORDS.len() as u64) as usize].as_bytes());
                buf.extend_from_slice(if r.is_multiple_of(11) { b"\n" } else { b" " });
                if r.is_multiple_of(7) {
                    buf.extend_from_slice((r >> 40).to_string().as_bytes());
                    buf.push(b' ');
                }
            }
        } else {
            while buf.len() < 1 << 16 {
                buf.extend_from_slice(&rng.next().to_le_bytes());
            }
        }
        let take = (left as usize).min(buf.len());
        out.write_all(&buf[..take])?;
        left -= take as u64;
    }
    out.flush()?;
    Ok(())
}

/// xorshift64*: fast, deterministic, good enough for test data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_add_up_and_the_changed_file_comes_first() {
        let spec = GameSpec {
            id: "g".into(),
            version: "1.0.0".into(),
            total_bytes: 200_000_000,
            files: 300,
            changed_bytes: 1 << 20,
            seed: 7,
        };
        let sizes = file_sizes(&spec);
        assert_eq!(sizes.len(), 300);
        assert_eq!(sizes.iter().sum::<u64>(), 200_000_000);
        assert_eq!(sizes[0], 1 << 20);
        assert!(sizes.iter().all(|&s| s > 0));
        assert_eq!(sizes, file_sizes(&spec), "deterministic");
    }

    #[test]
    fn generated_folder_is_a_valid_package() {
        let tmp = tempfile::tempdir().unwrap();
        let spec = GameSpec {
            id: "gen".into(),
            version: "1.0.0".into(),
            total_bytes: 300_000,
            files: 12,
            changed_bytes: 50_000,
            seed: 1,
        };
        let game = generate(tmp.path(), &spec).unwrap();
        gamestore_package::Manifest::load_dir(&game.dir).unwrap();
        let list = gamestore_package::FileList::scan(&game.dir).unwrap();
        let before = list.get(&game.changed_file).unwrap().clone();
        assert_eq!(before.size, 50_000);
        game.change_one_file("1.0.1", 99).unwrap();
        let after = gamestore_package::FileList::scan(&game.dir).unwrap();
        let changed = after.get(&game.changed_file).unwrap();
        assert_eq!(changed.size, before.size);
        assert_ne!(changed.sha256, before.sha256);
        let manifest = gamestore_package::Manifest::load_dir(&game.dir).unwrap();
        assert_eq!(manifest.version.to_string(), "1.0.1");
    }
}
