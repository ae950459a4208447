//! Sync cursors (`Cursor`: `lastSync`, `taskChanges(after:)`, the
//! `cursor` of a sync page): decoding any text never panics, and the
//! decoder accepts exactly what the encoder writes.
//!
//! Input: the text to decode; or, after a first byte 0 (which no text
//! form starts with), a cursor value (16 bytes of scope, 8 of sequence
//! number) that must survive encode → decode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tasksync_core::{Cursor, PageToken, SyncToken, UserId};
use uuid::Uuid;

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((0, value)) => {
            let mut bytes = [0u8; 24];
            let n = value.len().min(24);
            bytes[..n].copy_from_slice(&value[..n]);
            let scope = u128::from_le_bytes(bytes[..16].try_into().expect("16 bytes"));
            let seq = i64::from_le_bytes(bytes[16..].try_into().expect("8 bytes"));
            let cursor = Cursor::new(UserId::from_uuid(Uuid::from_u128(scope)), seq);
            let text = cursor.encode();
            // A negative sequence number is no position in a log: refused.
            let expected = (seq >= 0).then_some(cursor);
            assert_eq!(Cursor::decode(&text), expected, "{text:?}");
        }
        _ => {
            let Ok(text) = std::str::from_utf8(data) else {
                return;
            };
            let Some(cursor) = Cursor::decode(text) else {
                return;
            };
            assert!(cursor.seq >= 0, "{text:?} decodes to {cursor:?}");
            // One text per cursor: decoding accepts only what encode
            // writes, so the round trip gives the same text and value.
            assert_eq!(cursor.encode(), text, "{cursor:?}");
            assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
            // A cursor is never also a page token.
            assert_eq!(PageToken::decode(text), None, "{text:?}");
            assert_eq!(SyncToken::decode(text), None, "{text:?}");
        }
    }
});
