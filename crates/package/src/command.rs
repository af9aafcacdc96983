//! Game commands: the argv templates a manifest gives for the game server and
//! client, and their expansion into a process to spawn.
//!
//! A command is an argv list, never a shell line. Arguments and environment
//! values may hold placeholders (`{host}`, `{port}`, ...) that the platform fills
//! in when a match starts; `{{` and `}}` stand for literal braces. Expansion is a
//! single pass: a substituted value is never scanned for placeholders again.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One program to run: argv and extra environment, as written in `config.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// Program and arguments. `command[0]` is a path relative to the game folder
    /// (`bin/server`) or a program looked up on `PATH` (`python3`).
    pub command: Vec<String>,
    /// Extra environment variables, on top of what the platform sets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

/// A value the platform substitutes into a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Placeholder {
    /// `{host}`: the address clients connect to; for the server, the address to bind.
    Host,
    /// `{port}`: the game server's TCP port.
    Port,
    /// `{players}`: how many players the match has.
    Players,
    /// `{player}`: this client's player name (client commands only).
    Player,
    /// `{match_id}`: the match's unique id.
    MatchId,
    /// `{token}`: a per-match secret the server can require from clients.
    Token,
    /// `{game_dir}`: the absolute path of the installed game folder.
    GameDir,
    /// `{seat}`: this client's seat, 0-based in joining order (client commands only).
    Seat,
    /// `{player_id}`: this client's numeric account id (client commands only).
    PlayerId,
    /// `{room_id}`: the number of the room the match is played from.
    RoomId,
    /// `{player_list}`: every player's name, comma-separated, in seat order.
    PlayerList,
}

impl Placeholder {
    /// Every placeholder, in documentation order.
    pub const ALL: [Placeholder; 11] = [
        Placeholder::Host,
        Placeholder::Port,
        Placeholder::Players,
        Placeholder::Player,
        Placeholder::MatchId,
        Placeholder::Token,
        Placeholder::GameDir,
        Placeholder::Seat,
        Placeholder::PlayerId,
        Placeholder::RoomId,
        Placeholder::PlayerList,
    ];

    /// Placeholders that name one player, so only a client command (one
    /// per player) can use them; the game server serves every player.
    pub const PER_PLAYER: [Placeholder; 3] =
        [Placeholder::Player, Placeholder::Seat, Placeholder::PlayerId];

    /// The name between the braces (`"match_id"`).
    pub fn name(self) -> &'static str {
        match self {
            Placeholder::Host => "host",
            Placeholder::Port => "port",
            Placeholder::Players => "players",
            Placeholder::Player => "player",
            Placeholder::MatchId => "match_id",
            Placeholder::Token => "token",
            Placeholder::GameDir => "game_dir",
            Placeholder::Seat => "seat",
            Placeholder::PlayerId => "player_id",
            Placeholder::RoomId => "room_id",
            Placeholder::PlayerList => "player_list",
        }
    }

    fn from_name(name: &str) -> Option<Placeholder> {
        Placeholder::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}", self.name())
    }
}

/// Why a template string is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{name}` with a name the platform does not know.
    #[error(
        "unknown placeholder {{{0}}} (known: {{host}}, {{port}}, {{players}}, {{player}}, \
         {{match_id}}, {{token}}, {{game_dir}}, {{seat}}, {{player_id}}, {{room_id}}, \
         {{player_list}}, and {{{{ or }}}} for a literal brace)"
    )]
    UnknownPlaceholder(String),
    /// A `{` with no `}` after it.
    #[error("`{{` without a closing `}}` (write {{{{ for a literal brace)")]
    Unclosed,
    /// A `}` with no `{` before it.
    #[error("`}}` without an opening `{{` (write }}}} for a literal brace)")]
    StrayClose,
}

/// One piece of a parsed template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Var(Placeholder),
}

