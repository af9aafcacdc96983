//! The bus: how live state crosses the nodes of one lobby.
//!
//! A lobby on its own has a local bus: lobby chat goes straight to the
//! hub's connections, and presence is the hub's. A node started with
//! `--nats` also publishes to NATS subjects (named in docs/SCALING.md, all
//! under the `--nats-subject-prefix`) and delivers what the other nodes
//! publish to its own connections:
//!
//! - `P.state.NODE`: the players online on NODE, as a `reset` followed by
//!   `online` batches and `offline` changes, in order (one publisher per
//!   subject, so NATS keeps the order).
//! - `P.node.hello`, `P.node.heartbeat`, `P.node.bye`: a node started or
//!   reconnected (every node answers with its state), is alive, or stops.
//!   A node silent for the node timeout is taken for dead: its players
//!   leave ONLINE_LIST and its open matches are recorded as aborted (by
//!   every node that sees it die; the update changes only rows still open,
//!   so each match is aborted once).
//! - `P.chat.lobby`: lobby chat from a node's players.
//! - `P.session.revoke`: an account's session changed (a login, a logout,
//!   a ban). Every node closes the connections of that account whose
//!   session PostgreSQL no longer holds, with SESSION_REVOKED.
//!
//! - `P.version.published`, `P.pkg.get.NODE`, `P.pkg.who`: package files
//!   across nodes ([`crate::replicas`], on subscriptions of its own).
//!
//! Publishing never waits: messages go through a bounded queue to one
//! publisher task. A presence change that does not fit marks the state for
//! a full resend; a chat message that does not fit is dropped (it was
//! delivered on this node) and logged.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use gamestore_protocol::{ChatMessage, Event, RoomId, RoomInfo, SessionRevoked};
use gamestore_storage::AccountId;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::Lobby;
use crate::config::ClusterSettings;
use crate::shutdown::Shutdown;

/// Messages waiting for the publisher at most.
const OUTBOUND_QUEUE: usize = 8192;
/// Players per `online` batch of a state snapshot.
const SNAPSHOT_BATCH: usize = 500;
/// Largest message accepted from the bus (NATS's default payload limit).
const MAX_PAYLOAD: usize = 1024 * 1024;
/// Revocations checked against the database at once.
const CONCURRENT_REVOCATIONS: usize = 32;
/// Nodes whose players are remembered at most; more are ignored.
const MAX_NODES: usize = 256;
/// Players remembered per other node at most.
const MAX_PLAYERS_PER_NODE: usize = 200_000;
/// Rooms remembered per other node at most.
const MAX_ROOMS_PER_NODE: usize = 100_000;
/// Rooms per `upsert` message.
const ROOMS_BATCH: usize = 100;
/// How often this node compares its rooms with what it last published.
const ROOMS_TICK: Duration = Duration::from_millis(200);
/// Room requests from other nodes' players served at once (matches
/// starting; the other requests are answered in order as they come).
const CONCURRENT_ROOM_STARTS: usize = 64;

/// What one node says about its rooms on `P.rooms.NODE`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum RoomsMessage {
    /// Forget this node's rooms; they follow.
    Reset,
    /// These rooms are new or changed.
    Upsert { rooms: Vec<RoomInfo> },
    /// These rooms are gone.
    Gone { rooms: Vec<RoomId> },
}

/// What one node says about its players on `P.state.NODE`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum StateMessage {
    /// Forget what this node said before; its state follows.
    Reset,
    /// These players are online on this node.
    Online { players: Vec<PresentPlayer> },
    /// This player has no connection left on this node.
    Offline { account: AccountId },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PresentPlayer {
    account: AccountId,
    name: String,
}

/// `P.node.hello`, `P.node.heartbeat` and `P.node.bye`.
#[derive(Debug, Serialize, Deserialize)]
struct NodeMessage {
    node: String,
}

/// `P.chat.lobby`.
#[derive(Debug, Serialize, Deserialize)]
struct LobbyChat {
    node: String,
    message: ChatMessage,
}

