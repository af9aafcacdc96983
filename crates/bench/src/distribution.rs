//! Scenario: what content-addressed distribution saves.
//!
//! - **Block update.** One 100 MiB file, 1 MiB of it changed in the middle:
//!   the bytes the publish sends and the update moves.
//! - **Shared files.** A second game sharing 90% of its files with one
//!   already published: the bytes its publish sends.
//! - **Resume.** An install cut at 50% of its bytes (a proxy closes the
//!   connection) and run again: the bytes moved in total.
//! - **Memory.** 100 players installing the same game at once: the lobby's
//!   resident memory.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, ensure};
use gamestore_client::install::{OlderVersions, install};
use gamestore_client::library::Library;
use gamestore_client::publish::{Compression, publish_chunked};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::accounts::{new_developer, new_player};
use crate::generated_game::{GameSpec, generate};
use crate::lobby::Server;
use crate::transfer::{dev_key, folder_bytes};

/// Sizes for the distribution scenario.
#[derive(Debug, Clone, Serialize)]
pub struct DistributionOptions {
    /// The one big file of the block update.
    pub big_file_bytes: u64,
    /// Bytes changed inside it.
    pub change_bytes: u64,
    /// The game of the shared-files and resume parts.
    pub game_bytes: u64,
    pub game_files: usize,
    /// Concurrent installs for the memory part.
    pub installs: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DistributionResult {
    pub big_file_bytes: u64,
    pub change_bytes: u64,
    pub block_publish_sent_bytes: u64,
    pub block_update_bytes: u64,
    pub shared_game_bytes: u64,
    pub shared_fraction: f64,
    pub shared_publish_sent_bytes: u64,
    pub resume_package_bytes: u64,
    /// Bytes through the proxy before the cut, and moved by the retry.
    pub resume_cut_bytes: u64,
    pub resume_retry_bytes: u64,
    pub resume_total_ratio: f64,
    pub installs: usize,
    pub install_package_bytes: u64,
    pub rss_before_mib: Option<f64>,
    pub rss_peak_mib: Option<f64>,
    pub installs_secs: f64,
}

pub async fn run(
    server: &Server,
    tag: &str,
    options: &DistributionOptions,
    work: &Path,
) -> anyhow::Result<DistributionResult> {
    let dev = new_developer(&server.addr, &format!("{tag}ddev")).await?;
    let key = dev_key(work)?;
    let player_name = format!("{tag}dply");
    let player = new_player(&server.addr, &player_name).await?;
    let library = Library::new(&work.join("player-home"), &player_name);

    // Block update.
    crate::progress("distribution: a 1 MiB change inside a 100 MiB file");
    let id = format!("{tag}-block");
    let dir = work.join(&id);
    std::fs::create_dir_all(dir.join("bin"))?;
    write_config(&dir, &id, "1.0.0")?;
    let big = dir.join("data.bin");
    {
        let (big, size, seed) = (big.clone(), options.big_file_bytes, options.seed);
        tokio::task::spawn_blocking(move || std::fs::write(&big, noise(seed, size as usize)))
            .await??;
    }
    publish_chunked(&dev, &dir, &key, Compression::Auto, |_, _| {}).await?;
    install(&player, &library, &id, None, OlderVersions::Remove).await?;
    {
        let (big, at, size, seed) =
            (big.clone(), options.big_file_bytes / 2, options.change_bytes, options.seed + 1);
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let file = std::fs::OpenOptions::new().write(true).open(&big)?;
            std::os::unix::fs::FileExt::write_all_at(&file, &noise(seed, size as usize), at)
        })
        .await??;
    }
    write_config(&dir, &id, "1.0.1")?;
    let block_publish = publish_chunked(&dev, &dir, &key, Compression::Auto, |_, _| {}).await?;
    let block_update = install(&player, &library, &id, None, OlderVersions::Remove).await?;
    ensure!(block_update.version == "1.0.1", "the block update installed {}", block_update.version);
    std::fs::remove_dir_all(&dir)?;
    library.uninstall(&id)?;

    // Shared files: a second game with 90% of the first one's files.
    crate::progress("distribution: a second game sharing 90% of its files");
    let first_id = format!("{tag}-first");
    let spec = GameSpec {
        id: first_id.clone(),
        version: "1.0.0".into(),
        total_bytes: options.game_bytes,
        files: options.game_files,
        changed_bytes: options.game_bytes / options.game_files.max(1) as u64,
        seed: options.seed + 2,
    };
    let first = {
        let (work, spec) = (work.to_owned(), spec.clone());
        tokio::task::spawn_blocking(move || generate(&work, &spec)).await??
    };
    publish_chunked(&dev, &first.dir, &key, Compression::Auto, |_, _| {}).await?;
    let second_id = format!("{tag}-second");
    let second = work.join(&second_id);
    let shared_fraction = {
        let (from, to, id, seed) =
            (first.dir.clone(), second.clone(), second_id.clone(), options.seed);
        tokio::task::spawn_blocking(move || derive_game(&from, &to, &id, 0.1, seed)).await??
    };
    let shared = publish_chunked(&dev, &second, &key, Compression::Auto, |_, _| {}).await?;
    let shared_game_bytes = folder_bytes(&second)?;

    // Resume: an install of the first game cut at half its bytes.
    crate::progress("distribution: an install cut at 50% and resumed");
    let package = folder_bytes(&first.dir)?;
    let proxy = CutProxy::start(&server.addr, package / 2).await?;
    let cut_name = format!("{tag}dcut");
    new_player(&server.addr, &cut_name).await?;
    let cut_library = Library::new(&work.join("cut-home"), &cut_name);
    {
        let via_proxy = crate::accounts::connect(&proxy.addr).await?;
        login_as(&via_proxy, &cut_name).await?;
        let result =
            install(&via_proxy, &cut_library, &first_id, None, OlderVersions::Remove).await;
        ensure!(result.is_err(), "the install through the cutting proxy was not cut");
    }
    let cut_bytes = proxy.moved.load(Ordering::Relaxed);
    let cut_player = crate::accounts::connect(&server.addr).await?;
    login_as(&cut_player, &cut_name).await?;
    let retry = install(&cut_player, &cut_library, &first_id, None, OlderVersions::Remove).await?;

    // Memory: 100 concurrent installs of the first game.
    crate::progress(&format!("distribution: {} concurrent installs", options.installs));
    let rss_before = server.rss_kib();
    let mut players = Vec::new();
    for i in 0..options.installs {
        let name = format!("{tag}m{i}");
        players.push((new_player(&server.addr, &name).await?, name));
    }
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (peak, pid) = (peak.clone(), server.pid());
        tokio::spawn(async move {
            loop {
                if let Some(kib) = pid.and_then(|p| crate::lobby::status_kib(p, "VmRSS:")) {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
    };
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for (client, name) in players {
        let home = work.join("many").join(&name);
        let id = first_id.clone();
        tasks.push(tokio::spawn(async move {
            let library = Library::new(&home, &name);
            let outcome = install(&client, &library, &id, None, OlderVersions::Remove).await;
            let _ = std::fs::remove_dir_all(&home);
            outcome.map(|_| ())
        }));
    }
    let mut failures = 0;
    for task in tasks {
        // A panic and an install that returned an error both count.
        if !matches!(task.await, Ok(Ok(()))) {
            failures += 1;
        }
    }
    let installs_secs = started.elapsed().as_secs_f64();
    sampler.abort();
    ensure!(failures == 0, "{failures} of the concurrent installs failed");
    let peak = peak.load(Ordering::Relaxed);
    let mib = |kib: u64| kib as f64 / 1024.0;

    Ok(DistributionResult {
        big_file_bytes: options.big_file_bytes,
        change_bytes: options.change_bytes,
        block_publish_sent_bytes: block_publish.sent_bytes,
        block_update_bytes: block_update.bytes_transferred,
        shared_game_bytes,
        shared_fraction,
        shared_publish_sent_bytes: shared.sent_bytes,
        resume_package_bytes: package,
        resume_cut_bytes: cut_bytes,
        resume_retry_bytes: retry.bytes_transferred,
        resume_total_ratio: (cut_bytes + retry.bytes_transferred) as f64 / package.max(1) as f64,
        installs: options.installs,
        install_package_bytes: package,
        rss_before_mib: rss_before.map(mib),
        rss_peak_mib: (peak > 0).then(|| mib(peak)),
        installs_secs,
    })
}

async fn login_as(client: &gamestore_client::LobbyClient, name: &str) -> anyhow::Result<()> {
    client
        .call(gamestore_protocol::Login::new(name, crate::accounts::PASSWORD))
        .await
        .context("login")?;
    Ok(())
}

fn write_config(dir: &Path, id: &str, version: &str) -> anyhow::Result<()> {
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
    std::fs::create_dir_all(dir.join("bin"))?;
    for script in ["server.sh", "client.sh"] {
        let path = dir.join("bin").join(script);
        std::fs::write(&path, "#!/bin/sh\nexit 0\n")?;
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    }
    std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&manifest)?)?;
    Ok(())
}

