//! Task writes, batched: group commit on PostgreSQL.
//!
//! Writes are routed by scope to one of a few *lanes*; each lane turns the
//! writes waiting for it into one transaction and one commit. Without this
//! every write would be a transaction of its own, and two things would
//! serialise them through one fsync each: the scope's row lock (held until
//! commit, by design) for the writes of one user, and the lock PostgreSQL
//! takes for `NOTIFY` at commit for all writes of the cluster.
//!
//! A batch takes the same few statements whatever its size:
//! 1. it locks the row of every scope it touches, in a fixed order (scope
//!    id), so batches of different nodes cannot deadlock, and reads their
//!    heads;
//! 2. it reads, under those locks, every task row its writes name (and, for
//!    a create of an id in use, that task's create image from the log);
//! 3. it decides each write in turn in memory, with the pure rules of
//!    `tasksync_core::task`, against the rows as the earlier writes of the
//!    batch left them, numbering the scope's changes from its head; a
//!    refused write takes no number;
//! 4. one statement writes each touched task's new row, every change-log
//!    row and the new heads, and queues one wake-up notice per scope;
//! 5. it commits. Nobody is answered before the commit that makes their
//!    write durable; a database error fails the whole batch and nothing is
//!    kept.
//!
//! Only another owner's create of the same id can change what step 3 saw,
//! since every other write of a scope waits for its lock: step 4 then
//! finds that row taken, the batch is rolled back and run again, and the
//! create is refused on the fresh read ([`BatchError::Raced`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sqlx::{PgConnection, PgPool};
use tasksync_core::task::{apply_delete, apply_update, check_access, removal};
use tasksync_core::{
    Change, ChangeOp, ListId, ListRole, Subject, Task, TaskId, UserId, WriteRejection,
};
use tokio::sync::{broadcast, mpsc, oneshot};
use uuid::Uuid;

use crate::rows;
use crate::{CommitNotice, StoreError, TaskWrite, TaskWriteError, Written};

/// Most writes batched into one transaction.
const MAX_BATCH: usize = 128;
/// Attempts of a batch that PostgreSQL aborted as a deadlock or a
/// serialisation failure (nothing of it was kept, so it is safe to redo).
pub(super) const ATTEMPTS: usize = 3;

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
                Err(e) if e.retryable() => outcome = commit_batch(&pool, &writes, node).await,
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

/// Why a batch was not committed. Nothing of it was kept.
#[derive(Debug, thiserror::Error)]
pub(super) enum BatchError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A create found its id free, and another owner's create of that id
    /// committed before this batch could write it: the batch must be read
    /// and decided again, and that create will then be refused.
    #[error("a task id was taken by a concurrent create")]
    Raced,
}

impl BatchError {
    /// Whether running the batch again may succeed: PostgreSQL aborted it as
    /// a deadlock or a serialisation failure, or a create raced.
    fn retryable(&self) -> bool {
        match self {
            Self::Database(sqlx::Error::Database(d)) => {
                matches!(d.code().as_deref(), Some("40P01" | "40001"))
            }
            Self::Raced => true,
            _ => false,
        }
    }
}

impl From<BatchError> for TaskWriteError {
    fn from(e: BatchError) -> Self {
        match e {
            BatchError::Database(e) => Self::Store(StoreError::Database(e)),
            BatchError::Store(e) => Self::Store(e),
            BatchError::Raced => Self::Store(StoreError::Commit(e.to_string())),
        }
    }
}

