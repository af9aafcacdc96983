//! Helpers for the games' integration tests, which drive the real binaries
//! as the platform does.
//!
//! - [`Proc`]: a child process whose output is collected line by line and
//!   that is killed and reaped when dropped, even when a test panics.
//! - [`start_server`]: runs a game server on port 0 and learns its port from
//!   its `listening on` line.
//! - [`Display`]: a private Xvfb display for the window tests, and
//!   [`screenshot`] / [`image_spread`] to capture and judge a window.
//!
//! Every wait has a deadline; a timeout panics with the output collected so
//! far, so a failing test says what the programs printed.

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::line::{LineReader, LineSender};

/// A temporary folder removed on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh folder under the system's temporary folder.
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = format!(
            "gamestore-games-{label}-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).expect("create temporary folder");
        TempDir { path }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// What a child printed so far, per stream, and where the last wait matched.
#[derive(Default)]
struct Output {
    /// stdout and stderr bytes.
    streams: [Vec<u8>; 2],
    /// Per stream, the offset after the last match of [`Proc::wait_for`].
    cursors: [usize; 2],
    /// Streams not yet at their end.
    open: usize,
}

type SharedOutput = Arc<(Mutex<Output>, Condvar)>;

/// A child process owned by a test: killed and reaped on drop.
///
/// Output is collected as it comes, partial lines included, so a test can
/// wait for a prompt that has no newline yet.
pub struct Proc {
    name: String,
    child: Child,
    output: SharedOutput,
}

impl Proc {
    /// Spawns `command` with stdout and stderr captured (stdin as the
    /// command says); panics when the program cannot start.
    pub fn spawn(name: &str, command: Command) -> Proc {
        Proc::spawn_checked(name, command).unwrap_or_else(|e| panic!("cannot start {name}: {e}"))
    }

    /// Like [`Proc::spawn`] but returns an error when the program is missing.
    pub fn spawn_checked(name: &str, mut command: Command) -> Result<Proc, String> {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|e| e.to_string())?;
        let output: SharedOutput =
            Arc::new((Mutex::new(Output { open: 2, ..Output::default() }), Condvar::new()));
        let stdout: Box<dyn Read + Send> = Box::new(child.stdout.take().expect("piped stdout"));
        let stderr: Box<dyn Read + Send> = Box::new(child.stderr.take().expect("piped stderr"));
        for (index, mut stream) in [stdout, stderr].into_iter().enumerate() {
            let output = Arc::clone(&output);
            thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                loop {
                    let read = stream.read(&mut buffer).unwrap_or(0);
                    let (lock, changed) = &*output;
                    let mut out = lock.lock().unwrap();
                    if read == 0 {
                        out.open -= 1;
                        changed.notify_all();
                        return;
                    }
                    out.streams[index].extend_from_slice(&buffer[..read]);
                    changed.notify_all();
                }
            });
        }
        Ok(Proc { name: name.to_string(), child, output })
    }

    /// The child's standard input, when the command piped it.
    pub fn stdin(&mut self) -> ChildStdin {
        self.child.stdin.take().expect("stdin was not piped")
    }

    /// Everything the child printed so far.
    pub fn output(&self) -> String {
        let out = self.output.0.lock().unwrap();
        let stdout = String::from_utf8_lossy(&out.streams[0]);
        let stderr = String::from_utf8_lossy(&out.streams[1]);
        format!(
            "{stdout}{}{stderr}",
            if stdout.ends_with('\n') || stdout.is_empty() { "" } else { "\n" }
        )
    }

    /// Waits until the child prints `needle` (after the previous match, on
    /// the same stream) and returns the line it is on, possibly unfinished.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        self.wait_impl(needle, timeout, false)
    }

    /// Like [`Proc::wait_for`], but returns only once the line is finished.
    pub fn wait_for_line(&self, needle: &str, timeout: Duration) -> String {
        self.wait_impl(needle, timeout, true)
    }

    fn wait_impl(&self, needle: &str, timeout: Duration, whole_line: bool) -> String {
        let deadline = Instant::now() + timeout;
        let (lock, changed) = &*self.output;
        let mut out = lock.lock().unwrap();
        loop {
            for index in 0..2 {
                let cursor = out.cursors[index];
                let haystack = &out.streams[index][cursor..];
                if let Some(pos) = find(haystack, needle.as_bytes()) {
                    let start = cursor + pos;
                    let text = &out.streams[index];
                    let line_start =
                        text[..start].iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
                    let line_end = text[start..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(text.len(), |p| start + p);
                    if whole_line && line_end == text.len() {
                        continue;
                    }
                    let line = String::from_utf8_lossy(&text[line_start..line_end]).into_owned();
                    out.cursors[index] = start + needle.len();
                    return line;
                }
            }
            let now = Instant::now();
            if now >= deadline || out.open == 0 {
                drop(out);
                panic!(
                    "{} did not print {needle:?} within {timeout:?}; output:\n{}",
                    self.name,
                    self.output()
                );
            }
            out = changed.wait_timeout(out, deadline - now).unwrap().0;
        }
    }

    /// Waits for the child to exit and returns its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Let the output threads drain the pipes.
                let (lock, changed) = &*self.output;
                let out = lock.lock().unwrap();
                let _ = changed.wait_timeout_while(out, Duration::from_secs(2), |out| out.open > 0);
                return status;
            }
            if Instant::now() >= deadline {
                panic!("{} did not exit within {timeout:?}; output:\n{}", self.name, self.output());
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the exit and asserts it was successful.
    pub fn expect_success(&mut self, timeout: Duration) {
        let status = self.wait_exit(timeout);
        assert!(status.success(), "{} failed with {status}; output:\n{}", self.name, self.output());
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether the child has exited.
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|window| window == needle)
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a game server binary with `args` plus `--host 127.0.0.1 --port 0`
/// and waits for its `listening on` line; returns the process and its port.
pub fn start_server(bin: &str, args: &[&str], envs: &[(&str, &str)]) -> (Proc, u16) {
    let mut command = Command::new(bin);
    command.args(["--host", "127.0.0.1", "--port", "0"]).args(args).stdin(Stdio::null());
    for (key, value) in envs {
        command.env(key, value);
    }
    let server = Proc::spawn("server", command);
    let line = server.wait_for_line("listening on", Duration::from_secs(10));
    let port = line
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    (server, port)
}

/// Starts a client binary in headless bot mode.
pub fn start_bot(bin: &str, port: u16, name: &str, token: &str, envs: &[(&str, &str)]) -> Proc {
    let mut command = Command::new(bin);
    command
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--name",
            name,
            "--token",
            token,
        ])
        .env("GAMESTORE_BOT", "1")
        .env_remove("DISPLAY")
        .stdin(Stdio::null());
    for (key, value) in envs {
        command.env(key, value);
    }
    Proc::spawn(name, command)
}

