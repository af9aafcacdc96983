//! Scenario 3: many idle clients, then requests under that load.
//!
//! A process may hold at most a few tens of thousands of open files, so the
//! clients live in several worker processes: the bench runs itself again as
//! hidden `swarm` workers, each holding a share of the connections (real
//! [`LobbyClient`]s, each with its keepalive). The parent drives every
//! worker through the same phases with one JSON line per command on the
//! worker's stdin and one JSON line per reply on its stdout:
//!
//! 1. `connect`: TCP connect and HELLO; 2. `register`; 3. `login`;
//! 4. `rooms`: some players open rooms, so ROOM_LIST has something to list;
//! 5. `load`: a subset sends STORE_LIST, ROOM_LIST and GAME_INFO in turn at
//!    a fixed rate, each timed from sending to its reply; 6. `quit`.
//!
//! Between phases the parent reads the lobby's resident memory from
//! `/proc/<pid>/status`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use gamestore_client::LobbyClient;
use gamestore_client::transfer::upload_package;
use gamestore_package::{pack_dir, sha256_file};
use gamestore_protocol::{GameInfo, GameUpload, Login, Register, RoomCreate, RoomList, StoreList};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::accounts::{PASSWORD, connect, new_developer, new_player};
use crate::generated_game::{GameSpec, generate};
use crate::lobby::Server;
use crate::stats::{Summary, ms};

/// Longest a worker may take for one phase.
const PHASE_TIMEOUT: Duration = Duration::from_secs(900);
/// Connections a worker opens at once.
const CONNECT_PARALLEL: usize = 128;
/// Requests a worker has in flight at once while setting up.
const SETUP_PARALLEL: usize = 64;
/// Requests in the one-client-at-a-time measurement.
const SEQUENTIAL_REQUESTS: usize = 300;
/// Wait after the last login before reading the lobby's memory, so that
/// buffers freed by the login burst are counted as freed.
const SETTLE: Duration = Duration::from_secs(2);

/// Sizes for the many-clients scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ClientsOptions {
    /// Idle logged-in player connections.
    pub clients: usize,
    /// Most connections one worker process holds.
    pub per_worker: usize,
    /// Clients that send requests during the load phase.
    pub load_clients: usize,
    /// Requests per second, all load clients together.
    pub load_rate: f64,
    pub load_secs: f64,
    /// Rooms opened before the load (ROOM_LIST lists them).
    pub rooms: usize,
    /// Small games published before the load (STORE_LIST lists them).
    pub store_games: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClientsResult {
    pub clients: usize,
    pub workers: usize,
    pub connected: usize,
    pub logged_in: usize,
    pub failures: usize,
    pub first_error: Option<String>,
    /// Wall time for every client to connect and say HELLO.
    pub connect_secs: f64,
    /// Per client, from connecting to the HELLO reply.
    pub connect_ms: Summary,
    pub register_secs: f64,
    pub login_secs: f64,
    /// Per client, LOGIN sent to its reply.
    pub login_ms: Summary,
    /// Lobby VmRSS before any client, with all idle, and after the load.
    pub rss_empty_mib: Option<f64>,
    pub rss_idle_mib: Option<f64>,
    pub rss_after_load_mib: Option<f64>,
    pub rss_peak_mib: Option<f64>,
    /// (idle − empty) / clients.
    pub rss_per_client_kib: Option<f64>,
    pub load_clients: usize,
    pub load_rate: f64,
    /// Requests answered per second during the load.
    pub load_achieved_rate: f64,
    pub load_errors: usize,
    pub requests_ms: Summary,
    pub requests_by_type_ms: BTreeMap<String, Summary>,
    /// The same mix from one client, one request at a time (the idle
    /// clients connected, no other requests).
    pub sequential_ms: Summary,
    pub sequential_by_type_ms: BTreeMap<String, Summary>,
    /// `/metrics` fetched every 100 ms during the load, with every client
    /// connected; `None` without the lobby's website.
    pub metrics_under_load_ms: Option<Summary>,
}

/// `read` summed over every node; `None` when any is unknown.
fn total_kib(servers: &[Server], read: fn(&Server) -> Option<u64>) -> Option<u64> {
    servers.iter().map(read).sum()
}

