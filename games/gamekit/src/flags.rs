//! The command-line contract of the sample games, and a tiny flag parser.
//!
//! The Game Store starts a game server and its clients from the argv lists of
//! the package's `config.json`, filling in placeholders such as `{port}` and
//! `{token}`. Every sample game therefore takes the same flags:
//!
//! - server: `--host ADDR --port N --players N --token T [--timeout SECS]`
//! - client: `--host H --port N --name PLAYER --token T [--bot]`
//!
//! Games add their own flags (`--points`, `--rounds`, ...) with [`Flag`].
//! Flags are `--name value` or `--name=value`; `--help` prints the usage.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::bot::BotMode;

/// One flag a program accepts.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    /// The long name without dashes, e.g. `port`.
    pub name: &'static str,
    /// Placeholder of the value in the help (`N`, `ADDR`), `None` for a switch.
    pub value: Option<&'static str>,
    /// The value used when the flag is absent; `None` with `value` set means
    /// the flag is required.
    pub default: Option<&'static str>,
    /// One line of help.
    pub help: &'static str,
}

impl Flag {
    /// A flag that takes a value and has a default.
    pub const fn with_default(
        name: &'static str,
        value: &'static str,
        default: &'static str,
        help: &'static str,
    ) -> Flag {
        Flag { name, value: Some(value), default: Some(default), help }
    }

    /// A flag that takes a value and must be given.
    pub const fn required(name: &'static str, value: &'static str, help: &'static str) -> Flag {
        Flag { name, value: Some(value), default: None, help }
    }

    /// A switch without a value.
    pub const fn switch(name: &'static str, help: &'static str) -> Flag {
        Flag { name, value: None, default: None, help }
    }
}

/// Why parsing stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageError {
    /// `--help` was given: the text to print on standard output (exit 0).
    Help(String),
    /// A flag was unknown, missing or had a bad value (exit 2).
    Invalid(String),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::Help(text) => f.write_str(text),
            UsageError::Invalid(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for UsageError {}

/// The flags of one command line, after parsing.
#[derive(Debug, Clone)]
pub struct Parsed {
    values: Vec<(&'static str, String)>,
    switches: Vec<&'static str>,
}

impl Parsed {
    /// The value of a flag (given or default); `None` only for an optional
    /// flag without default, which [`parse`] does not allow, or an unknown name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// Whether a switch was given.
    pub fn switch(&self, name: &str) -> bool {
        self.switches.contains(&name)
    }

    /// The value of a flag converted with `FromStr`, with a usage error naming
    /// the flag when it does not convert.
    pub fn value<T: FromStr>(&self, name: &str) -> Result<T, UsageError> {
        let raw =
            self.get(name).ok_or_else(|| UsageError::Invalid(format!("--{name} is required")))?;
        raw.parse().map_err(|_| UsageError::Invalid(format!("--{name}: invalid value {raw:?}")))
    }

    /// A numeric flag that must lie in `range`.
    pub fn ranged<T>(&self, name: &str, range: std::ops::RangeInclusive<T>) -> Result<T, UsageError>
    where
        T: FromStr + PartialOrd + fmt::Display + Copy,
    {
        let value: T = self.value(name)?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(UsageError::Invalid(format!(
                "--{name} must be between {} and {} (got {value})",
                range.start(),
                range.end()
            )))
        }
    }

    /// A duration given in (possibly fractional) seconds.
    pub fn seconds(&self, name: &str) -> Result<Duration, UsageError> {
        let secs: f64 = self.value(name)?;
        if secs.is_finite() && secs > 0.0 && secs <= 86_400.0 {
            Ok(Duration::from_secs_f64(secs))
        } else {
            Err(UsageError::Invalid(format!(
                "--{name} must be a number of seconds between 0 and 86400"
            )))
        }
    }
}

/// Parses `args` (without the program name) against `flags`.
pub fn parse<I>(program: &str, about: &str, flags: &[Flag], args: I) -> Result<Parsed, UsageError>
where
    I: IntoIterator<Item = String>,
{
    let mut values: Vec<(&'static str, String)> = Vec::new();
    let mut switches = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            return Err(UsageError::Help(usage(program, about, flags)));
        }
        let Some(body) = arg.strip_prefix("--") else {
            return Err(UsageError::Invalid(format!("unexpected argument {arg:?} (try --help)")));
        };
        let (name, inline) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (body, None),
        };
        let Some(flag) = flags.iter().find(|f| f.name == name) else {
            return Err(UsageError::Invalid(format!("unknown flag --{name} (try --help)")));
        };
        if flag.value.is_none() {
            if inline.is_some() {
                return Err(UsageError::Invalid(format!("--{name} takes no value")));
            }
            switches.push(flag.name);
            continue;
        }
        let value = match inline {
            Some(value) => value,
            None => {
                args.next().ok_or_else(|| UsageError::Invalid(format!("--{name} needs a value")))?
            }
        };
        values.retain(|(n, _)| *n != flag.name);
        values.push((flag.name, value));
    }
    for flag in flags {
        if flag.value.is_some() && !values.iter().any(|(n, _)| *n == flag.name) {
            match flag.default {
                Some(default) => values.push((flag.name, default.to_string())),
                None => {
                    return Err(UsageError::Invalid(format!(
                        "--{} is required (try --help)",
                        flag.name
                    )));
                }
            }
        }
    }
    Ok(Parsed { values, switches })
}

