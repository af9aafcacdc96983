//! Errors as they travel on the wire: a stable machine code and a human message.
//!
//! Codes never change meaning once released; clients branch on the code and
//! show the message. A client that meets a code it does not know decodes it as
//! [`ErrorCode::Unknown`] and still shows the message.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, )*) => {
        /// Stable error codes. See docs/PROTOCOL.md for when each is used.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum ErrorCode {
            $( $(#[$doc])* #[serde(rename = $name)] $variant, )*
            /// A code this build does not know (sent by a newer server).
            #[serde(other, rename = "UNKNOWN")]
            Unknown,
        }

        impl ErrorCode {
            /// Every code, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as it is spelled on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( ErrorCode::$variant => $name, )*
                    ErrorCode::Unknown => "UNKNOWN",
                }
            }
        }
    };
}

error_codes! {
    /// The frame or its JSON envelope is malformed; the server closes the connection.
    BadFrame = "BAD_FRAME",
    /// The request type is known but its data is not valid.
    BadRequest = "BAD_REQUEST",
    /// The request type is not known to this server.
    UnknownCommand = "UNKNOWN_COMMAND",
    /// HELLO was missing or named a protocol version this server does not speak.
    ProtocolVersion = "PROTOCOL_VERSION",
    /// The lobby is at its connection limit.
    ServerBusy = "SERVER_BUSY",
    /// Too many requests or chat messages in a short time.
    RateLimited = "RATE_LIMITED",
    /// Something failed inside the lobby; the message says what, nothing was changed.
    Internal = "INTERNAL",
    /// The command needs a logged-in session.
    NotLoggedIn = "NOT_LOGGED_IN",
    /// The command is for the other kind of account (player vs developer).
    WrongRole = "WRONG_ROLE",
    /// The account name is already taken (for that kind of account).
    NameTaken = "NAME_TAKEN",
    /// The account name is not acceptable.
    InvalidName = "INVALID_NAME",
    /// The password is not acceptable (too short or too long).
    InvalidPassword = "INVALID_PASSWORD",
    /// No account of that kind has this name.
    UnknownUser = "UNKNOWN_USER",
    /// The password does not match.
    WrongPassword = "WRONG_PASSWORD",
    /// The session token is unknown, expired or was revoked.
    InvalidSession = "INVALID_SESSION",
    /// No room has this id.
    RoomNotFound = "ROOM_NOT_FOUND",
    /// The room has no free place.
    RoomFull = "ROOM_FULL",
    /// The room is starting or playing a match; wait until it ends.
    RoomBusy = "ROOM_BUSY",
    /// Already in a room; leave it first.
    AlreadyInRoom = "ALREADY_IN_ROOM",
    /// Not in a room.
    NotInRoom = "NOT_IN_ROOM",
    /// Only the room's host may do this.
    NotHost = "NOT_HOST",
    /// Fewer members than the game needs.
    NotEnoughPlayers = "NOT_ENOUGH_PLAYERS",
    /// Only players who have played the game may review it.
    NotPlayed = "NOT_PLAYED",
    /// A rating must be a whole number from 1 to 5.
    InvalidRating = "INVALID_RATING",
    /// A review text is too long or has control characters.
    InvalidReview = "INVALID_REVIEW",
    /// A chat message is empty, too long or has control characters.
    InvalidMessage = "INVALID_MESSAGE",
    /// No game has this id (or it is not visible to the caller).
    GameNotFound = "GAME_NOT_FOUND",
    /// The game has no such version, or no node of the lobby can serve its files now.
    VersionNotFound = "VERSION_NOT_FOUND",
    /// The game belongs to another developer.
    NotOwner = "NOT_OWNER",
    /// A published version must be greater than the game's latest version.
    VersionTooOld = "VERSION_TOO_OLD",
    /// The game is delisted: not in the store, no new rooms.
    GameDelisted = "GAME_DELISTED",
    /// The uploaded bytes do not match the announced size or SHA-256.
    ChecksumMismatch = "CHECKSUM_MISMATCH",
    /// The upload ended before all announced bytes arrived.
    UploadIncomplete = "UPLOAD_INCOMPLETE",
    /// The package's config.json is missing fields or has bad values.
    ManifestInvalid = "MANIFEST_INVALID",
    /// The package's config.json names another id or version than the upload header.
    ManifestMismatch = "MANIFEST_MISMATCH",
    /// A package entry has `..`, an absolute path or another unsafe name.
    PackageUnsafePath = "PACKAGE_UNSAFE_PATH",
    /// A package holds a symbolic link.
    PackageSymlink = "PACKAGE_SYMLINK",
    /// A package holds a device, FIFO or socket.
    PackageSpecialFile = "PACKAGE_SPECIAL_FILE",
    /// A package names the same entry twice.
    PackageDuplicateEntry = "PACKAGE_DUPLICATE_ENTRY",
    /// A package has more entries than the lobby allows.
    PackageTooManyFiles = "PACKAGE_TOO_MANY_FILES",
    /// A package, or a file in it, is larger than the lobby allows (counted while unpacking).
    PackageTooLarge = "PACKAGE_TOO_LARGE",
    /// A package is not a valid zip archive.
    PackageCorrupt = "PACKAGE_CORRUPT",
    /// A package uses encryption or a compression method other than stored or deflate.
    PackageUnsupported = "PACKAGE_UNSUPPORTED",
    /// A package has no config.json at its root.
    PackageNoManifest = "PACKAGE_NO_MANIFEST",
    /// Login refused: unknown user or wrong password (deliberately not told apart).
    LoginFailed = "LOGIN_FAILED",
    /// A limit on game servers (how many one player runs, how often matches start).
    MatchLimit = "MATCH_LIMIT",
    /// The lobby accepts only TLS connections (`--require-tls`); reconnect with `tls://`.
    TlsRequired = "TLS_REQUIRED",
    /// The account is banned by the lobby's admin; the message gives the reason.
    AccountBanned = "ACCOUNT_BANNED",
    /// The reply would not fit in one frame; ask for a smaller page (`limit`).
    ReplyTooLarge = "REPLY_TOO_LARGE",
    /// The paging cursor is not one this lobby handed out for this list.
    BadCursor = "BAD_CURSOR",
    /// A request names the same file twice (GAME_DOWNLOAD `files`).
    DuplicatePath = "DUPLICATE_PATH",
    /// A room was asked for a package that is a launcher plugin, not a game.
    NotAGame = "NOT_A_GAME",
    /// PLUGIN_SEND for a plugin this connection did not announce with ROOM_PLUGINS.
    PluginNotAnnounced = "PLUGIN_NOT_ANNOUNCED",
    /// The developer has a registered key: versions must be signed manifests
    /// (PUBLISH_BEGIN), or the publish needs a key that is not registered.
    SignatureRequired = "SIGNATURE_REQUIRED",
    /// A manifest or rotation signature does not verify with the expected key.
    BadSignature = "BAD_SIGNATURE",
    /// The developer already has another key; change it with DEV_KEY_ROTATE.
    KeyExists = "KEY_EXISTS",
    /// The announced manifest is larger than the lobby accepts; the
    /// connection is closed.
    ManifestTooLarge = "MANIFEST_TOO_LARGE",
    /// A chunk's bytes do not hash to its name or inflate to another size.
    ChunkInvalid = "CHUNK_INVALID",
    /// PUBLISH_DONE before every chunk of the manifest arrived.
    ChunksMissing = "CHUNKS_MISSING",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error reply: what went wrong, for programs (`code`) and people (`message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} ({code})")]
pub struct WireError {
    pub code: ErrorCode,
    pub message: String,
    /// With `RATE_LIMITED`: whole seconds to wait before trying again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl WireError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> WireError {
        WireError { code, message: message.into(), retry_after: None }
    }

    /// Says how many seconds to wait before trying again.
    pub fn with_retry_after(mut self, secs: u64) -> WireError {
        self.retry_after = Some(secs);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_spell_as_documented() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(&serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
    }

    #[test]
    fn unknown_codes_decode_as_unknown() {
        let code: ErrorCode = serde_json::from_str("\"SOMETHING_NEW\"").unwrap();
        assert_eq!(code, ErrorCode::Unknown);
    }
}
