//! What a subscription sends: its [`Item`]s, and their encoding as
//! `graphql-transport-ws` messages (`next`, `error`, `complete`).

use std::sync::Arc;

use axum::extract::ws::Message;
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use serde_json::Value;

use super::close::Close;
use crate::graphql::fast::Rendered;
use crate::graphql::{Event, Outcome};

/// Most messages written to a socket with one flush; then the loop turns
/// (to read client messages and pings) before it writes more.
pub(super) const MAX_BURST: usize = 256;
/// And about the most bytes of rendered messages one burst takes (its
/// first result may be larger): a stalled socket holds its burst until the
/// send timeout closes it.
pub(super) const MAX_BURST_BYTES: usize = 64 * 1024;

/// A subscription's items. It never ends by itself: its last item (`Done`
/// or `Failed`) makes the loop remove it.
pub(super) type Results = BoxStream<'static, Item>;

/// What a subscription's stream yields.
pub(super) enum Item {
    /// A response of the general (executor) path.
    Graphql(Outcome),
    /// Changes rendered by the fast path: a `next` message for each payload
    /// of `payloads[from..]` that is there, each `prefix` + payload + `}`.
    Rendered {
        /// `{"id":…,"type":"next","payload":`, made once per subscription.
        prefix: bytes::Bytes,
        /// Shared by every subscription of the same shape.
        payloads: Arc<Rendered>,
        from: usize,
        /// When the first of these changes was written (epoch ms).
        written_at: i64,
    },
    /// Errors that end the operation (an `error` message).
    Failed(Value),
    /// The operation is complete.
    Done,
}

/// The items of subscription `id` from the data API's events, never
/// ending by themselves (see [`Results`]).
pub(super) fn results(id: &str, events: BoxStream<'static, Event>) -> Results {
    let prefix = bytes::Bytes::from(format!(
        "{{\"id\":{},\"type\":\"next\",\"payload\":",
        serde_json::to_string(id).unwrap_or_default()
    ));
    events
        .map(move |event| match event {
            Event::Response(outcome) => Item::Graphql(outcome),
            Event::Rendered {
                payloads,
                from,
                written_at,
            } => Item::Rendered {
                prefix: prefix.clone(),
                payloads,
                from,
                written_at,
            },
            Event::Failed(errors) => Item::Failed(errors),
            Event::Done => Item::Done,
        })
        .chain(futures_util::stream::pending())
        .boxed()
}

impl Item {
    /// Messages this item becomes (at least one).
    pub(super) fn messages(&self) -> usize {
        match self {
            Item::Rendered { payloads, from, .. } => payloads
                .get(*from..)
                .map_or(0, |p| p.iter().flatten().count())
                .max(1),
            _ => 1,
        }
    }

    /// When the oldest change of this item was written (fast path only).
    pub(super) fn written_at(&self) -> i64 {
        match self {
            Item::Rendered { written_at, .. } => *written_at,
            _ => i64::MAX,
        }
    }

    /// Bytes of the fast-path messages this item becomes.
    pub(super) fn rendered_len(&self) -> usize {
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

/// Encodes one item of subscription `id` into `out`: `next` messages,
/// `error` (which ends the operation) or, when the stream ended,
/// `complete`. Fast-path messages are written into `arena` (sized by
/// [`Item::rendered_len`]), so a burst costs one allocation, not one per
/// message. Answers whether the item ends the operation.
pub(super) fn encode(
    id: &str,
    item: Item,
    arena: &mut bytes::BytesMut,
    out: &mut Vec<Message>,
) -> Result<bool, Close> {
    /// Serialized once, straight to text: this is the hot path of fan-out.
    #[derive(serde::Serialize)]
    struct Out<'a, P: serde::Serialize> {
        id: &'a str,
        r#type: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        payload: Option<P>,
    }
    let (text, ends) = match item {
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
            return Ok(false);
        }
        Item::Failed(errors) => (
            serde_json::to_string(&Out {
                id,
                r#type: "error",
                payload: Some(&errors),
            }),
            true,
        ),
        Item::Done => (
            serde_json::to_string(&Out::<()> {
                id,
                r#type: "complete",
                payload: None,
            }),
            true,
        ),
        Item::Graphql(outcome) if outcome.ends() => (
            serde_json::to_string(&Out {
                id,
                r#type: "error",
                payload: Some(outcome.errors()),
            }),
            true,
        ),
        Item::Graphql(outcome) => (
            serde_json::to_string(&Out {
                id,
                r#type: "next",
                payload: Some(outcome.payload()),
            }),
            false,
        ),
    };
    let text = text.map_err(|_| Close::new(1011, "encoding failed"))?;
    out.push(Message::Text(text.into()));
    Ok(ends)
}
