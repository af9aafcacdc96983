//! `gamestore-bench`: measures the Game Store as its users feel it, against
//! the real `gamestore-lobby` on loopback, and reports ratios to references
//! measured in the same run (docs/BENCHMARKS.md).
//!
//! Scenarios, one module each: [`transfer`] (publish, download and install a
//! large package against a raw loopback copy; then a one-file delta update),
//! [`swarm`] (thousands of idle clients in worker processes, then a request
//! mix at a fixed rate), [`fanout`] (one lobby chat message to many
//! members) and [`match_start`] (host start until every game client is
//! connected, against the game server's own start-up). Each scenario gets a
//! fresh lobby process with a temporary data folder ([`lobby`]), or the lobby
//! at `--server`. Every wait is bounded and every child process is killed
//! when the bench ends.

pub mod accounts;
pub mod fanout;
pub mod generated_game;
pub mod lobby;
pub mod match_start;
pub mod raw_copy;
pub mod report;
pub mod stats;
pub mod swarm;
pub mod transfer;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::fanout::FanoutOptions;
use crate::lobby::{LobbyLaunch, Server};
use crate::match_start::MatchOptions;
use crate::report::{Failure, Machine, Report, Row, Target};
use crate::swarm::ClientsOptions;
use crate::transfer::TransferOptions;

const MIB: f64 = 1024.0 * 1024.0;

/// The scenarios, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Publish, download and install a large package.
    Transfer,
    /// Update that package after one file changed.
    Delta,
    /// Many idle clients, then a request mix.
    Clients,
    /// One lobby chat message to many members.
    Fanout,
    /// Host start until every game client is connected.
    Match,
}

impl Scenario {
    pub const ALL: [Scenario; 5] =
        [Scenario::Transfer, Scenario::Delta, Scenario::Clients, Scenario::Fanout, Scenario::Match];
}

/// Everything a run needs.
#[derive(Debug, Clone, Serialize)]
pub struct Options {
    pub scenarios: Vec<Scenario>,
    /// A running lobby to measure instead of starting one per scenario.
    pub server: Option<String>,
    /// The lobby program to start (default: next to the bench).
    pub lobby: Option<PathBuf>,
    /// Extra flags for started lobbies.
    pub lobby_args: Vec<String>,
    pub game_ports: String,
    pub transfer: TransferOptions,
    pub clients: ClientsOptions,
    pub fanout: FanoutOptions,
    pub match_players: usize,
    pub match_repeats: usize,
    /// The packaged `test` game; built with scripts/package-games when absent.
    pub test_game: Option<PathBuf>,
    pub quick: bool,
}

/// Prints a progress line on stderr (stdout carries the results).
pub fn progress(message: &str) {
    eprintln!("bench: {message}");
}

