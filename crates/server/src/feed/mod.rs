//! The feed: committed changes to live subscribers.
//!
//! A subscriber is a cursor being advanced through its scope's change log.
//! The feed keeps, per scope with subscribers, `head`: the last change it
//! has read from the log and handed to the scope's *live* subscribers (those
//! whose cursor equals `head`). After each commit the store sends a wake-up
//! notice; the feed reads the new changes once and pushes each to every live
//! subscriber of the scope, so fan-out costs one database read per commit
//! batch, not one per subscriber.
//!
//! A subscriber that is behind (resuming from an old cursor, or demoted
//! because its buffer filled up) reads pages from the log itself until it
//! reaches the feed's `head`, then joins the live path. Whether to join is
//! decided by comparing cursors under the scope's lock, and a joining
//! subscriber ignores live changes at or below its own cursor, so no change
//! falls between replay and live and none arrives twice. A slow subscriber
//! is never waited for: when its buffer is full it is dropped from the live
//! path and pages from the log at its own pace.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tasksync_core::{Change, UserId};
use tasksync_store::{CommitNotice, Store, StoreError};
use tokio::sync::{broadcast, mpsc};

/// Changes read from the log in one query.
const PAGE: u32 = 500;
/// How often every scope with live subscribers is re-read, in case a
/// wake-up was lost. Costs one query per such scope.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// Live changes as shared by every subscriber of a scope.
pub type Shared = Arc<Change>;

#[derive(Debug)]
struct ScopeState {
    /// Every change with `seq <= head` was handed to the live subscribers.
    head: i64,
    live: Vec<mpsc::Sender<Shared>>,
}

#[derive(Debug)]
struct ScopeFeed {
    scope: UserId,
    state: tokio::sync::Mutex<ScopeState>,
    /// Subscriptions of this scope; at zero the scope is forgotten.
    subscriptions: AtomicUsize,
}

/// Why a subscription ended.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The log no longer holds the changes after the cursor (retention).
    #[error("the change log no longer reaches back to this cursor")]
    Expired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Tails the change log for every scope that has subscribers.
#[derive(Debug)]
pub struct Feed {
    store: Arc<dyn Store>,
    scopes: Mutex<HashMap<UserId, Arc<ScopeFeed>>>,
    /// Capacity of a live subscriber's buffer.
    buffer: usize,
    sweeping: AtomicBool,
    sweep_again: AtomicBool,
}

impl Feed {
    pub fn new(store: Arc<dyn Store>, buffer: usize) -> Arc<Self> {
        Arc::new(Self {
            store,
            scopes: Mutex::default(),
            buffer: buffer.max(1),
            sweeping: AtomicBool::new(false),
            sweep_again: AtomicBool::new(false),
        })
    }

