//! docs/PROTOCOL.md against the real lobby: the reply shapes its tables
//! document (field names, arrays, nested objects) are the shapes real
//! replies have, key for key.

use std::collections::{BTreeMap, BTreeSet};

use gamestore_protocol::{
    ChatScope, ChatSend, DevLogin, GameDelist, GameFiles, GameInfo, GameRelist, Login, Logout,
    MatchHistory, MyGames, OnlineList, Ping, QuickPlay, Register, Resume, ReviewList, ReviewSubmit,
    RoomCreate, RoomJoin, RoomLeave, RoomList, StoreList, Whoami,
};
use gamestore_testkit::{Cli, RawConn, TestLobby, game_package, workspace_root};
use serde_json::Value;

const PASSWORD: &str = "correct horse";

/// A documented shape.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    /// Anything (a number, a string, an id): not checked further.
    Scalar,
    /// An object with these keys; `true` marks a key documented as optional.
    Object(BTreeMap<String, (Shape, bool)>),
    /// A named object documented elsewhere (`game`, `room`, ...).
    Named(String),
    Array(Box<Shape>),
}

/// Splits `text` at commas outside brackets, braces and parentheses.
fn split_top(text: &str) -> Vec<String> {
    let (mut depth, mut items, mut current) = (0i32, Vec::new(), String::new());
    for c in text.chars() {
        match c {
            '[' | '{' | '(' => depth += 1,
            ']' | '}' | ')' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            items.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    items.push(current);
    items.into_iter().map(|s| s.trim().trim_start_matches("and ").trim().to_owned()).collect()
}

/// Parses a shape such as "[game]", "{`files`: [file]}", "room".
fn parse_shape(text: &str) -> Shape {
    let text = text.trim();
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return Shape::Array(Box::new(parse_shape(inner)));
    }
    if let Some(inner) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        return parse_fields(inner);
    }
    match text {
        "string" | "number" | "path" => Shape::Scalar,
        name => Shape::Named(name.to_owned()),
    }
}

/// Parses a field list such as "`id`, `files`: [file], `match_id` while playing".
fn parse_fields(text: &str) -> Shape {
    let mut fields = BTreeMap::new();
    // "`a`, `b` and `c`": the last "and" separates fields too.
    for item in split_top(&text.replace(" and `", ", `")) {
        let Some(rest) = item.strip_prefix('`') else { continue };
        let Some((name, after)) = rest.split_once('`') else { continue };
        let after = after.trim();
        let optional = after.contains("optional") || after.starts_with("while");
        let shape = match after.strip_prefix(':') {
            Some(shape) => parse_shape(shape.split(" (").next().unwrap()),
            None => Shape::Scalar,
        };
        fields.insert(name.to_owned(), (shape, optional));
    }
    Shape::Object(fields)
}

