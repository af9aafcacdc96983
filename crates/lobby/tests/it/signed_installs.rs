//! Signed, chunked publishes and installs from the launcher's side: file
//! shapes, dedupe across versions, resume after a cut, repair, keys and a
//! lobby whose own files and database are not to be trusted.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use crate::world::served_files;
use gamestore_package::FileList;
use gamestore_testkit::fixtures::{game_folder, pattern, set_version};
use gamestore_testkit::{Cli, LobbyOptions, TIMEOUT, TestLobby};

const PASSWORD: &str = "correct horse";

struct World {
    lobby: TestLobby,
    tmp: tempfile::TempDir,
    dev: Cli,
    player: Cli,
}

fn world() -> World {
    world_with(LobbyOptions::default())
}

fn world_with(options: LobbyOptions) -> World {
    let lobby = TestLobby::start_with(options);
    let tmp = tempfile::tempdir().unwrap();
    let dev = Cli::dev(&lobby, &tmp.path().join("dev-home"));
    dev.sign_up("dana", PASSWORD);
    let player = Cli::player(&lobby, &tmp.path().join("player-home"));
    player.sign_up("ann", PASSWORD);
    World { lobby, tmp, dev, player }
}

fn login(cli: &Cli, user: &str) {
    cli.run_with_stdin(&["login", "--user", user, "--password-stdin"], &format!("{PASSWORD}\n"))
        .ok();
}

fn publish(cli: &Cli, folder: &Path) -> serde_json::Value {
    cli.run(&["publish", folder.to_str().unwrap(), "--json"]).ok().json()
}

fn install(cli: &Cli, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["install"];
    all.extend_from_slice(args);
    all.push("--json");
    cli.run(&all).ok().json()
}

fn library(cli: &Cli) -> serde_json::Value {
    cli.run(&["library", "--json"]).ok().json()
}

/// The installed tree equals the source folder byte for byte, modes included.
fn assert_same_tree(installed: &Path, source: &Path) {
    let a = FileList::scan(installed).unwrap();
    let b = FileList::scan(source).unwrap();
    assert_eq!(a, b, "{} differs from {}", installed.display(), source.display());
}

/// The installed folder of the reply of `install --json`.
fn path_of(reply: &serde_json::Value) -> PathBuf {
    PathBuf::from(reply["path"].as_str().unwrap())
}

/// Nothing but installed versions and their records in a game's folder.
fn assert_no_leftovers(cli: &Cli, user: &str, id: &str) {
    let dir = cli.home().join("games").join(user).join(id);
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            !name.starts_with(".staging-") && !name.ends_with(".tmp"),
            "a half install looks present: {name}"
        );
    }
}

#[test]
fn every_file_shape_round_trips_and_executables_keep_their_mode() {
    let w = world();
    let folder = game_folder(
        w.tmp.path(),
        "shapes",
        "1.0.0",
        &[("tiny.bin", 1), ("one-chunk.bin", 70_000), ("many-chunks.bin", 3_000_000)],
    );
    std::fs::write(folder.join("data/empty.bin"), b"").unwrap();
    std::fs::write(folder.join("data/zeros.bin"), vec![0u8; 2_500_000]).unwrap();
    // A sparse file: 64 MiB of which only the end is written.
    {
        let file = std::fs::File::create(folder.join("data/sparse.bin")).unwrap();
        file.set_len(64 << 20).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, b"end", (64 << 20) - 3).unwrap();
    }
    let tool = folder.join("bin/tool");
    std::fs::write(&tool, "#!/bin/sh\necho tool\n").unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();

    let published = publish(&w.dev, &folder);
    assert_eq!(published["version"], "1.0.0", "{published}");
    // To a lobby on this machine chunks travel raw (the lobby compresses
    // them itself afterwards) ...
    assert_eq!(published["compressed"], false, "{published}");
    // ... and zero chunks not at all: far less than the bytes is sent.
    let total = published["total_bytes"].as_u64().unwrap();
    assert!(published["sent_bytes"].as_u64().unwrap() < total / 4, "{published}");

    let reply = install(&w.player, &["shapes"]);
    assert_eq!(reply["method"], "chunked", "{reply}");
    assert_same_tree(&path_of(&reply), &folder);
    let mode = std::fs::metadata(path_of(&reply).join("bin/tool")).unwrap().permissions().mode();
    assert_ne!(mode & 0o100, 0, "executable kept: {mode:o}");
    let mode =
        std::fs::metadata(path_of(&reply).join("data/empty.bin")).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0, "data stays not executable: {mode:o}");
    assert_no_leftovers(&w.player, "ann", "shapes");
}

