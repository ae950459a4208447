//! The messages a client sends over `graphql-transport-ws`, decoded from
//! the text of one WebSocket message.
//!
//! Decoding is a pure function of the text so that the fuzzer
//! (`fuzz/fuzz_targets/ws_message.rs`) runs the very code the socket loop
//! runs. The fuzz crate compiles this file on its own (with `#[path]`), so
//! it must not use anything of this crate (`crate::…`), only its
//! dependencies.

use async_graphql::Request;
use serde::Deserialize;
use serde_json::Value;

/// The subprotocol a client must offer.
pub const PROTOCOL: &str = "graphql-transport-ws";

/// The operation a `subscribe` message carries. async-graphql's request
/// type, so that it decodes as async-graphql decodes one over HTTP; this
/// file and `graphql/` are the only ones that name async-graphql.
pub type Payload = Request;

/// One client message. Fields the protocol does not define are ignored.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Value>,
    },
    Ping {
        #[serde(default)]
        payload: Option<Value>,
    },
    Pong {
        #[serde(default)]
        payload: Option<Value>,
    },
    Subscribe {
        id: String,
        payload: Box<Payload>,
    },
    Complete {
        id: String,
    },
}

/// Longest operation id a client may use. An id is kept for the life of
/// its operation and repeated in every message of it, so ids as long as a
/// message (64 KiB) would multiply a socket's memory and every delivery's
/// bytes; clients use UUIDs or counters.
pub const MAX_ID_BYTES: usize = 128;

/// Whether `id` may name an operation: not empty (as graphql-ws requires)
/// and at most [`MAX_ID_BYTES`] long.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_BYTES
}

impl ClientMessage {
    /// The message of `text`, or `None` for anything that is not a client
    /// message of the protocol, or whose operation id is empty or longer
    /// than [`MAX_ID_BYTES`] (the socket closes with 4400).
    pub fn decode(text: &str) -> Option<Self> {
        match serde_json::from_str(text).ok()? {
            Self::Subscribe { id, .. } | Self::Complete { id } if !valid_id(&id) => None,
            message => Some(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_message_of_the_protocol_decodes() {
        let cases = [
            (r#"{"type":"connection_init"}"#, "connection_init"),
            (
                r#"{"type":"connection_init","payload":{"authorization":"Bearer t"}}"#,
                "connection_init",
            ),
            (r#"{"type":"ping","payload":{"a":1}}"#, "ping"),
            (r#"{"type":"pong"}"#, "pong"),
            (
                r#"{"id":"1","type":"subscribe","payload":{"query":"subscription { onCreateTask { id } }"}}"#,
                "subscribe",
            ),
            (r#"{"id":"1","type":"complete","extra":true}"#, "complete"),
        ];
        for (text, kind) in cases {
            let message = ClientMessage::decode(text).unwrap_or_else(|| panic!("{text}"));
            let decoded = match message {
                ClientMessage::ConnectionInit { .. } => "connection_init",
                ClientMessage::Ping { .. } => "ping",
                ClientMessage::Pong { .. } => "pong",
                ClientMessage::Subscribe { id, payload } => {
                    assert_eq!((id.as_str(), payload.query.is_empty()), ("1", false));
                    "subscribe"
                }
                ClientMessage::Complete { id } => {
                    assert_eq!(id, "1");
                    "complete"
                }
            };
            assert_eq!(decoded, kind, "{text}");
        }
    }

    #[test]
    fn anything_else_is_not_a_message() {
        let cases = [
            "",
            "ping",
            r#"[{"type":"ping"}]"#,
            r#"{"payload":{}}"#,
            r#"{"type":"start","id":"1"}"#,
            r#"{"type":"next","id":"1","payload":{}}"#,
            r#"{"type":"subscribe","payload":{"query":"{ a }"}}"#,
            r#"{"type":"subscribe","id":1,"payload":{"query":"{ a }"}}"#,
            r#"{"type":"subscribe","id":"1","payload":null}"#,
            r#"{"type":"complete"}"#,
            r#"{"type":"complete","id":"1","id":"2"}"#,
        ];
        for text in cases {
            assert!(ClientMessage::decode(text).is_none(), "{text}");
        }
    }
}