/// `P.session.revoke`.
#[derive(Debug, Serialize, Deserialize)]
struct Revoke {
    node: String,
    account: AccountId,
    /// The SESSION_REVOKED reason the closed connections are given.
    reason: String,
}

/// An item of the publisher's queue.
#[derive(Debug)]
enum Outbound {
    /// Publish these bytes on this subject.
    Message(String, Vec<u8>),
    /// A presence change of this node (encoded when published).
    Presence(StateMessage),
    /// Publish this node's whole state, taken when this item is reached.
    Snapshot,
}

/// A change in who is online on this node, sent by the hub in the order
/// the changes happen.
#[derive(Debug, Clone)]
pub(crate) enum Presence {
    Online { account: AccountId, name: String },
    Offline { account: AccountId },
}

/// The hub's end of the bus: where presence changes go.
#[derive(Debug, Clone)]
pub(crate) struct PresenceSink {
    link: Option<Arc<Link>>,
}

impl PresenceSink {
    /// Queues a change; one that does not fit marks the state for a resend.
    pub(crate) fn changed(&self, change: Presence) {
        let Some(link) = &self.link else { return };
        let message = match change {
            Presence::Online { account, name } => {
                StateMessage::Online { players: vec![PresentPlayer { account, name }] }
            }
            Presence::Offline { account } => StateMessage::Offline { account },
        };
        if link.out.try_send(Outbound::Presence(message)).is_err() {
            link.resync.store(true, Ordering::Release);
        }
    }
}

/// Players online on another node.
#[derive(Debug)]
struct RemoteNode {
    last_seen: Instant,
    players: HashMap<AccountId, String>,
    rooms: BTreeMap<RoomId, RoomInfo>,
}

/// A node's connection to the others.
#[derive(Debug)]
struct Link {
    settings: ClusterSettings,
    client: async_nats::Client,
    out: mpsc::Sender<Outbound>,
    /// Set when a presence change was dropped: the next tick resends the state.
    resync: AtomicBool,
    /// Chat messages dropped because the queue was full.
    dropped: AtomicU64,
    remote: Mutex<HashMap<String, RemoteNode>>,
    /// This node's rooms as last published.
    published_rooms: Mutex<BTreeMap<RoomId, RoomInfo>>,
    /// Taken by [`serve`].
    parts: Mutex<Option<Parts>>,
}

/// What [`serve`] runs on.
#[derive(Debug)]
struct Parts {
    outbound: mpsc::Receiver<Outbound>,
    subscriptions: Vec<async_nats::Subscriber>,
    /// A signal per (re)connection to the NATS server.
    connected: mpsc::Receiver<()>,
}

/// Live state across the nodes of one lobby; local when there is one node.
#[derive(Debug)]
pub(crate) struct Bus {
    link: Option<Arc<Link>>,
}

impl Link {
    fn subject(&self, rest: &str) -> String {
        format!("{}.{rest}", self.settings.subject_prefix)
    }

    fn node(&self) -> &str {
        &self.settings.node_id
    }

    fn queue(&self, rest: &str, body: &impl Serialize) -> bool {
        let Ok(bytes) = serde_json::to_vec(body) else { return false };
        self.out.try_send(Outbound::Message(self.subject(rest), bytes)).is_ok()
    }

    fn remote(&self) -> std::sync::MutexGuard<'_, HashMap<String, RemoteNode>> {
        self.remote.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The entry of `node`, made when it is new (unless too many are known).
    fn seen<'a>(
        remote: &'a mut HashMap<String, RemoteNode>,
        node: &str,
    ) -> Option<&'a mut RemoteNode> {
        if !remote.contains_key(node) {
            if remote.len() >= MAX_NODES {
                return None;
            }
            tracing::info!(node, "another node of this lobby is up");
            remote.insert(
                node.to_owned(),
                RemoteNode {
                    last_seen: Instant::now(),
                    players: HashMap::new(),
                    rooms: BTreeMap::new(),
                },
            );
        }
        let entry = remote.get_mut(node)?;
        entry.last_seen = Instant::now();
        Some(entry)
    }
}

