//! `gamestore-bench`: runs the benchmarks and prints the results table.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gamestore_bench::fanout::FanoutOptions;
use gamestore_bench::swarm::ClientsOptions;
use gamestore_bench::transfer::TransferOptions;
use gamestore_bench::{Options, Scenario};

/// Benchmarks the Game Store against the real lobby on loopback: package
/// transfers, delta updates, many idle clients with a request mix, chat
/// fan-out, match start and a wrong-password flood. Prints a table (ratios to references measured
/// in the same run) and optionally writes JSON.
///
/// Unless --server is given, each scenario starts its own gamestore-lobby
/// (found next to this program, or --lobby) on 127.0.0.1 with a temporary
/// data folder and cheap password hashing (8 KiB, 1 pass) so that thousands
/// of accounts can log in quickly.
#[derive(Debug, Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    command: Option<Hidden>,

    /// Small sizes: every scenario in well under a minute
    #[arg(long)]
    quick: bool,

    /// Scenarios to run, comma-separated [default: all]
    #[arg(long, value_enum, value_delimiter = ',', value_name = "LIST")]
    scenarios: Vec<Scenario>,

    /// Write the results as JSON to FILE
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,

    /// Measure a lobby already running at HOST:PORT instead of starting one
    /// per scenario (its memory is then not reported)
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "lobby")]
    server: Option<String>,

    /// The gamestore-lobby program to start [default: next to this program]
    #[arg(long, value_name = "PATH")]
    lobby: Option<PathBuf>,

    /// An extra flag for the lobbies the bench starts (repeatable), e.g.
    /// --lobby-arg=--sandbox=off
    #[arg(long = "lobby-arg", value_name = "ARG", allow_hyphen_values = true)]
    lobby_args: Vec<String>,

    /// Game server ports for the lobbies the bench starts
    #[arg(long, value_name = "FROM-TO", default_value = "9000-9999")]
    game_ports: String,

    /// Size of the generated package's files in MB (10^6 bytes) [default: 200; quick: 8]
    #[arg(long, value_name = "MB")]
    package_mb: Option<u64>,

    /// Number of files in the generated package [default: 300; quick: 40]
    #[arg(long, value_name = "N")]
    package_files: Option<usize>,

    /// Downloads (and loopback copies) measured in the transfer scenario; the best of each counts
    #[arg(long, value_name = "N", default_value_t = 5)]
    transfer_repeats: usize,

    /// Size of the file the delta update changes, in KiB
    #[arg(long, value_name = "KIB", default_value_t = 1024)]
    changed_kib: u64,

    /// Seed for the generated package's sizes and bytes
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Idle logged-in clients [default: 10000; quick: 300]
    #[arg(long, value_name = "N")]
    clients: Option<usize>,

    /// Most clients per worker process [default: 4000; quick: 100]
    #[arg(long, value_name = "N")]
    clients_per_worker: Option<usize>,

    /// Clients that send requests during the load phase [default: 1000; quick: 60]
    #[arg(long, value_name = "N")]
    load_clients: Option<usize>,

    /// Requests per second during the load phase, all clients together
    /// [default: 1000; quick: 200]
    #[arg(long, value_name = "N")]
    load_rate: Option<f64>,

    /// Length of the load phase in seconds [default: 10; quick: 2]
    #[arg(long, value_name = "SECS")]
    load_secs: Option<f64>,

    /// Rooms open during the load phase [default: 100; quick: 10]
    #[arg(long, value_name = "N")]
    rooms: Option<usize>,

    /// Games in the store during the load phase [default: 20; quick: 5]
    #[arg(long, value_name = "N")]
    store_games: Option<usize>,

    /// Lobby chat members for the fan-out [default: 1000; quick: 50]
    #[arg(long, value_name = "N")]
    fanout_members: Option<usize>,

    /// Chat messages sent in the fan-out [default: 50; quick: 10]
    #[arg(long, value_name = "N")]
    fanout_repeats: Option<usize>,

    /// Players in each match, 1 to 16 [default: 8; quick: 2]
    #[arg(long, value_name = "N")]
    match_players: Option<usize>,

    /// Matches started [default: 20; quick: 3]
    #[arg(long, value_name = "N")]
    match_repeats: Option<usize>,

    /// Seconds the wrong-password flood runs [default: 10; quick: 3]
    #[arg(long, value_name = "SECS")]
    flood_secs: Option<f64>,
    /// Clients per transport in the TLS-against-plain comparison [default: 50; quick: 10]
    #[arg(long, value_name = "N")]
    web_clients: Option<usize>,

    /// Seconds of requests in that comparison, both transports together
    /// [default: 8; quick: 2]
    #[arg(long, value_name = "SECS")]
    web_secs: Option<f64>,

    /// Games in the website's catalog [default: 10000; quick: 300]
    #[arg(long, value_name = "N")]
    catalog_games: Option<usize>,

    /// Nodes in the several-node shape of the `nodes` scenario
    #[arg(long, value_name = "N", default_value_t = 3)]
    nodes: usize,

    /// The PostgreSQL database the `nodes` scenario's nodes share
    /// (postgres://...; scripts/bench-nodes starts a throwaway one)
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,

    /// The NATS server of the `nodes` scenario (nats://HOST:PORT)
    #[arg(long, value_name = "URL")]
    nats: Option<String>,

    /// The packaged test game folder (scripts/package-games OUT test makes
    /// OUT/test) [default: packaged on the spot]
    #[arg(long, value_name = "DIR")]
    test_game: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Hidden {
    /// A worker process holding a share of the many-clients scenario's
    /// connections; driven by the parent bench over stdin and stdout.
    #[command(hide = true)]
    Swarm {
        #[arg(long)]
        server: String,
        /// Account names are this prefix and a number.
        #[arg(long)]
        names: String,
        #[arg(long)]
        count: usize,
    },
}

