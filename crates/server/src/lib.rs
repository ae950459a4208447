//! The tasksync server: accounts with e-mail verification and signed
//! tokens, and the GraphQL task API, over one store, served by axum.
//!
//! # Layout
//! Bottom to top: a module uses only the modules listed before it (those
//! of one entry do not use each other). `tests/api/tidy.rs` keeps it
//! so, and keeps the files inside each module in one direction too.
//! - [`clock`], [`telemetry`], [`build_info`], [`systemd`]: epoch
//!   milliseconds; logging and the Prometheus recorder; the version and
//!   commit of this build; notifications to systemd (`sd_notify`).
//! - [`config`], [`rate_limit`]: the command line, [`config::Settings`] and
//!   the configuration reference; the per-address and per-caller rate
//!   limiters.
//! - [`auth`]: the account flows ([`auth::AuthService`]), tokens, Argon2id
//!   hashing, codes, mail, the principal [`auth::AuthUser`] and bearer
//!   parsing, and [`auth::AuthError`]. No HTTP.
//! - [`feed`]: tails the committed change log to live subscribers (core
//!   and store only).
//! - [`graphql`]: the data API ([`graphql::Api`]): schema, resolvers, sync,
//!   subscriptions, the fast path of fan-out, the limits of a request. The
//!   only module that knows async-graphql (but for `ws::protocol`).
//! - [`ws`]: the `graphql-transport-ws` loop, given a narrow
//!   [`ws::Context`], and the registry of sockets.
//! - [`state`]: [`state::AppState`], the services the HTTP handlers share.
//! - [`http`]: router, middleware, every handler (`/auth/*`, `/graphql`
//!   and its WebSocket upgrade, health, the web app), the one
//!   [`http::error::ApiError`] mapping, extractors, the connection loop.
//! - [`startup`]: [`startup::Application`], the composition root: builds
//!   the services, binds, serves, drains.
//! - [`admin`]: `tasksync users …`, `migrate`, `backup`, `restore` and
//!   `check-config`; [`healthcheck`]: `tasksync healthcheck`, the HTTP
//!   probe of a running server.

pub mod admin;
pub mod auth;
pub mod build_info;
pub mod clock;
pub mod config;
pub mod feed;
pub mod graphql;
pub mod healthcheck;
pub mod http;
pub mod rate_limit;
pub mod startup;
pub mod state;
pub mod systemd;
pub mod telemetry;
pub mod ws;

pub use config::Settings;
pub use startup::Application;