impl Bus {
    /// The bus of a lobby on its own.
    pub(crate) fn local() -> Bus {
        Bus { link: None }
    }

    /// Connects to the NATS server and subscribes to the lobby's subjects.
    pub(crate) async fn connect(settings: &ClusterSettings) -> anyhow::Result<Bus> {
        let (connected_tx, connected) = mpsc::channel(4);
        let options = async_nats::ConnectOptions::new()
            .name(format!("gamestore-lobby {}", settings.node_id))
            // A node's own messages are delivered by the node itself.
            .no_echo()
            .connection_timeout(Duration::from_secs(5))
            .ping_interval(Duration::from_secs(10))
            .event_callback(move |event| {
                let connected_tx = connected_tx.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            let _ = connected_tx.try_send(());
                        }
                        async_nats::Event::Disconnected => {
                            tracing::warn!("lost the NATS server; reconnecting")
                        }
                        other => tracing::warn!(event = %other, "NATS"),
                    }
                }
            });
        let client = options.connect(settings.nats_url.as_str()).await.map_err(|e| {
            anyhow::anyhow!("cannot connect to the NATS server {}: {e}", settings.nats_url)
        })?;
        let prefix = &settings.subject_prefix;
        let mut subscriptions = Vec::new();
        let node = &settings.node_id;
        let own = [format!("conn.{node}"), format!("roomreq.{node}")];
        let shared = ["state.*", "rooms.*", "node.*", "chat.lobby", "session.revoke"];
        for rest in shared.iter().map(|s| s.to_string()).chain(own) {
            let subject = format!("{prefix}.{rest}");
            let subscription = client
                .subscribe(subject.clone())
                .await
                .map_err(|e| anyhow::anyhow!("cannot subscribe to {subject}: {e}"))?;
            subscriptions.push(subscription);
        }
        // Subscriptions are in place once the server has seen them.
        client.flush().await.map_err(|e| anyhow::anyhow!("NATS flush failed: {e}"))?;
        let (out, outbound) = mpsc::channel(OUTBOUND_QUEUE);
        tracing::info!(
            node = %settings.node_id,
            nats = %settings.nats_url,
            prefix = %settings.subject_prefix,
            "joined the lobby's nodes over NATS"
        );
        let link = Link {
            settings: settings.clone(),
            client,
            out,
            resync: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            remote: Mutex::new(HashMap::new()),
            published_rooms: Mutex::new(BTreeMap::new()),
            parts: Mutex::new(Some(Parts { outbound, subscriptions, connected })),
        };
        Ok(Bus { link: Some(Arc::new(link)) })
    }

    /// The NATS connection, for fetching package files from the other nodes.
    pub(crate) fn nats(&self) -> Option<crate::replicas::Nats> {
        let link = self.link.as_ref()?;
        Some(crate::replicas::Nats {
            client: link.client.clone(),
            prefix: link.settings.subject_prefix.clone(),
            node: link.settings.node_id.clone(),
        })
    }

    /// How many other nodes this node takes for alive.
    pub(crate) fn other_nodes(&self) -> usize {
        self.link.as_ref().map_or(0, |link| link.remote().len())
    }

    /// Queues `body` for the other nodes on `P.rest`; false if the queue is full.
    pub(crate) fn queue_message(&self, rest: &str, body: &impl Serialize) -> bool {
        match &self.link {
            Some(link) => link.queue(rest, body),
            None => false,
        }
    }

    /// Where the hub reports who comes online and who leaves.
    pub(crate) fn presence_sink(&self) -> PresenceSink {
        PresenceSink { link: self.link.clone() }
    }

    /// Players online on the other nodes (a player on several nodes is
    /// listed once), unsorted.
    pub(crate) fn remote_players(&self) -> Vec<(AccountId, String)> {
        let Some(link) = &self.link else { return Vec::new() };
        let remote = link.remote();
        let mut seen = std::collections::HashSet::new();
        remote
            .values()
            .flat_map(|node| node.players.iter())
            .filter(|(id, _)| seen.insert(**id))
            .map(|(id, name)| (*id, name.clone()))
            .collect()
    }

    /// The rooms of the other nodes, unsorted.
    pub(crate) fn remote_rooms(&self) -> Vec<(String, RoomInfo)> {
        let Some(link) = &self.link else { return Vec::new() };
        let remote = link.remote();
        remote
            .iter()
            .flat_map(|(node, entry)| entry.rooms.values().map(move |r| (node.clone(), r.clone())))
            .collect()
    }

    /// The node that owns room `id`, if another node said it does.
    pub(crate) fn room_owner(&self, id: RoomId) -> Option<String> {
        let link = self.link.as_ref()?;
        let remote = link.remote();
        remote.iter().find(|(_, entry)| entry.rooms.contains_key(&id)).map(|(n, _)| n.clone())
    }

    /// Sends a room request to node `owner` and waits for its answer, at
    /// most [`crate::remote_rooms::FORWARD_TIMEOUT`]; `None` without one.
    pub(crate) async fn room_request(&self, owner: &str, body: Vec<u8>) -> Option<Vec<u8>> {
        let link = self.link.as_ref()?;
        let subject = link.subject(&format!("roomreq.{owner}"));
        let request = link.client.request(subject, body.into());
        match tokio::time::timeout(crate::remote_rooms::FORWARD_TIMEOUT, request).await {
            Ok(Ok(message)) => Some(message.payload.to_vec()),
            Ok(Err(e)) => {
                tracing::warn!(owner, error = %e, "a room request to another node failed");
                None
            }
            Err(_) => {
                tracing::warn!(owner, "a room request to another node timed out");
                None
            }
        }
    }

    /// Sends a room request to node `owner` without waiting for an answer.
    pub(crate) fn room_tell(&self, owner: &str, body: Vec<u8>) {
        let Some(link) = &self.link else { return };
        let subject = link.subject(&format!("roomreq.{owner}"));
        if link.out.try_send(Outbound::Message(subject, body)).is_err() {
            tracing::warn!(owner, "a room notice to another node was dropped: queue full");
        }
    }

    /// An outbox for a member of this node's room whose connection `conn`
    /// is on node `node`: what it is sent goes to that node over NATS, in
    /// order. `None` on a lobby on its own.
    pub(crate) fn guest_outbox(
        &self,
        node: &str,
        conn: crate::hub::ConnId,
    ) -> Option<crate::hub::Outbox> {
        let link = self.link.clone()?;
        let (tx, mut rx) = mpsc::channel(crate::connection::OUTBOX_CAPACITY);
        let subject = link.subject(&format!("conn.{node}"));
        tokio::spawn(async move {
            // Ends once the room and the registry dropped the outbox.
            while let Some(item) = rx.recv().await {
                let frame = match item {
                    crate::hub::Outgoing::Frame(frame) => frame,
                    crate::hub::Outgoing::Bulk(..) => continue,
                    crate::hub::Outgoing::Close => break,
                };
                if frame.is_empty() {
                    continue;
                }
                if frame.len() + 8 > MAX_PAYLOAD {
                    tracing::warn!(len = frame.len(), "a frame too large for the bus was dropped");
                    continue;
                }
                let bytes = crate::remote_rooms::envelope(conn, &frame);
                if let Err(e) = link.client.publish(subject.clone(), bytes.into()).await {
                    tracing::warn!(error = %e, "cannot forward a frame to another node");
                }
            }
        });
        Some(crate::hub::Outbox::new(tx))
    }

    /// Lobby chat: to this node's players now, and to the other nodes'.
    pub(crate) fn lobby_chat(&self, lobby: &Lobby, message: ChatMessage) {
        if let Some(link) = &self.link {
            let body = LobbyChat { node: link.node().to_owned(), message: message.clone() };
            if !link.queue("chat.lobby", &body) {
                let dropped = link.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(dropped, "lobby chat not sent to the other nodes: queue full");
            }
        }
        lobby.hub.broadcast_to_players(&Event::Chat(message));
    }

    /// The account's session changed on this node (login, logout, ban):
    /// the other nodes close that account's connections whose session
    /// has ended, telling them `reason`.
    pub(crate) fn session_changed(&self, account: AccountId, reason: &str) {
        let Some(link) = &self.link else { return };
        let body = Revoke { node: link.node().to_owned(), account, reason: reason.to_owned() };
        if !link.queue("session.revoke", &body) {
            tracing::warn!(account, "session change not sent to the other nodes: queue full");
        }
    }
}

