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
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
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