/// Local wake-ups: per scope, the changes just committed, in seq order.
fn notices(results: &[Result<Written, TaskWriteError>]) -> Vec<CommitNotice> {
    let mut by_scope: BTreeMap<UserId, Vec<Change>> = BTreeMap::new();
    for change in results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .flat_map(Written::changes)
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
) -> Result<Vec<Result<Written, TaskWriteError>>, BatchError> {
    let mut tx = pool.begin().await?;
    let results = match apply_all(&mut tx, writes, node).await {
        Ok(results) => results,
        Err(e) => {
            // Explicitly, so that the connection is clean before a retry
            // takes one from the pool.
            let _ = tx.rollback().await;
            return Err(e);
        }
    };
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
/// committing, in a fixed number of statements whatever the batch's size.
/// Every scope they touch stays locked until the caller commits or rolls
/// back. On [`BatchError::Raced`] the transaction holds a partial batch and
/// must be rolled back.
pub(super) async fn apply_all(
    conn: &mut PgConnection,
    writes: &[(UserId, &TaskWrite, i64)],
    node: u64,
) -> Result<Vec<Result<Written, TaskWriteError>>, BatchError> {
    // 1. The lists the batch touches: those its tasks are in now (read
    //    without a lock, checked again under the locks) and those it
    //    creates or moves tasks into. Lock them in id order: a list's row
    //    lock freezes its membership (list writes take it too).
    let ids: Vec<Uuid> = writes
        .iter()
        .map(|(_, w, _)| w.task_id().as_uuid())
        .collect();
    let mut lists: Vec<Uuid> =
        sqlx::query_scalar("SELECT list_id FROM tasks WHERE id = ANY($1) AND list_id IS NOT NULL")
            .bind(&ids)
            .fetch_all(&mut *conn)
            .await?;
    for &(caller, write, _) in writes {
        match write {
            TaskWrite::Create(new) => {
                lists.push(new.list.unwrap_or(ListId::personal(caller)).as_uuid())
            }
            TaskWrite::Update(patch) => lists.extend(patch.list.map(|l| l.as_uuid())),
            TaskWrite::Delete { .. } => {}
        }
    }
    lists.sort_unstable();
    lists.dedup();
    sqlx::query("SELECT id FROM lists WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(&lists)
        .execute(&mut *conn)
        .await?;
    let members = Members::read(conn, &lists).await?;

    // 2. Lock the logs of every member of those lists (creating their
    //    rows), in scope order, so batches of different nodes cannot
    //    deadlock.
    let mut scopes: Vec<Uuid> = members
        .0
        .values()
        .flatten()
        .map(|(u, _)| u.as_uuid())
        .collect();
    scopes.sort_unstable();
    scopes.dedup();
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

    // 3. Read, under those locks, everything the rules need. A task that
    //    moved to a list not locked above since step 1 sends the batch
    //    round again.
    let mut state = Snapshot::read(conn, writes).await?;
    if state
        .tasks
        .values()
        .any(|t| lists.binary_search(&t.list_id.as_uuid()).is_err())
    {
        return Err(BatchError::Raced);
    }

    // 4. Each write in turn, against the state the earlier ones left, fanned
    //    out to the members of its list (and of the list it left).
    let mut changes = Vec::new();
    // The writer's own change of each write: its image is the task's row.
    let mut rows = Vec::new();
    let mut results = Vec::with_capacity(writes.len());
    for &(caller, write, now) in writes {
        results.push(match state.decide(caller, write, now, &members) {
            Ok(Decision::Write(op, task, before)) => {
                state.apply(op, &task);
                let mut mine = None;
                let mut others = Vec::new();
                for (user, op, image) in members.recipients(op, &task, &before) {
                    let (head, moved) = heads.entry(user.as_uuid()).or_insert((0, false));
                    *head += 1;
                    *moved = true;
                    let change = Change {
                        scope: user,
                        seq: *head,
                        op,
                        subject: Subject::Task(image),
                        at: now,
                    };
                    changes.push(change.clone());
                    if user == caller {
                        mine = Some(change);
                    } else {
                        others.push(change);
                    }
                }
                rows.extend(mine.clone());
                Ok(Written {
                    task,
                    change: mine,
                    others,
                })
            }
            Ok(Decision::Unchanged(task)) => Ok(Written::unchanged(task)),
            Err(rejection) => Err(rejection.into()),
        });
    }
    if changes.is_empty() {
        return Ok(results);
    }

    // 5. One statement writes it all: the tasks' new rows, the change-log
    //    rows, the new heads, and one wake-up per scope for the other nodes
    //    (PostgreSQL sends it on commit).
    if !record(conn, &rows, &changes, &heads, node).await? {
        // A task row was not written: its id was taken by another owner's
        // create that committed after the snapshot.
        return Err(BatchError::Raced);
    }
    Ok(results)
}

/// The accounts that are members of each list a batch touches, with their
/// role, in user-id order; read under the lists' locks.
#[derive(Default)]
struct Members(HashMap<Uuid, Vec<(UserId, ListRole)>>);

impl Members {
    async fn read(conn: &mut PgConnection, lists: &[Uuid]) -> Result<Self, BatchError> {
        let rows: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
            "SELECT list_id, user_id, role FROM list_members
             WHERE list_id = ANY($1) AND user_id IS NOT NULL
             ORDER BY list_id, user_id",
        )
        .bind(lists)
        .fetch_all(&mut *conn)
        .await?;
        let mut members = Self::default();
        for (list, user, role) in rows {
            let role = ListRole::parse(&role).ok_or(StoreError::Corrupt("list role"))?;
            members
                .0
                .entry(list)
                .or_default()
                .push((UserId::from_uuid(user), role));
        }
        Ok(members)
    }

    fn of(&self, list: ListId) -> &[(UserId, ListRole)] {
        self.0.get(&list.as_uuid()).map_or(&[], Vec::as_slice)
    }

    fn role(&self, list: ListId, user: UserId) -> Option<ListRole> {
        self.of(list)
            .iter()
            .find(|(u, _)| *u == user)
            .map(|(_, r)| *r)
    }

    /// Who gets which change when `before` becomes `task` by `op`: `op` for
    /// who sees it before and after, `CREATE` (move-in) for who sees it
    /// only now, `REMOVE` for who no longer does; in user-id order.
    fn recipients(
        &self,
        op: ChangeOp,
        task: &Task,
        before: &Task,
    ) -> Vec<(UserId, ChangeOp, Task)> {
        let after: Vec<UserId> = self.of(task.list_id).iter().map(|(u, _)| *u).collect();
        let was: Vec<UserId> = self.of(before.list_id).iter().map(|(u, _)| *u).collect();
        let mut everyone: Vec<UserId> = after.iter().chain(&was).copied().collect();
        everyone.sort();
        everyone.dedup();
        everyone
            .into_iter()
            .map(|user| match (was.contains(&user), after.contains(&user)) {
                (true, true) => (user, op, task.clone()),
                (false, _) => (user, ChangeOp::Create, task.clone()),
                (true, false) => (user, ChangeOp::Remove, removal(before)),
            })
            .collect()
    }
}

enum Decision {
    /// The change, the task after it and before it (for a create, the same).
    Write(ChangeOp, Task, Task),
    Unchanged(Task),
}

/// The rows a batch's rules read, kept up to date as its writes are
/// decided, so a later write of the batch sees what an earlier one did.
#[derive(Default)]
struct Snapshot {
    /// The task rows with the ids the batch names, whoever owns them.
    tasks: HashMap<TaskId, Task>,
    /// Each existing task's create image from the log, for the creates
    /// that name an id already in use (to tell a retry from a clash).
    created: HashMap<TaskId, Task>,
}

impl Snapshot {
    async fn read(
        conn: &mut PgConnection,
        writes: &[(UserId, &TaskWrite, i64)],
    ) -> Result<Self, BatchError> {
        let ids: Vec<Uuid> = writes
            .iter()
            .map(|(_, w, _)| w.task_id().as_uuid())
            .collect();
        let rows = sqlx::query(
            "SELECT id, owner, list_id, title, description, done, created_at, updated_at, version, deleted
             FROM tasks WHERE id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await?;
        let mut snapshot = Self::default();
        for row in &rows {
            let task = rows::task(row)?;
            snapshot.tasks.insert(task.id, task);
        }
        // Creates of an id their own owner already has: a retry or a clash,
        // which the create's image in the log tells apart.
        let (scopes, ids): (Vec<Uuid>, Vec<Uuid>) = writes
            .iter()
            .filter_map(|&(owner, write, _)| match write {
                TaskWrite::Create(new) => snapshot
                    .tasks
                    .get(&new.id)
                    .filter(|t| t.owner == owner)
                    .map(|_| (owner.as_uuid(), new.id.as_uuid())),
                _ => None,
            })
            .unzip();
        if !ids.is_empty() {
            let rows = sqlx::query(
                "SELECT c.task_id AS id, COALESCE(c.owner, c.scope) AS owner,
                        COALESCE(c.list_id, c.scope) AS list_id, c.title, c.description, c.done,
                        c.created_at, c.updated_at, c.version, c.deleted
                 FROM unnest($1::uuid[], $2::uuid[]) AS k(scope, task_id)
                 JOIN changes c ON c.scope = k.scope AND c.task_id = k.task_id AND c.op = 'create'
                 ORDER BY c.seq DESC",
            )
            .bind(&scopes)
            .bind(&ids)
            .fetch_all(&mut *conn)
            .await?;
            for row in &rows {
                let image = rows::task(row)?;
                snapshot.created.insert(image.id, image);
            }
        }
        Ok(snapshot)
    }

    /// What a write would do now.
    fn decide(
        &self,
        caller: UserId,
        write: &TaskWrite,
        now: i64,
        members: &Members,
    ) -> Result<Decision, WriteRejection> {
        let role = |list: ListId| members.role(list, caller);
        Ok(match write {
            TaskWrite::Create(new) => {
                let target = new.list.unwrap_or(ListId::personal(caller));
                let Some(current) = self.tasks.get(&new.id) else {
                    check_access(role(target), None)?;
                    let task = new.clone().into_task(caller, now);
                    return Ok(Decision::Write(ChangeOp::Create, task.clone(), task));
                };
                if current.owner != caller || role(current.list_id).is_none() {
                    // Said exactly as for a clash within the caller's lists: nothing leaks.
                    return Err(WriteRejection::IdTaken);
                }
                // The create's own image decides whether this is a retry; if
                // the log no longer has it, the current task does while
                // unchanged.
                let image = self
                    .created
                    .get(&new.id)
                    .or_else(|| (current.version == 1).then_some(current));
                match image {
                    Some(image) if new.is_retry_of(image, caller) => {
                        Decision::Unchanged(current.clone())
                    }
                    _ => return Err(WriteRejection::IdTaken),
                }
            }
            TaskWrite::Update(patch) => {
                let current = self.tasks.get(&patch.id).ok_or(WriteRejection::NotFound)?;
                let here = role(current.list_id);
                let target = match patch.list.filter(|l| *l != current.list_id) {
                    Some(list) if here.is_some() => Some(role(list)),
                    _ => None,
                };
                check_access(here, target)?;
                match apply_update(current, patch, now)? {
                    Some(next) => Decision::Write(ChangeOp::Update, next, current.clone()),
                    None => Decision::Unchanged(current.clone()),
                }
            }
            TaskWrite::Delete {
                id,
                expected_version,
            } => {
                let current = self.tasks.get(id).ok_or(WriteRejection::NotFound)?;
                check_access(role(current.list_id), None)?;
                match apply_delete(current, *expected_version, now)? {
                    Some(stone) => Decision::Write(ChangeOp::Delete, stone, current.clone()),
                    None => Decision::Unchanged(current.clone()),
                }
            }
        })
    }

    /// Takes a decided change into the state.
    fn apply(&mut self, op: ChangeOp, task: &Task) {
        let id = task.id;
        if op == ChangeOp::Create {
            self.created.insert(id, task.clone());
        }
        self.tasks.insert(id, task.clone());
    }
}

/// Writes a batch's changes: each touched task's latest image (a new row,
/// or an update of the owner's row), every change-log row, the moved heads
/// and their notices. Returns whether every task row was written; one is
/// not when its id belongs to another owner (see [`BatchError::Raced`]).
async fn record(
    conn: &mut PgConnection,
    rows: &[Change],
    changes: &[Change],
    heads: &BTreeMap<Uuid, (i64, bool)>,
    node: u64,
) -> Result<bool, sqlx::Error> {
    // The latest image and seq of each task, in first-touched order (from
    // the writers' own changes: other members' may be removals).
    let mut latest: Vec<&Change> = Vec::new();
    let mut at: HashMap<TaskId, usize> = HashMap::new();
    for change in rows {
        let Some(task) = change.task() else { continue };
        match at.get(&task.id) {
            Some(&i) => latest[i] = change,
            None => {
                at.insert(task.id, latest.len());
                latest.push(change);
            }
        }
    }
    let tasks = ChangeArrays::of(latest.iter().copied());
    let log = ChangeArrays::of(changes.iter());
    let (moved, seqs): (Vec<Uuid>, Vec<i64>) = heads
        .iter()
        .filter(|(_, (_, moved))| *moved)
        .map(|(scope, (seq, _))| (*scope, *seq))
        .unzip();
    let payloads: Vec<String> = moved
        .iter()
        .zip(&seqs)
        .map(|(scope, seq)| super::listener::payload(UserId::from_uuid(*scope), *seq, node))
        .collect();
    let (written, _notified): (i64, i64) = sqlx::query_as(
        "WITH t AS (
             INSERT INTO tasks (id, owner, list_id, title, description, done, created_at,
                                updated_at, version, deleted, last_seq)
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[],
                                  $6::boolean[], $7::bigint[], $8::bigint[], $9::bigint[],
                                  $10::boolean[], $11::bigint[])
             ON CONFLICT (id) DO UPDATE
                 SET list_id = EXCLUDED.list_id, title = EXCLUDED.title,
                     description = EXCLUDED.description, done = EXCLUDED.done,
                     updated_at = EXCLUDED.updated_at, version = EXCLUDED.version,
                     deleted = EXCLUDED.deleted, last_seq = EXCLUDED.last_seq
                 WHERE tasks.owner = EXCLUDED.owner
             RETURNING 1),
         c AS (
             INSERT INTO changes (scope, seq, op, at, task_id, owner, list_id, title, description,
                                  done, created_at, updated_at, version, deleted)
             SELECT l.scope, l.seq, l.op, l.at, l.id, l.owner, l.list_id, l.title, l.description,
                    l.done, l.created_at, l.updated_at, l.version, l.deleted
             FROM unnest($12::uuid[], $13::uuid[], $14::uuid[], $15::uuid[], $16::text[],
                         $17::text[], $18::boolean[], $19::bigint[], $20::bigint[],
                         $21::bigint[], $22::boolean[], $23::bigint[], $24::text[], $25::bigint[])
                  AS l(id, scope, owner, list_id, title, description, done, created_at,
                       updated_at, version, deleted, seq, op, at)),
         h AS (
             UPDATE scopes SET seq = h.seq
             FROM unnest($26::uuid[], $27::bigint[]) AS h(scope, seq)
             WHERE scopes.scope = h.scope)
         SELECT (SELECT count(*) FROM t),
                (SELECT count(pg_notify($28, p)) FROM unnest($29::text[]) p)",
    )
    .bind(&tasks.id)
    .bind(&tasks.owner)
    .bind(&tasks.list)
    .bind(&tasks.title)
    .bind(&tasks.description)
    .bind(&tasks.done)
    .bind(&tasks.created_at)
    .bind(&tasks.updated_at)
    .bind(&tasks.version)
    .bind(&tasks.deleted)
    .bind(&tasks.seq)
    .bind(&log.id)
    .bind(&log.scope)
    .bind(&log.owner)
    .bind(&log.list)
    .bind(&log.title)
    .bind(&log.description)
    .bind(&log.done)
    .bind(&log.created_at)
    .bind(&log.updated_at)
    .bind(&log.version)
    .bind(&log.deleted)
    .bind(&log.seq)
    .bind(&log.op)
    .bind(&log.at)
    .bind(&moved)
    .bind(&seqs)
    .bind(super::CHANNEL)
    .bind(&payloads)
    .fetch_one(&mut *conn)
    .await?;
    Ok(written == latest.len() as i64)
}

