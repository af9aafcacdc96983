//! The data carried by requests, replies and events.
//!
//! Field names are the wire names (snake_case). Optional fields are omitted
//! when absent, and unknown fields are ignored, so either side may add fields
//! without breaking the other.

use serde::{Deserialize, Serialize};

/// The protocol version this build speaks; sent in HELLO.
pub const PROTOCOL_VERSION: u32 = 1;

/// The two kinds of account. A name may exist once in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Player,
    Developer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Player => "player",
            Role::Developer => "developer",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An empty payload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The protocol version the client speaks ([`PROTOCOL_VERSION`]).
    pub protocol: u32,
    /// Free text naming the client program and version, for the lobby's log.
    pub client: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloReply {
    pub protocol: u32,
    /// The lobby's program name and version.
    pub server: String,
}

/// Account name and password, as REGISTER, LOGIN, DEV_REGISTER and DEV_LOGIN carry them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).finish_non_exhaustive()
    }
}

macro_rules! credential_requests {
    ($($(#[$doc:meta])* $name:ident,)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Credentials);

        impl $name {
            pub fn new(user: impl Into<String>, password: impl Into<String>) -> $name {
                $name(Credentials { user: user.into(), password: password.into() })
            }
        }
    )*};
}

credential_requests! {
    /// REGISTER: create a player account.
    Register,
    /// LOGIN: log in as a player.
    Login,
    /// DEV_REGISTER: create a developer account.
    DevRegister,
    /// DEV_LOGIN: log in as a developer.
    DevLogin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountReply {
    pub user: String,
    pub role: Role,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    /// The token a LOGIN or DEV_LOGIN returned.
    pub token: String,
}

impl std::fmt::Debug for Resume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resume { .. }")
    }
}

/// A session: who, and the secret token that resumes it on a new connection.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionReply {
    pub user: String,
    pub role: Role,
    pub token: String,
    /// When the session expires if unused, seconds since the Unix epoch.
    pub expires_at: i64,
}

