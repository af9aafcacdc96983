//! Runs the player's plugins beside the room screen and speaks their
//! JSON-lines protocol (docs/PLUGINS.md).
//!
//! Each plugin is started in the game-client sandbox without network
//! ([`plugin_command`]). The launcher writes one JSON object per line to
//! its standard input (`hello`, then the events its manifest asks for and
//! the player's `input`) and reads one JSON object per line from its
//! standard output (`ready`, `show`, `send`). A plugin that exits, does not
//! answer `hello` within [`READY_TIMEOUT`], stops reading its input, writes
//! lines longer than [`MAX_LINE_BYTES`] or faster than [`LINE_RATE`], or
//! writes a line that is not a JSON object is killed and reported once, as
//! one line; the room screen carries on without it.

use std::collections::HashMap;
use std::time::Duration;

use gamestore_package::PluginEvent;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use super::InstalledPlugin;
use crate::launcher::{LaunchOptions, plugin_command};

/// How long a plugin may take to answer `hello` with `ready`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one line to a plugin may take to be written.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest line a plugin may write.
pub const MAX_LINE_BYTES: usize = 8 * 1024;
/// Lines a plugin may write per second, sustained...
pub const LINE_RATE: u32 = 20;
/// ...and in one burst.
pub const LINE_BURST: u32 = 40;
/// Longest `show` text kept, in characters.
pub const MAX_SHOW_CHARS: usize = 300;
/// Lines waiting to be written to one plugin; a plugin this far behind is hung.
const INPUT_QUEUE: usize = 64;

/// What a plugin asked for, or that it stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A line for its panel.
    Show(String),
    /// A plugin message for the room's members that run it.
    Send(Value),
    /// It was stopped: why, in a few words.
    Stopped(String),
}

/// A plugin stopped because it was not taking its input.
#[derive(Debug, Clone, PartialEq)]
pub struct Stop {
    pub plugin: String,
    pub why: String,
}

/// One running plugin, as the room screen sees it.
struct Running {
    plugin: InstalledPlugin,
    input: mpsc::Sender<String>,
    kill: std::sync::Arc<Notify>,
    stopped: bool,
}

/// The player's running plugins.
pub struct PluginSet {
    running: Vec<Running>,
    outputs: mpsc::Receiver<(usize, Output)>,
    /// Kept so that `outputs` never ends while the set lives.
    _sender: mpsc::Sender<(usize, Output)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for PluginSet {
    fn drop(&mut self) {
        // The reader tasks own the children, killed on drop.
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl std::fmt::Debug for PluginSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginSet").field("running", &self.running.len()).finish()
    }
}

impl PluginSet {
    /// Starts `plugins` for `player`; a plugin that cannot start is left
    /// out and reported in the returned lines. `data_dir` gives each
    /// plugin's private folder.
    pub fn start(
        plugins: Vec<InstalledPlugin>,
        player: &str,
        options: &LaunchOptions,
        data_dir: impl Fn(&str) -> std::path::PathBuf,
    ) -> (PluginSet, Vec<String>) {
        let (sender, outputs) = mpsc::channel(256);
        let mut set =
            PluginSet { running: Vec::new(), outputs, _sender: sender.clone(), tasks: Vec::new() };
        let mut notes = Vec::new();
        for plugin in plugins {
            let options = LaunchOptions { data_dir: data_dir(&plugin.id), ..options.clone() };
            match spawn(&plugin, player, &options) {
                Ok(child) => {
                    let index = set.running.len();
                    let (input, kill, tasks) = run(index, child, sender.clone());
                    set.tasks.extend(tasks);
                    let hello = json!({
                        "type": "hello", "protocol": 1, "plugin": plugin.id,
                        "version": plugin.version, "player": player,
                    });
                    let _ = input.try_send(hello.to_string());
                    set.running.push(Running { plugin, input, kill, stopped: false });
                }
                Err(e) => notes.push(format!("plugin {} not started: {e:#}", plugin.id)),
            }
        }
        (set, notes)
    }

    /// The ids of the plugins still running.
    pub fn ids(&self) -> Vec<String> {
        self.running.iter().filter(|r| !r.stopped).map(|r| r.plugin.id.clone()).collect()
    }

    /// The panel prefix of plugin `id`.
    pub fn prefix(&self, id: &str) -> Option<&str> {
        self.running.iter().find(|r| r.plugin.id == id).map(|r| r.plugin.spec.panel.prefix.as_str())
    }

    /// Whether any plugin is still running.
    pub fn is_empty(&self) -> bool {
        self.running.iter().all(|r| r.stopped)
    }