/// Parses the process's own arguments; prints the help or the error and
/// exits (0 for `--help`, 2 for a usage error) when parsing stops.
pub fn parse_env_or_exit(program: &str, about: &str, flags: &[Flag]) -> Parsed {
    match parse(program, about, flags, std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(error) => exit_usage(program, error),
    }
}

/// Prints a usage error (or the help) and exits accordingly.
pub fn exit_usage(program: &str, error: UsageError) -> ! {
    match error {
        UsageError::Help(text) => {
            print!("{text}");
            std::process::exit(0)
        }
        UsageError::Invalid(message) => {
            eprintln!("{program}: error: {message}");
            std::process::exit(i32::from(crate::exit::USAGE))
        }
    }
}

fn usage(program: &str, about: &str, flags: &[Flag]) -> String {
    let mut text = format!("{program}: {about}\n\nUsage: {program} [FLAGS]\n\nFlags:\n");
    for flag in flags {
        let left = match flag.value {
            Some(value) => format!("--{} {value}", flag.name),
            None => format!("--{}", flag.name),
        };
        let right = match (flag.value, flag.default) {
            (Some(_), Some(default)) if !default.is_empty() => {
                format!("{} [default: {default}]", flag.help)
            }
            (Some(_), None) => format!("{} (required)", flag.help),
            _ => flag.help.to_string(),
        };
        text.push_str(&format!("  {left:<22} {right}\n"));
    }
    text.push_str("  --help                 Print this help\n");
    text
}

/// The flags every game server takes.
pub fn server_flags(default_players: &'static str) -> Vec<Flag> {
    vec![
        Flag::with_default("host", "ADDR", "0.0.0.0", "Address to listen on"),
        Flag::required("port", "N", "TCP port to listen on (0 picks a free one)"),
        Flag::with_default("players", "N", default_players, "Number of players in the match"),
        Flag::with_default(
            "token",
            "T",
            "",
            "Match token that clients must present [default: $MATCH_TOKEN]",
        ),
        Flag::with_default("timeout", "SECS", "60", "How long to wait for every player to join"),
    ]
}

/// The flags every game client takes.
pub fn client_flags() -> Vec<Flag> {
    vec![
        Flag::with_default("host", "H", "127.0.0.1", "Game server address"),
        Flag::required("port", "N", "Game server port"),
        Flag::required("name", "PLAYER", "Your player name"),
        Flag::with_default(
            "token",
            "T",
            "",
            "Match token given by the lobby [default: $MATCH_TOKEN]",
        ),
        Flag::switch("bot", "Let a bot play (headless); same as GAMESTORE_BOT=1"),
    ]
}

/// A game server's settings from the common flags.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind.
    pub host: String,
    /// Port to bind; 0 asks the system for a free one.
    pub port: u16,
    /// Players the match waits for.
    pub players: usize,
    /// Match token; empty accepts any client that sends an empty token.
    pub token: String,
    /// How long to wait for all players to join.
    pub join_timeout: Duration,
}

