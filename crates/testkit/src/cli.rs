//! The client programs, run as a user would.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::child::{Output, run};
use crate::{TIMEOUT, TestLobby, bin};

/// One user of `gamestore-dev` or `gamestore-player`: a program, a lobby
/// address and a home folder.
#[derive(Debug, Clone)]
pub struct Cli {
    program: PathBuf,
    server: String,
    home: PathBuf,
    env: Vec<(String, String)>,
    /// The working directory of every run (the test's own when `None`).
    cwd: Option<PathBuf>,
    /// Variables removed from the test's environment for every run.
    removed: Vec<String>,
    /// A command the program runs under (`ip netns exec NS`).
    wrapper: Vec<String>,
}

impl Cli {
    /// `gamestore-player` with home `home`.
    pub fn player(lobby: &TestLobby, home: &Path) -> Cli {
        Cli::new("gamestore-player", &lobby.server(), home)
    }

    /// `gamestore-dev` with home `home`.
    pub fn dev(lobby: &TestLobby, home: &Path) -> Cli {
        Cli::new("gamestore-dev", &lobby.server(), home)
    }

    pub fn new(program: &str, server: &str, home: &Path) -> Cli {
        Cli {
            program: bin(program),
            server: server.to_owned(),
            home: home.to_owned(),
            env: Vec::new(),
            cwd: None,
            removed: Vec::new(),
            wrapper: Vec::new(),
        }
    }

    /// Removes an environment variable (e.g. `DISPLAY`) from every run.
    pub fn env_remove(mut self, key: &str) -> Cli {
        self.removed.push(key.to_owned());
        self
    }

    /// Runs every command in `dir`, so a relative `home` is taken from there,
    /// as a user typing `--home h/p1` in a shell would.
    pub fn current_dir(mut self, dir: &Path) -> Cli {
        self.cwd = Some(dir.to_owned());
        self
    }

    /// Runs the program under `wrapper` (say `ip netns exec NS`).
    pub fn wrapped(mut self, wrapper: &[&str]) -> Cli {
        self.wrapper = wrapper.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Adds an environment variable to every run.
    pub fn env(mut self, key: &str, value: &str) -> Cli {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The command, ready to spawn, for tests that need the process itself.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(&self.program);
                command
            }
            None => Command::new(&self.program),
        };
        command
            .args(["--server", &self.server, "--home"])
            .arg(&self.home)
            .args(args)
            .env_remove("GAMESTORE_SERVER")
            .env_remove("GAMESTORE_HOME")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        for key in &self.removed {
            command.env_remove(key);
        }
        if let Some(dir) = &self.cwd {
            command.current_dir(dir);
        }
        command
    }

    /// Runs the program with `args` and no input.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, "")
    }

    /// Runs the program with `args`, feeding `stdin`.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        run(self.command(args), stdin, TIMEOUT)
    }

    /// `register` then `login` with `password`, both must succeed.
    #[track_caller]
    pub fn sign_up(&self, user: &str, password: &str) {
        let line = format!("{password}\n");
        self.run_with_stdin(&["register", "--user", user, "--password-stdin"], &line).ok();
        self.run_with_stdin(&["login", "--user", user, "--password-stdin"], &line).ok();
    }
}

impl Cli {
    /// The session token `login` saved in this user's home.
    pub fn saved_token(&self) -> String {
        let role = if self.program.ends_with("gamestore-dev") { "developer" } else { "player" };
        let home = match &self.cwd {
            Some(dir) => dir.join(&self.home),
            None => self.home.clone(),
        };
        let path = home.join(format!("session-{role}.json"));
        let session: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("saved session")).unwrap();
        session["token"].as_str().unwrap().to_owned()
    }
}
