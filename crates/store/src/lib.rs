//! Persistence of tasksync behind one [`Store`] trait.
//!
//! The server holds an `Arc<dyn Store>` and never sees SQL. Every method is a
//! single transaction: what must change together changes together or not at
//! all. Times are epoch milliseconds chosen by the caller, so behaviour that
//! depends on time is testable.
//!
//! # Layout
//! - [`Store`] and its record types (this file).
//! - [`sqlite`]: the embedded adapter (WAL, `synchronous=FULL`; task writes
//!   through a group-commit writer thread, every other write through one
//!   pooled connection).
//! - [`postgres`]: the adapter for several nodes on one database, with
//!   `LISTEN/NOTIFY` wake-ups between the nodes.
//! - `sql`: the statements both adapters run alike, written once and
//!   compiled for each backend; the adapters keep what differs.
//! - `rows`: decoding rows into records, once for both backends.
//! - [`fair`]: a wrapper that bounds each user's concurrent reads.
//! - [`schema`]: the expand/contract rule, which decides whether this
//!   binary may use a database that a newer one migrated.
//! - `migrations/{sqlite,postgres}`: the schemas, applied by [`Store::migrate`]
//!   (the rules for writing one: `migrations/README.md`).
//! - `testing` (feature `testing`): a fresh PostgreSQL database per test.

pub mod fair;
pub mod postgres;
mod rows;
pub mod schema;
mod sql;
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

use async_trait::async_trait;
use tasksync_core::{
    Change, Email, ListLimits, ListRejection, ListView, ListWrite, NewTask, SessionId, Task,
    TaskId, TaskPatch, UserId, WriteRejection,
};

pub use fair::FairReads;
pub use postgres::PgStore;
pub use schema::{Compatibility, SchemaStatus};
pub use sqlite::SqliteStore;

/// Connection settings shared by every backend. Its `Debug` output hides
/// the URL's password.
#[derive(Clone)]
pub struct ConnectOptions {
    /// `sqlite://path/to/file.db` or `postgres://user@host/db`.
    pub url: String,
    /// SQLite: connections used for reads (writes always use one).
    pub read_connections: u32,
    /// PostgreSQL: connections in the pool (reads and writes).
    pub max_connections: u32,
    /// PostgreSQL: how long a query waits for a free connection.
    pub acquire_timeout: std::time::Duration,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("url", &redact_url(&self.url))
            .field("read_connections", &self.read_connections)
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .finish()
    }
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            url: "sqlite://data/tasksync.db".into(),
            read_connections: 4,
            max_connections: 16,
            acquire_timeout: std::time::Duration::from_secs(5),
        }
    }
}

/// Opens the store the URL names. Does not migrate: call [`Store::migrate`].
pub async fn connect(options: &ConnectOptions) -> Result<std::sync::Arc<dyn Store>> {
    let url = options.url.as_str();
    if url.starts_with("sqlite:") {
        let store = SqliteStore::connect(url, options.read_connections).await?;
        Ok(std::sync::Arc::new(store))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let store = PgStore::connect(options).await?;
        Ok(std::sync::Arc::new(store))
    } else {
        Err(StoreError::Config(format!(
            "unsupported database URL {:?}: expected sqlite://PATH or postgres://…",
            redact_url(url)
        )))
    }
}

/// The URL without its user information (user name and password), for
/// messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Errors of the store. The server maps them to answers; their text is for
/// logs only and never reaches a client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique value (such as an e-mail address) is already taken.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The row the operation needs does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The database URL or file is unusable.
    #[error("database configuration: {0}")]
    Config(String),
    /// A stored value could not be decoded into its domain type.
    #[error("corrupt {0} in the database")]
    Corrupt(&'static str),
    /// An error of SQLite on a connection of the writer or session-reader
    /// thread (rusqlite).
    #[error("database error: {0}")]
    Engine(String),
    /// The transaction a write was batched into failed to commit.
    #[error("commit failed: {0}")]
    Commit(String),
    /// A database worker thread (the writer, the session reader) has stopped.
    #[error("a database worker thread is not running")]
    WorkerGone,
    /// The database was migrated by a newer binary with a contract
    /// migration this binary predates (see [`schema`]).
    #[error(
        "the database was migrated by a newer tasksync (schema {schema}); this binary knows \
         schema {known} and that database needs at least {minimum}: install the newer release \
         or restore the backup taken before the upgrade"
    )]
    NeedsNewerBinary {
        schema: i64,
        known: i64,
        minimum: i64,
    },
    /// A backup could not be written or a restore could not be made.
    #[error("{0}")]
    Backup(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A write of one task, as the API asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskWrite {
    Create(NewTask),
    Update(TaskPatch),
    Delete {
        id: TaskId,
        expected_version: Option<i64>,
    },
}

impl TaskWrite {
    /// The task the write is about.
    pub fn task_id(&self) -> TaskId {
        match self {
            Self::Create(new) => new.id,
            Self::Update(patch) => patch.id,
            Self::Delete { id, .. } => *id,
        }
    }
}

/// The result of a task write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The task after the write.
    pub task: Task,
    /// The entry the write appended to the writer's own log; `None` when
    /// the write changed nothing (an idempotent retry or a patch equal to
    /// the current state).
    pub change: Option<Change>,
    /// The entries it appended to the logs of the list's other members
    /// (fan-out on write), in user-id order.
    pub others: Vec<Change>,
}

