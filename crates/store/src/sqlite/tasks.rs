//! Decoding task and change rows read through sqlx (the read side). The
//! writes are in [`super::writer`].

use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use tasksync_core::{Change, ChangeOp, Task, TaskId, UserId};
use uuid::Uuid;

use crate::{Result, StoreError};

pub(super) fn task_from_row(row: &SqliteRow) -> Result<Task> {
    Ok(Task {
        id: TaskId::from_uuid(row.try_get::<Uuid, _>("id")?),
        owner: UserId::from_uuid(row.try_get::<Uuid, _>("owner")?),
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        done: row.try_get("done")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        version: row.try_get("version")?,
        deleted: row.try_get("deleted")?,
    })
}

pub(super) fn change_from_row(row: &SqliteRow) -> Result<Change> {
    let scope = UserId::from_uuid(row.try_get::<Uuid, _>("scope")?);
    let op: String = row.try_get("op")?;
    Ok(Change {
        scope,
        seq: row.try_get("seq")?,
        op: ChangeOp::parse(&op).ok_or(StoreError::Corrupt("change op"))?,
        at: row.try_get("at")?,
        task: Task {
            id: TaskId::from_uuid(row.try_get::<Uuid, _>("task_id")?),
            owner: scope,
            title: row.try_get("title")?,
            description: row.try_get("description")?,
            done: row.try_get("done")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            version: row.try_get("version")?,
            deleted: row.try_get("deleted")?,
        },
    })
}
