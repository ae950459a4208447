//! Every live socket of this node, by user and session: the per-user cap,
//! closing the sockets of revoked sessions, and closing all at shutdown,
//! spread out.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tasksync_core::{SessionId, UserId};
use tokio::sync::{mpsc, watch};

use super::close::Close;

#[derive(Debug)]
struct Entry {
    user: UserId,
    session: SessionId,
    close: mpsc::Sender<Close>,
}

#[derive(Debug, Default)]
struct Inner {
    next: u64,
    sockets: HashMap<u64, Entry>,
    per_user: HashMap<UserId, usize>,
}

/// The registry of this node's sockets.
#[derive(Debug)]
pub struct Sockets {
    inner: Arc<Mutex<Inner>>,
    shutdown: watch::Sender<bool>,
}

impl Default for Sockets {
    fn default() -> Self {
        Self {
            inner: Arc::default(),
            shutdown: watch::channel(false).0,
        }
    }
}

/// A socket's place in the registry; dropping it unregisters the socket.
#[derive(Debug)]
pub struct Registration {
    id: u64,
    inner: Arc<Mutex<Inner>>,
    close: mpsc::Receiver<Close>,
}

impl Registration {
    /// Resolves when the socket is to be closed (its session was revoked).
    pub(super) async fn closed(&mut self) -> Close {
        match self.close.recv().await {
            Some(close) => close,
            None => std::future::pending().await,
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = inner.sockets.remove(&self.id)
            && let Some(n) = inner.per_user.get_mut(&entry.user)
        {
            *n -= 1;
            if *n == 0 {
                inner.per_user.remove(&entry.user);
            }
        }
    }
}

impl Sockets {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers an authenticated socket, or `None` if the user is at `max`.
    pub fn register(&self, user: UserId, session: SessionId, max: usize) -> Option<Registration> {
        let mut inner = self.lock();
        let count = inner.per_user.entry(user).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        inner.next += 1;
        let id = inner.next;
        let (close, rx) = mpsc::channel(1);
        inner.sockets.insert(
            id,
            Entry {
                user,
                session,
                close,
            },
        );
        Some(Registration {
            id,
            inner: self.inner.clone(),
            close: rx,
        })
    }

    /// Closes (4403) every socket of the given sessions. Returns how many.
    pub fn close_sessions(&self, sessions: &HashSet<SessionId>) -> usize {
        let inner = self.lock();
        let mut closed = 0;
        for entry in inner
            .sockets
            .values()
            .filter(|e| sessions.contains(&e.session))
        {
            if entry
                .close
                .try_send(Close::new(4403, "session revoked"))
                .is_ok()
            {
                closed += 1;
            }
        }
        closed
    }

    /// Authenticated sockets on this node.
    pub fn count(&self) -> usize {
        self.lock().sockets.len()
    }

    /// Socket loops still running, authenticated or not: each holds a
    /// receiver of the shutdown signal for its whole life.
    pub fn open(&self) -> usize {
        self.shutdown.receiver_count()
    }

    pub(super) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Closes every socket with 1012 "service restart", so that clients
    /// reconnect elsewhere, spread over `window`: the authenticated sockets
    /// in random order, in up to `batches` batches, one at a random moment
    /// of each of as many equal slices of the window; at its end, every
    /// socket loop still open (one not yet authenticated, or registered
    /// since) is told to close too. Returns how many the batches closed.
    pub async fn close_all(&self, window: Duration, batches: usize) -> usize {
        use rand::Rng as _;
        use rand::seq::SliceRandom as _;

        let start = tokio::time::Instant::now();
        let mut senders: Vec<mpsc::Sender<Close>> = self
            .lock()
            .sockets
            .values()
            .map(|e| e.close.clone())
            .collect();
        let batches = batches.clamp(1, senders.len().max(1));
        let (order, times) = {
            let mut rng = rand::thread_rng();
            senders.shuffle(&mut rng);
            let slice = window / u32::try_from(batches).unwrap_or(u32::MAX);
            let times: Vec<tokio::time::Instant> = (0..batches)
                .map(|i| {
                    let i = u32::try_from(i).unwrap_or(u32::MAX);
                    start + slice * i + slice.mul_f64(rng.gen_range(0.0..1.0))
                })
                .collect();
            (senders, times)
        };
        let per_batch = order.len().div_ceil(batches).max(1);
        let mut closed = 0;
        for (batch, at) in order.chunks(per_batch).zip(times) {
            tokio::time::sleep_until(at).await;
            for close in batch {
                if close.try_send(Close::new(1012, "service restart")).is_ok() {
                    closed += 1;
                }
            }
        }
        if self.open() > 0 {
            tokio::time::sleep_until(start + window).await;
        }
        let _ = self.shutdown.send(true);
        closed
    }
}

/// Closes the sockets of sessions revoked anywhere (any node, the admin
/// command): polls the database for recent revocations, so a sign-out
/// reaches every socket within about `every`.
pub async fn watch_revocations(
    sockets: Arc<Sockets>,
    store: Arc<dyn tasksync_store::Store>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    let overlap = crate::clock::ms(every) * 4;
    let mut since = crate::clock::now_ms() - overlap;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        if sockets.count() == 0 {
            since = crate::clock::now_ms() - overlap;
            continue;
        }
        let now = crate::clock::now_ms();
        match store.sessions_revoked_since(since).await {
            Ok(revoked) => {
                let ids: HashSet<SessionId> = revoked.into_iter().map(|(id, _)| id).collect();
                let closed = sockets.close_sessions(&ids);
                if closed > 0 {
                    tracing::info!(sockets = closed, "closed sockets of revoked sessions");
                }
                // Look back a little: a revocation committed just before
                // `now` by another node may carry a slightly older time.
                since = now - overlap;
            }
            Err(e) => tracing::warn!(error = %e, "polling revoked sessions"),
        }
    }
}

/// The runtime that runs the socket tasks, apart from the one that serves
/// HTTP and writes: on a shared runtime a mutation's task waits in the run
/// queue behind every socket task a commit woke.
///
/// The runtime lives on a thread of its own (a runtime may not be dropped
/// inside async code); dropping the last clone of this handle stops it.
#[derive(Debug, Clone)]
pub struct SocketRuntime {
    handle: tokio::runtime::Handle,
    _stop: Arc<tokio::sync::oneshot::Sender<()>>,
}

impl SocketRuntime {
    pub fn start(threads: usize) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("tasksync-ws")
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("tasksync-ws-owner".into())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
                runtime.shutdown_timeout(Duration::from_secs(5));
            })?;
        Ok(Self {
            handle,
            _stop: Arc::new(stop),
        })
    }

    pub fn spawn<F>(&self, future: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.handle.spawn(future);
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }
}
