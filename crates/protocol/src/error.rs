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
    /// The connection is already logged in.
    AlreadyLoggedIn = "ALREADY_LOGGED_IN",
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
}

impl WireError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> WireError {
        WireError {
            code,
            message: message.into(),
        }
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
