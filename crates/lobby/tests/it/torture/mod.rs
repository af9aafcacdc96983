//! The torture suite: the real lobby under hostile and faulty load, each
//! run asserting what a user would check afterwards (the lobby alive, other
//! clients served, memory and descriptors back near their baseline, nothing
//! acknowledged lost, nothing half-visible, no leaked rooms or processes).
//!
//! Counts default to a size that proves the point in a few minutes on two
//! cores; `GAMESTORE_TORTURE_SCALE=N` multiplies them for longer runs. Each
//! test prints one `torture:` line with its figures (docs/RELIABILITY.md).

mod churn;
mod fuzz;
mod kills;

use std::fs;
use std::time::{Duration, Instant};

/// `count` times the suite's multiplier (`GAMESTORE_TORTURE_SCALE`, default
/// 1; a fraction such as 0.1 makes a quick local run).
fn scaled(count: usize) -> usize {
    let scale: f64 =
        std::env::var("GAMESTORE_TORTURE_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    ((count as f64 * scale) as usize).max(1)
}

/// Seed for the suite's random choices: `GAMESTORE_TORTURE_SEED`, else the
/// clock (printed, so a failing run can be replayed).
fn seed() -> u64 {
    std::env::var("GAMESTORE_TORTURE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
            as u64
    })
}

/// What the kernel says about a process: resident memory and open descriptors.
#[derive(Debug, Clone, Copy)]
struct ProcessUsage {
    rss_kib: u64,
    fds: usize,
}

fn usage(pid: u32) -> ProcessUsage {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).expect("fd list").count();
    ProcessUsage { rss_kib, fds }
}

/// Every live descendant of `pid` (game servers, sandboxes, their children).
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents = std::collections::HashMap::<u32, Vec<u32>>::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{child}/stat")) else { continue };
        // pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let ppid: u32 = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if state != "Z" {
            parents.entry(ppid).or_default().push(child);
        }
    }
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for &c in parents.get(&p).map(Vec::as_slice).unwrap_or(&[]) {
            out.push(c);
            todo.push(c);
        }
    }
    out
}

/// Polls until `condition` holds or `limit` passes; returns whether it held.
fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Lobby flags that keep the suite fast: cheap password hashing (the
/// credential limits themselves are tested elsewhere at full cost).
fn fast_lobby_args() -> Vec<String> {
    ["--password-hash-kib", "64", "--password-hash-passes", "1"].map(String::from).to_vec()
}

/// Lobby flags that turn off the grace periods (a dropped player's seat, an
/// emptied room's game server), for tests about leaks rather than grace.
fn no_grace_args() -> Vec<String> {
    ["--seat-grace", "0", "--abandoned-match-grace-secs", "0"].map(String::from).to_vec()
}

/// Lobby flags that lift the fair-use limits (every client of a test comes
/// from 127.0.0.1), for tests about leaks rather than those limits.
fn no_fair_use_limits() -> Vec<String> {
    [
        "--registrations-per-addr",
        "0",
        "--match-starts-per-player",
        "0",
        "--match-starts-per-room",
        "0",
        "--game-servers-per-player",
        "0",
    ]
    .map(String::from)
    .to_vec()
}
