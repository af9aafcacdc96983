//! Interactive menus, shared by `gamestore-dev` and `gamestore-player` when
//! they run without a subcommand.
//!
//! A [`Menu`] is one session: a [`Console`] (prompts that keep the typed line
//! intact while events print above it), a [`Link`] (one lobby connection,
//! reconnected with the saved session when it drops) and a pump task that
//! prints what the lobby pushes while the user is at a prompt. Screens are
//! numbered lists of at most about five choices plus `0` for back; a wrong
//! answer (letters, out of range, empty) asks again; Ctrl-D or Ctrl-C at a
//! prompt leaves the menu ([`Quit`]), closing the connection but keeping the
//! saved session; Ctrl-C while an action runs stops that action.
//!
//! Every action ends with one line saying what happened, or an `error:` line.

mod console;
mod link;

use std::future::Future;
use std::sync::{Arc, Mutex};

use gamestore_protocol::{Event, Whoami};
use tokio::sync::mpsc;

pub use console::{Console, Input, LineKind, PendingLine, Printer};
pub use link::{Link, Notice, RECONNECT_FOR};

use crate::cli::Context;
use crate::outln;

/// The user asked to leave the menu: Ctrl-D or Ctrl-C at a prompt, or "quit".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quit;

impl std::fmt::Display for Quit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("leaving the menu")
    }
}

impl std::error::Error for Quit {}

/// Items shown at once by [`Menu::pick`].
pub const PAGE: usize = 5;

/// Turns a notice into the line shown for it; `None` shows nothing.
pub type Describe = fn(&Notice) -> Option<String>;

/// One interactive session.
pub struct Menu {
    pub console: Console,
    pub link: Link,
    printer: Printer,
    /// Where the pump forwards notices while a screen watches them.
    watcher: Arc<Mutex<Option<mpsc::UnboundedSender<Notice>>>>,
}

impl Menu {
    /// Opens the console and the lobby connection, prints a greeting, and
    /// starts printing pushed events with `describe` (then
    /// [`describe_common`] for what `describe` leaves).
    pub async fn start(ctx: Context, describe: Describe) -> anyhow::Result<Menu> {
        let console = Console::start()?;
        let printer = console.printer();
        let server = ctx.global.server.clone();
        let (link, notices, problem) = Link::open(ctx).await;
        let watcher = Arc::new(Mutex::new(None));
        tokio::spawn(pump(notices, printer.clone(), watcher.clone(), describe));
        let menu = Menu { console, link, printer, watcher };
        outln!(
            "Game Store on {server}. Type a choice's number and Enter; 0 goes back; Ctrl-D quits."
        );
        match (problem, menu.link.session()) {
            (Some(problem), _) => {
                outln!("error: {problem}; the next action tries again")
            }
            (None, Some(session)) => outln!("logged in as {} ({})", session.user, session.role),
            (None, None) => outln!("not logged in"),
        }
        Ok(menu)
    }

    /// Closes the lobby connection (the saved session stays).
    pub fn close(&self) {
        self.link.close();
    }

    /// Prints a line above the prompt (for output from other tasks).
    pub fn printer(&self) -> Printer {
        self.printer.clone()
    }

    /// Shows `title` and numbered `options` with `0) back`, and asks until
    /// the answer is one of them. `Some(i)` is `options[i]`, `None` is back.
    pub async fn choose<S: AsRef<str>>(
        &self,
        title: &str,
        options: &[S],
        back: &str,
    ) -> Result<Option<usize>, Quit> {
        outln!("");
        outln!("== {title} ==");
        for (i, option) in options.iter().enumerate() {
            outln!("  {}) {}", i + 1, option.as_ref());
        }
        outln!("  0) {back}");
        let prompt = format!("{}> ", prompt_name(title));
        loop {
            let line = self.ask(&prompt, LineKind::Text).await?;
            match parse_choice(&line, options.len()) {
                Ok(choice) => return Ok(choice),
                Err(message) => outln!("{message}"),
            }
        }
    }

    /// A screen of the logged-in menus: [`Menu::choose`] with "Back", which
    /// goes back at once once the session has ended (revoked by a login
    /// elsewhere, or expired), so that the main menu asks to log in again.
    pub async fn screen<S: AsRef<str>>(
        &self,
        title: &str,
        options: &[S],
    ) -> Result<Option<usize>, Quit> {
        if self.link.session().is_none() {
            return Ok(None);
        }
        let choice = self.choose(title, options, "Back").await?;
        if self.link.session().is_none() {
            outln!("not logged in any more: back to the main menu");
            return Ok(None);
        }
        Ok(choice)
    }

    /// Asks for one line (which may be empty).
    pub async fn ask(&self, prompt: &str, kind: LineKind) -> Result<String, Quit> {
        match self.console.line(prompt, kind).await {
            Input::Line(line) => Ok(line),
            Input::Eof | Input::Interrupted => Err(Quit),
        }
    }

