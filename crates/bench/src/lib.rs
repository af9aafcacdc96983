//! `gamestore-bench`: measures the Game Store as its users feel it, against
//! the real `gamestore-lobby` on loopback, and reports ratios to references
//! measured in the same run (docs/BENCHMARKS.md).
//!
//! Scenarios, one module each: [`transfer`] (publish, download and install a
//! large package against a raw loopback copy; then a one-file delta update),
//! [`swarm`] (thousands of idle clients in worker processes, then a request
//! mix at a fixed rate), [`fanout`] (one lobby chat message to many
//! members) and [`match_start`] (host start until every game client is
//! connected, against the game server's own start-up) and [`store_list`]
//! (the store list's p50 as the catalog grows). Each scenario gets a
//! fresh lobby process with a temporary data folder ([`lobby`]), or the lobby
//! at `--server`. Every wait is bounded and every child process is killed
//! when the bench ends.

pub mod accounts;
pub mod distribution;
pub mod fanout;
pub mod generated_game;
pub mod lobby;
pub mod login_flood;
pub mod match_start;
pub mod nodes;
pub mod raw_copy;
pub mod report;
pub mod stats;
pub mod store_list;
pub mod swarm;
pub mod transfer;
pub mod web;

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
    /// Block updates, shared files, a cut and resumed install, memory with
    /// concurrent installs.
    Distribution,
    /// Many idle clients, then a request mix.
    Clients,
    /// One lobby chat message to many members.
    Fanout,
    /// Host start until every game client is connected.
    Match,
    /// A 64-connection wrong-password flood: lobby memory, guesses checked,
    /// a bystander's login.
    Flood,
    /// TLS against plain TCP, `/metrics` under load, the website's catalog.
    Web,
    /// The store list with 10, 1,000 and 10,000 games.
    Store,
    /// Idle clients, a request mix and chat fan-out over several lobby
    /// nodes (PostgreSQL and NATS), against one node; only when named.
    Nodes,
}

impl Scenario {
    pub const ALL: [Scenario; 9] = [
        Scenario::Transfer,
        Scenario::Delta,
        Scenario::Distribution,
        Scenario::Clients,
        Scenario::Fanout,
        Scenario::Match,
        Scenario::Flood,
        Scenario::Web,
        Scenario::Store,
    ];
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
    pub distribution: distribution::DistributionOptions,
    pub clients: ClientsOptions,
    pub fanout: FanoutOptions,
    pub match_players: usize,
    pub match_repeats: usize,
    pub flood: login_flood::FloodOptions,
    pub web: web::WebOptions,
    pub store: store_list::StoreListOptions,
    pub nodes: nodes::NodesOptions,
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
            deployed_password_cost: false,
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

