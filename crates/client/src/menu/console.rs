//! The terminal side of the interactive menus: prompts that keep the line
//! being typed intact while server events are printed above it.
//!
//! On a terminal a reedline editor runs on its own thread (its `read_line`
//! blocks) and [`Printer`] goes through reedline's external printer while a
//! prompt is open, which prints above the prompt and redraws it with what was
//! typed so far; while no prompt is open it prints plainly. Without a
//! terminal (piped input, for scripts) lines are read from stdin by a thread
//! and printing is plain.
//!
//! A prompt can be withdrawn before it is answered ([`PendingLine::cancel`]),
//! e.g. when a match starts and the game client needs the terminal: the
//! editor's break flag ends its `read_line`, the prompt's line is erased, and
//! the terminal is back in its ordinary mode before the game starts. The
//! editor reads the terminal in raw mode only while a prompt is open, so
//! Ctrl-C typed while no prompt is open (during an action) is a SIGINT, which
//! a Tokio handler installed for the whole session turns into an interrupt
//! of that action instead of killing the program.

use std::borrow::Cow;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, mpsc as std_mpsc};
use std::thread;
use std::time::Duration;

use reedline::{
    ColumnarMenu, Completer, CompletionResult, Emacs, ExternalPrinter, FileBackedHistory,
    Highlighter, KeyCode, KeyModifiers, MenuBuilder, Prompt, PromptEditMode, PromptHistorySearch,
    Reedline, ReedlineEvent, ReedlineMenu, Signal, Span, StyledText, Suggestion,
    default_emacs_keybindings,
};
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
    next_id: AtomicU64,
}

enum Backend {
    Editor { requests: std_mpsc::Sender<EditorRequest>, withdraw: Arc<Withdraw> },
    Plain(Arc<Mutex<mpsc::UnboundedReceiver<String>>>),
}

struct EditorRequest {
    id: u64,
    prompt: String,
    kind: LineKind,
    reply: oneshot::Sender<Answer>,
}

/// What the editor thread answers a prompt with.
enum Answer {
    Input(Input),
    /// The prompt was withdrawn before it was answered.
    Withdrawn,
}

/// How a prompt is withdrawn: prompts have increasing ids, every prompt up to
/// `upto` is withdrawn, and `signal` asks the open prompt's idle callback to
/// set reedline's break flag, which ends the `read_line` under way.
struct Withdraw {
    upto: AtomicU64,
    signal: Arc<AtomicBool>,
}

impl Withdraw {
    fn prompt(&self, id: u64) {
        // The id first: the editor thread clears the flag before reading it.
        self.upto.fetch_max(id, Ordering::SeqCst);
        self.signal.store(true, Ordering::SeqCst);
    }

    fn withdrawn(&self, id: u64) -> bool {
        self.upto.load(Ordering::SeqCst) >= id
    }
}

impl Console {
    /// A console on the terminal when stdin and stdout are both terminals,
    /// else on plain stdin/stdout. Must be called inside a Tokio runtime.
    pub fn start() -> anyhow::Result<Console> {
        let interrupt = Arc::new(Notify::new());
        listen_for_interrupts(interrupt.clone())?;
        let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
        // A terminal the editor cannot drive (TERM=dumb) is read plainly too.
        let dumb = std::env::var("TERM").is_ok_and(|term| term == "dumb");
        let editor = if terminal && !dumb { start_editor().ok() } else { None };
        let (backend, printer) = editor.unwrap_or_else(start_plain);
        Ok(Console { backend, printer, interrupt, next_id: AtomicU64::new(1) })
    }

    /// Prints lines above the prompt; may be cloned into other tasks.
    pub fn printer(&self) -> Printer {
        self.printer.clone()
    }

