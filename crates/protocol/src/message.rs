//! Messages: the JSON carried by message frames.
//!
//! Three shapes travel on a connection:
//!
//! * a **request**, client to server: `{"id": 7, "type": "LOGIN", "data": {...}}`;
//! * a **reply**, server to client, exactly one per request, with the
//!   request's id: `{"id": 7, "type": "OK", "data": {...}}` or
//!   `{"id": 7, "type": "ERROR", "data": {"code": "WRONG_PASSWORD", "message": "..."}}`;
//! * an **event**, server to client at any time, without an id:
//!   `{"type": "SESSION_REVOKED", "data": {...}}`.
//!
//! Each request type is a struct implementing [`Call`], which names its wire
//! type and its reply type, so a client cannot mix them up and no message name
//! is spelled twice. The [`requests!`] and [`events!`] tables below are the
//! single list of every message; docs/PROTOCOL.md documents each.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::distribution::*;
use crate::error::{ErrorCode, WireError};
use crate::types::*;

/// A request type: its wire name and the type of its successful reply.
pub trait Call: Serialize + DeserializeOwned + Into<Request> {
    /// The `type` field on the wire.
    const NAME: &'static str;
    /// What the `data` of an `OK` reply decodes to.
    type Reply: Serialize + DeserializeOwned;
}

/// The envelope every message frame shares; `data` is decoded once `type`
/// is known.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<u32>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: Value,
}

/// [`Envelope`] borrowing its parts, for encoding without copying `data`.
#[derive(Serialize)]
struct EnvelopeRef<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u32>,
    #[serde(rename = "type")]
    kind: &'a str,
    data: &'a Value,
}

/// Decodes `data` into `T`, treating an absent `data` as an empty object so
/// that requests without fields may omit it.
fn decode_data<T: DeserializeOwned>(data: Value) -> Result<T, serde_json::Error> {
    let data = if data.is_null() { Value::Object(Default::default()) } else { data };
    serde_json::from_value(data)
}

