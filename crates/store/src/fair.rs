//! Fair reads: a [`Store`] wrapper that keeps one user from taking the read
//! pool, and keeps a caller that stops polling from holding a connection.
//!
//! Two things made a burst of subscriptions freeze a server. First, a read
//! holds its pooled connection inside the read's future until that future
//! is polled to its end; a subscription's stream is polled only when its
//! socket task gets to it, so a socket busy starting its next subscription
//! (which needs a connection of its own) held connections it could not give
//! back: eight such streams took the whole SQLite read pool, and every other
//! request waited for the pool's timeout. Second, nothing bounded how many
//! reads one user could have at once.
//!
//! Every read of a user's data (tasks, the change log and its bounds) here
//! runs in a task of its own on the store's runtime, so it completes and
//! returns its connection whether or not its caller is still polling, and
//! it first takes one of that user's `per_user` permits (a fair queue), so
//! one user has at most `per_user` connections of the pool and everyone
//! else keeps the rest. Writes, accounts and sessions pass straight through:
//! they are not keyed by a scope a client can multiply, and they run on
//! connections of their own (SQLite's writer and session reader).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tasksync_core::{Change, Email, ListId, SessionId, Task, TaskId, UserId};
use tokio::sync::Semaphore;

use crate::{
    CodeCheck, CodeLimits, CodePurpose, CommitNotice, LogBounds, NewCode, PasswordProof, Result,
    Rotation, SessionRecord, SigningKeyRecord, Store, StoreError, Synced, TaskWrite,
    TaskWriteError, Throttle, UserRecord, Written,
};

/// The wrapper; see the module documentation.
#[derive(Debug)]
pub struct FairReads {
    inner: Arc<dyn Store>,
    per_user: usize,
    permits: Arc<Mutex<HashMap<UserId, Arc<Semaphore>>>>,
    /// Where reads run: the runtime that made this store (the one its
    /// connections belong to), whichever runtime the caller is on.
    runtime: tokio::runtime::Handle,
}

impl FairReads {
    /// Wraps `inner`; each user gets at most `per_user` reads at a time
    /// (at least one). Must be called within a Tokio runtime.
    pub fn new(inner: Arc<dyn Store>, per_user: usize) -> Self {
        Self {
            inner,
            per_user: per_user.max(1),
            permits: Arc::default(),
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// Runs `read` for `user` in a task of its own, after taking one of the
    /// user's permits.
    async fn read<T, F, Fut>(&self, user: UserId, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<dyn Store>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T>> + Send + 'static,
    {
        let semaphore = {
            let mut map = self.permits.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(user)
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_user)))
                .clone()
        };
        let (inner, permits) = (self.inner.clone(), self.permits.clone());
        let task = self.runtime.spawn(async move {
            let result = match semaphore.clone().acquire_owned().await {
                Ok(_permit) => read(inner).await,
                Err(_) => Err(StoreError::WorkerGone),
            };
            // Forget the user's queue once nobody holds or awaits it.
            let mut map = permits.lock().unwrap_or_else(|p| p.into_inner());
            if Arc::strong_count(&semaphore) == 2 {
                map.remove(&user);
            }
            result
        });
        task.await.map_err(|_| StoreError::WorkerGone)?
    }
}