/// Bytes a file takes on disk (its allocated blocks).
fn allocated(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().blocks() * 512
}

#[test]
fn a_4_gib_sparse_file_round_trips_as_holes_and_a_byte_more_is_refused() {
    const GIB4: u64 = 4 << 30;
    let w = world_with(LobbyOptions {
        args: vec![
            "--max-unpacked-bytes".into(),
            (5u64 << 30).to_string(),
            "--max-file-bytes".into(),
            GIB4.to_string(),
        ],
        ..Default::default()
    });
    let folder = game_folder(w.tmp.path(), "huge", "1.0.0", &[("small.bin", 10_000)]);
    let big = folder.join("data/huge.bin");
    {
        let file = std::fs::File::create(&big).unwrap();
        file.set_len(GIB4).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, b"start", 0).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, b"middle", 3 << 30).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, b"end", GIB4 - 3).unwrap();
    }
    // Compressed as to a lobby on another machine (to this one, `auto`
    // sends raw bytes).
    let published = w
        .dev
        .run(&["publish", folder.to_str().unwrap(), "--compress", "always", "--json"])
        .ok()
        .json();
    let listed: u64 =
        gamestore_package::package_files(&folder).unwrap().iter().map(|f| f.size).sum();
    assert_eq!(published["total_bytes"].as_u64().unwrap(), listed, "{published}");
    assert!(listed > GIB4, "{listed}");
    // The zeros travel once, compressed.
    assert_eq!(published["compressed"], true, "{published}");
    assert!(published["sent_bytes"].as_u64().unwrap() < 1 << 20, "{published}");
    // The lobby keeps the file sparse.
    let stored = w.lobby.data_dir().join("games/huge/1.0.0/files/data/huge.bin");
    assert_eq!(std::fs::metadata(&stored).unwrap().len(), GIB4);
    assert!(allocated(&stored) < 64 << 20, "{} bytes allocated", allocated(&stored));

    let reply = install(&w.player, &["huge"]);
    assert_eq!(reply["method"], "chunked", "{reply}");
    let installed = path_of(&reply).join("data/huge.bin");
    assert_eq!(std::fs::metadata(&installed).unwrap().len(), GIB4);
    assert!(allocated(&installed) < 64 << 20, "{} bytes allocated", allocated(&installed));
    let file = std::fs::File::open(&installed).unwrap();
    for (at, want) in [(0, &b"start"[..]), (3 << 30, b"middle"), (GIB4 - 3, b"end")] {
        let mut got = vec![0u8; want.len() + 2];
        let start = at.saturating_sub(1);
        let n = std::os::unix::fs::FileExt::read_at(&file, &mut got, start).unwrap();
        let expected: Vec<u8> = if at == 0 {
            [want, &[0, 0]].concat()
        } else if at + want.len() as u64 == GIB4 {
            [&[0][..], want].concat()
        } else {
            [&[0][..], want, &[0]].concat()
        };
        assert_eq!(&got[..n], &expected[..], "bytes around {at}");
    }
    // A repair re-checks every chunk of it, holes included.
    let verified = w.player.run(&["verify", "huge", "--json"]).ok().json();
    assert_eq!(verified["damaged_chunks"], 0, "{verified}");

    // One byte more than a package file may have: refused before anything is read or sent.
    std::fs::File::options().write(true).open(&big).unwrap().set_len(GIB4 + 1).unwrap();
    set_version(&folder, "1.0.1");
    let text = w
        .dev
        .run(&["publish", folder.to_str().unwrap()])
        .fails_with("data/huge.bin")
        .stderr
        .clone();
    assert!(text.contains("at most 4294967296 bytes"), "{text}");
    assert_eq!(library(&w.player)[0]["version"], "1.0.0");
}

