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

use std::str::FromStr as _;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{PgConnection, Postgres, Row as _, Transaction};
use tasksync_core::{Change, Email, SessionId, Task, TaskId, UserId, lockout};
use tokio::sync::{broadcast, oneshot, watch};
use uuid::Uuid;

use crate::rows;
use crate::{
    CodeCheck, CodeLimits, CodePurpose, CommitNotice, ConnectOptions, LogBounds, NewCode,
    PasswordProof, Result, Rotation, SessionRecord, SigningKeyRecord, Store, StoreError, Synced,
    TaskWrite, TaskWriteError, Throttle, UserRecord, Written,
};

mod listener;

pub use listener::APPLICATION_NAME as LISTENER_APPLICATION_NAME;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The channel commit notices travel on.
pub const CHANNEL: &str = "tasksync_commits";

/// Key of the advisory lock that serialises the creation of the first
/// signing key among nodes starting at once.
const SIGNING_KEY_LOCK: i64 = 0x7461_736b_7379_6e63; // "tasksync"

/// Column lists as macros, so that statements stay `&'static str`
/// (`concat!`): sqlx refuses SQL built at run time.
macro_rules! task_columns {
    () => {
        "id, owner, title, description, done, created_at, updated_at, version, deleted"
    };
}
macro_rules! user_columns {
    () => {
        "id, email, password_hash, confirmed, disabled, created_at"
    };
}
macro_rules! key_columns {
    () => {
        "kid, private_der, public_key, created_at"
    };
}
macro_rules! session_columns {
    () => {
        "s.id, s.user_id, s.created_at, s.expires_at, s.revoked_at"
    };
}
mod writer;

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

    async fn begin(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }
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

async fn revoke_all(
    conn: &mut PgConnection,
    user_id: UserId,
    keep: Option<SessionId>,
    now: i64,
) -> Result<Vec<SessionId>> {
    let rows = sqlx::query(
        "UPDATE sessions SET revoked_at = $1
         WHERE user_id = $2 AND revoked_at IS NULL AND ($3::uuid IS NULL OR id <> $3)
         RETURNING id",
    )
    .bind(now)
    .bind(user_id.as_uuid())
    .bind(keep.map(|s| s.as_uuid()))
    .fetch_all(&mut *conn)
    .await?;
    rows::all(&rows, rows::session_id)
}

/// The account's code budget as of `now`, read under the transaction's lock
/// (SQLite's write lock; the row's lock on PostgreSQL).
/// Sets the password of a user that is not confirmed yet; whether it did.
async fn set_unconfirmed_password(
    tx: &mut Transaction<'static, Postgres>,
    user_id: UserId,
    hash: &str,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE users SET password_hash = $1, updated_at = $2,
             contested = contested OR password_hash <> $1
         WHERE id = $3 AND confirmed = FALSE",
    )
    .bind(hash)
    .bind(now)
    .bind(user_id.as_uuid())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

