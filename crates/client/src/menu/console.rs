//! The terminal side of the interactive menus: prompts that keep the line
//! being typed intact while server events are printed above it.
//!
//! On a terminal a rustyline editor runs on its own thread (its `readline`
//! blocks) and [`Printer`] goes through rustyline's external printer, which
//! clears the prompt line, prints, and redraws the prompt with what was typed
//! so far. Without a terminal (piped input, for scripts) lines are read from
//! stdin by a thread and printing is plain.
//!
//! A prompt can be withdrawn before it is answered ([`PendingLine::cancel`]),
//! e.g. when a match starts and the game client needs the terminal.
//! rustyline has no call for that, but it turns a SIGINT that arrives while
//! it reads into the end of `readline`; the console sends itself SIGINT until
//! the editor thread answers. A Tokio SIGINT handler is installed for the
//! whole session so that a signal arriving between two prompts is harmless,
//! and Ctrl-C typed while no prompt is open (during an action) interrupts that
//! action instead of killing the program.

use std::borrow::Cow;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc as std_mpsc};
use std::thread;
use std::time::Duration;

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::config::Configurer;
use rustyline::error::ReadlineError;
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{ColorMode, Editor, ExternalPrinter, Helper};
use tokio::sync::{Mutex, Notify, mpsc, oneshot};

/// What a prompt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A line, without its end.
    Line(String),
    /// Ctrl-D on an empty line, or the end of piped input.
    Eof,
    /// Ctrl-C.
    Interrupted,
}

/// How a prompt reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// Ordinary text, kept in the session's history.
    Text,
    /// Hidden (passwords): not echoed, not kept.
    Secret,
    /// A file system path: Tab completes it.
    Path,
}

/// The menu's terminal: prompts and a printer.
pub struct Console {
    backend: Backend,
    printer: Printer,
    /// Ctrl-C pressed while no prompt was open.
    interrupt: Arc<Notify>,
    /// The id of the prompt being withdrawn, 0 when none: the SIGINTs sent
    /// for that are not the user's.
    withdrawing: Arc<AtomicU64>,
    next_id: AtomicU64,
}

enum Backend {
    Editor(std_mpsc::Sender<EditorRequest>),
    Plain(Arc<Mutex<mpsc::UnboundedReceiver<String>>>),
}

struct EditorRequest {
    id: u64,
    prompt: String,
    kind: LineKind,
    reply: oneshot::Sender<Input>,
}

impl Console {
    /// A console on the terminal when stdin and stdout are both terminals,
    /// else on plain stdin/stdout. Must be called inside a Tokio runtime.
    pub fn start() -> anyhow::Result<Console> {
        let interrupt = Arc::new(Notify::new());
        let withdrawing = Arc::new(AtomicU64::new(0));
        listen_for_interrupts(interrupt.clone(), withdrawing.clone())?;
        let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
        // A terminal the editor cannot drive (TERM=dumb) is read plainly too.
        let editor = if terminal { start_editor(withdrawing.clone()).ok() } else { None };
        let (backend, printer) = editor.unwrap_or_else(start_plain);
        Ok(Console { backend, printer, interrupt, withdrawing, next_id: AtomicU64::new(1) })
    }

    /// Prints lines above the prompt; may be cloned into other tasks.
    pub fn printer(&self) -> Printer {
        self.printer.clone()
    }

    /// Opens a prompt. The returned line can be awaited, and withdrawn.
    pub fn read(&self, prompt: &str, kind: LineKind) -> PendingLine {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = match &self.backend {
            Backend::Editor(requests) => {
                let (reply, answer) = oneshot::channel();
                let request = EditorRequest { id, prompt: prompt.to_owned(), kind, reply };
                if requests.send(request).is_err() {
                    PendingState::Done(Input::Eof)
                } else {
                    PendingState::Editor(answer)
                }
            }
            Backend::Plain(lines) => {
                self.printer.prompt(prompt);
                PendingState::Plain(lines.clone())
            }
        };
        PendingLine {
            id,
            state,
            interrupt: self.interrupt.clone(),
            withdrawing: self.withdrawing.clone(),
        }
    }

    /// Reads one line.
    pub async fn line(&self, prompt: &str, kind: LineKind) -> Input {
        self.read(prompt, kind).wait().await
    }

    /// Resolves when the user presses Ctrl-C while no prompt is open.
    pub async fn interrupted(&self) {
        self.interrupt.notified().await
    }
}