/// Changes as column arrays, for `unnest`.
#[derive(Default)]
struct ChangeArrays {
    id: Vec<Uuid>,
    scope: Vec<Uuid>,
    owner: Vec<Uuid>,
    list: Vec<Uuid>,
    title: Vec<String>,
    description: Vec<Option<String>>,
    done: Vec<bool>,
    created_at: Vec<i64>,
    updated_at: Vec<i64>,
    version: Vec<i64>,
    deleted: Vec<bool>,
    seq: Vec<i64>,
    op: Vec<&'static str>,
    at: Vec<i64>,
}

impl ChangeArrays {
    fn of<'a>(changes: impl Iterator<Item = &'a Change>) -> Self {
        let mut c = Self::default();
        for change in changes {
            let Some(t) = change.task() else { continue };
            c.id.push(t.id.as_uuid());
            c.scope.push(change.scope.as_uuid());
            c.owner.push(t.owner.as_uuid());
            c.list.push(t.list_id.as_uuid());
            c.title.push(t.title.clone());
            c.description.push(t.description.clone());
            c.done.push(t.done);
            c.created_at.push(t.created_at);
            c.updated_at.push(t.updated_at);
            c.version.push(t.version);
            c.deleted.push(t.deleted);
            c.seq.push(change.seq);
            c.op.push(change.op.as_str());
            c.at.push(change.at);
        }
        c
    }
}
