//! Building and running the server, the composition root: [`Application::build`]
//! makes every service from the settings, wires them into the
//! [`AppState`] and binds (port 0 in tests); [`Application::run_until_stopped`]
//! serves until its shutdown future resolves, then drains: fails
//! `/readyz`, serves on for the drain delay, stops accepting, finishes
//! in-flight requests, closes the sockets (1012) in spread-out batches and
//! stops the background jobs, all within the shutdown grace period.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::AuthService;
use crate::auth::mail::Mailer;
use crate::auth::passwords::Hasher;
use crate::auth::service::Lifetimes;
use crate::auth::tokens::TokenService;
use crate::clock::{ms, now_ms};
use crate::config::Settings;
use crate::rate_limit::{ApiRateLimit, IpRateLimit};
use crate::state::AppState;
use crate::telemetry::metrics_handle;

/// A bound, ready-to-run server.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    router: Router,
    state: AppState,
    auth_limit: IpRateLimit,
}

/// Opens and migrates the database the settings name.
pub async fn open_store(
    db: &crate::config::DatabaseArgs,
) -> anyhow::Result<Arc<dyn tasksync_store::Store>> {
    db.validate().map_err(anyhow::Error::msg)?;
    let options = tasksync_store::ConnectOptions {
        url: db.database_url.clone(),
        read_connections: db.db_read_connections,
        max_connections: db.db_max_connections,
        acquire_timeout: db.db_acquire_timeout,
    };
    let store = tasksync_store::connect(&options)
        .await
        .context("opening the database")?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

/// Refuses settings that cannot work, with the reason: what `serve` checks
/// before it opens anything, and all that `tasksync check-config` checks.
pub fn check_settings(settings: &Settings) -> anyhow::Result<()> {
    settings.validate().map_err(anyhow::Error::msg)?;
    Mailer::from_settings(settings)?;
    Ok(())
}

impl Application {
    /// Checks the settings, opens and migrates the database, loads (or
    /// creates) the signing keys and binds the listener.
    pub async fn build(mut settings: Settings) -> anyhow::Result<Self> {
        check_settings(&settings)?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("listening on {}", settings.listen))?;
        let addr = listener.local_addr()?;
        if settings.public_url.is_none() {
            if !settings.database.database_url.starts_with("sqlite:") {
                // Tokens name their issuer: nodes that each default it to
                // their own address refuse each other's tokens.
                tracing::warn!(
                    "TASKSYNC_PUBLIC_URL is not set: this node issues tokens only it accepts; \
                     give every node of a deployment the same public URL"
                );
            }
            // The issuer names the port actually bound (port 0 in tests).
            settings.public_url = Some(format!("http://{addr}").parse()?);
        }
        // Every read of a user's data is bounded per user and runs to its end
        // even when its caller stops polling (tasksync_store::fair).
        let store: Arc<dyn tasksync_store::Store> = Arc::new(tasksync_store::FairReads::new(
            open_store(&settings.database).await?,
            settings.database.db_reads_per_user,
        ));
        let metrics = metrics_handle()?;
        crate::build_info::record_metric();
        let tokens = TokenService::load(
            store.clone(),
            settings.issuer(),
            settings.token_audience.clone(),
            settings.access_token_ttl,
        )
        .await
        .context("loading signing keys")?
        .with_leeway(settings.token_leeway);
        let hasher = Hasher::new().await?;
        let mailer = Mailer::from_settings(&settings)?;
        let dev_mailbox = mailer.dev_mailbox();
        let notices = crate::graphql::Invitations {
            mailer: mailer.clone(),
            budget: crate::rate_limit::ShareNotices::per_hour(
                settings.share_notices_per_address_per_hour,
                settings.share_notices_per_user_per_hour,
            ),
        };
        let lifetimes = Lifetimes {
            refresh: settings.refresh_token_ttl,
            code: settings.code_ttl,
            max_sessions: settings.max_sessions_per_user,
            codes: tasksync_store::CodeLimits {
                tries_per_code: crate::auth::codes::MAX_CODE_ATTEMPTS,
                issued_per_window: settings.codes_per_hour,
                wrong_per_window: settings.code_tries_per_hour,
                // An hour, as the settings' names say.
                ..tasksync_store::CodeLimits::default()
            },
        };
        let sockets = Arc::new(crate::ws::registry::Sockets::default());
        let auth = Arc::new(
            AuthService::new(store.clone(), tokens, hasher, mailer, lifetimes).on_revoked({
                // Sessions ended through this node close their sockets here
                // at once; other nodes' polls find them within 250 ms.
                let sockets = sockets.clone();
                move |ended| {
                    sockets.close_sessions(&ended.iter().copied().collect());
                }
            }),
        );
        let auth_limit = IpRateLimit::per_minute(
            settings.auth_rate_per_minute,
            settings.auth_rate_burst,
            &settings.trusted_proxies,
        );
        let limits = crate::graphql::Limits {
            depth: settings.graphql_max_depth,
            complexity: settings.graphql_max_complexity,
            batch: settings.graphql_max_batch,
            max_limit: settings.graphql_max_limit,
            answer_bytes: settings.graphql_max_answer_bytes,
            query_bytes: settings.graphql_max_query_bytes,
            selections: settings.graphql_max_selections,
            root_fields: settings.graphql_max_root_fields,
            lists: tasksync_core::ListLimits {
                members_per_list: settings.max_list_members,
                lists_per_user: settings.max_lists_per_user,
                tasks_per_shared_list: settings.max_shared_list_tasks,
            },
        };
        let api_rate = ApiRateLimit::per_second(
            settings.api_rate_per_second,
            settings.api_rate_burst,
            &settings.trusted_proxies,
        );
        let feed = crate::feed::Feed::new(store.clone(), settings.ws_live_buffer);
        let features = crate::graphql::Features {
            introspection: settings.dev,
            fast_path: settings.ws_fast_path,
        };
        let graphql = Arc::new(crate::graphql::Api::new(
            store.clone(),
            feed.clone(),
            api_rate,
            limits,
            features,
            notices,
        ));
        let ws = crate::ws::Context {
            auth: auth.clone(),
            api: graphql.clone(),
            store: store.clone(),
            sockets,
            limits: crate::ws::Limits::from_settings(&settings),
        };
        let ws_threads = settings.ws_threads;
        let state = AppState {
            settings: Arc::new(settings),
            store,
            auth,
            dev_mailbox,
            metrics,
            feed,
            graphql,
            ws,
            socket_runtime: crate::ws::registry::SocketRuntime::start(ws_threads)
                .context("starting the socket runtime")?,
            draining: crate::state::Draining::default(),
        };
        let router = crate::http::router(state.clone(), auth_limit.clone());
        Ok(Self {
            listener,
            addr,
            router,
            state,
            auth_limit,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then drains: `/readyz` answers 503
    /// at once while the node serves on for the drain delay; then it stops
    /// accepting, lets in-flight requests finish and closes its sockets
    /// (1012) spread over the socket window, and stops the background jobs.
    /// An error when the shutdown grace period, counted from the signal,
    /// ran out first (the caller exits with status 1).
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state;
        let (stop_tx, stop_rx) = watch::channel(false);
        let jobs = tokio::spawn(maintenance(
            state.clone(),
            self.auth_limit.clone(),
            stop_rx.clone(),
        ));
        // The feed publishes on the socket runtime: the socket tasks it wakes
        // are then woken on their own runtime's queues, not one by one
        // through another runtime's injection queue.
        let feed = state
            .socket_runtime
            .handle()
            .spawn(state.feed.clone().run(stop_rx.clone()));
        let revocations = tokio::spawn(crate::ws::registry::watch_revocations(
            state.ws.sockets.clone(),
            state.store.clone(),
            Duration::from_millis(250),
            stop_rx.clone(),
        ));
        // Pings systemd's watchdog until the process ends, the drain included.
        let watchdog = crate::systemd::watchdog_interval()
            .map(|every| tokio::spawn(watchdog(state.store.clone(), every)));
        let settings = state.settings.clone();
        let limits = crate::http::serve::ConnectionLimits {
            header_timeout: settings.http_header_timeout,
            max_connections: match settings.max_connections {
                0 => crate::http::serve::connections_that_fit(128),
                n => n,
            },
        };
        tracing::info!(
            max_connections = limits.max_connections,
            header_timeout = ?limits.header_timeout,
            "connection limits"
        );
        let (stop_accepting, accepting) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::http::serve::serve(
            self.listener,
            self.router,
            limits,
            async move {
                let _ = accepting.await;
            },
        ));
        crate::systemd::ready("serving");

        shutdown.await;
        let deadline = tokio::time::Instant::now() + settings.shutdown_grace;
        state.draining.begin();
        tracing::info!(
            delay = ?settings.drain_delay,
            "draining: /readyz answers 503; still serving until the drain delay is over"
        );
        crate::systemd::stopping("draining: /readyz answers 503");
        let sockets = state.ws.sockets.clone();
        let drain = async {
            tokio::time::sleep(settings.drain_delay).await;
            let _ = stop_accepting.send(());
            tracing::info!(
                sockets = sockets.open(),
                window = ?settings.drain_socket_window,
                "stopped accepting; finishing in-flight requests and closing sockets"
            );
            crate::systemd::status("stopped accepting: finishing requests, closing sockets");
            let closing = async {
                let closed = sockets
                    .close_all(settings.drain_socket_window, DRAIN_BATCHES)
                    .await;
                while sockets.open() > 0 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                closed
            };
            let (_, closed) = tokio::join!(server, closing);
            tracing::info!(sockets = closed, "requests finished and sockets closed");
            // The feed runs until the last socket is gone: sockets the
            // node serves during the delay still get their changes.
            let _ = stop_tx.send(true);
            let _ = tokio::join!(jobs, feed, revocations);
        };
        let outcome = match tokio::time::timeout_at(deadline, drain).await {
            Ok(()) => Ok(()),
            Err(_) => {
                let open = sockets.open();
                tracing::error!(
                    grace = ?settings.shutdown_grace,
                    sockets = open,
                    "shutdown grace period over: exiting with requests or sockets still open"
                );
                Err(anyhow::anyhow!(
                    "the shutdown took longer than TASKSYNC_SHUTDOWN_GRACE ({}): \
                     requests or {open} socket(s) were still open",
                    humantime::format_duration(settings.shutdown_grace)
                ))
            }
        };
        if let Some(watchdog) = watchdog {
            watchdog.abort();
        }
        tracing::info!("stopped");
        crate::systemd::status("stopped");
        outcome
    }
}

/// Batches the sockets are closed in at shutdown, spread over
/// `TASKSYNC_DRAIN_SOCKET_WINDOW`.
const DRAIN_BATCHES: usize = 20;

/// Pings systemd's watchdog every `every` (half its timeout) while the
/// database answers within that time; when it does not, the ping is
/// skipped, and systemd restarts a node that stays so.
async fn watchdog(store: Arc<dyn tasksync_store::Store>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match tokio::time::timeout(every, store.ping()).await {
            Ok(Ok(())) => crate::systemd::watchdog(),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "watchdog: the database does not answer; no ping")
            }
            Err(_) => tracing::warn!(
                ?every,
                "watchdog: the database did not answer in time; no ping"
            ),
        }
    }
}

/// Periodic upkeep: retention of the change log and tombstones, purge of
/// ended sessions and codes, trimming of the rate limiter.
async fn maintenance(state: AppState, limit: IpRateLimit, mut stop: watch::Receiver<bool>) {
    let mut purge = tokio::time::interval(
        state
            .settings
            .maintenance_interval
            .max(Duration::from_millis(10)),
    );
    let mut trim = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = purge.tick() => {
                let keep = ms(state.settings.retention);
                match state.store.trim_log(now_ms() - keep).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(changes = n, "retention trimmed the change log"),
                    Err(e) => tracing::warn!(error = %e, "trimming the change log failed"),
                }
                match state.store.purge_expired(now_ms(), keep).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(rows = n, "purged ended sessions and codes"),
                    Err(e) => tracing::warn!(error = %e, "purge failed"),
                }
            }
            _ = trim.tick() => {
                limit.retain_recent();
                state.graphql.rate().retain_recent();
                state.graphql.share_notices().retain_recent();
            }
        }
    }
}
