//! GraphQL over WebSocket (`graphql-transport-ws`) on `GET /graphql`.
//!
//! The protocol loop is ours, not async-graphql's, so that the close codes
//! of the contract hold (4408 init timeout, 4429 second init, 4401 subscribe
//! before ack, 4409 duplicate id, 4400 bad message, 4403 bad or expired
//! token or revoked session, 1001 shutdown) and so that per-socket limits,
//! pings and revocation live in one place. One task serves one socket: it
//! reads client messages, pulls the socket's subscription streams and sends
//! their results. A stream is polled only when the socket can take more, so
//! a slow peer slows nobody else: its live buffer fills, the feed drops it
//! from the live path, and it reads the log at its own pace.

pub mod fast;
pub mod protocol;
pub mod registry;

use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{BoxStream, SplitSink};
use futures_util::{FutureExt as _, SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_stream::StreamMap;

use crate::auth::{AuthUser, bearer_token};
use crate::graphql::error::{BAD_USER_INPUT, RATE_LIMITED};
use crate::http::rate_limit::Caller;
use crate::state::AppState;
use protocol::ClientMessage;

pub const PROTOCOL: &str = "graphql-transport-ws";

/// Most messages written to a socket with one flush; then the loop turns
/// (to read client messages and pings) before it writes more.
const MAX_BURST: usize = 256;
/// And about the most bytes of rendered messages one burst takes (its
/// first result may be larger): a stalled socket holds its burst until the
/// send timeout closes it.
const MAX_BURST_BYTES: usize = 64 * 1024;

/// Whether a browser page from `origin` may open a socket.
fn origin_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        // Not a browser (browsers always send Origin on WebSockets).
        return true;
    };
    let settings = &state.settings;
    if settings.dev {
        return true;
    }
    let origin = origin.trim_end_matches('/');
    settings
        .allowed_origins
        .iter()
        .any(|o| o.trim().trim_end_matches('/') == origin)
        || settings
            .public_url
            .as_ref()
            .is_some_and(|u| u.origin().ascii_serialization() == origin)
}

/// The upgrade: checks origin and subprotocol, sizes the buffers.
pub fn upgrade(state: AppState, headers: &HeaderMap, ws: WebSocketUpgrade) -> Response {
    if !origin_allowed(&state, headers) {
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let offered = ws
        .requested_protocols()
        .any(|p| p.to_str().is_ok_and(|p| p.trim() == PROTOCOL));
    if !offered {
        return (
            StatusCode::BAD_REQUEST,
            "use the graphql-transport-ws subprotocol",
        )
            .into_response();
    }
    let max = state.settings.ws_max_message_bytes;
    ws.protocols([PROTOCOL])
        .max_message_size(max)
        .max_frame_size(max)
        // Small buffers: an idle socket should cost a few KiB, not the
        // 128 KiB tungstenite reserves by default.
        .read_buffer_size(512)
        // Frames of a burst collect here and leave in one write at the flush.
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(4 * max)
        .on_upgrade(move |socket| async move {
            let runtime = state.socket_runtime.clone();
            runtime.spawn(Connection::new(state).run(socket));
        })
}

/// How the loop ends.
#[derive(Debug)]
struct Close(u16, String);

impl Close {
    fn new(code: u16, reason: impl Into<String>) -> Self {
        Self(code, reason.into())
    }
}

type Sink = SplitSink<WebSocket, Message>;

/// The close for a message that could not be read: 1007 for text that is
/// not UTF-8, 1009 for one over the size limit, 1002 for other protocol
/// errors, nothing to say (1006) when the connection broke.
fn read_error(e: axum::Error) -> Close {
    use tungstenite::Error as E;
    match e.into_inner().downcast_ref::<E>() {
        Some(E::Utf8(_)) => Close::new(1007, "text message is not UTF-8"),
        Some(E::Capacity(_)) => Close::new(1009, "message too big"),
        Some(E::Protocol(_)) => Close::new(1002, "protocol error"),
        _ => Close::new(1006, "read failed"),
    }
}

/// Sends one message, giving up on a peer that cannot take it in time.
async fn send(sink: &mut Sink, timeout: Duration, message: Message) -> Result<(), Close> {
    match tokio::time::timeout(timeout, sink.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Close::new(1006, "send failed")),
        Err(_) => Err(Close::new(1008, "peer too slow to receive")),
    }
}