/// Runs the selected scenarios and gathers their results. A scenario that
/// fails is recorded in [`Report::failures`] and the others still run.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let tag = accounts::run_tag();
    let work = tempfile::Builder::new().prefix("gamestore-bench-").tempdir()?;
    let launch = match &options.server {
        Some(_) => None,
        None => Some(LobbyLaunch {
            exe: match &options.lobby {
                Some(path) => path.clone(),
                None => lobby::default_lobby_exe()?,
            },
            game_ports: options.game_ports.clone(),
            extra_args: options.lobby_args.clone(),
        }),
    };
    let new_server = || -> anyhow::Result<Server> {
        match (&options.server, &launch) {
            (Some(addr), _) => Ok(Server::external(addr)),
            (None, Some(launch)) => Server::start(launch),
            (None, None) => unreachable!("a launch is set up whenever no server is given"),
        }
    };
    let wants = |s: Scenario| options.scenarios.contains(&s);
    let mut report = Report {
        machine: Machine::detect(),
        settings: serde_json::to_value(options)?,
        rows: Vec::new(),
        scenarios: serde_json::Map::new(),
        failures: Vec::new(),
    };
    let record = |report: &mut Report, name: &str, server: Option<&Server>, e: anyhow::Error| {
        let mut error = format!("{e:#}");
        if let Some(server) = server {
            let log = server.log_tail();
            if !log.is_empty() {
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                error.push_str("\nlobby log (last lines):\n");
                error.push_str(&tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            }
        }
        progress(&format!("{name} failed: {error}"));
        report.failures.push(Failure { scenario: name.to_owned(), error });
    };

    if wants(Scenario::Transfer) || wants(Scenario::Delta) {
        let dir = work.path().join("transfer");
        std::fs::create_dir_all(&dir)?;
        match new_server() {
            Ok(server) => {
                match transfer::run(&server, &tag, &options.transfer, &dir, wants(Scenario::Delta))
                    .await
                {
                    Ok(results) => {
                        if let Some(t) = results.transfer.filter(|_| wants(Scenario::Transfer)) {
                            transfer_rows(&mut report.rows, &t);
                            report.scenarios.insert("transfer".into(), serde_json::to_value(&t)?);
                        }
                        if let Some(d) = results.delta {
                            delta_rows(&mut report.rows, &d);
                            report.scenarios.insert("delta".into(), serde_json::to_value(&d)?);
                        }
                    }
                    Err(e) => record(&mut report, "transfer", Some(&server), e),
                }
            }
            Err(e) => record(&mut report, "transfer", None, e),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    if wants(Scenario::Clients) {
        let dir = work.path().join("clients");
        std::fs::create_dir_all(&dir)?;
        match new_server() {
            Ok(server) => match swarm::run(&server, &tag, &options.clients, &dir).await {
                Ok(result) => {
                    clients_rows(&mut report.rows, &result);
                    report.scenarios.insert("clients".into(), serde_json::to_value(&result)?);
                    if let Err(e) = swarm::check(&result) {
                        record(&mut report, "clients", Some(&server), e);
                    }
                }
                Err(e) => record(&mut report, "clients", Some(&server), e),
            },
            Err(e) => record(&mut report, "clients", None, e),
        }
    }

    if wants(Scenario::Fanout) {
        match new_server() {
            Ok(server) => match fanout::run(&server, &tag, &options.fanout).await {
                Ok(result) => {
                    fanout_rows(&mut report.rows, &result);
                    report.scenarios.insert("fanout".into(), serde_json::to_value(&result)?);
                }
                Err(e) => record(&mut report, "fanout", Some(&server), e),
            },
            Err(e) => record(&mut report, "fanout", None, e),
        }
    }

    if wants(Scenario::Match) {
        let dir = work.path().join("match");
        std::fs::create_dir_all(&dir)?;
        let outcome = async {
            let test_game = match &options.test_game {
                Some(dir) => dir.clone(),
                None => package_test_game(work.path())?,
            };
            let server = new_server()?;
            let match_options = MatchOptions {
                players: options.match_players,
                repeats: options.match_repeats,
                test_game,
            };
            let result = match_start::run(&server, &tag, &match_options, &dir).await;
            Ok::<_, anyhow::Error>((server, result))
        }
        .await;
        match outcome {
            Ok((_, Ok(result))) => {
                match_rows(&mut report.rows, &result);
                report.scenarios.insert("match".into(), serde_json::to_value(&result)?);
            }
            Ok((server, Err(e))) => record(&mut report, "match", Some(&server), e),
            Err(e) => record(&mut report, "match", None, e),
        }
    }
    Ok(report)
}

/// Builds the sample `test` game with scripts/package-games into `work`.
fn package_test_game(work: &Path) -> anyhow::Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = root.join("scripts/package-games");
    if !script.is_file() {
        bail!(
            "no packaged test game: pass --test-game DIR (scripts/package-games OUT test makes OUT/test)"
        );
    }
    progress("match: packaging the test game (scripts/package-games)");
    let out = work.join("packages");
    let status = std::process::Command::new(&script)
        .arg(&out)
        .arg("test")
        .env("CARGO_TARGET_DIR", root.join("games/target"))
        .stdout(std::process::Stdio::null())
        .status()
        .with_context(|| format!("cannot run {}", script.display()))?;
    if !status.success() {
        bail!("{} failed ({status})", script.display());
    }
    Ok(out.join("test"))
}

fn transfer_rows(rows: &mut Vec<Row>, t: &transfer::TransferResult) {
    let s = "transfer";
    let raw = |row: Row| row.reference("loopback copy, best", t.raw_mb_s);
    let size = format!("{:.0} MB zip, {} files", t.zip_bytes as f64 / 1e6, t.files);
    rows.push(raw(Row::new(s, format!("upload ({size})"), t.upload_mb_s, "MB/s")));
    rows.push(raw(Row::new(s, "publish (upload + unpack + verify)", t.publish_mb_s, "MB/s")));
    rows.push(
        raw(Row::new(
            s,
            format!("download (best of {})", t.download_runs_mb_s.len()),
            t.download_mb_s,
            "MB/s",
        ))
        .target(Target::RatioAtLeast(0.7)),
    );
    rows.push(raw(Row::new(s, "install (download + verify + unpack)", t.install_mb_s, "MB/s")));
}

fn delta_rows(rows: &mut Vec<Row>, d: &transfer::DeltaResult) {
    let s = "delta";
    let moved = d.bytes_transferred as f64 / MIB;
    rows.push(
        Row::new(s, format!("update moved ({})", d.method), moved, "MiB")
            .reference("changed file", d.changed_bytes as f64 / MIB)
            .target(Target::RatioAtMost(1.5)),
    );
    rows.push(
        Row::new(s, "update moved, vs whole package", moved, "MiB")
            .reference("package zip", d.zip_bytes as f64 / MIB),
    );
    rows.push(Row::new(s, "update time", d.update_secs, "s"));
}

fn clients_rows(rows: &mut Vec<Row>, c: &swarm::ClientsResult) {
    let s = "clients";
    rows.push(Row::new(
        s,
        format!("idle clients logged in ({} workers)", c.workers),
        c.logged_in as f64,
        "clients",
    ));
    if let Some(rss) = c.rss_idle_mib {
        rows.push(Row::new(s, "lobby RSS, all idle", rss, "MiB").target(Target::Below(1024.0)));
    }
    if let Some(per) = c.rss_per_client_kib {
        rows.push(Row::new(s, "lobby RSS per client", per, "KiB"));
    }
    rows.push(Row::new(s, "connect + HELLO, all clients", c.connect_secs, "s"));
    rows.push(Row::new(s, "login, all clients", c.login_secs, "s"));
    let mix = format!("{} req/s from {}", c.load_rate, c.load_clients);
    rows.push(
        Row::new(s, format!("request p50 ({mix})"), c.requests_ms.p50, "ms")
            .target(Target::Below(0.5)),
    );
    rows.push(Row::new(s, "request p99", c.requests_ms.p99, "ms").target(Target::Below(5.0)));
    rows.push(Row::new(s, "request max", c.requests_ms.max, "ms"));
    rows.push(Row::new(s, "request p50, one client, one at a time", c.sequential_ms.p50, "ms"));
}

fn fanout_rows(rows: &mut Vec<Row>, f: &fanout::FanoutResult) {
    let s = "fanout";
    let what = format!("lobby chat to {} members, last one", f.members);
    rows.push(Row::new(s, format!("{what}, p50"), f.last_member_ms.p50, "ms"));
    rows.push(
        Row::new(s, format!("{what}, p99"), f.last_member_ms.p99, "ms").target(Target::Below(50.0)),
    );
}

fn match_rows(rows: &mut Vec<Row>, m: &match_start::MatchResult) {
    let s = "match";
    let startup = m.server_startup_ms.p50;
    let reference = |row: Row| row.reference("game server start-up p50", startup);
    rows.push(Row::new(s, "game server start-up alone, p50", startup, "ms"));
    if let Some(boxed) = &m.server_startup_sandboxed_ms {
        rows.push(Row::new(s, "game server start-up in the lobby's sandbox, p50", boxed.p50, "ms"));
        rows.push(
            Row::new(s, "sandbox cost at game server start-up, p50", boxed.p50 - startup, "ms")
                .target(Target::Below(20.0)),
        );
    }
    let client = m.client_connect_ms.p50;
    rows.push(Row::new(s, "game client spawn -> connected, unsandboxed, p50", client, "ms"));
    if let Some(boxed) = &m.client_connect_sandboxed_ms {
        rows.push(Row::new(s, "game client spawn -> connected, sandboxed, p50", boxed.p50, "ms"));
        rows.push(
            Row::new(s, "sandbox cost at game client start-up, p50", boxed.p50 - client, "ms")
                .target(Target::Below(20.0)),
        );
    }
    let players = m.players;
    rows.push(Row::new(
        s,
        format!("start -> GAME_START at all {players}, p50"),
        m.game_start_all_ms.p50,
        "ms",
    ));
    rows.push(
        reference(Row::new(
            s,
            format!("start -> all {players} clients connected, p50"),
            m.connected_all_ms.p50,
            "ms",
        ))
        .target(Target::BelowPlusReference(50.0)),
    );
    rows.push(
        reference(Row::new(s, "start -> all clients connected, p99", m.connected_all_ms.p99, "ms"))
            .target(Target::BelowPlusReference(50.0)),
    );
}