    /// Opens a prompt. The returned line can be awaited, and withdrawn.
    pub fn read(&self, prompt: &str, kind: LineKind) -> PendingLine {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = match &self.backend {
            Backend::Editor { requests, withdraw } => {
                let (reply, answer) = oneshot::channel();
                let request = EditorRequest { id, prompt: prompt.to_owned(), kind, reply };
                if requests.send(request).is_err() {
                    PendingState::Done(Input::Eof)
                } else {
                    PendingState::Editor { answer, withdraw: withdraw.clone() }
                }
            }
            Backend::Plain(lines) => {
                self.printer.prompt(prompt);
                PendingState::Plain(lines.clone())
            }
        };
        PendingLine { id, state, interrupt: self.interrupt.clone() }
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
    Editor { answer: oneshot::Receiver<Answer>, withdraw: Arc<Withdraw> },
    Plain(Arc<Mutex<mpsc::UnboundedReceiver<String>>>),
    Done(Input),
}

/// An open prompt. Dropping it withdraws it.
pub struct PendingLine {
    id: u64,
    state: PendingState,
    interrupt: Arc<Notify>,
}

impl PendingLine {
    /// Waits for the answer. Cancel-safe: dropping this future keeps the
    /// prompt open, so it may be used in a `select!` loop.
    pub async fn wait(&mut self) -> Input {
        let input = match &mut self.state {
            PendingState::Done(input) => input.clone(),
            PendingState::Editor { answer, .. } => match answer.await {
                Ok(Answer::Input(input)) => input,
                Ok(Answer::Withdrawn) | Err(_) => Input::Eof,
            },
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

    /// Withdraws the prompt and erases it from the screen. Returns the answer
    /// when the user completed it before the withdrawal took effect, `None`
    /// otherwise. Once this returns, the terminal is the program's again.
    pub async fn cancel(mut self) -> Option<Input> {
        let state = std::mem::replace(&mut self.state, PendingState::Done(Input::Eof));
        match state {
            PendingState::Done(input) => Some(input),
            PendingState::Plain(_) => None,
            PendingState::Editor { answer, withdraw } => {
                withdraw.prompt(self.id);
                match answer.await {
                    Ok(Answer::Input(input)) => Some(input),
                    Ok(Answer::Withdrawn) | Err(_) => None,
                }
            }
        }
    }
}

impl Drop for PendingLine {
    fn drop(&mut self) {
        // The editor thread answers prompts in order: end this one before the next.
        if let PendingState::Editor { withdraw, .. } = &self.state {
            withdraw.prompt(self.id);
        }
    }
}

/// Turns the user's Ctrl-C outside prompts (a SIGINT, as the terminal is in
/// its ordinary mode then) into `interrupt` notifications, for the session.
fn listen_for_interrupts(interrupt: Arc<Notify>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigint = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        while sigint.recv().await.is_some() {
            interrupt.notify_waiters();
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
    /// Lines for the open prompt, if any, which its editor prints above it.
    Editor(Arc<StdMutex<Outgoing>>),
    Plain,
}

impl Printer {
    /// Prints `text` (one or more lines) above the prompt.
    pub fn line(&self, text: impl Into<String>) {
        let mut text = text.into();
        if let PrinterTarget::Editor(outgoing) = &self.target {
            let mut outgoing = lock(outgoing);
            if outgoing.open {
                // reedline prints each message as its own line(s).
                outgoing.lines.push(text.strip_suffix('\n').unwrap_or(&text).to_owned());
                return;
            }
        }
        if !text.ends_with('\n') {
            text.push('\n');
        }
        print_plain(&text);
    }

    fn prompt(&self, prompt: &str) {
        print_plain(prompt);
    }
}

/// What the printer hands the editor thread.
#[derive(Default)]
struct Outgoing {
    /// Whether a prompt is open (else lines are printed at once).
    open: bool,
    lines: Vec<String>,
}

fn lock<T>(mutex: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn print_plain(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
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

/// Lines queued for the open prompt at most; more are printed plainly.
const PRINTER_QUEUE: usize = 1024;

/// How often an open prompt looks for lines to print and for a withdrawal.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The editor thread's state: one editor for ordinary lines (with history
/// and path completion), one for secrets (masked, no history).
struct Editors {
    text: Reedline,
    secret: Reedline,
    /// Whether the open prompt completes paths.
    paths: Arc<AtomicBool>,
    /// Lines from [`Printer`] for the open prompt.
    outgoing: Arc<StdMutex<Outgoing>>,
}

fn start_editor() -> anyhow::Result<(Backend, Printer)> {
    let (requests, incoming) = std_mpsc::channel::<EditorRequest>();
    let withdraw =
        Arc::new(Withdraw { upto: AtomicU64::new(0), signal: Arc::new(AtomicBool::new(false)) });
    let outgoing = Arc::new(StdMutex::new(Outgoing::default()));
    let mut editors = new_editors(&withdraw.signal, outgoing.clone())?;
    let thread_withdraw = withdraw.clone();
    thread::Builder::new().name("menu-editor".into()).spawn(move || {
        for request in incoming {
            let answer = editors.answer(&request, &thread_withdraw);
            let _ = request.reply.send(answer);
        }
    })?;
    Ok((
        Backend::Editor { requests, withdraw },
        Printer { target: PrinterTarget::Editor(outgoing) },
    ))
}

fn new_editors(
    signal: &Arc<AtomicBool>,
    outgoing: Arc<StdMutex<Outgoing>>,
) -> anyhow::Result<Editors> {
    let paths = Arc::new(AtomicBool::new(false));
    let mut keys = default_emacs_keybindings();
    keys.add_binding(
        KeyModifiers::NONE,
        KeyCode::Tab,
        ReedlineEvent::UntilFound(vec![
            ReedlineEvent::Menu("paths".to_owned()),
            ReedlineEvent::MenuNext,
        ]),
    );
    let text = prompt_editor(Reedline::create(), signal, &outgoing)
        .with_history(Box::new(FileBackedHistory::new(200)?))
        .with_edit_mode(Box::new(Emacs::new(keys)))
        .with_completer(Box::new(PathCompleter { enabled: paths.clone() }))
        .with_menu(ReedlineMenu::EngineCompleter(Box::new(
            ColumnarMenu::default().with_name("paths"),
        )));
    let secret = prompt_editor(Reedline::create(), signal, &outgoing)
        .with_history(Box::new(FileBackedHistory::new(0)?))
        // Every line starts with "": none is kept, not even for the next Up.
        .with_history_exclusion_prefix(Some(String::new()))
        .with_highlighter(Box::new(Masked));
    Ok(Editors { text, secret, paths, outgoing })
}

/// Plain colours, and an idle callback that runs before reedline looks for
/// a break and for lines to print: it either breaks (a withdrawal was asked
/// for) or hands over the printer's lines, never both, so that no line is
/// left in reedline's queue when `read_line` ends.
fn prompt_editor(
    editor: Reedline,
    signal: &Arc<AtomicBool>,
    outgoing: &Arc<StdMutex<Outgoing>>,
) -> Reedline {
    let printer = ExternalPrinter::<String>::new(PRINTER_QUEUE);
    let sender = printer.sender();
    let brk = Arc::new(AtomicBool::new(false));
    let (requested, outgoing, reedline_break) = (signal.clone(), outgoing.clone(), brk.clone());
    let idle = move || {
        if requested.swap(false, Ordering::SeqCst) {
            reedline_break.store(true, Ordering::SeqCst);
            return;
        }
        let lines = std::mem::take(&mut lock(&outgoing).lines);
        for line in lines {
            if let Err(std_mpsc::TrySendError::Full(line)) = sender.try_send(line) {
                print_plain(&format!("{line}\n"));
            }
        }
    };
    editor
        .with_ansi_colors(false)
        .with_break_signal(brk)
        .with_external_printer(printer)
        .with_idle_callback(Box::new(idle))
        .with_poll_interval(POLL_INTERVAL)
}

impl Editors {
    /// Reads the line `request` asks for, unless it is withdrawn first.
    fn answer(&mut self, request: &EditorRequest, withdraw: &Withdraw) -> Answer {
        loop {
            // The flag first: a withdrawal after this check sets it again.
            withdraw.signal.store(false, Ordering::SeqCst);
            if withdraw.withdrawn(request.id) {
                return Answer::Withdrawn;
            }
            match self.read_line(&request.prompt, request.kind) {
                Ok(Signal::Success(line)) => return Answer::Input(Input::Line(line)),
                Ok(Signal::CtrlC) => return Answer::Input(Input::Interrupted),
                Ok(Signal::ExternalBreak(_)) if withdraw.withdrawn(request.id) => {
                    return Answer::Withdrawn;
                }
                // A break meant for a prompt that had already ended: read again.
                Ok(Signal::ExternalBreak(_)) => {}
                Ok(_) | Err(_) => return Answer::Input(Input::Eof),
            }
        }
    }

    fn read_line(&mut self, prompt: &str, kind: LineKind) -> std::io::Result<Signal> {
        let prompt = MenuPrompt(prompt);
        self.paths.store(kind == LineKind::Path, Ordering::SeqCst);
        let editor = match kind {
            LineKind::Secret => &mut self.secret,
            LineKind::Text | LineKind::Path => &mut self.text,
        };
        lock(&self.outgoing).open = true;
        let result = editor.read_line(&prompt);
        if let Ok(Signal::ExternalBreak(_)) = result {
            // Put the prompt away: the program has the terminal now.
            print_plain("\r\x1b[J");
        }
        // Lines that came after the editor last looked are printed now, in order.
        let mut outgoing = lock(&self.outgoing);
        outgoing.open = false;
        for line in std::mem::take(&mut outgoing.lines) {
            print_plain(&format!("{line}\n"));
        }
        result
    }
}

/// The menu's prompt text, as given, with nothing added.
struct MenuPrompt<'a>(&'a str);

impl Prompt for MenuPrompt<'_> {
    fn render_prompt_left(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.0)
    }

    fn render_prompt_right(&self) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    fn render_prompt_indicator(&self, _mode: PromptEditMode) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    fn render_prompt_multiline_indicator(&self) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    fn render_prompt_history_search_indicator(&self, search: PromptHistorySearch) -> Cow<'_, str> {
        Cow::Owned(format!("(search: {}) ", search.term))
    }
}

/// Shows a secret as blanks, one per byte so that the cursor stays put.
struct Masked;

impl Highlighter for Masked {
    fn highlight(&self, line: &str, _cursor: usize) -> StyledText {
        let mut text = StyledText::new();
        text.push((Default::default(), " ".repeat(line.len())));
        text
    }
}

/// Completes file system paths on Tab, for [`LineKind::Path`] prompts only.
struct PathCompleter {
    enabled: Arc<AtomicBool>,
}

impl Completer for PathCompleter {
    fn complete(&mut self, line: &str, pos: usize) -> CompletionResult {
        if !self.enabled.load(Ordering::SeqCst) {
            return CompletionResult::fresh(Vec::new());
        }
        let typed = &line[..pos];
        let (folder, stem) = match typed.rfind('/') {
            Some(slash) => (&typed[..=slash], &typed[slash + 1..]),
            None => ("", typed),
        };
        let dir = if folder.is_empty() { "." } else { folder };
        let mut suggestions: Vec<Suggestion> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                if !name.starts_with(stem) || (name.starts_with('.') && !stem.starts_with('.')) {
                    return None;
                }
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                let slash = if is_dir { "/" } else { "" };
                Some(Suggestion {
                    value: format!("{folder}{name}{slash}"),
                    span: Span::new(0, pos),
                    append_whitespace: !is_dir,
                    ..Suggestion::default()
                })
            })
            .collect();
        suggestions.sort_by(|a, b| a.value.cmp(&b.value));
        CompletionResult::fresh(suggestions)
    }
}
