//! GraphQL types: output objects, inputs and the `DateTime` scalar.

use async_graphql::{
    ID, InputObject, InputValueError, InputValueResult, MaybeUndefined, Scalar, ScalarType,
    SimpleObject, Value,
};
use serde::Serialize;
use tasksync_core::{ListRole, ListView, Task};

use crate::clock::{parse_rfc3339, rfc3339};

/// An instant as RFC 3339 text in UTC with millisecond precision, e.g.
/// `2026-01-02T03:04:05.678Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime(pub i64);

#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => parse_rfc3339(s)
                .map(DateTime)
                .ok_or_else(|| InputValueError::custom("expected an RFC 3339 date-time")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(rfc3339(self.0))
    }
}

impl Serialize for DateTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&rfc3339(self.0))
    }
}

/// A task.
#[derive(Debug, Clone, SimpleObject, Serialize)]
#[graphql(name = "Task")]
#[serde(rename_all = "camelCase")]
pub struct GqlTask {
    /// UUID; a client may choose it (offline create).
    pub id: ID,
    /// 1..=256 characters, not blank.
    pub title: String,
    /// At most 10 000 characters.
    pub description: Option<String>,
    pub done: bool,
    /// The id of the user who created it.
    pub owner: ID,
    /// The list it is in (a user's personal list has the user's id).
    pub list_id: ID,
    pub created_at: DateTime,
    pub updated_at: DateTime,
    /// 1 on create, +1 on every change.
    pub version: i32,
    /// Tombstones appear only in sync results and change events.
    pub deleted: bool,
}

impl From<Task> for GqlTask {
    fn from(t: Task) -> Self {
        Self {
            id: ID(t.id.to_string()),
            title: t.title,
            description: t.description,
            done: t.done,
            owner: ID(t.owner.to_string()),
            list_id: ID(t.list_id.to_string()),
            created_at: DateTime(t.created_at),
            updated_at: DateTime(t.updated_at),
            version: i32::try_from(t.version).unwrap_or(i32::MAX),
            deleted: t.deleted,
        }
    }
}

/// One page of live tasks, oldest first.
#[derive(Debug, SimpleObject)]
pub struct TaskPage {
    pub items: Vec<GqlTask>,
    /// Give it back as `nextToken` for the next page; null on the last page.
    pub next_token: Option<String>,
}

/// Creates a task.
#[derive(Debug, InputObject)]
pub struct CreateTaskInput {
    /// A UUID chosen by the client (for offline creates and safe retries);
    /// the server picks one when absent. The same id with the same content
    /// is an idempotent retry.
    pub id: Option<ID>,
    pub title: String,
    pub description: Option<String>,
    /// Defaults to false.
    pub done: Option<bool>,
    /// The list to create it in (you must be its owner or an editor);
    /// your personal list when absent.
    pub list_id: Option<ID>,
}

/// Changes a task. Absent fields stay as they are; `description: null`
/// clears the description.
#[derive(Debug, InputObject)]
pub struct UpdateTaskInput {
    pub id: ID,
    /// When given, the update happens only if this is the current version
    /// (otherwise `CONFLICT` with the current task in `extensions.current`).
    pub expected_version: Option<i32>,
    pub title: Option<String>,
    pub description: MaybeUndefined<String>,
    pub done: Option<bool>,
    /// Moves the task to this list; you must be able to write both lists.
    pub list_id: Option<ID>,
}

/// Deletes a task, leaving a tombstone for sync.
#[derive(Debug, InputObject)]
pub struct DeleteTaskInput {
    pub id: ID,
    pub expected_version: Option<i32>,
}

/// What a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
#[graphql(name = "ChangeOp")]
pub enum GqlChangeOp {
    Create,
    Update,
    Delete,
    /// The task left your view: you lost access to its list, or it moved
    /// to a list you cannot see. The task is a tombstone (`deleted: true`)
    /// one version past the last you saw: drop it.
    Remove,
}

impl From<tasksync_core::ChangeOp> for GqlChangeOp {
    fn from(op: tasksync_core::ChangeOp) -> Self {
        match op {
            tasksync_core::ChangeOp::Create => Self::Create,
            tasksync_core::ChangeOp::Update => Self::Update,
            tasksync_core::ChangeOp::Delete => Self::Delete,
            tasksync_core::ChangeOp::Remove => Self::Remove,
        }
    }
}

/// One change of one of your tasks or lists, in commit order.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "TaskChange")]
pub struct GqlTaskChange {
    pub op: GqlChangeOp,
    /// The task after the change (a tombstone for DELETE and REMOVE); null
    /// when the change is about a list.
    pub task: Option<GqlTask>,
    /// The list after the change, as you see it (a tombstone for DELETE and
    /// REMOVE), when the change is about a list. Only subscriptions that
    /// select this field receive changes of lists.
    pub list: Option<GqlTaskList>,
    /// Where this change sits in your change log: resume with
    /// `taskChanges(after: cursor)` or `syncTasks(lastSync: cursor)`.
    pub cursor: String,
}

impl GqlTaskChange {
    /// The change as `taskChanges` shows it; `None` for a change that is
    /// not about a task.
    pub fn of(c: &tasksync_core::Change) -> Self {
        Self {
            op: c.op.into(),
            task: c.task().cloned().map(GqlTask::from),
            list: c.list().cloned().map(GqlTaskList::from),
            cursor: tasksync_core::Cursor::new(c.scope, c.seq).encode(),
        }
    }
}