/// A hand-driven protocol peer for tests: raw lines, 10 s timeouts.
pub struct RawPeer {
    /// Writes lines.
    pub sender: LineSender,
    /// Reads lines.
    pub reader: LineReader,
    stream: TcpStream,
}

impl RawPeer {
    /// Connects to a server on loopback.
    pub fn connect(port: u16) -> RawPeer {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the server");
        let reader = LineReader::new(stream.try_clone().unwrap());
        reader.set_timeout(Some(Duration::from_secs(10))).unwrap();
        RawPeer { sender: LineSender::new(stream.try_clone().unwrap()).unwrap(), reader, stream }
    }

    /// Writes raw bytes, which need not be a valid line (garbage tests).
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.stream.write_all(bytes).expect("send bytes");
    }

    /// Sends one line.
    pub fn send(&self, line: &str) {
        self.sender.send(line).expect("send a line");
    }

    /// The next line, or `None` at the end of the stream.
    pub fn recv(&mut self) -> Option<String> {
        self.reader.read_line().unwrap_or_else(|e| panic!("read from the server: {e}"))
    }

    /// Reads lines until one starts with `prefix`; panics if the stream ends.
    pub fn recv_until(&mut self, prefix: &str) -> String {
        loop {
            match self.recv() {
                Some(line) if line.starts_with(prefix) => return line,
                Some(_) => continue,
                None => panic!("the server closed before sending {prefix:?}"),
            }
        }
    }

    /// Reads until the server closes the connection; returns the lines read.
    pub fn recv_to_end(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Some(line) = self.recv() {
            lines.push(line);
        }
        lines
    }
}

/// A private X display (Xvfb) for the window tests; stopped on drop.
pub struct Display {
    number: String,
    server: Proc,
}

