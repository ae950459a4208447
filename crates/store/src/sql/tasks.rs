//! Reads of tasks and the change log. (Task writes go through each
//! adapter's own writer; retention differs too.)

use tasksync_core::{Change, Task, TaskId, UserId};
use uuid::Uuid;

use super::{Pool, on};
use crate::rows;
use crate::{LogBounds, Result, Synced};

pub(crate) async fn task(pool: Pool<'_>, owner: UserId, id: TaskId) -> Result<Option<Task>> {
    on!(pool, |p| {
        sqlx::query(
        "SELECT id, owner, list_id, title, description, done, created_at, updated_at, version, deleted
         FROM tasks WHERE id = $1 AND owner = $2",
    )
    .bind(id.as_uuid())
    .bind(owner.as_uuid())
    .fetch_optional(p)
    .await?
    .as_ref()
    .map(rows::task)
    .transpose()
    })
}

pub(crate) async fn tasks_page(
    pool: Pool<'_>,
    owner: UserId,
    after: Option<(i64, TaskId)>,
    limit: u32,
    max_bytes: usize,
) -> Result<Vec<Task>> {
    let (at, id) = after.map_or((i64::MIN, Uuid::nil()), |(at, id)| (at, id.as_uuid()));
    // Each predicate matches its backend's partial index `tasks_live`.
    let sql = pool.pick(
        "SELECT id, owner, list_id, title, description, done, created_at, updated_at, version, deleted
         FROM tasks
         WHERE owner = $1 AND deleted = 0 AND (created_at > $2 OR (created_at = $2 AND id > $3))
         ORDER BY created_at, id
         LIMIT $4",
        "SELECT id, owner, list_id, title, description, done, created_at, updated_at, version, deleted
         FROM tasks
         WHERE owner = $1 AND NOT deleted AND (created_at, id) > ($2, $3)
         ORDER BY created_at, id
         LIMIT $4",
    );
    on!(pool, |p| {
        let rows = sqlx::query(sql)
            .bind(owner.as_uuid())
            .bind(at)
            .bind(id)
            .bind(i64::from(limit))
            .fetch(p);
        rows::within_bytes(rows, max_bytes, rows::task, |t| t).await
    })
}

pub(crate) async fn changes_after(
    pool: Pool<'_>,
    scope: UserId,
    after: i64,
    limit: u32,
) -> Result<Vec<Change>> {
    on!(pool, |p| rows::all(
        &sqlx::query(
            "SELECT scope, seq, op, at, task_id, owner, list_id, title, description, done,
                    created_at, updated_at, version, deleted
             FROM changes WHERE scope = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(scope.as_uuid())
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(p)
        .await?,
        rows::change
    ))
}

pub(crate) async fn head(pool: Pool<'_>, scope: UserId) -> Result<i64> {
    let seq: Option<i64> = on!(pool, |p| sqlx::query_scalar(
        "SELECT seq FROM scopes WHERE scope = $1"
    )
    .bind(scope.as_uuid())
    .fetch_optional(p)
    .await?);
    Ok(seq.unwrap_or(0))
}

pub(crate) async fn log_bounds(pool: Pool<'_>, scope: UserId) -> Result<LogBounds> {
    let bounds: Option<(i64, i64)> = on!(pool, |p| sqlx::query_as(
        "SELECT seq, trimmed_to FROM scopes WHERE scope = $1"
    )
    .bind(scope.as_uuid())
    .fetch_optional(p)
    .await?);
    Ok(
        bounds.map_or_else(LogBounds::default, |(head, trimmed_to)| LogBounds {
            head,
            trimmed_to,
        }),
    )
}

pub(crate) async fn changed_tasks(
    pool: Pool<'_>,
    owner: UserId,
    after_seq: i64,
    upto_seq: i64,
    limit: u32,
    max_bytes: usize,
) -> Result<Vec<Synced>> {
    on!(pool, |p| {
        let rows = sqlx::query(
            "SELECT id, owner, list_id, title, description, done, created_at, updated_at, version, deleted,
                    last_seq
             FROM tasks WHERE owner = $1 AND last_seq > $2 AND last_seq <= $3
             ORDER BY last_seq LIMIT $4",
        )
        .bind(owner.as_uuid())
        .bind(after_seq)
        .bind(upto_seq)
        .bind(i64::from(limit))
        .fetch(p);
        rows::within_bytes(rows, max_bytes, rows::synced, |s| &s.task).await
    })
}
