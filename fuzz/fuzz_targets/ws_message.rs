//! Client messages of graphql-transport-ws, decoded by the server's own
//! `ws::protocol::ClientMessage::decode` (what the socket loop calls on
//! every text message).
//!
//! Input: the text of one message. Properties: decoding never panics nor
//! overflows a server thread's stack; a decoded message agrees with the
//! JSON it came from (its `type`, `id` and `query` are the ones a JSON
//! reader sees, so no two readers of one message can disagree on them).
//! After a first byte 0 (no JSON text starts with it), the rest builds a
//! well-formed message of each type, which must decode to that message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tasksync_fuzz::on_server_stack;
use tasksync_fuzz::protocol::ClientMessage;

fn kind(m: &ClientMessage) -> &'static str {
    match m {
        ClientMessage::ConnectionInit { .. } => "connection_init",
        ClientMessage::Ping { .. } => "ping",
        ClientMessage::Pong { .. } => "pong",
        ClientMessage::Subscribe { .. } => "subscribe",
        ClientMessage::Complete { .. } => "complete",
    }
}

/// The message's decoded fields agree with the JSON of `text`.
fn agrees(message: &ClientMessage, text: &str) {
    let value: Value = serde_json::from_str(text).expect("a decoded message is JSON");
    assert_eq!(value["type"].as_str(), Some(kind(message)), "{text:?}");
    match message {
        ClientMessage::ConnectionInit { payload }
        | ClientMessage::Ping { payload }
        | ClientMessage::Pong { payload } => {
            let seen = value.get("payload").filter(|p| !p.is_null());
            assert_eq!(payload.as_ref().filter(|p| !p.is_null()), seen, "{text:?}");
        }
        ClientMessage::Subscribe { id, payload } => {
            assert_eq!(value["id"].as_str(), Some(id.as_str()), "{text:?}");
            // A payload without a query has the empty one (async-graphql's
            // default), which the executor refuses.
            let query = value["payload"]
                .get("query")
                .map_or(Some(""), Value::as_str);
            assert_eq!(query, Some(payload.query.as_str()), "{text:?}");
        }
        ClientMessage::Complete { id } => {
            assert_eq!(value["id"].as_str(), Some(id.as_str()), "{text:?}");
        }
    }
}

/// Well-formed messages of every type, made of `bytes`.
fn well_formed(bytes: &[u8]) -> Vec<(Value, &'static str)> {
    let half = bytes.len() / 2;
    // An operation id is 1 to 128 bytes (`MAX_ID_BYTES`); others are refused.
    let mut id: String = String::from_utf8_lossy(&bytes[..half])
        .chars()
        .take(32)
        .collect();
    if id.is_empty() {
        id.push('1');
    }
    let query = String::from_utf8_lossy(&bytes[half..]).into_owned();
    let extra = json!({ "note": query });
    vec![
        (json!({ "type": "connection_init" }), "connection_init"),
        (
            json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {id}") } }),
            "connection_init",
        ),
        (json!({ "type": "ping", "payload": extra }), "ping"),
        (json!({ "type": "pong" }), "pong"),
        (
            json!({ "id": id, "type": "subscribe", "payload": { "query": query } }),
            "subscribe",
        ),
        (
            json!({ "type": "subscribe", "id": id, "payload": {
                "query": query, "operationName": null, "variables": { "after": id }, "extensions": {}
            } }),
            "subscribe",
        ),
        (
            json!({ "type": "complete", "id": id, "extra": extra }),
            "complete",
        ),
    ]
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((0, rest)) => {
            for (value, expected) in well_formed(rest) {
                let text = value.to_string();
                let message = ClientMessage::decode(&text)
                    .unwrap_or_else(|| panic!("a well-formed message is refused: {text}"));
                assert_eq!(kind(&message), expected, "{text}");
                agrees(&message, &text);
            }
        }
        _ => {
            let Ok(text) = std::str::from_utf8(data) else {
                // The server reads only text messages (binary closes 4400).
                return;
            };
            if let Some(message) = on_server_stack(|| ClientMessage::decode(text)) {
                agrees(&message, text);
            }
        }
    }
});
