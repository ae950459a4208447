//! Accounts: the account flows ([`AuthService`]), signed tokens, Argon2id
//! hashing, one-time codes, mail, and the authenticated principal
//! ([`AuthUser`]). Knows nothing of HTTP: its flows answer [`AuthError`],
//! which `http` maps to REST errors, and the `/auth/*` handlers live in
//! `http::auth`.

pub mod codes;
pub mod error;
pub mod mail;
pub mod mail_texts;
pub mod passwords;
pub mod service;
pub mod tokens;
pub mod user;

pub use error::{AuthError, AuthResult};
pub use service::AuthService;
pub use user::{AuthUser, bearer_token};
