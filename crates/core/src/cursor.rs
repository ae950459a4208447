//! Positions handed to clients as opaque strings.
//!
//! A cursor names a scope and a sequence number. It is validated, not
//! secret: the server reads only the scope of the authenticated caller, so
//! a cursor naming another scope is refused, and a forged sequence number
//! can at most re-read the caller's own changes.

use crate::{TaskId, UserId};
use uuid::Uuid;

/// A position in one scope's change log: "every change up to `seq` seen".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    pub scope: UserId,
    pub seq: i64,
}

const CURSOR_PREFIX: &str = "c1";
const PAGE_PREFIX: &str = "p1";

fn hex_uuid(s: &str) -> Option<Uuid> {
    u128::from_str_radix(s, 16).ok().map(Uuid::from_u128)
}

fn hex_i64(s: &str) -> Option<i64> {
    u64::from_str_radix(s, 16).ok().map(|v| v as i64)
}

fn all_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Cursor {
    pub fn new(scope: UserId, seq: i64) -> Self {
        Self { scope, seq }
    }

    /// The opaque text form.
    pub fn encode(&self) -> String {
        format!(
            "{CURSOR_PREFIX}{:032x}{:016x}",
            self.scope.as_uuid().as_u128(),
            self.seq as u64
        )
    }

    /// Parses the text form; `None` for anything that is not a cursor.
    pub fn decode(s: &str) -> Option<Self> {
        let body = s.strip_prefix(CURSOR_PREFIX)?;
        if body.len() != 48 || !all_hex(body) {
            return None;
        }
        let scope = UserId::from_uuid(hex_uuid(&body[..32])?);
        let seq = hex_i64(&body[32..])?;
        (seq >= 0).then_some(Self { scope, seq })
    }
}

/// A position in the `tasks` listing (oldest first): after this task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageToken {
    pub scope: UserId,
    pub created_at: i64,
    pub id: TaskId,
}

impl PageToken {
    pub fn encode(&self) -> String {
        format!(
            "{PAGE_PREFIX}{:032x}{:016x}{:032x}",
            self.scope.as_uuid().as_u128(),
            self.created_at as u64,
            self.id.as_uuid().as_u128()
        )
    }

    pub fn decode(s: &str) -> Option<Self> {
        let body = s.strip_prefix(PAGE_PREFIX)?;
        if body.len() != 80 || !all_hex(body) {
            return None;
        }
        Some(Self {
            scope: UserId::from_uuid(hex_uuid(&body[..32])?),
            created_at: hex_i64(&body[32..48])?,
            id: TaskId::from_uuid(hex_uuid(&body[48..])?),
        })
    }
}

/// A position inside one `syncTasks` run that spans several pages: the
/// run's consistent cursor and how far its pages got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncToken {
    pub scope: UserId,
    /// The run's `cursor` (the same on every page).
    pub upto: i64,
    pub position: SyncPosition,
}

/// How far a sync run got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPosition {
    /// A full sync, after this task of the live listing.
    Full { created_at: i64, id: TaskId },
    /// A delta sync, after the task whose latest change is `last_seq`.
    Delta { last_seq: i64 },
}

const SYNC_FULL_PREFIX: &str = "sf";
const SYNC_DELTA_PREFIX: &str = "sd";

impl SyncToken {
    pub fn encode(&self) -> String {
        let scope = self.scope.as_uuid().as_u128();
        match self.position {
            SyncPosition::Full { created_at, id } => format!(
                "{SYNC_FULL_PREFIX}{scope:032x}{:016x}{:016x}{:032x}",
                self.upto as u64,
                created_at as u64,
                id.as_uuid().as_u128()
            ),
            SyncPosition::Delta { last_seq } => {
                format!(
                    "{SYNC_DELTA_PREFIX}{scope:032x}{:016x}{:016x}",
                    self.upto as u64, last_seq as u64
                )
            }
        }
    }

    pub fn decode(s: &str) -> Option<Self> {
        let (full, body) = if let Some(b) = s.strip_prefix(SYNC_FULL_PREFIX) {
            (true, b)
        } else {
            (false, s.strip_prefix(SYNC_DELTA_PREFIX)?)
        };
        if body.len() != if full { 96 } else { 64 } || !all_hex(body) {
            return None;
        }
        let scope = UserId::from_uuid(hex_uuid(&body[..32])?);
        let upto = hex_i64(&body[32..48])?;
        let position = if full {
            SyncPosition::Full {
                created_at: hex_i64(&body[48..64])?,
                id: TaskId::from_uuid(hex_uuid(&body[64..])?),
            }
        } else {
            SyncPosition::Delta {
                last_seq: hex_i64(&body[48..64])?,
            }
        };
        (upto >= 0).then_some(Self {
            scope,
            upto,
            position,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn junk_is_not_a_cursor() {
        let good = Cursor::new(UserId::new(), 7).encode();
        let cases = [
            String::new(),
            "c1".into(),
            good[..good.len() - 1].to_owned(),
            format!("{good}0"),
            good.replacen("c1", "c2", 1),
            good.to_uppercase(),
            format!("c1{}", "g".repeat(48)),
            format!("c1{}{}", "0".repeat(32), "f".repeat(16)),
        ];
        for s in cases {
            assert_eq!(Cursor::decode(&s), None, "{s:?}");
        }
        assert_eq!(
            PageToken::decode(&good),
            None,
            "a cursor is not a page token"
        );
    }

    proptest! {
        #[test]
        fn cursors_round_trip(scope in any::<u128>(), seq in 0i64..=i64::MAX) {
            let c = Cursor::new(UserId::from_uuid(Uuid::from_u128(scope)), seq);
            prop_assert_eq!(Cursor::decode(&c.encode()), Some(c));
        }

        #[test]
        fn page_tokens_round_trip(scope in any::<u128>(), at in 0i64..=i64::MAX, id in any::<u128>()) {
            let p = PageToken { scope: UserId::from_uuid(Uuid::from_u128(scope)), created_at: at, id: TaskId::from_uuid(Uuid::from_u128(id)) };
            prop_assert_eq!(PageToken::decode(&p.encode()), Some(p));
        }

        #[test]
        fn sync_tokens_round_trip(scope in any::<u128>(), upto in 0i64..=i64::MAX, at in any::<i64>(), id in any::<u128>(), full in any::<bool>()) {
            let position = if full {
                SyncPosition::Full { created_at: at, id: TaskId::from_uuid(Uuid::from_u128(id)) }
            } else {
                SyncPosition::Delta { last_seq: at }
            };
            let t = SyncToken { scope: UserId::from_uuid(Uuid::from_u128(scope)), upto, position };
            prop_assert_eq!(SyncToken::decode(&t.encode()), Some(t));
            prop_assert_eq!(Cursor::decode(&t.encode()), None);
        }

        #[test]
        fn decoding_never_panics(s in "\\PC{0,100}") {
            let _ = Cursor::decode(&s);
            let _ = PageToken::decode(&s);
            let _ = SyncToken::decode(&s);
        }

    }
}
