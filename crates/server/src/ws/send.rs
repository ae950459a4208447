//! Writing to the socket: one message, or a burst with one flush, each
//! within the send timeout; and the delivery-lag counters of a flush.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures_util::SinkExt as _;
use futures_util::stream::SplitSink;
use serde_json::Value;

use super::close::Close;

/// The socket's writing half.
pub(super) type Sink = SplitSink<WebSocket, Message>;

/// Sends one message, giving up on a peer that cannot take it in time.
pub(super) async fn send(
    sink: &mut Sink,
    timeout: Duration,
    message: Message,
) -> Result<(), Close> {
    match tokio::time::timeout(timeout, sink.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Close::new(1006, "send failed")),
        Err(_) => Err(Close::new(1008, "peer too slow to receive")),
    }
}

pub(super) async fn send_json(
    sink: &mut Sink,
    timeout: Duration,
    value: Value,
) -> Result<(), Close> {
    send(sink, timeout, Message::Text(value.to_string().into())).await
}

/// Sends messages with one flush (one write for a burst), giving up on a
/// peer that cannot take them in time.
pub(super) async fn send_all(
    sink: &mut Sink,
    timeout: Duration,
    messages: Vec<Message>,
) -> Result<(), Close> {
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

/// Upper bounds (ms) of the delivery-lag classes.
const LAG_BOUNDS_MS: [i64; 12] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10_000];

/// The counter of messages whose delivery lag (from the write of their
/// change to their flush, as this server sees it) was at most the bound of
/// its class: `tasksync_ws_deliveries_by_lag_total{le_ms}` (`le_ms="inf"`
/// beyond the last bound). Not cumulative: each message counts in one
/// class. A histogram would cost a recording per message (the metrics
/// facade's `record_many` records one by one); this costs one increment per
/// flush.
pub(super) fn delivery_lag(lag_ms: i64) -> &'static metrics::Counter {
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
