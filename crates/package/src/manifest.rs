//! The game manifest, `config.json` at the root of every game folder.
//!
//! ```json
//! {
//!   "id": "connect4", "name": "Connect Four", "version": "1.0.0",
//!   "description": "Classic four-in-a-row for two players in the terminal.",
//!   "kind": "cli", "min_players": 2, "max_players": 2,
//!   "server": { "command": ["bin/connect4-server", "--port", "{port}", "--players", "{players}"],
//!               "env": {"RUST_LOG": "info"} },
//!   "client": { "command": ["bin/connect4-client", "--host", "{host}", "--port", "{port}",
//!                           "--name", "{player}"] }
//! }
//! ```
//!
//! [`Manifest::parse`] checks the document field by field and reports every
//! problem at once, each naming its field by JSON path (`server.command[0]`), so a
//! developer fixes a manifest in one round. Unknown top-level fields are ignored,
//! which lets newer manifests load in older platforms. A [`Manifest`] value built
//! by `parse` or by deserializing always satisfies the rules below.
//!
//! Rules: `id` matches `[a-z0-9][a-z0-9_-]{0,31}`; `name` has 1 to 64 characters
//! and no control characters; `version` is semver; `description` has at most
//! 2000 characters; `kind` is `"cli"`, `"gui"` or `"plugin"`; `1 <= min_players <=
//! max_players <= 16`; `server` and `client` each hold a non-empty `command`
//! array of strings (see [`Command`](crate::Command)) and optional `env` object.
//! A launcher plugin (`"kind": "plugin"`) has a `plugin` section
//! ([`PluginSpec`]) instead of the player counts, `server` and `client`.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Component, Path};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::command::{Command, Placeholder, template_placeholders};

/// Name of the manifest file at the root of a game folder.
pub const MANIFEST_FILE: &str = "config.json";

/// Largest manifest accepted, in bytes.
pub const MAX_MANIFEST_BYTES: usize = 1024 * 1024;

/// Most players a game may declare.
pub const MAX_PLAYERS: u32 = 16;

const MAX_ID_CHARS: usize = 32;
const MAX_NAME_CHARS: usize = 64;
const MAX_DESCRIPTION_CHARS: usize = 2000;
const MAX_ARG_BYTES: usize = 4096;
const MAX_ARGS: usize = 256;
const MAX_ENV_VARS: usize = 128;
/// Environment variables with this prefix are set by the platform only.
const RESERVED_ENV_PREFIX: &str = "GAMESTORE_";

/// A validated game manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Value")]
pub struct Manifest {
    /// Stable game id, unique in the store (`connect4`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Version of this package; a store only accepts increasing versions.
    pub version: semver::Version,
    /// Free text shown in the store.
    pub description: String,
    /// Whether the client runs in a terminal or opens a window.
    pub kind: GameKind,
    /// Fewest players a match can start with.
    pub min_players: u32,
    /// Most players a match can hold.
    pub max_players: u32,
    /// Started once per match by the lobby's game manager.
    pub server: Command,
    /// Started once per player by the launcher.
    pub client: Command,
    /// How the game server reports the match's result (`"result"`,
    /// optional: `"file"` by default).
    #[serde(default, skip_serializing_if = "ResultMode::is_file")]
    pub result: ResultMode,
    /// What a launcher plugin runs and draws; `Some` exactly when `kind` is
    /// [`GameKind::Plugin`]. A plugin has no game server or game client:
    /// `server` and `client` are empty and both player counts are 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginSpec>,
}

/// The `plugin` section of a plugin's manifest (docs/PLUGINS.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginSpec {
    /// The program the launcher starts and talks to over its standard
    /// input and output, with `command` and `env` as in a game's client.
    #[serde(flatten)]
    pub command: Command,
    /// The events the plugin wants on its standard input.
    pub events: Vec<PluginEvent>,
    /// The panel the plugin draws in the room screen.
    pub panel: PluginPanel,
}

/// An event a launcher can send to a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginEvent {
    /// The player entered a room.
    RoomJoined,
    /// The player left the room.
    RoomLeft,
    /// The room's members changed.
    Members,
    /// Something happened in the room (a match started or ended, the host changed).
    RoomEvent,
    /// Another member's copy of this plugin sent a message.
    PluginMessage,
}

