//! Command-line plumbing shared by `gamestore-dev` and `gamestore-player`:
//! global flags, passwords, output, exit codes, and the account commands.
//!
//! Exit codes are fixed here: 0 success, 1 failure (one line `error: ...` on
//! stderr), 2 usage error (from clap). Output to a closed pipe ends the
//! program quietly with 0.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use gamestore_protocol::{
    DevLogin, DevRegister, ErrorCode, Login, Logout, Register, Resume, Role, Whoami,
};

use crate::{ClientError, Home, LobbyClient, SavedSession};

/// Exit code for a failed command.
pub const EXIT_FAILURE: u8 = 1;

/// Flags every client command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// Lobby address as HOST:PORT, or tls://HOST:PORT for TLS
    #[arg(
        long,
        global = true,
        env = "GAMESTORE_SERVER",
        default_value = "127.0.0.1:8888",
        value_name = "HOST:PORT"
    )]
    pub server: String,

    /// Folder for the saved session and local data [default: a per-user data folder]
    #[arg(long, global = true, env = "GAMESTORE_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// With tls://, trust only the CA certificates in this PEM file
    #[arg(long, global = true, env = "GAMESTORE_CA", value_name = "FILE")]
    pub ca: Option<PathBuf>,

    /// With tls://, accept a lobby whose certificate has this fingerprint
    /// and pin it, replacing an older pin (after checking it with the
    /// lobby's admin)
    #[arg(long, global = true, env = "GAMESTORE_TRUST_FINGERPRINT", value_name = "SHA256:HEX")]
    pub trust_fingerprint: Option<String>,
}

/// How a command gets a password.
#[derive(Debug, Clone, clap::Args)]
pub struct PasswordArgs {
    /// Read the password from the first line of standard input instead of
    /// prompting
    #[arg(long)]
    pub password_stdin: bool,
}

/// Prints a line to stdout; a closed pipe ends the program with success.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

#[doc(hidden)]
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// How a command prints what it did: text for people, or JSON for
/// programs (`--json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
}

impl Output {
    /// JSON when the `--json` flag was given.
    pub fn of(json_flag: bool) -> Output {
        if json_flag { Output::Json } else { Output::Text }
    }

    pub fn is_json(self) -> bool {
        self == Output::Json
    }
}

/// Prints `value` as one JSON document on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Runs a command's body on a Tokio runtime and turns its result into an
/// exit code, printing failures as one `error:` line.
pub fn main_with<F>(body: F) -> ExitCode
where
    F: std::future::Future<Output = anyhow::Result<ExitCode>>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let result = runtime.block_on(body);
    // Do not wait for background tasks (keepalives, readers).
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            let message = format!("{e:#}").replace('\n', " ");
            eprintln!("error: {message}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Whether a password typed at a prompt is asked twice (a new one) or once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordPrompt {
    Once,
    Twice,
}

/// Reads a password: the first line of stdin with `--password-stdin`, else a
/// hidden prompt on the terminal, asked as `prompt` says.
pub fn read_password(args: &PasswordArgs, prompt: PasswordPrompt) -> anyhow::Result<String> {
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).context("cannot read the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        if !std::io::stdin().is_terminal() {
            bail!("no terminal to ask for a password: pass --password-stdin and give it on stdin");
        }
        let first = rpassword::prompt_password("Password: ")?;
        if prompt == PasswordPrompt::Twice {
            let again = rpassword::prompt_password("Password again: ")?;
            if again != first {
                bail!("the two passwords differ");
            }
        }
        first
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    Ok(password)
}

/// What a client program is, for the account commands.
#[derive(Debug, Clone)]
pub struct Context {
    pub global: GlobalArgs,
    pub home: Home,
    /// The kind of account this program logs in as.
    pub role: Role,
    /// The program's name, for messages and HELLO.
    pub program: &'static str,
}

impl Context {
    pub fn new(global: GlobalArgs, role: Role, program: &'static str) -> anyhow::Result<Context> {
        let home = Home::resolve(global.home.as_deref(), role.as_str())?;
        Ok(Context { global, home, role, program })
    }

    fn client_name(&self) -> String {
        format!("{}/{}", self.program, env!("CARGO_PKG_VERSION"))
    }

    /// How TLS connections decide whom to trust: `--ca`, else the system's
    /// CAs, else the certificate pinned in the home on first use.
    pub fn tls_options(&self) -> crate::tls::TlsOptions {
        crate::tls::TlsOptions {
            ca: self.global.ca.clone(),
            known_lobbies: Some(self.home.root().join("known_lobbies")),
            trust_fingerprint: self.global.trust_fingerprint.clone(),
        }
    }

    /// A new connection, not logged in.
    pub async fn connect(&self) -> anyhow::Result<LobbyClient> {
        let tls = self.tls_options();
        Ok(LobbyClient::connect_with(&self.global.server, &self.client_name(), &tls).await?)
    }