/// One page of a sync.
#[derive(Debug, SimpleObject)]
#[graphql(complex)]
pub struct SyncPage {
    /// Tasks changed since `lastSync`, tombstones included, each once at its
    /// latest state; with `fullSync`, the whole live set.
    pub items: Vec<GqlTask>,
    /// More pages of this same sync.
    pub next_token: Option<String>,
    /// Where this sync is consistent up to: the same on every page of one
    /// sync, taken before its first read. Give it as `lastSync` next time, or
    /// as `taskChanges(after:)` to go live with no gap.
    pub cursor: String,
    /// True when `lastSync` was null or expired: `items` are the whole live
    /// set and replace the client's copy.
    pub full_sync: bool,
    #[graphql(skip)]
    pub lists: Vec<GqlTaskList>,
}

#[async_graphql::ComplexObject]
impl SyncPage {
    /// On the first page of a sync (no `nextToken` given), the lists changed
    /// since `lastSync` (lost or deleted ones as tombstones, `deleted:
    /// true`), or with `fullSync` every list of yours; empty on later pages.
    // Counted once in the complexity, not once per task of the page: the
    // lists come once, and they are bounded by TASKSYNC_MAX_LISTS_PER_USER.
    #[graphql(complexity = 1)]
    async fn lists(&self) -> &[GqlTaskList] {
        &self.lists
    }
}

/// Your role in a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
#[graphql(name = "ListRole")]
pub enum GqlListRole {
    /// Reads, writes, renames, shares and deletes the list.
    Owner,
    /// Reads and writes its tasks.
    Editor,
    /// Reads its tasks.
    Viewer,
}

impl From<ListRole> for GqlListRole {
    fn from(r: ListRole) -> Self {
        match r {
            ListRole::Owner => Self::Owner,
            ListRole::Editor => Self::Editor,
            ListRole::Viewer => Self::Viewer,
        }
    }
}

impl From<GqlListRole> for ListRole {
    fn from(r: GqlListRole) -> Self {
        match r {
            GqlListRole::Owner => Self::Owner,
            GqlListRole::Editor => Self::Editor,
            GqlListRole::Viewer => Self::Viewer,
        }
    }
}

/// A member of a list.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "ListMember")]
pub struct GqlListMember {
    pub email: String,
    pub role: GqlListRole,
    /// Invited and not yet joined: the address has no confirmed account
    /// yet, or (so that this never tells whether it has one) its account
    /// has not signed in since the invitation.
    pub pending: bool,
}

/// A list of tasks, as you see it.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "TaskList")]
pub struct GqlTaskList {
    /// UUID; your personal list has your user id.
    pub id: ID,
    /// 1..=100 characters, not blank.
    pub name: String,
    /// Your personal list: always there, never shared or deleted.
    pub personal: bool,
    /// Your role in it.
    pub role: GqlListRole,
    /// The owner first, then the others by address.
    pub members: Vec<GqlListMember>,
    /// 1 on create, +1 on every change of the list or its members.
    pub version: i32,
    /// A tombstone: the list was deleted or you lost access (in sync
    /// results and change events only).
    pub deleted: bool,
    pub created_at: DateTime,
    pub updated_at: DateTime,
}

impl From<ListView> for GqlTaskList {
    fn from(v: ListView) -> Self {
        Self {
            id: ID(v.list.id.to_string()),
            name: v.list.name,
            personal: v.list.personal,
            role: v.role.into(),
            members: v
                .members
                .into_iter()
                .map(|m| GqlListMember {
                    email: m.email,
                    role: m.role.into(),
                    pending: m.pending,
                })
                .collect(),
            version: i32::try_from(v.list.version).unwrap_or(i32::MAX),
            deleted: v.list.deleted,
            created_at: DateTime(v.list.created_at),
            updated_at: DateTime(v.list.updated_at),
        }
    }
}

/// Creates a list, which you own.
#[derive(Debug, InputObject)]
pub struct CreateListInput {
    /// A UUID chosen by the client (for safe retries); the server picks one
    /// when absent.
    pub id: Option<ID>,
    pub name: String,
}

/// Renames a list (owner only).
#[derive(Debug, InputObject)]
pub struct UpdateListInput {
    pub id: ID,
    /// When given, only if this is the current version (else `CONFLICT`).
    pub expected_version: Option<i32>,
    pub name: String,
}

/// Deletes a list and its tasks, for every member (owner only).
#[derive(Debug, InputObject)]
pub struct DeleteListInput {
    pub id: ID,
    pub expected_version: Option<i32>,
}

/// Shares a list with an address, or changes that member's role (owner
/// only). The answer is the same whether the address has an account.
#[derive(Debug, InputObject)]
pub struct ShareListInput {
    pub list_id: ID,
    pub email: String,
    /// `EDITOR` or `VIEWER`.
    pub role: GqlListRole,
}

/// Removes a member from a list (owner only).
#[derive(Debug, InputObject)]
pub struct UnshareListInput {
    pub list_id: ID,
    pub email: String,
}

/// Leaves a list shared with you.
#[derive(Debug, InputObject)]
pub struct LeaveListInput {
    pub list_id: ID,
}
