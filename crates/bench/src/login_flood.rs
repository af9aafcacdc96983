//! Scenario 6: a wrong-password flood. 64 connections, each from its own
//! loopback address (127.0.1.x), send wrong-password LOGINs for one account
//! as fast as the lobby answers, for a fixed time. Meanwhile a bystander
//! logs in to another account from another address, again and again.
//!
//! Measured: the lobby's RSS before, at its peak and after; how many
//! guesses at the account the lobby actually checked (the rest were
//! refused with RATE_LIMITED), as a rate per minute; and the bystander's
//! login latency under the flood. The lobby runs with the deployed Argon2
//! cost (19 MiB, 2 passes), not the bench's cheap one.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use gamestore_protocol::{
    Frame, FrameReader, Hello, Login, PROTOCOL_VERSION, Register, RequestFrame, ServerMessage,
};
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;

use crate::accounts::{CLIENT_NAME, PASSWORD, connect};
use crate::lobby::Server;
use crate::stats::{Summary, ms};

/// Attacking connections.
pub const CONNECTIONS: u8 = 64;
/// Longest wait for any one reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Serialize)]
pub struct FloodOptions {
    pub secs: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FloodResult {
    pub connections: u8,
    pub secs: f64,
    /// Guesses the lobby checked (answered LOGIN_FAILED).
    pub checked: u64,
    /// Guesses refused unchecked (RATE_LIMITED).
    pub refused: u64,
    pub rss_before_mib: Option<f64>,
    pub rss_peak_mib: Option<f64>,
    pub rss_after_mib: Option<f64>,
    /// The bystander's logins during the flood.
    pub bystander_login_ms: Summary,
}

pub async fn run(
    server: &Server,
    tag: &str,
    options: &FloodOptions,
) -> anyhow::Result<FloodResult> {
    let victim = format!("{tag}victim");
    let bystander = format!("{tag}bystander");
    let setup = connect(&server.addr).await?;
    setup.call(Register::new(&victim, PASSWORD)).await.context("register the victim")?;
    setup.call(Register::new(&bystander, PASSWORD)).await.context("register the bystander")?;
    drop(setup);
    let mib = |kib: Option<u64>| kib.map(|k| k as f64 / 1024.0);
    let rss_before_mib = mib(server.rss_kib());

    let addr: SocketAddr = server.addr.parse().context("the lobby's address")?;
    let until = Instant::now() + Duration::from_secs_f64(options.secs);
    let checked = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    crate::progress(&format!(
        "flood: {CONNECTIONS} connections guessing for {:.0} s",
        options.secs
    ));
    let mut attackers = tokio::task::JoinSet::new();
    for i in 1..=CONNECTIONS {
        let (victim, checked, refused) = (victim.clone(), checked.clone(), refused.clone());
        attackers.spawn(async move {
            guess(addr, Ipv4Addr::new(127, 0, 1, i), &victim, until, &checked, &refused).await
        });
    }

    let mut latencies = Vec::new();
    while Instant::now() < until {
        let client = connect(&server.addr).await?;
        let started = Instant::now();
        client.call(Login::new(&bystander, PASSWORD)).await.context("the bystander's login")?;
        latencies.push(ms(started.elapsed()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    while let Some(joined) = attackers.join_next().await {
        joined??;
    }
    let (checked, refused) = (checked.load(Ordering::Relaxed), refused.load(Ordering::Relaxed));
    Ok(FloodResult {
        connections: CONNECTIONS,
        secs: options.secs,
        checked,
        refused,
        rss_before_mib,
        rss_peak_mib: mib(server.peak_rss_kib()),
        rss_after_mib: mib(server.rss_kib()),
        bystander_login_ms: Summary::of_ms(&latencies),
    })
}

/// One attacker: wrong passwords until `until`, counting the answers.
async fn guess(
    addr: SocketAddr,
    source: Ipv4Addr,
    victim: &str,
    until: Instant,
    checked: &AtomicU64,
    refused: &AtomicU64,
) -> anyhow::Result<()> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0))).with_context(|| format!("bind {source}"))?;
    let stream = socket.connect(addr).await.context("connect to the lobby")?;
    let (read, mut write) = stream.into_split();
    let mut reader = FrameReader::new(read);
    let mut id = 0u32;
    let mut call = async |request: gamestore_protocol::Request| -> anyhow::Result<ServerMessage> {
        id += 1;
        let json = RequestFrame { id, request }.encode();
        write.write_all(&Frame::Message(json).to_bytes()?).await?;
        loop {
            let frame = tokio::time::timeout(REPLY_TIMEOUT, reader.read_frame())
                .await
                .context("no reply in time")??;
            let Some(Frame::Message(json)) = frame else {
                bail!("the lobby closed the connection")
            };
            let message = ServerMessage::decode(&json).map_err(anyhow::Error::msg)?;
            if matches!(message, ServerMessage::Reply { .. }) {
                return Ok(message);
            }
        }
    };
    call(Hello { protocol: PROTOCOL_VERSION, client: CLIENT_NAME.into() }.into()).await?;
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let reply = call(Login::new(victim, format!("wrong guess {source} {n}")).into()).await?;
        match reply {
            ServerMessage::Reply { result: Err(e), .. } if e.code.as_str() == "RATE_LIMITED" => {
                refused.fetch_add(1, Ordering::Relaxed);
            }
            ServerMessage::Reply { result: Err(_), .. } => {
                checked.fetch_add(1, Ordering::Relaxed);
            }
            other => bail!("a wrong password was accepted: {other:?}"),
        }
    }
    Ok(())
}
