//! The PostgreSQL adapter: several stateless nodes on one database.
//!
//! Every method is one transaction on a pooled connection, at PostgreSQL's
//! default isolation (read committed) with `synchronous_commit` on (turned
//! back on for our connections if the server has it off), so an
//! acknowledged write is durable. Task writes are batched into shared
//! transactions by [`writer`] (group commit).
//!
//! # Gapless, commit-ordered log
//! A transaction that writes tasks first locks the row of each scope it
//! touches in `scopes` (`SELECT … FOR UPDATE`, in scope order) and reads
//! the scope's head there; it numbers its changes from that head and stores
//! the new head before it commits. The row stays locked until the
//! transaction ends, so the next transaction of the scope waits until this
//! one has committed (and is visible) before it can read the head: numbers
//! are taken one transaction at a time and commit in order. A reader that
//! sees change N+1 therefore always sees N. A refused write writes nothing,
//! and a transaction that rolls back leaves the head as it was. Everything
//! else a write reads, it reads after taking the lock, so it sees the
//! latest committed state of the scope.
//!
//! # Wake-ups between nodes
//! In the same transaction the writer calls `pg_notify` with each scope and
//! its new head; PostgreSQL delivers it on commit, to every node (see
//! [`listener`]). A notice only wakes the tailers, which read the log; a
//! lost one costs latency, never data.
//!
//! The statements it shares with SQLite are in `crate::sql`; here are
//! connecting, the writer, the listener, and the methods whose SQL is
//! PostgreSQL's own.

use std::str::FromStr as _;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use sqlx::PgConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tasksync_core::{
    Change, Email, ListLimits, ListView, ListWrite, SessionId, Task, TaskId, UserId, lockout,
};
use tokio::sync::{broadcast, oneshot, watch};
use uuid::Uuid;

use crate::sql::{Backend, Pool, Tx, accounts, lists, tasks};
use crate::{
    CodeCheck, CodeLimits, CodePurpose, CommitNotice, ConnectOptions, ListWriteError, ListWritten,
    LogBounds, NewCode, PasswordProof, Result, Rotation, SessionRecord, SigningKeyRecord, Store,
    StoreError, Synced, TaskWrite, TaskWriteError, Throttle, UserRecord, Written, rows,
};

mod listener;
mod writer;

pub(crate) use listener::payload;

pub use listener::APPLICATION_NAME as LISTENER_APPLICATION_NAME;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The channel commit notices travel on.
pub const CHANNEL: &str = "tasksync_commits";

/// PostgreSQL behind the [`Store`] trait.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Where the listener connects (the pool's settings, one connection).
    connect: PgConnectOptions,
    /// Tells this node's own notices apart from other nodes'.
    node: u64,
    commits: broadcast::Sender<CommitNotice>,
    resyncs: watch::Sender<u64>,
    /// Group commit of task writes.
    lanes: writer::Lanes,
    /// Started on the first call to [`Store::commits`]: a one-shot admin
    /// command never opens a listening connection.
    listener: Arc<OnceLock<listener::Handle>>,
}