    if wants(Scenario::Distribution) {
        let dir = work.path().join("distribution");
        std::fs::create_dir_all(&dir)?;
        match new_server() {
            Ok(server) => match distribution::run(&server, &tag, &options.distribution, &dir).await
            {
                Ok(result) => {
                    distribution_rows(&mut report.rows, &result);
                    report.scenarios.insert("distribution".into(), serde_json::to_value(&result)?);
                }
                Err(e) => record(&mut report, "distribution", Some(&server), e),
            },
            Err(e) => record(&mut report, "distribution", None, e),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    if wants(Scenario::Clients) {
        let dir = work.path().join("clients");
        std::fs::create_dir_all(&dir)?;
        match new_server() {
            Ok(server) => {
                match swarm::run(std::slice::from_ref(&server), &tag, &options.clients, &dir).await
                {
                    Ok(result) => {
                        clients_rows(&mut report.rows, &result);
                        report.scenarios.insert("clients".into(), serde_json::to_value(&result)?);
                        if let Err(e) = swarm::check(&result) {
                            record(&mut report, "clients", Some(&server), e);
                        }
                    }
                    Err(e) => record(&mut report, "clients", Some(&server), e),
                }
            }
            Err(e) => record(&mut report, "clients", None, e),
        }
    }

    if wants(Scenario::Fanout) {
        match new_server() {
            Ok(server) => {
                match fanout::run(std::slice::from_ref(&server), &tag, &options.fanout).await {
                    Ok(result) => {
                        fanout_rows(&mut report.rows, &result);
                        report.scenarios.insert("fanout".into(), serde_json::to_value(&result)?);
                    }
                    Err(e) => record(&mut report, "fanout", Some(&server), e),
                }
            }
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
    if wants(Scenario::Flood) {
        let server = match (&options.server, &launch) {
            (Some(addr), _) => Ok(Server::external(addr)),
            (None, Some(launch)) => {
                Server::start(&LobbyLaunch { deployed_password_cost: true, ..launch.clone() })
            }
            (None, None) => unreachable!("a launch is set up whenever no server is given"),
        };
        match server {
            Ok(server) => match login_flood::run(&server, &tag, &options.flood).await {
                Ok(result) => {
                    flood_rows(&mut report.rows, &result);
                    report.scenarios.insert("flood".into(), serde_json::to_value(&result)?);
                }
                Err(e) => record(&mut report, "flood", Some(&server), e),
            },
            Err(e) => record(&mut report, "flood", None, e),
        }
    }
    if wants(Scenario::Web) {
        let dir = work.path().join("web");
        std::fs::create_dir_all(&dir)?;
        match new_server() {
            Ok(server) => match web::run(&server, &tag, &options.web, &dir).await {
                Ok(result) => {
                    web_rows(&mut report.rows, &result);
                    report.scenarios.insert("web".into(), serde_json::to_value(&result)?);
                }
                Err(e) => record(&mut report, "web", Some(&server), e),
            },
            Err(e) => record(&mut report, "web", None, e),
        }
    }

    if wants(Scenario::Store) {
        match &launch {
            Some(launch) => match store_list::run(launch, &tag, &options.store).await {
                Ok(result) => {
                    store_rows(&mut report.rows, &result);
                    report.scenarios.insert("store".into(), serde_json::to_value(&result)?);
                }
                Err(e) => record(&mut report, "store", None, e),
            },
            None => record(
                &mut report,
                "store",
                None,
                anyhow::anyhow!("the store scenario seeds its own lobbies; it cannot use --server"),
            ),
        }
    }
    if wants(Scenario::Nodes) {
        let dir = work.path().join("nodes");
        std::fs::create_dir_all(&dir)?;
        let outcome = match &launch {
            Some(launch) => {
                nodes::run(launch, &tag, &options.nodes, &options.clients, &options.fanout, &dir)
                    .await
            }
            None => Err(anyhow::anyhow!("the nodes scenario starts its own nodes; not --server")),
        };
        match outcome {
            Ok(result) => {
                nodes_rows(&mut report.rows, &result);
                report.scenarios.insert("nodes".into(), serde_json::to_value(&result)?);
            }
            Err(e) => record(&mut report, "nodes", None, e),
        }
    }
    Ok(report)
}

/// The several-node figures beside one node's, on the same database and
/// NATS server in the same run.
fn nodes_rows(rows: &mut Vec<Row>, n: &nodes::NodesResult) {
    let s = "nodes";
    let (one, many) = (&n.single, &n.several);
    let shape = format!("{} nodes", many.nodes);
    rows.push(Row::new(
        s,
        format!("idle clients logged in over {shape} ({} workers)", many.clients.workers),
        many.clients.logged_in as f64,
        "clients",
    ));
    if let Some(rss) =
        many.node_rss_mib.iter().copied().try_fold(0.0f64, |max, r| Some(max.max(r?)))
    {
        rows.push(Row::new(s, format!("largest node RSS, all idle ({shape})"), rss, "MiB"));
    }
    if let (Some(a), Some(b)) = (many.clients.rss_idle_mib, one.clients.rss_idle_mib) {
        rows.push(
            Row::new(s, format!("RSS of all nodes, all idle ({shape})"), a, "MiB")
                .reference("one node", b),
        );
    }
    let mix = format!("{} req/s", many.clients.load_rate);
    let chat = format!("lobby chat to {} members over {shape}, last one", many.fanout.members);
    let figures = [
        (format!("request ({mix}, {shape})"), &many.clients.requests_ms, &one.clients.requests_ms),
        (chat, &many.fanout.last_member_ms, &one.fanout.last_member_ms),
    ];
    for (what, many, one) in figures {
        for (p, value, reference) in [("p50", many.p50, one.p50), ("p99", many.p99, one.p99)] {
            rows.push(
                Row::new(s, format!("{what}, {p}"), value, "ms").reference("one node", reference),
            );
        }
    }
}

fn flood_rows(rows: &mut Vec<Row>, f: &login_flood::FloodResult) {
    let s = "flood";
    let what = format!("{} connections, {:.0} s", f.connections, f.secs);
    if let (Some(before), Some(peak)) = (f.rss_before_mib, f.rss_peak_mib) {
        rows.push(Row::new(s, "lobby RSS before the flood", before, "MiB"));
        rows.push(
            Row::new(s, format!("lobby RSS peak, wrong-password flood ({what})"), peak, "MiB")
                .reference("before", before)
                .target(Target::Below(256.0)),
        );
    }
    if let Some(after) = f.rss_after_mib {
        rows.push(Row::new(s, "lobby RSS after the flood", after, "MiB"));
    }
    rows.push(
        Row::new(
            s,
            "guesses checked at the account (10 a minute allowed)",
            f.checked as f64,
            "guesses",
        )
        .target(Target::Below(10.5)),
    );
    rows.push(Row::new(s, "guesses refused unchecked (RATE_LIMITED)", f.refused as f64, "guesses"));
    rows.push(
        Row::new(
            s,
            "another account's login during the flood, p50",
            f.bystander_login_ms.p50,
            "ms",
        )
        .target(Target::Below(1000.0)),
    );
    rows.push(
        Row::new(
            s,
            "another account's login during the flood, max",
            f.bystander_login_ms.max,
            "ms",
        )
        .target(Target::Below(1000.0)),
    );
}

fn web_rows(rows: &mut Vec<Row>, w: &web::WebResult) {
    let s = "web";
    let mix = format!("{} clients back to back", w.clients);
    rows.push(Row::new(s, format!("request p50, plain TCP ({mix})"), w.plain_ms.p50, "ms"));
    rows.push(
        Row::new(s, format!("request p50, TLS ({mix})"), w.tls_ms.p50, "ms")
            .reference("plain TCP p50", w.plain_ms.p50)
            .target(Target::RatioAtMost(1.2)),
    );
    rows.push(Row::new(s, "requests per second, plain TCP", w.plain_per_sec, "req/s"));
    rows.push(
        Row::new(s, "requests per second, TLS", w.tls_per_sec, "req/s")
            .reference("plain TCP", w.plain_per_sec)
            .target(Target::RatioAtLeast(0.8)),
    );
    rows.push(
        Row::new(s, "connect + HELLO over TLS, p50", w.tls_connect_ms.p50, "ms")
            .reference("plain TCP", w.plain_connect_ms.p50),
    );
    rows.push(Row::new(s, "/metrics under the request load, p50", w.metrics_ms.p50, "ms"));
    rows.push(Row::new(s, "/metrics under the request load, max", w.metrics_ms.max, "ms"));
    let games = w.catalog_games;
    rows.push(
        Row::new(
            s,
            format!("catalog first page, {games} games, p50"),
            w.catalog_first_page_ms.p50,
            "ms",
        )
        .target(Target::Below(50.0)),
    );
    rows.push(Row::new(s, "catalog last page, p50", w.catalog_last_page_ms.p50, "ms"));
    rows.push(Row::new(
        s,
        "catalog search sorted by rating, p50",
        w.catalog_search_by_rating_ms.p50,
        "ms",
    ));
    rows.push(Row::new(s, "game page, p50", w.game_page_ms.p50, "ms"));
    rows.push(Row::new(s, "JSON catalog, newest first, p50", w.api_newest_ms.p50, "ms"));
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
    let durable = |row: Row| row.reference("durable write of the files", t.durable_write_mb_s);
    let size = format!("{:.0} MB, {} files", t.data_bytes as f64 / 1e6, t.files);
    rows.push(
        durable(Row::new(
            s,
            format!("publish, chunking included ({size})"),
            t.publish_mb_s,
            "MB/s",
        ))
        .target(Target::RatioAtLeast(0.7)),
    );
    let p = &t.publish_phases;
    for (phase, secs) in [
        ("manifest (chunk, hash, sign)", p.manifest_secs),
        ("PUBLISH_BEGIN", p.begin_secs),
        ("chunk upload", p.upload_secs),
        ("PUBLISH_DONE (complete, sync, commit)", p.done_secs),
    ] {
        rows.push(Row::new(s, format!("publish: {phase}"), secs * 1000.0, "ms"));
    }
    rows.push(
        raw(Row::new(
            s,
            format!("download (best of {})", t.download_runs_mb_s.len()),
            t.download_mb_s,
            "MB/s",
        ))
        .target(Target::RatioAtLeast(0.7)),
    );
    // What hashing every byte leaves of a loopback copy on this machine,
    // and the download against that.
    rows.push(raw(Row::new(
        s,
        format!("loopback copy, receiver hashing (best of {})", t.verified_runs_mb_s.len()),
        t.verified_mb_s,
        "MB/s",
    )));
    rows.push(
        Row::new(s, "download, vs that hashing copy", t.download_mb_s, "MB/s")
            .reference("loopback copy, receiver hashing, best", t.verified_mb_s),
    );
    rows.push(
        durable(Row::new(s, "install (fetch + verify + write + sync)", t.install_mb_s, "MB/s"))
            .target(Target::RatioAtLeast(0.7)),
    );
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
        Row::new(s, "publish sent", d.publish_sent_bytes as f64 / MIB, "MiB")
            .reference("changed file", d.changed_bytes as f64 / MIB)
            .target(Target::RatioAtMost(1.5)),
    );
    rows.push(
        Row::new(s, "update moved, vs whole package", moved, "MiB")
            .reference("package", d.data_bytes as f64 / MIB),
    );
    rows.push(Row::new(s, "update time", d.update_secs, "s"));
}

fn distribution_rows(rows: &mut Vec<Row>, d: &distribution::DistributionResult) {
    let s = "distribution";
    let change = d.change_bytes as f64 / MIB;
    let big = format!("{:.0} MiB file", d.big_file_bytes as f64 / MIB);
    rows.push(
        Row::new(
            s,
            format!("publish sent, {change:.0} MiB changed in a {big}"),
            d.block_publish_sent_bytes as f64 / MIB,
            "MiB",
        )
        .target(Target::Below(2.0 + 1e-9)),
    );
    rows.push(
        Row::new(
            s,
            format!("update moved, {change:.0} MiB changed in a {big}"),
            d.block_update_bytes as f64 / MIB,
            "MiB",
        )
        .target(Target::Below(2.0 + 1e-9)),
    );
    rows.push(
        Row::new(
            s,
            format!("second game sharing {:.0}% of its bytes: uploaded", d.shared_fraction * 100.0),
            d.shared_publish_sent_bytes as f64 / MIB,
            "MiB",
        )
        .reference("its bytes", d.shared_game_bytes as f64 / MIB)
        .target(Target::RatioAtMost(0.15)),
    );
    rows.push(
        Row::new(
            s,
            "install cut at 50% and resumed: moved in total",
            (d.resume_cut_bytes + d.resume_retry_bytes) as f64 / MIB,
            "MiB",
        )
        .reference("package", d.resume_package_bytes as f64 / MIB)
        .target(Target::RatioAtMost(1.55)),
    );
    if let Some(peak) = d.rss_peak_mib {
        rows.push(Row::new(
            s,
            format!("lobby RSS, peak during {} concurrent installs", d.installs),
            peak,
            "MiB",
        ));
    }
    if let Some(before) = d.rss_before_mib {
        rows.push(Row::new(s, "lobby RSS before them", before, "MiB"));
    }
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
    if let Some(m) = &c.metrics_under_load_ms {
        rows.push(Row::new(s, "/metrics during the load, p50", m.p50, "ms"));
        rows.push(Row::new(s, "/metrics during the load, max", m.max, "ms"));
    }
}

fn fanout_rows(rows: &mut Vec<Row>, f: &fanout::FanoutResult) {
    let s = "fanout";
    let what = format!("lobby chat to {} members, last one", f.members);
    rows.push(Row::new(s, format!("{what}, p50"), f.last_member_ms.p50, "ms"));
    rows.push(
        Row::new(s, format!("{what}, p99"), f.last_member_ms.p99, "ms").target(Target::Below(50.0)),
    );
}

fn store_rows(rows: &mut Vec<Row>, s: &store_list::StoreListResult) {
    let scenario = "store";
    let Some(base) = s.sizes.first() else {
        return;
    };
    let base_p50 = base.request_ms.p50;
    let reference = format!("{}-game p50", base.games);
    for size in &s.sizes {
        let what = format!("STORE_LIST first page, {} games, p50", size.games);
        let mut row = Row::new(scenario, what, size.request_ms.p50, "ms");
        if size.games != base.games {
            row = row.reference(&reference, base_p50).target(Target::RatioAtMost(1.5));
        }
        rows.push(row);
    }
    let base_ten = base.ten_ms.p50;
    for size in s.sizes.iter().filter(|size| size.games != base.games) {
        let what = format!("STORE_LIST page of 10, {} games, p50", size.games);
        let reference = format!("{}-game p50", base.games);
        rows.push(
            Row::new(scenario, what, size.ten_ms.p50, "ms")
                .reference(reference, base_ten)
                .target(Target::RatioAtMost(1.5)),
        );
    }
    if let Some(largest) = s.sizes.iter().max_by_key(|s| s.games) {
        let what = format!("STORE_LIST first page, {} games, p50 (absolute)", largest.games);
        rows.push(
            Row::new(scenario, what, largest.request_ms.p50, "ms").target(Target::Below(0.5)),
        );
        let what =
            format!("first STORE_LIST after start, {} games (builds the catalog)", largest.games);
        rows.push(Row::new(scenario, what, largest.first_ms, "ms"));
    }
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