impl Display {
    /// Starts `Xvfb` on a free display number. Fails (does not skip) when
    /// Xvfb is missing: the window tests must not pass without a display.
    pub fn start() -> Result<Display, String> {
        let mut command = Command::new("Xvfb");
        command
            .args(["-displayfd", "1", "-screen", "0", "1024x768x24", "-nolisten", "tcp"])
            .stdin(Stdio::null());
        let server = Proc::spawn_checked("Xvfb", command).map_err(|e| {
            format!(
                "cannot start Xvfb ({e}); install it: apt-get install -y xvfb imagemagick x11-utils"
            )
        })?;
        // With -displayfd 1, Xvfb prints the display number once it is ready.
        let deadline = Instant::now() + Duration::from_secs(15);
        let (lock, changed) = &*server.output;
        let mut out = lock.lock().unwrap();
        loop {
            if let Some(end) = out.streams[0].iter().position(|&b| b == b'\n') {
                let text = String::from_utf8_lossy(&out.streams[0][..end]).trim().to_string();
                drop(out);
                return match text.parse::<u32>() {
                    Ok(number) => Ok(Display { number: format!(":{number}"), server }),
                    Err(_) => Err(format!("Xvfb printed {text:?} instead of a display number")),
                };
            }
            let now = Instant::now();
            if now >= deadline || out.open == 0 {
                drop(out);
                return Err(format!("Xvfb gave no display number; output:\n{}", server.output()));
            }
            out = changed.wait_timeout(out, deadline - now).unwrap().0;
        }
    }

    /// The display name for `DISPLAY`, e.g. `:5`.
    pub fn name(&self) -> &str {
        &self.number
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        // Ask Xvfb to stop cleanly (it removes its lock file and socket);
        // the `Proc` inside kills it outright if it does not.
        let _ = Command::new("kill").args(["-TERM", &self.server.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(2);
        while !self.server.has_exited() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Finds the window titled exactly `title` on `display` (polling until
/// `timeout`) and saves a PNG of it to `path`.
pub fn screenshot(
    display: &Display,
    title: &str,
    path: &Path,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let window_id = loop {
        let output = Command::new("xwininfo")
            .args(["-display", display.name(), "-name", title])
            .output()
            .map_err(|e| format!("cannot run xwininfo ({e}); install x11-utils"))?;
        let text = String::from_utf8_lossy(&output.stdout);
        if let Some(id) = text
            .lines()
            .find_map(|l| l.split("Window id: ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
        {
            break id.to_string();
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "no window titled {title:?} on {} within {timeout:?}",
                display.name()
            ));
        }
        thread::sleep(Duration::from_millis(50));
    };
    let status = Command::new("import")
        .args(["-display", display.name(), "-window", &window_id])
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run import ({e}); install imagemagick"))?;
    if !status.status.success() {
        return Err(format!("import failed: {}", String::from_utf8_lossy(&status.stderr)));
    }
    Ok(())
}

/// How varied an image is: the standard deviation of its pixels, from 0
/// (one flat colour) to 1, measured by ImageMagick's `identify`.
pub fn image_spread(path: &Path) -> Result<f64, String> {
    let output = Command::new("identify")
        .args(["-format", "%[fx:standard_deviation]"])
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run identify ({e}); install imagemagick"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim().parse().map_err(|_| {
        format!("identify printed {text:?}: {}", String::from_utf8_lossy(&output.stderr))
    })
}

/// Screenshots the window titled `title` to `path` until `accept` likes
/// the picture or `timeout` passes. Polling is the wait here: a window's
/// first frames show whatever came before the moment the test cares about.
pub fn capture_window(
    display: &Display,
    title: &str,
    path: &Path,
    timeout: Duration,
    accept: impl Fn(&Path) -> Result<bool, String>,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let left =
            deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
        screenshot(display, title, path, left)?;
        if accept(path)? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the window never showed what the test waits for; last picture: {}",
                path.display()
            ));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// The colours (`0xRRGGBB`) of an image at the given points, read with
/// ImageMagick's `identify`.
pub fn sample_pixels(path: &Path, points: &[(u32, u32)]) -> Result<Vec<u32>, String> {
    let format: String = points.iter().map(|(x, y)| format!("%[hex:p{{{x},{y}}}]\n")).collect();
    let output = Command::new("identify")
        .args(["-format", &format])
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run identify ({e}); install imagemagick"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let colors: Vec<u32> =
        text.lines().filter_map(|hex| u32::from_str_radix(hex.trim().get(..6)?, 16).ok()).collect();
    if colors.len() != points.len() {
        return Err(format!(
            "identify printed {text:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(colors)
}

/// Where a window test keeps its screenshot: `$GAMESTORE_SCREENSHOT_DIR/<name>`
/// when that variable is set (to refresh `docs/screenshots`), else `fallback`.
pub fn screenshot_path(name: &str, fallback: &Path) -> PathBuf {
    match std::env::var_os("GAMESTORE_SCREENSHOT_DIR") {
        Some(dir) if !dir.is_empty() => {
            let _ = std::fs::create_dir_all(&dir);
            PathBuf::from(dir).join(name)
        }
        _ => fallback.join(name),
    }
}
