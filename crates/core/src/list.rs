//! Task lists and their members: parsed inputs, roles and the rules of who
//! may do what.
//!
//! Every task is in exactly one list. Every user has a personal list (its
//! id is the user's id) that cannot be shared, left or deleted. A list has
//! one owner and members with a role; what a role allows is decided here
//! once, for both store adapters.

use crate::{Email, ListId, UserId};

/// Most characters in a list name.
pub const MAX_LIST_NAME_CHARS: usize = 100;

/// The name every personal list starts with.
pub const PERSONAL_LIST_NAME: &str = "Personal";

/// Why a list input is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListInputError {
    #[error("name must not be blank")]
    NameBlank,
    #[error("name must be at most {MAX_LIST_NAME_CHARS} characters")]
    NameTooLong,
    #[error("name must not contain control characters such as line breaks")]
    NameControl,
}

/// A list name: 1..=100 characters, not only white space, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListName(String);

impl ListName {
    pub fn parse(input: &str) -> Result<Self, ListInputError> {
        if input.chars().count() > MAX_LIST_NAME_CHARS {
            return Err(ListInputError::NameTooLong);
        }
        if input.chars().any(char::is_control) {
            return Err(ListInputError::NameControl);
        }
        if input.chars().all(char::is_whitespace) {
            return Err(ListInputError::NameBlank);
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// What a member may do in a list.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ListRole {
    /// Everything: read, write, rename, share, change roles, remove
    /// members, delete the list.
    Owner,
    /// Read and write tasks.
    Editor,
    /// Read tasks.
    Viewer,
}

impl ListRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Editor => "editor",
            Self::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Self::Owner),
            "editor" => Some(Self::Editor),
            "viewer" => Some(Self::Viewer),
            _ => None,
        }
    }

    /// Whether the role may create, change, move and delete tasks.
    pub fn can_write(self) -> bool {
        matches!(self, Self::Owner | Self::Editor)
    }

    /// Whether the role may rename, share and delete the list.
    pub fn can_manage(self) -> bool {
        self == Self::Owner
    }
}

/// A list as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskList {
    pub id: ListId,
    pub owner: UserId,
    pub name: String,
    pub personal: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// 1 on create, +1 on every change of the list or its members.
    pub version: i64,
    pub deleted: bool,
}

/// One member of a list as its members see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemberView {
    pub email: String,
    pub role: ListRole,
    /// Invited and not yet joined: the address has no confirmed account
    /// yet, or (so that this never tells whether it has) its account has
    /// not signed in since the invitation.
    pub pending: bool,
}

/// A list as one user sees it: with that user's role and the members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListView {
    pub list: TaskList,
    /// The role of the user whose view this is.
    pub role: ListRole,
    /// The owner first, then the others by address.
    pub members: Vec<MemberView>,
}

impl ListView {
    /// The view of someone who lost access: a tombstone.
    pub fn removed(&self) -> Self {
        Self {
            list: TaskList {
                deleted: true,
                ..self.list.clone()
            },
            role: self.role,
            members: Vec::new(),
        }
    }
}

/// A write of a list or its membership, as the API asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListWrite {
    Create {
        id: ListId,
        name: ListName,
    },
    Rename {
        id: ListId,
        expected_version: Option<i64>,
        name: ListName,
    },
    Delete {
        id: ListId,
        expected_version: Option<i64>,
    },
    /// Shares with an address (an invitation if it has no account yet), or
    /// changes the role of a member.
    Share {
        id: ListId,
        email: Email,
        role: ListRole,
    },
    Unshare {
        id: ListId,
        email: Email,
    },
    Leave {
        id: ListId,
    },
}

impl ListWrite {
    pub fn list_id(&self) -> ListId {
        match self {
            Self::Create { id, .. }
            | Self::Rename { id, .. }
            | Self::Delete { id, .. }
            | Self::Share { id, .. }
            | Self::Unshare { id, .. }
            | Self::Leave { id } => *id,
        }
    }
}

/// Limits of lists, configurable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListLimits {
    /// Members of one list, the owner and pending invitations included.
    pub members_per_list: u32,
    /// Lists a user owns or is a member of, the personal list included.
    pub lists_per_user: u32,
    /// Live tasks a list may hold for a share to add a member to it: a new
    /// member gets every task at once (one change-log row each), and so
    /// does every removal, so this bounds what one membership change
    /// writes.
    pub tasks_per_shared_list: u32,
}