/// One command to a worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
enum Command {
    Connect,
    Register,
    Login,
    /// The first `count` logged-in clients each open a room.
    Rooms {
        count: usize,
        games: Vec<String>,
    },
    /// The first `clients` logged-in clients send `rate` requests per second
    /// between them for `secs` seconds.
    Load {
        clients: usize,
        rate: f64,
        secs: f64,
        games: Vec<String>,
    },
    Quit,
}

/// A worker's answer to one command.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Reply {
    ok: usize,
    failed: usize,
    first_error: Option<String>,
    /// Per operation, in milliseconds, by request type.
    samples: BTreeMap<String, Vec<f64>>,
}

impl Reply {
    fn merge(&mut self, other: Reply) {
        self.ok += other.ok;
        self.failed += other.failed;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        for (kind, samples) in other.samples {
            self.samples.entry(kind).or_default().extend(samples);
        }
    }

    fn all_samples(&self) -> Vec<f64> {
        self.samples.values().flatten().copied().collect()
    }
}

/// Runs the scenario against `servers`: one lobby, or several nodes of one
/// lobby, with the worker processes spread over them in turn. Memory is
/// the sum over the nodes.
pub async fn run(
    servers: &[Server],
    tag: &str,
    options: &ClientsOptions,
    work: &Path,
) -> anyhow::Result<ClientsResult> {
    let server = servers.first().context("no lobby to measure")?;
    let games = publish_store(server, tag, options.store_games.max(1), work).await?;
    let rss_empty = total_kib(servers, Server::rss_kib);

    let per_worker = options.per_worker.max(1);
    // At least one worker per node, so that every node holds clients.
    let workers_needed = options.clients.div_ceil(per_worker).max(servers.len());
    crate::progress(&format!(
        "clients: {} clients in {workers_needed} worker processes",
        options.clients
    ));
    let mut workers = Vec::new();
    for w in 0..workers_needed {
        let count = share(options.clients, workers_needed, w);
        let addr = &servers[w % servers.len()].addr;
        workers.push(Worker::spawn(addr, &format!("{tag}c{w}x"), count)?);
    }

    let (connect, connect_time) = phase(&mut workers, |_| Command::Connect).await?;
    crate::progress(&format!(
        "clients: {} connected in {:.1}s",
        connect.ok,
        connect_time.as_secs_f64()
    ));
    let (register, register_time) = phase(&mut workers, |_| Command::Register).await?;
    crate::progress(&format!(
        "clients: {} registered in {:.1}s",
        register.ok,
        register_time.as_secs_f64()
    ));
    let (login, login_time) = phase(&mut workers, |_| Command::Login).await?;
    crate::progress(&format!(
        "clients: {} logged in in {:.1}s",
        login.ok,
        login_time.as_secs_f64()
    ));
    tokio::time::sleep(SETTLE).await;
    let rss_idle = total_kib(servers, Server::rss_kib);

    let n = workers.len();
    let rooms = options.rooms.min(login.ok);
    let (rooms_reply, _) =
        phase(&mut workers, |w| Command::Rooms { count: share(rooms, n, w), games: games.clone() })
            .await?;
    // The same mix from one client, one request at a time: what a request
    // costs with the idle clients connected but no other requests.
    let probe = new_player(&server.addr, &format!("{tag}seq")).await?;
    let sequential = sequential(&probe, &games, SEQUENTIAL_REQUESTS).await?;
    drop(probe);

    let load_clients = options.load_clients.min(login.ok).max(1);
    crate::progress(&format!(
        "clients: {} requests/s from {load_clients} clients for {}s",
        options.load_rate, options.load_secs
    ));
    let scraper = server.http.clone().map(crate::web::scrape_until_stopped);
    let (load, load_time) = phase(&mut workers, |w| Command::Load {
        clients: share(load_clients, n, w),
        rate: options.load_rate / n as f64,
        secs: options.load_secs,
        games: games.clone(),
    })
    .await?;
    let metrics_under_load = match scraper {
        Some(scraper) => Some(scraper.stop().await),
        None => None,
    };
    let rss_after = total_kib(servers, Server::rss_kib);
    let rss_peak = total_kib(servers, Server::peak_rss_kib);
    for worker in &mut workers {
        worker.send(&Command::Quit).await.ok();
    }
    for worker in &mut workers {
        let _ = tokio::time::timeout(Duration::from_secs(30), worker.child.wait()).await;
    }

    let failures = connect.failed + register.failed + login.failed + rooms_reply.failed;
    let first_error = [&connect, &register, &login, &rooms_reply, &load]
        .iter()
        .find_map(|r| r.first_error.clone());
    let mib = |kib: Option<u64>| kib.map(|k| k as f64 / 1024.0);
    let requests = load.all_samples();
    Ok(ClientsResult {
        clients: options.clients,
        workers: n,
        connected: connect.ok,
        logged_in: login.ok,
        failures,
        first_error,
        connect_secs: connect_time.as_secs_f64(),
        connect_ms: Summary::of_ms(&connect.all_samples()),
        register_secs: register_time.as_secs_f64(),
        login_secs: login_time.as_secs_f64(),
        login_ms: Summary::of_ms(&login.all_samples()),
        rss_empty_mib: mib(rss_empty),
        rss_idle_mib: mib(rss_idle),
        rss_after_load_mib: mib(rss_after),
        rss_peak_mib: mib(rss_peak),
        rss_per_client_kib: match (rss_empty, rss_idle) {
            (Some(a), Some(b)) if login.ok > 0 => {
                Some(b.saturating_sub(a) as f64 / login.ok as f64)
            }
            _ => None,
        },
        load_clients,
        load_rate: options.load_rate,
        load_achieved_rate: requests.len() as f64 / load_time.as_secs_f64().max(1e-9),
        load_errors: load.failed,
        requests_ms: Summary::of_ms(&requests),
        requests_by_type_ms: by_type(&load.samples),
        sequential_ms: Summary::of_ms(&sequential.values().flatten().copied().collect::<Vec<_>>()),
        sequential_by_type_ms: by_type(&sequential),
        metrics_under_load_ms: metrics_under_load.map(|(times, _)| Summary::of_durations(&times)),
    })
}

