//! Task writes, batched: group commit on PostgreSQL.
//!
//! Writes are routed by scope to one of a few *lanes*; each lane turns the
//! writes waiting for it into one transaction and one commit. Without this
//! every write would be a transaction of its own, and two things would
//! serialise them through one fsync each: the scope's row lock (held until
//! commit, by design) for the writes of one user, and the lock PostgreSQL
//! takes for `NOTIFY` at commit for all writes of the cluster.
//!
//! A batch:
//! 1. locks the row of every scope it touches, in a fixed order (scope id),
//!    so batches of different nodes cannot deadlock, and reads their heads;
//! 2. applies each write in turn: reads what the rules need, checks them,
//!    and only then writes the task row and the change-log row with the
//!    scope's next number, so a refused write leaves nothing behind;
//! 3. stores the new heads and queues one wake-up notice per scope;
//! 4. commits. Nobody is answered before the commit that makes their write
//!    durable; a database error fails the whole batch and nothing is kept.

use std::collections::BTreeMap;
use std::sync::Arc;

use sqlx::{PgConnection, PgPool};
use tasksync_core::task::{apply_delete, apply_update};
use tasksync_core::{Change, ChangeOp, NewTask, Task, TaskId, UserId, WriteRejection};
use tokio::sync::{broadcast, mpsc, oneshot};
use uuid::Uuid;

use crate::rows;
use crate::{CommitNotice, StoreError, TaskWrite, TaskWriteError, Written};

/// Most writes batched into one transaction.
const MAX_BATCH: usize = 128;
/// Attempts of a batch that PostgreSQL aborted as a deadlock or a
/// serialisation failure (nothing of it was kept, so it is safe to redo).
const ATTEMPTS: usize = 3;

pub(super) struct Job {
    pub owner: UserId,
    pub write: TaskWrite,
    pub now: i64,
    pub reply: oneshot::Sender<Result<Written, TaskWriteError>>,
}

/// The lanes of one node. Writes of one scope always take the same lane.
#[derive(Debug, Clone)]
pub(super) struct Lanes {
    lanes: Arc<[mpsc::Sender<Job>]>,
}

impl Lanes {
    pub(super) fn spawn(
        pool: PgPool,
        lanes: usize,
        node: u64,
        commits: broadcast::Sender<CommitNotice>,
    ) -> Self {
        let lanes = (0..lanes.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
                tokio::spawn(run(pool.clone(), rx, node, commits.clone()));
                tx
            })
            .collect();
        Self { lanes }
    }

    pub(super) async fn write(&self, job: Job) -> Result<(), StoreError> {
        let lane = (job.owner.as_uuid().as_u128() % self.lanes.len() as u128) as usize;
        self.lanes[lane]
            .send(job)
            .await
            .map_err(|_| StoreError::WorkerGone)
    }
}

async fn run(
    pool: PgPool,
    mut rx: mpsc::Receiver<Job>,
    node: u64,
    commits: broadcast::Sender<CommitNotice>,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        metrics::histogram!("tasksync_write_batch_size").record(jobs.len() as f64);
        let writes: Vec<(UserId, &TaskWrite, i64)> =
            jobs.iter().map(|j| (j.owner, &j.write, j.now)).collect();
        let mut outcome = commit_batch(&pool, &writes, node).await;
        for _ in 1..ATTEMPTS {
            match &outcome {
                Err(e) if retryable(e) => outcome = commit_batch(&pool, &writes, node).await,
                _ => break,
            }
        }
        drop(writes);
        match outcome {
            Ok(results) => {
                for notice in notices(&results) {
                    let _ = commits.send(notice);
                }
                for (job, result) in jobs.drain(..).zip(results) {
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, writes = jobs.len(), "write batch failed to commit");
                let text = e.to_string();
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(StoreError::Commit(text.clone()).into()));
                }
            }
        }
    }
}

fn retryable(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("40P01" | "40001")))
}

/// Local wake-ups: per scope, the changes just committed, in seq order.
fn notices(results: &[Result<Written, TaskWriteError>]) -> Vec<CommitNotice> {
    let mut by_scope: BTreeMap<UserId, Vec<Change>> = BTreeMap::new();
    for change in results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter_map(|w| w.change.as_ref())
    {
        by_scope
            .entry(change.scope)
            .or_default()
            .push(change.clone());
    }
    by_scope
        .into_iter()
        .map(|(scope, changes)| CommitNotice {
            scope,
            seq: changes.last().map_or(0, |c| c.seq),
            committed: Some(changes.into()),
        })
        .collect()
}