fn main() -> ExitCode {
    // The game sandboxes' exec step runs this binary before a game program.
    gamestore_sandbox::run_if_requested();
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    if let Some(Hidden::Swarm { server, names, count }) = &args.command {
        runtime.block_on(gamestore_bench::swarm::worker(server, names, *count))?;
        return Ok(ExitCode::SUCCESS);
    }
    let json = args.json.clone();
    let options = options(args);
    let report = runtime.block_on(gamestore_bench::run(&options))?;
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_vec_pretty(&report)?)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    print!("{}", report.table());
    Ok(if report.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn options(args: Args) -> Options {
    let q = args.quick;
    Options {
        scenarios: if args.scenarios.is_empty() { Scenario::ALL.to_vec() } else { args.scenarios },
        server: args.server,
        lobby: args.lobby,
        lobby_args: args.lobby_args,
        game_ports: args.game_ports,
        transfer: TransferOptions {
            package_bytes: args.package_mb.unwrap_or(pick(q, 8, 200)) * 1_000_000,
            files: args.package_files.unwrap_or(pick(q, 40, 300)),
            changed_bytes: args.changed_kib * 1024,
            seed: args.seed,
            repeats: args.transfer_repeats,
        },
        distribution: gamestore_bench::distribution::DistributionOptions {
            big_file_bytes: pick(q, 8, 100) << 20,
            change_bytes: 1 << 20,
            game_bytes: pick(q, 4, 50) * 1_000_000,
            game_files: pick(q, 20, 100) as usize,
            installs: pick(q, 10, 100) as usize,
            seed: args.seed,
        },
        clients: ClientsOptions {
            clients: args.clients.unwrap_or(pick(q, 300, 10_000)),
            per_worker: args.clients_per_worker.unwrap_or(pick(q, 100, 4_000)),
            load_clients: args.load_clients.unwrap_or(pick(q, 60, 1_000)),
            load_rate: args.load_rate.unwrap_or(pick(q, 200.0, 1_000.0)),
            load_secs: args.load_secs.unwrap_or(pick(q, 2.0, 10.0)),
            rooms: args.rooms.unwrap_or(pick(q, 10, 100)),
            store_games: args.store_games.unwrap_or(pick(q, 5, 20)),
        },
        fanout: FanoutOptions {
            members: args.fanout_members.unwrap_or(pick(q, 50, 1_000)),
            repeats: args.fanout_repeats.unwrap_or(pick(q, 10, 50)),
        },
        match_players: args.match_players.unwrap_or(pick(q, 2, 8)),
        match_repeats: args.match_repeats.unwrap_or(pick(q, 3, 20)),
        flood: gamestore_bench::login_flood::FloodOptions {
            secs: args.flood_secs.unwrap_or(pick(q, 3.0, 10.0)),
        },
        web: gamestore_bench::web::WebOptions {
            clients: args.web_clients.unwrap_or(pick(q, 10, 50)),
            secs: args.web_secs.unwrap_or(pick(q, 2.0, 8.0)),
            catalog_games: args.catalog_games.unwrap_or(pick(q, 300, 10_000)),
        },
        store: gamestore_bench::store_list::StoreListOptions {
            sizes: vec![10, 1_000, 10_000],
            requests: pick(q, 300, 2_000),
        },
        nodes: gamestore_bench::nodes::NodesOptions {
            nodes: args.nodes,
            postgres: args.postgres,
            nats: args.nats,
        },
        test_game: args.test_game,
        quick: q,
    }
}

/// The quick-mode value or the full-size one.
fn pick<T>(quick: bool, small: T, full: T) -> T {
    if quick { small } else { full }
}