async fn send_json(sink: &mut Sink, timeout: Duration, value: Value) -> Result<(), Close> {
    send(sink, timeout, Message::Text(value.to_string().into())).await
}

/// A subscription's responses, then `None` when it ends.
type Results = BoxStream<'static, Item>;

/// What a subscription's stream yields.
enum Item {
    /// A response of the general (executor) path.
    Graphql(async_graphql::Response),
    /// Changes rendered by the fast path: a `next` message for each payload
    /// of `payloads[from..]` that is there, each `prefix` + payload + `}`.
    Rendered {
        /// `{"id":…,"type":"next","payload":`, made once per subscription.
        prefix: bytes::Bytes,
        /// Shared by every subscription of the same shape.
        payloads: std::sync::Arc<fast::Rendered>,
        from: usize,
        /// When the first of these changes was written (epoch ms).
        written_at: i64,
    },
    /// Errors that end the operation (an `error` message).
    Failed(Value),
    /// The operation is complete.
    Done,
}

impl Item {
    /// Messages this item becomes (at least one).
    fn messages(&self) -> usize {
        match self {
            Item::Rendered { payloads, from, .. } => payloads
                .get(*from..)
                .map_or(0, |p| p.iter().flatten().count())
                .max(1),
            _ => 1,
        }
    }

    /// When the oldest change of this item was written (fast path only).
    fn written_at(&self) -> i64 {
        match self {
            Item::Rendered { written_at, .. } => *written_at,
            _ => i64::MAX,
        }
    }

    /// Bytes of the fast-path messages this item becomes.
    fn rendered_len(&self) -> usize {
        match self {
            Item::Rendered {
                prefix,
                payloads,
                from,
                ..
            } => payloads
                .get(*from..)
                .unwrap_or_default()
                .iter()
                .flatten()
                .map(|p| prefix.len() + p.len() + 1)
                .sum(),
            _ => 0,
        }
    }
}

struct Connection {
    state: AppState,
    user: Option<AuthUser>,
    /// Set once `connection_init` arrived (even if it then failed).
    init_seen: bool,
    /// A subscription whose starting point is not fixed yet. Until it is,
    /// no further client message is read, so a client that got an answer to
    /// a later message knows its subscription is live.
    starting: Option<tokio::sync::oneshot::Receiver<()>>,
    subscriptions: StreamMap<String, Results>,
    registration: Option<registry::Registration>,
    /// When the access token expires; taken by the loop to arm its timer.
    expires: Option<tokio::time::Instant>,
    /// `tasksync_ws_messages_sent_total` and `tasksync_ws_flushes_total`,
    /// looked up once per socket rather than once per write.
    messages_sent: metrics::Counter,
    flushes: metrics::Counter,
}

/// Upper bounds (ms) of the delivery-lag classes.
const LAG_BOUNDS_MS: [i64; 12] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10_000];

/// The counter of messages whose delivery lag (from the write of their
/// change to their flush, as this server sees it) was at most the bound of
/// its class: `tasksync_ws_deliveries_by_lag_total{le_ms}` (`le_ms="inf"`
/// beyond the last bound). Not cumulative: each message counts in one
/// class. A histogram would cost a recording per message (the metrics
/// facade's `record_many` records one by one); this costs one increment per
/// flush.
fn delivery_lag(lag_ms: i64) -> &'static metrics::Counter {
    static CLASSES: std::sync::OnceLock<Vec<metrics::Counter>> = std::sync::OnceLock::new();
    let classes = CLASSES.get_or_init(|| {
        LAG_BOUNDS_MS
            .iter()
            .map(|b| b.to_string())
            .chain(std::iter::once("inf".to_owned()))
            .map(|le| metrics::counter!("tasksync_ws_deliveries_by_lag_total", "le_ms" => le))
            .collect()
    });
    let class = LAG_BOUNDS_MS
        .iter()
        .position(|&b| lag_ms <= b)
        .unwrap_or(LAG_BOUNDS_MS.len());
    // `classes` has one more entry than the bounds: "inf".
    &classes[class]
}

