//! What a socket needs of the rest of the server, and nothing more.

use std::sync::Arc;
use std::time::Duration;

use tasksync_store::Store;

use super::registry::Sockets;
use crate::auth::AuthService;
use crate::config::Settings;
use crate::graphql::Api;

/// The services a socket's loop uses: token checks, the data API, the
/// store (to see that a session is still active) and the registry.
#[derive(Debug, Clone)]
pub struct Context {
    pub auth: Arc<AuthService>,
    pub api: Arc<Api>,
    pub store: Arc<dyn Store>,
    pub sockets: Arc<Sockets>,
    pub limits: Limits,
}

/// The per-socket limits (`TASKSYNC_WS_*`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time a client has to send `connection_init` (then 4408).
    pub init_timeout: Duration,
    /// How often the server pings; a peer silent for two of them is dropped.
    pub ping_interval: Duration,
    /// Time a peer has to take a write (then 1008).
    pub send_timeout: Duration,
    /// Operations one socket may run at once.
    pub max_subscriptions: usize,
    /// Authenticated sockets one user may hold on this node (then 4429).
    pub max_sockets_per_user: usize,
}

impl Limits {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            init_timeout: settings.ws_init_timeout,
            ping_interval: settings.ws_ping_interval,
            send_timeout: settings.ws_send_timeout,
            max_subscriptions: settings.ws_max_subscriptions,
            max_sockets_per_user: settings.max_sockets_per_user,
        }
    }
}