/// Copies the game `from` to `to` as game `id`, rewriting about `fraction`
/// of its data bytes (whole files) with other bytes; returns the fraction of
/// bytes left shared.
fn derive_game(from: &Path, to: &Path, id: &str, fraction: f64, seed: u64) -> anyhow::Result<f64> {
    let files = gamestore_package::package_files(from)?;
    let total: u64 = files.iter().map(|f| f.size).sum();
    let mut changed = 0u64;
    for (i, f) in files.iter().enumerate() {
        let target = to.join(&f.path);
        std::fs::create_dir_all(target.parent().expect("file has a parent"))?;
        let rewrite =
            f.path.starts_with("data/") && (changed as f64) < fraction * total as f64 && i % 3 == 0;
        if rewrite {
            std::fs::write(&target, noise(seed + i as u64, f.size as usize))?;
            changed += f.size;
        } else {
            std::fs::copy(from.join(&f.path), &target)?;
        }
    }
    write_config(to, id, "1.0.0")?;
    Ok(1.0 - changed as f64 / total.max(1) as f64)
}

/// Incompressible bytes.
fn noise(seed: u64, size: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(size);
    out
}

/// A loopback proxy that closes its connection once `limit` bytes went
/// from the lobby to the client.
struct CutProxy {
    addr: String,
    moved: Arc<AtomicU64>,
}

impl CutProxy {
    async fn start(target: &str, limit: u64) -> anyhow::Result<CutProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?.to_string();
        let moved = Arc::new(AtomicU64::new(0));
        let (counter, target) = (moved.clone(), target.to_owned());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&target).await else { continue };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut cr, &mut sw).await;
                    });
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut sent = 0u64;
                    while sent < limit {
                        let n = match sr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n.min((limit - sent) as usize),
                        };
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        sent += n as u64;
                        counter.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    up.abort();
                    let _ = cw.shutdown().await;
                });
            }
        });
        Ok(CutProxy { addr, moved })
    }
}