/// Removes parenthesized asides, which mention values, not fields.
fn drop_asides(text: &str) -> String {
    let (mut depth, mut out) = (0, String::new());
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// What docs/PROTOCOL.md says: each request's OK data, and each named object.
struct Documented {
    replies: BTreeMap<String, Shape>,
    objects: BTreeMap<String, Shape>,
}

fn documented() -> Documented {
    let doc = std::fs::read_to_string(workspace_root().join("docs/PROTOCOL.md")).unwrap();
    let mut replies = BTreeMap::new();
    let mut in_requests = false;
    for line in doc.lines() {
        if line.starts_with("| request |") {
            in_requests = true;
            continue;
        }
        if !line.starts_with('|') {
            in_requests = false;
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if !in_requests || cells.len() < 4 || cells[1].starts_with("---") {
            continue;
        }
        let name = cells[1].trim_matches('`').to_owned();
        let ok = cells[3];
        let shape = if ok == "`{}`" {
            Shape::Object(BTreeMap::new())
        } else if let Some(other) = ok.strip_prefix("same as `") {
            Shape::Named(format!("reply:{}", other.trim_end_matches('`')))
        } else if ok.starts_with('`') {
            parse_fields(ok)
        } else {
            parse_shape(ok)
        };
        replies.insert(name, shape);
    }

    let mut objects = BTreeMap::new();
    // Objects described in prose: "A **room** object: `id`, ... ."
    let flat = doc.replace('\n', " ");
    for piece in flat.split("A **").skip(1) {
        let Some((name, rest)) = piece.split_once("** ") else { continue };
        let Some(fields) =
            rest.strip_prefix("(history) object: ").or(rest.strip_prefix("object: "))
        else {
            continue;
        };
        let sentence = drop_asides(fields);
        let sentence = sentence.split(". ").next().unwrap();
        objects.insert(name.to_owned(), parse_fields(sentence));
    }
    // The game object's table.
    let table = doc.split("A **game** object:").nth(1).unwrap();
    let mut game = BTreeMap::new();
    for line in table.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|'))
    {
        let first = line.split('|').nth(1).unwrap_or("").trim();
        if first.starts_with('`') {
            for item in split_top(first) {
                game.insert(item.trim_matches('`').to_owned(), (Shape::Scalar, false));
            }
        }
    }
    objects.insert("game".to_owned(), Shape::Object(game));
    Documented { replies, objects }
}

/// Checks `value` against `shape`; returns what differs, by JSON path.
fn check(doc: &Documented, path: &str, shape: &Shape, value: &Value, out: &mut Vec<String>) {
    match shape {
        Shape::Scalar => {}
        Shape::Named(name) => {
            let resolved = name
                .strip_prefix("reply:")
                .and_then(|r| doc.replies.get(r))
                .or_else(|| doc.objects.get(name));
            match resolved {
                Some(shape) => check(doc, path, shape, value, out),
                None => out.push(format!("{path}: the shape {name:?} is not documented")),
            }
        }
        Shape::Array(item) => match value.as_array() {
            Some(items) => {
                for (i, v) in items.iter().enumerate() {
                    check(doc, &format!("{path}[{i}]"), item, v, out);
                }
            }
            None => out.push(format!("{path}: documented as an array, is {value}")),
        },
        Shape::Object(fields) => {
            let Some(object) = value.as_object() else {
                out.push(format!("{path}: documented as an object, is {value}"));
                return;
            };
            let real: BTreeSet<&String> = object.keys().collect();
            for key in &real {
                if !fields.contains_key(*key) {
                    out.push(format!("{path}.{key}: in the reply, not documented"));
                }
            }
            for (key, (shape, optional)) in fields {
                match object.get(key) {
                    Some(v) => check(doc, &format!("{path}.{key}"), shape, v, out),
                    None if *optional => {}
                    None => out.push(format!("{path}.{key}: documented, not in the reply")),
                }
            }
        }
    }
}

#[test]
fn documented_reply_shapes_match_real_replies() {
    let doc = documented();
    let lobby = TestLobby::start();
    let tmp = tempfile::tempdir().unwrap();
    let dev_cli = Cli::dev(&lobby, &tmp.path().join("dev"));
    dev_cli.sign_up("dana", PASSWORD);
    dev_cli.run(&["publish", game_package("test").to_str().unwrap()]).ok();
    // One played match, for the history and a review.
    let ann_cli = Cli::player(&lobby, &tmp.path().join("ann")).env("GAMESTORE_BOT", "1");
    ann_cli.sign_up("ann", PASSWORD);
    ann_cli.run(&["play", "test"]).ok();

    let mut replies: Vec<(&str, Value)> = Vec::new();
    let mut dev = RawConn::hello(lobby.addr);
    let mut reply = |name: &'static str, value: Result<Value, _>| {
        let value: Value = value.unwrap_or_else(|e| panic!("{name} refused: {e:?}"));
        replies.push((name, value));
    };
    reply("PING", dev.call(Ping {}));
    reply("DEV_LOGIN", dev.call(DevLogin::new("dana", PASSWORD)));
    reply("MY_GAMES", dev.call(MyGames::default()));
    reply("GAME_DELIST", dev.call(GameDelist { id: "test".into() }));
    reply("GAME_RELIST", dev.call(GameRelist { id: "test".into() }));

    let mut ann = RawConn::hello(lobby.addr);
    reply("REGISTER", ann.call(Register::new("bea", PASSWORD)));
    let login = ann.call(Login::new("ann", PASSWORD)).unwrap();
    let token = login["token"].as_str().unwrap().to_owned();
    reply("LOGIN", Ok(login));
    let mut again = RawConn::hello(lobby.addr);
    reply("RESUME", again.call(Resume { token }));
    reply("WHOAMI", ann.call(Whoami {}));
    reply("STORE_LIST", ann.call(StoreList::default()));
    reply("GAME_INFO", ann.call(GameInfo { id: "test".into() }));
    reply("GAME_FILES", ann.call(GameFiles::new("test", "1.0.0")));
    reply("MATCH_HISTORY", ann.call(MatchHistory { limit: 10, ..Default::default() }));
    reply(
        "REVIEW_SUBMIT",
        ann.call(ReviewSubmit { game: "test".into(), rating: 4, text: "ok".into() }),
    );
    reply("REVIEW_LIST", ann.call(ReviewList::new("test")));
    let room = ann.call(RoomCreate { game: "test".into() }).unwrap();
    let room_id = room["id"].as_u64().unwrap();
    reply("ROOM_CREATE", Ok(room));
    reply("CHAT_SEND", ann.call(ChatSend { scope: ChatScope::Room, text: "hi".into() }));
    reply("PLUGIN_LIST", ann.call(gamestore_protocol::PluginList::default()));
    reply(
        "ROOM_PLUGINS",
        ann.call(gamestore_protocol::RoomPlugins { plugins: vec!["roomchat".into()] }),
    );
    reply(
        "PLUGIN_SEND",
        ann.call(gamestore_protocol::PluginSend {
            plugin: "roomchat".into(),
            data: serde_json::json!({"text": "hi"}),
        }),
    );
    reply("ROOM_LIST", ann.call(RoomList::default()));
    reply("ONLINE_LIST", ann.call(OnlineList::default()));
    let mut bea = RawConn::hello(lobby.addr);
    bea.call(Login::new("bea", PASSWORD)).unwrap();
    reply("ROOM_JOIN", bea.call(RoomJoin { room: room_id }));
    reply("ROOM_LEAVE", bea.call(RoomLeave {}));
    reply("QUICK_PLAY", bea.call(QuickPlay { game: "test".into() }));
    reply("LOGOUT", again.call(Logout {}));

    let mut problems = Vec::new();
    for (name, value) in &replies {
        match doc.replies.get(*name) {
            Some(shape) => check(&doc, name, shape, value, &mut problems),
            None => problems.push(format!("{name}: no row in docs/PROTOCOL.md")),
        }
    }
    assert!(
        problems.is_empty(),
        "docs/PROTOCOL.md differs from the lobby:\n{}",
        problems.join("\n")
    );
}