#[test]
fn a_new_version_moves_only_its_changed_chunks_both_ways() {
    let w = world();
    let folder = game_folder(w.tmp.path(), "quest", "1.0.0", &[("world.bin", 8_000_000)]);
    let first = publish(&w.dev, &folder);
    assert!(first["sent_bytes"].as_u64().unwrap() >= 8_000_000, "{first}");
    let installed = install(&w.player, &["quest"]);
    assert!(installed["bytes_transferred"].as_u64().unwrap() >= 8_000_000, "{installed}");

    // 100 kB changed in the middle of the 8 MB file.
    let path = folder.join("data/world.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[4_000_000..4_100_000].copy_from_slice(&pattern("patch", 100_000));
    std::fs::write(&path, &bytes).unwrap();
    set_version(&folder, "1.1.0");
    let second = publish(&w.dev, &folder);
    let sent = second["sent_bytes"].as_u64().unwrap();
    // The changed region's chunks (at most two 1 MiB chunks around it) and config.json.
    assert!(sent > 100_000 && sent < 2_300_000, "publish sent {sent}: {second}");

    let update = install(&w.player, &["quest"]);
    assert_eq!(update["version"], "1.1.0");
    let moved = update["bytes_transferred"].as_u64().unwrap();
    assert!(moved > 100_000 && moved < 2_300_000, "update moved {moved}: {update}");
    assert!(update["reused_chunks"].as_u64().unwrap() > 0, "{update}");
    assert_same_tree(&path_of(&update), &folder);
    // The update replaced the old version.
    assert!(!path_of(&installed).exists());
    assert_eq!(library(&w.player).as_array().unwrap().len(), 1);
}

/// A TCP proxy that forwards one connection and cuts it after `limit`
/// bytes went in the direction `to_lobby` names.
struct CutProxy {
    addr: SocketAddr,
    moved: Arc<AtomicU64>,
}

impl CutProxy {
    fn start(target: SocketAddr, to_lobby: bool, limit: u64) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let moved = Arc::new(AtomicU64::new(0));
        let counter = moved.clone();
        // Ends with the test process; the connection's threads end when it is cut.
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect_timeout(&target, TIMEOUT) else { continue };
                let (up_limit, down_limit) =
                    if to_lobby { (limit, u64::MAX) } else { (u64::MAX, limit) };
                let sockets = [client.try_clone().unwrap(), server.try_clone().unwrap()];
                pipe(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    up_limit,
                    counter.clone(),
                    sockets,
                );
                let sockets = [client.try_clone().unwrap(), server.try_clone().unwrap()];
                pipe(server, client, down_limit, counter.clone(), sockets);
            }
        });
        CutProxy { addr, moved }
    }

    fn server(&self) -> String {
        self.addr.to_string()
    }
}

fn pipe(
    mut from: TcpStream,
    mut to: TcpStream,
    limit: u64,
    counter: Arc<AtomicU64>,
    both: [TcpStream; 2],
) {
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let mut sent = 0u64;
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let n = n.min((limit - sent) as usize);
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
            sent += n as u64;
            if limit != u64::MAX {
                counter.fetch_add(n as u64, Ordering::Relaxed);
            }
            if sent >= limit {
                break;
            }
        }
        for socket in &both {
            let _ = socket.shutdown(Shutdown::Both);
        }
    });
}