impl Written {
    /// A write that changed nothing.
    pub fn unchanged(task: Task) -> Self {
        Self {
            task,
            change: None,
            others: Vec::new(),
        }
    }

    /// Every log entry the write appended.
    pub fn changes(&self) -> impl Iterator<Item = &Change> {
        self.change.iter().chain(&self.others)
    }
}

/// The result of a list write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListWritten {
    /// The list as the writer sees it afterwards (a tombstone after a
    /// delete or a leave).
    pub view: ListView,
    /// Whether anything changed (false: a retry, or the list already so).
    pub changed: bool,
    /// Whether a share added a member (an invitation, not a role change):
    /// the one write after which the address is told by mail.
    pub joined: bool,
}

/// Why a list write did not happen. Nothing was written in either case.
#[derive(Debug, thiserror::Error)]
pub enum ListWriteError {
    #[error(transparent)]
    Rejected(#[from] ListRejection),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ListWriteError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::Database(e))
    }
}

/// Why a task write did not happen. Nothing was written in either case.
#[derive(Debug, thiserror::Error)]
pub enum TaskWriteError {
    #[error(transparent)]
    Rejected(#[from] WriteRejection),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for TaskWriteError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::Database(e))
    }
}

/// Sent after a commit: the scope's log now reaches `seq`. A wake-up call
/// for tailers. When the commit happened in this process, `committed` also
/// carries the changes of this scope that the commit made durable, in seq
/// order, so a tailer that is exactly at their start can skip reading them
/// back; anyone else (a gap, a notice from another node) reads the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitNotice {
    pub scope: UserId,
    pub seq: i64,
    pub committed: Option<std::sync::Arc<[Change]>>,
}

/// Where a scope's retained log begins and ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogBounds {
    /// Changes with `seq <= trimmed_to` were removed by retention; cursors
    /// before it have expired.
    pub trimmed_to: i64,
    /// The latest change (0 if none).
    pub head: i64,
}

/// One task of a delta sync with the sequence number of its latest change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    pub task: Task,
    pub last_seq: i64,
}

/// A user account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: UserId,
    pub email: Email,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub confirmed: bool,
    pub disabled: bool,
    pub created_at: i64,
}

/// What a one-time code is for. A code of one purpose never works for the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    ConfirmSignUp,
    ResetPassword,
}

impl CodePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConfirmSignUp => "confirm_sign_up",
            Self::ResetPassword => "reset_password",
        }
    }
}

/// A code to store; it replaces any earlier code of the same user and purpose.
#[derive(Debug, Clone)]
pub struct NewCode {
    pub user_id: UserId,
    pub purpose: CodePurpose,
    /// Keyed hash of the digits; the digits themselves are never stored.
    pub code_hash: Vec<u8>,
    pub expires_at: i64,
    /// For a sign-up code: the password hash its sign-up chose. It becomes
    /// the account's password with the code (while the account is not yet
    /// confirmed), so the code that confirms an account confirms the
    /// password chosen with it, never an earlier sign-up's. `None` (a
    /// resent code) keeps the password the latest sign-up chose.
    pub password_hash: Option<String>,
}

/// How many codes an account may be sent, and tried, per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeLimits {
    /// Wrong tries of one code before it is refused.
    pub tries_per_code: u32,
    /// Codes issued to one account per window (more are not stored, and
    /// so not mailed).
    pub issued_per_window: u32,
    /// Wrong tries of one account's codes per window, across fresh codes;
    /// then every try is refused until the window ends.
    pub wrong_per_window: u32,
    /// The window, in ms.
    pub window_ms: i64,
}

impl Default for CodeLimits {
    fn default() -> Self {
        Self {
            tries_per_code: 5,
            issued_per_window: 5,
            wrong_per_window: 10,
            window_ms: 60 * 60 * 1000,
        }
    }
}

