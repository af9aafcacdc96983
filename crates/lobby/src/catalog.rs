//! The store catalog: every listed game, sorted and already encoded, so a
//! STORE_LIST page costs a binary search and a copy of its items' JSON,
//! whatever the size of the catalog.
//!
//! The catalog is built from the database on first use. A change to one game
//! (a publish, a delist or relist, a review that moves its rating) refreshes
//! that game's entry only, reading it back after the change is committed;
//! readers never wait for a rebuild of the whole store.

use std::sync::{Arc, Mutex};

use gamestore_protocol::{GameKind, GameSummary, PAGE_BYTES};
use gamestore_storage::{GameRecord, Storage, StorageError};
use serde_json::value::RawValue;

use crate::paging::encode_cursor;

/// Whether a game is in the store (a delisted game stays installable by
/// those who have it, and playable in matches already running).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    Listed,
    Delisted,
}

impl Listing {
    pub fn is_listed(self) -> bool {
        self == Listing::Listed
    }
}

/// A stored game as the protocol shows it.
pub(crate) fn summary(game: GameRecord) -> GameSummary {
    GameSummary {
        kind: match game.kind.as_str() {
            "gui" => GameKind::Gui,
            "plugin" => GameKind::Plugin,
            _ => GameKind::Cli,
        },
        id: game.id,
        name: game.name,
        author: game.owner,
        version: game.latest_version,
        description: game.description,
        min_players: game.min_players,
        max_players: game.max_players,
        listed: game.listed,
        versions: game.versions,
        rating: game.rating,
        reviews: game.reviews,
        created_at: game.created_at,
        updated_at: game.updated_at,
        fingerprint: None,
    }
}

/// True for a launcher plugin: plugins are listed by PLUGIN_LIST, never in the store.
pub fn is_plugin(game: &GameRecord) -> bool {
    game.kind == "plugin"
}

/// Where a game sorts in the store: by name (ASCII case folded, as the
/// database compares names), then id. Also the STORE_LIST cursor.
pub(crate) type StoreKey = (String, String);

pub(crate) fn store_key(name: &str, id: &str) -> StoreKey {
    (name.to_ascii_lowercase(), id.to_owned())
}

struct Entry {
    key: StoreKey,
    json: Box<RawValue>,
}

impl Entry {
    fn new(game: GameRecord) -> Entry {
        let key = store_key(&game.name, &game.id);
        let json =
            serde_json::value::to_raw_value(&summary(game)).expect("a game summary serializes");
        Entry { key, json }
    }
}

/// Listed games by [`StoreKey`]; see the module documentation.
#[derive(Default)]
pub(crate) struct Catalog {
    /// `None` until first used. Entries are shared between snapshots, so
    /// replacing one game copies pointers, not JSON.
    entries: tokio::sync::Mutex<Option<Arc<Vec<Arc<Entry>>>>>,
    /// Files per (game, version), for GAME_INFO: a version never changes,
    /// and counting means parsing its whole listing (megabytes for a large
    /// package), so each is counted once.
    file_counts: Mutex<std::collections::HashMap<(String, String), u64>>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Catalog { .. }")
    }
}

impl Catalog {
    /// The JSON of a STORE_LIST reply: the page of at most `limit` games
    /// after `after`, and `next_cursor` when more follow.
    pub(crate) async fn page(
        &self,
        db: &Storage,
        after: Option<&StoreKey>,
        limit: usize,
    ) -> Result<Vec<u8>, StorageError> {
        let entries = self.entries(db).await?;
        let start = after.map_or(0, |key| entries.partition_point(|e| &e.key <= key));
        let mut out = Vec::with_capacity(4096);
        out.extend_from_slice(b"{\"games\":[");
        let (mut taken, mut bytes) = (0, 0);
        for entry in &entries[start..] {
            let json = entry.json.get().as_bytes();
            if taken > 0 && (taken >= limit || bytes + json.len() > PAGE_BYTES) {
                let cursor = encode_cursor(&entries[start + taken - 1].key);
                out.extend_from_slice(b"],\"next_cursor\":\"");
                out.extend_from_slice(cursor.as_bytes());
                out.extend_from_slice(b"\"}");
                return Ok(out);
            }
            if taken > 0 {
                out.push(b',');
            }
            out.extend_from_slice(json);
            taken += 1;
            bytes += json.len();
        }
        out.extend_from_slice(b"]}");
        Ok(out)
    }

    /// How many files `version` holds.
    pub(crate) fn file_count(&self, version: &gamestore_storage::VersionRecord) -> u64 {
        let key = (version.game_id.clone(), version.version.clone());
        let counts = || self.file_counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts().get(&key) {
            return *n;
        }
        let n =
            crate::games_area::stored_listing(&version.files).map(|l| l.len() as u64).unwrap_or(0);
        counts().insert(key, n);
        n
    }

    /// Re-reads game `id` after a committed change to it. A failure leaves
    /// the catalog to be rebuilt from the database on next use.
    pub(crate) async fn game_changed(&self, db: &Storage, id: &str) {
        let mut slot = self.entries.lock().await;
        let Some(current) = slot.as_ref() else {
            return;
        };
        // Read under the lock: of two racing changes, the one applied last
        // read the database after both were committed.
        let game = match db.game(id).await {
            Ok(game) => game,
            Err(e) => {
                tracing::warn!(game = id, error = %e, "store catalog will be rebuilt");
                *slot = None;
                return;
            }
        };
        let mut entries: Vec<Arc<Entry>> =
            current.iter().filter(|e| e.key.1 != id).cloned().collect();
        if let Some(game) = game.filter(|g| g.listed && !is_plugin(g)) {
            let entry = Entry::new(game);
            let at = entries.partition_point(|e| e.key < entry.key);
            entries.insert(at, Arc::new(entry));
        }
        *slot = Some(Arc::new(entries));
    }

    async fn entries(&self, db: &Storage) -> Result<Arc<Vec<Arc<Entry>>>, StorageError> {
        let mut slot = self.entries.lock().await;
        if let Some(entries) = slot.as_ref() {
            return Ok(entries.clone());
        }
        let mut entries: Vec<Arc<Entry>> = db
            .listed_games()
            .await?
            .into_iter()
            .filter(|g| !is_plugin(g))
            .map(|g| Arc::new(Entry::new(g)))
            .collect();
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        let entries = Arc::new(entries);
        *slot = Some(entries.clone());
        Ok(entries)
    }
}
