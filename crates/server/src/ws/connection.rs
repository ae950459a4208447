//! One socket's loop: it reads client messages, pulls the socket's
//! subscription streams and writes their results, and watches the timers
//! (init timeout, pings, token expiry), the session's revocation and the
//! server's shutdown.

use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{FutureExt as _, SinkExt as _, StreamExt as _};
use serde_json::json;
use tokio_stream::StreamMap;

use super::close::{Close, read_error};
use super::context::Context;
use super::init::authenticate;
use super::outbound::{MAX_BURST, MAX_BURST_BYTES, Results, encode};
use super::protocol::ClientMessage;
use super::registry::Registration;
use super::send::{Sink, delivery_lag, send, send_all, send_json};
use super::subscribe::{Started, start};
use crate::auth::AuthUser;

/// Serves one upgraded socket until it closes.
pub async fn serve(ctx: Context, socket: WebSocket) {
    Connection::new(ctx).run(socket).await;
}

struct Connection {
    ctx: Context,
    user: Option<AuthUser>,
    /// Set once `connection_init` arrived (even if it then failed).
    init_seen: bool,
    /// A subscription whose starting point is not fixed yet. Until it is,
    /// no further client message is read, so a client that got an answer to
    /// a later message knows its subscription is live.
    starting: Option<tokio::sync::oneshot::Receiver<()>>,
    subscriptions: StreamMap<String, Results>,
    registration: Option<Registration>,
    /// When the access token expires; taken by the loop to arm its timer.
    expires: Option<tokio::time::Instant>,
    /// `tasksync_ws_messages_sent_total` and `tasksync_ws_flushes_total`,
    /// looked up once per socket rather than once per write.
    messages_sent: metrics::Counter,
    flushes: metrics::Counter,
}

impl Connection {
    fn new(ctx: Context) -> Self {
        Self {
            ctx,
            user: None,
            init_seen: false,
            starting: None,
            subscriptions: StreamMap::new(),
            registration: None,
            expires: None,
            messages_sent: metrics::counter!("tasksync_ws_messages_sent_total"),
            flushes: metrics::counter!("tasksync_ws_flushes_total"),
        }
    }

