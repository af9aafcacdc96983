//! Publishing, updating and delisting games (flows D1–D3), and hostile
//! packages.

use std::io::{Cursor, Write};

use gamestore_protocol::{DevLogin, DevRegister, ErrorCode, Login, MyGames, Register, Resume};
use gamestore_testkit::fixtures::{game_folder, set_version};
use gamestore_testkit::{Cli, LobbyOptions, RawConn, TestLobby};
use zip::write::SimpleFileOptions;

const PASSWORD: &str = "correct horse";

struct World {
    lobby: TestLobby,
    tmp: tempfile::TempDir,
    dev: Cli,
    player: Cli,
}

fn world_with(options: LobbyOptions) -> World {
    let lobby = TestLobby::start_with(options);
    let tmp = tempfile::tempdir().unwrap();
    let dev = Cli::dev(&lobby, &tmp.path().join("dev-home"));
    dev.sign_up("dana", PASSWORD);
    let player = Cli::player(&lobby, &tmp.path().join("player-home"));
    player.sign_up("pat", PASSWORD);
    World { lobby, tmp, dev, player }
}

fn world() -> World {
    world_with(LobbyOptions::default())
}

fn store_ids(player: &Cli) -> Vec<(String, String)> {
    let store = player.run(&["store", "--json"]).ok().json();
    store
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["id"].as_str().unwrap().to_owned(), g["version"].as_str().unwrap().to_owned()))
        .collect()
}

/// No version folder, staging folder or store entry beyond `expected`.
fn assert_nothing_half_published(w: &World, expected: &[(&str, &str)]) {
    let store: Vec<(String, String)> = store_ids(&w.player);
    let expected_store: Vec<(String, String)> =
        expected.iter().map(|(i, v)| (i.to_string(), v.to_string())).collect();
    // The store shows the latest version of each game.
    for (id, version) in &store {
        assert!(
            expected_store.iter().any(|(i, v)| i == id && v == version),
            "unexpected {id} {version} in store"
        );
    }
    let games = w.lobby.data_dir().join("games");
    let mut on_disk = Vec::new();
    for game in std::fs::read_dir(&games).unwrap() {
        let game = game.unwrap();
        for version in std::fs::read_dir(game.path()).unwrap() {
            on_disk.push((
                game.file_name().to_string_lossy().into_owned(),
                version.unwrap().file_name().to_string_lossy().into_owned(),
            ));
        }
    }
    on_disk.sort();
    let mut expected_disk = expected_store.clone();
    expected_disk.sort();
    assert_eq!(on_disk, expected_disk, "version folders on disk");
    let tmp = w.lobby.data_dir().join("tmp");
    let litter: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(litter.is_empty(), "staging litter in {}: {litter:?}", tmp.display());
}

#[test]
fn publish_update_and_ownership() {
    let w = world();
    let folder = game_folder(w.tmp.path(), "chess", "1.0.0", &[("board.txt", 1000)]);
    let out = w.dev.run(&["publish", folder.to_str().unwrap()]).ok().stdout.clone();
    assert!(out.contains("published chess 1.0.0"), "{out}");

    let mine = w.dev.run(&["games", "--json"]).ok().json();
    assert_eq!(mine[0]["id"], "chess");
    assert_eq!(mine[0]["listed"], true);
    let store = w.player.run(&["store", "--json"]).ok().json();
    let chess = &store[0];
    for (field, expected) in [
        ("id", serde_json::json!("chess")),
        ("name", "Game chess".into()),
        ("version", "1.0.0".into()),
        ("author", "dana".into()),
        ("kind", "cli".into()),
        ("min_players", 1.into()),
        ("max_players", 4.into()),
        ("rating", serde_json::Value::Null),
        ("reviews", 0.into()),
    ] {
        assert_eq!(chess[field], expected, "store field {field}");
    }

    // A higher version becomes the latest; the old one stays.
    set_version(&folder, "1.1.0");
    w.dev.run(&["publish", folder.to_str().unwrap()]).ok();
    let store = w.player.run(&["store", "--json"]).ok().json();
    assert_eq!(store[0]["version"], "1.1.0");
    assert_eq!(store[0]["versions"], serde_json::json!(["1.0.0", "1.1.0"]));
    assert!(w.lobby.data_dir().join("games/chess/1.0.0/files/config.json").exists());

    // Equal or lower versions are refused with the reason.
    for stale in ["1.1.0", "1.0.5"] {
        set_version(&folder, stale);
        let out = w.dev.run(&["publish", folder.to_str().unwrap()]);
        out.fails_with("VERSION_TOO_OLD");
        assert!(out.stderr.contains("already at version 1.1.0"), "{out}");
    }

    // Another developer cannot publish to the id.
    let eve = Cli::dev(&w.lobby, &w.tmp.path().join("eve-home"));
    eve.sign_up("eve", PASSWORD);
    set_version(&folder, "9.0.0");
    eve.run(&["publish", folder.to_str().unwrap()]).fails_with("NOT_OWNER");
    eve.run(&["delist", "chess"]).fails_with("NOT_OWNER");
    assert_nothing_half_published(&w, &[("chess", "1.0.0"), ("chess", "1.1.0")]);
}