fn by_type(samples: &BTreeMap<String, Vec<f64>>) -> BTreeMap<String, Summary> {
    samples.iter().map(|(k, v)| (k.clone(), Summary::of_ms(v))).collect()
}

/// Sends the request mix from `client`, one request at a time.
async fn sequential(
    client: &LobbyClient,
    games: &[String],
    count: usize,
) -> anyhow::Result<BTreeMap<String, Vec<f64>>> {
    let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for i in 0..count {
        let started = Instant::now();
        let kind = match i % 3 {
            0 => client.call(StoreList::default()).await.map(drop).map(|()| "STORE_LIST"),
            1 => client.call(RoomList::default()).await.map(drop).map(|()| "ROOM_LIST"),
            _ => {
                let id = games[i % games.len()].clone();
                client.call(GameInfo { id }).await.map(drop).map(|()| "GAME_INFO")
            }
        }?;
        samples.entry(kind.to_owned()).or_default().push(ms(started.elapsed()));
    }
    Ok(samples)
}

/// Item `index`'s share when `total` is split over `parts`.
fn share(total: usize, parts: usize, index: usize) -> usize {
    total / parts + usize::from(index < total % parts)
}

/// Publishes `count` small games so that the store has something to list.
async fn publish_store(
    server: &Server,
    tag: &str,
    count: usize,
    work: &Path,
) -> anyhow::Result<Vec<String>> {
    let dev = new_developer(&server.addr, &format!("{tag}sdev")).await?;
    let mut ids = Vec::new();
    for i in 0..count {
        let spec = GameSpec {
            id: format!("{tag}-g{i:03}"),
            version: "1.0.0".into(),
            total_bytes: 40_000,
            files: 4,
            changed_bytes: 10_000,
            seed: i as u64,
        };
        let game = generate(work, &spec)?;
        let zip = work.join(format!("{}.zip", spec.id));
        pack_dir(&game.dir, std::io::BufWriter::new(std::fs::File::create(&zip)?))?;
        let header = GameUpload {
            id: spec.id.clone(),
            version: spec.version.clone(),
            size: std::fs::metadata(&zip)?.len(),
            sha256: sha256_file(&zip)?,
        };
        upload_package(&dev, header, &zip, &indicatif::ProgressBar::hidden())
            .await
            .with_context(|| format!("publish {}", spec.id))?;
        ids.push(spec.id);
    }
    Ok(ids)
}

/// Sends each worker its command and collects every reply; returns the
/// merged replies and the wall time until the last one.
async fn phase(
    workers: &mut [Worker],
    command: impl Fn(usize) -> Command,
) -> anyhow::Result<(Reply, Duration)> {
    let started = Instant::now();
    for (w, worker) in workers.iter_mut().enumerate() {
        worker.send(&command(w)).await?;
    }
    let mut merged = Reply::default();
    for worker in workers.iter_mut() {
        merged.merge(worker.reply().await?);
    }
    Ok((merged, started.elapsed()))
}