/// Splits a template into literal text and placeholders.
fn parse_template(template: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(at) = rest.find(['{', '}']) {
        if at > 0 {
            pieces.push(Piece::Text(&rest[..at]));
        }
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("{{") {
            pieces.push(Piece::Text("{"));
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            pieces.push(Piece::Text("}"));
            rest = after;
        } else if tail.starts_with('}') {
            return Err(TemplateError::StrayClose);
        } else {
            let close = tail.find('}').ok_or(TemplateError::Unclosed)?;
            let name = &tail[1..close];
            let var = Placeholder::from_name(name)
                .ok_or_else(|| TemplateError::UnknownPlaceholder(name.to_owned()))?;
            pieces.push(Piece::Var(var));
            rest = &tail[close + 1..];
        }
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

/// Checks a template and returns the placeholders it uses.
pub fn template_placeholders(template: &str) -> Result<Vec<Placeholder>, TemplateError> {
    Ok(parse_template(template)?
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Var(var) => Some(var),
            Piece::Text(_) => None,
        })
        .collect())
}

/// The values substituted into a command when a match starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholders {
    /// `{host}`.
    pub host: String,
    /// `{port}`.
    pub port: u16,
    /// `{players}`.
    pub players: u32,
    /// `{player}`: `None` for the game server, which serves every player.
    pub player: Option<String>,
    /// `{match_id}`.
    pub match_id: String,
    /// `{token}`.
    pub token: String,
    /// `{game_dir}`, and where a relative `command[0]` is looked up.
    pub game_dir: PathBuf,
    /// `{seat}` and `{player_id}`: `None` for the game server.
    pub seat: Option<Seat>,
    /// `{room_id}`.
    pub room_id: u64,
    /// `{player_list}`: names in seat order, joined with commas.
    pub player_list: Vec<String>,
}

/// One player's place in a match, for `{seat}` and `{player_id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seat {
    /// 0-based, in joining order.
    pub index: u32,
    /// The player's numeric account id.
    pub player_id: i64,
}

/// Why a command could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// A malformed template (only possible for a command that bypassed
    /// manifest validation).
    #[error("`{template}`: {error}")]
    Template {
        /// The offending argument or value.
        template: String,
        /// What is wrong with it.
        error: TemplateError,
    },
    /// `{player}` is used but no player name was given.
    #[error("{{player}} is used but there is no player name (game servers have none)")]
    NoPlayer,
    /// `{seat}` or `{player_id}` is used but no seat was given.
    #[error(
        "{{seat}} and {{player_id}} need the player's seat, which game servers do not have \
         (and lobbies older than these placeholders do not send)"
    )]
    NoSeat,
    /// `{game_dir}` cannot be written as text.
    #[error("game folder path is not valid UTF-8: {0}")]
    GameDirNotUtf8(PathBuf),
    /// The command has no program.
    #[error("empty command")]
    Empty,
}

/// A command ready to spawn: every placeholder replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandedCommand {
    /// Program and arguments. `argv[0]` is an absolute path into the game folder
    /// when the manifest named a file there; otherwise a name for `PATH` lookup.
    pub argv: Vec<String>,
    /// Environment variables from the manifest, sorted by name.
    pub env: Vec<(String, String)>,
}

impl ExpandedCommand {
    /// A [`std::process::Command`] with this program, arguments and extra
    /// environment. The caller chooses the working folder, stdio and whether to
    /// clear the inherited environment. (`tokio::process::Command` converts
    /// from it.)
    ///
    /// # Panics
    ///
    /// If `argv` is empty, which [`Command::expand`] never returns.
    pub fn to_std_command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..]);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }
}