    /// Runs until `stop` fires: wakes on commit notices. Notices are only
    /// wake-ups: when some were lost (the receiver lagged, or the store's
    /// connection to other nodes' notices was re-established) every scope
    /// with live subscribers is re-read from the log, and a slow sweep does
    /// the same as a safety net, so a lost notice costs latency, never data.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut commits = self.store.commits();
        // Without resyncs (SQLite: every commit is announced in-process)
        // this waits forever.
        let mut resyncs = self.store.resyncs();
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                Ok(()) = async {
                    match resyncs.as_mut() {
                        Some(r) => r.changed().await,
                        None => std::future::pending().await,
                    }
                } => self.spawn_sweep(),
                notice = commits.recv() => match notice {
                    Ok(CommitNotice { scope, seq, committed }) => {
                        if let Some(feed) = self.existing(scope) {
                            let this = self.clone();
                            tokio::spawn(async move { this.advance(&feed, seq, committed.as_deref()).await });
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "feed lagged behind commit notices; re-reading every scope");
                        self.spawn_sweep();
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = sweep.tick() => self.spawn_sweep(),
            }
        }
    }

    /// Re-reads every scope with live subscribers, off the notice loop. At
    /// most one sweep runs at a time; a sweep asked for while one runs makes
    /// it go round once more, so no request is lost (a scope it had already
    /// passed may have missed the notices the request is about).
    fn spawn_sweep(self: &Arc<Self>) {
        self.sweep_again.store(true, Ordering::SeqCst);
        if self.sweeping.swap(true, Ordering::SeqCst) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                while this.sweep_again.swap(false, Ordering::SeqCst) {
                    let scopes: Vec<Arc<ScopeFeed>> =
                        this.lock_scopes().values().cloned().collect();
                    for feed in scopes {
                        this.advance(&feed, i64::MAX, None).await;
                    }
                }
                this.sweeping.store(false, Ordering::SeqCst);
                // A request that came between the last check and now.
                if !this.sweep_again.load(Ordering::SeqCst)
                    || this.sweeping.swap(true, Ordering::SeqCst)
                {
                    return;
                }
            }
        });
    }

    fn lock_scopes(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Arc<ScopeFeed>>> {
        self.scopes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn existing(&self, scope: UserId) -> Option<Arc<ScopeFeed>> {
        self.lock_scopes().get(&scope).cloned()
    }

    /// Reads the scope's changes after `head` (until `seq` is covered, or
    /// the log ends) and pushes them to the live subscribers.
    async fn advance(&self, feed: &ScopeFeed, seq: i64, committed: Option<&[Change]>) {
        let mut state = feed.state.lock().await;
        if let Some(committed) = committed {
            // Changes committed by this process: if they continue exactly
            // where the live path is, they are the log's next entries and
            // need not be read back from it.
            let head = state.head;
            let fresh = committed.iter().skip_while(|c| c.seq <= head);
            let contiguous = fresh
                .clone()
                .zip(head.saturating_add(1)..)
                .all(|(c, want)| c.seq == want);
            if contiguous && head != i64::MIN {
                for change in fresh {
                    record_lag(change);
                    let shared = Arc::new(change.clone());
                    state.live.retain(|tx| tx.try_send(shared.clone()).is_ok());
                    state.head = change.seq;
                }
            }
        }
        while state.head < seq && !state.live.is_empty() {
            let changes = match self.store.changes_after(feed.scope, state.head, PAGE).await {
                Ok(c) => c,
                Err(e) => {
                    // Nobody waits on us: the live subscribers fall back to
                    // reading the log themselves.
                    tracing::warn!(error = %e, "feed read failed; demoting live subscribers");
                    state.live.clear();
                    return;
                }
            };
            let Some(last) = changes.last().map(|c| c.seq) else {
                break;
            };
            for change in changes {
                record_lag(&change);
                let shared = Arc::new(change);
                state.live.retain(|tx| tx.try_send(shared.clone()).is_ok());
            }
            state.head = last;
        }
        if state.live.is_empty() {
            // Nobody is live: the next joiner sets `head` from the log.
            state.head = i64::MIN;
        }
    }

    /// Starts a subscription of `scope` positioned after `cursor`.
    pub fn subscribe(self: &Arc<Self>, scope: UserId, cursor: i64) -> Subscription {
        let feed = {
            let mut scopes = self.lock_scopes();
            let feed = scopes.entry(scope).or_insert_with(|| {
                Arc::new(ScopeFeed {
                    scope,
                    state: tokio::sync::Mutex::new(ScopeState {
                        head: i64::MIN,
                        live: Vec::new(),
                    }),
                    subscriptions: AtomicUsize::new(0),
                })
            });
            feed.subscriptions.fetch_add(1, Ordering::SeqCst);
            feed.clone()
        };
        metrics::gauge!("tasksync_subscriptions").increment(1.0);
        Subscription {
            feed: self.clone(),
            scope: feed,
            cursor,
            live: None,
            replay: std::collections::VecDeque::new(),
        }
    }
}

/// The change-log lag: how long after its write a change reached the live
/// path (`tasksync_feed_lag_seconds`).
fn record_lag(change: &Change) {
    let lag_ms = crate::clock::now_ms().saturating_sub(change.at).max(0);
    metrics::histogram!("tasksync_feed_lag_seconds").record(lag_ms as f64 / 1000.0);
}

/// One subscriber: yields every change of its scope after its cursor,
/// exactly once and in order, for as long as it lives.
#[derive(Debug)]
pub struct Subscription {
    feed: Arc<Feed>,
    scope: Arc<ScopeFeed>,
    cursor: i64,
    live: Option<mpsc::Receiver<Shared>>,
    replay: std::collections::VecDeque<Change>,
}

impl Subscription {
    /// The next change. Errors only when the log cannot be read.
    pub async fn next(&mut self) -> Result<Shared, FeedError> {
        loop {
            if let Some(change) = self.replay.pop_front() {
                self.cursor = change.seq;
                return Ok(Arc::new(change));
            }
            if let Some(live) = &mut self.live {
                match live.recv().await {
                    Some(change) if change.seq <= self.cursor => continue,
                    Some(change) if change.seq == self.cursor + 1 => {
                        self.cursor = change.seq;
                        return Ok(change);
                    }
                    // A gap cannot happen by construction; if it ever did,
                    // the log is the truth: read it.
                    Some(_) | None => self.live = None,
                }
                continue;
            }
            let page = self
                .feed
                .store
                .changes_after(self.scope.scope, self.cursor, PAGE)
                .await?;
            if page.first().is_some_and(|c| c.seq != self.cursor + 1) {
                // Retention removed changes this cursor has not seen.
                return Err(FeedError::Expired);
            }
            if !page.is_empty() {
                self.replay.extend(page);
                continue;
            }
            self.try_join().await?;
            if self.live.is_none() {
                // The feed is ahead of what we read: more is in the log,
                // unless retention removed it, which an empty page after a
                // cursor below the head means.
                let bounds = self.feed.store.log_bounds(self.scope.scope).await?;
                if bounds.trimmed_to > self.cursor {
                    return Err(FeedError::Expired);
                }
                continue;
            }
        }
    }

    /// Joins the live path if the feed has not handed out anything this
    /// subscriber has not read (its `head` is at or below our cursor).
    async fn try_join(&mut self) -> Result<(), StoreError> {
        let mut state = self.scope.state.lock().await;
        if state.head == i64::MIN {
            // First live subscriber: the feed starts from the log's head.
            state.head = self.feed.store.head(self.scope.scope).await?;
        }
        if state.head <= self.cursor {
            let (tx, rx) = mpsc::channel(self.feed.buffer);
            state.live.push(tx);
            self.live = Some(rx);
        }
        Ok(())
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        metrics::gauge!("tasksync_subscriptions").decrement(1.0);
        let mut scopes = self.feed.lock_scopes();
        if self.scope.subscriptions.fetch_sub(1, Ordering::SeqCst) == 1 {
            scopes.remove(&self.scope.scope);
        }
    }
}