/// Runs the node's side of the bus until shutdown: publishes what is
/// queued and a heartbeat, and applies what the other nodes publish.
/// Returns at once on a lobby on its own.
pub(crate) async fn serve(lobby: Arc<Lobby>, shutdown: Shutdown) {
    let Some(link) = lobby.bus.link.clone() else { return };
    let Some(parts) = link.parts.lock().unwrap_or_else(|p| p.into_inner()).take() else { return };
    let Parts { mut outbound, subscriptions, mut connected } = parts;
    let mut incoming = futures_util::stream::select_all(subscriptions);
    let mut tick = tokio::time::interval(link.settings.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let revocations = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_REVOCATIONS));
    let starts = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_ROOM_STARTS));
    let mut rooms_tick = tokio::time::interval(ROOMS_TICK);
    rooms_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Our state for the others, then a hello so they send theirs.
    announce(&link);
    loop {
        tokio::select! {
            _ = shutdown.recv() => break,
            Some(item) = outbound.recv() => publish(&lobby, &link, item).await,
            Some(message) = incoming.next() => {
                receive(&lobby, &link, message, &revocations, &starts).await;
            }
            Some(()) = connected.recv() => {
                // After a reconnection the others may have missed our
                // changes and we theirs.
                announce(&link);
            }
            _ = tick.tick() => heartbeat(&lobby, &link),
            _ = rooms_tick.tick() => publish_rooms(&lobby, &link).await,
        }
    }
    // Whatever is queued, then goodbye.
    while let Ok(item) = outbound.try_recv() {
        publish(&lobby, &link, item).await;
    }
    let bye = serde_json::to_vec(&NodeMessage { node: link.node().to_owned() }).unwrap_or_default();
    let _ = link.client.publish(link.subject("node.bye"), bye.into()).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), link.client.flush()).await;
}

