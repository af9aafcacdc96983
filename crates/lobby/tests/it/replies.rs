//! Bounded replies: lists that grow are paged so every reply fits in a frame,
//! the clients fetch every page, and a download names each file once.

use std::collections::BTreeSet;
use std::path::Path;

use gamestore_protocol::{
    ErrorCode, GameDownload, GameFiles, MatchHistory, OnlineList, Resume, RoomCreate, RoomList,
    StoreList,
};
use gamestore_testkit::fixtures::game_folder;
use gamestore_testkit::{Cli, LobbyOptions, RawConn, TestLobby};
use serde_json::Value;
use sha2::Digest;

const PASSWORD: &str = "correct horse";

/// A connection resumed on `cli`'s saved session.
fn resumed(lobby: &TestLobby, cli: &Cli) -> RawConn {
    let mut conn = RawConn::hello(lobby.addr);
    conn.call(Resume { token: cli.saved_token() }).expect("RESUME");
    conn
}

/// Packs `dir` and uploads it on `conn` (a developer session).
fn upload(conn: &mut RawConn, dir: &Path, id: &str, version: &str) {
    let mut zip = std::io::Cursor::new(Vec::new());
    gamestore_package::pack_dir(dir, &mut zip).unwrap();
    let zip = zip.into_inner();
    let sha = hex::encode(sha2::Sha256::digest(&zip));
    conn.upload(id, version, &zip, &sha).unwrap_or_else(|e| panic!("publish {id}: {e}"));
}

/// Sets the description in a game folder's config.json.
fn set_description(dir: &Path, text: &str) {
    let path = dir.join("config.json");
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    manifest["description"] = text.into();
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
}

/// Follows a paged list's cursors on `conn`, returning each page's items
/// (as JSON) and checking that each page fits the protocol's frame.
fn all_pages(
    conn: &mut RawConn,
    items: &str,
    mut request: impl FnMut(Option<String>) -> Result<Value, gamestore_protocol::WireError>,
) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let reply = request(cursor.take()).unwrap_or_else(|e| panic!("page refused: {e}"));
        let size = serde_json::to_vec(&reply).unwrap().len();
        assert!(size < gamestore_protocol::MAX_FRAME_LEN, "a page of {size} bytes");
        pages.push(reply[items].as_array().expect("items").clone());
        match reply["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages.len() < 1000, "the pages do not end");
    }
    let _ = conn;
    pages
}

/// 130 games with 2,000-character descriptions (of four-byte characters) are
/// more than one frame: STORE_LIST answers with pages, and `store` shows
/// every game.
#[test]
fn a_store_larger_than_a_frame_is_paged_and_listed_in_full() {
    let lobby = TestLobby::start();
    let tmp = tempfile::tempdir().unwrap();
    let dev = Cli::dev(&lobby, &tmp.path().join("dev"));
    dev.sign_up("dana", PASSWORD);
    let mut dev_conn = resumed(&lobby, &dev);
    let description = "\u{1F3B2}".repeat(2000);
    assert_eq!(description.chars().count(), 2000);
    for i in 0..130 {
        let id = format!("game{i:03}");
        let dir = game_folder(tmp.path(), &id, "1.0.0", &[]);
        set_description(&dir, &description);
        upload(&mut dev_conn, &dir, &id, "1.0.0");
    }

    let player = Cli::player(&lobby, &tmp.path().join("ann"));
    player.sign_up("ann", PASSWORD);
    let store = player.run(&["store", "--json"]).ok().json();
    let games = store.as_array().unwrap();
    assert_eq!(games.len(), 130, "every game is listed");
    let ids: Vec<&str> = games.iter().map(|g| g["id"].as_str().unwrap()).collect();
    let want: Vec<String> = (0..130).map(|i| format!("game{i:03}")).collect();
    assert_eq!(ids, want, "by name, each once");
    assert!(games.iter().all(|g| g["description"] == description.as_str()));

    // On the wire: bounded pages whose cursors join up.
    let mut conn = resumed(&lobby, &player);
    let mut c2 = resumed(&lobby, &player);
    let pages =
        all_pages(&mut conn, "games", |cursor| c2.call(StoreList { cursor, limit: Some(1000) }));
    assert!(pages.len() > 1, "130 long games do not fit one page");
    let paged: Vec<Value> = pages.concat();
    assert_eq!(paged.len(), 130);
    // An old client (no cursor, no limit) gets a valid first page.
    let first = conn.call(StoreList::default()).unwrap();
    assert_eq!(first["games"].as_array().unwrap().len(), 50);
    assert!(first["next_cursor"].is_string());
    let bad = conn.call(StoreList { cursor: Some("not a cursor".into()), limit: None });
    assert_eq!(bad.unwrap_err().code, ErrorCode::BadCursor);
    // A change shows in the next listing.
    dev.run(&["delist", "game050"]).ok();
    let store = player.run(&["store", "--json"]).ok().json();
    assert_eq!(store.as_array().unwrap().len(), 129);
    assert!(store.as_array().unwrap().iter().all(|g| g["id"] != "game050"));
}

