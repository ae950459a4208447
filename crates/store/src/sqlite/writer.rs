//! Group commit on a thread of its own.
//!
//! One OS thread owns a plain (rusqlite) connection and turns whatever task
//! writes are waiting into one transaction and one commit (one fsync with
//! `synchronous=FULL`): under load many writes share a commit; alone, a
//! write commits at once. Nobody is answered before the commit that makes
//! their write durable. The statements run synchronously on that thread,
//! with cached prepared statements: no hop between threads per statement.
//!
//! Every rule of a write is checked before its only writing step
//! ([`record`]), so a refused write leaves nothing behind while its
//! neighbours commit; a database error aborts the whole batch (nobody is
//! acknowledged, nothing is kept).

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension as _, Row, TransactionBehavior, params};
use tasksync_core::task::{apply_delete, apply_update, check_access, removal};
use tasksync_core::{
    Change, ChangeOp, ListId, ListRole, NewTask, Subject, Task, TaskId, TaskPatch, UserId,
    WriteRejection,
};
use tokio::sync::{broadcast, mpsc, oneshot};
use uuid::Uuid;

use crate::{CommitNotice, StoreError, TaskWrite, TaskWriteError, Written};

/// Most writes batched into one transaction.
const MAX_BATCH: usize = 128;

pub(super) struct Job {
    pub owner: UserId,
    pub write: TaskWrite,
    pub now: i64,
    pub reply: oneshot::Sender<Result<Written, TaskWriteError>>,
}

fn engine(e: rusqlite::Error) -> StoreError {
    StoreError::Engine(e.to_string())
}

/// Opens the writer's connection and starts its thread.
pub(super) fn spawn(
    path: PathBuf,
    commits: broadcast::Sender<CommitNotice>,
) -> crate::Result<mpsc::Sender<Job>> {
    let conn = Connection::open(&path).map_err(engine)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(engine)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(engine)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(engine)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(engine)?;
    conn.set_prepared_statement_cache_capacity(32);
    let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
    std::thread::Builder::new()
        .name("tasksync-writer".into())
        .spawn(move || run(conn, rx, &commits))
        .map_err(|e| StoreError::Config(format!("cannot start the writer thread: {e}")))?;
    Ok(tx)
}

fn run(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Job>,
    commits: &broadcast::Sender<CommitNotice>,
) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        metrics::histogram!("tasksync_write_batch_size").record(jobs.len() as f64);
        match commit_batch(&mut conn, &jobs) {
            Ok(results) => {
                // Wake the tailers, scope by scope, handing over what was
                // just committed.
                let mut by_scope: Vec<(UserId, Vec<Change>)> = Vec::new();
                for change in results
                    .iter()
                    .filter_map(|r| r.as_ref().ok())
                    .flat_map(Written::changes)
                {
                    match by_scope
                        .iter_mut()
                        .find(|(scope, _)| *scope == change.scope)
                    {
                        Some((_, changes)) => changes.push(change.clone()),
                        None => by_scope.push((change.scope, vec![change.clone()])),
                    }
                }
                let heads = by_scope.into_iter().map(|(scope, changes)| CommitNotice {
                    scope,
                    seq: changes.last().map_or(0, |c| c.seq),
                    committed: Some(changes.into()),
                });
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

/// Runs every job in one transaction and commits. The results are only
/// meaningful once this returns `Ok`.
fn commit_batch(
    conn: &mut Connection,
    jobs: &[Job],
) -> Result<Vec<Result<Written, TaskWriteError>>, rusqlite::Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        match apply(&tx, job.owner, &job.write, job.now) {
            Err(Failure::Database(e)) => return Err(e),
            Err(Failure::Rejected(r)) => results.push(Err(r.into())),
            Ok(written) => results.push(Ok(written)),
        }
    }
    tx.commit()?;
    Ok(results)
}

/// Why one write did not happen.
enum Failure {
    Rejected(WriteRejection),
    Database(rusqlite::Error),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Self::Database(e)
    }
}

impl From<WriteRejection> for Failure {
    fn from(r: WriteRejection) -> Self {
        Self::Rejected(r)
    }
}

