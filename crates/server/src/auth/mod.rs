//! Accounts: the `/auth/*` endpoints, tokens, password hashing and mail.

pub mod codes;
pub mod mail;
pub mod passwords;
pub mod routes;
pub mod service;
pub mod tokens;

pub use service::AuthService;