#[test]
fn a_cut_install_resumes_and_moves_little_more_than_once() {
    let w = world();
    let folder =
        game_folder(w.tmp.path(), "big", "1.0.0", &[("a.bin", 6_000_000), ("b.bin", 6_000_000)]);
    publish(&w.dev, &folder);
    // A seed between 25% and 75% of the data, from the test's own clock.
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let cut_at = 3_000_000 + u64::from(nanos) % 6_000_000;
    let proxy = CutProxy::start(w.lobby.addr, false, cut_at);
    let cut = Cli::new("gamestore-player", &proxy.server(), w.player.home());
    login(&cut, "ann");
    let out = cut.run(&["install", "big", "--json"]);
    assert!(!out.success(), "the cut install failed: {out}");
    assert!(out.stderr.trim().starts_with("error: "), "{out}");
    assert!(proxy.moved.load(Ordering::Relaxed) >= cut_at);
    login(&w.player, "ann");
    assert!(library(&w.player).as_array().unwrap().is_empty(), "nothing looks installed");

    let retry = install(&w.player, &["big"]);
    let moved = retry["bytes_transferred"].as_u64().unwrap();
    assert!(retry["reused_chunks"].as_u64().unwrap() > 0, "resumed: {retry}");
    // Received before the cut plus the retry: the data once, plus what was
    // in flight (8 requests of at most 8 MiB would be far more).
    assert!(cut_at + moved < 12_000_000 + 12_000_000 * 55 / 100, "cut {cut_at} + {moved}");
    assert!(moved < 12_000_000 - cut_at / 2, "the retry moved {moved} after a cut at {cut_at}");
    assert_same_tree(&path_of(&retry), &folder);
    assert_no_leftovers(&w.player, "ann", "big");
}

#[test]
fn a_cut_publish_resumes_by_running_it_again() {
    let w = world();
    let folder =
        game_folder(w.tmp.path(), "up", "1.0.0", &[("a.bin", 6_000_000), ("b.bin", 6_000_000)]);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let cut_at = 3_000_000 + u64::from(nanos) % 6_000_000;
    let proxy = CutProxy::start(w.lobby.addr, true, cut_at);
    let cut = Cli::new("gamestore-dev", &proxy.server(), w.dev.home());
    login(&cut, "dana");
    let out = cut.run(&["publish", folder.to_str().unwrap(), "--json"]);
    assert!(!out.success(), "the cut publish failed: {out}");
    login(&w.dev, "dana");
    w.player.run(&["info", "up"]).fails_with("GAME_NOT_FOUND");

    let again = publish(&w.dev, &folder);
    let sent = again["sent_bytes"].as_u64().unwrap();
    assert!(sent + cut_at < 12_000_000 * 155 / 100, "cut at {cut_at}, then sent {sent}");
    assert!(sent < 12_000_000 - cut_at / 2, "resumed: cut at {cut_at}, then sent {sent}");
    let reply = install(&w.player, &["up"]);
    assert_same_tree(&path_of(&reply), &folder);
}

/// Publishes 1.0.0 and 1.1.0 of `victim` (1.1.0 changes a file), installs
/// 1.0.0, and returns the world, the folder and the installed reply.
fn two_versions_one_installed() -> (World, PathBuf, serde_json::Value) {
    let w = world();
    let folder = game_folder(w.tmp.path(), "victim", "1.0.0", &[("a.bin", 2_000_000)]);
    publish(&w.dev, &folder);
    let installed = install(&w.player, &["victim"]);
    std::fs::write(folder.join("data/a.bin"), pattern("v2", 2_000_000)).unwrap();
    set_version(&folder, "1.1.0");
    publish(&w.dev, &folder);
    (w, folder, installed)
}

