//! The feed: committed changes to live subscribers. Uses the core and the
//! store only (and the clock); it knows nothing of GraphQL or sockets.
//!
//! A subscriber is a cursor being advanced through its scope's change log.
//! The feed keeps, per scope with subscribers, `head`: the last change it
//! has read from the log and published to the scope's *live* subscribers.
//! After each commit the store sends a wake-up notice; the feed reads the
//! new changes once and publishes them as one [`Batch`] on the scope's ring
//! (a `tokio::sync::broadcast` channel), so fan-out costs one database read
//! and one allocation per commit batch, whatever the number of subscribers,
//! and a subscriber's task is woken once per batch, not once per change.
//! Every subscriber reads the same `Arc<Batch>`; renderings of it are made
//! once per output shape and shared too ([`Batch::rendered`]).
//!
//! A subscriber that is behind (resuming from an old cursor, or more than
//! the ring's capacity behind because it reads slowly) reads pages from the
//! log itself until it reaches the feed's `head`, then joins the live path.
//! Whether to join is decided by comparing cursors under the scope's lock,
//! and a joining subscriber skips live changes at or below its own cursor,
//! so no change falls between replay and live and none arrives twice. A
//! slow subscriber is never waited for: the ring overwrites what it has not
//! read, and it pages from the log at its own pace. A subscriber that is a
//! little behind but still on the ring takes every batch it missed in one
//! go, so a busy server degrades by delivering bigger batches, not by
//! queueing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tasksync_core::{Change, UserId};
use tasksync_store::{CommitNotice, Store, StoreError};
use tokio::sync::broadcast;

/// Changes read from the log in one query.
const PAGE: u32 = 500;
/// Most scopes woken without their changes that are read in one query.
const READ_TOGETHER: usize = 256;
/// About the most a subscriber catching up from the log holds of one page
/// (and then of its rendering): a page of 500 tasks with 4 KB
/// descriptions would be 2 MB per subscriber, which a stalled one keeps
/// until its socket is closed.
const PAGE_BYTES: usize = 128 * 1024;
/// How often every scope with live subscribers is re-read, in case a
/// wake-up was lost. Costs one query per such scope.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// Consecutive changes of one scope, as committed (or as read from the
/// log), shared by every subscriber that receives them.
#[derive(Debug)]
pub struct Batch {
    /// In `seq` order, with no gap; never empty.
    changes: Vec<Change>,
    /// Renderings of these changes, one per output shape (by its id).
    rendered: Mutex<Vec<(u64, Arc<dyn std::any::Any + Send + Sync>)>>,
}

impl Batch {
    fn new(changes: Vec<Change>) -> Arc<Self> {
        debug_assert!(!changes.is_empty());
        Arc::new(Self {
            changes,
            rendered: Mutex::default(),
        })
    }

    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    fn first_seq(&self) -> i64 {
        self.changes.first().map_or(i64::MAX, |c| c.seq)
    }

    fn last_seq(&self) -> i64 {
        self.changes.last().map_or(i64::MIN, |c| c.seq)
    }

    /// The rendering of this batch for the output shape `shape`, made by
    /// `render` the first time it is asked for and shared after: with a
    /// thousand subscribers of one shape a change is rendered once. One
    /// short lock per batch and subscriber, none per change.
    pub fn rendered<T: Send + Sync + 'static>(
        &self,
        shape: u64,
        render: impl FnOnce(&[Change]) -> T,
    ) -> Arc<T> {
        let mut cache = self.rendered.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = cache
            .iter()
            .find(|(s, _)| *s == shape)
            .and_then(|(_, r)| r.clone().downcast::<T>().ok())
        {
            return found;
        }
        let made = Arc::new(render(&self.changes));
        cache.push((shape, made.clone()));
        made
    }
}

/// Live batches as shared by every subscriber of a scope.
pub type Shared = Arc<Batch>;

