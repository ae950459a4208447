//! GraphQL over WebSocket (`graphql-transport-ws`) on `GET /graphql`: the
//! protocol loop, given a narrow [`Context`] (not the whole app state);
//! `http` upgrades the connection and hands the socket to [`serve`].
//!
//! The loop is ours, not async-graphql's, so that the close codes of the
//! contract hold (4408 init timeout, 4429 second init, 4401 subscribe
//! before ack, 4409 duplicate id, 4400 bad message, 4403 bad or expired
//! token or revoked session, 1012 shutdown) and so that per-socket limits,
//! pings and revocation live in one place. One task serves one socket: it
//! reads client messages, pulls the socket's subscription streams and sends
//! their results. A stream is polled only when the socket can take more, so
//! a slow peer slows nobody else: its live buffer fills, the feed drops it
//! from the live path, and it reads the log at its own pace. What a
//! subscription yields comes from `graphql::Api::subscribe`.
//!
//! Files, each using only files after it: `connection.rs` (the loop) →
//! `init.rs` (`connection_init`), `subscribe.rs` (`subscribe`) →
//! `outbound.rs` (items and their encoding), `send.rs` (writes),
//! `context.rs` → `registry.rs` (every socket of the node) → `close.rs`;
//! `protocol.rs` (decoding client messages) uses nothing of this crate.

mod close;
mod connection;
pub mod context;
mod init;
mod outbound;
pub mod protocol;
pub mod registry;
mod send;
mod subscribe;

pub use connection::serve;
pub use context::{Context, Limits};
pub use protocol::PROTOCOL;