    /// The running plugins' ids and panel titles, for the room screen's help.
    pub fn panels(&self) -> Vec<(String, String)> {
        self.running
            .iter()
            .filter(|r| !r.stopped)
            .map(|r| (r.plugin.spec.panel.prefix.clone(), r.plugin.spec.panel.title.clone()))
            .collect()
    }

    /// Sends `event` (`{"type": kind, ...fields}`) to every running plugin
    /// whose manifest asks for `kind`. Returns the plugins stopped because
    /// they were not taking their input.
    pub fn event(&mut self, kind: PluginEvent, fields: Value) -> Vec<Stop> {
        let line = with_type(kind.as_str(), fields);
        let targets: Vec<usize> = (0..self.running.len())
            .filter(|&i| {
                !self.running[i].stopped && self.running[i].plugin.spec.events.contains(&kind)
            })
            .collect();
        targets.into_iter().filter_map(|i| self.write(i, line.clone())).collect()
    }

    /// Sends a plugin message from the room to plugin `plugin`, if it runs and wants them.
    pub fn message(&mut self, plugin: &str, from: &str, data: &Value) -> Vec<Stop> {
        let Some(i) = self.index(plugin) else { return Vec::new() };
        if !self.running[i].plugin.spec.events.contains(&PluginEvent::PluginMessage) {
            return Vec::new();
        }
        let line = json!({"type": "plugin_message", "from": from, "data": data}).to_string();
        self.write(i, line).into_iter().collect()
    }

    /// Sends what the player typed for a plugin (`/p text`) to `plugin`, or
    /// to the first running plugin when `plugin` is `None`.
    pub fn input(&mut self, plugin: Option<&str>, text: &str) -> Result<Vec<Stop>, String> {
        let i = match plugin {
            Some(id) => self.index(id),
            None => self.running.iter().position(|r| !r.stopped),
        };
        let Some(i) = i else {
            return Err(match plugin {
                Some(id) => format!("no plugin {id} is running"),
                None => "no plugin is running".to_owned(),
            });
        };
        let line = json!({"type": "input", "text": text}).to_string();
        Ok(self.write(i, line).into_iter().collect())
    }

    /// The next thing a plugin asked for: its id and the output. A plugin
    /// is reported stopped only once; after that its outputs are dropped.
    pub async fn next(&mut self) -> (String, Output) {
        loop {
            let Some((index, output)) = self.outputs.recv().await else {
                return std::future::pending().await;
            };
            let running = &mut self.running[index];
            if running.stopped {
                continue;
            }
            if let Output::Stopped(_) = output {
                running.stopped = true;
                running.kill.notify_one();
            }
            return (running.plugin.id.clone(), output);
        }
    }

    fn index(&self, id: &str) -> Option<usize> {
        self.running.iter().position(|r| r.plugin.id == id && !r.stopped)
    }

