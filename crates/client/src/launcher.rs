//! The launcher: runs a game's client program for a match (seed §4,
//! `game_launcher.py`), sandboxed by default.
//!
//! The command comes from the installed version's `config.json`, with the
//! placeholders filled from GAME_START. With `--sandbox auto` (the default)
//! or `on` it runs in a bubblewrap view: the system folders and the game's
//! install folder read-only, a private writable folder for the game (its
//! `HOME`, kept across matches under the player's home), a private `/tmp`,
//! and for `gui` games the X11 socket, an Xauthority cookie for that display
//! only and `/dev/dri`; none of the rest of the player's home (the session
//! file, other games, ssh keys). Inside, the exec step (this binary run as
//! `__gamestore-confine`) drops every capability, sets `no_new_privs`, limits
//! TCP to connecting to the announced game server's port (Landlock) and
//! installs the seccomp filter. The view has its own pid namespace, runs in
//! a new session (no TIOCSTI into the player's terminal) and dies with the
//! launcher, so no game process outlives it. A `cli` game keeps the
//! player's terminal as stdin/stdout.
//!
//! `auto` without a working bubblewrap says so and falls back to the exec
//! step alone (Landlock file and TCP rules, seccomp, a pid namespace); `on`
//! refuses to start the game; `off` runs it with the player's rights but
//! still in a pid namespace, so it dies with the launcher.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

use anyhow::{Context, bail};
use gamestore_package::{Manifest, Placeholders, Seat};
use gamestore_protocol::GameStart;
use gamestore_sandbox::bwrap::{self, View, ViewOptions};
use gamestore_sandbox::{Confinement, FileRules, NetRules};

/// How game clients are confined (`--sandbox`, env `GAMESTORE_SANDBOX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SandboxMode {
    /// Bubblewrap when it works here, else Landlock and seccomp alone (and say so)
    #[default]
    Auto,
    /// Bubblewrap or refuse to run the game
    On,
    /// No sandbox: the game runs with your rights (it still dies with the launcher)
    Off,
}

/// Where and how to launch.
#[derive(Debug, Clone)]
pub struct LaunchOptions {
    pub sandbox: SandboxMode,
    /// The game's private writable folder, kept across matches.
    pub data_dir: PathBuf,
}

/// The private folder of `game` for `player` under the client home `home`.
pub fn game_data_dir(home: &Path, player: &str, game: &str) -> PathBuf {
    home.join("game-data").join(player).join(game)
}

/// A game client ready to spawn, with what must live while it runs.
pub struct GameClient {
    pub command: tokio::process::Command,
    /// What the launcher should tell the player about the sandbox, if anything.
    pub notice: Option<String>,
    /// The program as the manifest resolved it, for error messages.
    pub program: String,
    /// The folder it runs in (the installed version).
    pub dir: PathBuf,
    /// The Xauthority cookie file shown inside the view.
    _cookie: Option<tempfile::NamedTempFile>,
}

impl GameClient {
    /// Starts the client; a failure names the program and its folder. Keep
    /// `self` until the client exits (it holds the display cookie).
    pub fn spawn(&mut self) -> anyhow::Result<tokio::process::Child> {
        self.command.spawn().with_context(|| {
            format!("cannot start the game client {} in {}", self.program, self.dir.display())
        })
    }
}

impl std::fmt::Debug for GameClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GameClient").field("notice", &self.notice).finish_non_exhaustive()
    }
}

/// Where the Xauthority cookie appears inside the view.
const COOKIE_PATH: &str = "/run/gamestore/Xauthority";

/// Environment variables passed from the player's environment to a
/// sandboxed game (besides the manifest's own).
const PASSED_ENV: &[&str] =
    &["LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TERM", "TZ", "GAMESTORE_BOT"];