fn announce(link: &Link) {
    if link.out.try_send(Outbound::Snapshot).is_err() {
        link.resync.store(true, Ordering::Release);
    }
    link.queue("node.hello", &NodeMessage { node: link.node().to_owned() });
}

fn heartbeat(lobby: &Arc<Lobby>, link: &Link) {
    if link.resync.swap(false, Ordering::AcqRel) && link.out.try_send(Outbound::Snapshot).is_err() {
        link.resync.store(true, Ordering::Release);
    }
    link.queue("node.heartbeat", &NodeMessage { node: link.node().to_owned() });
    let timeout = link.settings.node_timeout;
    let mut dead = Vec::new();
    link.remote().retain(|node, entry| {
        let alive = entry.last_seen.elapsed() < timeout;
        if !alive {
            tracing::warn!(
                node,
                players = entry.players.len(),
                rooms = entry.rooms.len(),
                "a node went silent; its players are offline"
            );
            dead.push((node.clone(), std::mem::take(&mut entry.rooms)));
        }
        alive
    });
    for (node, rooms) in dead {
        lobby.xrooms.node_gone(lobby, &node, &rooms);
        tokio::spawn(abort_matches_of_dead_node(lobby.clone(), node));
    }
    lobby.xrooms.prune(lobby);
}