/// A worker process as the parent sees it; killed on drop.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Worker {
    fn spawn(addr: &str, names: &str, count: usize) -> anyhow::Result<Worker> {
        let exe = std::env::current_exe().context("cannot find the bench's own path")?;
        let mut child = tokio::process::Command::new(exe)
            .args(["swarm", "--server", addr, "--names", names, "--count"])
            .arg(count.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start a swarm worker")?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        Ok(Worker { child, stdin, stdout })
    }

    async fn send(&mut self, command: &Command) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(command)?;
        line.push(b'\n');
        self.stdin.write_all(&line).await.context("a swarm worker is gone")?;
        self.stdin.flush().await?;
        Ok(())
    }

    async fn reply(&mut self) -> anyhow::Result<Reply> {
        let line = tokio::time::timeout(PHASE_TIMEOUT, self.stdout.next_line())
            .await
            .context("a swarm worker did not answer in time")??
            .context("a swarm worker exited")?;
        serde_json::from_str(&line).with_context(|| format!("bad worker reply {line:?}"))
    }
}

/// The `swarm` worker: holds `count` connections named `<names><i>` and
/// obeys the parent's commands until `quit` or the end of stdin.
pub async fn worker(addr: &str, names: &str, count: usize) -> anyhow::Result<()> {
    let mut clients: Vec<Option<Arc<LobbyClient>>> = vec![None; count];
    let mut logged_in = vec![false; count];
    let mut keepalives = Vec::new();
    let mut commands = stdin_lines();
    while let Some(line) = commands.recv().await {
        let command: Command = serde_json::from_str(&line).context("bad command")?;
        let reply = match command {
            Command::Connect => connect_all(addr, &mut clients).await,
            Command::Register => {
                let tasks = clients.iter().enumerate().filter_map(|(i, c)| {
                    let (c, name) = (c.clone()?, format!("{names}{i}"));
                    Some((i, async move { c.call(Register::new(name, PASSWORD)).await.map(drop) }))
                });
                run_all("REGISTER", SETUP_PARALLEL, tasks).await.0
            }
            Command::Login => {
                let tasks = clients.iter().enumerate().filter_map(|(i, c)| {
                    let (c, name) = (c.clone()?, format!("{names}{i}"));
                    Some((i, async move { c.call(Login::new(name, PASSWORD)).await.map(drop) }))
                });
                let (reply, done) = run_all("LOGIN", SETUP_PARALLEL, tasks).await;
                for i in done {
                    logged_in[i] = true;
                    let client = clients[i].as_ref().expect("logged in means connected");
                    keepalives.push(client.keepalive());
                }
                reply
            }
            Command::Rooms { count, games } => {
                let tasks = ready(&clients, &logged_in).take(count).enumerate().map(|(n, c)| {
                    let game = games[n % games.len()].clone();
                    (n, async move { c.call(RoomCreate { game }).await.map(drop) })
                });
                run_all("ROOM_CREATE", SETUP_PARALLEL, tasks).await.0
            }
            Command::Load { clients: k, rate, secs, games } => {
                let subset: Vec<Arc<LobbyClient>> = ready(&clients, &logged_in).take(k).collect();
                load(&subset, rate, secs, &games).await
            }
            Command::Quit => break,
        };
        let mut line = serde_json::to_string(&reply)?;
        line.push('\n');
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(line.as_bytes())?;
        out.flush()?;
    }
    for keepalive in keepalives {
        keepalive.abort();
    }
    Ok(())
}

/// Standard input's lines, read on a thread of their own.
fn stdin_lines() -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Logged-in clients, in order.
fn ready<'a>(
    clients: &'a [Option<Arc<LobbyClient>>],
    logged_in: &'a [bool],
) -> impl Iterator<Item = Arc<LobbyClient>> + 'a {
    clients.iter().zip(logged_in).filter(|(_, ok)| **ok).filter_map(|(c, _)| c.clone())
}