async fn code_budget(
    tx: &mut Transaction<'static, Postgres>,
    user_id: UserId,
    limits: &CodeLimits,
    now: i64,
) -> Result<crate::CodeBudget> {
    // The row exists before it is locked, so concurrent first codes of an
    // account are counted one by one too.
    sqlx::query(
        "INSERT INTO code_budget (user_id, window_start) VALUES ($1, $2)
         ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(user_id.as_uuid())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let row = sqlx::query(
        "SELECT window_start, issued, wrong FROM code_budget WHERE user_id = $1 FOR UPDATE",
    )
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
    tx: &mut Transaction<'static, Postgres>,
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
impl Store for PgStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn migrate(&self) -> Result<()> {
        // sqlx holds a database-wide advisory lock while it migrates, so
        // nodes starting at once on an empty database take turns.
        MIGRATOR.run(&self.pool).await?;
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
        .execute(&self.pool)
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
        sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE email = $1"
        ))
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::user)
        .transpose()
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::user)
        .transpose()
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users ORDER BY created_at, email"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows::all(&rows, rows::user)
    }

    async fn confirm_user(&self, id: UserId, now: i64) -> Result<()> {
        let done = sqlx::query("UPDATE users SET confirmed = TRUE, updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id.as_uuid())
            .execute(&self.pool)
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
                "UPDATE users SET password_hash = $1, confirmed = TRUE, updated_at = $2 WHERE id = $3",
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
             WHERE user_id = $1 AND purpose = $2 FOR UPDATE",
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
                sqlx::query("UPDATE users SET confirmed = TRUE, updated_at = $1 WHERE id = $2")
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
                 ORDER BY created_at DESC, id DESC OFFSET $3)
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
        // FOR UPDATE on the token: of two concurrent refreshes with one
        // token, the second waits and then sees it spent (reuse).
        let row = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            ", t.spent_at
             FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
             WHERE t.token_hash = $1 FOR UPDATE OF t"
        ))
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
        sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            "
             FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
             WHERE t.token_hash = $1"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::session)
        .transpose()
    }

    async fn session(&self, id: SessionId) -> Result<Option<SessionRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions s WHERE s.id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::session)
        .transpose()
    }

    async fn revoke_session(&self, id: SessionId, now: i64) -> Result<bool> {
        let done =
            sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id.as_uuid())
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_user_sessions(&self, user_id: UserId, now: i64) -> Result<Vec<SessionId>> {
        let mut conn = self.pool.acquire().await?;
        revoke_all(&mut conn, user_id, None, now).await
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM signing_keys ORDER BY created_at DESC, kid"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows::all(&rows, rows::signing_key)
    }

    async fn init_signing_key(&self, key: &SigningKeyRecord) -> Result<Vec<SigningKeyRecord>> {
        let mut tx = self.begin().await?;
        // Read committed would let two starting nodes both see no key and
        // both insert one; the advisory lock makes them take turns.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SIGNING_KEY_LOCK)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, private_der, public_key, created_at)
             SELECT $1::text, $2::bytea, $3::bytea, $4::bigint
             WHERE NOT EXISTS (SELECT 1 FROM signing_keys)",
        )
        .bind(&key.kid)
        .bind(&key.private_der)
        .bind(&key.public_key)
        .bind(key.created_at)
        .execute(&mut *tx)
        .await?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM signing_keys ORDER BY created_at DESC, kid"
        ))
        .fetch_all(&mut *tx)
        .await?;
        let keys = rows::all(&rows, rows::signing_key)?;
        tx.commit().await?;
        Ok(keys)
    }

    async fn throttle(&self, email: &Email) -> Result<Throttle> {
        let row = sqlx::query(
            "SELECT failures, locked_until, last_failure_at FROM login_throttle WHERE email = $1",
        )
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map_or(Ok(Throttle::default()), |r| rows::throttle(&r))
    }

    async fn reserve_login_attempt(&self, email: &Email, now: i64) -> Result<lockout::Attempt> {
        // The row is locked (FOR UPDATE) from the read to the write, so
        // concurrent attempts of one address, on any node, are decided one
        // after the other. The first attempt of an address makes its row.
        // One statement makes or locks the row: with an INSERT that does
        // nothing and a SELECT … FOR UPDATE, a success's DELETE of the row
        // (it clears the failures) between the two left the SELECT with no
        // row, a 500.
        let mut tx = self.begin().await?;
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
        sqlx::query(
            "UPDATE login_throttle SET locked_until = GREATEST(locked_until, $1) WHERE email = $2",
        )
        .bind(until)
        .bind(email.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn clear_login_failures(&self, email: &Email) -> Result<()> {
        sqlx::query("DELETE FROM login_throttle WHERE email = $1")
            .bind(email.as_str())
            .execute(&self.pool)
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
        let mut conn = self.pool.acquire().await?;
        writer::owned(&mut conn, owner, id).await
    }

    async fn tasks_page(
        &self,
        owner: UserId,
        after: Option<(i64, TaskId)>,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<Task>> {
        let (at, id) = after.map_or((i64::MIN, Uuid::nil()), |(at, id)| (at, id.as_uuid()));
        let rows = sqlx::query(concat!(
            "SELECT ",
            task_columns!(),
            " FROM tasks
             WHERE owner = $1 AND NOT deleted AND (created_at, id) > ($2, $3)
             ORDER BY created_at, id
             LIMIT $4"
        ))
        .bind(owner.as_uuid())
        .bind(at)
        .bind(id)
        .bind(i64::from(limit))
        .fetch(&self.pool);
        rows::within_bytes(rows, max_bytes, rows::task, |t| t).await
    }

    async fn changes_after(&self, scope: UserId, after: i64, limit: u32) -> Result<Vec<Change>> {
        let rows = sqlx::query(
            "SELECT scope, seq, op, at, task_id, title, description, done, created_at, updated_at,
                    version, deleted
             FROM changes WHERE scope = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(scope.as_uuid())
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows::all(&rows, rows::change)
    }

    async fn head(&self, scope: UserId) -> Result<i64> {
        Ok(self.log_bounds(scope).await?.head)
    }

    async fn log_bounds(&self, scope: UserId) -> Result<LogBounds> {
        let row = sqlx::query("SELECT seq, trimmed_to FROM scopes WHERE scope = $1")
            .bind(scope.as_uuid())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            None => Ok(LogBounds::default()),
            Some(r) => Ok(LogBounds {
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
    ) -> Result<Vec<Synced>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            task_columns!(),
            ", last_seq
             FROM tasks WHERE owner = $1 AND last_seq > $2 AND last_seq <= $3
             ORDER BY last_seq LIMIT $4"
        ))
        .bind(owner.as_uuid())
        .bind(after_seq)
        .bind(upto_seq)
        .bind(i64::from(limit))
        .fetch(&self.pool);
        rows::within_bytes(rows, max_bytes, rows::synced, |s| &s.task).await
    }

    async fn trim_log(&self, horizon: i64) -> Result<u64> {
        let mut tx = self.begin().await?;
        // Each scope's trim point is its newest change older than the
        // horizon; everything up to it goes, so the retained log stays a
        // gapless suffix. Several nodes may trim at once: the scope rows
        // they update are locked, and GREATEST keeps trimmed_to monotonic.
        sqlx::query(
            "UPDATE scopes SET trimmed_to = GREATEST(scopes.trimmed_to, old.upto)
             FROM (SELECT scope, MAX(seq) AS upto FROM changes WHERE at < $1 GROUP BY scope) old
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
            "DELETE FROM tasks USING scopes
             WHERE tasks.deleted AND scopes.scope = tasks.owner
               AND tasks.last_seq <= scopes.trimmed_to",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(removed)
    }

    async fn sessions_revoked_since(&self, since: i64) -> Result<Vec<(SessionId, i64)>> {
        let rows = sqlx::query("SELECT id, revoked_at FROM sessions WHERE revoked_at >= $1")
            .bind(since)
            .fetch_all(&self.pool)
            .await?;
        rows::all(&rows, rows::revoked)
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