/// Without the connection options, which hold the password.
impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("node", &format_args!("{:x}", self.node))
            .field("pool_size", &self.pool.size())
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Opens a pool on a `postgres://` URL and checks that the server answers.
    pub async fn connect(options: &ConnectOptions) -> Result<Self> {
        let connect = PgConnectOptions::from_str(&options.url)
            .map_err(|e| {
                StoreError::Config(format!(
                    "bad PostgreSQL URL {:?}: {e}",
                    crate::redact_url(&options.url)
                ))
            })?
            .application_name("tasksync");
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(2))
            .acquire_timeout(options.acquire_timeout)
            .after_connect(|conn, _| Box::pin(durable_commits(conn)))
            .connect_with(connect.clone())
            .await?;
        let (commits, _) = broadcast::channel(4096);
        let (resyncs, _) = watch::channel(0);
        let node = rand_node();
        // A lane per four connections: lanes write in parallel, and leave
        // connections for reads.
        let lanes = writer::Lanes::spawn(
            pool.clone(),
            (options.max_connections as usize / 4).clamp(1, 8),
            node,
            commits.clone(),
        );
        Ok(Self {
            pool,
            connect,
            node,
            commits,
            resyncs,
            lanes,
            listener: Arc::default(),
        })
    }

    /// The versions of the migrations this binary knows, ascending.
    pub fn known_schema() -> Vec<i64> {
        crate::schema::known(&MIGRATOR)
    }

    /// The pool, for tests and tools that need plain SQL.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies one task write inside `conn`'s open transaction, without
    /// committing: the scope's row stays locked until the caller commits or
    /// rolls back, and the wake-up notice goes out on commit.
    /// [`Store::write_task`] runs the same code in a batch and commits;
    /// tests use this directly to hold a transaction open at the point where
    /// it has taken its sequence number. After an error the transaction may
    /// hold part of the write and must be rolled back.
    pub async fn write_in(
        &self,
        conn: &mut PgConnection,
        owner: UserId,
        write: &TaskWrite,
        now: i64,
    ) -> Result<Written, TaskWriteError> {
        writer::apply_all(conn, &[(owner, write, now)], self.node)
            .await?
            .pop()
            .unwrap_or(Err(TaskWriteError::Store(StoreError::WorkerGone)))
    }

    async fn begin(&self) -> Result<Tx> {
        Ok(Backend::Postgres(self.pool.begin().await?))
    }

    /// The pool, as the statements of `crate::sql` take it.
    fn db(&self) -> Pool<'_> {
        Backend::Postgres(&self.pool)
    }
}

/// Connections of tasksync nodes (and of other tasksync commands) that
/// are open on the database of `url`, besides the one this call opens: a
/// restore must not run under them.
pub async fn tasksync_connections(url: &str) -> Result<i64> {
    use sqlx::Connection as _;
    let options = PgConnectOptions::from_str(url).map_err(|e| {
        StoreError::Config(format!(
            "bad PostgreSQL URL {:?}: {e}",
            crate::redact_url(url)
        ))
    })?;
    let mut conn = PgConnection::connect_with(&options).await?;
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()
           AND application_name LIKE 'tasksync%'",
    )
    .fetch_one(&mut conn)
    .await?;
    let _ = conn.close().await;
    Ok(open)
}