/// A 9,000-file version's listing is larger than a frame: GAME_FILES is
/// paged and `install` fetches and checks the whole listing.
#[test]
fn a_listing_larger_than_a_frame_is_paged_and_installs() {
    let lobby = TestLobby::start();
    let tmp = tempfile::tempdir().unwrap();
    let dev = Cli::dev(&lobby, &tmp.path().join("dev"));
    dev.sign_up("dana", PASSWORD);
    let names: Vec<String> =
        (0..9000).map(|i| format!("d{:02}/file-{i:05}.dat", i / 500)).collect();
    let files: Vec<(&str, usize)> = names.iter().map(|n| (n.as_str(), 16)).collect();
    let dir = game_folder(tmp.path(), "many", "1.0.0", &files);
    dev.run(&["publish", dir.to_str().unwrap()]).ok();

    let player = Cli::player(&lobby, &tmp.path().join("ann"));
    player.sign_up("ann", PASSWORD);
    let mut conn = resumed(&lobby, &player);
    let mut c2 = resumed(&lobby, &player);
    let pages = all_pages(&mut conn, "files", |cursor| {
        let reply =
            c2.call(GameFiles { cursor, limit: Some(5000), ..GameFiles::new("many", "1.0.0") });
        reply.map(|mut r| {
            r["files"] = r["files"]["files"].clone();
            r
        })
    });
    assert!(pages.len() > 1);
    let paths: Vec<String> =
        pages.concat().iter().map(|f| f["path"].as_str().unwrap().to_owned()).collect();
    assert_eq!(paths.len(), 9000 + 3, "data files, config.json and two scripts");
    assert!(paths.windows(2).all(|w| w[0] < w[1]), "sorted, each once");

    let installed = player.run(&["install", "many", "--json"]).ok().json();
    let path = installed["path"].as_str().unwrap();
    let on_disk = gamestore_package::FileList::scan(Path::new(path)).unwrap();
    assert_eq!(on_disk, gamestore_package::FileList::scan(&dir).unwrap());
}

/// The acceptance case: a 20,000-file package publishes and installs with
/// the lobby's default limits.
#[test]
fn a_20000_file_package_publishes_and_installs() {
    let lobby = TestLobby::start();
    let tmp = tempfile::tempdir().unwrap();
    let dev = Cli::dev(&lobby, &tmp.path().join("dev"));
    dev.sign_up("dana", PASSWORD);
    let names: Vec<String> = (0..20_000).map(|i| format!("d{:02}/{i:05}", i / 1000)).collect();
    let files: Vec<(&str, usize)> = names.iter().map(|n| (n.as_str(), 8)).collect();
    let dir = game_folder(tmp.path(), "huge", "1.0.0", &files);
    dev.run(&["publish", dir.to_str().unwrap()]).ok();

    let player = Cli::player(&lobby, &tmp.path().join("ann"));
    player.sign_up("ann", PASSWORD);
    let installed = player.run(&["install", "huge", "--json"]).ok().json();
    let on_disk = gamestore_package::FileList::scan(Path::new(installed["path"].as_str().unwrap()));
    assert_eq!(on_disk.unwrap().len(), 20_000 + 3);
    let library = player.run(&["library", "--json"]).ok().json();
    assert_eq!(library[0]["version"], "1.0.0");
}

