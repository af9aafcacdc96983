//! CHAT_SEND: lobby-wide and room chat on the lobby connection.
//!
//! Messages are 1 to 500 characters of one line, without control,
//! text-direction or invisible characters ([`crate::text`]), and each
//! account may send at most [`CHAT_BURST`] messages in any
//! [`CHAT_WINDOW`] (a sliding window).

use gamestore_protocol::{ChatMessage, ChatScope, ChatSend, Empty, ErrorCode, WireError};
use gamestore_storage::Role;

use crate::connection::Conn;
use crate::limits::{CHAT_BURST, CHAT_WINDOW};
use crate::remote_rooms::RoomOp;
use crate::{now, text};

/// Longest message, in characters.
pub(super) const MAX_CHARS: usize = 500;

pub(super) async fn send(conn: &Conn, request: ChatSend) -> Result<Empty, WireError> {
    let account = conn.require(Role::Player)?.clone();
    let text = request.text.trim();
    if text.is_empty() || text.chars().count() > MAX_CHARS {
        return Err(WireError::new(
            ErrorCode::InvalidMessage,
            format!("messages are 1 to {MAX_CHARS} characters"),
        ));
    }
    if let Err(problem) = text::check(text, text::Lines::Single) {
        return Err(WireError::new(ErrorCode::InvalidMessage, format!("the message {problem}")));
    }
    let _counted = conn.lobby.limits.chat.hit(&account.id).map_err(|wait| {
        crate::limits::rate_limited(
            &format!("at most {CHAT_BURST} messages per {} seconds", CHAT_WINDOW.as_secs()),
            wait,
        )
    })?;
    let message = ChatMessage {
        scope: request.scope,
        room: None,
        from: account.name,
        text: text.to_owned(),
        at: now(),
    };
    match request.scope {
        ChatScope::Lobby => conn.lobby.bus.lobby_chat(&conn.lobby, message),
        ChatScope::Room => {
            let op = RoomOp::Chat { message: message.clone() };
            match conn.lobby.xrooms.forward(&conn.lobby, conn.id, account.id, op).await {
                Some(result) => {
                    result?;
                }
                None => conn.lobby.rooms.chat(account.id, message)?,
            }
        }
    }
    Ok(Empty {})
}
