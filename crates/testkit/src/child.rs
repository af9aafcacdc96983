//! Child processes that cannot outlive their test.

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Kills and reaps the child when dropped.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
    name: String,
}

impl ChildGuard {
    pub fn new(child: Child, name: impl Into<String>) -> ChildGuard {
        ChildGuard { child: Some(child), name: name.into() }
    }

    pub fn id(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    pub fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("child still owned")
    }

    /// Sends a signal (e.g. `libc::SIGTERM`) to the child.
    pub fn signal(&self, signal: i32) {
        if let Some(child) = &self.child {
            // SAFETY: kill(2) on a pid we own and have not reaped.
            unsafe { libc::kill(child.id() as i32, signal) };
        }
    }

    /// Waits up to `timeout` for the child to exit; panics when it does not.
    pub fn wait_timeout(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let child = self.child_mut();
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                panic!("{} did not exit within {timeout:?}", self.name);
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills the child with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a finished command printed and how it exited.
#[derive(Debug, Clone)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Panics with the command's output unless it succeeded.
    #[track_caller]
    pub fn ok(&self) -> &Output {
        assert!(self.success(), "command failed: {self}");
        self
    }

    /// Panics unless the command failed with one `error:` line naming `code`.
    #[track_caller]
    pub fn fails_with(&self, code: &str) -> &Output {
        assert!(!self.success(), "command succeeded but should fail with {code}: {self}");
        let line = self.stderr.trim();
        assert!(line.starts_with("error: "), "stderr is not one `error:` line: {self}");
        assert!(!line.contains('\n'), "stderr is more than one line: {self}");
        assert!(line.contains(code), "error does not name {code}: {self}");
        self
    }

    /// Stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self}"))
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\n--- stdout ---\n{}--- stderr ---\n{}", self.status, self.stdout, self.stderr)
    }
}

/// Runs `command` to completion with no input, killing it after `timeout`.
pub fn run_command(command: Command, timeout: Duration) -> Output {
    run(command, "", timeout)
}

/// Runs `command` to completion with `stdin`, killing it after `timeout`.
pub fn run(mut command: Command, stdin: &str, timeout: Duration) -> Output {
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let name = format!("{command:?}");
    let child = command.spawn().unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
    let mut guard = ChildGuard::new(child, name);
    let child = guard.child_mut();
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_owned();
    let writer = thread::spawn(move || {
        let _ = input.write_all(stdin.as_bytes());
    });
    let stdout = reader(child.stdout.take().unwrap());
    let stderr = reader(child.stderr.take().unwrap());
    let status = guard.wait_timeout(timeout);
    let _ = writer.join();
    Output { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }
}

fn reader(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}
