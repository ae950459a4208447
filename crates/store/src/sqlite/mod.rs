//! The embedded SQLite adapter.
//!
//! Durability comes first: WAL with `synchronous=FULL`, so a committed write
//! survives power loss, not only a crash. Two connections write, taking
//! turns on SQLite's one write lock (with a busy timeout): task writes go
//! through the group-commit [`writer`] thread; every other write (accounts,
//! codes, sessions, throttling, retention) and the migrations go through a
//! pool of one connection. Reads use a pool of their own, and session
//! lookups a thread of their own ([`sessions`]); WAL lets them read while
//! a write is under way.
//!
//! The statements it shares with PostgreSQL are in `crate::sql`; here are
//! connecting, the writer, the session reader, and the methods whose SQL is
//! SQLite's own.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use tasksync_core::{
    Change, Email, ListLimits, ListView, ListWrite, SessionId, Task, TaskId, UserId, lockout,
};
use tokio::sync::{mpsc, oneshot};

use crate::sql::{Backend, Pool, Tx, accounts, lists, tasks};
use crate::{
    CodeCheck, CodeLimits, CodePurpose, ListWriteError, ListWritten, LogBounds, NewCode,
    PasswordProof, Result, Rotation, SessionRecord, SigningKeyRecord, Store, StoreError, Synced,
    TaskWrite, TaskWriteError, Throttle, UserRecord, Written, rows,
};

mod backup;
mod sessions;
mod writer;