impl Command {
    /// Replaces the placeholders and resolves `command[0]` against the game
    /// folder: a relative path naming a file in `values.game_dir` becomes that
    /// file's path; anything else is left for `PATH` lookup.
    pub fn expand(&self, values: &Placeholders) -> Result<ExpandedCommand, ExpandError> {
        if self.command.is_empty() {
            return Err(ExpandError::Empty);
        }
        let game_dir = values
            .game_dir
            .to_str()
            .ok_or_else(|| ExpandError::GameDirNotUtf8(values.game_dir.clone()))?;
        let render = |template: &str| -> Result<String, ExpandError> {
            let pieces = parse_template(template)
                .map_err(|error| ExpandError::Template { template: template.to_owned(), error })?;
            let mut out = String::with_capacity(template.len());
            for piece in pieces {
                match piece {
                    Piece::Text(text) => out.push_str(text),
                    Piece::Var(var) => match var {
                        Placeholder::Host => out.push_str(&values.host),
                        Placeholder::Port => out.push_str(&values.port.to_string()),
                        Placeholder::Players => out.push_str(&values.players.to_string()),
                        Placeholder::Player => {
                            out.push_str(values.player.as_deref().ok_or(ExpandError::NoPlayer)?)
                        }
                        Placeholder::MatchId => out.push_str(&values.match_id),
                        Placeholder::Token => out.push_str(&values.token),
                        Placeholder::GameDir => out.push_str(game_dir),
                        Placeholder::Seat => {
                            let seat = values.seat.ok_or(ExpandError::NoSeat)?;
                            out.push_str(&seat.index.to_string())
                        }
                        Placeholder::PlayerId => {
                            let seat = values.seat.ok_or(ExpandError::NoSeat)?;
                            out.push_str(&seat.player_id.to_string())
                        }
                        Placeholder::RoomId => out.push_str(&values.room_id.to_string()),
                        Placeholder::PlayerList => out.push_str(&values.player_list.join(",")),
                    },
                }
            }
            Ok(out)
        };

        let mut argv = self.command.iter().map(|arg| render(arg)).collect::<Result<Vec<_>, _>>()?;
        if let Some(inside) = program_in_game_dir(&argv[0], &values.game_dir) {
            // Checked to be UTF-8 above, and argv[0] is a String.
            argv[0] = inside.to_string_lossy().into_owned();
        }
        let env = self
            .env
            .iter()
            .map(|(key, value)| Ok((key.clone(), render(value)?)))
            .collect::<Result<Vec<_>, ExpandError>>()?;
        Ok(ExpandedCommand { argv, env })
    }
}