impl Default for ListLimits {
    fn default() -> Self {
        Self {
            members_per_list: 100,
            lists_per_user: 1000,
            tasks_per_shared_list: 10_000,
        }
    }
}

/// Why a list write was refused by the rules. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListRejection {
    /// No such list among the caller's (a stranger's list is reported the
    /// same way).
    #[error("list not found")]
    NotFound,
    /// The caller's role does not allow it.
    #[error("your role in this list does not allow this")]
    Forbidden,
    /// `expectedVersion` is not the current version.
    #[error("list has changed: expected version differs from the current one")]
    Conflict(Box<TaskList>),
    /// The id is already used by another list.
    #[error("a different list already has this id")]
    IdTaken,
    /// Not possible for this list or member: a personal list shared or
    /// deleted, the owner leaving or unshared, sharing with oneself.
    #[error("{0}")]
    Invalid(&'static str),
    /// A configured limit is reached.
    #[error("{0}")]
    Limit(String),
}

/// Whether `role` may write tasks of a list; `None` (not a member) is
/// `NotFound`, as for a list that does not exist.
pub fn check_write(role: Option<ListRole>) -> Result<(), ListRejection> {
    match role {
        None => Err(ListRejection::NotFound),
        Some(r) if r.can_write() => Ok(()),
        Some(_) => Err(ListRejection::Forbidden),
    }
}

/// Whether `role` may manage a list (rename, share, delete).
pub fn check_manage(role: Option<ListRole>) -> Result<(), ListRejection> {
    match role {
        None => Err(ListRejection::NotFound),
        Some(r) if r.can_manage() => Ok(()),
        Some(_) => Err(ListRejection::Forbidden),
    }
}

/// The version check of a list write.
pub fn check_list_version(list: &TaskList, expected: Option<i64>) -> Result<(), ListRejection> {
    match expected {
        Some(v) if v != list.version => Err(ListRejection::Conflict(Box::new(list.clone()))),
        _ => Ok(()),
    }
}

/// The members of a list in the order views show them: the owner first,
/// then the others by address.
pub fn sort_members(members: &mut [MemberView]) {
    members.sort_by(|a, b| {
        (a.role != ListRole::Owner, &a.email).cmp(&(b.role != ListRole::Owner, &b.email))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_line_of_at_most_100_characters() {
        for ok in ["Groceries", "é", &"x".repeat(MAX_LIST_NAME_CHARS), " a "] {
            assert!(ListName::parse(ok).is_ok(), "{ok:?}");
        }
        for (bad, why) in [
            ("", ListInputError::NameBlank),
            ("   ", ListInputError::NameBlank),
            ("a\nb", ListInputError::NameControl),
            (
                &"x".repeat(MAX_LIST_NAME_CHARS + 1),
                ListInputError::NameTooLong,
            ),
        ] {
            assert_eq!(ListName::parse(bad), Err(why), "{bad:?}");
        }
    }

    #[test]
    fn roles_decide_writes_and_management() {
        assert_eq!(check_write(None), Err(ListRejection::NotFound));
        assert_eq!(check_manage(None), Err(ListRejection::NotFound));
        assert_eq!(
            check_write(Some(ListRole::Viewer)),
            Err(ListRejection::Forbidden)
        );
        assert!(check_write(Some(ListRole::Editor)).is_ok());
        assert!(check_write(Some(ListRole::Owner)).is_ok());
        assert_eq!(
            check_manage(Some(ListRole::Editor)),
            Err(ListRejection::Forbidden)
        );
        assert!(check_manage(Some(ListRole::Owner)).is_ok());
        for role in [ListRole::Owner, ListRole::Editor, ListRole::Viewer] {
            assert_eq!(ListRole::parse(role.as_str()), Some(role));
        }
        assert_eq!(ListRole::parse("admin"), None);
    }

    #[test]
    fn the_owner_comes_first_then_members_by_address() {
        let m = |email: &str, role: ListRole| MemberView {
            email: email.into(),
            role,
            pending: false,
        };
        let mut members = vec![
            m("b@x", ListRole::Viewer),
            m("z@x", ListRole::Owner),
            m("a@x", ListRole::Editor),
        ];
        sort_members(&mut members);
        let order: Vec<&str> = members.iter().map(|m| m.email.as_str()).collect();
        assert_eq!(order, ["z@x", "a@x", "b@x"]);
    }
}