/// Records the open matches of a node taken for dead as aborted. Every
/// surviving node does it; only rows still open change, so each match is
/// aborted once whichever node gets there first.
async fn abort_matches_of_dead_node(lobby: Arc<Lobby>, node: String) {
    let message = crate::MATCH_ABORTED_NODE_DIED;
    match lobby.db.abort_open_matches(Some(&node), crate::now(), message).await {
        Ok(0) => {}
        Ok(aborted) => {
            tracing::warn!(
                node,
                aborted,
                "the open matches of a dead node were recorded as aborted"
            )
        }
        Err(e) => {
            tracing::error!(node, error = %e, "cannot record a dead node's matches as aborted")
        }
    }
}

async fn publish(lobby: &Lobby, link: &Link, item: Outbound) {
    let state = link.subject(&format!("state.{}", link.node()));
    let messages: Vec<(String, Vec<u8>)> = match item {
        Outbound::Message(subject, bytes) => vec![(subject, bytes)],
        Outbound::Presence(change) => {
            vec![(state, serde_json::to_vec(&change).unwrap_or_default())]
        }
        Outbound::Snapshot => {
            let players = lobby.hub.online_players();
            let mut messages = vec![(state.clone(), encode(&StateMessage::Reset))];
            for batch in players.chunks(SNAPSHOT_BATCH) {
                let players = batch
                    .iter()
                    .map(|(account, name)| PresentPlayer { account: *account, name: name.clone() })
                    .collect();
                messages.push((state.clone(), encode(&StateMessage::Online { players })));
            }
            // The rooms too, from scratch.
            let rooms = link.subject(&format!("rooms.{}", link.node()));
            let mut published = link.published_rooms.lock().unwrap_or_else(|p| p.into_inner());
            *published = lobby.rooms.list().into_iter().map(|r| (r.id, r)).collect();
            messages.push((rooms.clone(), rooms_json(&RoomsMessage::Reset)));
            let all: Vec<RoomInfo> = published.values().cloned().collect();
            for batch in all.chunks(ROOMS_BATCH) {
                let upsert = RoomsMessage::Upsert { rooms: batch.to_vec() };
                messages.push((rooms.clone(), rooms_json(&upsert)));
            }
            messages
        }
    };
    for (subject, bytes) in messages {
        if let Err(e) = link.client.publish(subject, bytes.into()).await {
            tracing::warn!(error = %e, "cannot publish to NATS");
            link.resync.store(true, Ordering::Release);
        }
    }
}

fn rooms_json(message: &RoomsMessage) -> Vec<u8> {
    serde_json::to_vec(message).unwrap_or_default()
}

/// Publishes what changed in this node's rooms since the last time. Runs
/// on the bus task, as snapshots do, so the rooms subject stays in order.
async fn publish_rooms(lobby: &Lobby, link: &Link) {
    let now: BTreeMap<RoomId, RoomInfo> =
        lobby.rooms.list().into_iter().map(|r| (r.id, r)).collect();
    let (changed, gone) = {
        let mut published = link.published_rooms.lock().unwrap_or_else(|p| p.into_inner());
        let changed: Vec<RoomInfo> =
            now.values().filter(|r| published.get(&r.id) != Some(*r)).cloned().collect();
        let gone: Vec<RoomId> =
            published.keys().filter(|id| !now.contains_key(id)).copied().collect();
        if changed.is_empty() && gone.is_empty() {
            return;
        }
        *published = now;
        (changed, gone)
    };
    let subject = link.subject(&format!("rooms.{}", link.node()));
    let mut messages = Vec::new();
    for batch in gone.chunks(ROOMS_BATCH * 10) {
        messages.push(rooms_json(&RoomsMessage::Gone { rooms: batch.to_vec() }));
    }
    for batch in changed.chunks(ROOMS_BATCH) {
        messages.push(rooms_json(&RoomsMessage::Upsert { rooms: batch.to_vec() }));
    }
    for bytes in messages {
        if let Err(e) = link.client.publish(subject.clone(), bytes.into()).await {
            tracing::warn!(error = %e, "cannot publish rooms to NATS");
            link.resync.store(true, Ordering::Release);
        }
    }
}

