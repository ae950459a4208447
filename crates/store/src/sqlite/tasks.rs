//! Task writes and reads on SQLite.
//!
//! Writes arrive through the group-commit writer ([`super::writer`]) and
//! share its transaction. Every rule is checked before the first write of a
//! job ([`record`] writes last), so a refused write leaves nothing behind
//! while its neighbours commit.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use tasksync_core::task::{apply_delete, apply_update};
use tasksync_core::{Change, ChangeOp, NewTask, Task, TaskId, TaskPatch, UserId, WriteRejection};
use uuid::Uuid;

use crate::{Result, StoreError, TaskWrite, TaskWriteError, Written};

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

/// Applies one write on `conn` (inside the writer's transaction). Every rule is
/// checked before [`record`], the only step that writes.
pub(super) async fn apply(
    conn: &mut SqliteConnection,
    owner: UserId,
    write: &TaskWrite,
    now: i64,
) -> Result<Written, TaskWriteError> {
    match write {
        TaskWrite::Create(new) => create(conn, owner, new, now).await,
        TaskWrite::Update(patch) => update(conn, owner, patch, now).await,
        TaskWrite::Delete {
            id,
            expected_version,
        } => {
            let current = owned(conn, owner, *id)
                .await?
                .ok_or(WriteRejection::NotFound)?;
            match apply_delete(&current, *expected_version, now)? {
                None => Ok(Written {
                    task: current,
                    change: None,
                }),
                Some(stone) => record(conn, ChangeOp::Delete, stone, now).await,
            }
        }
    }
}

async fn owned(conn: &mut SqliteConnection, owner: UserId, id: TaskId) -> Result<Option<Task>> {
    sqlx::query(
        "SELECT id, owner, title, description, done, created_at, updated_at, version, deleted
         FROM tasks WHERE id = $1 AND owner = $2",
    )
    .bind(id.as_uuid())
    .bind(owner.as_uuid())
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(task_from_row)
    .transpose()
}

async fn create(
    conn: &mut SqliteConnection,
    owner: UserId,
    new: &NewTask,
    now: i64,
) -> Result<Written, TaskWriteError> {
    let existing = sqlx::query(
        "SELECT id, owner, title, description, done, created_at, updated_at, version, deleted
         FROM tasks WHERE id = $1",
    )
    .bind(new.id.as_uuid())
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = existing {
        let current = task_from_row(&row)?;
        if current.owner != owner {
            // Said exactly as for a clash within the scope: nothing leaks.
            return Err(WriteRejection::IdTaken.into());
        }
        // The create's own image decides whether this is a retry; if the
        // log no longer has it, the current task does while unchanged.
        let created = sqlx::query(
            "SELECT scope, seq, op, at, task_id, title, description, done, created_at, updated_at, version, deleted
             FROM changes WHERE scope = $1 AND task_id = $2 AND op = 'create'",
        )
        .bind(owner.as_uuid())
        .bind(new.id.as_uuid())
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(change_from_row)
        .transpose()?
        .map(|c| c.task)
        .or_else(|| (current.version == 1).then(|| current.clone()));
        return match created {
            Some(image) if new.is_retry_of(&image, owner) => Ok(Written {
                task: current,
                change: None,
            }),
            _ => Err(WriteRejection::IdTaken.into()),
        };
    }
    let task = new.clone().into_task(owner, now);
    record(conn, ChangeOp::Create, task, now).await
}

async fn update(
    conn: &mut SqliteConnection,
    owner: UserId,
    patch: &TaskPatch,
    now: i64,
) -> Result<Written, TaskWriteError> {
    let current = owned(conn, owner, patch.id)
        .await?
        .ok_or(WriteRejection::NotFound)?;
    match apply_update(&current, patch, now)? {
        None => Ok(Written {
            task: current,
            change: None,
        }),
        Some(next) => record(conn, ChangeOp::Update, next, now).await,
    }
}

/// Takes the scope's next sequence number and writes the task row and its
/// change-log row. The counter row stays locked until the transaction ends.
async fn record(
    conn: &mut SqliteConnection,
    op: ChangeOp,
    task: Task,
    now: i64,
) -> Result<Written, TaskWriteError> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO scopes (scope, seq) VALUES ($1, 1)
         ON CONFLICT (scope) DO UPDATE SET seq = scopes.seq + 1
         RETURNING seq",
    )
    .bind(task.owner.as_uuid())
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO tasks (id, owner, title, description, done, created_at, updated_at, version, deleted, last_seq)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (id) DO UPDATE SET
           title = excluded.title, description = excluded.description, done = excluded.done,
           updated_at = excluded.updated_at, version = excluded.version, deleted = excluded.deleted,
           last_seq = excluded.last_seq",
    )
    .bind(task.id.as_uuid())
    .bind(task.owner.as_uuid())
    .bind(&task.title)
    .bind(&task.description)
    .bind(task.done)
    .bind(task.created_at)
    .bind(task.updated_at)
    .bind(task.version)
    .bind(task.deleted)
    .bind(seq)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO changes (scope, seq, op, at, task_id, title, description, done, created_at, updated_at, version, deleted)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(task.owner.as_uuid())
    .bind(seq)
    .bind(op.as_str())
    .bind(now)
    .bind(task.id.as_uuid())
    .bind(&task.title)
    .bind(&task.description)
    .bind(task.done)
    .bind(task.created_at)
    .bind(task.updated_at)
    .bind(task.version)
    .bind(task.deleted)
    .execute(&mut *conn)
    .await?;
    let change = Change {
        scope: task.owner,
        seq,
        op,
        task: task.clone(),
        at: now,
    };
    Ok(Written {
        task,
        change: Some(change),
    })
}
