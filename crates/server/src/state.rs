//! The state every handler shares.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use tasksync_store::Store;

use crate::auth::AuthService;
use crate::auth::mail::DevMailbox;
use crate::config::Settings;

/// Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    pub auth: Arc<AuthService>,
    /// Present when mail goes to the dev mailbox.
    pub dev_mailbox: Option<Arc<DevMailbox>>,
    pub metrics: PrometheusHandle,
    pub schema: crate::graphql::TaskSchema,
    /// Parsed GraphQL documents, by text.
    pub documents: Arc<crate::graphql::Documents>,
    pub feed: Arc<crate::feed::Feed>,
    pub sockets: Arc<crate::ws::registry::Sockets>,
    /// Where socket tasks run (apart from HTTP and writes).
    pub socket_runtime: crate::ws::registry::SocketRuntime,
    /// Shared renderers of the fast subscription path.
    pub renderers: Arc<crate::ws::fast::Renderers>,
    /// The data API's rate limit per user (`/graphql` and sockets).
    pub api_rate: crate::http::rate_limit::ApiRateLimit,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("settings", &self.settings)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}