    /// A new connection resumed into the saved session.
    pub async fn connect_session(&self) -> anyhow::Result<(LobbyClient, SavedSession)> {
        let Some(session) = self.home.load_session(self.role)? else {
            bail!(
                "not logged in as a {}; run `{} login --user NAME` ({})",
                self.role,
                self.program,
                ErrorCode::NotLoggedIn
            );
        };
        if session.server != self.global.server {
            bail!(
                "the saved session is for the lobby at {}, not {}; log in again ({})",
                session.server,
                self.global.server,
                ErrorCode::NotLoggedIn
            );
        }
        let client = self.connect().await?;
        match client.call(Resume { token: session.token.clone() }).await {
            Ok(_) => Ok((client, session)),
            Err(e) if e.code() == Some(ErrorCode::InvalidSession) => {
                self.home.clear_session(self.role)?;
                Err(e.into())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The account commands both programs have.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AccountCommand {
    /// Create an account
    Register {
        #[arg(long, value_name = "NAME")]
        user: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Log in and save the session in the home folder
    Login {
        #[arg(long, value_name = "NAME")]
        user: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// End the saved session
    Logout,
    /// Show who the saved session belongs to
    Whoami {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

impl AccountCommand {
    pub async fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        match self {
            AccountCommand::Register { user, password } => register(ctx, &user, &password).await,
            AccountCommand::Login { user, password } => login(ctx, &user, &password).await,
            AccountCommand::Logout => logout(ctx).await,
            AccountCommand::Whoami { json } => whoami(ctx, Output::of(json)).await,
        }
    }
}

/// `register --user U`
pub async fn register(
    ctx: &Context,
    user: &str,
    password: &PasswordArgs,
) -> anyhow::Result<ExitCode> {
    let password = read_password(password, PasswordPrompt::Twice)?;
    let client = ctx.connect().await?;
    let reply = match ctx.role {
        Role::Player => client.call(Register::new(user, password)).await?,
        Role::Developer => client.call(DevRegister::new(user, password)).await?,
    };
    outln!("registered {} account {}", reply.role, reply.user);
    Ok(ExitCode::SUCCESS)
}

/// `login --user U`
/// A refused login, with what to do next: the lobby does not say whether
/// the name exists, so the hint covers both.
pub fn login_refused(e: ClientError) -> anyhow::Error {
    match &e {
        ClientError::Refused(w) if w.code == gamestore_protocol::ErrorCode::LoginFailed => {
            anyhow::anyhow!("{e}; check both, or register if you have no account yet")
        }
        _ => e.into(),
    }
}

pub async fn login(ctx: &Context, user: &str, password: &PasswordArgs) -> anyhow::Result<ExitCode> {
    let password = read_password(password, PasswordPrompt::Once)?;
    let client = ctx.connect().await?;
    let reply = match ctx.role {
        Role::Player => client.call(Login::new(user, password)).await,
        Role::Developer => client.call(DevLogin::new(user, password)).await,
    }
    .map_err(login_refused)?;
    ctx.home.save_session(&SavedSession {
        server: ctx.global.server.clone(),
        user: reply.user.clone(),
        role: reply.role,
        token: reply.token,
        expires_at: reply.expires_at,
    })?;
    outln!("logged in as {} ({})", reply.user, reply.role);
    Ok(ExitCode::SUCCESS)
}

/// `logout`
pub async fn logout(ctx: &Context) -> anyhow::Result<ExitCode> {
    match ctx.connect_session().await {
        Ok((client, session)) => {
            client.call(Logout {}).await?;
            ctx.home.clear_session(ctx.role)?;
            outln!("logged out {}", session.user);
        }
        Err(e) if is_code(&e, ErrorCode::InvalidSession) => {
            outln!("the session had already ended; logged out");
        }
        Err(e) => return Err(e),
    }
    Ok(ExitCode::SUCCESS)
}

/// `whoami [--json]`
pub async fn whoami(ctx: &Context, output: Output) -> anyhow::Result<ExitCode> {
    let (client, session) = ctx.connect_session().await?;
    let reply = client.call(Whoami {}).await?;
    if output.is_json() {
        print_json(&serde_json::json!({
            "user": reply.user,
            "role": reply.role,
            "server": session.server,
            "created_at": reply.created_at,
        }))?;
    } else {
        outln!("{} ({}) on {}", reply.user, reply.role, session.server);
    }
    Ok(ExitCode::SUCCESS)
}

/// True when `e` is the lobby refusing with `code`.
pub fn is_code(e: &anyhow::Error, code: ErrorCode) -> bool {
    e.downcast_ref::<ClientError>().and_then(ClientError::code) == Some(code)
}

/// Prints rows as aligned columns under `headers`.
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.trim_end().to_owned()
    };
    outln!("{}", line(headers.to_vec()));
    for row in rows {
        outln!("{}", line(row.iter().map(String::as_str).collect()));
    }
}

/// A rating for people: "4.5 (12)" or "unrated".
pub fn rating_text(rating: Option<f64>, reviews: u32) -> String {
    match rating {
        Some(r) => format!("{r:.1} ({reviews})"),
        None => "unrated".to_owned(),
    }
}

/// "1.5 KiB", "12 B": sizes read the same in every program.
pub use gamestore_package::human_bytes;

/// "1 player", "2 to 4 players", "2 players".
pub fn players_range(min: u32, max: u32) -> String {
    match (min, max) {
        (1, 1) => "1 player".to_owned(),
        (min, max) if min == max => format!("{min} players"),
        (min, max) => format!("{min} to {max} players"),
    }
}

/// "1 player", "3 players".
pub fn plural(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

#[cfg(test)]
mod tests {
    use super::{players_range, plural};

    #[test]
    fn counts_read_as_english() {
        for (n, expect) in [(0, "0 players"), (1, "1 player"), (2, "2 players")] {
            assert_eq!(plural(n, "player"), expect);
        }
        for ((min, max), expect) in [
            ((1, 1), "1 player"),
            ((2, 2), "2 players"),
            ((1, 4), "1 to 4 players"),
            ((2, 8), "2 to 8 players"),
        ] {
            assert_eq!(players_range(min, max), expect);
        }
    }
}