/// An acknowledged write must survive a crash of the database server, so
/// its commit must be flushed before we answer: `synchronous_commit = off`,
/// whether set for the server, the database or the role, is turned back on
/// for this connection. Stronger settings (`remote_write`, `remote_apply`,
/// with synchronous standbys) and `local` are left as they are.
async fn durable_commits(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    let setting: String = sqlx::query_scalar("SELECT current_setting('synchronous_commit')")
        .fetch_one(&mut *conn)
        .await?;
    if setting == "off" {
        static WARNED: std::sync::Once = std::sync::Once::new();
        WARNED.call_once(|| {
            tracing::warn!(
                "synchronous_commit is off on the PostgreSQL server; tasksync turns it on for its connections, so acknowledged writes stay durable"
            );
        });
        sqlx::query("SET synchronous_commit = on")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

fn rand_node() -> u64 {
    // The low bits of a random v4 UUID.
    let bytes = Uuid::new_v4().into_bytes();
    u64::from_le_bytes([
        bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15],
    ])
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<()> {
        accounts::ping(self.db()).await
    }

    async fn migrate(&self) -> Result<()> {
        // sqlx holds a database-wide advisory lock while it migrates, so
        // nodes starting at once on an empty database take turns.
        crate::schema::migrate(self.db(), &MIGRATOR).await
    }

    async fn schema(&self) -> Result<crate::SchemaStatus> {
        crate::schema::status(self.db(), &MIGRATOR).await
    }

    async fn create_user(&self, user: &UserRecord) -> Result<()> {
        accounts::create_user(self.db(), user).await
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>> {
        accounts::user_by_email(self.db(), email).await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>> {
        accounts::user_by_id(self.db(), id).await
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>> {
        accounts::list_users(self.db()).await
    }

    async fn confirm_user(&self, id: UserId, now: i64) -> Result<()> {
        accounts::confirm_user(self.begin().await?, id, now).await
    }

    async fn set_disabled(&self, id: UserId, disabled: bool, now: i64) -> Result<Vec<SessionId>> {
        accounts::set_disabled(self.begin().await?, id, disabled, now).await
    }

    async fn set_password(
        &self,
        id: UserId,
        password_hash: &str,
        keep: Option<SessionId>,
        now: i64,
    ) -> Result<Vec<SessionId>> {
        accounts::set_password(self.begin().await?, id, password_hash, keep, now).await
    }

    async fn put_code(&self, code: &NewCode, limits: &CodeLimits, now: i64) -> Result<bool> {
        accounts::put_code(self.begin().await?, code, limits, now).await
    }

    async fn check_code(
        &self,
        user_id: UserId,
        purpose: CodePurpose,
        code_hash: &[u8],
        proof: PasswordProof<'_>,
        limits: &CodeLimits,
        now: i64,
    ) -> Result<CodeCheck> {
        let tx = self.begin().await?;
        accounts::check_code(tx, user_id, purpose, code_hash, proof, limits, now).await
    }

    async fn create_session(
        &self,
        session: &SessionRecord,
        refresh_hash: &[u8],
        keep_at_most: u32,
    ) -> Result<Vec<SessionId>> {
        let (ended, heads) = accounts::create_session(
            self.begin().await?,
            session,
            refresh_hash,
            keep_at_most,
            self.node,
        )
        .await?;
        heads.announce(&self.commits);
        Ok(ended)
    }

    async fn rotate_refresh(&self, old_hash: &[u8], new_hash: &[u8], now: i64) -> Result<Rotation> {
        let (rotation, heads) =
            accounts::rotate_refresh(self.begin().await?, old_hash, new_hash, now, self.node)
                .await?;
        heads.announce(&self.commits);
        Ok(rotation)
    }

    async fn session_by_refresh(&self, hash: &[u8]) -> Result<Option<SessionRecord>> {
        accounts::session_by_refresh(self.db(), hash).await
    }

    async fn session(&self, id: SessionId) -> Result<Option<SessionRecord>> {
        sqlx::query(
            "SELECT id, user_id, created_at, expires_at, revoked_at FROM sessions WHERE id = $1",
        )
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::session)
        .transpose()
    }

    async fn revoke_session(&self, id: SessionId, now: i64) -> Result<bool> {
        accounts::revoke_session(self.db(), id, now).await
    }

    async fn revoke_user_sessions(&self, user_id: UserId, now: i64) -> Result<Vec<SessionId>> {
        accounts::revoke_user_sessions(self.db(), user_id, now).await
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>> {
        accounts::signing_keys(self.db()).await
    }

    async fn init_signing_key(&self, key: &SigningKeyRecord) -> Result<Vec<SigningKeyRecord>> {
        accounts::init_signing_key(self.begin().await?, key).await
    }

    async fn throttle(&self, email: &Email) -> Result<Throttle> {
        accounts::throttle(self.db(), email).await
    }

    async fn reserve_login_attempt(&self, email: &Email, now: i64) -> Result<lockout::Attempt> {
        // The row is locked (FOR UPDATE) from the read to the write, so
        // concurrent attempts of one address, on any node, are decided one
        // after the other. The first attempt of an address makes its row.
        // One statement makes or locks the row: with an INSERT that does
        // nothing and a SELECT … FOR UPDATE, a success's DELETE of the row
        // (it clears the failures) between the two left the SELECT with no
        // row, a 500.
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "INSERT INTO login_throttle (email, failures, locked_until, last_failure_at)
             VALUES ($1, 0, 0, 0)
             ON CONFLICT (email) DO UPDATE SET email = excluded.email
             RETURNING failures, locked_until, last_failure_at",
        )
        .bind(email.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let attempt = lockout::reserve(Some(rows::throttle(&row)?), now);
        if let lockout::Attempt::Allowed(t) = attempt {
            sqlx::query(
                "UPDATE login_throttle SET failures = $2, locked_until = $3, last_failure_at = $4
                 WHERE email = $1",
            )
            .bind(email.as_str())
            .bind(i64::from(t.failures))
            .bind(t.locked_until)
            .bind(t.last_failure_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(attempt)
    }

    async fn extend_lockout(&self, email: &Email, until: i64) -> Result<()> {
        accounts::extend_lockout(self.db(), email, until).await
    }

    async fn clear_login_failures(&self, email: &Email) -> Result<()> {
        accounts::clear_login_failures(self.db(), email).await
    }

    async fn write_list(
        &self,
        caller: UserId,
        write: ListWrite,
        limits: ListLimits,
        now: i64,
    ) -> Result<ListWritten, ListWriteError> {
        // A deadlock, or a create that raced another of the same id (the
        // list's primary key), is run again: under the locks the second
        // time it sees what the first winner wrote.
        let mut attempt = 1;
        loop {
            match lists::write_list(self.begin().await?, caller, &write, &limits, now, self.node)
                .await
            {
                Ok((written, heads)) => {
                    heads.announce(&self.commits);
                    return Ok(written);
                }
                Err(ListWriteError::Store(StoreError::Database(sqlx::Error::Database(d))))
                    if attempt < writer::ATTEMPTS
                        && (d.code().as_deref() == Some("40P01")
                            || (matches!(write, ListWrite::Create { .. })
                                && d.constraint() == Some("lists_pkey"))) =>
                {
                    tracing::info!(code = ?d.code(), attempt, "list write raced: running it again");
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn lists(&self, user: UserId) -> Result<Vec<ListView>> {
        lists::lists_of(self.db(), user).await
    }

    async fn share_size(
        &self,
        user: UserId,
        list: tasksync_core::ListId,
        email: &Email,
        limit: u32,
    ) -> Result<u32> {
        lists::share_size(self.db(), user, list, email.as_str(), limit).await
    }

    async fn changed_lists(
        &self,
        user: UserId,
        after_seq: i64,
        upto_seq: i64,
    ) -> Result<Vec<ListView>> {
        lists::changed_lists(self.db(), user, after_seq, upto_seq).await
    }

    async fn write_task(
        &self,
        owner: UserId,
        write: TaskWrite,
        now: i64,
    ) -> Result<Written, TaskWriteError> {
        let (reply, answer) = oneshot::channel();
        self.lanes
            .write(writer::Job {
                owner,
                write,
                now,
                reply,
            })
            .await?;
        answer.await.map_err(|_| StoreError::WorkerGone)?
    }

    async fn task(&self, owner: UserId, id: TaskId) -> Result<Option<Task>> {
        tasks::task(self.db(), owner, id).await
    }

    async fn tasks_page(
        &self,
        owner: UserId,
        after: Option<(i64, TaskId)>,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<Task>> {
        tasks::tasks_page(self.db(), owner, after, limit, max_bytes).await
    }

    async fn changes_after(&self, scope: UserId, after: i64, limit: u32) -> Result<Vec<Change>> {
        tasks::changes_after(self.db(), scope, after, limit).await
    }

    async fn changes_after_many(&self, from: &[(UserId, i64)], limit: u32) -> Result<Vec<Change>> {
        let (scopes, afters): (Vec<Uuid>, Vec<i64>) =
            from.iter().map(|(s, a)| (s.as_uuid(), *a)).unzip();
        let rows = sqlx::query(
            "SELECT x.* FROM unnest($1::uuid[], $2::bigint[]) WITH ORDINALITY AS h(scope, after, n)
             CROSS JOIN LATERAL (
                 SELECT * FROM (
                     SELECT 'task' AS kind, c.scope, c.seq, c.op, c.at, c.task_id, c.owner,
                            c.list_id, c.title, c.description, c.done, c.created_at,
                            c.updated_at, c.version, c.deleted, NULL::text AS name,
                            NULL::boolean AS personal, NULL::text AS role, NULL::text AS members
                     FROM changes c WHERE c.scope = h.scope AND c.seq > h.after
                     ORDER BY c.seq LIMIT $3) t
                 UNION ALL
                 SELECT * FROM (
                     SELECT 'list', l.scope, l.seq, l.op, l.at, l.list_id, l.owner, l.list_id,
                            NULL::text, NULL::text, NULL::boolean, l.created_at, l.updated_at, l.version, l.deleted,
                            l.name, l.personal, l.role, l.members
                     FROM list_changes l WHERE l.scope = h.scope AND l.seq > h.after
                     ORDER BY l.seq LIMIT $3) l
                 ORDER BY seq LIMIT $3) x
             ORDER BY h.n, x.seq",
        )
        .bind(&scopes)
        .bind(&afters)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows::all(&rows, rows::logged)
    }

    async fn head(&self, scope: UserId) -> Result<i64> {
        tasks::head(self.db(), scope).await
    }

    async fn log_bounds(&self, scope: UserId) -> Result<LogBounds> {
        tasks::log_bounds(self.db(), scope).await
    }

    async fn changed_tasks(
        &self,
        owner: UserId,
        after_seq: i64,
        upto_seq: i64,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<Synced>> {
        tasks::changed_tasks(self.db(), owner, after_seq, upto_seq, limit, max_bytes).await
    }

    async fn trim_log(&self, horizon: i64) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        // Each scope's trim point is its newest change older than the
        // horizon; everything up to it goes, so the retained log stays a
        // gapless suffix. Several nodes may trim at once: the scope rows
        // they update are locked, and GREATEST keeps trimmed_to monotonic.
        sqlx::query(
            "UPDATE scopes SET trimmed_to = GREATEST(scopes.trimmed_to, old.upto)
             FROM (SELECT scope, MAX(seq) AS upto FROM (
                       SELECT scope, seq FROM changes WHERE at < $1
                       UNION ALL
                       SELECT scope, seq FROM list_changes WHERE at < $1) x
                   GROUP BY scope) old
             WHERE old.scope = scopes.scope AND old.upto > scopes.trimmed_to",
        )
        .bind(horizon)
        .execute(&mut *tx)
        .await?;
        let removed = sqlx::query(
            "DELETE FROM changes USING scopes
             WHERE scopes.scope = changes.scope AND changes.seq <= scopes.trimmed_to",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "DELETE FROM list_changes USING scopes
             WHERE scopes.scope = list_changes.scope AND list_changes.seq <= scopes.trimmed_to",
        )
        .execute(&mut *tx)
        .await?;
        // A tombstone older than the horizon: its deletion left every
        // member's log above (a change is never older than its task's
        // `updated_at`).
        sqlx::query("DELETE FROM tasks WHERE deleted AND updated_at < $1")
            .bind(horizon)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(removed)
    }

    async fn sessions_revoked_since(&self, since: i64) -> Result<Vec<(SessionId, i64)>> {
        accounts::sessions_revoked_since(self.db(), since).await
    }

    fn commits(&self) -> broadcast::Receiver<CommitNotice> {
        let receiver = self.commits.subscribe();
        self.listener.get_or_init(|| {
            listener::spawn(
                self.connect.clone(),
                self.node,
                self.commits.clone(),
                self.resyncs.clone(),
            )
        });
        receiver
    }

    fn resyncs(&self) -> Option<watch::Receiver<u64>> {
        Some(self.resyncs.subscribe())
    }

    async fn purge_expired(&self, now: i64, keep_ms: i64) -> Result<u64> {
        accounts::purge_expired(self.begin().await?, now, keep_ms).await
    }
}
