//! Identifiers.

use std::fmt;

use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new random identifier (UUIDv7: time-ordered, so index-friendly).
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            /// Wraps an existing UUID.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            /// The UUID inside.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
            /// Parses the hyphenated text form.
            pub fn parse(s: &str) -> Option<Self> {
                Uuid::parse_str(s).ok().map(Self)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }
    };
}

uuid_id!(
    /// A user account.
    UserId
);
uuid_id!(
    /// One signed-in session: a chain of rotated refresh tokens and the
    /// access tokens minted from it (their `sid` claim).
    SessionId
);
uuid_id!(
    /// A task. Clients may choose it (offline create), so it is any UUID.
    TaskId
);
uuid_id!(
    /// A task list. A user's personal list has the user's own id; other
    /// lists any UUID (clients may choose it).
    ListId
);

impl ListId {
    /// The personal list of `user`.
    pub const fn personal(user: UserId) -> Self {
        Self::from_uuid(user.as_uuid())
    }
}
