//! The tasksync server: accounts with e-mail verification and signed
//! tokens, and the GraphQL task API, over one store, served by axum.
//!
//! # Layout
//! - [`config`]: the command line and [`config::Settings`].
//! - [`startup`]: [`startup::Application`]: build, bind, serve, drain.
//! - [`http`]: router, middleware (metrics, CORS, rate limits), errors, extractors.
//! - [`auth`]: the `/auth/*` flows, tokens, Argon2id hashing, mail.
//! - [`graphql`]: the task API on `/graphql` (schema, resolvers, sync, errors).
//! - [`feed`]: tails the committed change log to live subscribers.
//! - [`ws`]: the `graphql-transport-ws` protocol loop and the socket registry.
//! - [`admin`]: `tasksync users …` and `tasksync migrate`.
//! - [`telemetry`]: logging and the Prometheus recorder.

pub mod admin;
pub mod auth;
pub mod clock;
pub mod config;
pub mod feed;
pub mod graphql;
pub mod http;
pub mod rate_limit;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod ws;

pub use config::Settings;
pub use startup::Application;