/// The game client command for `player` in the match `start`, installed at `game_dir`.
pub fn client_command(
    game_dir: &Path,
    start: &GameStart,
    player: &str,
    options: &LaunchOptions,
) -> anyhow::Result<GameClient> {
    // Absolute: the game starts in its own folder, not the launcher's.
    let game_dir = &game_dir.canonicalize().unwrap_or_else(|_| game_dir.to_owned());
    let manifest = Manifest::load_dir(game_dir).map_err(|e| {
        anyhow::anyhow!("the installed game at {} is damaged: {e}", game_dir.display())
    })?;
    let placeholders = Placeholders {
        host: start.host.clone(),
        port: start.port,
        players: start.players.len() as u32,
        player: Some(player.to_owned()),
        match_id: start.match_id.to_string(),
        token: start.token.clone(),
        game_dir: game_dir.to_owned(),
        seat: seat_of(start, player),
        room_id: start.room,
        player_list: start.players.clone(),
    };
    let expanded =
        manifest.client.expand(&placeholders).context("cannot build the game client command")?;
    let gui = manifest.kind == gamestore_package::GameKind::Gui;
    let program: Vec<OsString> = expanded.argv.iter().map(OsString::from).collect();
    let exe = std::env::current_exe().context("cannot find the launcher's own program")?;

    let (bwrap_ok, mut notice) = match options.sandbox {
        SandboxMode::Off => (false, None),
        SandboxMode::On | SandboxMode::Auto => match bwrap_status() {
            Ok(()) => (true, None),
            Err(reason) if options.sandbox == SandboxMode::On => {
                bail!(
                    "the game client sandbox needs bubblewrap, which does not work here: {reason}"
                )
            }
            Err(reason) => (
                false,
                Some(format!(
                    "warning: bubblewrap does not work here ({reason}); the game runs with Landlock \
                     and seccomp only: install bubblewrap for the full sandbox"
                )),
            ),
        },
    };
    if options.sandbox != SandboxMode::Off
        && gamestore_sandbox::landlock_abi().is_none_or(|a| a < 4)
    {
        let line = "warning: Landlock network rules are unavailable on this kernel: the game may \
                    connect anywhere";
        notice = Some(match notice {
            Some(n) => format!("{n}\n{line}"),
            None => line.to_owned(),
        });
    }

    let mut env: Vec<(String, OsString)> = Vec::new();
    for name in PASSED_ENV {
        if let Some(value) = std::env::var_os(name) {
            env.push((name.to_string(), value));
        }
    }
    env.push(("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()));
    let mut cookie = None;
    let display = if gui { std::env::var("DISPLAY").ok() } else { None };
    let x11 = display.as_deref().and_then(parse_display);

    let mut command = if options.sandbox == SandboxMode::Off {
        // No view, no rules: only the pid namespace, so nothing outlives us.
        let mut c = match pid_namespace_works(&exe) {
            true => {
                let confinement = Confinement { pid_namespace: true, ..Default::default() };
                let argv = gamestore_sandbox::confine_argv(&exe, &confinement, &program);
                let mut c = tokio::process::Command::new(&argv[0]);
                c.args(&argv[1..]);
                c
            }
            false => {
                let mut c = tokio::process::Command::new(&program[0]);
                c.args(&program[1..]);
                c
            }
        };
        c.current_dir(game_dir);
        c
    } else {
        std::fs::create_dir_all(&options.data_dir).with_context(|| {
            format!("cannot create the game's folder {}", options.data_dir.display())
        })?;
        restrict(&options.data_dir);
        let data_dir = options.data_dir.canonicalize()?;
        let game_dir = game_dir.canonicalize()?;
        env.push(("HOME".into(), data_dir.clone().into()));
        let mut confinement =
            client_confinement(&game_dir, &data_dir, start, bwrap_ok, x11.as_ref());
        if let Some(display) = &display {
            env.push(("DISPLAY".into(), display.into()));
        }
        if bwrap_ok {
            let mut view = View::new(&ViewOptions {
                user_namespace: true,
                tmp_bytes: 256 << 20,
                exec_step: exe.clone(),
            });
            view.read_only(&game_dir).writable(&data_dir).chdir(&game_dir);
            view.read_only_try(Path::new("/etc/resolv.conf"));
            view.read_only_try(Path::new("/etc/fonts"));
            if let Some(x11) = &x11 {
                if let Some(socket) = &x11.socket {
                    view.writable(socket);
                }
                view.device_try(Path::new("/dev/dri"));
                if let Some(file) = cookie_for(display.as_deref().unwrap_or_default()) {
                    view.read_only_at(file.path(), Path::new(COOKIE_PATH));
                    env.push(("XAUTHORITY".into(), COOKIE_PATH.into()));
                    if let Some(files) = &mut confinement.files {
                        files.read.push(COOKIE_PATH.into());
                    }
                    cookie = Some(file);
                }
            }
            let inner = gamestore_sandbox::confine_argv(
                Path::new(bwrap::EXEC_STEP),
                &confinement,
                &program,
            );
            let mut c = tokio::process::Command::new("bwrap");
            c.args(view.into_args(inner));
            c.current_dir(&game_dir);
            c
        } else {
            // Without a view the exec step also builds the pid namespace,
            // and Landlock is the only wall around the player's files.
            confinement.pid_namespace = pid_namespace_works(&exe);
            let tmp = data_dir.join("tmp");
            let _ = std::fs::create_dir_all(&tmp);
            env.push(("TMPDIR".into(), tmp.into()));
            if let Some(file) = cookie_for(display.as_deref().unwrap_or_default()) {
                env.push(("XAUTHORITY".into(), file.path().into()));
                if let Some(files) = &mut confinement.files {
                    files.read.push(file.path().to_owned());
                }
                cookie = Some(file);
            }
            let argv = gamestore_sandbox::confine_argv(&exe, &confinement, &program);
            let mut c = tokio::process::Command::new(&argv[0]);
            c.args(&argv[1..]);
            c.current_dir(&game_dir);
            c
        }
    };
    if options.sandbox == SandboxMode::Off {
        command.envs(std::env::vars_os());
    } else {
        command.env_clear().envs(env);
    }
    command
        .envs(expanded.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let launcher = std::process::id() as libc::pid_t;
    // SAFETY: prctl and getppid only, between fork and exec.
    unsafe {
        command.pre_exec(move || {
            // Dies with the launcher, even when it is killed with SIGKILL...
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            // ...including when that happened before the line above.
            if libc::getppid() != launcher {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    Ok(GameClient {
        command,
        notice,
        program: expanded.argv[0].clone(),
        dir: game_dir.clone(),
        _cookie: cookie,
    })
}

/// The private folder of plugin `plugin` for `player` under the client home `home`.
pub fn plugin_data_dir(home: &Path, player: &str, plugin: &str) -> PathBuf {
    home.join("plugin-data").join(player).join(plugin)
}

/// A launcher plugin's command, in the same sandbox as game clients but
/// with no network at all: it reaches the room only through the launcher,
/// over its piped standard input and output (standard error is dropped).
pub fn plugin_command(
    plugin_dir: &Path,
    command: &gamestore_package::Command,
    player: &str,
    options: &LaunchOptions,
) -> anyhow::Result<GameClient> {
    let plugin_dir = &plugin_dir.canonicalize().unwrap_or_else(|_| plugin_dir.to_owned());
    let placeholders = Placeholders {
        host: String::new(),
        port: 0,
        players: 0,
        player: Some(player.to_owned()),
        match_id: String::new(),
        token: String::new(),
        game_dir: plugin_dir.to_owned(),
        seat: None,
        room_id: 0,
        player_list: Vec::new(),
    };
    let expanded = command.expand(&placeholders).context("cannot build the plugin's command")?;
    let program: Vec<OsString> = expanded.argv.iter().map(OsString::from).collect();
    let exe = std::env::current_exe().context("cannot find the launcher's own program")?;
    let bwrap_ok = match options.sandbox {
        SandboxMode::Off => false,
        SandboxMode::On => match bwrap_status() {
            Ok(()) => true,
            Err(reason) => {
                bail!("the plugin sandbox needs bubblewrap, which does not work here: {reason}")
            }
        },
        SandboxMode::Auto => bwrap_status().is_ok(),
    };
    let mut env: Vec<(String, OsString)> = Vec::new();
    for name in PASSED_ENV {
        if let Some(value) = std::env::var_os(name) {
            env.push((name.to_string(), value));
        }
    }
    env.push(("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()));
    let mut command = if options.sandbox == SandboxMode::Off {
        let mut c = tokio::process::Command::new(&program[0]);
        c.args(&program[1..]);
        c.envs(std::env::vars_os());
        c
    } else {
        std::fs::create_dir_all(&options.data_dir).with_context(|| {
            format!("cannot create the plugin's folder {}", options.data_dir.display())
        })?;
        restrict(&options.data_dir);
        let data_dir = options.data_dir.canonicalize()?;
        env.push(("HOME".into(), data_dir.clone().into()));
        let mut confinement = plugin_confinement(plugin_dir, &data_dir, bwrap_ok);
        let mut c = if bwrap_ok {
            let mut view = View::new(&ViewOptions {
                user_namespace: true,
                tmp_bytes: 64 << 20,
                exec_step: exe.clone(),
            });
            view.read_only(plugin_dir).writable(&data_dir).chdir(plugin_dir);
            let inner = gamestore_sandbox::confine_argv(
                Path::new(bwrap::EXEC_STEP),
                &confinement,
                &program,
            );
            let mut c = tokio::process::Command::new("bwrap");
            c.args(view.into_args(inner));
            c
        } else {
            confinement.pid_namespace = pid_namespace_works(&exe);
            let tmp = data_dir.join("tmp");
            let _ = std::fs::create_dir_all(&tmp);
            env.push(("TMPDIR".into(), tmp.into()));
            let argv = gamestore_sandbox::confine_argv(&exe, &confinement, &program);
            let mut c = tokio::process::Command::new(&argv[0]);
            c.args(&argv[1..]);
            c
        };
        c.env_clear().envs(env);
        c
    };
    command
        .current_dir(plugin_dir)
        .envs(expanded.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let launcher = std::process::id() as libc::pid_t;
    // SAFETY: prctl and getppid only, between fork and exec.
    unsafe {
        command.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() != launcher {
                libc::_exit(1);
            }
            // Its own process group: a terminal's Ctrl-C is the launcher's.
            libc::setpgid(0, 0);
            Ok(())
        });
    }
    Ok(GameClient {
        command,
        notice: None,
        program: expanded.argv[0].clone(),
        dir: plugin_dir.clone(),
        _cookie: None,
    })
}

/// The rules the exec step applies to a plugin: a game client's files,
/// no TCP and no UDP.
fn plugin_confinement(plugin_dir: &Path, data_dir: &Path, in_view: bool) -> Confinement {
    let mut read: Vec<PathBuf> = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]
        .iter()
        .chain(bwrap::ETC_FILES)
        .map(PathBuf::from)
        .collect();
    read.push(plugin_dir.to_owned());
    let mut write = vec![data_dir.to_owned()];
    let devices: Vec<PathBuf> = ["/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"]
        .iter()
        .map(PathBuf::from)
        .collect();
    if in_view {
        read.push("/proc".into());
        write.push("/tmp".into());
    }
    Confinement {
        files: Some(FileRules { read, write, devices }),
        net: Some(NetRules { bind: Vec::new(), connect: Vec::new() }),
        scope: true,
        scope_abstract_unix: true,
        seccomp: true,
        deny_udp: true,
        ..Default::default()
    }
}

/// The rules the exec step applies to a game client.
fn client_confinement(
    game_dir: &Path,
    data_dir: &Path,
    start: &GameStart,
    in_view: bool,
    x11: Option<&X11>,
) -> Confinement {
    let mut read: Vec<PathBuf> = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]
        .iter()
        .chain(bwrap::ETC_FILES)
        .chain(&["/etc/resolv.conf", "/etc/fonts"])
        .map(PathBuf::from)
        .collect();
    read.push(game_dir.to_owned());
    let mut write = vec![data_dir.to_owned()];
    let mut devices: Vec<PathBuf> = [
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
        "/dev/pts",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    if in_view {
        read.push("/proc".into());
        write.push("/tmp".into());
    }
    let mut connect = vec![start.port];
    if let Some(x11) = x11 {
        devices.push("/dev/dri".into());
        if let Some(socket) = &x11.socket {
            write.push(socket.clone());
        }
        connect.extend(x11.tcp_port);
    }
    // A host name needs DNS, which is UDP; an address needs no UDP at all.
    let deny_udp = start.host.parse::<std::net::IpAddr>().is_ok();
    Confinement {
        files: Some(FileRules { read, write, devices }),
        net: Some(NetRules { bind: Vec::new(), connect }),
        scope: true,
        // libX11 gives up when the display's abstract socket is refused.
        scope_abstract_unix: x11.is_none(),
        seccomp: true,
        deny_udp,
        ..Default::default()
    }
}

/// Where an X display is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
struct X11 {
    /// The local socket (`:0` -> `/tmp/.X11-unix/X0`).
    socket: Option<PathBuf>,
    /// The TCP port (`host:0` -> 6000).
    tcp_port: Option<u16>,
}

/// Reads `DISPLAY` (`:0`, `:1.0`, `unix:2`, `localhost:10.0`).
fn parse_display(display: &str) -> Option<X11> {
    let (host, rest) = display.rsplit_once(':')?;
    let number: u16 = rest.split('.').next()?.parse().ok()?;
    if host.is_empty() || host == "unix" {
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{number}"));
        return Some(X11 { socket: socket.exists().then_some(socket), tcp_port: None });
    }
    Some(X11 { socket: None, tcp_port: number.checked_add(6000) })
}

/// A private file holding only the cookie of `display`, when the player
/// has one (`xauth extract`); `None` when the display needs none.
fn cookie_for(display: &str) -> Option<tempfile::NamedTempFile> {
    if display.is_empty() {
        return None;
    }
    let file = tempfile::Builder::new().prefix("gamestore-xauth-").tempfile().ok()?;
    let status = std::process::Command::new("xauth")
        .arg("-f")
        .arg(std::env::var_os("XAUTHORITY").unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(|h| Path::new(&h).join(".Xauthority").into())
                .unwrap_or_default()
        }))
        .arg("extract")
        .arg(file.path())
        .arg(display)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    let written = std::fs::metadata(file.path()).map(|m| m.len()).unwrap_or(0);
    (status.success() && written > 0).then_some(file)
}

/// Keeps a game's private folder to its owner.
fn restrict(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
}

/// Whether bubblewrap can build a client view here (checked once).
fn bwrap_status() -> Result<(), String> {
    static STATUS: OnceLock<Result<(), String>> = OnceLock::new();
    STATUS.get_or_init(|| bwrap::probe(bwrap::Probe { user_namespace: true })).clone()
}

/// Whether the exec step can make a pid namespace here (checked once).
fn pid_namespace_works(exe: &Path) -> bool {
    static WORKS: OnceLock<bool> = OnceLock::new();
    *WORKS.get_or_init(|| {
        let truth = ["/usr/bin/true", "/bin/true"].into_iter().find(|p| Path::new(p).exists());
        let Some(truth) = truth else { return false };
        let confinement = Confinement { pid_namespace: true, ..Default::default() };
        let argv = gamestore_sandbox::confine_argv(exe, &confinement, &[truth.into()]);
        std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Why a game of `kind` cannot show its window here, if it cannot: a `gui`
/// client needs a display (`DISPLAY` or `WAYLAND_DISPLAY`). Checked before
/// joining or starting a match, since a client that fails once the match
/// has started forfeits it for everyone. `GAMESTORE_BOT` set to a headless
/// mode (the sample games' bots, which open no window) lifts the check.
pub fn display_problem(kind: gamestore_package::GameKind, name: &str) -> Option<String> {
    if kind != gamestore_package::GameKind::Gui {
        return None;
    }
    let set = |var: &str| std::env::var_os(var).is_some_and(|v| !v.is_empty());
    if set("DISPLAY") || set("WAYLAND_DISPLAY") {
        return None;
    }
    let headless_bot = std::env::var("GAMESTORE_BOT").is_ok_and(|v| {
        matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on" | "headless")
    });
    if headless_bot {
        return None;
    }
    Some(format!(
        "{name} is a gui game and opens a window, but there is no display here \
         (DISPLAY and WAYLAND_DISPLAY are not set); run the launcher in a desktop session"
    ))
}

/// `{seat}` and `{player_id}` for `player`: the seat is the lobby's (else
/// the player's place in the list); the id only comes from the lobby.
fn seat_of(start: &GameStart, player: &str) -> Option<Seat> {
    let index =
        start.seat.or_else(|| start.players.iter().position(|p| p == player).map(|i| i as u32))?;
    Some(Seat { index, player_id: start.player_id? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_map_to_their_socket_or_port() {
        assert_eq!(
            parse_display("localhost:10.0"),
            Some(X11 { socket: None, tcp_port: Some(6010) })
        );
        assert_eq!(parse_display("nonsense"), None);
        assert_eq!(parse_display(":x"), None);
        let local = parse_display(":4242.0").unwrap();
        assert_eq!(local.tcp_port, None);
    }
}