impl Connection {
    fn new(state: AppState) -> Self {
        Self {
            state,
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
        let settings = self.state.settings.clone();
        let init_deadline = tokio::time::sleep(settings.ws_init_timeout);
        tokio::pin!(init_deadline);
        let mut ping = tokio::time::interval(settings.ws_ping_interval);
        ping.tick().await;
        let mut last_heard = Instant::now();
        let mut shutdown = self.state.sockets.shutdown_signal();
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
                        if let Err(close) = self.encode_result(id, result, &mut arena, &mut batch) {
                            failed = Some(close);
                            break;
                        }
                    }
                    let sent = batch.len();
                    if sent > 0 {
                        if let Err(close) = send_all(&mut sink, settings.ws_send_timeout, batch).await {
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
                    if last_heard.elapsed() > 2 * settings.ws_ping_interval {
                        tracing::debug!("peer silent for two ping intervals; dropping it");
                        break None;
                    }
                    if send(&mut sink, settings.ws_send_timeout, Message::Ping(Default::default())).await.is_err() {
                        break None;
                    }
                }
                () = &mut expiry, if armed => break Some(Close::new(4403, "access token expired")),
                frame = revoked => break Some(frame),
                _ = shutdown.changed() => break Some(Close::new(1001, "server shutting down")),
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
                    settings.ws_send_timeout,
                    sink.send(Message::Close(Some(frame))),
                )
                .await;
            }
            // The client closed (or vanished): answer its close frame, which
            // the protocol layer has queued, by flushing and closing.
            _ => {
                let _ = tokio::time::timeout(settings.ws_send_timeout, sink.close()).await;
            }
        }
        metrics::gauge!("tasksync_ws_subscriptions").decrement(self.subscriptions.len() as f64);
        metrics::gauge!("tasksync_ws_sockets").decrement(1.0);
    }

    async fn on_text(&mut self, sink: &mut Sink, text: &str) -> Result<(), Close> {
        let Some(message) = ClientMessage::decode(text) else {
            return Err(Close::new(4400, "Invalid message received"));
        };
        match message {
            ClientMessage::ConnectionInit { payload } => {
                if self.init_seen {
                    return Err(Close::new(4429, "Too many initialisation requests"));
                }
                self.init_seen = true;
                let token = payload
                    .as_ref()
                    .and_then(|p| p.get("authorization").or_else(|| p.get("Authorization")))
                    .and_then(Value::as_str)
                    .and_then(bearer_token)
                    .ok_or_else(|| Close::new(4403, "Forbidden"))?;
                let user = self
                    .state
                    .auth
                    .authenticate(token)
                    .await
                    .map_err(|_| Close::new(4403, "Forbidden"))?;
                let registration = self
                    .state
                    .sockets
                    .register(
                        user.user_id,
                        user.session_id,
                        self.state.settings.max_sockets_per_user,
                    )
                    .ok_or_else(|| Close::new(4429, "Too many sockets for this user"))?;
                self.registration = Some(registration);
                let remaining = user
                    .expires_at
                    .saturating_sub(crate::auth::tokens::now_secs());
                self.expires = Some(tokio::time::Instant::now() + Duration::from_secs(remaining));
                self.user = Some(user);
                send_json(
                    sink,
                    self.state.settings.ws_send_timeout,
                    json!({ "type": "connection_ack" }),
                )
                .await
            }
            ClientMessage::Ping { .. } => {
                send_json(
                    sink,
                    self.state.settings.ws_send_timeout,
                    json!({ "type": "pong" }),
                )
                .await
            }
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
                if self.subscriptions.len() >= self.state.settings.ws_max_subscriptions {
                    let limit = self.state.settings.ws_max_subscriptions;
                    let error = json!({ "message": format!("at most {limit} subscriptions per socket"), "extensions": { "code": RATE_LIMITED } });
                    return send_json(
                        sink,
                        self.state.settings.ws_send_timeout,
                        json!({ "id": id, "type": "error", "payload": [error] }),
                    )
                    .await;
                }
                let mut payload = payload;
                let caller = Caller::User(user.user_id);
                // As on HTTP: one root field is paid before the document is
                // parsed, so refused operations are not free, the rest once
                // it is counted.
                let admitted = match self.state.api_rate.check(caller, 1) {
                    Ok(()) => {
                        crate::graphql::admit(&self.state, Some(caller), vec![&mut *payload]).await
                    }
                    Err(wait) => Err(crate::graphql::Refusal::RateLimited(wait)),
                };
                let refused = match admitted {
                    Ok(()) => None,
                    Err(crate::graphql::Refusal::TooLarge(message)) => {
                        Some((message, BAD_USER_INPUT))
                    }
                    Err(crate::graphql::Refusal::RateLimited(wait)) => Some((
                        format!(
                            "too many requests: wait {} ms, then try again",
                            wait.as_millis().max(1)
                        ),
                        RATE_LIMITED,
                    )),
                };
                if let Some((message, code)) = refused {
                    let error = json!({ "message": message, "extensions": { "code": code } });
                    return send_json(
                        sink,
                        self.state.settings.ws_send_timeout,
                        json!({ "id": id, "type": "error", "payload": [error] }),
                    )
                    .await;
                }
                // Every operation (within the limits) starts only on a live
                // session: a socket whose session just ended (signed out,
                // password changed) runs nothing more, whenever its close
                // arrives.
                let active = self
                    .state
                    .store
                    .session(user.session_id)
                    .await
                    .map_err(|_| Close::new(1011, "internal error"))?
                    .is_some_and(|s| s.is_active(crate::clock::now_ms()));
                if !active {
                    return Err(Close::new(4403, "Forbidden"));
                }
                let fast = self
                    .state
                    .settings
                    .ws_fast_path
                    .then(|| fast::plan(&payload))
                    .flatten();
                let results: Results = match fast {
                    Some(plan) => match fast_stream(self.state.clone(), user, &id, plan).await {
                        Ok(results) => results,
                        Err(errors) => {
                            let message = json!({ "id": id, "type": "error", "payload": errors });
                            return send_json(sink, self.state.settings.ws_send_timeout, message)
                                .await;
                        }
                    },
                    None => {
                        let (started, starting) = tokio::sync::oneshot::channel();
                        self.starting = Some(starting);
                        let request = payload.data(user).data(Started::new(started));
                        self.state
                            .schema
                            .execute_stream(request)
                            .map(Item::Graphql)
                            .chain(futures_util::stream::once(async { Item::Done }))
                            .boxed()
                    }
                };
                // A stream never ends by itself: its last item (`Done` or
                // `Failed`) makes `encode_result` remove it, which keeps the
                // subscription gauge right even when the burst loop polls the
                // stream again before encoding that item.
                self.subscriptions
                    .insert(id, results.chain(futures_util::stream::pending()).boxed());
                metrics::gauge!("tasksync_ws_subscriptions").increment(1.0);
                Ok(())
            }
            ClientMessage::Complete { id } => {
                if self.subscriptions.remove(&id).is_some() {
                    metrics::gauge!("tasksync_ws_subscriptions").decrement(1.0);
                }
                Ok(())
            }
        }
    }

    /// Encodes one result of subscription `id` into `out`: `next` messages,
    /// `error` (which ends the operation) or, when the stream ended,
    /// `complete`. Fast-path messages are written into `arena` (sized by
    /// [`Item::rendered_len`]), so a burst costs one allocation, not one
    /// per message.
    fn encode_result(
        &mut self,
        id: String,
        result: Item,
        arena: &mut bytes::BytesMut,
        out: &mut Vec<Message>,
    ) -> Result<(), Close> {
        /// Serialized once, straight to text: this is the hot path of fan-out.
        #[derive(serde::Serialize)]
        struct Out<'a, P: serde::Serialize> {
            id: &'a str,
            r#type: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            payload: Option<P>,
        }
        let text = match result {
            Item::Rendered {
                prefix,
                payloads,
                from,
                ..
            } => {
                // The payloads are already JSON: splice each in.
                for payload in payloads.get(from..).unwrap_or_default().iter().flatten() {
                    arena.extend_from_slice(&prefix);
                    arena.extend_from_slice(payload);
                    arena.extend_from_slice(b"}");
                    let text = axum::extract::ws::Utf8Bytes::try_from(arena.split().freeze())
                        .map_err(|_| Close::new(1011, "encoding failed"))?;
                    out.push(Message::Text(text));
                }
                return Ok(());
            }
            Item::Failed(errors) => {
                self.end(&id);
                serde_json::to_string(&Out {
                    id: &id,
                    r#type: "error",
                    payload: Some(&errors),
                })
            }
            Item::Done => {
                self.end(&id);
                serde_json::to_string(&Out::<()> {
                    id: &id,
                    r#type: "complete",
                    payload: None,
                })
            }
            Item::Graphql(mut response) => {
                crate::graphql::add_missing_codes_one(&mut response);
                if response.data == async_graphql::Value::Null && !response.errors.is_empty() {
                    self.end(&id);
                    serde_json::to_string(&Out {
                        id: &id,
                        r#type: "error",
                        payload: Some(&response.errors),
                    })
                } else {
                    serde_json::to_string(&Out {
                        id: &id,
                        r#type: "next",
                        payload: Some(&response),
                    })
                }
            }
        };
        let text = text.map_err(|_| Close::new(1011, "encoding failed"))?;
        out.push(Message::Text(text.into()));
        Ok(())
    }

    fn end(&mut self, id: &str) {
        if self.subscriptions.remove(id).is_some() {
            metrics::gauge!("tasksync_ws_subscriptions").decrement(1.0);
        }
    }
}

