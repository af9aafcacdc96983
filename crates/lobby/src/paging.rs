//! Pages of growing lists: cursors and the page builder every paged request
//! shares (see `gamestore_protocol::Paged` for the wire contract).
//!
//! A cursor is the sort key of the last item of a page, as JSON, in hex: it
//! means "the items after this one", so a list that changes between two
//! pages makes nobody skip or repeat an item that stayed. Cursors are
//! opaque to clients; a malformed one is `BAD_CURSOR`.

use std::io;

use gamestore_protocol::{ErrorCode, PAGE_BYTES, WireError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Longest cursor accepted, in characters.
const MAX_CURSOR_CHARS: usize = 4096;

/// The cursor naming `key` as the last item seen.
pub(crate) fn encode_cursor<K: Serialize>(key: &K) -> String {
    hex::encode(serde_json::to_vec(key).expect("cursor keys serialize"))
}

/// The key a cursor from [`encode_cursor`] names, or `BAD_CURSOR`.
pub(crate) fn decode_cursor<K: DeserializeOwned>(cursor: &str) -> Result<K, WireError> {
    let bad = || WireError::new(ErrorCode::BadCursor, "the cursor is not one this list handed out");
    if cursor.len() > MAX_CURSOR_CHARS {
        return Err(bad());
    }
    let bytes = hex::decode(cursor).map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map_err(|_| bad())
}

/// The decoded cursor of a request, if it has one.
pub(crate) fn cursor_key<K: DeserializeOwned>(
    cursor: Option<&str>,
) -> Result<Option<K>, WireError> {
    cursor.map(decode_cursor).transpose()
}

/// The page size to use: the request's `limit` (at least 1, at most `max`)
/// or `default`.
pub(crate) fn page_limit(requested: Option<u32>, default: u32, max: u32) -> usize {
    requested.unwrap_or(default).clamp(1, max) as usize
}

/// One page of `items` (already in list order and starting after the
/// cursor): at most `limit` items and at most [`PAGE_BYTES`] of their JSON,
/// always at least one item when there is one. Returns the page and the
/// cursor of the next page when items remain.
pub(crate) fn take_page<T: Serialize, K: Serialize>(
    items: impl IntoIterator<Item = T>,
    limit: usize,
    key_of: impl Fn(&T) -> K,
) -> (Vec<T>, Option<String>) {
    let mut page = Vec::new();
    let mut bytes = 0usize;
    for item in items {
        let size = json_len(&item);
        if !page.is_empty() && (page.len() >= limit || bytes + size > PAGE_BYTES) {
            let next = encode_cursor(&key_of(page.last().expect("page is not empty")));
            return (page, Some(next));
        }
        bytes += size;
        page.push(item);
    }
    (page, None)
}

/// Bytes of `item`'s JSON, counted without building it.
pub(crate) fn json_len<T: Serialize>(item: &T) -> usize {
    struct Count(usize);
    impl io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Counting cannot fail; a type that fails to serialize counts as empty
    // and fails later when the reply is encoded.
    let _ = serde_json::to_writer(&mut count, item);
    count.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        let key = ("chess".to_owned(), 7i64);
        let cursor = encode_cursor(&key);
        assert_eq!(decode_cursor::<(String, i64)>(&cursor).unwrap(), key);
        for bad in ["zz", "", "7b", &"00".repeat(3000), &encode_cursor(&"text")] {
            let err = decode_cursor::<(String, i64)>(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::BadCursor, "{bad}");
        }
    }

    #[test]
    fn pages_stop_at_the_limit_or_the_byte_budget() {
        let check = |items: Vec<String>, limit: usize, expect_len: usize, more: bool| {
            let key = |s: &String| s.chars().take(8).collect::<String>();
            let (page, next) = take_page(items.clone(), limit, key);
            assert_eq!(page.len(), expect_len);
            assert_eq!(page, items[..expect_len]);
            assert_eq!(next.is_some(), more);
            if let Some(next) = next {
                assert_eq!(decode_cursor::<String>(&next).unwrap(), key(&items[expect_len - 1]));
            }
        };
        let small: Vec<String> = (0..10).map(|i| format!("item{i}")).collect();
        check(small.clone(), 3, 3, true);
        check(small.clone(), 10, 10, false);
        check(small, 50, 10, false);
        check(Vec::new(), 5, 0, false);
        // 100 items of 10 KiB: the budget cuts the page, never the frame.
        let big: Vec<String> =
            (0..100).map(|i| format!("{i:03}{}", "x".repeat(10 * 1024))).collect();
        let fit = PAGE_BYTES / json_len(&big[0]);
        check(big.clone(), 1000, fit, true);
        // One item larger than the budget still makes a page of its own.
        check(vec!["y".repeat(PAGE_BYTES + 1), "z".into()], 10, 1, true);
    }
}
