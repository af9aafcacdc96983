//! The records storage returns and takes, the same for every backend.

/// Row id of an account.
pub type AccountId = i64;

/// The kind of account. The same name may exist once per role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Player,
    Developer,
}

impl Role {
    /// The role's stored name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Player => "player",
            Role::Developer => "developer",
        }
    }

    pub(crate) fn from_stored(s: &str) -> Role {
        if s == "developer" { Role::Developer } else { Role::Player }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub role: Role,
    pub name: String,
    pub password_hash: String,
    pub created_at: i64,
}

/// A live session found by its token hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub account: Account,
    pub expires_at: i64,
}

/// An admin account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminRecord {
    pub id: i64,
    pub name: String,
    pub password_hash: String,
}

/// A signed-in admin: who, and the session's anti-forgery token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSession {
    pub admin: AdminRecord,
    /// Every form posted in this session must carry it.
    pub csrf: String,
    pub expires_at: i64,
}

/// Why and by whom an account is banned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanRecord {
    pub reason: String,
    pub by: String,
    pub at: i64,
}

/// An account with its ban, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    pub account: Account,
    pub ban: Option<BanRecord>,
}

/// One recorded admin action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub at: i64,
    pub admin: String,
    /// What was done, e.g. `ban`, `unban`, `delist`, `stop_match`.
    pub action: String,
    /// What it was done to, e.g. `player:alice`, `game:chess`, `match:12`.
    pub target: String,
    pub detail: String,
}

/// How the catalog is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CatalogSort {
    /// By name, A to Z.
    #[default]
    Name,
    /// Best average rating first; unrated games last.
    Rating,
    /// Most recently published (first version) first.
    Newest,
}

/// One page request.
#[derive(Debug, Clone, Default)]
pub struct CatalogQuery {
    /// Words to find in the id, name or description (case-insensitive);
    /// empty for every game.
    pub search: String,
    pub sort: CatalogSort,
    pub offset: u32,
    pub limit: u32,
}

/// A game as the store shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct GameRecord {
    pub id: String,
    pub owner_id: AccountId,
    /// The owner's account name.
    pub owner: String,
    pub name: String,
    pub description: String,
    /// "cli", "gui" or "plugin".
    pub kind: String,
    pub min_players: u32,
    pub max_players: u32,
    pub latest_version: String,
    pub listed: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// Every version, in publishing order (which is semver order).
    pub versions: Vec<String>,
    /// Average rating, one decimal; `None` until reviewed.
    pub rating: Option<f64>,
    pub reviews: u32,
}

/// One published version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRecord {
    pub game_id: String,
    pub version: String,
    /// The manifest as JSON.
    pub manifest: String,
    /// The per-file listing as JSON.
    pub files: String,
    /// The zip's size and SHA-256; 0 and empty while a signed, chunked
    /// version has not been packed yet (its zip is made on first demand).
    pub package_size: u64,
    pub package_sha256: String,
    pub unpacked_bytes: u64,
    pub published_at: i64,
}

impl VersionRecord {
    /// What a player downloads at most: the zip once it is packed, else the
    /// files themselves (a chunked install moves less where chunks compress).
    pub fn download_bytes(&self) -> u64 {
        if self.package_sha256.is_empty() { self.unpacked_bytes } else { self.package_size }
    }
}

/// What publishing a version writes.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub owner_id: AccountId,
    pub name: String,
    pub description: String,
    pub kind: String,
    pub min_players: u32,
    pub max_players: u32,
    pub version: VersionRecord,
}

/// The node id recorded for the matches of a lobby on its own (and for
/// matches recorded before match rows carried a node).
pub const LOCAL_NODE: &str = "local";

/// How a match ended, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchEnd {
    pub ended_at: i64,
    /// "completed", "failed", "crashed", "timeout", "never_started" or "aborted".
    pub outcome: String,
    pub exit_code: Option<i32>,
    /// What the game server reported (JSON), if anything.
    pub result: Option<String>,
    /// For people: what happened (the MATCH_ENDED message), if recorded.
    pub message: Option<String>,
}

/// A match with its players.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchRecord {
    pub id: i64,
    pub game_id: String,
    pub game_name: String,
    pub version: String,
    pub room_id: i64,
    /// The lobby node that runs (or ran) the match: its `--node-id`, or
    /// [`LOCAL_NODE`] for a lobby on its own.
    pub node: String,
    pub started_at: i64,
    pub end: Option<MatchEnd>,
    pub players: Vec<String>,
}

/// A review with its author's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewRecord {
    pub player: String,
    pub rating: u8,
    pub text: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Where a review sorts in its game's list (newest written first): the key
/// a page of reviews continues after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewPosition {
    pub updated_at: i64,
    /// Write order: an edit moves a review to the top.
    pub seq: i64,
}

/// One key a developer registered, oldest first in
/// [`crate::Storage::developer_keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeveloperKey {
    /// Hex of the Ed25519 public key.
    pub key: String,
    pub added_at: i64,
    /// The rotation statement (JSON) and its signature by the previous key;
    /// `None` for the first key.
    pub rotation: Option<(String, String)>,
}