/// The update is refused with `expect` in its error, nothing half-installed
/// shows, and 1.0.0 is still installed and intact.
fn assert_refused_and_old_kept(w: &World, installed: &serde_json::Value, expect: &str) {
    let out = w.player.run(&["install", "victim", "--json"]);
    assert!(!out.success(), "refused: {out}");
    let line = out.stderr.trim();
    assert!(line.starts_with("error: ") && line.contains(expect), "{out}");
    let lib = library(&w.player);
    assert_eq!(lib[0]["version"], "1.0.0", "{lib}");
    let old = game_folder(&w.tmp.path().join("old"), "victim", "1.0.0", &[("a.bin", 2_000_000)]);
    assert_same_tree(&path_of(installed), &old);
    assert_no_leftovers(&w.player, "ann", "victim");
    // The installed version still runs.
    let client = path_of(installed).join("bin/client.sh");
    let ran = std::process::Command::new(&client).arg("x").output().unwrap();
    assert!(ran.status.success());
}

#[test]
fn a_chunk_altered_in_the_lobby_store_is_refused() {
    let (w, _folder, installed) = two_versions_one_installed();
    // Alter every chunk of 1.1.0's new file (the ones 1.0.0 lacks) where
    // the lobby keeps it: in its chunk store or in its copy of 1.1.0.
    let old = w.lobby.data_dir().join("games/victim/1.0.0");
    let mut altered = 0;
    for path in served_files(&w.lobby).iter().filter(|p| !p.starts_with(&old)) {
        let mut bytes = std::fs::read(path).unwrap();
        if bytes.len() > 60_000 {
            let last = bytes.len() - 1;
            bytes[last] ^= 0x55;
            std::fs::write(path, &bytes).unwrap();
            altered += 1;
        }
    }
    assert!(altered > 0);
    assert_refused_and_old_kept(&w, &installed, "does not match its hash");
}

#[test]
fn a_manifest_altered_in_the_lobby_is_refused() {
    let (w, _folder, installed) = two_versions_one_installed();
    let path = w.lobby.data_dir().join("games/victim/1.1.0/manifest");
    let text = std::fs::read_to_string(&path).unwrap();
    let altered = text.replacen("client.sh", "client.zz", 1);
    assert_ne!(text, altered);
    std::fs::write(&path, altered).unwrap();
    assert_refused_and_old_kept(&w, &installed, "does not match its signature");
}