impl PluginEvent {
    /// Every event, in documentation order.
    pub const ALL: [PluginEvent; 5] = [
        PluginEvent::RoomJoined,
        PluginEvent::RoomLeft,
        PluginEvent::Members,
        PluginEvent::RoomEvent,
        PluginEvent::PluginMessage,
    ];

    /// The name used in manifests and on the plugin's standard input.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginEvent::RoomJoined => "room_joined",
            PluginEvent::RoomLeft => "room_left",
            PluginEvent::Members => "members",
            PluginEvent::RoomEvent => "room_event",
            PluginEvent::PluginMessage => "plugin_message",
        }
    }
}

/// How a plugin's panel is labelled in the room screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginPanel {
    /// The panel's heading (1 to 64 characters).
    pub title: String,
    /// Put before each of its lines as `[prefix]` (1 to 16 characters of
    /// `a-z`, `0-9`, `+`, `_` or `-`).
    pub prefix: String,
}

const MAX_PREFIX_CHARS: usize = 16;

/// The prefix of the standard output line that carries a match's result
/// in [`ResultMode::Stdout`]: `RESULT {"winner": "ann"}`.
pub const RESULT_PREFIX: &str = "RESULT ";

/// How a game server reports the match's result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultMode {
    /// A JSON object written to the file named by `GAMESTORE_RESULT_FILE`.
    #[default]
    File,
    /// The last line of the server's standard output that starts with
    /// [`RESULT_PREFIX`] followed by a JSON object, as games written for
    /// simple launchers often print it.
    Stdout,
}

impl ResultMode {
    fn is_file(&self) -> bool {
        *self == ResultMode::File
    }
}

/// How the game client presents itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GameKind {
    /// Runs in the player's terminal.
    Cli,
    /// Opens its own window.
    Gui,
    /// Not a game: a launcher plugin (see [`PluginSpec`]).
    Plugin,
}

impl GameKind {
    /// `"cli"`, `"gui"` or `"plugin"`, as in the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            GameKind::Cli => "cli",
            GameKind::Gui => "gui",
            GameKind::Plugin => "plugin",
        }
    }
}

impl fmt::Display for GameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing wrong with a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// JSON path of the field (`"min_players"`, `"server.command[0]"`,
    /// `"client.env.PATH"`); empty when the problem is with the whole document.
    pub field: String,
    /// What is wrong, for a person.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// Every problem found in a manifest (never empty). Messages contain no `;`,
/// which separates problems on the one-line display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestErrors {
    /// In document order: top-level fields first, then nested ones.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ManifestErrors {
    /// `invalid config.json: id: ...; version: ...` on one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {MANIFEST_FILE}: ")?;
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ManifestErrors {}

impl ManifestErrors {
    fn single(field: &str, message: String) -> ManifestErrors {
        ManifestErrors { problems: vec![Problem { field: field.to_owned(), message }] }
    }
}

/// True when `id` is a valid game id: 1 to 32 lowercase ASCII letters,
/// digits, `_` or `-`, starting with a letter or digit. Ids name folders on
/// the lobby and players' machines, so nothing else is accepted.
pub fn is_valid_game_id(id: &str) -> bool {
    let first_ok = id.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok =
        id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    first_ok && rest_ok && id.len() <= MAX_ID_CHARS
}