    /// Asks for a whole number in `min..=max` until one is given; an empty
    /// answer is `None`.
    pub async fn ask_number(&self, prompt: &str, min: u32, max: u32) -> Result<Option<u32>, Quit> {
        loop {
            let line = self.ask(prompt, LineKind::Text).await?;
            let line = line.trim();
            if line.is_empty() {
                return Ok(None);
            }
            match line.parse::<u32>() {
                Ok(n) if (min..=max).contains(&n) => return Ok(Some(n)),
                _ => outln!("{line:?} is not a number from {min} to {max}; try again"),
            }
        }
    }

    /// Runs one action: its failure is printed as one `error:` line and the
    /// menu goes on (`None`); Ctrl-C stops it; [`Quit`] inside it leaves the menu.
    pub async fn act<T>(
        &self,
        action: impl Future<Output = anyhow::Result<T>>,
    ) -> Result<Option<T>, Quit> {
        tokio::select! {
            result = action => match result {
                Ok(value) => Ok(Some(value)),
                Err(e) if e.downcast_ref::<Quit>().is_some() => Err(Quit),
                Err(e) => {
                    outln!("error: {}", one_line(&e));
                    Ok(None)
                }
            },
            () = self.console.interrupted() => {
                outln!("interrupted");
                // The action may have stopped in the middle of a transfer.
                self.link.renew("interrupted");
                Ok(None)
            }
        }
    }

    /// Lets the user pick one of `items`, [`PAGE`] at a time with "more"
    /// and "previous" entries; `None` is back.
    pub async fn pick<S: AsRef<str>>(
        &self,
        title: &str,
        items: &[S],
    ) -> Result<Option<usize>, Quit> {
        let mut first = 0;
        loop {
            let end = (first + PAGE).min(items.len());
            let mut options: Vec<String> =
                items[first..end].iter().map(|s| s.as_ref().to_owned()).collect();
            let more = end < items.len();
            let previous = first > 0;
            if more {
                options.push(format!("More ({} of {})", items.len() - end, items.len()));
            }
            if previous {
                options.push("Previous page".to_owned());
            }
            let shown = end - first;
            match self.choose(title, &options, "Back").await? {
                None => return Ok(None),
                Some(i) if i < shown => return Ok(Some(first + i)),
                Some(i) if more && i == shown => first = end,
                Some(_) => first = first.saturating_sub(PAGE),
            }
        }
    }

    /// Receives every notice from now until the [`Watch`] is dropped (they
    /// are printed as well).
    pub fn watch(&self) -> Watch {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.watcher.lock().unwrap() = Some(tx);
        Watch { receiver: rx, slot: self.watcher.clone() }
    }

    /// The logged-in session, showing the "Log in / Register" screen until
    /// there is one; `None` when the user quits from that screen.
    pub async fn session_or_login(&self) -> Result<Option<crate::SavedSession>, Quit> {
        loop {
            if let Some(session) = self.link.session() {
                return Ok(Some(session));
            }
            match self.choose("Main menu", &["Log in", "Register"], "Quit").await? {
                Some(0) => self.act(self.login()).await?,
                Some(_) => self.act(self.register()).await?,
                None => return Ok(None),
            };
        }
    }

    /// Asks for a name and password and logs in.
    pub async fn login(&self) -> anyhow::Result<()> {
        let Some(user) = self.ask_text("user name (empty to go back): ").await? else {
            return Ok(());
        };
        let password = self.ask("password: ", LineKind::Secret).await?;
        let session = self.link.login(&user, password).await?;
        outln!("logged in as {} ({})", session.user, session.role);
        Ok(())
    }

    /// Asks for a name and a password (twice), registers, and logs in.
    pub async fn register(&self) -> anyhow::Result<()> {
        let Some(user) = self.ask_text("new user name (empty to go back): ").await? else {
            return Ok(());
        };
        let password = self.ask("password (8 to 128 characters): ", LineKind::Secret).await?;
        let again = self.ask("password again: ", LineKind::Secret).await?;
        if password != again {
            anyhow::bail!("the two passwords differ; nothing was registered");
        }
        let reply = self.link.register(&user, password.clone()).await?;
        let session = self.link.login(&reply.user, password).await?;
        outln!("registered {} account {} and logged in", session.role, session.user);
        Ok(())
    }

    /// Who this session is.
    pub async fn whoami(&self) -> anyhow::Result<()> {
        let (client, session) = self.link.session_client().await?;
        let reply = client.call(Whoami {}).await?;
        outln!("{} ({}) on {}", reply.user, reply.role, session.server);
        Ok(())
    }

    /// Ends the session and forgets it.
    pub async fn logout(&self) -> anyhow::Result<()> {
        let user = self.link.logout().await?;
        outln!("logged out {user}");
        Ok(())
    }

