//! Scenario 4: chat fan-out. One player sends a lobby chat message and every
//! logged-in player receives it as a CHAT event; the number is the time from
//! sending to the moment the last member has decoded it.
//!
//! Rooms hold at most a game's `max_players` (16 at most), so the audience
//! of a thousand is the lobby chat. Each account may send 10 messages per
//! 10 seconds, so the sender rotates through the members. All members live
//! in this process and are timed on one clock. With several lobby nodes
//! the members are spread over them in turn, so most deliveries cross
//! nodes (over NATS).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use gamestore_protocol::{ChatScope, ChatSend, Event};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::accounts::new_players;
use crate::lobby::Server;
use crate::stats::{Summary, ms};

/// Longest wait for one message to reach everyone.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between messages, so that one message's delivery does not overlap
/// the next.
const GAP: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Serialize)]
pub struct FanoutOptions {
    pub members: usize,
    pub repeats: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct FanoutResult {
    pub members: usize,
    pub repeats: usize,
    /// Per message: until the last member had it.
    pub last_member_ms: Summary,
    /// Per message: until half the members had it.
    pub median_member_ms: Summary,
    /// Per message: CHAT_SEND's reply to the sender.
    pub send_reply_ms: Summary,
}

pub async fn run(
    servers: &[Server],
    tag: &str,
    options: &FanoutOptions,
) -> anyhow::Result<FanoutResult> {
    let members = options.members.max(1);
    crate::progress(&format!("fanout: logging in {members} players"));
    let nodes = servers.len().max(1);
    let mut by_node = Vec::new();
    for (n, server) in servers.iter().enumerate() {
        let count = members / nodes + usize::from(n < members % nodes);
        by_node.push(new_players(&server.addr, &format!("{tag}f{n}x"), count, 64).await?);
    }
    // Member i is on node i % nodes, so the rotating sender moves between nodes.
    let mut clients = Vec::with_capacity(members);
    let mut iters: Vec<_> = by_node.into_iter().map(Vec::into_iter).collect();
    while clients.len() < members {
        for node in &mut iters {
            clients.extend(node.next());
        }
    }

    // Every member's events go to one collector: (member, message text, when).
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<(usize, String, Instant)>();
    for (i, client) in clients.iter().enumerate() {
        let mut events = client.events().context("events taken twice")?;
        let seen = seen_tx.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let Event::Chat(chat) = event
                    && seen.send((i, chat.text, Instant::now())).is_err()
                {
                    return;
                }
            }
        });
    }
    drop(seen_tx);

    crate::progress(&format!("fanout: {} messages to {members} members", options.repeats));
    let mut last = Vec::new();
    let mut median = Vec::new();
    let mut replies = Vec::new();
    for repeat in 0..options.repeats.max(1) {
        let text = format!("fan-out {tag} {repeat}");
        let sender = &clients[repeat % members];
        let mut got = vec![false; members];
        let mut arrivals = Vec::with_capacity(members);
        let started = Instant::now();
        sender.call(ChatSend { scope: ChatScope::Lobby, text: text.clone() }).await?;
        replies.push(started.elapsed());
        let deadline = tokio::time::Instant::now() + DELIVERY_TIMEOUT;
        while arrivals.len() < members {
            let Ok(Some((member, seen_text, at))) =
                tokio::time::timeout_at(deadline, seen_rx.recv()).await
            else {
                bail!(
                    "message {repeat} reached {} of {members} members within {DELIVERY_TIMEOUT:?}",
                    arrivals.len()
                );
            };
            if seen_text == text && !std::mem::replace(&mut got[member], true) {
                arrivals.push(at - started);
            }
        }
        arrivals.sort();
        last.push(ms(arrivals[arrivals.len() - 1]));
        median.push(ms(arrivals[(arrivals.len() - 1) / 2]));
        tokio::time::sleep(GAP).await;
    }
    Ok(FanoutResult {
        members,
        repeats: last.len(),
        last_member_ms: Summary::of_ms(&last),
        median_member_ms: Summary::of_ms(&median),
        send_reply_ms: Summary::of_durations(&replies),
    })
}