#[derive(Debug)]
struct ScopeFeed {
    scope: UserId,
    /// Every change with `seq <= head` was published on `ring`; `i64::MIN`
    /// while nobody is live (the next joiner reads it from the log).
    head: tokio::sync::Mutex<i64>,
    ring: broadcast::Sender<Shared>,
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
    /// Batches a scope's ring holds: how far behind a live subscriber may
    /// fall before it reads the log instead.
    ring: usize,
    sweeping: AtomicBool,
    sweep_again: AtomicBool,
}

impl Feed {
    /// A feed whose scope rings hold `ring` batches each.
    pub fn new(store: Arc<dyn Store>, ring: usize) -> Arc<Self> {
        Arc::new(Self {
            store,
            scopes: Mutex::default(),
            ring: ring.max(1),
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
                notice = commits.recv() => {
                    // Notices without their changes (another node's, or a
                    // list write's) are gathered with whatever else is
                    // waiting and read in one query: a change in a list of
                    // M members wakes M scopes at once.
                    let mut to_read = Vec::new();
                    let mut next = Some(notice);
                    while let Some(notice) = next.take() {
                        match notice {
                            Ok(CommitNotice { scope, seq, committed: Some(committed) }) => {
                                if let Some(feed) = self.existing(scope) {
                                    let this = self.clone();
                                    tokio::spawn(async move { this.advance(&feed, seq, Some(&committed)).await });
                                }
                            }
                            Ok(CommitNotice { scope, seq, committed: None }) => {
                                if let Some(feed) = self.existing(scope) {
                                    to_read.push((feed, seq));
                                }
                            }
                            Err(broadcast::error::RecvError::Lagged(missed)) => {
                                tracing::warn!(missed, "feed lagged behind commit notices; re-reading every scope");
                                self.spawn_sweep();
                            }
                            Err(broadcast::error::RecvError::Closed) => return,
                        }
                        if to_read.len() < READ_TOGETHER {
                            next = match commits.try_recv() {
                                Ok(n) => Some(Ok(n)),
                                Err(broadcast::error::TryRecvError::Lagged(m)) => {
                                    Some(Err(broadcast::error::RecvError::Lagged(m)))
                                }
                                Err(_) => None,
                            };
                        }
                    }
                    if !to_read.is_empty() {
                        let this = self.clone();
                        tokio::spawn(async move { this.advance_many(to_read).await });
                    }
                }
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

    /// Advances several scopes to (at least) their notified `seq` with one
    /// read of the log for all of them; a scope that has more than a page
    /// to catch up goes on alone.
    async fn advance_many(&self, mut scopes: Vec<(Arc<ScopeFeed>, i64)>) {
        scopes.sort_by_key(|(f, _)| f.scope);
        scopes.dedup_by(|later, kept| {
            let same = later.0.scope == kept.0.scope;
            if same {
                kept.1 = kept.1.max(later.1);
            }
            same
        });
        // Heads are locked in scope order, as nowhere else holds two.
        let mut live = Vec::with_capacity(scopes.len());
        for (feed, seq) in &scopes {
            let head = feed.head.lock().await;
            if feed.ring.receiver_count() > 0 && *head != i64::MIN && *head < *seq {
                live.push((feed, *seq, head));
            }
        }
        if live.len() > 1 {
            let from: Vec<(UserId, i64)> = live.iter().map(|(f, _, h)| (f.scope, **h)).collect();
            match self.store.changes_after_many(&from, PAGE).await {
                Ok(changes) => {
                    let mut changes = changes.into_iter().peekable();
                    for (feed, _, head) in &mut live {
                        let mut mine = Vec::new();
                        while let Some(c) = changes.next_if(|c| c.scope == feed.scope) {
                            mine.push(c);
                        }
                        let contiguous = mine
                            .iter()
                            .zip(head.saturating_add(1)..)
                            .all(|(c, want)| c.seq == want);
                        if contiguous && !mine.is_empty() {
                            **head = publish(feed, mine);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "feed read failed"),
            }
        }
        for (feed, seq, mut head) in live {
            self.advance_locked(feed, &mut head, seq, None).await;
        }
    }

    /// Reads the scope's changes after `head` (until `seq` is covered, or
    /// the log ends) and publishes them to the live subscribers.
    async fn advance(&self, feed: &ScopeFeed, seq: i64, committed: Option<&[Change]>) {
        let mut head = feed.head.lock().await;
        self.advance_locked(feed, &mut head, seq, committed).await;
    }

    async fn advance_locked(
        &self,
        feed: &ScopeFeed,
        head: &mut i64,
        seq: i64,
        committed: Option<&[Change]>,
    ) {
        if feed.ring.receiver_count() == 0 {
            // Nobody is live: the next joiner sets `head` from the log.
            *head = i64::MIN;
            return;
        }
        if let Some(committed) = committed
            && *head != i64::MIN
        {
            // Changes committed by this process: if they continue exactly
            // where the live path is, they are the log's next entries and
            // need not be read back from it.
            let fresh = committed.iter().skip_while(|c| c.seq <= *head);
            let contiguous = fresh
                .clone()
                .zip(head.saturating_add(1)..)
                .all(|(c, want)| c.seq == want);
            if contiguous && fresh.clone().next().is_some() {
                *head = publish(feed, fresh.cloned().collect());
            }
        }
        while *head < seq && feed.ring.receiver_count() > 0 {
            let changes = match self.store.changes_after(feed.scope, *head, PAGE).await {
                Ok(c) => c,
                Err(e) => {
                    // Nobody waits on us: the next notice or sweep tries
                    // again, and subscribers that fall off the ring read the
                    // log themselves.
                    tracing::warn!(error = %e, "feed read failed");
                    return;
                }
            };
            if changes.is_empty() {
                break;
            }
            *head = publish(feed, changes);
        }
        if feed.ring.receiver_count() == 0 {
            *head = i64::MIN;
        }
    }

    /// Starts a subscription of `scope` positioned after `cursor`.
    pub fn subscribe(self: &Arc<Self>, scope: UserId, cursor: i64) -> Subscription {
        let feed = {
            let mut scopes = self.lock_scopes();
            let feed = scopes.entry(scope).or_insert_with(|| {
                Arc::new(ScopeFeed {
                    scope,
                    head: tokio::sync::Mutex::new(i64::MIN),
                    ring: broadcast::channel(self.ring).0,
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
            pending: None,
            page: PAGE,
        }
    }
}

/// How many of `changes` (at least one) fit in about `budget` bytes.
fn within_bytes(changes: &[Change], budget: usize) -> usize {
    let mut used = 0usize;
    let fits = changes
        .iter()
        .take_while(|c| {
            used = used.saturating_add(c.answer_bytes());
            used <= budget
        })
        .count();
    fits.max(1)
}

/// Publishes `changes` (consecutive, after the head) as one batch; the new head.
fn publish(feed: &ScopeFeed, changes: Vec<Change>) -> i64 {
    changes.iter().for_each(record_lag);
    let batch = Batch::new(changes);
    let last = batch.last_seq();
    // An error only means that nobody is listening any more.
    let _ = feed.ring.send(batch);
    last
}

/// The change-log lag: how long after its write a change reached the live
/// path (`tasksync_feed_lag_seconds`).
fn record_lag(change: &Change) {
    let lag_ms = crate::clock::now_ms().saturating_sub(change.at).max(0);
    metrics::histogram!("tasksync_feed_lag_seconds").record(lag_ms as f64 / 1000.0);
}

/// Changes a subscriber has not seen yet: `batch.changes()[from..]`.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub batch: Shared,
    pub from: usize,
}

impl Delivery {
    pub fn changes(&self) -> &[Change] {
        &self.batch.changes[self.from..]
    }
}

/// One subscriber: yields every change of its scope after its cursor,
/// exactly once and in order, for as long as it lives.
#[derive(Debug)]
pub struct Subscription {
    feed: Arc<Feed>,
    scope: Arc<ScopeFeed>,
    cursor: i64,
    live: Option<broadcast::Receiver<Shared>>,
    /// What `next` has yet to hand out of the last delivery.
    pending: Option<Delivery>,
    /// Changes to ask the log for next: `PAGE`, fewer while they are large
    /// (see `PAGE_BYTES`).
    page: u32,
}

impl Subscription {
    /// The next change (for callers that take one at a time). Errors only
    /// when the log cannot be read.
    pub async fn next(&mut self) -> Result<Change, FeedError> {
        loop {
            if let Some(d) = &mut self.pending {
                if let Some(change) = d.batch.changes.get(d.from) {
                    d.from += 1;
                    return Ok(change.clone());
                }
                self.pending = None;
            }
            self.pending = Some(self.next_batch().await?);
        }
    }

    /// Every change after the cursor that is ready, at least one: a whole
    /// batch from the ring, or a page of the log. Errors only when the log
    /// cannot be read.
    pub async fn next_batch(&mut self) -> Result<Delivery, FeedError> {
        if let Some(d) = self.pending.take()
            && d.from < d.batch.changes.len()
        {
            return Ok(d);
        }
        loop {
            if let Some(live) = &mut self.live {
                match live.recv().await {
                    Ok(batch) if batch.last_seq() <= self.cursor => continue,
                    Ok(batch) if batch.first_seq() <= self.cursor + 1 => {
                        let from =
                            usize::try_from(self.cursor + 1 - batch.first_seq()).unwrap_or(0);
                        self.cursor = batch.last_seq();
                        return Ok(Delivery { batch, from });
                    }
                    // A gap cannot happen by construction; if it ever did,
                    // the log is the truth: read it.
                    Ok(_) => self.live = None,
                    // Fell off the ring (or the scope went away): the log
                    // has everything after the cursor.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        metrics::counter!("tasksync_feed_fell_behind_total").increment(1);
                        self.live = None;
                    }
                    Err(broadcast::error::RecvError::Closed) => self.live = None,
                }
                continue;
            }
            let mut page = self
                .feed
                .store
                .changes_after(self.scope.scope, self.cursor, self.page)
                .await?;
            let fits = within_bytes(&page, PAGE_BYTES);
            if fits < page.len() {
                page.truncate(fits);
                self.page = u32::try_from(fits).unwrap_or(PAGE).clamp(1, PAGE);
            } else if page.len() == self.page as usize {
                self.page = self.page.saturating_mul(2).min(PAGE);
            }
            if page.first().is_some_and(|c| c.seq != self.cursor + 1) {
                // Retention removed changes this cursor has not seen.
                return Err(FeedError::Expired);
            }
            if !page.is_empty() {
                let batch = Batch::new(page);
                self.cursor = batch.last_seq();
                return Ok(Delivery { batch, from: 0 });
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
            }
        }
    }

    /// Joins the live path if the feed has not published anything this
    /// subscriber has not read (its `head` is at or below our cursor).
    async fn try_join(&mut self) -> Result<(), StoreError> {
        let mut head = self.scope.head.lock().await;
        if *head == i64::MIN {
            // First live subscriber: the feed starts from the log's head.
            *head = self.feed.store.head(self.scope.scope).await?;
        }
        if *head <= self.cursor {
            // Everything published from now on comes after `head`.
            self.live = Some(self.scope.ring.subscribe());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_of_large_changes_is_cut_to_its_byte_budget() {
        let owner = UserId::new();
        let change = |seq: i64, description: usize| Change {
            scope: owner,
            seq,
            op: tasksync_core::ChangeOp::Create,
            subject: tasksync_core::Subject::Task(tasksync_core::Task {
                id: tasksync_core::TaskId::new(),
                owner,
                list_id: tasksync_core::ListId::personal(owner),
                title: "t".into(),
                description: Some("x".repeat(description)),
                done: false,
                created_at: 0,
                updated_at: 0,
                version: 1,
                deleted: false,
            }),
            at: 0,
        };
        let big: Vec<Change> = (1..=500).map(|i| change(i, 4000)).collect();
        let fits = within_bytes(&big, PAGE_BYTES);
        assert!(
            (27..=33).contains(&fits),
            "{fits} changes of 4 KB in 128 KiB"
        );
        let small: Vec<Change> = (1..=400).map(|i| change(i, 10)).collect();
        assert_eq!(within_bytes(&small, PAGE_BYTES), 400);
        assert_eq!(within_bytes(&big[..1], 10), 1, "at least one");
    }
}