impl std::fmt::Debug for SessionReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionReply")
            .field("user", &self.user)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logout {}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Whoami {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhoamiReply {
    pub user: String,
    pub role: Role,
    /// When the account was created, seconds since the Unix epoch.
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRevoked {
    /// Why, for people: "logged in elsewhere", "logged out".
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerShutdown {
    pub message: String,
}

pub use gamestore_package::GameKind;

/// GAME_UPLOAD: announces a package upload. `size` bytes of zip follow as
/// binary frames carrying this request's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameUpload {
    /// The game id in the package's config.json.
    pub id: String,
    /// The version in the package's config.json.
    pub version: String,
    /// Exact size of the zip in bytes.
    pub size: u64,
    /// SHA-256 of the zip, 64 lowercase hex digits.
    pub sha256: String,
}

/// The lobby accepts the announced upload: send the bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadReady {
    /// Largest payload per binary frame.
    pub max_chunk: u32,
}

/// GAME_UPLOAD_DONE: ends the upload started by request `upload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameUploadDone {
    /// The id of the GAME_UPLOAD request.
    pub upload: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishReply {
    pub id: String,
    pub version: String,
    /// True when this upload created the game.
    pub created: bool,
    /// Files in the package.
    pub files: u64,
    /// Unpacked size in bytes.
    pub unpacked_bytes: u64,
}

/// MY_GAMES: a page of the developer's games, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MyGames {
    /// Where to continue: the `next_cursor` of the previous page; absent
    /// for the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Most items on the page (default 50, at most 200); the lobby may
    /// return fewer so that the page fits in one frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// STORE_LIST: a page of the listed games, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreList {
    /// Where to continue: the `next_cursor` of the previous page; absent
    /// for the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Most items on the page (default 50, at most 200); the lobby may
    /// return fewer so that the page fits in one frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameDelist {
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameRelist {
    pub id: String,
}

/// A game as the store and its developer see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GameSummary {
    pub id: String,
    pub name: String,
    /// The developer's account name.
    pub author: String,
    /// The latest version.
    pub version: String,
    pub description: String,
    pub kind: GameKind,
    pub min_players: u32,
    pub max_players: u32,
    /// False once delisted.
    pub listed: bool,
    /// Every published version, oldest first.
    pub versions: Vec<String>,
    /// Average rating, one decimal; `null` until rated.
    pub rating: Option<f64>,
    /// Number of reviews.
    pub reviews: u32,
    pub created_at: i64,
    pub updated_at: i64,
    /// `SHA256:<hex>` of the developer's current signing key; `null` if none.
    #[serde(default)]
    pub fingerprint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GameListReply {
    pub games: Vec<GameSummary>,
    /// The cursor of the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameInfo {
    pub id: String,
}

/// One published version as the store describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    pub version: String,
    pub published_at: i64,
    /// Size of the zip.
    pub package_size: u64,
    /// Size once installed.
    pub unpacked_bytes: u64,
    pub files: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GameInfoReply {
    pub game: GameSummary,
    /// Every version, oldest first.
    pub versions: Vec<VersionInfo>,
    /// The most recent reviews, newest first (see REVIEW_LIST for more).
    #[serde(default)]
    pub recent_reviews: Vec<Review>,
}

/// A player's review of a game.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub player: String,
    /// 1 to 5.
    pub rating: u8,
    pub text: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameFiles {
    pub id: String,
    pub version: String,
    /// Where to continue: the `next_cursor` of the previous page; absent
    /// for the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Most items on the page (default 2000, at most 5000); the lobby may
    /// return fewer so that the page fits in one frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl GameFiles {
    /// The first page of a version's listing.
    pub fn new(id: impl Into<String>, version: impl Into<String>) -> GameFiles {
        GameFiles { id: id.into(), version: version.into(), cursor: None, limit: None }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameFilesReply {
    pub id: String,
    pub version: String,
    /// This page of the listing, sorted by path.
    pub files: gamestore_package::FileList,
    pub package_size: u64,
    pub package_sha256: String,
    /// The cursor of the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// GAME_DOWNLOAD: without `files`, the version's zip from byte `offset` on
/// (to resume a cut download); with `files`, those files' contents one after
/// the other, in the order given (`offset` must then be 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameDownload {
    pub id: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<String>>,
    #[serde(default)]
    pub offset: u64,
}

/// The download starts: exactly `size` bytes follow as binary frames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadReady {
    pub size: u64,
}

/// Room ids are small numbers, unique while the lobby runs.
pub type RoomId = u64;

/// ONLINE_LIST: a page of the players online, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnlineList {
    /// Where to continue: the `next_cursor` of the previous page; absent
    /// for the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Most items on the page (default 200, at most 1000); the lobby may
    /// return fewer so that the page fits in one frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// What a player is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Activity {
    Idle,
    InRoom { room: RoomId, game: String },
    InMatch { room: RoomId, game: String, match_id: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnlinePlayer {
    pub name: String,
    pub activity: Activity,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnlineReply {
    pub players: Vec<OnlinePlayer>,
    /// The cursor of the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// ROOM_LIST: a page of the open rooms, by room id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomList {
    /// Where to continue: the `next_cursor` of the previous page; absent
    /// for the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Most items on the page (default 100, at most 500); the lobby may
    /// return fewer so that the page fits in one frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomState {
    /// Members gather; the host may start.
    Waiting,
    /// The game server is being started.
    Starting,
    /// A match is running.
    Playing,
}

impl RoomState {
    /// The state as it is spelled on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            RoomState::Waiting => "waiting",
            RoomState::Starting => "starting",
            RoomState::Playing => "playing",
        }
    }
}

/// A room as members and the room list see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    pub id: RoomId,
    pub game: String,
    pub game_name: String,
    /// The exact version the room plays.
    pub version: String,
    pub host: String,
    /// Member names, in joining order.
    pub members: Vec<String>,
    pub capacity: u32,
    pub min_players: u32,
    pub state: RoomState,
    /// The running match, when playing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_id: Option<i64>,
    /// Members whose lobby connection dropped: their seat is kept for the
    /// lobby's grace period, waiting for them to RESUME.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reconnecting: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomListReply {
    pub rooms: Vec<RoomInfo>,
    /// The cursor of the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomCreate {
    pub game: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomJoin {
    pub room: RoomId,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomLeave {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuickPlay {
    pub game: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatScope {
    Lobby,
    Room,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatSend {
    pub scope: ChatScope,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub scope: ChatScope,
    /// The room, for room chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<RoomId>,
    pub from: String,
    pub text: String,
    pub at: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameStartNotify {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchStarting {
    pub room: RoomId,
}

/// What happened in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomEventKind {
    Joined,
    Left,
    HostChanged,
    Starting,
    Started,
    Ended,
    /// The room's game was delisted: no new match can start in it (a
    /// running match finishes).
    Delisted,
    /// The room's game was listed again: matches can start again.
    Relisted,
    /// A member's connection dropped; their seat is kept for a grace period.
    Reconnecting,
    /// A member came back (RESUME) within the grace period.
    Reconnected,
    /// The room is gone for this member (its lobby node stopped): they are
    /// in no room now. `message` says why.
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomUpdate {
    pub event: RoomEventKind,
    /// The player the event is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub player: Option<String>,
    pub room: RoomInfo,
    /// Why, for `closed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// GAME_START: everything a launcher needs to run its game client.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameStart {
    pub match_id: i64,
    pub room: RoomId,
    pub game: String,
    pub version: String,
    /// Address of the game server, as players can reach it.
    pub host: String,
    pub port: u16,
    /// The match token the game server expects from its clients.
    pub token: String,
    pub players: Vec<String>,
    /// This player's seat: 0-based, in joining order (`players[seat]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<u32>,
    /// This player's numeric account id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub player_id: Option<i64>,
}

impl std::fmt::Debug for GameStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GameStart")
            .field("match_id", &self.match_id)
            .field("game", &self.game)
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameClientExited {
    pub match_id: i64,
    /// The client's exit code; null when it was killed by a signal or could not start.
    pub code: Option<i32>,
}

/// How a match ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchOutcome {
    /// The game server exited 0.
    Completed,
    /// The game server exited with an error code.
    Failed,
    /// The game server was killed by a signal.
    Crashed,
    /// The game server ran past the lobby's time limit and was stopped.
    Timeout,
    /// The game server did not start listening in time.
    NeverStarted,
    /// The lobby stopped during the match.
    Aborted,
}

impl MatchOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOutcome::Completed => "completed",
            MatchOutcome::Failed => "failed",
            MatchOutcome::Crashed => "crashed",
            MatchOutcome::Timeout => "timeout",
            MatchOutcome::NeverStarted => "never_started",
            MatchOutcome::Aborted => "aborted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchEnded {
    pub match_id: i64,
    pub room: RoomId,
    pub outcome: MatchOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// What the game server reported in its result file, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// For people: what happened.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchHistory {
    /// At most this many matches (default 50, at most 500); the lobby may
    /// return fewer so that the page fits in one frame.
    #[serde(default = "default_history_limit")]
    pub limit: u32,
    /// Where to continue: the `next_cursor` of the previous page; absent
    /// for the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

impl Default for MatchHistory {
    fn default() -> Self {
        MatchHistory { limit: default_history_limit(), cursor: None }
    }
}

fn default_history_limit() -> u32 {
    50
}

/// One match in a player's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchSummary {
    pub match_id: i64,
    pub game: String,
    pub game_name: String,
    pub version: String,
    pub players: Vec<String>,
    pub started_at: i64,
    /// Null while the match runs.
    pub ended_at: Option<i64>,
    pub duration_secs: Option<i64>,
    /// Null while the match runs; else as in MATCH_ENDED.
    pub outcome: Option<String>,
    /// What the game server reported, if anything.
    pub result: Option<serde_json::Value>,
    /// For people: what happened, as in MATCH_ENDED (absent while the match
    /// runs, and for matches recorded before the lobby kept it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchHistoryReply {
    pub matches: Vec<MatchSummary>,
    /// The cursor of the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Longest review text, in characters.
pub const MAX_REVIEW_CHARS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewSubmit {
    pub game: String,
    /// 1 to 5.
    pub rating: u8,
    /// Optional text, at most [`MAX_REVIEW_CHARS`] characters.
    #[serde(default)]
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewSubmitted {
    pub review: Review,
    /// False when this edited the player's earlier review.
    pub created: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewList {
    pub game: String,
    /// Reviews to skip, for the first page only (ignored with a `cursor`).
    #[serde(default)]
    pub offset: u32,
    /// At most this many (default 20, at most 100).
    #[serde(default = "default_review_page")]
    pub limit: u32,
    /// Where to continue: the `next_cursor` of the previous page; absent
    /// for the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

impl ReviewList {
    /// The first page of a game's reviews.
    pub fn new(game: impl Into<String>) -> ReviewList {
        ReviewList { game: game.into(), offset: 0, limit: default_review_page(), cursor: None }
    }
}

fn default_review_page() -> u32 {
    20
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewListReply {
    pub game: String,
    pub reviews: Vec<Review>,
    /// All reviews of the game.
    pub total: u32,
    /// Average rating, one decimal; null when unrated.
    pub rating: Option<f64>,
    /// The cursor of the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