/// An account's code budget in its current window.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CodeBudget {
    pub window_start: i64,
    pub issued: i64,
    pub wrong: i64,
}

impl CodeBudget {
    /// The budget as of `now`: the stored one while its window lasts, a
    /// fresh one after.
    pub(crate) fn current(stored: Option<Self>, now: i64, limits: &CodeLimits) -> Self {
        match stored {
            Some(b) if now.saturating_sub(b.window_start) < limits.window_ms => b,
            _ => Self {
                window_start: now,
                issued: 0,
                wrong: 0,
            },
        }
    }
}

/// The outcome of trying a code. Only `Accepted` consumes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    Accepted,
    /// Wrong digits; the try was counted.
    Wrong,
    Expired,
    /// No code was issued, or it was already used.
    Missing,
    /// The allowed number of wrong tries is used up; a new code is needed.
    TooManyAttempts,
    /// The right sign-up code of a contested account (see
    /// `PasswordProof`), given without a password; the code still works.
    PasswordRequired,
    /// The right sign-up code, with a password that is not the latest
    /// sign-up's; the code still works (with the right password).
    PasswordMismatch,
}

/// What a caller proved about the password beside a sign-up code. Once a
/// later sign-up of an unconfirmed address chose another password (the
/// account is *contested*: two people may have signed it up), a code
/// confirms the account only with the latest sign-up's password: the
/// mailbox's owner may hold a code that would confirm somebody else's.
/// The password is checked by the caller (it is hashed, slowly) but only
/// revealed by the store once the code is right, so it is no oracle for
/// anyone without the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordProof<'a> {
    /// No password was given: enough for an account signed up once.
    Absent,
    /// The password matched this hash, the account's when it was read.
    Matches(&'a str),
    /// The password did not match the account's.
    Wrong,
}

impl PasswordProof<'_> {
    /// Why a right sign-up code does not confirm an account whose password
    /// hash is `current` and which is `contested`; `None`: it does.
    pub fn refusal(self, contested: bool, current: &str) -> Option<CodeCheck> {
        match self {
            Self::Wrong => Some(CodeCheck::PasswordMismatch),
            // A sign-up replaced the password since it was checked.
            Self::Matches(hash) if hash != current => Some(CodeCheck::PasswordMismatch),
            Self::Absent if contested => Some(CodeCheck::PasswordRequired),
            _ => None,
        }
    }
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl SessionRecord {
    /// Whether tokens of this session may be used at `now`.
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// The outcome of presenting a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was current: it is now spent and the new one is current.
    Rotated(SessionRecord),
    /// The token was already spent: the whole session is now revoked.
    Reused(SessionRecord),
    /// Unknown token, or its session is revoked or expired.
    Invalid,
}