enum PendingState {
    Editor(oneshot::Receiver<Input>),
    Plain(Arc<Mutex<mpsc::UnboundedReceiver<String>>>),
    Done(Input),
}

/// An open prompt. Dropping it withdraws it.
pub struct PendingLine {
    id: u64,
    state: PendingState,
    interrupt: Arc<Notify>,
    withdrawing: Arc<AtomicU64>,
}

impl PendingLine {
    /// Waits for the answer. Cancel-safe: dropping this future keeps the
    /// prompt open, so it may be used in a `select!` loop.
    pub async fn wait(&mut self) -> Input {
        let input = match &mut self.state {
            PendingState::Done(input) => input.clone(),
            PendingState::Editor(answer) => answer.await.unwrap_or(Input::Eof),
            PendingState::Plain(lines) => {
                let interrupt = self.interrupt.clone();
                let mut lines = lines.lock().await;
                tokio::select! {
                    line = lines.recv() => line.map_or(Input::Eof, Input::Line),
                    () = interrupt.notified() => Input::Interrupted,
                }
            }
        };
        self.state = PendingState::Done(input.clone());
        input
    }

    /// Withdraws the prompt. Returns the answer when the user completed it
    /// before the withdrawal took effect, `None` otherwise.
    pub async fn cancel(mut self) -> Option<Input> {
        let state = std::mem::replace(&mut self.state, PendingState::Done(Input::Eof));
        match state {
            PendingState::Done(input) => Some(input),
            PendingState::Plain(_) => None,
            PendingState::Editor(mut answer) => {
                if let Ok(input) = answer.try_recv() {
                    return Some(input);
                }
                let (id, withdrawing) = (self.id, self.withdrawing.clone());
                let input = tokio::task::spawn_blocking(move || withdraw(id, answer, &withdrawing))
                    .await
                    .ok()
                    .flatten();
                match input {
                    // The SIGINT ended the prompt (or the user pressed Ctrl-C at that instant).
                    Some(Input::Interrupted) | None => None,
                    other => other,
                }
            }
        }
    }
}

impl Drop for PendingLine {
    fn drop(&mut self) {
        let state = std::mem::replace(&mut self.state, PendingState::Done(Input::Eof));
        if let PendingState::Editor(answer) = state {
            let (id, withdrawing) = (self.id, self.withdrawing.clone());
            // The editor thread answers prompts in order: end this one before the next.
            thread::spawn(move || withdraw(id, answer, &withdrawing));
        }
    }
}

/// Ends the editor's current `readline` with SIGINTs until it answers.
fn withdraw(
    id: u64,
    mut answer: oneshot::Receiver<Input>,
    withdrawing: &AtomicU64,
) -> Option<Input> {
    withdrawing.store(id, Ordering::SeqCst);
    let result = loop {
        match answer.try_recv() {
            Ok(input) => break Some(input),
            Err(oneshot::error::TryRecvError::Closed) => break None,
            Err(oneshot::error::TryRecvError::Empty) => {}
        }
        // SAFETY: kill(2) on our own process; the signal is handled either by
        // rustyline (ending readline) or by the Tokio handler installed in
        // `listen_for_interrupts`, never by the default action.
        unsafe { libc::kill(libc::getpid(), libc::SIGINT) };
        thread::sleep(Duration::from_millis(20));
    };
    // A signal still in flight must not count as the user's Ctrl-C.
    thread::sleep(Duration::from_millis(50));
    let _ = withdrawing.compare_exchange(id, 0, Ordering::SeqCst, Ordering::SeqCst);
    result
}

/// Installs the SIGINT handler for the session and turns the user's Ctrl-C
/// (outside prompts) into `interrupt` notifications.
fn listen_for_interrupts(
    interrupt: Arc<Notify>,
    withdrawing: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigint = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        while sigint.recv().await.is_some() {
            if withdrawing.load(Ordering::SeqCst) == 0 {
                interrupt.notify_waiters();
            }
        }
    });
    Ok(())
}

/// Prints whole lines without breaking the prompt's line.
#[derive(Clone)]
pub struct Printer {
    target: PrinterTarget,
}

#[derive(Clone)]
enum PrinterTarget {
    /// Lines go to the thread owning rustyline's external printer.
    Editor(std_mpsc::Sender<String>),
    Plain,
}

impl Printer {
    /// Prints `text` (one or more lines) above the prompt.
    pub fn line(&self, text: impl Into<String>) {
        let mut text = text.into();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        match &self.target {
            PrinterTarget::Editor(lines) => {
                let _ = lines.send(text);
            }
            PrinterTarget::Plain => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
            }
        }
    }

    fn prompt(&self, prompt: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(prompt.as_bytes()).and_then(|()| out.flush());
    }
}

