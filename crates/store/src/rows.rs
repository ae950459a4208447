//! Decoding rows into records, once for both backends.
//!
//! [`Columns`] names the handful of column types the schema uses; it is
//! implemented for the row type of each backend, and every decoder below is
//! written against it, so the two adapters cannot drift apart in how they
//! read a record.

use sqlx::Row as _;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use tasksync_core::{
    Change, ChangeOp, Email, ListId, ListView, SessionId, Subject, Task, TaskId, TaskList, UserId,
};
use uuid::Uuid;

use crate::{Result, SessionRecord, SigningKeyRecord, StoreError, Synced, Throttle, UserRecord};

/// Typed column access shared by the backends' row types.
pub(crate) trait Columns {
    fn uuid(&self, column: &str) -> Result<Uuid>;
    fn opt_uuid(&self, column: &str) -> Result<Option<Uuid>>;
    fn int(&self, column: &str) -> Result<i64>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>>;
    fn text(&self, column: &str) -> Result<String>;
    fn opt_text(&self, column: &str) -> Result<Option<String>>;
    fn flag(&self, column: &str) -> Result<bool>;
    fn bytes(&self, column: &str) -> Result<Vec<u8>>;
}

macro_rules! columns {
    ($row:ty) => {
        impl Columns for $row {
            fn uuid(&self, column: &str) -> Result<Uuid> {
                Ok(self.try_get(column)?)
            }
            fn opt_uuid(&self, column: &str) -> Result<Option<Uuid>> {
                Ok(self.try_get(column)?)
            }
            fn int(&self, column: &str) -> Result<i64> {
                Ok(self.try_get(column)?)
            }
            fn opt_int(&self, column: &str) -> Result<Option<i64>> {
                Ok(self.try_get(column)?)
            }
            fn text(&self, column: &str) -> Result<String> {
                Ok(self.try_get(column)?)
            }
            fn opt_text(&self, column: &str) -> Result<Option<String>> {
                Ok(self.try_get(column)?)
            }
            fn flag(&self, column: &str) -> Result<bool> {
                Ok(self.try_get(column)?)
            }
            fn bytes(&self, column: &str) -> Result<Vec<u8>> {
                Ok(self.try_get(column)?)
            }
        }
    };
}

columns!(SqliteRow);
columns!(PgRow);

pub(crate) fn user(row: &impl Columns) -> Result<UserRecord> {
    Ok(UserRecord {
        id: UserId::from_uuid(row.uuid("id")?),
        email: Email::parse(&row.text("email")?)
            .map_err(|_| StoreError::Corrupt("e-mail address"))?,
        password_hash: row.text("password_hash")?,
        confirmed: row.flag("confirmed")?,
        disabled: row.flag("disabled")?,
        created_at: row.int("created_at")?,
    })
}

pub(crate) fn session(row: &impl Columns) -> Result<SessionRecord> {
    Ok(SessionRecord {
        id: SessionId::from_uuid(row.uuid("id")?),
        user_id: UserId::from_uuid(row.uuid("user_id")?),
        created_at: row.int("created_at")?,
        expires_at: row.int("expires_at")?,
        revoked_at: row.opt_int("revoked_at")?,
    })
}

pub(crate) fn signing_key(row: &impl Columns) -> Result<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        kid: row.text("kid")?,
        private_der: row.bytes("private_der")?,
        public_key: row.bytes("public_key")?,
        created_at: row.int("created_at")?,
    })
}

pub(crate) fn session_id(row: &impl Columns) -> Result<SessionId> {
    Ok(SessionId::from_uuid(row.uuid("id")?))
}

pub(crate) fn revoked(row: &impl Columns) -> Result<(SessionId, i64)> {
    Ok((session_id(row)?, row.int("revoked_at")?))
}

pub(crate) fn throttle(row: &impl Columns) -> Result<Throttle> {
    Ok(Throttle {
        failures: u32::try_from(row.int("failures")?).unwrap_or(u32::MAX),
        locked_until: row.int("locked_until")?,
        last_failure_at: row.int("last_failure_at")?,
    })
}