impl Manifest {
    /// Parses and validates the bytes of a `config.json`.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestErrors> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestErrors::single(
                "",
                format!("{MANIFEST_FILE} is larger than {MAX_MANIFEST_BYTES} bytes"),
            ));
        }
        // Editors on Windows like to start files with a byte-order mark.
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            let message = e.to_string();
            let reason = message.split(" at line ").next().unwrap_or(&message);
            ManifestErrors::single(
                "",
                format!("not valid JSON: {reason} (line {}, column {})", e.line(), e.column()),
            )
        })?;
        Manifest::from_value(&value)
    }

    /// Validates an already parsed JSON document.
    pub fn from_value(value: &Value) -> Result<Manifest, ManifestErrors> {
        let mut checker = Checker::default();
        let manifest = checker.manifest(value);
        match manifest {
            Some(manifest) if checker.problems.is_empty() => Ok(manifest),
            _ => Err(ManifestErrors { problems: checker.problems }),
        }
    }

    /// Reads and validates `dir/config.json`, and checks that each command's
    /// program, when it names a file of the folder, is an executable regular file
    /// inside it.
    ///
    /// A `command[0]` counts as naming a file of the folder when it contains a
    /// `/` (`bin/server`, `{game_dir}/bin/server`) or when a file of that name
    /// exists in `dir`; other names (`python3`) are looked up on `PATH` at run
    /// time and not checked here.
    pub fn load_dir(dir: &Path) -> Result<Manifest, ManifestErrors> {
        let path = dir.join(MANIFEST_FILE);
        let bytes = fs::read(&path).map_err(|e| {
            let message = if e.kind() == std::io::ErrorKind::NotFound {
                format!("{} not found", path.display())
            } else {
                format!("cannot read {}: {e}", path.display())
            };
            ManifestErrors::single("", message)
        })?;
        // The programs are checked even when fields are wrong, so that one
        // run of `validate` reports every problem.
        let parsed = Manifest::parse(&bytes);
        let value: Option<Value> =
            serde_json::from_slice(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes)).ok();
        let mut problems = match &parsed {
            Ok(_) => Vec::new(),
            Err(errors) => errors.problems.clone(),
        };
        for role in ["server", "client", "plugin"] {
            let field = format!("{role}.command[0]");
            let program = value.as_ref().and_then(|v| v[role]["command"][0].as_str());
            let Some(program) = program else { continue };
            if problems.iter().any(|p| p.field == field) {
                continue;
            }
            if let Err(message) = check_program_file(dir, program) {
                problems.push(Problem { field, message });
            }
        }
        match parsed {
            Ok(manifest) if problems.is_empty() => Ok(manifest),
            _ => Err(ManifestErrors { problems }),
        }
    }

    /// True for a launcher plugin's manifest.
    pub fn is_plugin(&self) -> bool {
        self.kind == GameKind::Plugin
    }

    /// Whether a match with `players` players fits this game.
    pub fn accepts_players(&self, players: u32) -> bool {
        (self.min_players..=self.max_players).contains(&players)
    }
}

impl TryFrom<Value> for Manifest {
    type Error = ManifestErrors;

    fn try_from(value: Value) -> Result<Manifest, ManifestErrors> {
        Manifest::from_value(&value)
    }
}

/// Checks that a program path that points into the game folder names an
/// executable regular file there.
fn check_program_file(dir: &Path, program: &str) -> Result<(), String> {
    let relative = program.strip_prefix("{game_dir}/").unwrap_or(program);
    if relative.contains('{') || Path::new(relative).is_absolute() {
        // Other placeholders or absolute paths: only known at run time.
        return Ok(());
    }
    let path = dir.join(relative);
    let names_a_file = relative.contains('/') || path.symlink_metadata().is_ok();
    if !names_a_file {
        return Ok(());
    }
    let meta = path
        .symlink_metadata()
        .map_err(|_| format!("{relative}: no such file in the game folder"))?;
    if meta.file_type().is_symlink() {
        return Err(format!(
            "{relative}: is a symbolic link, but packages hold regular files only"
        ));
    }
    if !meta.is_file() {
        return Err(format!("{relative}: not a regular file"));
    }
    if !crate::walk::is_executable(&meta) && cfg!(unix) {
        return Err(format!("{relative}: not executable (run `chmod +x {relative}`)"));
    }
    Ok(())
}

/// Which command a check is for: `{player}` is meaningless for the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Server,
    Client,
    /// A launcher plugin: only `{game_dir}` and `{player}` exist.
    Plugin,
}