fn start_plain() -> (Backend, Printer) {
    let (tx, rx) = mpsc::unbounded_channel();
    thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line.trim_end_matches('\r').to_owned()).is_err() {
                break;
            }
        }
    });
    (Backend::Plain(Arc::new(Mutex::new(rx))), Printer { target: PrinterTarget::Plain })
}

fn start_editor(withdrawing: Arc<AtomicU64>) -> anyhow::Result<(Backend, Printer)> {
    let (requests, incoming) = std_mpsc::channel::<EditorRequest>();
    let (lines, outgoing) = std_mpsc::channel::<String>();
    let (ready, started) = std_mpsc::channel::<anyhow::Result<()>>();
    thread::Builder::new().name("menu-editor".into()).spawn(move || {
        let mut editor = match new_editor() {
            Ok(editor) => editor,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let printer = match editor.create_external_printer() {
            Ok(printer) => printer,
            Err(e) => {
                let _ = ready.send(Err(anyhow::anyhow!("cannot print above the prompt: {e}")));
                return;
            }
        };
        thread::spawn(move || print_lines(printer, outgoing));
        let _ = ready.send(Ok(()));
        for request in incoming {
            let input = loop {
                let input = read_line(&mut editor, &request.prompt, request.kind);
                // A SIGINT meant to withdraw an earlier prompt that ended on its own.
                let target = withdrawing.load(Ordering::SeqCst);
                if input == Input::Interrupted && target != 0 && target != request.id {
                    continue;
                }
                break input;
            };
            let _ = request.reply.send(input);
        }
    })?;
    started.recv().map_err(|_| anyhow::anyhow!("the line editor did not start"))??;
    Ok((Backend::Editor(requests), Printer { target: PrinterTarget::Editor(lines) }))
}

fn print_lines(mut printer: impl ExternalPrinter, lines: std_mpsc::Receiver<String>) {
    for line in lines {
        if printer.print(line.clone()).is_err() {
            // The editor is gone (the menu is closing): print plainly.
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
        }
    }
}

type MenuEditor = Editor<MenuHelper, DefaultHistory>;

fn new_editor() -> anyhow::Result<MenuEditor> {
    let mut editor = MenuEditor::new()?;
    editor.set_helper(Some(MenuHelper::default()));
    editor.set_auto_add_history(false);
    editor.set_max_history_size(200)?;
    Ok(editor)
}

fn read_line(editor: &mut MenuEditor, prompt: &str, kind: LineKind) -> Input {
    if let Some(helper) = editor.helper_mut() {
        helper.kind = kind;
    }
    // Masking works through the highlighter, which only runs with colours on.
    editor.set_color_mode(if kind == LineKind::Secret {
        ColorMode::Forced
    } else {
        ColorMode::Enabled
    });
    let result = editor.readline(prompt);
    if let Some(helper) = editor.helper_mut() {
        helper.kind = LineKind::Text;
    }
    match result {
        Ok(line) => {
            if kind != LineKind::Secret && !line.trim().is_empty() {
                let _ = editor.add_history_entry(line.as_str());
            }
            Input::Line(line)
        }
        Err(ReadlineError::Interrupted) => Input::Interrupted,
        Err(_) => Input::Eof,
    }
}

/// Path completion for [`LineKind::Path`] and masking for [`LineKind::Secret`].
struct MenuHelper {
    kind: LineKind,
    files: FilenameCompleter,
}

impl Default for MenuHelper {
    fn default() -> MenuHelper {
        MenuHelper { kind: LineKind::Text, files: FilenameCompleter::new() }
    }
}

impl Completer for MenuHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        match self.kind {
            LineKind::Path => self.files.complete(line, pos, ctx),
            _ => Ok((pos, Vec::new())),
        }
    }
}

impl Highlighter for MenuHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if self.kind == LineKind::Secret {
            Cow::Owned(" ".repeat(line.chars().count()))
        } else {
            Cow::Borrowed(line)
        }
    }

    fn highlight_char(&self, _line: &str, _pos: usize, kind: CmdKind) -> bool {
        self.kind == LineKind::Secret && kind != CmdKind::MoveCursor
    }
}

impl Hinter for MenuHelper {
    type Hint = String;
}

impl Validator for MenuHelper {}

impl Helper for MenuHelper {}
