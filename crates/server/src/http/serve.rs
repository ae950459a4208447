//! The accept loop: axum's `serve`, with the limits it does not have.
//!
//! `axum::serve` gives hyper no timer, so hyper's header-read timeout is off
//! and a connection that never finishes its request head, or sends nothing
//! at all, stays open for good; it also accepts until the process runs out
//! of file descriptors, after which `accept` fails and nobody gets in. Here:
//!
//! - **Header and idle timeout**: hyper's `header_read_timeout`, which runs
//!   from the moment a connection waits for a request head (the first one,
//!   or the next one on a kept-alive connection) until the head is read.
//!   Connections speak HTTP/1.1 (and upgrade to WebSockets); HTTP/2 is for
//!   a proxy in front to speak to browsers.
//! - **Body timeout**: `tower_http::timeout::RequestBodyTimeoutLayer` on the
//!   router (see `http::router`).
//! - **Connection cap**: a semaphore of `max_connections` permits, one held
//!   by every open connection for its whole life, also after an upgrade to
//!   a WebSocket (the permit travels inside the connection's I/O object).
//!   At the cap the loop stops accepting, and new connections wait in the
//!   kernel's backlog, costing no descriptor, until one closes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt as _;

/// The limits of the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Longest wait for a complete request head (and so the longest a
    /// kept-alive connection may sit idle).
    pub header_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
}

/// Raises this process's soft limit of open files to its hard limit, and
/// returns the connections that fit under it with `reserve` descriptors
/// kept for everything else (database files and connections, logs).
pub fn connections_that_fit(reserve: u64) -> usize {
    let soft = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    };
    usize::try_from(soft.saturating_sub(reserve).max(16)).unwrap_or(usize::MAX)
}

/// Serves `router` on `listener` until `shutdown` resolves, then closes the
/// listener, lets every connection finish its requests, and returns when
/// all are closed (upgraded ones, WebSockets, are closed by their own loop).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Dropped at shutdown: every connection's task then shuts down gracefully.
    let (stop_tx, stop_rx) = watch::channel(());
    // Every connection's task holds a receiver; all gone = all closed.
    let (closed_tx, closed_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (tcp, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or a transient error: never a reason
                    // to stop serving; pause so the loop does not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // No Nagle: a WebSocket message or a small answer must leave at once,
        // not wait up to a delayed-ACK period (~40 ms) for company.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let service = router
            .clone()
            .map_request(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(addr));
                request.map(Body::new)
            });
        let io = TokioIo::new(Counted {
            inner: tcp,
            _permit: permit,
        });
        let (mut stop, closed) = (stop_rx.clone(), closed_rx.clone());
        tokio::spawn(async move {
            // HTTP/1 only: the auto builder first waits, with no timeout, for
            // the bytes that tell HTTP/1 from HTTP/2, so a connection that
            // sends nothing was never closed.
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(io, TowerToHyperService::new(service))
                .with_upgrades();
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(closed);
        });
    }
    // Closed now, not when the last connection is done: a connection
    // attempt is refused at once (a proxy retries it on another node)
    // rather than left in the backlog until the process exits.
    drop(listener);
    drop(stop_tx);
    drop(closed_rx);
    closed_tx.closed().await;
}

/// A connection's socket with its place under the connection cap, released
/// when the socket is closed (after an upgrade too: the upgraded I/O owns
/// this).
struct Counted {
    inner: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