pub use backup::{Restored, path_of, restore};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// SQLite behind the [`Store`] trait.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// One connection, for every write but task writes (and migrations).
    writer: SqlitePool,
    readers: SqlitePool,
    /// The group-commit writer of task writes.
    writes: mpsc::Sender<writer::Job>,
    /// Session lookups (every authenticated request).
    sessions: sessions::SessionReader,
    commits: tokio::sync::broadcast::Sender<crate::CommitNotice>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at a `sqlite://` URL. The
    /// directory of the file is created too, so the default runs with no set-up.
    pub async fn connect(url: &str, readers: u32) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("bad SQLite URL {url:?}: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let path = options.get_filename().to_path_buf();
        if let Some(dir) = options.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Config(format!("cannot create directory {}: {e}", dir.display()))
            })?;
        }
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(options.clone())
            .await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(readers.max(1))
            .connect_with(options)
            .await?;
        let (commits, _) = tokio::sync::broadcast::channel(4096);
        let writes = writer::spawn(path.clone(), commits.clone())?;
        let sessions = sessions::SessionReader::spawn(&path)?;
        Ok(Self {
            writer,
            readers,
            writes,
            sessions,
            commits,
        })
    }

    /// The versions of the migrations this binary knows, ascending.
    pub fn known_schema() -> Vec<i64> {
        crate::schema::known(&MIGRATOR)
    }

    /// A transaction on the writer connection. IMMEDIATE takes the write
    /// lock at once: a transaction that reads before it writes can then
    /// never fail with SQLITE_BUSY_SNAPSHOT when another connection (the
    /// task writer, an admin command) committed in between, and nothing
    /// else writes until it ends.
    async fn begin_immediate(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn begin(&self) -> Result<Tx> {
        Ok(Backend::Sqlite(self.begin_immediate().await?))
    }

    /// The reader pool, as the statements of `crate::sql` take it.
    fn reads(&self) -> Pool<'_> {
        Backend::Sqlite(&self.readers)
    }

    /// The writer connection, for single statements that write.
    fn writes(&self) -> Pool<'_> {
        Backend::Sqlite(&self.writer)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<()> {
        accounts::ping(self.reads()).await
    }

    async fn migrate(&self) -> Result<()> {
        crate::schema::migrate(self.writes(), &MIGRATOR).await
    }

    async fn schema(&self) -> Result<crate::SchemaStatus> {
        crate::schema::status(self.reads(), &MIGRATOR).await
    }

    async fn create_user(&self, user: &UserRecord) -> Result<()> {
        accounts::create_user(self.writes(), user).await
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>> {
        accounts::user_by_email(self.reads(), email).await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>> {
        accounts::user_by_id(self.reads(), id).await
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>> {
        accounts::list_users(self.reads()).await
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
        let (ended, heads) =
            accounts::create_session(self.begin().await?, session, refresh_hash, keep_at_most, 0)
                .await?;
        heads.announce(&self.commits);
        Ok(ended)
    }

    async fn rotate_refresh(&self, old_hash: &[u8], new_hash: &[u8], now: i64) -> Result<Rotation> {
        let (rotation, heads) =
            accounts::rotate_refresh(self.begin().await?, old_hash, new_hash, now, 0).await?;
        heads.announce(&self.commits);
        Ok(rotation)
    }

    async fn session_by_refresh(&self, hash: &[u8]) -> Result<Option<SessionRecord>> {
        accounts::session_by_refresh(self.reads(), hash).await
    }

    async fn session(&self, id: SessionId) -> Result<Option<SessionRecord>> {
        self.sessions.session(id).await
    }

    async fn revoke_session(&self, id: SessionId, now: i64) -> Result<bool> {
        accounts::revoke_session(self.writes(), id, now).await
    }

    async fn revoke_user_sessions(&self, user_id: UserId, now: i64) -> Result<Vec<SessionId>> {
        accounts::revoke_user_sessions(self.writes(), user_id, now).await
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>> {
        accounts::signing_keys(self.reads()).await
    }

    async fn init_signing_key(&self, key: &SigningKeyRecord) -> Result<Vec<SigningKeyRecord>> {
        accounts::init_signing_key(self.begin().await?, key).await
    }

    async fn throttle(&self, email: &Email) -> Result<Throttle> {
        accounts::throttle(self.reads(), email).await
    }

    async fn reserve_login_attempt(&self, email: &Email, now: i64) -> Result<lockout::Attempt> {
        // The write lock (BEGIN IMMEDIATE) is held from the read to the
        // write: concurrent attempts are decided one after the other.
        let mut tx = self.begin_immediate().await?;
        let row = sqlx::query(
            "SELECT failures, locked_until, last_failure_at FROM login_throttle WHERE email = $1",
        )
        .bind(email.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let stored = row.as_ref().map(rows::throttle).transpose()?;
        let attempt = lockout::reserve(stored, now);
        if let lockout::Attempt::Allowed(t) = attempt {
            sqlx::query(
                "INSERT INTO login_throttle (email, failures, locked_until, last_failure_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (email) DO UPDATE SET failures = excluded.failures,
                   locked_until = excluded.locked_until, last_failure_at = excluded.last_failure_at",
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
        accounts::extend_lockout(self.writes(), email, until).await
    }

    async fn clear_login_failures(&self, email: &Email) -> Result<()> {
        accounts::clear_login_failures(self.writes(), email).await
    }

    async fn write_task(
        &self,
        owner: UserId,
        write: TaskWrite,
        now: i64,
    ) -> Result<Written, TaskWriteError> {
        let (reply, answer) = oneshot::channel();
        let job = writer::Job {
            owner,
            write,
            now,
            reply,
        };
        self.writes
            .send(job)
            .await
            .map_err(|_| StoreError::WorkerGone)?;
        answer.await.map_err(|_| StoreError::WorkerGone)?
    }

    async fn write_list(
        &self,
        caller: UserId,
        write: ListWrite,
        limits: ListLimits,
        now: i64,
    ) -> Result<ListWritten, ListWriteError> {
        let (written, heads) =
            lists::write_list(self.begin().await?, caller, &write, &limits, now, 0).await?;
        heads.announce(&self.commits);
        Ok(written)
    }

    async fn lists(&self, user: UserId) -> Result<Vec<ListView>> {
        lists::lists_of(self.reads(), user).await
    }

    async fn share_size(
        &self,
        user: UserId,
        list: tasksync_core::ListId,
        email: &Email,
        limit: u32,
    ) -> Result<u32> {
        lists::share_size(self.reads(), user, list, email.as_str(), limit).await
    }

    async fn changed_lists(
        &self,
        user: UserId,
        after_seq: i64,
        upto_seq: i64,
    ) -> Result<Vec<ListView>> {
        lists::changed_lists(self.reads(), user, after_seq, upto_seq).await
    }

    async fn task(&self, owner: UserId, id: TaskId) -> Result<Option<Task>> {
        tasks::task(self.reads(), owner, id).await
    }

    async fn tasks_page(
        &self,
        owner: UserId,
        after: Option<(i64, TaskId)>,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<Task>> {
        tasks::tasks_page(self.reads(), owner, after, limit, max_bytes).await
    }

    async fn changes_after(&self, scope: UserId, after: i64, limit: u32) -> Result<Vec<Change>> {
        tasks::changes_after(self.reads(), scope, after, limit).await
    }

    async fn head(&self, scope: UserId) -> Result<i64> {
        tasks::head(self.reads(), scope).await
    }

    async fn log_bounds(&self, scope: UserId) -> Result<LogBounds> {
        tasks::log_bounds(self.reads(), scope).await
    }

    async fn changed_tasks(
        &self,
        owner: UserId,
        after_seq: i64,
        upto_seq: i64,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<Synced>> {
        tasks::changed_tasks(self.reads(), owner, after_seq, upto_seq, limit, max_bytes).await
    }

    async fn trim_log(&self, horizon: i64) -> Result<u64> {
        let mut tx = self.begin_immediate().await?;
        // Each scope's trim point is its newest change older than the
        // horizon; everything up to it goes, so the retained log stays a
        // gapless suffix.
        sqlx::query(
            "UPDATE scopes SET trimmed_to = (
                 SELECT MAX(seq) FROM (
                     SELECT seq FROM changes WHERE changes.scope = scopes.scope AND changes.at < $1
                     UNION ALL
                     SELECT seq FROM list_changes
                     WHERE list_changes.scope = scopes.scope AND list_changes.at < $1))
             WHERE EXISTS (
                 SELECT 1 FROM changes WHERE changes.scope = scopes.scope AND changes.at < $1
                 AND changes.seq > scopes.trimmed_to)
             OR EXISTS (
                 SELECT 1 FROM list_changes
                 WHERE list_changes.scope = scopes.scope AND list_changes.at < $1
                 AND list_changes.seq > scopes.trimmed_to)",
        )
        .bind(horizon)
        .execute(&mut *tx)
        .await?;
        let removed = sqlx::query(
            "DELETE FROM changes WHERE seq <= (SELECT trimmed_to FROM scopes WHERE scopes.scope = changes.scope)",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "DELETE FROM list_changes
             WHERE seq <= (SELECT trimmed_to FROM scopes WHERE scopes.scope = list_changes.scope)",
        )
        .execute(&mut *tx)
        .await?;
        // A tombstone older than the horizon: its deletion left every
        // member's log above (a change is never older than its task's
        // `updated_at`).
        sqlx::query("DELETE FROM tasks WHERE deleted = 1 AND updated_at < $1")
            .bind(horizon)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(removed)
    }

    async fn sessions_revoked_since(&self, since: i64) -> Result<Vec<(SessionId, i64)>> {
        accounts::sessions_revoked_since(self.reads(), since).await
    }

    fn commits(&self) -> tokio::sync::broadcast::Receiver<crate::CommitNotice> {
        self.commits.subscribe()
    }

    async fn purge_expired(&self, now: i64, keep_ms: i64) -> Result<u64> {
        accounts::purge_expired(self.begin().await?, now, keep_ms).await
    }
}