#[test]
fn validate_names_every_problem_and_nothing_reaches_the_lobby() {
    let w = world();
    let folder = game_folder(w.tmp.path(), "broken", "1.0.0", &[]);
    std::fs::write(
        folder.join("config.json"),
        r#"{"id": "Bad Id", "version": "one", "kind": "vr", "min_players": 3, "max_players": 2,
            "server": {"command": ["bin/missing"]}, "client": {"command": []}}"#,
    )
    .unwrap();
    let out = w.dev.run(&["validate", folder.to_str().unwrap()]);
    out.fails_with("problems in config.json");
    for field in ["id", "name", "version", "description", "kind", "max_players", "client.command"] {
        assert!(
            out.stdout.lines().any(|l| l.starts_with(&format!("{field}:"))),
            "{field} not named:\n{out}"
        );
    }
    // A well-formed manifest naming a program the folder lacks.
    let folder2 = game_folder(w.tmp.path(), "nobin", "1.0.0", &[]);
    std::fs::remove_file(folder2.join("bin/server.sh")).unwrap();
    let out = w.dev.run(&["validate", folder2.to_str().unwrap()]);
    out.fails_with("1 problem in config.json");
    assert!(out.stdout.starts_with("server.command[0]:"), "{out}");

    // publish checks first: the lobby never sees an upload.
    let before = w.lobby.log();
    w.dev.run(&["publish", folder.to_str().unwrap()]).fails_with("problems in config.json");
    assert_eq!(before.matches("GAME_UPLOAD").count(), w.lobby.log().matches("GAME_UPLOAD").count());
    // Even with no lobby at all.
    let offline = Cli::new("gamestore-dev", "127.0.0.1:1", w.dev.home());
    offline.run(&["publish", folder.to_str().unwrap()]).fails_with("problems in config.json");
    assert_nothing_half_published(&w, &[]);
}

fn zip_with(entries: impl FnOnce(&mut zip::ZipWriter<Cursor<Vec<u8>>>)) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().unix_permissions(0o644);
    zip.start_file("config.json", options).unwrap();
    let manifest = serde_json::json!({
        "id": "evil", "name": "Evil", "version": "1.0.0", "description": "", "kind": "cli",
        "min_players": 1, "max_players": 2,
        "server": {"command": ["sh", "-c", "true"]}, "client": {"command": ["true"]},
    });
    zip.write_all(manifest.to_string().as_bytes()).unwrap();
    entries(&mut zip);
    zip.finish().unwrap().into_inner()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn dev_conn(lobby: &TestLobby) -> RawConn {
    let mut conn = RawConn::hello(lobby.addr);
    let _ = conn.call(DevRegister::new("mallory", PASSWORD));
    conn.call(DevLogin::new("mallory", PASSWORD)).unwrap();
    conn
}

#[test]
fn hostile_packages_are_refused_and_leave_nothing() {
    let w = world_with(LobbyOptions {
        args: vec![
            "--max-unpacked-bytes".into(),
            "1000000".into(),
            "--max-package-files".into(),
            "50".into(),
        ],
        ..Default::default()
    });
    let options = || SimpleFileOptions::default().unix_permissions(0o644);
    let cases: Vec<(&str, Vec<u8>, ErrorCode)> = vec![
        (
            "zip slip",
            zip_with(|z| {
                z.start_file("../../escaped.txt", options()).unwrap();
                z.write_all(b"x").unwrap();
            }),
            ErrorCode::PackageUnsafePath,
        ),
        (
            "absolute path",
            zip_with(|z| {
                z.start_file("/tmp/absolute.txt", options()).unwrap();
                z.write_all(b"x").unwrap();
            }),
            ErrorCode::PackageUnsafePath,
        ),
        (
            "symlink",
            zip_with(|z| z.add_symlink("bin/passwd", "/etc/passwd", options()).unwrap()),
            ErrorCode::PackageSymlink,
        ),
        (
            "bomb",
            zip_with(|z| {
                z.start_file("data/zeros", options()).unwrap();
                let zeros = vec![0u8; 1 << 20];
                for _ in 0..16 {
                    z.write_all(&zeros).unwrap();
                }
            }),
            ErrorCode::PackageTooLarge,
        ),
        (
            "too many files",
            zip_with(|z| {
                for i in 0..60 {
                    z.start_file(format!("f{i}"), options()).unwrap();
                }
            }),
            ErrorCode::PackageTooManyFiles,
        ),
        ("not a zip", b"this is not a zip archive at all".to_vec(), ErrorCode::PackageCorrupt),
    ];
    let mut conn = dev_conn(&w.lobby);
    for (what, zip, code) in cases {
        let err = conn.upload("evil", "1.0.0", &zip, &sha256_hex(&zip)).unwrap_err();
        assert_eq!(err.code, code, "{what}: {}", err.message);
        assert!(!w.tmp.path().join("escaped.txt").exists());
        assert!(!std::path::Path::new("/tmp/absolute.txt").exists());
    }

    // A wrong checksum.
    let zip = zip_with(|_| {});
    let err = conn.upload("evil", "1.0.0", &zip, &"ab".repeat(32)).unwrap_err();
    assert_eq!(err.code, ErrorCode::ChecksumMismatch);
    // A header that does not match the package's config.json.
    let err = conn.upload("other", "1.0.0", &zip, &sha256_hex(&zip)).unwrap_err();
    assert_eq!(err.code, ErrorCode::ManifestMismatch);

    // The lobby still serves, and nothing of the above is visible.
    assert!(conn.call(MyGames::default()).is_ok());
    assert_nothing_half_published(&w, &[]);
    // The same connection can still publish a good package.
    conn.upload("evil", "1.0.0", &zip, &sha256_hex(&zip)).unwrap();
    assert_nothing_half_published(&w, &[("evil", "1.0.0")]);
}

