//! Group commit: one task owns the write connection and turns whatever
//! writes are waiting into one transaction and one commit (one fsync with
//! `synchronous=FULL`). Under load many writes share
//! a commit; alone, a write commits at once. Nobody is answered before the
//! commit that makes their write durable.

use sqlx::{Connection as _, SqlitePool};
use tasksync_core::UserId;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::{CommitNotice, StoreError, TaskWrite, TaskWriteError, Written};

/// Most writes batched into one transaction.
const MAX_BATCH: usize = 128;

pub(super) struct Job {
    pub owner: UserId,
    pub write: TaskWrite,
    pub now: i64,
    pub reply: oneshot::Sender<Result<Written, TaskWriteError>>,
}

/// Starts the writer on the (single-connection) write pool.
pub(super) fn spawn(
    pool: SqlitePool,
    commits: broadcast::Sender<CommitNotice>,
) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
    tokio::spawn(run(pool, rx, commits));
    tx
}

async fn run(
    pool: SqlitePool,
    mut rx: mpsc::Receiver<Job>,
    commits: broadcast::Sender<CommitNotice>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs = std::mem::take(&mut batch);
        metrics::histogram!("tasksync_write_batch_size").record(jobs.len() as f64);
        match commit_batch(&pool, &jobs).await {
            Ok(results) => {
                // Wake the tailers: the newest seq of each scope touched.
                let mut heads: Vec<CommitNotice> = Vec::new();
                for change in results
                    .iter()
                    .filter_map(|r| r.as_ref().ok())
                    .filter_map(|w| w.change.as_ref())
                {
                    match heads.iter_mut().find(|n| n.scope == change.scope) {
                        Some(n) => n.seq = n.seq.max(change.seq),
                        None => heads.push(CommitNotice {
                            scope: change.scope,
                            seq: change.seq,
                        }),
                    }
                }
                for notice in heads {
                    let _ = commits.send(notice);
                }
                for (job, result) in jobs.into_iter().zip(results) {
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, writes = jobs.len(), "write batch failed to commit");
                let text = e.to_string();
                for job in jobs {
                    let _ = job.reply.send(Err(StoreError::Commit(text.clone()).into()));
                }
            }
        }
    }
}

/// Runs every job in one transaction and commits. A refused job (version
/// conflict, unknown task, taken id) is refused by [`super::tasks::apply`]
/// before it writes anything, so it needs no savepoint; a database error
/// inside any job aborts the whole batch (nobody is acknowledged, nothing
/// is kept). The results are only meaningful once this returns `Ok`.
async fn commit_batch(
    pool: &SqlitePool,
    jobs: &[Job],
) -> Result<Vec<Result<Written, TaskWriteError>>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        let result = super::tasks::apply(&mut tx, job.owner, &job.write, job.now).await;
        match result {
            Err(TaskWriteError::Store(StoreError::Database(e))) => {
                tx.rollback().await?;
                return Err(e);
            }
            other => results.push(other),
        }
    }
    tx.commit().await?;
    Ok(results)
}