    /// Asks for a line of text; empty (after trimming) is `None`.
    pub async fn ask_text(&self, prompt: &str) -> Result<Option<String>, Quit> {
        let line = self.ask(prompt, LineKind::Text).await?;
        let line = line.trim();
        Ok(if line.is_empty() { None } else { Some(line.to_owned()) })
    }
}

/// Notices forwarded to one screen while it lives.
pub struct Watch {
    receiver: mpsc::UnboundedReceiver<Notice>,
    slot: Arc<Mutex<Option<mpsc::UnboundedSender<Notice>>>>,
}

impl Watch {
    /// The next notice. Cancel-safe.
    pub async fn next(&mut self) -> Option<Notice> {
        self.receiver.recv().await
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        *self.slot.lock().unwrap() = None;
    }
}

async fn pump(
    mut notices: mpsc::UnboundedReceiver<Notice>,
    printer: Printer,
    watcher: Arc<Mutex<Option<mpsc::UnboundedSender<Notice>>>>,
    describe: Describe,
) {
    while let Some(notice) = notices.recv().await {
        if let Some(line) = describe(&notice).or_else(|| describe_common(&notice)) {
            printer.line(line);
        }
        if let Some(watcher) = watcher.lock().unwrap().as_ref() {
            let _ = watcher.send(notice);
        }
    }
}

/// The lines both programs show for the connection's own news.
pub fn describe_common(notice: &Notice) -> Option<String> {
    Some(match notice {
        Notice::Event(Event::SessionRevoked(r)) => format!("your session ended: {}", r.reason),
        Notice::Event(Event::ServerShutdown(s)) => format!("the lobby is stopping: {}", s.message),
        Notice::Event(_) => return None,
        Notice::Lost { reason } => {
            format!("connection lost ({reason}), reconnecting…")
        }
        Notice::Reconnected { user: Some(user) } => format!("reconnected as {user}"),
        Notice::Reconnected { user: None } => "reconnected".to_owned(),
        Notice::SessionEnded => "your session has ended: log in again".to_owned(),
        Notice::Offline { reason } => format!(
            "cannot reach the lobby for {}s ({reason}); the next action tries again",
            RECONNECT_FOR.as_secs()
        ),
    })
}

/// An error and its causes on one line, without repeating a cause that an
/// outer message already quotes.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    line.replace('\n', " ")
}

/// The prompt for a screen: its title, lowercase.
fn prompt_name(title: &str) -> String {
    let title = title.trim();
    if title.is_empty() { "choice".to_owned() } else { title.to_lowercase() }
}

/// Reads a menu answer: `Ok(None)` for 0 (back), `Ok(Some(i))` for option
/// `i + 1`, else the message to show before asking again.
pub fn parse_choice(line: &str, options: usize) -> Result<Option<usize>, String> {
    let line = line.trim();
    let hint = format!("type a number from 0 to {options}");
    if line.is_empty() {
        return Err(format!("nothing chosen: {hint}"));
    }
    match line.parse::<usize>() {
        Ok(0) => Ok(None),
        Ok(n) if n <= options => Ok(Some(n - 1)),
        _ => Err(format!("{line:?} is not a choice: {hint}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices() {
        let check = |line: &str, expect: Result<Option<usize>, &str>| {
            let got = parse_choice(line, 3);
            match expect {
                Ok(choice) => assert_eq!(got, Ok(choice), "{line:?}"),
                Err(start) => {
                    let message = got.expect_err(line);
                    assert!(message.starts_with(start), "{line:?}: {message}");
                }
            }
        };
        check("1", Ok(Some(0)));
        check(" 3 ", Ok(Some(2)));
        check("0", Ok(None));
        check("", Err("nothing chosen"));
        check("   ", Err("nothing chosen"));
        check("4", Err("\"4\" is not a choice"));
        check("x", Err("\"x\" is not a choice"));
        check("-1", Err("\"-1\" is not a choice"));
        check("1.5", Err("\"1.5\" is not a choice"));
    }

    #[test]
    fn errors_on_one_line() {
        let refused = || std::io::Error::other("connection refused");
        let quoted = anyhow::Error::new(refused()).context("cannot reach x: connection refused");
        assert_eq!(one_line(&quoted), "cannot reach x: connection refused");
        let chained = anyhow::Error::new(refused()).context("cannot reach x");
        assert_eq!(one_line(&chained), "cannot reach x: connection refused");
        assert_eq!(one_line(&anyhow::anyhow!("two\nlines")), "two lines");
    }

    #[test]
    fn prompt_names() {
        assert_eq!(prompt_name("Store"), "store");
        assert_eq!(prompt_name("My games"), "my games");
        assert_eq!(prompt_name(" "), "choice");
    }
}