fn encode(message: &StateMessage) -> Vec<u8> {
    serde_json::to_vec(message).unwrap_or_default()
}

async fn receive(
    lobby: &Arc<Lobby>,
    link: &Link,
    message: async_nats::Message,
    revocations: &Arc<tokio::sync::Semaphore>,
    starts: &Arc<tokio::sync::Semaphore>,
) {
    if message.payload.len() > MAX_PAYLOAD {
        return;
    }
    let prefix_len = link.settings.subject_prefix.len() + 1;
    let Some(rest) = message.subject.as_str().get(prefix_len..) else { return };
    let payload = &message.payload[..];
    let problem = match rest {
        "chat.lobby" => match serde_json::from_slice::<LobbyChat>(payload) {
            Ok(chat) => {
                lobby.hub.broadcast_to_players(&Event::Chat(chat.message));
                None
            }
            Err(e) => Some(e),
        },
        "session.revoke" => match serde_json::from_slice::<Revoke>(payload) {
            Ok(revoke) => {
                let Ok(permit) = revocations.clone().acquire_owned().await else { return };
                let lobby = lobby.clone();
                tokio::spawn(async move {
                    close_ended_sessions(&lobby, revoke).await;
                    drop(permit);
                });
                None
            }
            Err(e) => Some(e),
        },
        "node.hello" | "node.heartbeat" | "node.bye" => {
            match serde_json::from_slice::<NodeMessage>(payload) {
                Ok(NodeMessage { node }) if node != link.node() => {
                    let mut remote = link.remote();
                    match rest {
                        "node.bye" => {
                            if let Some(entry) = remote.remove(&node) {
                                drop(remote);
                                tracing::info!(node, "another node stopped");
                                lobby.xrooms.node_gone(lobby, &node, &entry.rooms);
                            }
                        }
                        "node.hello" => {
                            // A new node, or one back on NATS: it needs our state.
                            remote.remove(&node);
                            Link::seen(&mut remote, &node);
                            drop(remote);
                            if link.out.try_send(Outbound::Snapshot).is_err() {
                                link.resync.store(true, Ordering::Release);
                            }
                        }
                        _ => {
                            Link::seen(&mut remote, &node);
                        }
                    }
                    None
                }
                Ok(_) => None,
                Err(e) => Some(e),
            }
        }
        _ if rest.strip_prefix("conn.") == Some(link.node()) => {
            if let Some((conn, frame)) = crate::remote_rooms::open_envelope(payload) {
                lobby.xrooms.seats.deliver(conn, frame);
            }
            None
        }
        _ if rest.strip_prefix("roomreq.") == Some(link.node()) => {
            match serde_json::from_slice::<crate::remote_rooms::RoomCall>(payload) {
                Ok(call) => {
                    room_call(lobby, link, call, message.reply.clone(), starts);
                    None
                }
                Err(e) => Some(e),
            }
        }
        _ => {
            if let Some(node) = rest.strip_prefix("rooms.") {
                match serde_json::from_slice(payload) {
                    Ok(rooms) if node != link.node() => {
                        apply_rooms(link, node, rooms);
                        None
                    }
                    Ok(_) => None,
                    Err(e) => Some(e),
                }
            } else {
                match rest.strip_prefix("state.") {
                    Some(node) if node != link.node() => match serde_json::from_slice(payload) {
                        Ok(state) => {
                            apply_state(link, node, state);
                            None
                        }
                        Err(e) => Some(e),
                    },
                    _ => None,
                }
            }
        }
    };
    if let Some(e) = problem {
        tracing::warn!(subject = %message.subject, error = %e, "ignored a bad message from the bus");
    }
}

