//! Scenario: several lobby nodes sharing one PostgreSQL database and one
//! NATS server (`--database`, `--nats`, `--node-id`), against one node on
//! the same database and NATS server in the same run.
//!
//! Both shapes run the same two measurements: the many-clients scenario
//! ([`swarm`](crate::swarm): idle clients, then a request mix at a fixed
//! rate), with the worker processes spread over the nodes so that no
//! process holds more than its share of file descriptors, and the lobby
//! chat fan-out ([`fanout`](crate::fanout)) with the members spread over
//! the nodes, so that most deliveries cross nodes.
//!
//! The database and the NATS server are given (`--postgres`, `--nats`);
//! `scripts/bench-nodes` starts throwaway ones on loopback and passes them.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use crate::fanout::{self, FanoutOptions, FanoutResult};
use crate::lobby::{LobbyLaunch, Server};
use crate::swarm::{self, ClientsOptions, ClientsResult};

/// Where the nodes meet, and how many there are.
#[derive(Debug, Clone, Serialize)]
pub struct NodesOptions {
    /// Nodes in the several-node shape (at least 2).
    pub nodes: usize,
    /// The PostgreSQL database the nodes share (`postgres://...`).
    pub postgres: Option<String>,
    /// The NATS server (`nats://HOST:PORT`).
    pub nats: Option<String>,
}

/// One shape's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ShapeResult {
    pub nodes: usize,
    pub clients: ClientsResult,
    pub fanout: FanoutResult,
    /// Each node's resident memory with every client idle, MiB.
    pub node_rss_mib: Vec<Option<f64>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodesResult {
    /// One node on the shared database and NATS server.
    pub single: ShapeResult,
    /// `nodes` nodes.
    pub several: ShapeResult,
}

pub async fn run(
    launch: &LobbyLaunch,
    tag: &str,
    options: &NodesOptions,
    clients: &ClientsOptions,
    fanout_options: &FanoutOptions,
    work: &Path,
) -> anyhow::Result<NodesResult> {
    let postgres = options
        .postgres
        .as_deref()
        .context("the nodes scenario needs --postgres URL and --nats URL (scripts/bench-nodes)")?;
    let nats = options.nats.as_deref().context("the nodes scenario needs --nats URL")?;
    let mut shapes = Vec::new();
    for count in [1, options.nodes.max(2)] {
        // Each shape on its own subject prefix and account names.
        let shape_tag = format!("{tag}n{count}");
        let servers = start_nodes(launch, postgres, nats, &shape_tag, count)?;
        crate::progress(&format!("nodes: {count} node(s) up"));
        let dir = work.join(&shape_tag);
        std::fs::create_dir_all(&dir)?;
        let clients = swarm::run(&servers, &shape_tag, clients, &dir).await?;
        let node_rss_mib = servers.iter().map(|s| s.rss_kib().map(|k| k as f64 / 1024.0)).collect();
        let fanout = fanout::run(&servers, &shape_tag, fanout_options).await?;
        shapes.push(ShapeResult { nodes: count, clients, fanout, node_rss_mib });
    }
    let several = shapes.pop().expect("two shapes");
    let single = shapes.pop().expect("two shapes");
    Ok(NodesResult { single, several })
}

/// Starts `count` nodes one after the other (the first migrates the
/// database), each with its own data folder and id.
fn start_nodes(
    launch: &LobbyLaunch,
    postgres: &str,
    nats: &str,
    tag: &str,
    count: usize,
) -> anyhow::Result<Vec<Server>> {
    let mut servers = Vec::with_capacity(count);
    for n in 0..count {
        let mut node = launch.clone();
        node.extra_args.extend([
            "--database".to_owned(),
            postgres.to_owned(),
            "--nats".to_owned(),
            nats.to_owned(),
            "--node-id".to_owned(),
            format!("{tag}x{n}"),
            "--nats-subject-prefix".to_owned(),
            format!("gsbench{tag}"),
        ]);
        servers.push(Server::start(&node).with_context(|| format!("start node {n}"))?);
    }
    Ok(servers)
}