async fn commit_batch(
    pool: &PgPool,
    writes: &[(UserId, &TaskWrite, i64)],
    node: u64,
) -> Result<Vec<Result<Written, TaskWriteError>>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let results = apply_all(&mut tx, writes, node).await?;
    if results
        .iter()
        .any(|r| matches!(r, Ok(w) if w.change.is_some()))
    {
        tx.commit().await?;
    } else {
        // Nothing changed: no commit to wait for.
        tx.rollback().await?;
    }
    Ok(results)
}

/// Applies `writes` in order inside `conn`'s open transaction, without
/// committing. Every scope they touch stays locked until the caller
/// commits or rolls back.
pub(super) async fn apply_all(
    conn: &mut PgConnection,
    writes: &[(UserId, &TaskWrite, i64)],
    node: u64,
) -> Result<Vec<Result<Written, TaskWriteError>>, sqlx::Error> {
    let mut scopes: Vec<Uuid> = writes.iter().map(|(o, _, _)| o.as_uuid()).collect();
    scopes.sort_unstable();
    scopes.dedup();
    // 1. Lock the scopes (creating their rows), in scope order.
    sqlx::query(
        "INSERT INTO scopes (scope, seq) SELECT s, 0 FROM unnest($1::uuid[]) s
         ON CONFLICT (scope) DO NOTHING",
    )
    .bind(&scopes)
    .execute(&mut *conn)
    .await?;
    let heads: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT scope, seq FROM scopes WHERE scope = ANY($1) ORDER BY scope FOR UPDATE",
    )
    .bind(&scopes)
    .fetch_all(&mut *conn)
    .await?;
    let mut heads: BTreeMap<Uuid, (i64, bool)> = heads
        .into_iter()
        .map(|(scope, seq)| (scope, (seq, false)))
        .collect();

    // 2. Each write: rules first, then its only writing statement.
    let mut results = Vec::with_capacity(writes.len());
    for &(owner, write, now) in writes {
        let outcome = match decide(conn, owner, write, now).await {
            Ok(Decision::Write(op, task)) => {
                let (head, moved) = heads.entry(owner.as_uuid()).or_insert((0, false));
                let change = Change {
                    scope: owner,
                    seq: *head + 1,
                    op,
                    task,
                    at: now,
                };
                if record(conn, &change).await? {
                    *head = change.seq;
                    *moved = true;
                    Ok(Written {
                        task: change.task.clone(),
                        change: Some(change),
                    })
                } else {
                    // A create whose id another owner's write took meanwhile.
                    Err(WriteRejection::IdTaken.into())
                }
            }
            Ok(Decision::Unchanged(task)) => Ok(Written { task, change: None }),
            Err(Failure::Rejected(r)) => Err(r.into()),
            Err(Failure::Database(e)) => return Err(e),
            Err(Failure::Corrupt(e)) => Err(TaskWriteError::Store(e)),
        };
        results.push(outcome);
    }

    // 3. The new heads, and one wake-up per scope for the other nodes
    //    (PostgreSQL sends it on commit).
    let (moved, seqs): (Vec<Uuid>, Vec<i64>) = heads
        .iter()
        .filter(|(_, (_, moved))| *moved)
        .map(|(scope, (seq, _))| (*scope, *seq))
        .unzip();
    if !moved.is_empty() {
        let payloads: Vec<String> = moved
            .iter()
            .zip(&seqs)
            .map(|(scope, seq)| super::listener::payload(UserId::from_uuid(*scope), *seq, node))
            .collect();
        sqlx::query(
            "WITH heads AS (
                 UPDATE scopes SET seq = h.seq
                 FROM unnest($1::uuid[], $2::bigint[]) AS h(scope, seq)
                 WHERE scopes.scope = h.scope)
             SELECT pg_notify($3, p) FROM unnest($4::text[]) p",
        )
        .bind(&moved)
        .bind(&seqs)
        .bind(super::CHANNEL)
        .bind(&payloads)
        .execute(&mut *conn)
        .await?;
    }
    Ok(results)
}

enum Decision {
    Write(ChangeOp, Task),
    Unchanged(Task),
}