    /// Queues `line` for plugin `i`; a full queue means the plugin hangs.
    fn write(&mut self, i: usize, line: String) -> Option<Stop> {
        let running = &mut self.running[i];
        if running.input.try_send(line).is_ok() {
            return None;
        }
        running.stopped = true;
        running.kill.notify_one();
        Some(Stop { plugin: running.plugin.id.clone(), why: "it stopped reading its input".into() })
    }
}

/// How the room screen reports a stopped plugin.
pub fn stopped_line(id: &str, why: &str) -> String {
    format!("plugin {id} stopped: {why}")
}

fn with_type(kind: &str, fields: Value) -> String {
    let mut object = match fields {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    object.insert("type".into(), Value::String(kind.to_owned()));
    Value::Object(object).to_string()
}

fn spawn(
    plugin: &InstalledPlugin,
    player: &str,
    options: &LaunchOptions,
) -> anyhow::Result<tokio::process::Child> {
    let mut command = plugin_command(&plugin.dir, &plugin.spec.command, player, options)?;
    command.spawn()
}

/// Starts the tasks that feed and read one plugin. The reader owns the
/// child and kills it when the plugin misbehaves or `kill` is notified.
fn run(
    index: usize,
    mut child: tokio::process::Child,
    outputs: mpsc::Sender<(usize, Output)>,
) -> (mpsc::Sender<String>, std::sync::Arc<Notify>, Vec<tokio::task::JoinHandle<()>>) {
    let (input, mut lines) = mpsc::channel::<String>(INPUT_QUEUE);
    let kill = std::sync::Arc::new(Notify::new());
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let writer_outputs = outputs.clone();
    let writer_kill = kill.clone();
    let writer = tokio::spawn(async move {
        let Some(mut stdin) = stdin else { return };
        while let Some(mut line) = lines.recv().await {
            line.push('\n');
            let write = async {
                stdin.write_all(line.as_bytes()).await?;
                stdin.flush().await
            };
            let why = match tokio::time::timeout(WRITE_TIMEOUT, write).await {
                Ok(Ok(())) => continue,
                // The reader reports the exit itself.
                Ok(Err(_)) => return,
                Err(_) => "it stopped reading its input",
            };
            let _ = writer_outputs.send((index, Output::Stopped(why.to_owned()))).await;
            writer_kill.notify_one();
            return;
        }
    });
    let reader_kill = kill.clone();
    let reader = tokio::spawn(async move {
        let why = match stdout {
            Some(stdout) => {
                tokio::select! {
                    why = read_lines(index, stdout, &outputs) => why,
                    _ = reader_kill.notified() => None,
                }
            }
            None => Some("its output could not be read".to_owned()),
        };
        let _ = child.start_kill();
        let status = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        if let Some(why) = why {
            let why = match (why.as_str(), status) {
                ("exited", Ok(Ok(status))) => match status.code() {
                    Some(code) => format!("it exited with code {code}"),
                    None => "it was killed by a signal".to_owned(),
                },
                _ => why,
            };
            let _ = outputs.send((index, Output::Stopped(why))).await;
        }
    });
    (input, kill, vec![writer, reader])
}

/// Reads the plugin's lines until it misbehaves or ends; returns why
/// (`"exited"` for the end of its output).
async fn read_lines(
    index: usize,
    stdout: tokio::process::ChildStdout,
    outputs: &mpsc::Sender<(usize, Output)>,
) -> Option<String> {
    let mut reader = BufReader::with_capacity(MAX_LINE_BYTES + 1, stdout);
    let mut bucket = Bucket::new();
    let mut ready = false;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let mut line = Vec::new();
        let read = read_line(&mut reader, &mut line);
        let read = if ready {
            read.await
        } else {
            match tokio::time::timeout_at(deadline, read).await {
                Ok(read) => read,
                Err(_) => {
                    return Some(format!(
                        "it did not answer hello within {} s",
                        READY_TIMEOUT.as_secs()
                    ));
                }
            }
        };
        match read {
            LineRead::Eof => return Some("exited".to_owned()),
            LineRead::TooLong => {
                return Some(format!("it wrote a line longer than {MAX_LINE_BYTES} bytes"));
            }
            LineRead::Line => {}
        }
        if !bucket.take() {
            return Some(format!("it wrote more than {LINE_RATE} lines a second"));
        }
        let Ok(Value::Object(message)) = serde_json::from_slice::<Value>(&line) else {
            return Some("it wrote something that is not a JSON object".to_owned());
        };
        let output = match message.get("type").and_then(Value::as_str) {
            Some("ready") => {
                ready = true;
                continue;
            }
            Some("show") => match message.get("text").and_then(Value::as_str) {
                Some(text) => Output::Show(clean(text)),
                None => return Some("it wrote a show line without text".to_owned()),
            },
            Some("send") => Output::Send(message.get("data").cloned().unwrap_or(Value::Null)),
            // Tolerant reader: types from newer plugins are skipped.
            _ => continue,
        };
        if outputs.send((index, output)).await.is_err() {
            return None;
        }
    }
}

enum LineRead {
    Line,
    Eof,
    TooLong,
}

/// One line (without its newline) of at most [`MAX_LINE_BYTES`].
async fn read_line(
    reader: &mut BufReader<tokio::process::ChildStdout>,
    line: &mut Vec<u8>,
) -> LineRead {
    loop {
        let available = match reader.fill_buf().await {
            Ok(bytes) => bytes,
            Err(_) => return LineRead::Eof,
        };
        if available.is_empty() {
            return LineRead::Eof;
        }
        let (take, done) = match available.iter().position(|b| *b == b'\n') {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        line.extend_from_slice(&available[..take]);
        reader.consume(take);
        if line.len() > MAX_LINE_BYTES + 1 {
            return LineRead::TooLong;
        }
        if done {
            line.pop();
            return LineRead::Line;
        }
    }
}

/// A token bucket for the plugin's lines.
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new() -> Bucket {
        Bucket { tokens: f64::from(LINE_BURST), at: Instant::now() }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * f64::from(LINE_RATE);
        self.tokens = (self.tokens + refill).min(f64::from(LINE_BURST));
        self.at = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

/// Panel text: one line, no control characters, bounded.
fn clean(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(MAX_SHOW_CHARS).collect()
}

/// Plugin ids by panel prefix, for `/p prefix text`.
pub fn by_prefix(set: &PluginSet) -> HashMap<String, String> {
    set.running
        .iter()
        .filter(|r| !r.stopped)
        .map(|r| (r.plugin.spec.panel.prefix.clone(), r.plugin.id.clone()))
        .collect()
}