    async fn run(mut self, socket: WebSocket) {
        metrics::gauge!("tasksync_ws_sockets").increment(1.0);
        let (mut sink, mut stream) = socket.split();
        let limits = self.ctx.limits;
        let init_deadline = tokio::time::sleep(limits.init_timeout);
        tokio::pin!(init_deadline);
        let mut ping = tokio::time::interval(limits.ping_interval);
        ping.tick().await;
        let mut last_heard = Instant::now();
        let mut shutdown = self.ctx.sockets.shutdown_signal();
        let far = tokio::time::Instant::now() + Duration::from_secs(10 * 365 * 86400);
        let expiry = tokio::time::sleep_until(far);
        tokio::pin!(expiry);
        let mut armed = false;

        let close = loop {
            // One timer for the socket's life, moved when the token's
            // expiry becomes known (not a new timer per loop turn).
            if let Some(at) = self.expires.take() {
                expiry.as_mut().reset(at);
                armed = true;
            }
            let revoked = async {
                match &mut self.registration {
                    Some(r) => r.closed().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = async { self.starting.as_mut().expect("guarded").await }, if self.starting.is_some() => {
                    self.starting = None;
                }
                message = stream.next(), if self.starting.is_none() => {
                    last_heard = Instant::now();
                    match message {
                        Some(Ok(Message::Text(text))) => {
                            if let Err(close) = self.on_text(&mut sink, text.as_str()).await {
                                break Some(close);
                            }
                        }
                        Some(Ok(Message::Binary(_))) => break Some(Close::new(4400, "binary messages are not supported")),
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Ok(Message::Close(_))) | None => break None,
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "socket read failed");
                            break Some(read_error(e));
                        }
                    }
                }
                () = &mut init_deadline, if !self.init_seen => {
                    break Some(Close::new(4408, "Connection initialisation timeout"));
                }
                Some((id, result)) = self.subscriptions.next(), if !self.subscriptions.is_empty() => {
                    // Take whatever else is ready too and write it in one go.
                    let mut messages = result.messages();
                    let mut bytes = result.rendered_len();
                    let mut oldest = result.written_at();
                    let mut ready = vec![(id, result)];
                    while messages < MAX_BURST
                        && bytes < MAX_BURST_BYTES
                        && let Some(Some(next)) = self.subscriptions.next().now_or_never()
                    {
                        messages += next.1.messages();
                        bytes += next.1.rendered_len();
                        oldest = oldest.min(next.1.written_at());
                        ready.push(next);
                    }
                    // One allocation holds every fast-path message of the
                    // burst (and is freed once they are written).
                    let mut arena = bytes::BytesMut::with_capacity(
                        ready.iter().map(|(_, r)| r.rendered_len()).sum(),
                    );
                    let mut batch = Vec::with_capacity(messages);
                    let mut failed = None;
                    for (id, result) in ready {
                        // An operation ended by an earlier item of this
                        // burst (an `error`) says nothing more: the item
                        // taken after it (its `Done`) would be a `complete`
                        // after the `error`, which the protocol forbids.
                        if !self.subscriptions.contains_key(&id) {
                            continue;
                        }
                        match encode(&id, result, &mut arena, &mut batch) {
                            Ok(true) => self.end(&id),
                            Ok(false) => {}
                            Err(close) => {
                                failed = Some(close);
                                break;
                            }
                        }
                    }
                    let sent = batch.len();
                    if sent > 0 {
                        if let Err(close) = send_all(&mut sink, limits.send_timeout, batch).await {
                            break Some(close);
                        }
                        self.messages_sent.increment(sent as u64);
                        self.flushes.increment(1);
                        if oldest != i64::MAX {
                            // From the write of the burst's oldest change to
                            // its flush: an upper bound for every message.
                            let lag = crate::clock::now_ms().saturating_sub(oldest).max(0);
                            delivery_lag(lag).increment(sent as u64);
                        }
                    }
                    if failed.is_some() {
                        // A message that cannot be encoded cannot be skipped
                        // either (that would be a gap): close; the client resumes.
                        break failed;
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > 2 * limits.ping_interval {
                        tracing::debug!("peer silent for two ping intervals; dropping it");
                        break None;
                    }
                    if send(&mut sink, limits.send_timeout, Message::Ping(Default::default())).await.is_err() {
                        break None;
                    }
                }
                () = &mut expiry, if armed => break Some(Close::new(4403, "access token expired")),
                frame = revoked => break Some(frame),
                // `wait_for`, not `changed`: a socket upgraded after the
                // signal went out closes at once too. (Its guard is not
                // `Send`: dropped inside.)
                () = async { let _ = shutdown.wait_for(|stop| *stop).await; } => {
                    break Some(Close::new(1012, "service restart"));
                }
            }
        };
        match close {
            // 1006 marks a connection that is already broken: there is no one
            // to tell (and RFC 6455 forbids sending that code).
            Some(Close(code, reason)) if code != 1006 => {
                let frame = CloseFrame {
                    code,
                    reason: reason.into(),
                };
                let _ = tokio::time::timeout(
                    limits.send_timeout,
                    sink.send(Message::Close(Some(frame))),
                )
                .await;
            }
            // The client closed (or vanished): answer its close frame, which
            // the protocol layer has queued, by flushing and closing.
            _ => {
                let _ = tokio::time::timeout(limits.send_timeout, sink.close()).await;
            }
        }
        metrics::gauge!("tasksync_ws_subscriptions").decrement(self.subscriptions.len() as f64);
        metrics::gauge!("tasksync_ws_sockets").decrement(1.0);
    }

    async fn on_text(&mut self, sink: &mut Sink, text: &str) -> Result<(), Close> {
        let Some(message) = ClientMessage::decode(text) else {
            return Err(Close::new(4400, "Invalid message received"));
        };
        let timeout = self.ctx.limits.send_timeout;
        match message {
            ClientMessage::ConnectionInit { payload } => {
                if self.init_seen {
                    return Err(Close::new(4429, "Too many initialisation requests"));
                }
                self.init_seen = true;
                let session = authenticate(&self.ctx, payload.as_ref()).await?;
                self.registration = Some(session.registration);
                self.expires = Some(session.expires);
                self.user = Some(session.user);
                send_json(sink, timeout, json!({ "type": "connection_ack" })).await
            }
            ClientMessage::Ping { .. } => send_json(sink, timeout, json!({ "type": "pong" })).await,
            ClientMessage::Pong { .. } => Ok(()),
            ClientMessage::Subscribe { id, payload } => {
                let Some(user) = self.user else {
                    return Err(Close::new(4401, "Unauthorized"));
                };
                if self.subscriptions.contains_key(&id) {
                    return Err(Close::new(
                        4409,
                        format!("Subscriber for {id} already exists"),
                    ));
                }
                let running = self.subscriptions.len();
                match start(&self.ctx, user, &id, payload, running).await? {
                    Started::Refused(message) => send_json(sink, timeout, message).await,
                    Started::Running {
                        results,
                        positioned,
                    } => {
                        // Read no further message until it is positioned
                        // (None: it is already).
                        self.starting = positioned;
                        self.subscriptions.insert(id, results);
                        metrics::gauge!("tasksync_ws_subscriptions").increment(1.0);
                        Ok(())
                    }
                }
            }
            ClientMessage::Complete { id } => {
                self.end(&id);
                Ok(())
            }
        }
    }

    /// Forgets operation `id` (ended, or completed by the client).
    fn end(&mut self, id: &str) {
        if self.subscriptions.remove(id).is_some() {
            metrics::gauge!("tasksync_ws_subscriptions").decrement(1.0);
        }
    }
}
