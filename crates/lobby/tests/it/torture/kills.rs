//! kill -9 of the lobby at random points during publishes, installs and
//! matches: after each restart nothing acknowledged is lost, nothing is
//! half-visible (a listed version is complete, an installed version is
//! whole), no game server outlives its lobby, and matches cut short are
//! recorded as aborted.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use gamestore_protocol::{Event, GameStartNotify, Login, MatchHistory, Register, RoomCreate};
use gamestore_testkit::{
    ChildGuard, Cli, LobbyOptions, RawConn, TestLobby, fixtures, game_package,
};
use serde_json::Value;

use super::{eventually, fast_lobby_args, scaled, seed};

const PASSWORD: &str = "correct horse";
const KILLS: usize = 30;

/// Processes that belong to this lobby's data folder (game servers and
/// their sandboxes name it on their command line or run inside it).
fn processes_using(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.rsplit_once(')').is_some_and(|(_, r)| r.trim_start().starts_with('Z')))
            .unwrap_or(true);
        if !zombie
            && (cmdline.contains(&needle) || cwd.to_string_lossy().contains(&needle))
            && !cmdline.contains("gamestore-lobby")
        {
            found.push(pid);
        }
    }
    found
}

fn versions_listed(player: &Cli, id: &str) -> BTreeSet<String> {
    let info = player.run(&["info", id, "--json"]);
    if !info.success() {
        return BTreeSet::new(); // not published yet
    }
    let info = info.json();
    info["versions"]
        .as_array()
        .map(|v| v.iter().filter_map(|v| v["version"].as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// Every installed version in the player's library is a whole folder.
fn assert_library_whole(player: &Cli, seed: u64) {
    let library = player.run(&["library", "--json"]).ok().json();
    for item in library.as_array().unwrap() {
        let path = Path::new(item["path"].as_str().unwrap());
        let manifest = std::fs::read(path.join("config.json"))
            .unwrap_or_else(|e| panic!("installed {item} has no config.json: {e} (seed {seed})"));
        let manifest: Value = serde_json::from_slice(&manifest).unwrap();
        assert_eq!(manifest["version"], item["version"], "seed {seed}");
    }
}

#[test]
fn kill_9_at_random_points_loses_nothing_acknowledged() {
    let seed = seed();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut lobby = TestLobby::start_with(LobbyOptions {
        args: [fast_lobby_args(), super::no_fair_use_limits()].concat(),
        ..Default::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let dev = Cli::dev(&lobby, &tmp.path().join("dev"));
    dev.sign_up("dana", PASSWORD);
    let player = Cli::player(&lobby, &tmp.path().join("pat"));
    player.sign_up("pat", PASSWORD);
    // A bulky game, so installs and publishes are caught mid-transfer.
    let bulky = fixtures::game_folder(
        tmp.path(),
        "bulky",
        "1.0.0",
        &[("a.bin", 6 << 20), ("b.bin", 3 << 20), ("c.bin", 1 << 20)],
    );
    dev.run(&["publish", bulky.to_str().unwrap()]).ok();
    dev.run(&["publish", game_package("test").to_str().unwrap()]).ok();
    {
        let mut conn = RawConn::hello(lobby.addr);
        conn.call(Register::new("host", PASSWORD)).unwrap();
    }

    let mut acknowledged: BTreeSet<String> = ["1.0.0".to_owned()].into();
    let mut counts = [0usize; 3];
    let kills = scaled(KILLS);
    let started = Instant::now();
    for round in 0..kills {
        let op = rng.usize(..3);
        counts[op] += 1;
        // Publishes take longest: their kill points spread wider, so some
        // are acknowledged before the kill and some are cut.
        let delay = Duration::from_millis(rng.u64(0..if op == 0 { 1500 } else { 400 }));
        let data_dir = lobby.data_dir().to_owned();
        match op {
            0 => {
                // Publish a new version and kill the lobby while it goes.
                let version = format!("1.1.{round}");
                fixtures::set_version(&bulky, &version);
                let mut command = dev.command(&["publish", bulky.to_str().unwrap()]);
                command.stdout(Stdio::null()).stderr(Stdio::null());
                let mut child = ChildGuard::new(command.spawn().unwrap(), "gamestore-dev publish");
                std::thread::sleep(delay); // the kill point, not a synchronisation
                let finished = child.child_mut().try_wait().unwrap();
                lobby.kill9();
                let status =
                    finished.unwrap_or_else(|| child.wait_timeout(Duration::from_secs(30)));
                if status.success() {
                    acknowledged.insert(version);
                }
            }
            1 => {
                // Install (or update) and kill the lobby mid-download.
                let mut command = player.command(&["install", "bulky"]);
                command.stdout(Stdio::null()).stderr(Stdio::null());
                let mut child =
                    ChildGuard::new(command.spawn().unwrap(), "gamestore-player install");
                std::thread::sleep(delay);
                lobby.kill9();
                child.wait_timeout(Duration::from_secs(30));
            }
            _ => {
                // A match running (its server waits for a second player).
                let mut host = RawConn::hello(lobby.addr);
                host.call(Login::new("host", PASSWORD)).unwrap();
                host.call(RoomCreate { game: "test".into() }).unwrap();
                host.call(GameStartNotify {}).unwrap();
                host.expect_event("GAME_START", |e| matches!(e, Event::GameStart(_)).then_some(()));
                std::thread::sleep(delay);
                lobby.kill9();
            }
        }
        // No game server outlives the lobby that started it.
        assert!(
            eventually(Duration::from_secs(20), || processes_using(&data_dir).is_empty()),
            "round {round}: processes outlived the lobby: {:?} (seed {seed})",
            processes_using(&data_dir)
        );
        lobby.restart();

        let listed = versions_listed(&player, "bulky");
        let lost: Vec<_> = acknowledged.difference(&listed).collect();
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged versions lost: {lost:?} (seed {seed})"
        );
        assert_library_whole(&player, seed);
    }

    // Every listed version is complete: the latest installs and matches its
    // source (which differs between versions only in config.json's version).
    let installed = player.run(&["install", "bulky", "--json"]).ok().json();
    let latest = versions_listed(&player, "bulky")
        .into_iter()
        .max_by_key(|v| semver::Version::parse(v).unwrap())
        .unwrap();
    assert_eq!(installed["version"], latest.as_str(), "seed {seed}");
    let path = Path::new(installed["path"].as_str().unwrap());
    for file in ["data/a.bin", "data/b.bin", "data/c.bin"] {
        assert_eq!(
            std::fs::read(path.join(file)).unwrap(),
            std::fs::read(bulky.join(file)).unwrap(),
            "{file} (seed {seed})"
        );
    }
    assert_library_whole(&player, seed);
    // Every match cut short is recorded, none left open.
    let mut host = RawConn::hello(lobby.addr);
    host.call(Login::new("host", PASSWORD)).unwrap();
    let history = host.call(MatchHistory { limit: 100, cursor: None }).unwrap();
    let matches = history["matches"].as_array().unwrap();
    assert_eq!(matches.len(), counts[2], "{history}");
    for m in matches {
        assert_eq!(m["outcome"], "aborted", "{m} (seed {seed})");
    }
    eprintln!(
        "torture: kills={kills} publishes={} installs={} matches={} acknowledged={} \
         listed={} secs={:.1} seed={seed}",
        counts[0],
        counts[1],
        counts[2],
        acknowledged.len(),
        versions_listed(&player, "bulky").len(),
        started.elapsed().as_secs_f64()
    );
}