/// A subscription on the fast path, positioned in the log before this
/// returns (so the next client message is read only after that).
async fn fast_stream(
    state: AppState,
    user: AuthUser,
    id: &str,
    plan: fast::Plan,
) -> Result<Results, Value> {
    let after = match &plan.root {
        fast::Root::Changes { after } => after.as_deref(),
        fast::Root::Kind(_) => None,
    };
    let errors = |e: async_graphql::Error| {
        // No source position: the error is about the subscription as a whole.
        let mut e = e.into_server_error(async_graphql::Pos::default());
        e.locations.clear();
        serde_json::to_value([e]).unwrap_or(Value::Null)
    };
    let start = crate::graphql::sync::starting_point(&state.store, user.user_id, after)
        .await
        .map_err(errors)?;
    let sub = state.feed.subscribe(user.user_id, start);
    let renderer = state.renderers.get(plan);
    let prefix = bytes::Bytes::from(format!(
        "{{\"id\":{},\"type\":\"next\",\"payload\":",
        serde_json::to_string(id).map_err(|_| Value::Null)?
    ));
    let stream = futures_util::stream::unfold(Some(sub), |sub| async move {
        let mut sub = sub?;
        match sub.next_batch().await {
            Ok(delivery) => Some((Ok(delivery), Some(sub))),
            Err(e) => Some((Err(e), None)),
        }
    })
    .map(move |next| match next {
        Ok(delivery) => Item::Rendered {
            prefix: prefix.clone(),
            payloads: renderer.render(&delivery.batch),
            from: delivery.from,
            written_at: delivery.changes().first().map_or(i64::MAX, |c| c.at),
        },
        Err(crate::feed::FeedError::Expired) => {
            Item::Failed(errors(crate::graphql::error::cursor_expired()))
        }
        Err(crate::feed::FeedError::Store(e)) => {
            Item::Failed(errors(crate::graphql::error::internal(e)))
        }
    });
    Ok(stream.boxed())
}

/// Sends messages with one flush (one write for a burst), giving up on a
/// peer that cannot take them in time.
async fn send_all(sink: &mut Sink, timeout: Duration, messages: Vec<Message>) -> Result<(), Close> {
    let write = async {
        for m in messages {
            sink.feed(m).await?;
        }
        sink.flush().await
    };
    match tokio::time::timeout(timeout, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Close::new(1006, "send failed")),
        Err(_) => Err(Close::new(1008, "peer too slow to receive")),
    }
}

/// Fired by a subscription resolver once its starting point in the log is
/// fixed; dropped (which counts too) when the operation ends otherwise.
#[derive(Debug)]
pub struct Started(std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>);

impl Started {
    fn new(tx: tokio::sync::oneshot::Sender<()>) -> Self {
        Self(std::sync::Mutex::new(Some(tx)))
    }

    /// Signals that the subscription is positioned.
    pub fn fire(&self) {
        if let Some(tx) = self.0.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = tx.send(());
        }
    }
}
