//! Manifest rules, one `check` per case: the input and every problem expected,
//! as (field, fragment of the message).

use super::*;
use serde_json::json;

/// A manifest that passes every rule; cases edit a copy of it.
fn valid() -> Value {
    json!({
        "id": "connect4",
        "name": "Connect Four",
        "version": "1.0.0",
        "description": "Classic four-in-a-row for two players in the terminal.",
        "kind": "cli",
        "min_players": 2,
        "max_players": 2,
        "server": {
            "command": ["bin/connect4-server", "--host", "{host}", "--port", "{port}",
                        "--players", "{players}", "--token", "{token}"],
            "env": {"RUST_LOG": "info"}
        },
        "client": {
            "command": ["bin/connect4-client", "--host", "{host}", "--port", "{port}",
                        "--name", "{player}", "--token", "{token}"]
        }
    })
}

/// `valid()` with `edit` applied.
fn edited(edit: impl FnOnce(&mut Value)) -> Value {
    let mut value = valid();
    edit(&mut value);
    value
}

/// Parses `input` and compares the problems found with `expect`, in order.
#[track_caller]
fn check(input: &str, expect: &[(&str, &str)]) {
    let result = Manifest::parse(input.as_bytes());
    let problems = match &result {
        Ok(_) => Vec::new(),
        Err(errors) => errors.problems.clone(),
    };
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    let expected_fields: Vec<&str> = expect.iter().map(|(field, _)| *field).collect();
    assert_eq!(fields, expected_fields, "problems: {problems:#?}");
    for (problem, (_, fragment)) in problems.iter().zip(expect) {
        assert!(
            problem.message.contains(fragment),
            "{:?}: message {:?} lacks {fragment:?}",
            problem.field,
            problem.message
        );
    }
}

#[track_caller]
fn check_value(value: Value, expect: &[(&str, &str)]) {
    check(&value.to_string(), expect);
}

#[test]
fn valid_manifest_parses_into_typed_fields() {
    let manifest = Manifest::parse(valid().to_string().as_bytes()).unwrap();
    assert_eq!(manifest.id, "connect4");
    assert_eq!(manifest.version, semver::Version::new(1, 0, 0));
    assert_eq!(manifest.kind, GameKind::Cli);
    assert_eq!((manifest.min_players, manifest.max_players), (2, 2));
    assert_eq!(manifest.server.command[0], "bin/connect4-server");
    assert_eq!(manifest.server.env["RUST_LOG"], "info");
    assert!(manifest.client.env.is_empty());
    assert!(manifest.accepts_players(2) && !manifest.accepts_players(3));
}

#[test]
fn unknown_fields_and_a_byte_order_mark_are_accepted() {
    let value = edited(|m| {
        m["homepage"] = json!("https://example.org");
        m["server"]["restart"] = json!(true);
    });
    check_value(value.clone(), &[]);
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend(value.to_string().bytes());
    Manifest::parse(&with_bom).unwrap();
}

#[test]
fn each_missing_field_is_named() {
    check(
        "{}",
        &[
            ("id", "missing required field"),
            ("name", "missing required field"),
            ("version", "missing required field"),
            ("description", "missing required field"),
            ("kind", "missing required field"),
            ("min_players", "missing required field"),
            ("max_players", "missing required field"),
            ("server", "missing required field"),
            ("client", "missing required field"),
        ],
    );
    for key in ["id", "version", "kind", "server"] {
        check_value(
            edited(|m| {
                m.as_object_mut().unwrap().remove(key);
            }),
            &[(key, "missing required field")],
        );
    }
    check_value(
        edited(|m| m["client"] = json!({"env": {}})),
        &[("client.command", "missing required field")],
    );
}

#[test]
fn json_syntax_errors_give_line_and_column() {
    check(
        "{\n  \"id\": \"x\",\n  \"name\": oops\n}",
        &[("", "not valid JSON: expected value (line 3, column 11)")],
    );
    check("", &[("", "not valid JSON")]);
    check("[1, 2]", &[("", "expected a JSON object at the top level, found an array")]);
}

