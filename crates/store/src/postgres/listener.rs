//! `LISTEN` for other nodes' commits.
//!
//! One task per node holds a dedicated connection listening on
//! [`super::CHANNEL`] and turns each notice of another node into a
//! [`CommitNotice`] without changes (the feed reads them from the log). When
//! the connection fails (the server restarts, an operator terminates the
//! backend, the network drops) the task reconnects with backoff, listens
//! again, and only then ticks `resyncs`: every tailer re-reads its scopes
//! from the log, so whatever was committed while nobody listened is
//! delivered, and anything committed after the new `LISTEN` is notified.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tasksync_core::UserId;
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use crate::CommitNotice;

/// How the listening connection shows in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "tasksync-listener";

/// Aborts the listening task when the store goes away.
#[derive(Debug)]
pub(super) struct Handle(tokio::task::AbortHandle);

impl Drop for Handle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `scope seq node`, about 60 bytes (NOTIFY allows 8000).
pub(crate) fn payload(scope: UserId, seq: i64, node: u64) -> String {
    format!("{} {seq} {node:x}", scope.as_uuid().simple())
}

/// The notice in a payload, unless it is malformed or this node's own
/// (which this node already announced locally, with its changes).
fn parse(payload: &str, own: u64) -> Option<CommitNotice> {
    let mut parts = payload.split(' ');
    let scope = Uuid::try_parse(parts.next()?).ok()?;
    let seq = parts.next()?.parse().ok()?;
    let node = u64::from_str_radix(parts.next()?, 16).ok()?;
    (node != own).then(|| CommitNotice {
        scope: UserId::from_uuid(scope),
        seq,
        committed: None,
    })
}

pub(super) fn spawn(
    connect: PgConnectOptions,
    node: u64,
    commits: broadcast::Sender<CommitNotice>,
    resyncs: watch::Sender<u64>,
) -> Handle {
    let task = tokio::spawn(async move {
        let mut backoff = Duration::from_millis(50);
        loop {
            match listen(&connect, node, &commits, &resyncs).await {
                Ok(()) => backoff = Duration::from_millis(50),
                Err(e) => {
                    metrics::counter!("tasksync_listener_errors_total").increment(1);
                    tracing::warn!(error = %e, retry_in = ?backoff, "commit listener lost its connection");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    });
    Handle(task.abort_handle())
}

/// Listens on a fresh connection until it fails.
async fn listen(
    connect: &PgConnectOptions,
    node: u64,
    commits: &broadcast::Sender<CommitNotice>,
    resyncs: &watch::Sender<u64>,
) -> Result<(), sqlx::Error> {
    // A pool of one, so the listener's own reconnection cannot hide a
    // lost connection from us: we reconnect here and resync every time.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(connect.clone().application_name(APPLICATION_NAME))
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.eager_reconnect(false);
    listener.listen(super::CHANNEL).await?;
    // Listening (again): whatever was committed while nobody listened is
    // in the log; have every tailer read it.
    tracing::info!("listening for commits of other nodes");
    resyncs.send_modify(|n| *n += 1);
    loop {
        match listener.try_recv().await? {
            Some(notice) => {
                if let Some(notice) = parse(notice.payload(), node) {
                    let _ = commits.send(notice);
                }
            }
            // The connection was lost (and is not yet re-established).
            None => {
                return Err(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "the listening connection was lost",
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_own_notices_are_skipped() {
        let scope = UserId::new();
        let text = payload(scope, 42, 0xabc);
        assert!(text.len() < 100, "{text}");
        let notice = parse(&text, 7).expect("another node's notice");
        assert_eq!((notice.scope, notice.seq), (scope, 42));
        assert!(notice.committed.is_none());
        assert!(parse(&text, 0xabc).is_none(), "own notice");
        for bad in ["", "x 1 2", &format!("{} nope 1", scope.as_uuid().simple())] {
            assert!(parse(bad, 7).is_none(), "{bad:?}");
        }
    }
}