impl ServerConfig {
    /// Reads the common server flags, checking `--players` against the
    /// game's limits.
    pub fn from_flags(
        parsed: &Parsed,
        players: std::ops::RangeInclusive<usize>,
    ) -> Result<Self, UsageError> {
        let token = token_flag_or_env(parsed);
        check_token(&token)?;
        Ok(ServerConfig {
            host: parsed.value("host")?,
            port: parsed.value("port")?,
            players: parsed.ranged("players", players)?,
            token,
            join_timeout: parsed.seconds("timeout")?,
        })
    }

    /// `host:port`, bracketing IPv6 literals.
    pub fn bind_address(&self) -> String {
        join_host_port(&self.host, self.port)
    }
}

/// A game client's settings from the common flags and the environment.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Server address.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// This player's name, as shown to the others and in the result.
    pub name: String,
    /// Match token.
    pub token: String,
    /// Who plays: the person at the keyboard or a bot.
    pub bot: BotMode,
}

impl ClientConfig {
    /// Reads the common client flags and `GAMESTORE_BOT`.
    pub fn from_flags(parsed: &Parsed) -> Result<Self, UsageError> {
        let token = token_flag_or_env(parsed);
        check_token(&token)?;
        let name = parsed.get("name").unwrap_or_default().trim().to_string();
        crate::handshake::check_name(&name)
            .map_err(|e| UsageError::Invalid(format!("--name: {e}")))?;
        let bot = BotMode::detect(parsed.switch("bot")).map_err(UsageError::Invalid)?;
        Ok(ClientConfig {
            host: parsed.value("host")?,
            port: parsed.value("port")?,
            name,
            token,
            bot,
        })
    }

    /// `host:port`, bracketing IPv6 literals.
    pub fn server_address(&self) -> String {
        join_host_port(&self.host, self.port)
    }
}

/// `--token`, else `MATCH_TOKEN`: manifests pass the match token in the
/// environment, off the command line where every local user could read it.
fn token_flag_or_env(parsed: &Parsed) -> String {
    match parsed.get("token") {
        Some(token) if !token.is_empty() => token.to_string(),
        _ => std::env::var(TOKEN_ENV).unwrap_or_default(),
    }
}

/// The environment variable the sample manifests set to `{token}`.
pub const TOKEN_ENV: &str = "MATCH_TOKEN";

fn check_token(token: &str) -> Result<(), UsageError> {
    if token.len() > 256 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UsageError::Invalid(
            "--token must be at most 256 characters without spaces".into(),
        ));
    }
    Ok(())
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_values_switches_and_defaults() {
        let mut flags = server_flags("2");
        flags.push(Flag::switch("fast", "go fast"));
        let parsed =
            parse("x", "y", &flags, args(&["--port", "9000", "--token=abc", "--fast"])).unwrap();
        let config = ServerConfig::from_flags(&parsed, 1..=4).unwrap();
        assert_eq!(config.port, 9000);
        assert_eq!(config.players, 2);
        assert_eq!(config.token, "abc");
        assert_eq!(config.host, "0.0.0.0");
        assert!(parsed.switch("fast"));
        assert_eq!(config.bind_address(), "0.0.0.0:9000");
    }

    #[test]
    fn reports_bad_command_lines() {
        let flags = server_flags("2");
        let check = |list: &[&str], expect: &str| match parse("x", "y", &flags, args(list)) {
            Err(UsageError::Invalid(message)) => assert!(message.contains(expect), "{message}"),
            other => panic!("{list:?}: expected an error containing {expect:?}, got {other:?}"),
        };
        check(&[], "--port is required");
        check(&["--port"], "needs a value");
        check(&["--port", "1", "--bogus", "2"], "unknown flag --bogus");
        check(&["stray"], "unexpected argument");
        let parsed = parse("x", "y", &flags, args(&["--port", "1", "--players", "9"])).unwrap();
        let error = ServerConfig::from_flags(&parsed, 1..=4).unwrap_err();
        assert!(error.to_string().contains("between 1 and 4"), "{error}");
    }

    #[test]
    fn help_lists_every_flag() {
        let Err(UsageError::Help(text)) =
            parse("srv", "a game", &client_flags(), args(&["--help"]))
        else {
            panic!("expected help");
        };
        for name in ["--host", "--port", "--name", "--token", "--bot"] {
            assert!(text.contains(name), "{text}");
        }
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        assert_eq!(join_host_port("::1", 5), "[::1]:5");
        assert_eq!(join_host_port("localhost", 5), "localhost:5");
    }
}
