//! Package files across the nodes of one lobby: a version published
//! through one node installs, downloads and plays through every other,
//! survives its node's death, and a node that sends wrong bytes is refused.
//! Run when `GAMESTORE_TEST_POSTGRES` and `GAMESTORE_TEST_NATS` are set.

use std::path::{Path, PathBuf};

use gamestore_package::FileList;
use gamestore_protocol::{
    Event, GameDownload, GameFiles, GameStartNotify, Resume, RoomCreate, RoomJoin,
};
use gamestore_testkit::fixtures::{game_folder, pattern};
use gamestore_testkit::{Cli, RawConn, TestLobby, game_variant, wait_until};
use serde_json::Value;
use sha2::Digest;

use crate::nodes::Nodes;
use crate::world::registered_player;

const PASSWORD: &str = "correct horse";

/// The installed tree equals the source folder byte for byte, modes included.
fn assert_same_tree(installed: &Path, source: &Path) {
    let a = FileList::scan(installed).unwrap();
    let b = FileList::scan(source).unwrap();
    assert_eq!(a, b, "{} differs from {}", installed.display(), source.display());
}

/// `install ID --json` through the player's node; the installed folder.
fn install(player: &Cli, id: &str) -> PathBuf {
    let reply = player.run(&["install", id, "--json"]).ok().json();
    PathBuf::from(reply["path"].as_str().unwrap())
}

fn player(lobby: &TestLobby, tmp: &Path, name: &str) -> Cli {
    let cli = Cli::player(lobby, &tmp.join(name));
    cli.sign_up(name, PASSWORD);
    cli
}

fn version_of(folder: &Path) -> String {
    let config: Value =
        serde_json::from_slice(&std::fs::read(folder.join("config.json")).unwrap()).unwrap();
    config["version"].as_str().unwrap().to_owned()
}

/// The node's copy of a version, if it has one.
fn copy_on(lobby: &TestLobby, id: &str, version: &str) -> PathBuf {
    lobby.data_dir().join("games").join(id).join(version)
}

/// Nothing is being assembled or half placed on the node.
fn assert_nothing_left(lobby: &TestLobby, id: &str, version: &str) {
    assert!(!copy_on(lobby, id, version).exists(), "a refused version is in place");
    let tmp: Vec<_> = std::fs::read_dir(lobby.data_dir().join("tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(tmp.is_empty(), "staging left behind: {tmp:?}");
}

/// The whole zip GAME_DOWNLOAD gives on `conn`.
fn download_zip(conn: &mut RawConn, id: &str, version: &str) -> Vec<u8> {
    let request = conn.send_request(GameDownload {
        id: id.into(),
        version: version.into(),
        files: None,
        offset: 0,
    });
    conn.reply_with_bytes(request, |r| r["size"].as_u64().unwrap()).unwrap().1
}

/// The files of a zip, unpacked into `dest`.
fn unzip(zip: &[u8], dest: &Path) -> FileList {
    gamestore_package::extract(std::io::Cursor::new(zip), dest, &Default::default()).unwrap();
    FileList::scan(dest).unwrap()
}

#[test]
fn a_version_published_through_one_node_installs_downloads_and_plays_through_the_others() {
    let Some(nodes) = Nodes::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let a = nodes.start("a");
    let b = nodes.start("b");
    let c = nodes.start("c");

    // The `test` game with a file of several chunks, each larger than a
    // NATS message, published signed through a.
    let folder = game_variant(tmp.path(), "test", |_| {});
    std::fs::write(folder.join("big.bin"), pattern("big", 5_000_000)).unwrap();
    let version = version_of(&folder);
    let dev = Cli::dev(&a, &tmp.path().join("dev"));
    dev.sign_up("dana", PASSWORD);
    dev.run(&["publish", folder.to_str().unwrap()]).ok();

    // Installed through b: the same files.
    let ann = player(&b, tmp.path(), "ann");
    assert_same_tree(&install(&ann, "test"), &folder);

    // The zip through c: the same files, the zip the listing names.
    let mut bob = registered_player(&c, "bob");
    let zip = download_zip(&mut bob, "test", &version);
    let listing = bob
        .call(GameFiles { id: "test".into(), version: version.clone(), cursor: None, limit: None })
        .unwrap();
    assert_eq!(hex::encode(sha2::Sha256::digest(&zip)), listing["package_sha256"], "{listing}");
    assert_eq!(unzip(&zip, &tmp.path().join("unzipped")), FileList::scan(&folder).unwrap());
    // b's copy came before any zip: b packs its own, the same bytes.
    let mut on_b = registered_player(&b, "eve");
    assert!(download_zip(&mut on_b, "test", &version) == zip, "b's zip differs from c's");

    // A match of it on c: its server runs from c's copy.
    let mut cid = registered_player(&c, "cid");
    let room: Value = bob.call(RoomCreate { game: "test".into() }).unwrap();
    cid.call(RoomJoin { room: room["id"].as_u64().unwrap() }).unwrap();
    bob.call(GameStartNotify {}).unwrap();
    for (who, conn) in [("bob", &mut bob), ("cid", &mut cid)] {
        conn.expect_event(&format!("GAME_START for {who}"), |e| match e {
            Event::GameStart(s) => Some(s.clone()),
            _ => None,
        });
    }

    // b and c hold whole copies; the publishing node fetched nothing.
    for node in [&b, &c] {
        assert!(copy_on(node, "test", &version).join("files/big.bin").is_file());
    }
    let fetched = "fetched a version's files from another node";
    assert!(!a.log().contains(fetched), "{}", a.log());
    wait_until("b and c log their fetch", || {
        b.log().contains(fetched) && c.log().contains(fetched)
    });
    let took = |log: String| {
        let line = log.lines().find(|l| l.contains(fetched)).unwrap().to_owned();
        let ms = line.split("took_ms=").nth(1).unwrap().split_whitespace().next().unwrap();
        ms.parse::<u64>().unwrap()
    };
    eprintln!("a 5 MB version copied from a: b in {} ms, c in {} ms", took(b.log()), took(c.log()));
}

#[test]
fn a_version_outlives_the_node_it_was_published_through() {
    let Some(nodes) = Nodes::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut a = nodes.start("a");
    let b = nodes.start("b");
    let folder = game_folder(tmp.path(), "kept", "1.0.0", &[("level.bin", 3_000_000)]);
    let dev = Cli::dev(&a, &tmp.path().join("dev"));
    dev.sign_up("dana", PASSWORD);
    dev.run(&["publish", folder.to_str().unwrap()]).ok();

    // b copies it in the background, with no request asking for it.
    wait_until("b holds a copy", || copy_on(&b, "kept", "1.0.0").is_dir());
    a.kill9();

    // c starts after a's death: a, where the version was published, does
    // not answer, and b, which holds a copy, does.
    let c = nodes.start("c");
    let ann = player(&c, tmp.path(), "ann");
    assert_same_tree(&install(&ann, "kept"), &folder);
    assert!(c.log().contains("from=b"), "{}", c.log());
}

/// Replaces a file of a node's disk for the life of the guard.
struct Tampered {
    path: PathBuf,
    original: Vec<u8>,
}

impl Tampered {
    fn new(path: PathBuf, change: impl FnOnce(&mut Vec<u8>)) -> Tampered {
        let original = std::fs::read(&path).unwrap();
        let mut bytes = original.clone();
        change(&mut bytes);
        std::fs::write(&path, &bytes).unwrap();
        Tampered { path, original }
    }
}

impl Drop for Tampered {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.path, &self.original);
    }
}

