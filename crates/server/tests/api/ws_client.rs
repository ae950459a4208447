//! A real `graphql-transport-ws` client over tokio-tungstenite, for tests.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::Http;

/// How long any single wait for the server may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(15);

pub struct WsClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What a socket yielded.
#[derive(Debug)]
pub enum Event {
    Json(Value),
    Closed(u16, String),
}

impl WsClient {
    /// Opens a socket with the `graphql-transport-ws` subprotocol.
    pub async fn connect(app: &Http) -> Self {
        Self::connect_with(app, &[("sec-websocket-protocol", "graphql-transport-ws")])
            .await
            .expect("connects")
    }

    /// Opens a socket with the given extra headers; the HTTP status on refusal.
    pub async fn connect_with(app: &Http, headers: &[(&str, &str)]) -> Result<Self, u16> {
        let url = format!("{}/graphql", app.base.replacen("http", "ws", 1));
        let mut request = url.into_client_request().expect("request");
        for (k, v) in headers {
            let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes())
                .expect("name");
            request
                .headers_mut()
                .insert(name, v.parse().expect("header"));
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, response)) => {
                assert_eq!(
                    response
                        .headers()
                        .get("sec-websocket-protocol")
                        .and_then(|v| v.to_str().ok()),
                    Some("graphql-transport-ws")
                );
                Ok(Self { ws })
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
            Err(e) => panic!("connect failed: {e}"),
        }
    }

    /// Connects and initialises with `token`, or says why it could not
    /// (for clients that reconnect through a proxy while nodes come and go).
    pub async fn try_ready(app: &Http, token: &str) -> Result<Self, String> {
        let url = format!("{}/graphql", app.base.replacen("http", "ws", 1));
        let mut request = url.into_client_request().map_err(|e| e.to_string())?;
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().map_err(|_| "header")?,
        );
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .map_err(|_| "connect timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        let mut c = Self { ws };
        c.ws.send(Message::Text(
            json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } })
                .to_string()
                .into(),
        ))
        .await
        .map_err(|e| e.to_string())?;
        match c.event().await {
            Event::Json(v) if v["type"] == "connection_ack" => Ok(c),
            other => Err(format!("no connection_ack: {other:?}")),
        }
    }

    /// Connects and initialises with `token`, asserting the ack.
    pub async fn ready(app: &Http, token: &str) -> Self {
        let mut c = Self::connect(app).await;
        c.init(token).await;
        match c.event().await {
            Event::Json(v) if v["type"] == "connection_ack" => c,
            other => panic!("expected connection_ack, got {other:?}"),
        }
    }

    pub async fn init(&mut self, token: &str) {
        self.send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } })).await;
    }

    pub async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .expect("send");
    }

    pub async fn send_raw(&mut self, m: Message) {
        self.ws.send(m).await.expect("send");
    }

    /// A ping answered by a pong: the server has handled everything sent
    /// before it (subscriptions are positioned by then).
    pub async fn round_trip(&mut self) {
        self.send(json!({ "type": "ping" })).await;
        let pong = self.json().await;
        assert_eq!(pong["type"], "pong", "{pong}");
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } })).await;
    }

    /// The next JSON message or the close, answering pings on the way.
    pub async fn event(&mut self) -> Event {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("the server answers in time");
            match message {
                Some(Ok(Message::Text(t))) => {
                    return Event::Json(serde_json::from_str(t.as_str()).expect("json"));
                }
                Some(Ok(Message::Close(frame))) => {
                    return match frame {
                        Some(f) => Event::Closed(u16::from(f.code), f.reason.to_string()),
                        None => Event::Closed(u16::from(CloseCode::Status), String::new()),
                    };
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Event::Closed(1006, e.to_string()),
                None => return Event::Closed(1006, "stream ended".into()),
            }
        }
    }

    /// Waits for the close and returns its code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            match self.event().await {
                Event::Closed(code, reason) => return (code, reason),
                Event::Json(_) => continue,
            }
        }
    }

    /// The next message, which must be JSON.
    pub async fn json(&mut self) -> Value {
        match self.event().await {
            Event::Json(v) => v,
            Event::Closed(code, reason) => panic!("socket closed {code} {reason}"),
        }
    }

    /// The `data` of the next `next` message of subscription `id`.
    pub async fn next_data(&mut self, id: &str) -> Value {
        let v = self.json().await;
        assert_eq!(
            (v["type"].as_str(), v["id"].as_str()),
            (Some("next"), Some(id)),
            "{v}"
        );
        assert!(v["payload"]["errors"].is_null(), "errors in {v}");
        v["payload"]["data"].clone()
    }
    /// Sends a close frame with `code` and returns the server's answer.
    pub async fn close_and_wait(&mut self, code: u16) -> (u16, String) {
        let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
            code: CloseCode::from(code),
            reason: "bye".into(),
        };
        self.ws
            .send(Message::Close(Some(frame)))
            .await
            .expect("send close");
        self.closed().await
    }

    /// Closes the socket from the client side, as a client going away does.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// The fields of a change event.
pub const CHANGE: &str = "op cursor task { id title description done version deleted updatedAt }";

pub fn changes_q() -> String {
    format!("subscription($after: String) {{ taskChanges(after: $after) {{ {CHANGE} }} }}")
}
