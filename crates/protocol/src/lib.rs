//! The Game Store wire protocol, shared by the lobby and every client.
//!
//! **Invariant:** only this crate defines what travels on a lobby
//! connection. A message name, an error code or a frame layout is spelled
//! here once; docs/PROTOCOL.md describes the same for other implementers.
//!
//! Layers, bottom up: `frame` (length-prefixed frames, message or binary),
//! `connection` (reading frames from a socket), `message` (the JSON
//! envelope, requests, replies and events), `types` (payloads) and
//! `error` (stable error codes); `paging` says how growing lists are
//! answered a page at a time. The modules are private: what other crates
//! use is re-exported here, once.

mod connection;
mod distribution;
mod error;
mod frame;
mod message;
mod paging;
mod plugins;
mod types;

pub use connection::{FrameReader, ReadError, write_frame};
pub use distribution::*;
pub use error::{ErrorCode, WireError};
pub use frame::{
    Frame, FrameError, MAX_CHUNK_LEN, MAX_FRAME_LEN, binary_frame_header, encode_binary,
    encode_message, read_binary_frame,
};
pub use message::{Call, Event, RawServerMessage, Request, RequestFrame, ServerMessage};
pub use paging::{MAX_PAGES, PAGE_BYTES, Paged};
pub use plugins::*;
pub use types::*;

#[cfg(test)]
mod docs {
    /// docs/PROTOCOL.md names every request, event and error code.
    #[test]
    fn protocol_doc_covers_every_message_and_code() {
        let doc = include_str!("../../../docs/PROTOCOL.md");
        let codes = crate::ErrorCode::ALL.iter().map(|c| c.as_str());
        let missing: Vec<&str> = crate::Request::NAMES
            .iter()
            .chain(crate::Event::NAMES)
            .copied()
            .chain(codes)
            .filter(|name| !doc.contains(&format!("`{name}`")))
            .collect();
        assert!(missing.is_empty(), "docs/PROTOCOL.md does not document: {missing:?}");
    }
}