macro_rules! requests {
    ($( $(#[$doc:meta])* $name:literal => $variant:ident($ty:ty) -> $reply:ty; )*) => {
        /// Every request a client may send.
        #[derive(Debug, Clone)]
        pub enum Request {
            $( $(#[$doc])* $variant($ty), )*
        }

        impl Request {
            /// Every request type name, in protocol order.
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            /// The wire name of this request.
            pub fn name(&self) -> &'static str {
                match self { $( Request::$variant(_) => $name, )* }
            }

            fn data(&self) -> Value {
                match self {
                    $( Request::$variant(body) => serde_json::to_value(body).expect("request serializes"), )*
                }
            }

            fn from_parts(kind: &str, data: Value) -> Result<Request, WireError> {
                match kind {
                    $( $name => decode_data::<$ty>(data).map(Request::$variant).map_err(|e| {
                        WireError::new(ErrorCode::BadRequest, format!("bad {}: {e}", $name))
                    }), )*
                    other => Err(WireError::new(
                        ErrorCode::UnknownCommand,
                        format!("unknown command {:?}", truncate(other, 64)),
                    )),
                }
            }
        }

        $(
            impl Call for $ty {
                const NAME: &'static str = $name;
                type Reply = $reply;
            }
            impl From<$ty> for Request {
                fn from(body: $ty) -> Request { Request::$variant(body) }
            }
        )*
    };
}

macro_rules! events {
    ($( $(#[$doc:meta])* $name:literal => $variant:ident($ty:ty); )*) => {
        /// Every event the server may push.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Event {
            $( $(#[$doc])* $variant($ty), )*
        }

        impl Event {
            /// Every event type name.
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            /// The wire name of this event.
            pub fn name(&self) -> &'static str {
                match self { $( Event::$variant(_) => $name, )* }
            }

            fn data(&self) -> Value {
                match self {
                    $( Event::$variant(body) => serde_json::to_value(body).expect("event serializes"), )*
                }
            }

            fn from_parts(kind: &str, data: Value) -> Result<Event, String> {
                match kind {
                    $( $name => decode_data::<$ty>(data).map(Event::$variant).map_err(|e| format!("bad {}: {e}", $name)), )*
                    other => Err(format!("unknown event {:?}", truncate(other, 64))),
                }
            }
        }

        $(
            impl From<$ty> for Event {
                fn from(body: $ty) -> Event { Event::$variant(body) }
            }
        )*
    };
}

requests! {
    /// First message on every connection: protocol version check.
    "HELLO" => Hello(Hello) -> HelloReply;
    /// Keeps an idle connection open; answered with an empty OK.
    "PING" => Ping(Ping) -> Empty;
    /// Create a player account.
    "REGISTER" => Register(Register) -> AccountReply;
    /// Log in as a player; starts a new session, revoking any older one.
    "LOGIN" => Login(Login) -> SessionReply;
    /// Create a developer account.
    "DEV_REGISTER" => DevRegister(DevRegister) -> AccountReply;
    /// Log in as a developer; starts a new session, revoking any older one.
    "DEV_LOGIN" => DevLogin(DevLogin) -> SessionReply;
    /// Attach this connection to an existing session by its token.
    "RESUME" => Resume(Resume) -> SessionReply;
    /// End the session: its token stops working everywhere.
    "LOGOUT" => Logout(Logout) -> Empty;
    /// Who this connection is logged in as.
    "WHOAMI" => Whoami(Whoami) -> WhoamiReply;
    /// Developer: announce a package upload. After the OK, the zip follows
    /// as binary frames with this request's id, then GAME_UPLOAD_DONE.
    "GAME_UPLOAD" => GameUpload(GameUpload) -> UploadReady;
    /// Developer: all bytes of the upload are sent; verify and publish.
    "GAME_UPLOAD_DONE" => GameUploadDone(GameUploadDone) -> PublishReply;
    /// Developer: my games, listed or not, a page at a time.
    "MY_GAMES" => MyGames(MyGames) -> GameListReply;
    /// Developer: take a game off the store.
    "GAME_DELIST" => GameDelist(GameDelist) -> GameSummary;
    /// Developer: put a delisted game back in the store.
    "GAME_RELIST" => GameRelist(GameRelist) -> GameSummary;
    /// The store: the listed games by name, a page at a time.
    "STORE_LIST" => StoreList(StoreList) -> GameListReply;
    /// One game's details and versions.
    "GAME_INFO" => GameInfo(GameInfo) -> GameInfoReply;
    /// The per-file listing of one version, for verifying and delta updates,
    /// a page at a time.
    "GAME_FILES" => GameFiles(GameFiles) -> GameFilesReply;
    /// Download a version: its zip, or the named files. The OK gives the
    /// byte count; the bytes follow as binary frames with this request's id.
    "GAME_DOWNLOAD" => GameDownload(GameDownload) -> DownloadReady;
    /// Players online and what each is doing, a page at a time.
    "ONLINE_LIST" => OnlineList(OnlineList) -> OnlineReply;
    /// Open rooms, a page at a time.
    "ROOM_LIST" => RoomList(RoomList) -> RoomListReply;
    /// Player: make a room for a game (bound to its latest version) and join it as host.
    "ROOM_CREATE" => RoomCreate(RoomCreate) -> RoomInfo;
    /// Player: join a waiting room.
    "ROOM_JOIN" => RoomJoin(RoomJoin) -> RoomInfo;
    /// Player: leave the current room.
    "ROOM_LEAVE" => RoomLeave(RoomLeave) -> Empty;
    /// Player: join a waiting room for a game that has space, or make one.
    "QUICK_PLAY" => QuickPlay(QuickPlay) -> RoomInfo;
    /// Send a chat message to the lobby or to the current room.
    "CHAT_SEND" => ChatSend(ChatSend) -> Empty;
    /// Host: start the match (the seed's key 's').
    "GAME_START_NOTIFY" => GameStartNotify(GameStartNotify) -> MatchStarting;
    /// Player: my game client for this match has exited.
    "GAME_CLIENT_EXITED" => GameClientExited(GameClientExited) -> Empty;
    /// Player: my matches, newest first, a page at a time.
    "MATCH_HISTORY" => MatchHistory(MatchHistory) -> MatchHistoryReply;
    /// Player: rate and review a game I have played (a second call edits it).
    "REVIEW_SUBMIT" => ReviewSubmit(ReviewSubmit) -> ReviewSubmitted;
    /// A game's reviews, newest first, a page at a time.
    "REVIEW_LIST" => ReviewList(ReviewList) -> ReviewListReply;
    /// Developer: register my Ed25519 public key (once; again is a no-op).
    "DEV_KEY_REGISTER" => DevKeyRegister(DevKeyRegister) -> KeyReply;
    /// Developer: replace my key with a statement signed by the current one.
    "DEV_KEY_ROTATE" => DevKeyRotate(DevKeyRotate) -> KeyReply;
    /// Developer: announce a signed manifest; its bytes follow at once as
    /// binary frames. The OK says which chunks the lobby lacks.
    "PUBLISH_BEGIN" => PublishBegin(PublishBegin) -> PublishPlan;
    /// Developer: one chunk of a publish; its bytes follow at once.
    "CHUNK_PUT" => ChunkPut(ChunkPut) -> Empty;
    /// Developer: every chunk is sent; make the version visible.
    "PUBLISH_DONE" => PublishDone(PublishDone) -> PublishDoneReply;
    /// A version's manifest, its signature and key chain; the bytes follow.
    "MANIFEST_GET" => ManifestGet(ManifestGet) -> ManifestReady;
    /// Chunks of a version; their stored bytes follow back to back.
    "CHUNK_GET" => ChunkGet(ChunkGet) -> ChunksReady;
}

events! {
    /// The session was ended elsewhere (a newer login, a logout); the server
    /// closes the connection right after this event.
    "SESSION_REVOKED" => SessionRevoked(SessionRevoked);
    /// The lobby is shutting down; the connection closes after this event.
    "SERVER_SHUTDOWN" => ServerShutdown(ServerShutdown);
    /// Something happened in your room; carries the room as it is now.
    "ROOM_UPDATE" => RoomUpdate(RoomUpdate);
    /// A chat message in the lobby or your room.
    "CHAT" => Chat(ChatMessage);
    /// The match is on: start your game client and connect it here.
    "GAME_START" => GameStart(GameStart);
    /// Your room's match ended (or never started); the room is waiting again.
    "MATCH_ENDED" => MatchEnded(MatchEnded);
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A request with the id its reply will carry.
#[derive(Debug, Clone)]
pub struct RequestFrame {
    pub id: u32,
    pub request: Request,
}

/// Why a client message could not be turned into a [`RequestFrame`].
#[derive(Debug)]
pub struct BadRequest {
    /// The request id, when the envelope was readable: the error reply goes
    /// to that id. `None` means the connection cannot be trusted any more.
    pub id: Option<u32>,
    pub error: WireError,
}

impl RequestFrame {
    /// JSON bytes for a message frame.
    pub fn encode(&self) -> Vec<u8> {
        let envelope = Envelope {
            id: Some(self.id),
            kind: self.request.name().to_owned(),
            data: self.request.data(),
        };
        serde_json::to_vec(&envelope).expect("envelope serializes")
    }

    /// Parses the JSON of a message frame sent by a client.
    pub fn decode(json: &[u8]) -> Result<RequestFrame, BadRequest> {
        let envelope: Envelope = serde_json::from_slice(json).map_err(|e| BadRequest {
            id: None,
            error: WireError::new(ErrorCode::BadFrame, format!("not a message: {e}")),
        })?;
        let Some(id) = envelope.id else {
            return Err(BadRequest {
                id: None,
                error: WireError::new(ErrorCode::BadFrame, "request without an id"),
            });
        };
        let request = Request::from_parts(&envelope.kind, envelope.data)
            .map_err(|error| BadRequest { id: Some(id), error })?;
        Ok(RequestFrame { id, request })
    }
}

/// A message from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// The reply to request `id`: the `OK` data, or the error.
    Reply {
        id: u32,
        result: Result<Value, WireError>,
    },
    Event(Event),
}

impl ServerMessage {
    /// A successful reply carrying `data`.
    pub fn ok<T: Serialize>(id: u32, data: &T) -> ServerMessage {
        let data = serde_json::to_value(data).expect("reply serializes");
        ServerMessage::Reply { id, result: Ok(data) }
    }

    /// An error reply.
    pub fn error(id: u32, error: WireError) -> ServerMessage {
        ServerMessage::Reply { id, result: Err(error) }
    }

    /// JSON bytes of an `OK` reply to request `id` whose data is already
    /// encoded: `data_json` must be one JSON value (as `serde_json::to_vec`
    /// makes it). The same bytes as [`ServerMessage::encode`] of
    /// [`ServerMessage::ok`], without building a JSON tree first.
    pub fn encode_ok_json(id: u32, data_json: &[u8]) -> Vec<u8> {
        let head = format!("{{\"id\":{id},\"type\":\"OK\",\"data\":");
        let mut out = Vec::with_capacity(head.len() + data_json.len() + 1);
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(data_json);
        out.push(b'}');
        out
    }

    /// The whole message frame of an `OK` reply to request `id` whose data
    /// is already encoded (see [`ServerMessage::encode_ok_json`]). A reply
    /// too large for one frame becomes a `REPLY_TOO_LARGE` error reply to the
    /// same id: the client learns why, and the connection carries on.
    pub fn reply_frame(id: u32, data_json: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        match crate::frame::encode_message(
            &ServerMessage::encode_ok_json(id, data_json),
            &mut frame,
        ) {
            Ok(()) => frame,
            Err(e) => ServerMessage::error(id, too_large(e))
                .to_frame()
                .expect("an error reply fits in a frame"),
        }
    }

    /// The message as one frame. Replies too large for a frame become a
    /// `REPLY_TOO_LARGE` error reply; an event too large is
    /// [`FrameError::TooLarge`](crate::FrameError::TooLarge), for the
    /// sender to drop and log.
    pub fn to_frame(&self) -> Result<Vec<u8>, crate::FrameError> {
        let mut frame = Vec::new();
        match crate::frame::encode_message(&self.encode(), &mut frame) {
            Ok(()) => Ok(frame),
            Err(e) => match self {
                ServerMessage::Reply { id, result: Ok(_) } => {
                    ServerMessage::error(*id, too_large(e)).to_frame()
                }
                // An error message is short unless something is very wrong:
                // still answer the request.
                ServerMessage::Reply { id, result: Err(error) } => {
                    let short = WireError::new(error.code, truncate(&error.message, 1000));
                    ServerMessage::error(*id, short).to_frame()
                }
                ServerMessage::Event(_) => Err(e),
            },
        }
    }

    /// JSON bytes for a message frame.
    pub fn encode(&self) -> Vec<u8> {
        let encode = |id, kind, data: &Value| {
            serde_json::to_vec(&EnvelopeRef { id, kind, data }).expect("envelope serializes")
        };
        match self {
            ServerMessage::Reply { id, result: Ok(data) } => encode(Some(*id), "OK", data),
            ServerMessage::Reply { id, result: Err(error) } => {
                encode(Some(*id), "ERROR", &serde_json::to_value(error).expect("error serializes"))
            }
            ServerMessage::Event(event) => encode(None, event.name(), &event.data()),
        }
    }

    /// Parses the JSON of a message frame sent by the server.
    pub fn decode(json: &[u8]) -> Result<ServerMessage, String> {
        let envelope: Envelope =
            serde_json::from_slice(json).map_err(|e| format!("not a message: {e}"))?;
        match (envelope.id, envelope.kind.as_str()) {
            (Some(id), "OK") => Ok(ServerMessage::Reply { id, result: Ok(envelope.data) }),
            (Some(id), "ERROR") => {
                let error: WireError =
                    serde_json::from_value(envelope.data).map_err(|e| format!("bad ERROR: {e}"))?;
                Ok(ServerMessage::Reply { id, result: Err(error) })
            }
            (Some(_), other) => Err(format!("reply of unknown type {other:?}")),
            (None, kind) => Event::from_parts(kind, envelope.data).map(ServerMessage::Event),
        }
    }
}

fn too_large(e: crate::FrameError) -> WireError {
    WireError::new(
        ErrorCode::ReplyTooLarge,
        format!("the reply does not fit in one frame ({e}); ask for a smaller page with `limit`"),
    )
}

/// A server message whose `OK` data is left as raw JSON, for clients that
/// decode it straight into the reply type (no `Value` tree in between).
#[derive(Debug)]
pub enum RawServerMessage {
    Reply { id: u32, result: Result<Box<serde_json::value::RawValue>, WireError> },
    Event(Event),
}

/// [`Envelope`] borrowing its `data` as raw JSON.
#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(default)]
    id: Option<u32>,
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    data: Option<&'a serde_json::value::RawValue>,
}

impl RawServerMessage {
    /// Parses the JSON of a message frame sent by the server; like
    /// [`ServerMessage::decode`] but leaves an `OK`'s data undecoded.
    pub fn decode(json: &[u8]) -> Result<RawServerMessage, String> {
        let envelope: RawEnvelope<'_> =
            serde_json::from_slice(json).map_err(|e| format!("not a message: {e}"))?;
        let data = envelope.data.map(|d| d.get()).unwrap_or("null");
        match (envelope.id, envelope.kind.as_ref()) {
            (Some(id), "OK") => {
                let raw = serde_json::value::RawValue::from_string(data.to_owned())
                    .map_err(|e| format!("bad OK: {e}"))?;
                Ok(RawServerMessage::Reply { id, result: Ok(raw) })
            }
            (Some(id), "ERROR") => {
                let error: WireError =
                    serde_json::from_str(data).map_err(|e| format!("bad ERROR: {e}"))?;
                Ok(RawServerMessage::Reply { id, result: Err(error) })
            }
            (Some(_), other) => Err(format!("reply of unknown type {other:?}")),
            (None, kind) => {
                let value: Value =
                    serde_json::from_str(data).map_err(|e| format!("bad {kind}: {e}"))?;
                Event::from_parts(kind, value).map(RawServerMessage::Event)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request_round_trip(request: Request) {
        let frame = RequestFrame { id: 42, request };
        let bytes = frame.encode();
        let back = RequestFrame::decode(&bytes).unwrap();
        assert_eq!(back.id, 42);
        assert_eq!(back.request.name(), frame.request.name());
        assert_eq!(back.encode(), bytes);
    }

    #[test]
    fn requests_round_trip() {
        request_round_trip(Hello { protocol: 1, client: "test".into() }.into());
        request_round_trip(Login::new("ann", "pw").into());
        request_round_trip(Logout {}.into());
    }

    #[test]
    fn wire_shape_of_a_request() {
        let frame = RequestFrame { id: 3, request: Whoami {}.into() };
        let value: Value = serde_json::from_slice(&frame.encode()).unwrap();
        assert_eq!(value, json!({"id": 3, "type": "WHOAMI", "data": {}}));
    }

    #[test]
    fn missing_data_means_empty_object() {
        let frame = RequestFrame::decode(br#"{"id":1,"type":"LOGOUT"}"#).unwrap();
        assert_eq!(frame.request.name(), "LOGOUT");
    }

    #[test]
    fn bad_requests() {
        let check = |json: &str, id: Option<u32>, code: ErrorCode| {
            let err = RequestFrame::decode(json.as_bytes()).unwrap_err();
            assert_eq!((err.id, err.error.code), (id, code), "{json}: {}", err.error.message);
        };
        check("not json", None, ErrorCode::BadFrame);
        check(r#"{"type":"LOGIN"}"#, None, ErrorCode::BadFrame);
        check(r#"{"id":"x","type":"LOGIN"}"#, None, ErrorCode::BadFrame);
        check(r#"{"id":5,"type":"NO_SUCH_THING"}"#, Some(5), ErrorCode::UnknownCommand);
        check(r#"{"id":6,"type":"LOGIN","data":{"user":"a"}}"#, Some(6), ErrorCode::BadRequest);
        check(r#"{"id":7,"type":"LOGIN","data":[1,2]}"#, Some(7), ErrorCode::BadRequest);
    }

    #[test]
    fn server_messages_round_trip() {
        let messages = [
            ServerMessage::ok(1, &Empty {}),
            ServerMessage::error(2, WireError::new(ErrorCode::WrongPassword, "wrong password")),
            ServerMessage::Event(SessionRevoked { reason: "logged in elsewhere".into() }.into()),
        ];
        for message in messages {
            assert_eq!(ServerMessage::decode(&message.encode()), Ok(message));
        }
    }

    #[test]
    fn ok_replies_from_encoded_data_are_the_same_bytes() {
        let data = SessionRevoked { reason: "a \"quoted\" reason".into() };
        let bytes = ServerMessage::encode_ok_json(9, &serde_json::to_vec(&data).unwrap());
        assert_eq!(bytes, ServerMessage::ok(9, &data).encode());
        assert_eq!(ServerMessage::decode(&bytes), Ok(ServerMessage::ok(9, &data)));
    }

    #[test]
    fn raw_decoding_agrees_with_decoding() {
        let messages = [
            ServerMessage::ok(1, &Empty {}),
            ServerMessage::ok(9, &serde_json::json!({"games": [{"id": "x"}]})),
            ServerMessage::error(2, WireError::new(ErrorCode::WrongPassword, "wrong password")),
            ServerMessage::Event(SessionRevoked { reason: "elsewhere".into() }.into()),
        ];
        for message in messages {
            let raw = RawServerMessage::decode(&message.encode()).unwrap();
            match (raw, message) {
                (
                    RawServerMessage::Reply { id, result: Ok(raw) },
                    ServerMessage::Reply { id: want, result: Ok(value) },
                ) => {
                    assert_eq!(id, want);
                    assert_eq!(serde_json::from_str::<Value>(raw.get()).unwrap(), value);
                }
                (
                    RawServerMessage::Reply { id, result: Err(e) },
                    ServerMessage::Reply { id: want, result: Err(w) },
                ) => {
                    assert_eq!((id, e), (want, w));
                }
                (RawServerMessage::Event(e), ServerMessage::Event(w)) => assert_eq!(e, w),
                (raw, want) => panic!("{raw:?} decoded differently from {want:?}"),
            }
        }
    }

    #[test]
    fn replies_too_large_for_a_frame_become_error_replies() {
        let huge = serde_json::to_vec(&"x".repeat(crate::MAX_FRAME_LEN)).unwrap();
        let check = |frame: Vec<u8>| {
            let (decoded, used) = crate::Frame::decode(&frame).unwrap();
            assert_eq!(used, frame.len());
            let crate::Frame::Message(json) = decoded else { panic!("not a message") };
            match ServerMessage::decode(&json).unwrap() {
                ServerMessage::Reply { id: 5, result: Err(e) } => {
                    assert_eq!(e.code, ErrorCode::ReplyTooLarge, "{}", e.message)
                }
                other => panic!("expected REPLY_TOO_LARGE, got {other:?}"),
            }
        };
        check(ServerMessage::reply_frame(5, &huge));
        let value: Value = serde_json::from_slice(&huge).unwrap();
        check(ServerMessage::ok(5, &value).to_frame().unwrap());
        // A reply that fits is the reply itself.
        let small = ServerMessage::reply_frame(5, b"{}");
        assert_eq!(small, ServerMessage::ok(5, &Empty {}).to_frame().unwrap());
        // An event that cannot fit is an error for the sender.
        let event = ServerMessage::Event(ServerShutdown { message: "x".repeat(2 << 20) }.into());
        assert!(event.to_frame().is_err());
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = Request::NAMES.iter().chain(Event::NAMES).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }
}