async fn connect_all(addr: &str, clients: &mut [Option<Arc<LobbyClient>>]) -> Reply {
    let gate = Arc::new(Semaphore::new(CONNECT_PARALLEL));
    let mut set = JoinSet::new();
    for i in 0..clients.len() {
        let (addr, gate) = (addr.to_owned(), gate.clone());
        set.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let started = Instant::now();
            let result = connect(&addr).await;
            (i, result, started.elapsed())
        });
    }
    let mut reply = Reply::default();
    while let Some(joined) = set.join_next().await {
        let Ok((i, result, took)) = joined else { continue };
        match result {
            Ok(client) => {
                clients[i] = Some(Arc::new(client));
                reply.ok += 1;
                reply.samples.entry("CONNECT".into()).or_default().push(ms(took));
            }
            Err(e) => failed(&mut reply, format!("{e:#}")),
        }
    }
    reply
}

/// Runs the tasks `parallel` at a time; returns the reply and the indexes
/// that succeeded.
async fn run_all<F>(
    kind: &str,
    parallel: usize,
    tasks: impl Iterator<Item = (usize, F)>,
) -> (Reply, Vec<usize>)
where
    F: std::future::Future<Output = Result<(), gamestore_client::ClientError>> + Send + 'static,
{
    let gate = Arc::new(Semaphore::new(parallel));
    let mut set = JoinSet::new();
    for (i, task) in tasks {
        let gate = gate.clone();
        set.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let started = Instant::now();
            let result = task.await;
            (i, result, started.elapsed())
        });
    }
    let mut reply = Reply::default();
    let mut done = Vec::new();
    while let Some(joined) = set.join_next().await {
        let Ok((i, result, took)) = joined else { continue };
        match result {
            Ok(()) => {
                reply.ok += 1;
                reply.samples.entry(kind.to_owned()).or_default().push(ms(took));
                done.push(i);
            }
            Err(e) => failed(&mut reply, format!("{kind}: {e}")),
        }
    }
    (reply, done)
}

fn failed(reply: &mut Reply, error: String) {
    reply.failed += 1;
    if reply.first_error.is_none() {
        reply.first_error = Some(error);
    }
}

/// Sends STORE_LIST, ROOM_LIST and GAME_INFO in turn, `rate` per second
/// spread over `clients`, for `secs` seconds; times each from sending to
/// its reply.
async fn load(clients: &[Arc<LobbyClient>], rate: f64, secs: f64, games: &[String]) -> Reply {
    let mut reply = Reply::default();
    if clients.is_empty() || rate <= 0.0 || games.is_empty() {
        return reply;
    }
    let total = (rate * secs).round().max(1.0) as usize;
    let period = Duration::from_secs_f64(1.0 / rate);
    let start = tokio::time::Instant::now();
    let mut set = JoinSet::new();
    for i in 0..total {
        tokio::time::sleep_until(start + period.mul_f64(i as f64)).await;
        let client = clients[i % clients.len()].clone();
        let game = games[i % games.len()].clone();
        set.spawn(async move {
            let started = Instant::now();
            let (kind, result) = match i % 3 {
                0 => ("STORE_LIST", client.call(StoreList::default()).await.map(drop)),
                1 => ("ROOM_LIST", client.call(RoomList::default()).await.map(drop)),
                _ => ("GAME_INFO", client.call(GameInfo { id: game }).await.map(drop)),
            };
            (kind, result, started.elapsed())
        });
    }
    while let Some(joined) = set.join_next().await {
        let Ok((kind, result, took)) = joined else { continue };
        match result {
            Ok(()) => {
                reply.ok += 1;
                reply.samples.entry(kind.to_owned()).or_default().push(ms(took));
            }
            Err(e) => failed(&mut reply, format!("{kind}: {e}")),
        }
    }
    reply
}

/// Fails unless every client of the run logged in.
pub fn check(result: &ClientsResult) -> anyhow::Result<()> {
    if result.logged_in < result.clients {
        bail!(
            "only {} of {} clients logged in; first error: {}",
            result.logged_in,
            result.clients,
            result.first_error.as_deref().unwrap_or("none")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::share;

    #[test]
    fn shares_add_up() {
        for (total, parts) in [(10_000, 3), (7, 3), (2, 5), (0, 2)] {
            let shares: Vec<usize> = (0..parts).map(|i| share(total, parts, i)).collect();
            assert_eq!(shares.iter().sum::<usize>(), total, "{total} over {parts}");
            assert!(shares.iter().max().unwrap() - shares.iter().min().unwrap() <= 1);
        }
    }
}
