//! The state every HTTP handler shares: the services [`startup`](crate::startup)
//! builds, wired together. It sits above the services it holds and below
//! `http`, whose handlers take it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use metrics_exporter_prometheus::PrometheusHandle;
use tasksync_store::Store;

use crate::auth::AuthService;
use crate::auth::mail::DevMailbox;
use crate::config::Settings;
use crate::feed::Feed;
use crate::graphql::Api;
use crate::ws::registry::SocketRuntime;

/// Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    pub auth: Arc<AuthService>,
    /// Present when mail goes to the dev mailbox.
    pub dev_mailbox: Option<Arc<DevMailbox>>,
    pub metrics: PrometheusHandle,
    pub feed: Arc<Feed>,
    /// The data API (`/graphql` and sockets), with its rate limit per caller.
    pub graphql: Arc<Api>,
    /// What a socket's loop is given, the registry of sockets included.
    pub ws: crate::ws::Context,
    /// Where socket tasks run (apart from HTTP and writes).
    pub socket_runtime: SocketRuntime,
    /// Set when a shutdown began: `/readyz` then answers 503 `draining`.
    pub draining: Draining,
}

/// Whether this node is shutting down (shared by every clone).
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn begin(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("settings", &self.settings)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}