enum Failure {
    Rejected(WriteRejection),
    Corrupt(StoreError),
    Database(sqlx::Error),
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

impl From<WriteRejection> for Failure {
    fn from(r: WriteRejection) -> Self {
        Self::Rejected(r)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Database(e) => Self::Database(e),
            other => Self::Corrupt(other),
        }
    }
}

/// What a write would do, read under the scope's lock.
async fn decide(
    conn: &mut PgConnection,
    owner: UserId,
    write: &TaskWrite,
    now: i64,
) -> Result<Decision, Failure> {
    Ok(match write {
        TaskWrite::Create(new) => create(conn, owner, new, now).await?,
        TaskWrite::Update(patch) => {
            let current = owned(conn, owner, patch.id)
                .await?
                .ok_or(WriteRejection::NotFound)?;
            match apply_update(&current, patch, now)? {
                Some(next) => Decision::Write(ChangeOp::Update, next),
                None => Decision::Unchanged(current),
            }
        }
        TaskWrite::Delete {
            id,
            expected_version,
        } => {
            let current = owned(conn, owner, *id)
                .await?
                .ok_or(WriteRejection::NotFound)?;
            match apply_delete(&current, *expected_version, now)? {
                Some(stone) => Decision::Write(ChangeOp::Delete, stone),
                None => Decision::Unchanged(current),
            }
        }
    })
}

async fn create(
    conn: &mut PgConnection,
    owner: UserId,
    new: &NewTask,
    now: i64,
) -> Result<Decision, Failure> {
    let existing = sqlx::query(concat!(
        "SELECT ",
        task_columns!(),
        " FROM tasks WHERE id = $1"
    ))
    .bind(new.id.as_uuid())
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(rows::task)
    .transpose()?;
    let Some(current) = existing else {
        return Ok(Decision::Write(
            ChangeOp::Create,
            new.clone().into_task(owner, now),
        ));
    };
    if current.owner != owner {
        // Said exactly as for a clash within the scope: nothing leaks.
        return Err(WriteRejection::IdTaken.into());
    }
    // The create's own image decides whether this is a retry; if the log
    // no longer has it, the current task does while unchanged.
    let created = sqlx::query(
        "SELECT task_id AS id, scope AS owner, title, description, done, created_at,
                updated_at, version, deleted
         FROM changes WHERE scope = $1 AND task_id = $2 AND op = 'create'",
    )
    .bind(owner.as_uuid())
    .bind(new.id.as_uuid())
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(rows::task)
    .transpose()?
    .or_else(|| (current.version == 1).then(|| current.clone()));
    match created {
        Some(image) if new.is_retry_of(&image, owner) => Ok(Decision::Unchanged(current)),
        _ => Err(WriteRejection::IdTaken.into()),
    }
}

pub(super) async fn owned(
    conn: &mut PgConnection,
    owner: UserId,
    id: TaskId,
) -> crate::Result<Option<Task>> {
    sqlx::query(concat!(
        "SELECT ",
        task_columns!(),
        " FROM tasks WHERE id = $1 AND owner = $2"
    ))
    .bind(id.as_uuid())
    .bind(owner.as_uuid())
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(rows::task)
    .transpose()
}

/// The task row and the change-log row, in one statement. False when a
/// create found its id taken (by another owner, committed meanwhile):
/// then nothing was written.
async fn record(conn: &mut PgConnection, change: &Change) -> Result<bool, sqlx::Error> {
    let task = &change.task;
    let sql = if change.op == ChangeOp::Create {
        record_sql!(
            "INSERT INTO tasks (id, owner, title, description, done, created_at, updated_at,
                                version, deleted, last_seq)
             VALUES ($2, $1, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (id) DO NOTHING
             RETURNING id"
        )
    } else {
        record_sql!(
            "UPDATE tasks SET title = $3, description = $4, done = $5, updated_at = $7,
                              version = $8, deleted = $9, last_seq = $10
             WHERE id = $2 AND owner = $1
             RETURNING id"
        )
    };
    let written: i64 = sqlx::query_scalar(sql)
        .bind(change.scope.as_uuid())
        .bind(task.id.as_uuid())
        .bind(&task.title)
        .bind(&task.description)
        .bind(task.done)
        .bind(task.created_at)
        .bind(task.updated_at)
        .bind(task.version)
        .bind(task.deleted)
        .bind(change.seq)
        .bind(change.op.as_str())
        .bind(change.at)
        .fetch_one(&mut *conn)
        .await?;
    Ok(written == 1)
}