/// `game_dir/program` when `program` is a plain relative path (no `..`) naming a
/// file that exists there.
fn program_in_game_dir(program: &str, game_dir: &Path) -> Option<PathBuf> {
    let path = Path::new(program);
    let plain = !program.is_empty()
        && path.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !plain {
        return None;
    }
    let inside = game_dir.join(path);
    inside.is_file().then_some(inside)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_template(template: &str, expect: Result<&[Placeholder], TemplateError>) {
        let got = template_placeholders(template);
        assert_eq!(got.as_deref().map_err(Clone::clone), expect, "{template:?}");
    }

    #[test]
    fn templates() {
        use Placeholder::*;
        check_template("plain", Ok(&[]));
        check_template("", Ok(&[]));
        check_template("{host}:{port}", Ok(&[Host, Port]));
        check_template("--dir={game_dir}/saves", Ok(&[GameDir]));
        check_template("{{literal}} {player}", Ok(&[Player]));
        check_template("{{{token}}}", Ok(&[Token]));
        check_template("{match_id}{players}", Ok(&[MatchId, Players]));
        check_template("{hots}", Err(TemplateError::UnknownPlaceholder("hots".into())));
        check_template("{}", Err(TemplateError::UnknownPlaceholder("".into())));
        check_template("{HOST}", Err(TemplateError::UnknownPlaceholder("HOST".into())));
        check_template("{host", Err(TemplateError::Unclosed));
        check_template("a}b", Err(TemplateError::StrayClose));
        check_template("{{host}", Err(TemplateError::StrayClose));
    }

    #[test]
    fn unknown_placeholder_message_names_it() {
        let msg = TemplateError::UnknownPlaceholder("hots".into()).to_string();
        assert_eq!(
            msg,
            "unknown placeholder {hots} (known: {host}, {port}, {players}, {player}, \
             {match_id}, {token}, {game_dir}, {seat}, {player_id}, {room_id}, {player_list}, \
             and {{ or }} for a literal brace)"
        );
    }

    fn values(game_dir: &Path, player: Option<&str>) -> Placeholders {
        Placeholders {
            host: "192.168.1.20".into(),
            port: 9001,
            players: 3,
            player: player.map(str::to_owned),
            match_id: "m42".into(),
            token: "s3cret".into(),
            game_dir: game_dir.to_path_buf(),
            seat: player.map(|_| Seat { index: 1, player_id: 4711 }),
            room_id: 12,
            player_list: vec!["zoe".into(), "alice".into(), "bob".into()],
        }
    }

    fn command(argv: &[&str], env: &[(&str, &str)]) -> Command {
        Command {
            command: argv.iter().map(|s| s.to_string()).collect(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn expands_placeholders_and_resolves_the_program_in_the_game_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        std::fs::write(dir.path().join("bin/client"), b"").unwrap();
        let game_dir = dir.path().to_str().unwrap();

        let cmd = command(
            &[
                "bin/client",
                "--connect",
                "{host}:{port}",
                "--name={player}",
                "{{not a placeholder}}",
                "{players}/{match_id}/{token}",
            ],
            &[("SAVE_DIR", "{game_dir}/saves"), ("RUST_LOG", "info")],
        );
        let expanded = cmd.expand(&values(dir.path(), Some("alice"))).unwrap();
        assert_eq!(
            expanded.argv,
            [
                format!("{game_dir}/bin/client").as_str(),
                "--connect",
                "192.168.1.20:9001",
                "--name=alice",
                "{not a placeholder}",
                "3/m42/s3cret"
            ]
        );
        assert_eq!(
            expanded.env,
            [
                ("RUST_LOG".to_owned(), "info".to_owned()),
                ("SAVE_DIR".to_owned(), format!("{game_dir}/saves")),
            ]
        );
        let std_cmd = expanded.to_std_command();
        assert_eq!(std_cmd.get_program(), format!("{game_dir}/bin/client").as_str());
        assert_eq!(std_cmd.get_args().count(), 5);
    }

    #[test]
    fn programs_not_in_the_game_dir_are_left_for_path_lookup() {
        let dir = tempfile::tempdir().unwrap();
        for program in ["python3", "bin/missing", "../outside", "/usr/bin/env"] {
            let cmd = command(&[program, "main.py"], &[]);
            let expanded = cmd.expand(&values(dir.path(), None)).unwrap();
            assert_eq!(expanded.argv, [program, "main.py"]);
        }
    }

    #[test]
    fn substituted_values_are_not_expanded_again() {
        let dir = tempfile::tempdir().unwrap();
        let cmd = command(&["x", "{player}"], &[]);
        let expanded = cmd.expand(&values(dir.path(), Some("{token}"))).unwrap();
        assert_eq!(expanded.argv[1], "{token}");
    }

    #[test]
    fn placeholders_for_games_from_other_launchers() {
        let dir = tempfile::tempdir().unwrap();
        let cmd = command(
            &["x", "--index", "{seat}", "--id={player_id}", "room{room_id}", "{player_list}"],
            &[("PLAYERS", "{player_list}"), ("SEAT", "{seat}"), ("ROOM", "{room_id}")],
        );
        let expanded = cmd.expand(&values(dir.path(), Some("alice"))).unwrap();
        assert_eq!(expanded.argv, ["x", "--index", "1", "--id=4711", "room12", "zoe,alice,bob"]);
        assert_eq!(
            expanded.env,
            [
                ("PLAYERS".to_owned(), "zoe,alice,bob".to_owned()),
                ("ROOM".to_owned(), "12".to_owned()),
                ("SEAT".to_owned(), "1".to_owned()),
            ]
        );
        // The server has the room and the list, but no seat of its own.
        let server = command(&["x", "{room_id}", "{player_list}"], &[]);
        assert_eq!(
            server.expand(&values(dir.path(), None)).unwrap().argv,
            ["x", "12", "zoe,alice,bob"]
        );
        for per_player in ["{seat}", "{player_id}"] {
            let cmd = command(&["x", per_player], &[]);
            assert_eq!(cmd.expand(&values(dir.path(), None)), Err(ExpandError::NoSeat));
        }
    }

    #[test]
    fn player_is_required_when_used() {
        let dir = tempfile::tempdir().unwrap();
        let cmd = command(&["x", "--name", "{player}"], &[]);
        assert_eq!(cmd.expand(&values(dir.path(), None)), Err(ExpandError::NoPlayer));
    }

    #[test]
    fn malformed_commands_do_not_expand() {
        let dir = tempfile::tempdir().unwrap();
        let bad = command(&["x", "{nope}"], &[]);
        assert!(matches!(bad.expand(&values(dir.path(), None)), Err(ExpandError::Template { .. })));
        assert_eq!(command(&[], &[]).expand(&values(dir.path(), None)), Err(ExpandError::Empty));
    }
}