#[test]
fn id_rules() {
    for ok in ["a", "0day", "tic-tac_toe", &"x".repeat(32)] {
        check_value(edited(|m| m["id"] = json!(ok)), &[]);
    }
    for bad in ["", "Connect4", "-x", "_x", "a b", "a.b", "ü", &"x".repeat(33)] {
        check_value(edited(|m| m["id"] = json!(bad)), &[("id", "not a valid id")]);
    }
    check_value(edited(|m| m["id"] = json!(4)), &[("id", "expected a string, found a number")]);
}

#[test]
fn name_rules() {
    check_value(edited(|m| m["name"] = json!("Échecs ♞")), &[]);
    check_value(edited(|m| m["name"] = json!("x".repeat(64))), &[]);
    check_value(
        edited(|m| m["name"] = json!("x".repeat(65))),
        &[("name", "at most 64 characters, found 65")],
    );
    check_value(edited(|m| m["name"] = json!("  ")), &[("name", "must not be empty")]);
    check_value(edited(|m| m["name"] = json!("a\u{7}b")), &[("name", "control characters")]);
}

#[test]
fn version_description_and_kind_rules() {
    check_value(edited(|m| m["version"] = json!("2.0.0-beta.1+build.5")), &[]);
    for bad in ["1.0", "v1.0.0", "latest", ""] {
        check_value(
            edited(|m| m["version"] = json!(bad)),
            &[("version", "not a semantic version")],
        );
    }
    check_value(edited(|m| m["description"] = json!("")), &[]);
    check_value(
        edited(|m| m["description"] = json!("d".repeat(2001))),
        &[("description", "at most 2000 characters")],
    );
    check_value(edited(|m| m["kind"] = json!("gui")), &[]);
    check_value(
        edited(|m| m["kind"] = json!("CLI")),
        &[("kind", r#"expected "cli", "gui" or "plugin", found "CLI""#)],
    );
}

#[test]
fn player_count_rules() {
    let players = |min: Value, max: Value| {
        edited(|m| {
            m["min_players"] = min;
            m["max_players"] = max;
        })
    };
    check_value(players(json!(1), json!(16)), &[]);
    check_value(players(json!(3), json!(3)), &[]);
    check_value(
        players(json!(0), json!(17)),
        &[("min_players", "from 1 to 16, found 0"), ("max_players", "from 1 to 16, found 17")],
    );
    check_value(
        players(json!(4), json!(2)),
        &[("max_players", "at least min_players (4), found 2")],
    );
    check_value(
        players(json!("2"), json!(2.5)),
        &[("min_players", "found \"2\""), ("max_players", "found 2.5")],
    );
    check_value(players(json!(-1), json!(2)), &[("min_players", "found -1")]);
}

#[test]
fn command_shape_rules() {
    check_value(
        edited(|m| m["server"] = json!(["bin/server"])),
        &[("server", "expected an object with a \"command\" array, found an array")],
    );
    check_value(
        edited(|m| m["server"]["command"] = json!("bin/server --port {port}")),
        &[("server.command", "expected an array of strings")],
    );
    check_value(
        edited(|m| m["server"]["command"] = json!([])),
        &[("server.command", "at least the program")],
    );
    check_value(
        edited(|m| m["client"]["command"] = json!(["bin/client", 7, null])),
        &[
            ("client.command[1]", "expected a string, found a number"),
            ("client.command[2]", "expected a string, found null"),
        ],
    );
    check_value(
        edited(|m| m["client"]["command"] = json!(["", "x"])),
        &[("client.command[0]", "program must not be empty")],
    );
    check_value(
        edited(|m| m["client"]["command"] = json!(["../../bin/sh"])),
        &[("client.command[0]", "leaves the game folder")],
    );
    check_value(
        edited(|m| m["client"]["command"] = json!(["bin/client", "a\u{0}b"])),
        &[("client.command[1]", "NUL")],
    );
    check_value(
        edited(|m| m["client"]["command"] = json!(["bin/client", "x".repeat(4097)])),
        &[("client.command[1]", "at most 4096 bytes, found 4097")],
    );
    check_value(
        edited(|m| m["client"]["command"] = json!(vec!["x"; 257])),
        &[("client.command", "at most 256 arguments")],
    );
    check_value(edited(|m| m["client"]["command"] = json!(["python3", "{game_dir}/main.py"])), &[]);
}

#[test]
fn env_rules() {
    check_value(edited(|m| m["server"]["env"] = json!({"A_1": "{port}", "_x": ""})), &[]);
    check_value(
        edited(|m| m["server"]["env"] = json!(["RUST_LOG=info"])),
        &[("server.env", "expected an object")],
    );
    check_value(
        edited(|m| {
            m["server"]["env"] = json!({
                "1BAD": "x",
                "GAMESTORE_RESULT_FILE": "/tmp/x",
                "OK": 5,
                "PLAYER": "{player}",
                "TYPO": "{prot}",
                "has space": "x"
            })
        }),
        &[
            ("server.env[\"1BAD\"]", "not a valid variable name"),
            ("server.env.GAMESTORE_RESULT_FILE", "reserved for the platform"),
            ("server.env.OK", "expected a string, found a number"),
            ("server.env.PLAYER", "{player} is not available to the game server"),
            ("server.env.TYPO", "unknown placeholder {prot}"),
            ("server.env[\"has space\"]", "not a valid variable name"),
        ],
    );
}

#[test]
fn placeholder_rules() {
    check_value(
        edited(|m| m["server"]["command"] = json!(["bin/server", "--name", "{player}"])),
        &[("server.command[2]", "{player} is not available to the game server")],
    );
    check_value(
        edited(|m| m["client"]["command"] = json!(["bin/client", "--port", "{prot}"])),
        &[("client.command[2]", "unknown placeholder {prot}")],
    );
    check_value(
        edited(|m| m["client"]["command"] = json!(["bin/client", "{host"])),
        &[("client.command[1]", "without a closing")],
    );
    check_value(
        edited(|m| m["client"]["command"] = json!(["bin/client", "a}b"])),
        &[("client.command[1]", "without an opening")],
    );
    check_value(
        edited(|m| m["client"]["command"] = json!(["bin/client", "{{\"json\": {port}}}"])),
        &[],
    );
}

#[test]
fn several_problems_are_reported_at_once() {
    check_value(
        json!({
            "id": "Bad Id",
            "name": "",
            "version": "one",
            "kind": "vr",
            "min_players": 3,
            "max_players": 2,
            "server": {"command": ["bin/s", "{player}"]},
            "client": {"command": []}
        }),
        &[
            ("id", "not a valid id"),
            ("name", "must not be empty"),
            ("version", "not a semantic version"),
            ("description", "missing required field"),
            ("kind", "expected \"cli\", \"gui\" or \"plugin\""),
            ("max_players", "at least min_players"),
            ("server.command[1]", "{player}"),
            ("client.command", "at least the program"),
        ],
    );
}

#[test]
fn errors_display_on_one_line() {
    let errors = Manifest::parse(br#"{"id": "x"}"#).unwrap_err();
    let line = errors.to_string();
    assert!(
        line.starts_with("invalid config.json: name: missing required field; version: missing"),
        "{line}"
    );
    assert!(!line.contains('\n'));
}

#[test]
fn serde_round_trip_and_deserialize_validates() {
    let manifest = Manifest::parse(valid().to_string().as_bytes()).unwrap();
    let json = serde_json::to_value(&manifest).unwrap();
    assert_eq!(json["kind"], "cli");
    assert_eq!(json["version"], "1.0.0");
    assert_eq!(json, valid(), "serialized form is the manifest format itself");
    let back: Manifest = serde_json::from_value(json).unwrap();
    assert_eq!(back, manifest);

    let err = serde_json::from_value::<Manifest>(edited(|m| m["min_players"] = json!(0)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("min_players: expected a whole number"), "{err}");
}

#[cfg(unix)]
mod load_dir {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A game folder with `valid()` as config and the two binaries, executable.
    fn game_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        write_config(dir.path(), &valid());
        fs::create_dir(dir.path().join("bin")).unwrap();
        for bin in ["bin/connect4-server", "bin/connect4-client"] {
            let path = dir.path().join(bin);
            fs::write(&path, b"#!/bin/sh\n").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
        dir
    }

    fn write_config(dir: &Path, value: &Value) {
        fs::write(dir.join(MANIFEST_FILE), value.to_string()).unwrap();
    }

    #[track_caller]
    fn check_dir(dir: &Path, expect: &[(&str, &str)]) {
        let problems = match Manifest::load_dir(dir) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.problems,
        };
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        let expected: Vec<&str> = expect.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, expected, "{problems:#?}");
        for (problem, (_, fragment)) in problems.iter().zip(expect) {
            assert!(problem.message.contains(fragment), "{problem:?} lacks {fragment:?}");
        }
    }

    #[test]
    fn complete_folder_loads() {
        let dir = game_dir();
        check_dir(dir.path(), &[]);
    }

    #[test]
    fn missing_config_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        check_dir(dir.path(), &[("", "config.json not found")]);
    }

    #[test]
    fn programs_must_exist_and_be_executable() {
        let dir = game_dir();
        fs::remove_file(dir.path().join("bin/connect4-server")).unwrap();
        let client = dir.path().join("bin/connect4-client");
        fs::set_permissions(&client, fs::Permissions::from_mode(0o644)).unwrap();
        check_dir(
            dir.path(),
            &[
                ("server.command[0]", "bin/connect4-server: no such file in the game folder"),
                ("client.command[0]", "not executable (run `chmod +x bin/connect4-client`)"),
            ],
        );
    }

    #[test]
    fn program_checks_cover_game_dir_paths_and_bare_names() {
        let dir = game_dir();
        fs::write(dir.path().join("launch"), b"").unwrap();
        write_config(
            dir.path(),
            &edited(|m| {
                m["server"]["command"] = json!(["{game_dir}/bin/nope"]);
                m["client"]["command"] = json!(["launch"]);
            }),
        );
        check_dir(
            dir.path(),
            &[
                ("server.command[0]", "bin/nope: no such file"),
                ("client.command[0]", "launch: not executable"),
            ],
        );

        // A bare name that is not in the folder is left for PATH lookup.
        write_config(
            dir.path(),
            &edited(|m| m["client"]["command"] = json!(["python3", "main.py"])),
        );
        check_dir(dir.path(), &[]);
    }

    #[test]
    fn programs_must_be_regular_files() {
        let dir = game_dir();
        fs::remove_file(dir.path().join("bin/connect4-client")).unwrap();
        std::os::unix::fs::symlink("/bin/sh", dir.path().join("bin/connect4-client")).unwrap();
        fs::create_dir(dir.path().join("bin/connect4-server.d")).unwrap();
        write_config(
            dir.path(),
            &edited(|m| m["server"]["command"] = json!(["bin/connect4-server.d"])),
        );
        check_dir(
            dir.path(),
            &[("server.command[0]", "not a regular file"), ("client.command[0]", "symbolic link")],
        );
    }

    #[test]
    fn invalid_config_is_reported_before_files_are_checked() {
        let dir = game_dir();
        write_config(dir.path(), &edited(|m| m["kind"] = json!("tui")));
        check_dir(dir.path(), &[("kind", "expected \"cli\", \"gui\" or \"plugin\"")]);
    }
}

#[test]
fn placeholders_for_games_from_other_launchers_and_the_result_mode() {
    // Every new placeholder works in the client's argv and env.
    let client = edited(|m| {
        m["client"]["command"] = json!(["bin/c", "--seat", "{seat}", "--id", "{player_id}"]);
        m["client"]["env"] = json!({"ROOM": "{room_id}", "ALL": "{player_list}"});
    });
    check_value(client, &[]);
    // The server has the room and the player list, but no seat of its own.
    check_value(
        edited(|m| {
            m["server"]["command"] = json!(["bin/s", "{room_id}", "{player_list}", "{seat}"]);
            m["server"]["env"] = json!({"ID": "{player_id}"});
        }),
        &[
            ("server.command[3]", "{seat} is not available to the game server"),
            ("server.env.ID", "{player_id} is not available to the game server"),
        ],
    );
    // How the result is reported: the result file unless it says stdout.
    let parse = |value: Value| Manifest::from_value(&value).map(|m| m.result);
    assert_eq!(parse(valid()), Ok(ResultMode::File));
    assert_eq!(parse(edited(|m| m["result"] = "file".into())), Ok(ResultMode::File));
    assert_eq!(parse(edited(|m| m["result"] = "stdout".into())), Ok(ResultMode::Stdout));
    check_value(
        edited(|m| m["result"] = "exit_code".into()),
        &[("result", "expected \"file\" (GAMESTORE_RESULT_FILE) or \"stdout\"")],
    );
    // A manifest without the field stays without it when stored.
    let stored = serde_json::to_value(Manifest::from_value(&valid()).unwrap()).unwrap();
    assert!(stored.get("result").is_none());
    let stdout = Manifest::from_value(&edited(|m| m["result"] = "stdout".into())).unwrap();
    let round_trip: Manifest =
        serde_json::from_value(serde_json::to_value(&stdout).unwrap()).unwrap();
    assert_eq!(round_trip.result, ResultMode::Stdout);
}

fn plugin() -> Value {
    json!({
        "id": "roomchat", "name": "Room chat+", "version": "1.0.0",
        "description": "A second chat panel.", "kind": "plugin",
        "plugin": {
            "command": ["bin/roomchat", "--name", "{player}"],
            "events": ["room_joined", "plugin_message"],
            "panel": {"title": "Room chat+", "prefix": "chat+"}
        }
    })
}

#[test]
fn plugin_manifests_need_their_own_section_and_no_game_fields() {
    let manifest = Manifest::from_value(&plugin()).unwrap();
    assert!(manifest.is_plugin());
    let spec = manifest.plugin.clone().unwrap();
    assert_eq!(spec.command.command[0], "bin/roomchat");
    assert_eq!(spec.events, [PluginEvent::RoomJoined, PluginEvent::PluginMessage]);
    assert_eq!(spec.panel.prefix, "chat+");
    // What the lobby stores reads back the same.
    let stored = serde_json::to_string(&manifest).unwrap();
    assert_eq!(serde_json::from_str::<Manifest>(&stored).unwrap(), manifest);
    // A game's manifest has no plugin section.
    assert_eq!(Manifest::from_value(&valid()).unwrap().plugin, None);

    let mut missing = plugin();
    missing.as_object_mut().unwrap().remove("plugin");
    check_value(missing, &[("plugin", "missing required field")]);
    check_value(
        {
            let mut v = plugin();
            v["plugin"]["events"] = json!(["room_joined", "everything"]);
            v["plugin"]["panel"]["prefix"] = json!("Chat Plus");
            v["plugin"]["command"] = json!(["bin/roomchat", "{port}"]);
            v
        },
        &[
            ("plugin.command[1]", "not available to a plugin"),
            ("plugin.events[1]", "expected one of room_joined"),
            ("plugin.panel.prefix", "1 to 16 characters"),
        ],
    );
    check_value(
        {
            let mut v = plugin();
            v["plugin"]["panel"] = json!({"prefix": "x"});
            v
        },
        &[("plugin.panel.title", "1 to 64 characters")],
    );
}
