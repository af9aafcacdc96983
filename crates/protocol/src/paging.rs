//! Paged lists: how a list that grows travels in frames of bounded size.
//!
//! Every list that grows with use (the store, a developer's games, a
//! version's files, rooms, players online, match history, reviews) is
//! answered a page at a time. A request may carry the `cursor` the previous
//! page returned as `next_cursor`; the last page has no `next_cursor`. A
//! request without a cursor gets the first page, so a client that knows
//! nothing of paging still gets a valid, bounded answer.
//!
//! Cursors are opaque strings: a client passes them back unchanged and never
//! builds one. A cursor names the last item of its page, not a position, so
//! items added or removed meanwhile do not make a client skip or repeat
//! the others.
//!
//! [`Paged`] ties each paged request to its reply, so a client fetches a
//! whole list with one generic loop (`LobbyClient::call_all`).

use crate::message::Call;
use crate::plugins::*;
use crate::types::*;

/// Bytes of items a lobby puts on one page at most: half a frame, which
/// leaves room for the envelope and the reply's other fields, so a page
/// always fits in one frame whatever its items hold.
pub const PAGE_BYTES: usize = 512 * 1024;

/// Most pages a client follows for one list before it stops: a guard
/// against a server that hands out cursors forever.
pub const MAX_PAGES: usize = 100_000;

/// A request whose reply is one page of a list.
pub trait Paged: Call + Clone {
    /// Sets the cursor of the page to ask for (`None`: the first page).
    fn set_cursor(&mut self, cursor: Option<String>);
    /// The cursor of the page after `reply`, if there is one.
    fn next_cursor(reply: &Self::Reply) -> Option<&str>;
    /// Appends `page`'s items to `all` and takes over its `next_cursor`.
    fn append(all: &mut Self::Reply, page: Self::Reply);
}

macro_rules! paged {
    ($($request:ty => $items:ident;)*) => {$(
        impl Paged for $request {
            fn set_cursor(&mut self, cursor: Option<String>) {
                self.cursor = cursor;
            }
            fn next_cursor(reply: &Self::Reply) -> Option<&str> {
                reply.next_cursor.as_deref()
            }
            fn append(all: &mut Self::Reply, page: Self::Reply) {
                all.$items.extend(page.$items);
                all.next_cursor = page.next_cursor;
            }
        }
    )*};
}

paged! {
    StoreList => games;
    MyGames => games;
    OnlineList => players;
    RoomList => rooms;
    MatchHistory => matches;
    ReviewList => reviews;
    PluginList => plugins;
}

impl Paged for GameFiles {
    fn set_cursor(&mut self, cursor: Option<String>) {
        self.cursor = cursor;
    }
    fn next_cursor(reply: &Self::Reply) -> Option<&str> {
        reply.next_cursor.as_deref()
    }
    fn append(all: &mut Self::Reply, page: Self::Reply) {
        all.files.files.extend(page.files.files);
        all.next_cursor = page.next_cursor;
    }
}