/// The largest file a node reads chunk bytes from.
fn largest_chunk(lobby: &TestLobby) -> PathBuf {
    let files = crate::world::served_files(lobby);
    files.into_iter().max_by_key(|p| std::fs::metadata(p).unwrap().len()).unwrap()
}

#[test]
fn a_node_that_sends_wrong_bytes_is_refused_and_leaves_nothing_behind() {
    let Some(nodes) = Nodes::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let a = nodes.start("a");
    let folder = game_folder(tmp.path(), "liar", "1.0.0", &[("level.bin", 2_000_000)]);
    let dev = Cli::dev(&a, &tmp.path().join("dev"));
    dev.sign_up("dana", PASSWORD);
    dev.run(&["publish", folder.to_str().unwrap()]).ok();

    // a's copy is damaged before b ever sees the version: a chunk, then
    // the signed manifest.
    let chunk = Tampered::new(largest_chunk(&a), |bytes| {
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x55;
    });
    let b = nodes.start("b");
    let ann = player(&b, tmp.path(), "ann");
    ann.run(&["install", "liar"]).fails_with("VERSION_NOT_FOUND");
    assert_nothing_left(&b, "liar", "1.0.0");
    assert!(b.log().contains("do not hash to it"), "{}", b.log());
    drop(chunk);

    let manifest = copy_on(&a, "liar", "1.0.0").join("manifest");
    let manifest = Tampered::new(manifest, |bytes| {
        let at = bytes.windows(5).position(|w| w == b"Game ").unwrap();
        bytes[at] = b'g';
    });
    ann.run(&["install", "liar"]).fails_with("VERSION_NOT_FOUND");
    assert_nothing_left(&b, "liar", "1.0.0");
    assert!(b.log().contains("does not match the version's signature"), "{}", b.log());
    drop(manifest);

    // a good copy again: the next fetch works.
    assert_same_tree(&install(&ann, "liar"), &folder);
}

#[test]
fn a_version_uploaded_as_a_zip_through_one_node_installs_through_another() {
    let Some(nodes) = Nodes::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let a = nodes.start("a");
    let b = nodes.start("b");
    let folder = game_folder(tmp.path(), "zipped", "1.0.0", &[("level.bin", 1_500_000)]);
    let mut zip = std::io::Cursor::new(Vec::new());
    gamestore_package::pack_dir(&folder, &mut zip).unwrap();
    // Another zip than the lobby would pack: what b serves must be this one.
    let mut zip = zip.into_inner();
    let comment_len = zip.len() - 2;
    zip.truncate(comment_len);
    zip.extend_from_slice(&7u16.to_le_bytes());
    zip.extend_from_slice(b"zipped!");
    let sha = hex::encode(sha2::Sha256::digest(&zip));

    // A developer without a signing key uploads the zip through a.
    let dev = Cli::dev(&a, &tmp.path().join("dev"));
    dev.sign_up("zed", PASSWORD);
    let mut on_a = RawConn::hello(a.addr);
    on_a.call(Resume { token: dev.saved_token() }).unwrap();
    on_a.upload("zipped", "1.0.0", &zip, &sha).unwrap();

    let ann = player(&b, tmp.path(), "ann");
    assert_same_tree(&install(&ann, "zipped"), &folder);
    let mut on_b = registered_player(&b, "bob");
    assert_eq!(download_zip(&mut on_b, "zipped", "1.0.0"), zip, "b serves the uploaded zip");
}
