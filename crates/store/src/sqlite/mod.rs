//! The embedded SQLite adapter.
//!
//! Durability comes first: WAL with `synchronous=FULL`, so a committed write
//! survives power loss, not only a crash. All writes go through one
//! connection (SQLite has a single writer anyway); reads use a pool of their
//! own and never wait for writes.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use tasksync_core::{Email, SessionId, UserId, lockout};
use uuid::Uuid;

use crate::rows;
use crate::{
    CodeCheck, CodeLimits, CodePurpose, NewCode, PasswordProof, Result, Rotation, SessionRecord,
    SigningKeyRecord, Store, StoreError, TaskWrite, TaskWriteError, Throttle, UserRecord, Written,
};
use tasksync_core::{Change, Task, TaskId};
use tokio::sync::{mpsc, oneshot};

mod sessions;
mod writer;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// SQLite behind the [`Store`] trait.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Exactly one connection: the single writer.
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

    async fn begin(&self) -> Result<Transaction<'static, Sqlite>> {
        // IMMEDIATE takes the write lock at once: a transaction that reads
        // before it writes can then never fail with SQLITE_BUSY_SNAPSHOT when
        // another process (an admin command) committed in between.
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// Sets the password of a user that is not confirmed yet; whether it did.
async fn set_unconfirmed_password(
    tx: &mut Transaction<'static, Sqlite>,
    user_id: UserId,
    hash: &str,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE users SET password_hash = $1, updated_at = $2,
             contested = CASE WHEN password_hash = $1 THEN contested ELSE 1 END
         WHERE id = $3 AND confirmed = 0",
    )
    .bind(hash)
    .bind(now)
    .bind(user_id.as_uuid())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

async fn revoke_all(
    tx: &mut Transaction<'static, Sqlite>,
    user_id: UserId,
    keep: Option<SessionId>,
    now: i64,
) -> Result<Vec<SessionId>> {
    let rows = sqlx::query(
        "UPDATE sessions SET revoked_at = $1
         WHERE user_id = $2 AND revoked_at IS NULL AND ($3 IS NULL OR id <> $3)
         RETURNING id",
    )
    .bind(now)
    .bind(user_id.as_uuid())
    .bind(keep.map(|s| s.as_uuid()))
    .fetch_all(&mut **tx)
    .await?;
    rows::all(&rows, rows::session_id)
}

/// The account's code budget as of `now`, read under the transaction's lock
/// (SQLite's write lock; the row's lock on PostgreSQL).
async fn code_budget(
    tx: &mut Transaction<'static, Sqlite>,
    user_id: UserId,
    limits: &CodeLimits,
    now: i64,
) -> Result<crate::CodeBudget> {
    let row = sqlx::query("SELECT window_start, issued, wrong FROM code_budget WHERE user_id = $1")
        .bind(user_id.as_uuid())
        .fetch_optional(&mut **tx)
        .await?;
    let stored = match row {
        Some(r) => Some(crate::CodeBudget {
            window_start: r.try_get("window_start")?,
            issued: r.try_get("issued")?,
            wrong: r.try_get("wrong")?,
        }),
        None => None,
    };
    Ok(crate::CodeBudget::current(stored, now, limits))
}