#[async_trait]
impl Store for FairReads {
    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
    async fn migrate(&self) -> Result<()> {
        self.inner.migrate().await
    }
    async fn schema(&self) -> Result<crate::SchemaStatus> {
        self.inner.schema().await
    }
    async fn create_user(&self, user: &UserRecord) -> Result<()> {
        self.inner.create_user(user).await
    }
    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>> {
        self.inner.user_by_email(email).await
    }
    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>> {
        self.inner.user_by_id(id).await
    }
    async fn list_users(&self) -> Result<Vec<UserRecord>> {
        self.inner.list_users().await
    }
    async fn confirm_user(&self, id: UserId, now: i64) -> Result<()> {
        self.inner.confirm_user(id, now).await
    }
    async fn set_disabled(&self, id: UserId, disabled: bool, now: i64) -> Result<Vec<SessionId>> {
        self.inner.set_disabled(id, disabled, now).await
    }
    async fn set_password(
        &self,
        id: UserId,
        password_hash: &str,
        keep: Option<SessionId>,
        now: i64,
    ) -> Result<Vec<SessionId>> {
        self.inner.set_password(id, password_hash, keep, now).await
    }
    async fn put_code(&self, code: &NewCode, limits: &CodeLimits, now: i64) -> Result<bool> {
        self.inner.put_code(code, limits, now).await
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
        self.inner
            .check_code(user_id, purpose, code_hash, proof, limits, now)
            .await
    }
    async fn create_session(
        &self,
        session: &SessionRecord,
        refresh_hash: &[u8],
        keep_at_most: u32,
    ) -> Result<Vec<SessionId>> {
        self.inner
            .create_session(session, refresh_hash, keep_at_most)
            .await
    }
    async fn rotate_refresh(&self, old_hash: &[u8], new_hash: &[u8], now: i64) -> Result<Rotation> {
        self.inner.rotate_refresh(old_hash, new_hash, now).await
    }
    async fn session_by_refresh(&self, hash: &[u8]) -> Result<Option<SessionRecord>> {
        self.inner.session_by_refresh(hash).await
    }
    async fn session(&self, id: SessionId) -> Result<Option<SessionRecord>> {
        self.inner.session(id).await
    }
    async fn revoke_session(&self, id: SessionId, now: i64) -> Result<bool> {
        self.inner.revoke_session(id, now).await
    }
    async fn revoke_user_sessions(&self, user_id: UserId, now: i64) -> Result<Vec<SessionId>> {
        self.inner.revoke_user_sessions(user_id, now).await
    }
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>> {
        self.inner.signing_keys().await
    }
    async fn init_signing_key(&self, key: &SigningKeyRecord) -> Result<Vec<SigningKeyRecord>> {
        self.inner.init_signing_key(key).await
    }
    async fn throttle(&self, email: &Email) -> Result<Throttle> {
        self.inner.throttle(email).await
    }
    async fn reserve_login_attempt(
        &self,
        email: &Email,
        now: i64,
    ) -> Result<tasksync_core::lockout::Attempt> {
        self.inner.reserve_login_attempt(email, now).await
    }
    async fn extend_lockout(&self, email: &Email, until: i64) -> Result<()> {
        self.inner.extend_lockout(email, until).await
    }
    async fn clear_login_failures(&self, email: &Email) -> Result<()> {
        self.inner.clear_login_failures(email).await
    }
    async fn write_task(
        &self,
        owner: UserId,
        write: TaskWrite,
        now: i64,
    ) -> Result<Written, TaskWriteError> {
        self.inner.write_task(owner, write, now).await
    }

    async fn write_list(
        &self,
        caller: UserId,
        write: tasksync_core::ListWrite,
        limits: tasksync_core::ListLimits,
        now: i64,
    ) -> Result<crate::ListWritten, crate::ListWriteError> {
        self.inner.write_list(caller, write, limits, now).await
    }
    async fn lists(&self, user: UserId) -> Result<Vec<tasksync_core::ListView>> {
        self.read(user, move |s| async move { s.lists(user).await })
            .await
    }
    async fn share_size(
        &self,
        user: UserId,
        list: ListId,
        email: &Email,
        limit: u32,
    ) -> Result<u32> {
        let email = email.clone();
        self.read(user, move |s| async move {
            s.share_size(user, list, &email, limit).await
        })
        .await
    }
    async fn changed_lists(
        &self,
        user: UserId,
        after_seq: i64,
        upto_seq: i64,
    ) -> Result<Vec<tasksync_core::ListView>> {
        self.read(user, move |s| async move {
            s.changed_lists(user, after_seq, upto_seq).await
        })
        .await
    }
    async fn task(&self, owner: UserId, id: TaskId) -> Result<Option<Task>> {
        self.read(owner, move |s| async move { s.task(owner, id).await })
            .await
    }
    async fn tasks_page(
        &self,
        owner: UserId,
        after: Option<(i64, TaskId)>,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<Task>> {
        self.read(owner, move |s| async move {
            s.tasks_page(owner, after, limit, max_bytes).await
        })
        .await
    }
    async fn changes_after(&self, scope: UserId, after: i64, limit: u32) -> Result<Vec<Change>> {
        self.read(scope, move |s| async move {
            s.changes_after(scope, after, limit).await
        })
        .await
    }
    async fn changes_after_many(&self, from: &[(UserId, i64)], limit: u32) -> Result<Vec<Change>> {
        // The feed's own read, for many users at once: no user's permit.
        self.inner.changes_after_many(from, limit).await
    }
    async fn head(&self, scope: UserId) -> Result<i64> {
        self.read(scope, move |s| async move { s.head(scope).await })
            .await
    }
    async fn log_bounds(&self, scope: UserId) -> Result<LogBounds> {
        self.read(scope, move |s| async move { s.log_bounds(scope).await })
            .await
    }
    async fn changed_tasks(
        &self,
        owner: UserId,
        after_seq: i64,
        upto_seq: i64,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<Synced>> {
        self.read(owner, move |s| async move {
            s.changed_tasks(owner, after_seq, upto_seq, limit, max_bytes)
                .await
        })
        .await
    }

    async fn trim_log(&self, horizon: i64) -> Result<u64> {
        self.inner.trim_log(horizon).await
    }
    async fn sessions_revoked_since(&self, since: i64) -> Result<Vec<(SessionId, i64)>> {
        self.inner.sessions_revoked_since(since).await
    }
    fn commits(&self) -> tokio::sync::broadcast::Receiver<CommitNotice> {
        self.inner.commits()
    }
    fn resyncs(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.inner.resyncs()
    }
    async fn purge_expired(&self, now: i64, keep_ms: i64) -> Result<u64> {
        self.inner.purge_expired(now, keep_ms).await
    }
}