/// 500 matches with sizeable results do not fit one frame: MATCH_HISTORY
/// pages them, `history` shows all; `reviews` shows every review the same way.
#[test]
fn long_histories_and_review_lists_are_paged_and_shown_in_full() {
    let mut lobby = TestLobby::start();
    let tmp = tempfile::tempdir().unwrap();
    let dev = Cli::dev(&lobby, &tmp.path().join("dev"));
    dev.sign_up("dana", PASSWORD);
    let dir = game_folder(tmp.path(), "chess", "1.0.0", &[]);
    dev.run(&["publish", dir.to_str().unwrap()]).ok();
    let player = Cli::player(&lobby, &tmp.path().join("ann"));
    player.sign_up("ann", PASSWORD);

    // Seed what would take hours of play, with the lobby stopped.
    assert!(lobby.terminate().success());
    let db =
        gamestore_storage::sqlite::SqliteStore::open(&lobby.data_dir().join("lobby.db")).unwrap();
    let ann = db.find_account(gamestore_storage::Role::Player, "ann").unwrap().unwrap();
    let result = serde_json::json!({"summary": "x".repeat(3000)}).to_string();
    for i in 0..500 {
        let id = db.begin_match("chess", "1.0.0", 1, &[ann.id], "local", 1000 + i).unwrap();
        let end = gamestore_storage::MatchEnd {
            ended_at: 1001 + i,
            outcome: "completed".into(),
            exit_code: Some(0),
            result: Some(result.clone()),
            message: None,
        };
        db.end_match(id, &end).unwrap();
    }
    for i in 0..45 {
        let fan = db
            .create_account(gamestore_storage::Role::Player, &format!("fan{i:02}"), "x", 1)
            .unwrap();
        db.upsert_review("chess", fan.id, 1 + (i % 5) as u8, "fine", 2000 + i).unwrap();
    }
    drop(db);
    lobby.restart();

    let history = player.run(&["history", "--json"]).ok().json();
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 500);
    assert!(history.windows(2).all(|w| w[0]["started_at"].as_i64() > w[1]["started_at"].as_i64()));

    let mut conn = resumed(&lobby, &player);
    let reply = conn.call(MatchHistory { limit: 500, cursor: None }).unwrap();
    let page = reply["matches"].as_array().unwrap().len();
    assert!(page < 500 && reply["next_cursor"].is_string(), "{page} matches on the first page");

    let reviews = player.run(&["reviews", "chess", "--json"]).ok().json();
    let players: BTreeSet<&str> =
        reviews.as_array().unwrap().iter().map(|r| r["player"].as_str().unwrap()).collect();
    assert_eq!(players.len(), 45, "every review, each once");
    let page2 = player.run(&["reviews", "chess", "--page", "3", "--json"]).ok().json();
    assert_eq!(page2.as_array().unwrap().len(), 5, "45 reviews: the third page of 20 has 5");
}

/// ROOM_LIST and ONLINE_LIST page with any limit, and `rooms`/`online`
/// still show everything.
#[test]
fn rooms_and_players_online_are_paged() {
    let lobby = TestLobby::start_with(LobbyOptions::default());
    let tmp = tempfile::tempdir().unwrap();
    let dev = Cli::dev(&lobby, &tmp.path().join("dev"));
    dev.sign_up("dana", PASSWORD);
    let dir = game_folder(tmp.path(), "chess", "1.0.0", &[]);
    dev.run(&["publish", dir.to_str().unwrap()]).ok();
    let mut conns = Vec::new();
    let names = ["ann", "Bob", "cy"];
    for name in names {
        let cli = Cli::player(&lobby, &tmp.path().join(name));
        cli.sign_up(name, PASSWORD);
        let mut conn = resumed(&lobby, &cli);
        conn.call(RoomCreate { game: "chess".into() }).unwrap();
        conns.push((cli, conn));
    }
    let (cli, conn) = &mut conns[0];
    let mut c2 = RawConn::hello(lobby.addr);
    c2.call(Resume { token: cli.saved_token() }).unwrap();
    let pages = all_pages(conn, "players", |cursor| c2.call(OnlineList { cursor, limit: Some(1) }));
    let online: Vec<&str> = pages.iter().flatten().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(online, names, "one per page, by name");
    let pages = all_pages(conn, "rooms", |cursor| c2.call(RoomList { cursor, limit: Some(2) }));
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);

    let rooms = cli.run(&["rooms", "--json"]).ok().json();
    assert_eq!(rooms.as_array().unwrap().len(), 3);
    let online = cli.run(&["online", "--json"]).ok().json();
    assert_eq!(online.as_array().unwrap().len(), 3);
}

/// GAME_DOWNLOAD names each file at most once: a path repeated to make the
/// lobby announce (and send) more than the version holds is refused.
#[test]
fn a_download_names_each_file_once() {
    let lobby = TestLobby::start();
    let tmp = tempfile::tempdir().unwrap();
    let dev = Cli::dev(&lobby, &tmp.path().join("dev"));
    dev.sign_up("dana", PASSWORD);
    let dir = game_folder(tmp.path(), "chess", "1.0.0", &[("board.bin", 100_000)]);
    dev.run(&["publish", dir.to_str().unwrap()]).ok();
    let player = Cli::player(&lobby, &tmp.path().join("ann"));
    player.sign_up("ann", PASSWORD);
    let mut conn = resumed(&lobby, &player);

    let download = |files: Vec<&str>| GameDownload {
        id: "chess".into(),
        version: "1.0.0".into(),
        files: Some(files.into_iter().map(str::to_owned).collect()),
        offset: 0,
    };
    let refused = conn.call(download(vec!["data/board.bin"; 5000])).unwrap_err();
    assert_eq!(refused.code, ErrorCode::DuplicatePath, "{}", refused.message);
    let refused = conn.call(download(vec!["config.json", "data/board.bin", "config.json"]));
    assert_eq!(refused.unwrap_err().code, ErrorCode::DuplicatePath);
    // Nothing was sent for them, and the connection carries on.
    let ready = conn.call(download(vec!["data/board.bin"])).unwrap();
    assert_eq!(ready["size"], 100_000);
}