async fn save_code_budget(
    tx: &mut Transaction<'static, Sqlite>,
    user_id: UserId,
    budget: crate::CodeBudget,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO code_budget (user_id, window_start, issued, wrong) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id) DO UPDATE SET window_start = excluded.window_start,
           issued = excluded.issued, wrong = excluded.wrong",
    )
    .bind(user_id.as_uuid())
    .bind(budget.window_start)
    .bind(budget.issued)
    .bind(budget.wrong)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.writer).await?;
        Ok(())
    }

    async fn create_user(&self, user: &UserRecord) -> Result<()> {
        let result = sqlx::query(
            "INSERT INTO users (id, email, password_hash, confirmed, disabled, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(user.id.as_uuid())
        .bind(user.email.as_str())
        .bind(&user.password_hash)
        .bind(user.confirmed)
        .bind(user.disabled)
        .bind(user.created_at)
        .execute(&self.writer)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::Conflict("user"))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>> {
        sqlx::query(
            "SELECT id, email, password_hash, confirmed, disabled, created_at
             FROM users WHERE email = $1",
        )
        .bind(email.as_str())
        .fetch_optional(&self.readers)
        .await?
        .as_ref()
        .map(rows::user)
        .transpose()
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>> {
        sqlx::query(
            "SELECT id, email, password_hash, confirmed, disabled, created_at
             FROM users WHERE id = $1",
        )
        .bind(id.as_uuid())
        .fetch_optional(&self.readers)
        .await?
        .as_ref()
        .map(rows::user)
        .transpose()
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>> {
        sqlx::query(
            "SELECT id, email, password_hash, confirmed, disabled, created_at
             FROM users ORDER BY created_at, email",
        )
        .fetch_all(&self.readers)
        .await?
        .iter()
        .map(rows::user)
        .collect()
    }

    async fn confirm_user(&self, id: UserId, now: i64) -> Result<()> {
        let done = sqlx::query("UPDATE users SET confirmed = 1, updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id.as_uuid())
            .execute(&self.writer)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("user"));
        }
        Ok(())
    }

    async fn set_disabled(&self, id: UserId, disabled: bool, now: i64) -> Result<Vec<SessionId>> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
            .bind(disabled)
            .bind(now)
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("user"));
        }
        let revoked = if disabled {
            revoke_all(&mut tx, id, None, now).await?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        Ok(revoked)
    }

    async fn set_password(
        &self,
        id: UserId,
        password_hash: &str,
        keep: Option<SessionId>,
        now: i64,
    ) -> Result<Vec<SessionId>> {
        let mut tx = self.begin().await?;
        let done =
            // Confirmed in the same statement (see `Store::set_password`).
            sqlx::query(
                "UPDATE users SET password_hash = $1, confirmed = 1, updated_at = $2 WHERE id = $3",
            )
                .bind(password_hash)
                .bind(now)
                .bind(id.as_uuid())
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("user"));
        }
        let revoked = revoke_all(&mut tx, id, keep, now).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    async fn put_code(&self, code: &NewCode, limits: &CodeLimits, now: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let mut budget = code_budget(&mut tx, code.user_id, limits, now).await?;
        if budget.issued >= i64::from(limits.issued_per_window) {
            // No code for this hour, but a sign-up's password still stands
            // and every earlier code stops working: otherwise whoever spent
            // the budget keeps a code (mailed to the owner) that confirms
            // their own password after the owner signed up.
            if let Some(hash) = &code.password_hash {
                let replaced = set_unconfirmed_password(&mut tx, code.user_id, hash, now).await?;
                if replaced {
                    sqlx::query("DELETE FROM codes WHERE user_id = $1 AND purpose = $2")
                        .bind(code.user_id.as_uuid())
                        .bind(code.purpose.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
            return Ok(false);
        }
        budget.issued += 1;
        save_code_budget(&mut tx, code.user_id, budget).await?;
        sqlx::query(
            "INSERT INTO codes (user_id, purpose, code_hash, expires_at, attempts)
             VALUES ($1, $2, $3, $4, 0)
             ON CONFLICT (user_id, purpose) DO UPDATE
             SET code_hash = excluded.code_hash, expires_at = excluded.expires_at, attempts = 0",
        )
        .bind(code.user_id.as_uuid())
        .bind(code.purpose.as_str())
        .bind(&code.code_hash)
        .bind(code.expires_at)
        .execute(&mut *tx)
        .await?;
        if let Some(hash) = &code.password_hash {
            set_unconfirmed_password(&mut tx, code.user_id, hash, now).await?;
        }
        tx.commit().await?;
        Ok(true)
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
        let mut tx = self.begin().await?;
        let mut budget = code_budget(&mut tx, user_id, limits, now).await?;
        if budget.wrong >= i64::from(limits.wrong_per_window) {
            return Ok(CodeCheck::TooManyAttempts);
        }
        let row = sqlx::query(
            "SELECT code_hash, expires_at, attempts FROM codes
             WHERE user_id = $1 AND purpose = $2",
        )
        .bind(user_id.as_uuid())
        .bind(purpose.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(CodeCheck::Missing);
        };
        let stored: Vec<u8> = row.try_get("code_hash")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        let attempts: i64 = row.try_get("attempts")?;
        let outcome = if attempts >= i64::from(limits.tries_per_code) {
            CodeCheck::TooManyAttempts
        } else if now >= expires_at {
            CodeCheck::Expired
        } else if stored == code_hash {
            if purpose == CodePurpose::ConfirmSignUp {
                let user = sqlx::query("SELECT contested, password_hash FROM users WHERE id = $1")
                    .bind(user_id.as_uuid())
                    .fetch_one(&mut *tx)
                    .await?;
                let current: String = user.try_get("password_hash")?;
                if let Some(refused) = proof.refusal(user.try_get("contested")?, &current) {
                    // The right code, kept for a try with the right password.
                    return Ok(refused);
                }
                sqlx::query("UPDATE users SET confirmed = 1, updated_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(user_id.as_uuid())
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM codes WHERE user_id = $1 AND purpose = $2")
                .bind(user_id.as_uuid())
                .bind(purpose.as_str())
                .execute(&mut *tx)
                .await?;
            CodeCheck::Accepted
        } else {
            sqlx::query(
                "UPDATE codes SET attempts = attempts + 1 WHERE user_id = $1 AND purpose = $2",
            )
            .bind(user_id.as_uuid())
            .bind(purpose.as_str())
            .execute(&mut *tx)
            .await?;
            budget.wrong += 1;
            save_code_budget(&mut tx, user_id, budget).await?;
            CodeCheck::Wrong
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn create_session(
        &self,
        session: &SessionRecord,
        refresh_hash: &[u8],
        keep_at_most: u32,
    ) -> Result<Vec<SessionId>> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(session.id.as_uuid())
        .bind(session.user_id.as_uuid())
        .bind(session.created_at)
        .bind(session.expires_at)
        .bind(session.revoked_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(refresh_hash)
        .bind(session.id.as_uuid())
        .bind(session.created_at)
        .execute(&mut *tx)
        .await?;
        // The newest `keep_at_most` active sessions stay; older ones end.
        let revoked = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE id IN (
                 SELECT id FROM sessions
                 WHERE user_id = $2 AND revoked_at IS NULL AND expires_at > $1
                 ORDER BY created_at DESC, id DESC LIMIT -1 OFFSET $3)
             RETURNING id",
        )
        .bind(session.created_at)
        .bind(session.user_id.as_uuid())
        .bind(i64::from(keep_at_most))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows::all(&revoked, rows::session_id)
    }

    async fn rotate_refresh(&self, old_hash: &[u8], new_hash: &[u8], now: i64) -> Result<Rotation> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "SELECT s.id, s.user_id, s.created_at, s.expires_at, s.revoked_at, t.spent_at
             FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
             WHERE t.token_hash = $1",
        )
        .bind(old_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Rotation::Invalid);
        };
        let mut session = rows::session(&row)?;
        let spent_at: Option<i64> = row.try_get("spent_at")?;
        if !session.is_active(now) {
            return Ok(Rotation::Invalid);
        }
        if spent_at.is_some() {
            sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2")
                .bind(now)
                .bind(session.id.as_uuid())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            session.revoked_at = Some(now);
            return Ok(Rotation::Reused(session));
        }
        sqlx::query("UPDATE refresh_tokens SET spent_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(old_hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(new_hash)
        .bind(session.id.as_uuid())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Rotation::Rotated(session))
    }

    async fn session_by_refresh(&self, hash: &[u8]) -> Result<Option<SessionRecord>> {
        sqlx::query(
            "SELECT s.id, s.user_id, s.created_at, s.expires_at, s.revoked_at
             FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
             WHERE t.token_hash = $1",
        )
        .bind(hash)
        .fetch_optional(&self.readers)
        .await?
        .as_ref()
        .map(rows::session)
        .transpose()
    }

    async fn session(&self, id: SessionId) -> Result<Option<SessionRecord>> {
        self.sessions.session(id).await
    }

    async fn revoke_session(&self, id: SessionId, now: i64) -> Result<bool> {
        let done =
            sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id.as_uuid())
                .execute(&self.writer)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_user_sessions(&self, user_id: UserId, now: i64) -> Result<Vec<SessionId>> {
        let mut tx = self.begin().await?;
        let revoked = revoke_all(&mut tx, user_id, None, now).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>> {
        sqlx::query(
            "SELECT kid, private_der, public_key, created_at FROM signing_keys
             ORDER BY created_at DESC, kid",
        )
        .fetch_all(&self.readers)
        .await?
        .iter()
        .map(rows::signing_key)
        .collect()
    }

    async fn init_signing_key(&self, key: &SigningKeyRecord) -> Result<Vec<SigningKeyRecord>> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, private_der, public_key, created_at)
             SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM signing_keys)",
        )
        .bind(&key.kid)
        .bind(&key.private_der)
        .bind(&key.public_key)
        .bind(key.created_at)
        .execute(&mut *tx)
        .await?;
        let keys = sqlx::query(
            "SELECT kid, private_der, public_key, created_at FROM signing_keys
             ORDER BY created_at DESC, kid",
        )
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(rows::signing_key)
        .collect::<Result<Vec<_>>>()?;
        tx.commit().await?;
        Ok(keys)
    }

    async fn throttle(&self, email: &Email) -> Result<Throttle> {
        let row = sqlx::query(
            "SELECT failures, locked_until, last_failure_at FROM login_throttle WHERE email = $1",
        )
        .bind(email.as_str())
        .fetch_optional(&self.readers)
        .await?;
        row.map_or(Ok(Throttle::default()), |r| rows::throttle(&r))
    }

    async fn reserve_login_attempt(&self, email: &Email, now: i64) -> Result<lockout::Attempt> {
        // The write lock (BEGIN IMMEDIATE) is held from the read to the
        // write: concurrent attempts are decided one after the other.
        let mut tx = self.begin().await?;
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
        sqlx::query(
            "UPDATE login_throttle SET locked_until = MAX(locked_until, $1) WHERE email = $2",
        )
        .bind(until)
        .bind(email.as_str())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn clear_login_failures(&self, email: &Email) -> Result<()> {
        sqlx::query("DELETE FROM login_throttle WHERE email = $1")
            .bind(email.as_str())
            .execute(&self.writer)
            .await?;
        Ok(())
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

    async fn task(&self, owner: UserId, id: TaskId) -> Result<Option<Task>> {
        sqlx::query(
            "SELECT id, owner, title, description, done, created_at, updated_at, version, deleted
             FROM tasks WHERE id = $1 AND owner = $2",
        )
        .bind(id.as_uuid())
        .bind(owner.as_uuid())
        .fetch_optional(&self.readers)
        .await?
        .as_ref()
        .map(rows::task)
        .transpose()
    }

    async fn tasks_page(
        &self,
        owner: UserId,
        after: Option<(i64, TaskId)>,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<Task>> {
        let (at, id) = after.map_or((i64::MIN, Uuid::nil()), |(at, id)| (at, id.as_uuid()));
        let query = sqlx::query(
            "SELECT id, owner, title, description, done, created_at, updated_at, version, deleted
             FROM tasks
             WHERE owner = $1 AND deleted = 0 AND (created_at > $2 OR (created_at = $2 AND id > $3))
             ORDER BY created_at, id
             LIMIT $4",
        )
        .bind(owner.as_uuid())
        .bind(at)
        .bind(id)
        .bind(i64::from(limit));
        let rows = query.fetch(&self.readers);
        rows::within_bytes(rows, max_bytes, rows::task, |t| t).await
    }

    async fn changes_after(&self, scope: UserId, after: i64, limit: u32) -> Result<Vec<Change>> {
        sqlx::query(
            "SELECT scope, seq, op, at, task_id, title, description, done, created_at, updated_at, version, deleted
             FROM changes WHERE scope = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(scope.as_uuid())
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?
        .iter()
        .map(rows::change)
        .collect()
    }

    async fn head(&self, scope: UserId) -> Result<i64> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM scopes WHERE scope = $1")
            .bind(scope.as_uuid())
            .fetch_optional(&self.readers)
            .await?;
        Ok(seq.unwrap_or(0))
    }

    async fn log_bounds(&self, scope: UserId) -> Result<crate::LogBounds> {
        let row = sqlx::query("SELECT seq, trimmed_to FROM scopes WHERE scope = $1")
            .bind(scope.as_uuid())
            .fetch_optional(&self.readers)
            .await?;
        match row {
            None => Ok(crate::LogBounds::default()),
            Some(r) => Ok(crate::LogBounds {
                head: r.try_get("seq")?,
                trimmed_to: r.try_get("trimmed_to")?,
            }),
        }
    }

    async fn changed_tasks(
        &self,
        owner: UserId,
        after_seq: i64,
        upto_seq: i64,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<crate::Synced>> {
        let query = sqlx::query(
            "SELECT id, owner, title, description, done, created_at, updated_at, version, deleted, last_seq
             FROM tasks WHERE owner = $1 AND last_seq > $2 AND last_seq <= $3
             ORDER BY last_seq LIMIT $4",
        )
        .bind(owner.as_uuid())
        .bind(after_seq)
        .bind(upto_seq)
        .bind(i64::from(limit));
        let rows = query.fetch(&self.readers);
        rows::within_bytes(rows, max_bytes, rows::synced, |s| &s.task).await
    }

    async fn trim_log(&self, horizon: i64) -> Result<u64> {
        let mut tx = self.begin().await?;
        // Each scope's trim point is its newest change older than the
        // horizon; everything up to it goes, so the retained log stays a
        // gapless suffix.
        sqlx::query(
            "UPDATE scopes SET trimmed_to = (
                 SELECT MAX(seq) FROM changes WHERE changes.scope = scopes.scope AND changes.at < $1)
             WHERE EXISTS (
                 SELECT 1 FROM changes WHERE changes.scope = scopes.scope AND changes.at < $1
                 AND changes.seq > scopes.trimmed_to)",
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
            "DELETE FROM tasks WHERE deleted = 1
             AND last_seq <= (SELECT trimmed_to FROM scopes WHERE scopes.scope = tasks.owner)",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(removed)
    }

    async fn sessions_revoked_since(&self, since: i64) -> Result<Vec<(SessionId, i64)>> {
        sqlx::query("SELECT id, revoked_at FROM sessions WHERE revoked_at >= $1")
            .bind(since)
            .fetch_all(&self.readers)
            .await?
            .iter()
            .map(rows::revoked)
            .collect()
    }

    fn commits(&self) -> tokio::sync::broadcast::Receiver<crate::CommitNotice> {
        self.commits.subscribe()
    }

    async fn purge_expired(&self, now: i64, keep_ms: i64) -> Result<u64> {
        let horizon = now.saturating_sub(keep_ms);
        let mut tx = self.begin().await?;
        let mut removed = 0;
        removed += sqlx::query("DELETE FROM codes WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        removed += sqlx::query(
            "DELETE FROM sessions WHERE expires_at < $1 OR (revoked_at IS NOT NULL AND revoked_at < $1)",
        )
        .bind(horizon)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Only rows the lockout rules have forgotten anyway: no wait left,
        // and no attempt within the hour. (Purging every row not locked
        // erased the count of an address with fewer than five failures.)
        removed += sqlx::query(
            "DELETE FROM login_throttle WHERE locked_until < $1 AND last_failure_at < $2",
        )
        .bind(now)
        .bind(now.saturating_sub(lockout::FORGET_AFTER_MS))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(removed)
    }
}
