//! Reads of tasks and the change log. (Task writes go through each
//! adapter's own writer; retention differs too.)

use tasksync_core::{Change, Task, TaskId, UserId};
use uuid::Uuid;

use super::{Pool, on};
use crate::rows;
use crate::{LogBounds, Result, Synced};

/// A task in one of `user`'s lists.
pub(crate) async fn task(pool: Pool<'_>, user: UserId, id: TaskId) -> Result<Option<Task>> {
    on!(pool, |p| sqlx::query(
        "SELECT t.id, t.owner, t.list_id, t.title, t.description, t.done, t.created_at,
                t.updated_at, t.version, t.deleted
         FROM tasks t JOIN list_members m ON m.list_id = t.list_id AND m.user_id = $2
         WHERE t.id = $1",
    )
    .bind(id.as_uuid())
    .bind(user.as_uuid())
    .fetch_optional(p)
    .await?
    .as_ref()
    .map(rows::task)
    .transpose())
}

pub(crate) async fn tasks_page(
    pool: Pool<'_>,
    owner: UserId,
    after: Option<(i64, TaskId)>,
    limit: u32,
    max_bytes: usize,
) -> Result<Vec<Task>> {
    let (at, id) = after.map_or((i64::MIN, Uuid::nil()), |(at, id)| (at, id.as_uuid()));
    // Each predicate matches its backend's partial index `tasks_in_list`.
    let sql = pool.pick(
        "SELECT id, owner, list_id, title, description, done, created_at, updated_at, version,
                deleted
         FROM tasks
         WHERE list_id IN (SELECT list_id FROM list_members WHERE user_id = $1)
           AND deleted = 0 AND (created_at > $2 OR (created_at = $2 AND id > $3))
         ORDER BY created_at, id
         LIMIT $4",
        "SELECT id, owner, list_id, title, description, done, created_at, updated_at, version,
                deleted
         FROM tasks
         WHERE list_id IN (SELECT list_id FROM list_members WHERE user_id = $1)
           AND NOT deleted AND (created_at, id) > ($2, $3)
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
            "SELECT * FROM (
                 SELECT 'task' AS kind, scope, seq, op, at, task_id, owner, list_id, title,
                        description, done, created_at, updated_at, version, deleted,
                        CAST(NULL AS TEXT) AS name, CAST(NULL AS BOOLEAN) AS personal,
                        CAST(NULL AS TEXT) AS role, CAST(NULL AS TEXT) AS members
                 FROM changes WHERE scope = $1 AND seq > $2
                 ORDER BY seq LIMIT $3) t
             UNION ALL
             SELECT * FROM (
                 SELECT 'list', scope, seq, op, at, list_id, owner, list_id, CAST(NULL AS TEXT),
                        CAST(NULL AS TEXT), CAST(NULL AS BOOLEAN), created_at, updated_at,
                        version, deleted, name, personal, role, members
                 FROM list_changes WHERE scope = $1 AND seq > $2
                 ORDER BY seq LIMIT $3) l
             ORDER BY seq LIMIT $3",
        )
        .bind(scope.as_uuid())
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(p)
        .await?,
        rows::logged
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

/// The tasks of `scope`'s log whose latest change there is in
/// `(after_seq, upto_seq]`, at that change's image, by its seq.
pub(crate) async fn changed_tasks(
    pool: Pool<'_>,
    scope: UserId,
    after_seq: i64,
    upto_seq: i64,
    limit: u32,
    max_bytes: usize,
) -> Result<Vec<Synced>> {
    on!(pool, |p| {
        let rows = sqlx::query(
            "SELECT c.task_id AS id, COALESCE(c.owner, c.scope) AS owner,
                    COALESCE(c.list_id, c.scope) AS list_id, c.title, c.description, c.done,
                    c.created_at, c.updated_at, c.version, c.deleted, c.seq AS last_seq
             FROM changes c
             WHERE c.scope = $1 AND c.seq > $2 AND c.seq <= $3
               AND NOT EXISTS (SELECT 1 FROM changes d
                               WHERE d.scope = c.scope AND d.task_id = c.task_id
                                 AND d.seq > c.seq AND d.seq <= $3)
             ORDER BY c.seq LIMIT $4",
        )
        .bind(scope.as_uuid())
        .bind(after_seq)
        .bind(upto_seq)
        .bind(i64::from(limit))
        .fetch(p);
        rows::within_bytes(rows, max_bytes, rows::synced, |s| &s.task).await
    })
}
