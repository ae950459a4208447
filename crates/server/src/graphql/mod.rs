//! The data API on `/graphql`: schema, resolvers, sync, subscriptions, the
//! fast path of fan-out, and the limits every operation passes. The only
//! module that knows async-graphql (but for `ws::protocol`, which decodes a
//! subscribe message's payload into its request type): `http` and `ws`
//! reach it through [`Api`], which takes bodies and payloads and hands back
//! answers, refusals and events.
//!
//! Files, each using only files after it: `live.rs` (subscriptions for
//! sockets) → `api.rs` (admission and execution) → `schema.rs` →
//! `resolvers.rs` → `sync.rs` (and the subscription fields) → `context.rs`
//! → `limits.rs`; any of them → `error.rs` → `types.rs`; `api.rs` →
//! `documents.rs` → `size.rs`, and `fast.rs` (the fast path's plans and
//! renderers), which uses no sibling.

pub mod api;
pub mod context;
pub mod documents;
pub mod error;
pub mod fast;
pub mod limits;
pub mod live;
pub mod resolvers;
pub mod schema;
pub mod size;
pub mod sync;
pub mod types;

pub use api::{Answer, Api, Features, Refusal, graphiql};
pub use documents::Documents;
pub use limits::{AnswerBudget, BODY_BYTES_PER_UNIT, Limits, QUERY_BYTES_PER_UNIT};
pub use live::{Event, Outcome, Subscribed};
pub use resolvers::Invitations;
pub use schema::{TaskSchema, sdl};