/// A task row: `id, owner, list_id, title, description, done, created_at,
/// updated_at, version, deleted`.
pub(crate) fn task(row: &impl Columns) -> Result<Task> {
    let owner = UserId::from_uuid(row.uuid("owner")?);
    Ok(Task {
        id: TaskId::from_uuid(row.uuid("id")?),
        owner,
        // NULL only for a moment after an older binary's insert (its
        // trigger fills it in): the owner's personal list.
        list_id: row
            .opt_uuid("list_id")?
            .map_or(ListId::personal(owner), ListId::from_uuid),
        title: row.text("title")?,
        description: row.opt_text("description")?,
        done: row.flag("done")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        version: row.int("version")?,
        deleted: row.flag("deleted")?,
    })
}

/// A task row with its `last_seq`.
pub(crate) fn synced(row: &impl Columns) -> Result<Synced> {
    Ok(Synced {
        task: task(row)?,
        last_seq: row.int("last_seq")?,
    })
}

/// A change-log row: `scope, seq, op, at, task_id, owner, list_id` and the
/// task's image. (`owner` and `list_id` are NULL in rows written before
/// lists: the scope's own task in its personal list.)
pub(crate) fn change(row: &impl Columns) -> Result<Change> {
    let scope = UserId::from_uuid(row.uuid("scope")?);
    let owner = row.opt_uuid("owner")?.map_or(scope, UserId::from_uuid);
    Ok(Change {
        scope,
        seq: row.int("seq")?,
        op: ChangeOp::parse(&row.text("op")?).ok_or(StoreError::Corrupt("change op"))?,
        at: row.int("at")?,
        subject: Subject::Task(Task {
            id: TaskId::from_uuid(row.uuid("task_id")?),
            owner,
            list_id: row
                .opt_uuid("list_id")?
                .map_or(ListId::personal(scope), ListId::from_uuid),
            title: row.text("title")?,
            description: row.opt_text("description")?,
            done: row.flag("done")?,
            created_at: row.int("created_at")?,
            updated_at: row.int("updated_at")?,
            version: row.int("version")?,
            deleted: row.flag("deleted")?,
        }),
    })
}

/// A row of a scope's whole log (`crate::sql::tasks::changes_after`):
/// `kind` says whether it is a task's change or a list's.
pub(crate) fn logged(row: &impl Columns) -> Result<Change> {
    if row.text("kind")? == "task" {
        return change(row);
    }
    let view = ListView {
        list: TaskList {
            id: ListId::from_uuid(row.uuid("task_id")?),
            owner: UserId::from_uuid(row.uuid("owner")?),
            name: row.text("name")?,
            personal: row.flag("personal")?,
            created_at: row.int("created_at")?,
            updated_at: row.int("updated_at")?,
            version: row.int("version")?,
            deleted: row.flag("deleted")?,
        },
        role: tasksync_core::ListRole::parse(&row.text("role")?)
            .ok_or(StoreError::Corrupt("list role"))?,
        members: serde_json::from_str(&row.text("members")?)
            .map_err(|_| StoreError::Corrupt("list members"))?,
    };
    Ok(Change {
        scope: UserId::from_uuid(row.uuid("scope")?),
        seq: row.int("seq")?,
        op: ChangeOp::parse(&row.text("op")?).ok_or(StoreError::Corrupt("change op"))?,
        at: row.int("at")?,
        subject: Subject::List(Box::new(view)),
    })
}

/// Every row through one decoder.
pub(crate) fn all<R, T>(rows: &[R], decode: impl Fn(&R) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(decode).collect()
}

/// Reads and decodes `rows` as they come until their tasks take more than
/// `max_bytes` of answer ([`Task::answer_bytes`]), and one row more (so the
/// caller, which keeps at least one, sees whether there is more); the rest
/// is never read.
pub(crate) async fn within_bytes<R, T>(
    mut rows: impl futures_util::Stream<Item = std::result::Result<R, sqlx::Error>> + Unpin,
    max_bytes: usize,
    decode: impl Fn(&R) -> Result<T>,
    task: impl Fn(&T) -> &Task,
) -> Result<Vec<T>> {
    use futures_util::TryStreamExt as _;
    let mut out = Vec::new();
    let mut used = 0usize;
    while let Some(row) = rows.try_next().await? {
        let item = decode(&row)?;
        let over = used > max_bytes;
        used = used.saturating_add(task(&item).answer_bytes());
        out.push(item);
        if over {
            break;
        }
    }
    Ok(out)
}