fn task_from_row(row: &Row<'_>) -> rusqlite::Result<Task> {
    let owner = UserId::from_uuid(row.get::<_, Uuid>(1)?);
    Ok(Task {
        id: TaskId::from_uuid(row.get::<_, Uuid>(0)?),
        owner,
        list_id: row
            .get::<_, Option<Uuid>>(2)?
            .map_or(ListId::personal(owner), ListId::from_uuid),
        title: row.get(3)?,
        description: row.get(4)?,
        done: row.get(5)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
        version: row.get(8)?,
        deleted: row.get(9)?,
    })
}

/// Applies one write inside the batch's transaction.
fn apply(
    conn: &Connection,
    caller: UserId,
    write: &TaskWrite,
    now: i64,
) -> Result<Written, Failure> {
    match write {
        TaskWrite::Create(new) => create(conn, caller, new, now),
        TaskWrite::Update(patch) => update(conn, caller, patch, now),
        TaskWrite::Delete {
            id,
            expected_version,
        } => {
            let current = any_task(conn, *id)?.ok_or(WriteRejection::NotFound)?;
            check_access(role_in(conn, current.list_id, caller)?, None)?;
            match apply_delete(&current, *expected_version, now)? {
                None => Ok(Written::unchanged(current)),
                Some(stone) => fan_out(conn, caller, ChangeOp::Delete, stone, &current, now),
            }
        }
    }
}

/// The task with this id, in whatever list.
fn any_task(conn: &Connection, id: TaskId) -> rusqlite::Result<Option<Task>> {
    conn.prepare_cached(
        "SELECT id, owner, list_id, title, description, done, created_at, updated_at, version, deleted
         FROM tasks WHERE id = ?1",
    )?
    .query_row(params![id.as_uuid()], task_from_row)
    .optional()
}

/// The role of `user` in a list; `None`: not a member, or no such list.
fn role_in(conn: &Connection, list: ListId, user: UserId) -> Result<Option<ListRole>, Failure> {
    let role: Option<String> = conn
        .prepare_cached("SELECT role FROM list_members WHERE list_id = ?1 AND user_id = ?2")?
        .query_row(params![list.as_uuid(), user.as_uuid()], |r| r.get(0))
        .optional()?;
    Ok(role.and_then(|r| ListRole::parse(&r)))
}

/// The accounts that are members of a list, in user-id order.
fn members(conn: &Connection, list: ListId) -> rusqlite::Result<Vec<UserId>> {
    let mut stmt = conn.prepare_cached(
        "SELECT user_id FROM list_members WHERE list_id = ?1 AND user_id IS NOT NULL",
    )?;
    let mut users = stmt
        .query_map(params![list.as_uuid()], |r| r.get::<_, Uuid>(0))?
        .map(|r| r.map(UserId::from_uuid))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    users.sort();
    Ok(users)
}

fn create(conn: &Connection, caller: UserId, new: &NewTask, now: i64) -> Result<Written, Failure> {
    let target = new.list.unwrap_or(ListId::personal(caller));
    let role = role_in(conn, target, caller)?;
    if let Some(current) = any_task(conn, new.id)? {
        if current.owner != caller || role_in(conn, current.list_id, caller)?.is_none() {
            // Said exactly as for a clash within the caller's lists: nothing leaks.
            return Err(WriteRejection::IdTaken.into());
        }
        // The create's own image decides whether this is a retry; if the
        // log no longer has it, the current task does while unchanged.
        let created = conn
            .prepare_cached(
                "SELECT task_id, COALESCE(owner, scope), COALESCE(list_id, scope), title, description,
                        done, created_at, updated_at, version, deleted
                 FROM changes WHERE scope = ?1 AND task_id = ?2 AND op = 'create'
                 ORDER BY seq LIMIT 1",
            )?
            .query_row(params![caller.as_uuid(), new.id.as_uuid()], task_from_row)
            .optional()?
            .or_else(|| (current.version == 1).then(|| current.clone()));
        return match created {
            Some(image) if new.is_retry_of(&image, caller) => Ok(Written::unchanged(current)),
            _ => Err(WriteRejection::IdTaken.into()),
        };
    }
    check_access(role, None)?;
    let task = new.clone().into_task(caller, now);
    let before = task.clone();
    fan_out(conn, caller, ChangeOp::Create, task, &before, now)
}