/// Serves a room request of another node's player. Requests are applied
/// in the order they arrive (a join before that connection's leave);
/// only a match start, which waits for the database, runs on its own task,
/// a bounded number at once.
fn room_call(
    lobby: &Arc<Lobby>,
    link: &Link,
    call: crate::remote_rooms::RoomCall,
    reply: Option<async_nats::Subject>,
    starts: &Arc<tokio::sync::Semaphore>,
) {
    let client = link.client.clone();
    let answer = move |answer: crate::remote_rooms::Answer| async move {
        if let Some(reply) = reply {
            let bytes = serde_json::to_vec(&answer).unwrap_or_default();
            if let Err(e) = client.publish(reply, bytes.into()).await {
                tracing::warn!(error = %e, "cannot answer another node's room request");
            }
        }
    };
    let lobby = lobby.clone();
    if matches!(call.op, crate::remote_rooms::RoomOp::Start) {
        let Ok(permit) = starts.clone().try_acquire_owned() else {
            let busy = gamestore_protocol::WireError::new(
                gamestore_protocol::ErrorCode::ServerBusy,
                "too many matches are starting on this room's lobby node; retry",
            );
            tokio::spawn(answer(crate::remote_rooms::Answer::Err(busy)));
            return;
        };
        tokio::spawn(async move {
            let result = crate::remote_rooms::serve_call(&lobby, call).await;
            drop(permit);
            answer(result).await;
        });
        return;
    }
    // Everything but a start is answered without waiting.
    let result =
        futures_util::FutureExt::now_or_never(crate::remote_rooms::serve_call(&lobby, call));
    if let Some(result) = result {
        tokio::spawn(answer(result));
    }
}

fn apply_rooms(link: &Link, node: &str, message: RoomsMessage) {
    let mut remote = link.remote();
    let Some(entry) = Link::seen(&mut remote, node) else { return };
    match message {
        RoomsMessage::Reset => entry.rooms.clear(),
        RoomsMessage::Upsert { rooms } => {
            for room in rooms {
                if entry.rooms.len() < MAX_ROOMS_PER_NODE || entry.rooms.contains_key(&room.id) {
                    entry.rooms.insert(room.id, room);
                }
            }
        }
        RoomsMessage::Gone { rooms } => {
            for id in rooms {
                entry.rooms.remove(&id);
            }
        }
    }
}

fn apply_state(link: &Link, node: &str, state: StateMessage) {
    let mut remote = link.remote();
    let Some(entry) = Link::seen(&mut remote, node) else { return };
    match state {
        StateMessage::Reset => entry.players.clear(),
        StateMessage::Online { players } => {
            for player in players {
                if entry.players.len() < MAX_PLAYERS_PER_NODE
                    || entry.players.contains_key(&player.account)
                {
                    entry.players.insert(player.account, player.name);
                }
            }
        }
        StateMessage::Offline { account } => {
            entry.players.remove(&account);
        }
    }
}

/// Closes this node's connections of `revoke.account` whose session the
/// database no longer holds (a login elsewhere replaced it, a logout or a
/// ban deleted it).
async fn close_ended_sessions(lobby: &Lobby, revoke: Revoke) {
    let sessions = lobby.hub.sessions_of(revoke.account);
    if sessions.is_empty() {
        return;
    }
    let now = crate::now();
    let expiry = now + lobby.config.timeouts.session_ttl.as_secs() as i64;
    for token_hash in sessions {
        match lobby.db.touch_session(&token_hash, now, expiry).await {
            Ok(Some(record)) if record.account.id == revoke.account => {}
            Ok(_) => {
                let event = SessionRevoked { reason: revoke.reason.clone() }.into();
                let closed = lobby.hub.revoke_session(revoke.account, &token_hash, event);
                tracing::info!(
                    account = revoke.account,
                    from = %revoke.node,
                    closed,
                    "closed connections of a session ended on another node"
                );
            }
            Err(e) => tracing::warn!(error = %e, "cannot check a session ended on another node"),
        }
    }
}
