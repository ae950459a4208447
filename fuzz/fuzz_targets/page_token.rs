//! Page tokens (the `nextToken` of `tasks`, a `PageToken`, and of
//! `syncTasks`, a `SyncToken` of a full or a delta sync): decoding any
//! text never panics, and each decoder accepts exactly what its encoder
//! writes.
//!
//! Input: the text to decode; or, after a first byte 0, a page token
//! value, after a first byte 1, a sync token value (full or delta), which
//! must survive encode → decode (no text form starts with those bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tasksync_core::{Cursor, PageToken, SyncPosition, SyncToken, TaskId, UserId};
use uuid::Uuid;

/// Fixed-width fields read from the input, zeros past its end.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = self.0.len().min(N);
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        out
    }
    fn u128(&mut self) -> u128 {
        u128::from_le_bytes(self.take())
    }
    fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.take())
    }
    fn bool(&mut self) -> bool {
        self.take::<1>()[0] & 1 == 1
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((0, value)) => {
            let mut f = Fields(value);
            let token = PageToken {
                scope: UserId::from_uuid(Uuid::from_u128(f.u128())),
                created_at: f.i64(),
                id: TaskId::from_uuid(Uuid::from_u128(f.u128())),
            };
            let text = token.encode();
            assert_eq!(PageToken::decode(&text), Some(token), "{text:?}");
            assert_eq!(SyncToken::decode(&text), None, "{text:?}");
            assert_eq!(Cursor::decode(&text), None, "{text:?}");
        }
        Some((1, value)) => {
            let mut f = Fields(value);
            let scope = UserId::from_uuid(Uuid::from_u128(f.u128()));
            let upto = f.i64();
            let position = if f.bool() {
                SyncPosition::Full {
                    created_at: f.i64(),
                    id: TaskId::from_uuid(Uuid::from_u128(f.u128())),
                }
            } else {
                SyncPosition::Delta { last_seq: f.i64() }
            };
            let token = SyncToken {
                scope,
                upto,
                position,
            };
            let text = token.encode();
            // `upto` is a cursor's sequence number: never negative.
            let expected = (upto >= 0).then_some(token);
            assert_eq!(SyncToken::decode(&text), expected, "{text:?}");
            assert_eq!(PageToken::decode(&text), None, "{text:?}");
            assert_eq!(Cursor::decode(&text), None, "{text:?}");
        }
        _ => {
            let Ok(text) = std::str::from_utf8(data) else {
                return;
            };
            let page = PageToken::decode(text);
            let sync = SyncToken::decode(text);
            if let Some(token) = page {
                assert_eq!(token.encode(), text, "{token:?}");
                assert_eq!(PageToken::decode(&token.encode()), Some(token));
            }
            if let Some(token) = sync {
                assert!(token.upto >= 0, "{text:?} decodes to {token:?}");
                assert_eq!(token.encode(), text, "{token:?}");
                assert_eq!(SyncToken::decode(&token.encode()), Some(token));
            }
            // A text is at most one kind of token.
            let kinds = [
                page.is_some(),
                sync.is_some(),
                Cursor::decode(text).is_some(),
            ];
            assert!(
                kinds.iter().filter(|k| **k).count() <= 1,
                "{text:?}: {kinds:?}"
            );
        }
    }
});