#[test]
fn cut_upload_leaves_nothing() {
    // The seed's zip upload, as a third-party client without a signing key
    // sends it: cut after a few bytes.
    let w = world();
    let folder = game_folder(w.tmp.path(), "chess", "1.0.0", &[]);
    let mut conn = RawConn::hello(w.lobby.addr);
    conn.call(Resume { token: w.dev.saved_token() }).unwrap();
    conn.start_upload("chess", "2.0.0", 1_000_000, &[7u8; 1000]);
    drop(conn);
    // The lobby notices the cut; later publishes work.
    w.dev.run(&["games"]).ok();
    w.dev.run(&["publish", folder.to_str().unwrap()]).ok();
    set_version(&folder, "1.1.0");
    w.dev.run(&["publish", folder.to_str().unwrap()]).ok();
    assert_nothing_half_published(&w, &[("chess", "1.0.0"), ("chess", "1.1.0")]);
}

#[test]
fn kill_9_mid_upload_keeps_earlier_versions() {
    let mut w = world();
    let folder = game_folder(w.tmp.path(), "chess", "1.0.0", &[("a.bin", 5000)]);
    // The seed's zip upload, as a third-party client without a signing key
    // sends it: one whole version, then one cut when the lobby dies.
    let mut zip = std::io::Cursor::new(Vec::new());
    gamestore_package::pack_dir(&folder, &mut zip).unwrap();
    let zip = zip.into_inner();
    let sha256 = gamestore_package::sha256_bytes(&zip);
    let mut conn = RawConn::hello(w.lobby.addr);
    conn.call(Resume { token: w.dev.saved_token() }).unwrap();
    conn.upload("chess", "1.0.0", &zip, &sha256).expect("zip upload");
    conn.start_upload("chess", "2.0.0", 10_000_000, &vec![1u8; 200_000]);
    // The bytes are in the lobby's staging folder when it dies.
    w.lobby.kill9();
    w.lobby.restart();
    assert_nothing_half_published(&w, &[("chess", "1.0.0")]);
    let zip = w.lobby.data_dir().join("games/chess/1.0.0/package.zip");
    assert!(std::fs::metadata(zip).unwrap().len() > 0);
    set_version(&folder, "2.0.0");
    w.dev.run(&["publish", folder.to_str().unwrap()]).ok();
    assert_eq!(store_ids(&w.player), [("chess".to_owned(), "2.0.0".to_owned())]);
}

#[test]
fn delist_and_relist() {
    let w = world();
    let folder = game_folder(w.tmp.path(), "chess", "1.0.0", &[]);
    w.dev.run(&["publish", folder.to_str().unwrap()]).ok();
    assert_eq!(store_ids(&w.player).len(), 1);

    w.dev.run(&["delist", "chess"]).ok();
    assert!(store_ids(&w.player).is_empty());
    let mine = w.dev.run(&["games", "--json"]).ok().json();
    assert_eq!(mine[0]["listed"], false, "the developer still sees it, delisted");
    let text = w.player.run(&["store"]).ok().stdout.clone();
    assert!(text.contains("empty"), "{text}");

    w.dev.run(&["relist", "chess"]).ok();
    assert_eq!(store_ids(&w.player), [("chess".to_owned(), "1.0.0".to_owned())]);
    w.dev.run(&["delist", "nope"]).fails_with("GAME_NOT_FOUND");
}

#[test]
fn players_cannot_use_developer_commands() {
    let lobby = TestLobby::start();
    let mut conn = RawConn::hello(lobby.addr);
    conn.call(Register::new("pat", PASSWORD)).unwrap();
    conn.call(Login::new("pat", PASSWORD)).unwrap();
    assert_eq!(conn.call(MyGames::default()).unwrap_err().code, ErrorCode::WrongRole);
    let err = conn.upload("x", "1.0.0", b"zip", &"0".repeat(64)).unwrap_err();
    assert_eq!(err.code, ErrorCode::WrongRole);
    // Not logged in at all.
    let mut anon = RawConn::hello(lobby.addr);
    assert_eq!(anon.call(MyGames::default()).unwrap_err().code, ErrorCode::NotLoggedIn);
}