/// Runs SQL on the lobby's database behind its back, as an intruder could.
fn tamper_db(lobby: &TestLobby, sql: &str) {
    let db = lobby.data_dir().join("lobby.db");
    let out = std::process::Command::new("sqlite3").arg(&db).arg(sql).output().unwrap();
    assert!(out.status.success(), "sqlite3: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_downgrade_offered_as_the_latest_is_refused_but_allowed_by_name() {
    let w = world();
    let folder = game_folder(w.tmp.path(), "victim", "1.0.0", &[("a.bin", 200_000)]);
    publish(&w.dev, &folder);
    set_version(&folder, "2.0.0");
    publish(&w.dev, &folder);
    let latest = install(&w.player, &["victim"]);
    assert_eq!(latest["version"], "2.0.0");

    // The lobby now claims 1.0.0 is the latest: a downgrade.
    tamper_db(&w.lobby, "UPDATE games SET latest_version = '1.0.0' WHERE id = 'victim'");
    let refused = w.player.run(&["install", "victim"]);
    assert!(!refused.success(), "{refused}");
    assert!(refused.stderr.contains("older than 2.0.0"), "{refused}");
    let lib = library(&w.player);
    assert_eq!(lib[0]["version"], "2.0.0", "{lib}");
    assert!(path_of(&latest).exists());

    // Asked for by name, it installs beside 2.0.0, with a note.
    let older = w.player.run(&["install", "victim", "--version", "1.0.0", "--json"]);
    let older = older.ok();
    assert!(older.stderr.contains("older than 2.0.0"), "{older}");
    assert_eq!(older.json()["version"], "1.0.0");
    assert!(path_of(&latest).exists());
}

#[test]
fn verify_repairs_only_the_damaged_chunks() {
    let w = world();
    let folder = game_folder(w.tmp.path(), "fixme", "1.0.0", &[("a.bin", 6_000_000)]);
    publish(&w.dev, &folder);
    let reply = install(&w.player, &["fixme"]);
    let dir = path_of(&reply);
    let intact = w.player.run(&["verify", "fixme", "--json"]).ok().json();
    assert_eq!(intact["damaged_chunks"], 0, "{intact}");
    assert_eq!(intact["bytes_transferred"], 0, "{intact}");

    // One byte flipped in the middle, a script no longer executable.
    let data = dir.join("data/a.bin");
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[3_000_000] ^= 1;
    std::fs::write(&data, &bytes).unwrap();
    std::fs::set_permissions(dir.join("bin/server.sh"), std::fs::Permissions::from_mode(0o600))
        .unwrap();
    let report = w.player.run(&["verify", "fixme", "--json"]).ok().json();
    assert_eq!(report["damaged_chunks"], 1, "{report}");
    let moved = report["bytes_transferred"].as_u64().unwrap();
    assert!(moved > 0 && moved <= 1 << 20, "one chunk only: {report}");
    assert!(report["repaired_files"].to_string().contains("bin/server.sh"), "{report}");
    assert_same_tree(&dir, &folder);
}

#[test]
fn key_show_prints_the_fingerprint_the_launcher_pins() {
    let w = world();
    let shown = w.dev.run(&["key", "show", "--json"]).ok().json();
    let fingerprint = shown["fingerprint"].as_str().unwrap().to_owned();
    assert!(fingerprint.starts_with("SHA256:") && fingerprint.len() == 7 + 64, "{shown}");
    let key_file = w.dev.home().join("signing_key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let folder = game_folder(w.tmp.path(), "pinned", "1.0.0", &[("a.bin", 1000)]);
    publish(&w.dev, &folder);
    let out = w.player.run(&["install", "pinned"]).ok().clone();
    assert!(out.stderr.contains(&fingerprint), "the pin is shown: {out}");
    let known = std::fs::read_to_string(w.player.home().join("known_keys")).unwrap();
    assert!(
        known.starts_with("pinned ") && known.contains(shown["key"].as_str().unwrap()),
        "{known}"
    );
}

#[test]
fn a_rotated_key_is_accepted_with_its_statement() {
    let w = world();
    let folder = game_folder(w.tmp.path(), "rot", "1.0.0", &[("a.bin", 1000)]);
    publish(&w.dev, &folder);
    install(&w.player, &["rot"]);
    let rotated = w.dev.run(&["key", "rotate", "--json"]).ok().json();
    let new_fp = rotated["fingerprint"].as_str().unwrap().to_owned();
    assert_ne!(Some(new_fp.as_str()), rotated["old_fingerprint"].as_str());
    assert!(Path::new(rotated["old_key_file"].as_str().unwrap()).exists());
    set_version(&folder, "1.1.0");
    publish(&w.dev, &folder);
    let out = w.player.run(&["install", "rot", "--json"]).ok().clone();
    assert!(out.stderr.contains("rotated") && out.stderr.contains(&new_fp), "{out}");
    assert_eq!(out.json()["version"], "1.1.0");
}

#[test]
fn a_key_changed_without_a_rotation_is_refused() {
    let (w, _folder, installed) = two_versions_one_installed();
    // The player's pin is replaced by another key, as if the lobby had
    // served 1.0.0 signed by someone else first: 1.1.0's real key then
    // reaches the launcher with no rotation from the pinned one.
    let known = w.player.home().join("known_keys");
    let text = std::fs::read_to_string(&known).unwrap();
    let other = "ab".repeat(32);
    let line = text.lines().next().unwrap();
    let parts: Vec<&str> = line.split(' ').collect();
    std::fs::write(&known, format!("{} {other} {}\n", parts[0], parts[2])).unwrap();
    assert_refused_and_old_kept(&w, &installed, "changed without a rotation signed by the old key");
}