fn update(
    conn: &Connection,
    caller: UserId,
    patch: &TaskPatch,
    now: i64,
) -> Result<Written, Failure> {
    let current = any_task(conn, patch.id)?.ok_or(WriteRejection::NotFound)?;
    let role = role_in(conn, current.list_id, caller)?;
    let target = match patch.list.filter(|l| *l != current.list_id) {
        // Not visible: not found, before anything else is said about it.
        Some(list) if role.is_some() => Some(role_in(conn, list, caller)?),
        _ => None,
    };
    check_access(role, target)?;
    match apply_update(&current, patch, now)? {
        None => Ok(Written::unchanged(current)),
        Some(next) => fan_out(conn, caller, ChangeOp::Update, next, &current, now),
    }
}

/// Writes the task's new row and, for every member of its list (and, for
/// a move, of the list it left), that member's next log number and
/// change-log row: `op` for who sees it before and after, `CREATE` (move-in)
/// for who sees it only now, `REMOVE` (a tombstone of what they saw) for
/// who no longer does. The log numbers are taken inside the batch's
/// transaction, which holds SQLite's write lock until it commits.
fn fan_out(
    conn: &Connection,
    caller: UserId,
    op: ChangeOp,
    task: Task,
    before: &Task,
    now: i64,
) -> Result<Written, Failure> {
    let after = members(conn, task.list_id)?;
    let was = if before.list_id == task.list_id {
        after.clone()
    } else {
        members(conn, before.list_id)?
    };
    let mut everyone: Vec<UserId> = after.iter().chain(&was).copied().collect();
    everyone.sort();
    everyone.dedup();
    let mut mine = None;
    let mut others = Vec::with_capacity(everyone.len().saturating_sub(1));
    for user in everyone {
        let (op, image) = match (was.contains(&user), after.contains(&user)) {
            (true, true) => (op, task.clone()),
            (false, _) => (ChangeOp::Create, task.clone()),
            (true, false) => (ChangeOp::Remove, removal(before)),
        };
        let change = log(conn, user, op, image, now)?;
        if user == caller {
            mine = Some(change);
        } else {
            others.push(change);
        }
    }
    let last_seq = mine.as_ref().map_or(0, |c| c.seq);
    conn.prepare_cached(
        "INSERT INTO tasks (id, owner, title, description, done, created_at, updated_at, version, deleted, last_seq, list_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (id) DO UPDATE SET
           list_id = excluded.list_id, title = excluded.title, description = excluded.description,
           done = excluded.done, updated_at = excluded.updated_at, version = excluded.version,
           deleted = excluded.deleted, last_seq = excluded.last_seq",
    )?
    .execute(params![
        task.id.as_uuid(),
        task.owner.as_uuid(),
        task.title,
        task.description,
        task.done,
        task.created_at,
        task.updated_at,
        task.version,
        task.deleted,
        last_seq,
        task.list_id.as_uuid()
    ])?;
    Ok(Written {
        task,
        change: mine,
        others,
    })
}

/// Takes `scope`'s next number and appends the change to its log.
fn log(
    conn: &Connection,
    scope: UserId,
    op: ChangeOp,
    task: Task,
    now: i64,
) -> Result<Change, Failure> {
    let seq: i64 = conn
        .prepare_cached(
            "INSERT INTO scopes (scope, seq) VALUES (?1, 1)
             ON CONFLICT (scope) DO UPDATE SET seq = scopes.seq + 1
             RETURNING seq",
        )?
        .query_row(params![scope.as_uuid()], |r| r.get(0))?;
    conn.prepare_cached(
        "INSERT INTO changes (scope, seq, op, at, task_id, title, description, done, created_at, updated_at, version, deleted, owner, list_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        scope.as_uuid(),
        seq,
        op.as_str(),
        now,
        task.id.as_uuid(),
        task.title,
        task.description,
        task.done,
        task.created_at,
        task.updated_at,
        task.version,
        task.deleted,
        task.owner.as_uuid(),
        task.list_id.as_uuid()
    ])?;
    Ok(Change {
        scope,
        seq,
        op,
        subject: Subject::Task(task),
        at: now,
    })
}