/// Collects problems while walking the JSON document.
#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn problem(&mut self, field: &str, message: impl Into<String>) {
        self.problems.push(Problem { field: field.to_owned(), message: message.into() });
    }

    fn manifest(&mut self, value: &Value) -> Option<Manifest> {
        let Some(obj) = value.as_object() else {
            self.problem(
                "",
                format!("expected a JSON object at the top level, found {}", describe(value)),
            );
            return None;
        };
        let id = self.id(obj);
        let name = self.name(obj);
        let version = self.version(obj);
        let description = self.description(obj);
        let kind = self.kind(obj);
        if kind == Some(GameKind::Plugin) {
            let plugin = self.plugin(obj);
            let result = self.result_mode(obj);
            let empty = || Command { command: Vec::new(), env: BTreeMap::new() };
            return Some(Manifest {
                id: id?,
                name: name?,
                version: version?,
                description: description?,
                kind: GameKind::Plugin,
                min_players: 1,
                max_players: 1,
                server: empty(),
                client: empty(),
                result: result?,
                plugin: Some(plugin?),
            });
        }
        let min_players = self.player_count(obj, "min_players");
        let max_players = self.player_count(obj, "max_players");
        if let (Some(min), Some(max)) = (min_players, max_players)
            && min > max
        {
            self.problem(
                "max_players",
                format!("must be at least min_players ({min}), found {max}"),
            );
        }
        let server = self.command(obj, "server", Role::Server);
        let client = self.command(obj, "client", Role::Client);
        let result = self.result_mode(obj);
        Some(Manifest {
            id: id?,
            name: name?,
            version: version?,
            description: description?,
            kind: kind?,
            min_players: min_players?,
            max_players: max_players?,
            server: server?,
            client: client?,
            result: result?,
            plugin: None,
        })
    }

    /// The `plugin` section of a plugin's manifest.
    fn plugin(&mut self, obj: &Map<String, Value>) -> Option<PluginSpec> {
        let command = self.command(obj, "plugin", Role::Plugin);
        let section = obj.get("plugin").and_then(Value::as_object)?;
        let events = match section.get("events") {
            None => {
                self.problem("plugin.events", "missing required field");
                None
            }
            Some(Value::Array(items)) => {
                let before = self.problems.len();
                let mut events = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let found = PluginEvent::ALL.iter().find(|e| item.as_str() == Some(e.as_str()));
                    match found {
                        Some(event) if !events.contains(event) => events.push(*event),
                        Some(_) => {}
                        None => self.problem(
                            &format!("plugin.events[{i}]"),
                            format!(
                                "expected one of {}, found {item}",
                                PluginEvent::ALL.map(|e| e.as_str()).join(", ")
                            ),
                        ),
                    }
                }
                (self.problems.len() == before).then_some(events)
            }
            Some(other) => {
                self.problem(
                    "plugin.events",
                    format!("expected an array of event names, found {}", describe(other)),
                );
                None
            }
        };
        let panel = self.panel(section);
        Some(PluginSpec { command: command?, events: events?, panel: panel? })
    }

    fn panel(&mut self, section: &Map<String, Value>) -> Option<PluginPanel> {
        let Some(panel) = section.get("panel").and_then(Value::as_object) else {
            self.problem("plugin.panel", "missing required object {\"title\", \"prefix\"}");
            return None;
        };
        let title = panel.get("title").and_then(Value::as_str);
        let title = match title {
            Some(t)
                if !t.trim().is_empty()
                    && t.chars().count() <= MAX_NAME_CHARS
                    && !t.chars().any(char::is_control) =>
            {
                Some(t.to_owned())
            }
            _ => {
                self.problem(
                    "plugin.panel.title",
                    format!("expected 1 to {MAX_NAME_CHARS} characters of text"),
                );
                None
            }
        };
        let prefix = panel.get("prefix").and_then(Value::as_str);
        let prefix = match prefix {
            Some(p)
                if !p.is_empty()
                    && p.chars().count() <= MAX_PREFIX_CHARS
                    && p.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || "+_-".contains(c)
                    }) =>
            {
                Some(p.to_owned())
            }
            _ => {
                self.problem(
                    "plugin.panel.prefix",
                    format!(
                        "expected 1 to {MAX_PREFIX_CHARS} characters of a-z, 0-9, `+`, `_` or `-`"
                    ),
                );
                None
            }
        };
        Some(PluginPanel { title: title?, prefix: prefix? })
    }

    /// The optional `result` field.
    fn result_mode(&mut self, obj: &Map<String, Value>) -> Option<ResultMode> {
        match obj.get("result") {
            None => Some(ResultMode::File),
            Some(Value::String(mode)) if mode == "file" => Some(ResultMode::File),
            Some(Value::String(mode)) if mode == "stdout" => Some(ResultMode::Stdout),
            Some(other) => {
                self.problem(
                    "result",
                    format!(
                        "expected \"file\" (GAMESTORE_RESULT_FILE) or \"stdout\" (a line \
                         {RESULT_PREFIX:?} and a JSON object), found {other}"
                    ),
                );
                None
            }
        }
    }

    /// The value of a required field, or a "missing" problem.
    fn required<'a>(&mut self, obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
        let value = obj.get(key);
        if value.is_none() {
            self.problem(key, "missing required field");
        }
        value
    }

    /// A field that must be a string.
    fn string<'a>(&mut self, obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
        let value = self.required(obj, key)?;
        let text = value.as_str();
        if text.is_none() {
            self.problem(key, format!("expected a string, found {}", describe(value)));
        }
        text
    }

    fn id(&mut self, obj: &Map<String, Value>) -> Option<String> {
        let id = self.string(obj, "id")?;
        if !is_valid_game_id(id) {
            self.problem(
                "id",
                format!(
                    "{id:?} is not a valid id: use 1 to 32 lowercase letters, digits, `_` or `-`, \
                     starting with a letter or digit"
                ),
            );
            return None;
        }
        Some(id.to_owned())
    }

    fn name(&mut self, obj: &Map<String, Value>) -> Option<String> {
        let name = self.string(obj, "name")?;
        let chars = name.chars().count();
        if name.trim().is_empty() {
            self.problem("name", "must not be empty");
        } else if chars > MAX_NAME_CHARS {
            self.problem("name", format!("at most {MAX_NAME_CHARS} characters, found {chars}"));
        } else if name.chars().any(char::is_control) {
            self.problem("name", "must not contain control characters");
        } else {
            return Some(name.to_owned());
        }
        None
    }

    fn version(&mut self, obj: &Map<String, Value>) -> Option<semver::Version> {
        let text = self.string(obj, "version")?;
        match semver::Version::parse(text) {
            Ok(version) => Some(version),
            Err(e) => {
                self.problem(
                    "version",
                    format!("{text:?} is not a semantic version such as \"1.2.0\": {e}"),
                );
                None
            }
        }
    }

    fn description(&mut self, obj: &Map<String, Value>) -> Option<String> {
        let text = self.string(obj, "description")?;
        let chars = text.chars().count();
        if chars > MAX_DESCRIPTION_CHARS {
            self.problem(
                "description",
                format!("at most {MAX_DESCRIPTION_CHARS} characters, found {chars}"),
            );
            return None;
        }
        Some(text.to_owned())
    }

    fn kind(&mut self, obj: &Map<String, Value>) -> Option<GameKind> {
        let text = self.string(obj, "kind")?;
        match text {
            "cli" => Some(GameKind::Cli),
            "gui" => Some(GameKind::Gui),
            "plugin" => Some(GameKind::Plugin),
            other => {
                self.problem(
                    "kind",
                    format!("expected \"cli\", \"gui\" or \"plugin\", found {other:?}"),
                );
                None
            }
        }
    }

    fn player_count(&mut self, obj: &Map<String, Value>, key: &str) -> Option<u32> {
        let value = self.required(obj, key)?;
        match value.as_u64() {
            Some(n @ 1..=16) => Some(n as u32),
            _ => {
                self.problem(
                    key,
                    format!("expected a whole number from 1 to {MAX_PLAYERS}, found {}", value),
                );
                None
            }
        }
    }

    fn command(&mut self, obj: &Map<String, Value>, key: &str, role: Role) -> Option<Command> {
        let value = self.required(obj, key)?;
        let Some(section) = value.as_object() else {
            self.problem(
                key,
                format!("expected an object with a \"command\" array, found {}", describe(value)),
            );
            return None;
        };
        let argv = self.argv(section, key, role);
        let env = match section.get("env") {
            None => Some(BTreeMap::new()),
            Some(env) => self.env(env, &format!("{key}.env"), role),
        };
        Some(Command { command: argv?, env: env? })
    }

    fn argv(
        &mut self,
        section: &Map<String, Value>,
        parent: &str,
        role: Role,
    ) -> Option<Vec<String>> {
        let field = format!("{parent}.command");
        let Some(value) = section.get("command") else {
            self.problem(&field, "missing required field");
            return None;
        };
        let Some(items) = value.as_array() else {
            self.problem(
                &field,
                format!(
                    "expected an array of strings such as [\"bin/server\", \"--port\", \"{{port}}\"], found {}",
                    describe(value)
                ),
            );
            return None;
        };
        if items.is_empty() {
            self.problem(&field, "must name at least the program to run");
            return None;
        }
        if items.len() > MAX_ARGS {
            self.problem(&field, format!("at most {MAX_ARGS} arguments, found {}", items.len()));
            return None;
        }
        let before = self.problems.len();
        let mut argv = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let item_field = format!("{field}[{i}]");
            let Some(arg) = item.as_str() else {
                self.problem(&item_field, format!("expected a string, found {}", describe(item)));
                continue;
            };
            if i == 0 {
                self.program(&item_field, arg);
            }
            self.template_text(&item_field, arg, role);
            argv.push(arg.to_owned());
        }
        (self.problems.len() == before).then_some(argv)
    }

    /// Extra rules for `command[0]`.
    fn program(&mut self, field: &str, program: &str) {
        if program.is_empty() {
            self.problem(field, "the program must not be empty");
        } else if Path::new(program).components().any(|c| c == Component::ParentDir) {
            self.problem(
                field,
                format!("{program:?} leaves the game folder (`..`), name a file inside it"),
            );
        }
    }

    /// Rules shared by arguments and environment values.
    fn template_text(&mut self, field: &str, text: &str, role: Role) {
        if text.contains('\0') {
            self.problem(field, "must not contain a NUL character");
            return;
        }
        if text.len() > MAX_ARG_BYTES {
            self.problem(field, format!("at most {MAX_ARG_BYTES} bytes, found {}", text.len()));
            return;
        }
        match template_placeholders(text) {
            Err(e) => self.problem(field, e.to_string()),
            Ok(used) => {
                if role == Role::Plugin
                    && let Some(p) = used
                        .iter()
                        .find(|p| ![Placeholder::GameDir, Placeholder::Player].contains(p))
                {
                    self.problem(
                        field,
                        format!(
                            "{p} is not available to a plugin (only {{game_dir}} and {{player}})"
                        ),
                    );
                }
                if role == Role::Server && used.contains(&Placeholder::Player) {
                    self.problem(
                        field,
                        "{player} is not available to the game server, which serves all \
                         players (use it in the client command)",
                    );
                }
                let per_player = [Placeholder::Seat, Placeholder::PlayerId];
                if role == Role::Server
                    && let Some(p) = used.iter().find(|p| per_player.contains(p))
                {
                    self.problem(
                        field,
                        format!(
                            "{p} is not available to the game server, which serves all \
                             players (use it in the client command; the server has \
                             {{player_list}})"
                        ),
                    );
                }
            }
        }
    }

    fn env(&mut self, value: &Value, field: &str, role: Role) -> Option<BTreeMap<String, String>> {
        let Some(vars) = value.as_object() else {
            self.problem(
                field,
                format!("expected an object of NAME: \"value\" strings, found {}", describe(value)),
            );
            return None;
        };
        if vars.len() > MAX_ENV_VARS {
            self.problem(field, format!("at most {MAX_ENV_VARS} variables, found {}", vars.len()));
            return None;
        }
        let before = self.problems.len();
        let mut env = BTreeMap::new();
        for (key, value) in vars {
            let var_field = env_field(field, key);
            if !is_env_name(key) {
                self.problem(
                    &var_field,
                    format!("{key:?} is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)"),
                );
            } else if key.starts_with(RESERVED_ENV_PREFIX) {
                self.problem(
                    &var_field,
                    format!(
                        "names starting with {RESERVED_ENV_PREFIX} are reserved for the platform"
                    ),
                );
            }
            let Some(text) = value.as_str() else {
                self.problem(&var_field, format!("expected a string, found {}", describe(value)));
                continue;
            };
            self.template_text(&var_field, text, role);
            env.insert(key.clone(), text.to_owned());
        }
        (self.problems.len() == before).then_some(env)
    }
}

/// `parent.KEY`, or `parent["odd key"]` when the key is not an identifier.
fn env_field(parent: &str, key: &str) -> String {
    if is_env_name(key) {
        format!("{parent}.{key}")
    } else {
        format!("{parent}[{}]", Value::String(key.to_owned()))
    }
}

fn is_env_name(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// "a number", "null", ... for messages about wrong types.
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