/// A JWT signing key pair.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    /// PKCS#8 DER of the Ed25519 private key.
    pub private_der: Vec<u8>,
    /// The 32-byte Ed25519 public key.
    pub public_key: Vec<u8>,
    pub created_at: i64,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("private_der", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Sign-in throttling state of one e-mail address, as the lockout rules
/// take it.
pub use tasksync_core::lockout::Throttle;

/// Everything tasksync persists. Implemented by [`SqliteStore`] and
/// [`PgStore`], which pass the same conformance suite.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Succeeds when the database answers.
    async fn ping(&self) -> Result<()>;
    /// Applies pending schema migrations. Safe to call on every start.
    /// Refuses ([`StoreError::NeedsNewerBinary`]) a database that a newer
    /// binary migrated past what this one can use, and warns when it runs
    /// on one that a newer binary only expanded ([`schema`]).
    async fn migrate(&self) -> Result<()>;
    /// The database's schema against this binary's migrations, read
    /// without migrating.
    async fn schema(&self) -> Result<SchemaStatus>;

    /// Creates an unconfirmed account. `Conflict` if the address is taken.
    async fn create_user(&self, user: &UserRecord) -> Result<()>;
    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>>;
    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>>;
    /// All accounts, oldest first (for the admin command).
    async fn list_users(&self) -> Result<Vec<UserRecord>>;
    /// Marks the address verified. `NotFound` if there is no such user.
    async fn confirm_user(&self, id: UserId, now: i64) -> Result<()>;
    /// Disables or re-enables an account; disabling revokes every session.
    /// Returns the sessions it revoked.
    async fn set_disabled(&self, id: UserId, disabled: bool, now: i64) -> Result<Vec<SessionId>>;
    /// Replaces the password hash, confirms the address and revokes every
    /// session of the user but `keep`, in one transaction. Returns the
    /// sessions it revoked. Only a proven mailbox (a reset code) or a
    /// signed-in, so confirmed, user sets a password; confirming in the same
    /// statement leaves no moment in which a sign-up of the still
    /// unconfirmed address replaces the new password before the account is
    /// confirmed.
    async fn set_password(
        &self,
        id: UserId,
        password_hash: &str,
        keep: Option<SessionId>,
        now: i64,
    ) -> Result<Vec<SessionId>>;

    /// Stores a code, replacing an earlier one of the same purpose.
    /// Stores `code` if the account's budget allows another code this
    /// window (`CodeLimits::issued_per_window`); false when it does not
    /// (no code stored: the caller must not mail it). A sign-up's password
    /// (`NewCode::password_hash`) replaces an unconfirmed account's either
    /// way; when the budget is spent, the account's earlier code of that
    /// purpose is deleted with it, so no code confirms a password other
    /// than the latest sign-up's.
    async fn put_code(&self, code: &NewCode, limits: &CodeLimits, now: i64) -> Result<bool>;
    /// Tries a code: counts wrong tries, refuses after
    /// `CodeLimits::tries_per_code` wrong ones of this code or
    /// `wrong_per_window` of the account's this window, and deletes the code
    /// when it is accepted (single use). An accepted sign-up code confirms
    /// its account in the same transaction, so no sign-up between the check
    /// and the confirmation can change the password it confirms; `proof`
    /// must be enough for it (`PasswordProof::refusal`), else the right
    /// code is kept and the refusal returned. Reset codes ignore `proof`.
    async fn check_code(
        &self,
        user_id: UserId,
        purpose: CodePurpose,
        code_hash: &[u8],
        proof: PasswordProof<'_>,
        limits: &CodeLimits,
        now: i64,
    ) -> Result<CodeCheck>;

    /// Starts a session whose first refresh token has `refresh_hash`, and
    /// revokes the user's oldest active sessions beyond the newest
    /// `keep_at_most`. Returns the sessions it revoked.
    async fn create_session(
        &self,
        session: &SessionRecord,
        refresh_hash: &[u8],
        keep_at_most: u32,
    ) -> Result<Vec<SessionId>>;
    /// Spends `old_hash` and makes `new_hash` current, or detects reuse.
    async fn rotate_refresh(&self, old_hash: &[u8], new_hash: &[u8], now: i64) -> Result<Rotation>;
    /// The session a refresh token (current or spent) belongs to.
    async fn session_by_refresh(&self, hash: &[u8]) -> Result<Option<SessionRecord>>;
    async fn session(&self, id: SessionId) -> Result<Option<SessionRecord>>;
    /// Revokes one session; false if it was already revoked or unknown.
    async fn revoke_session(&self, id: SessionId, now: i64) -> Result<bool>;
    /// Revokes every active session of a user. Returns the ones it revoked.
    async fn revoke_user_sessions(&self, user_id: UserId, now: i64) -> Result<Vec<SessionId>>;

    /// All signing keys, newest first.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>>;
    /// Stores `key` only if there is no key yet (several nodes may start at
    /// once); returns the keys afterwards, newest first.
    async fn init_signing_key(&self, key: &SigningKeyRecord) -> Result<Vec<SigningKeyRecord>>;

    async fn throttle(&self, email: &Email) -> Result<Throttle>;
    /// Decides a sign-in attempt of `email` before its password is checked
    /// ([`tasksync_core::lockout::reserve`]): refused while the address
    /// waits out a lockout, otherwise counted as a failure (and the wait
    /// that follows it set) until a success clears it. Read and write
    /// happen under one lock, so concurrent attempts, on any node, are
    /// counted one by one.
    async fn reserve_login_attempt(
        &self,
        email: &Email,
        now: i64,
    ) -> Result<tasksync_core::lockout::Attempt>;
    /// Moves the end of an address's wait to `until` if that is later (a
    /// failed attempt's wait runs from when it was found wrong).
    async fn extend_lockout(&self, email: &Email, until: i64) -> Result<()>;
    async fn clear_login_failures(&self, email: &Email) -> Result<()>;

    /// Applies one task write of `caller`, who must be allowed to write the
    /// task's list (and, for a move, the list it moves to): the task row,
    /// and for every member of the list (of both lists, for a move) the
    /// next number of their log and their change-log row, in one
    /// transaction, or nothing.
    async fn write_task(
        &self,
        caller: UserId,
        write: TaskWrite,
        now: i64,
    ) -> Result<Written, TaskWriteError>;
    /// Applies one write of a list or its membership by `caller`, with its
    /// fan-out (move-in and revocation included) in one transaction.
    async fn write_list(
        &self,
        caller: UserId,
        write: ListWrite,
        limits: ListLimits,
        now: i64,
    ) -> Result<ListWritten, ListWriteError>;
    /// The live lists `user` is a member of, personal first.
    async fn lists(&self, user: UserId) -> Result<Vec<ListView>>;
    /// How many live tasks a share of `list` with `email` by `user` would
    /// move into the new member's log, counting no further than `limit`: 0
    /// unless `user` owns the list, it can be shared (live, not personal)
    /// and `email` is not a member yet (a stranger learns nothing).
    async fn share_size(
        &self,
        user: UserId,
        list: tasksync_core::ListId,
        email: &Email,
        limit: u32,
    ) -> Result<u32>;
    /// The lists of `user`'s log whose latest change is in
    /// `(after_seq, upto_seq]`, at that state (tombstones included).
    async fn changed_lists(
        &self,
        user: UserId,
        after_seq: i64,
        upto_seq: i64,
    ) -> Result<Vec<ListView>>;
    /// A task in one of `user`'s lists (tombstones included; callers hide
    /// them).
    async fn task(&self, user: UserId, id: TaskId) -> Result<Option<Task>>;
    /// Live tasks of `owner`'s lists, oldest first, after the given `(created_at, id)`:
    /// at most `limit`, and no more than one past those that take over
    /// `max_bytes` of answer (`Task::answer_bytes`; the rest is not read).
    async fn tasks_page(
        &self,
        owner: UserId,
        after: Option<(i64, TaskId)>,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<Task>>;
    /// Changes of a scope with `seq > after`, in order, at most `limit`.
    async fn changes_after(&self, scope: UserId, after: i64, limit: u32) -> Result<Vec<Change>>;
    /// The changes of several scopes: for each `(scope, after)`, its
    /// changes with `seq > after`, in order, at most `limit` of each;
    /// grouped by scope in the order given. One read for the wake-ups of
    /// many scopes at once (a change in a shared list wakes every member's
    /// scope on every node). The default reads scope by scope.
    async fn changes_after_many(&self, from: &[(UserId, i64)], limit: u32) -> Result<Vec<Change>> {
        let mut out = Vec::new();
        for &(scope, after) in from {
            out.extend(self.changes_after(scope, after, limit).await?);
        }
        Ok(out)
    }
    /// The sequence number of the scope's latest change (0 if none).
    async fn head(&self, scope: UserId) -> Result<i64>;
    /// The retained range of a scope's log.
    async fn log_bounds(&self, scope: UserId) -> Result<LogBounds>;
    /// Delta sync: the tasks of `owner`'s log (tombstones included) whose
    /// latest change there is in `(after_seq, upto_seq]`, at that change's
    /// image, by its seq, at most `limit` and within `max_bytes` as for
    /// `tasks_page`. Served by the `(scope, task_id, seq)` index of the log.
    async fn changed_tasks(
        &self,
        owner: UserId,
        after_seq: i64,
        upto_seq: i64,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<Synced>>;
    /// Retention: removes changes committed before `horizon` (epoch ms) and
    /// the tombstones whose deletion they recorded, and moves each scope's
    /// `trimmed_to`. Returns the number of changes removed.
    async fn trim_log(&self, horizon: i64) -> Result<u64>;
    /// Sessions revoked at or after `since` (epoch ms), with the time.
    async fn sessions_revoked_since(&self, since: i64) -> Result<Vec<(SessionId, i64)>>;
    /// Wake-up calls after each commit of task writes.
    fn commits(&self) -> tokio::sync::broadcast::Receiver<CommitNotice>;
    /// Ticks whenever wake-up calls may have been lost (the connection that
    /// carries them from other nodes was re-established), so tailers should
    /// re-read every scope they follow from the log. `None` when every
    /// commit happens in this process and no notice can be lost.
    fn resyncs(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// Deletes expired codes, sessions ended more than `keep_ms` ago and stale
    /// throttle rows. Returns the number of rows removed.
    async fn purge_expired(&self, now: i64, keep_ms: i64) -> Result<u64>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_connect_options_print_without_passwords() {
        for (url, shown) in [
            ("postgres://u:p%40ss@db:5432/x", "postgres://***@db:5432/x"),
            ("postgres://u:p@ss@db/x", "postgres://***@db/x"),
            ("postgres://db/x", "postgres://db/x"),
            ("sqlite://data/tasksync.db", "sqlite://data/tasksync.db"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
        let options = ConnectOptions {
            url: "postgres://tasksync:hunter2@db/x".into(),
            ..ConnectOptions::default()
        };
        let text = format!("{options:?}");
        assert!(
            !text.contains("hunter2") && text.contains("@db/x"),
            "{text}"
        );
    }
}
