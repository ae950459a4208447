//! GraphQL types: output objects, inputs and the `DateTime` scalar.

use async_graphql::{
    ID, InputObject, InputValueError, InputValueResult, MaybeUndefined, Scalar, ScalarType,
    SimpleObject, Value,
};
use serde::Serialize;
use tasksync_core::Task;

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

/// One change of one of your tasks, in commit order.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "TaskChange")]
pub struct GqlTaskChange {
    pub op: GqlChangeOp,
    /// The task after the change (a tombstone for DELETE and REMOVE).
    pub task: GqlTask,
    /// Where this change sits in your change log: resume with
    /// `taskChanges(after: cursor)` or `syncTasks(lastSync: cursor)`.
    pub cursor: String,
}

impl GqlTaskChange {
    /// The change as `taskChanges` shows it; `None` for a change that is
    /// not about a task.
    pub fn of(c: &tasksync_core::Change) -> Option<Self> {
        Some(Self {
            op: c.op.into(),
            task: c.task()?.clone().into(),
            cursor: tasksync_core::Cursor::new(c.scope, c.seq).encode(),
        })
    }
}

/// One page of a sync.
#[derive(Debug, SimpleObject)]
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
}
