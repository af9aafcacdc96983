//! CHAT_SEND: lobby-wide and room chat on the lobby connection.
//!
//! Messages are 1 to 500 characters without control characters, and each
//! account may send at most [`BURST`] messages per [`WINDOW`].

use std::time::{Duration, Instant};

use gamestore_protocol::{ChatMessage, ChatScope, ChatSend, Empty, ErrorCode, Event, WireError};
use gamestore_storage::Role;

use crate::connection::Conn;
use crate::now;

/// Longest message, in characters.
pub const MAX_CHARS: usize = 500;
const BURST: u32 = 10;
const WINDOW: Duration = Duration::from_secs(10);

pub fn send(conn: &Conn, request: ChatSend) -> Result<Empty, WireError> {
    let account = conn.require(Role::Player)?.clone();
    let text = request.text.trim();
    if text.is_empty() || text.chars().count() > MAX_CHARS {
        return Err(WireError::new(
            ErrorCode::InvalidMessage,
            format!("messages are 1 to {MAX_CHARS} characters"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(WireError::new(
            ErrorCode::InvalidMessage,
            "messages cannot contain control characters",
        ));
    }
    check_rate(conn, account.id)?;
    let message = ChatMessage {
        scope: request.scope,
        room: None,
        from: account.name,
        text: text.to_owned(),
        at: now(),
    };
    match request.scope {
        ChatScope::Lobby => conn.lobby.hub.broadcast_to_players(&Event::Chat(message)),
        ChatScope::Room => conn.lobby.rooms.chat(account.id, message)?,
    }
    Ok(Empty {})
}

fn check_rate(conn: &Conn, account: i64) -> Result<(), WireError> {
    let mut limits = conn.lobby.chat_limits.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    let entry = limits.entry(account).or_insert((now, 0));
    if now.duration_since(entry.0) > WINDOW {
        *entry = (now, 0);
    }
    if entry.1 >= BURST {
        return Err(WireError::new(
            ErrorCode::RateLimited,
            format!("at most {BURST} messages per {} seconds; wait a moment", WINDOW.as_secs()),
        ));
    }
    entry.1 += 1;
    Ok(())
}
