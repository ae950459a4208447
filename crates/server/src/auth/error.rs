//! Why an account flow refused or failed, independent of HTTP.
//!
//! The texts are what a client is shown; `http::error` gives each variant
//! its status and REST error code. Internal failures are logged with their
//! cause where they happen and carry no text of their own, so nothing of
//! them reaches a client.

use std::time::Duration;

/// The error of every [`AuthService`](super::AuthService) flow.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Input that does not parse (an address, a code).
    #[error("{0}")]
    InvalidParameter(String),
    /// A new password that breaks the password rules.
    #[error("{0}")]
    InvalidPassword(String),
    /// Wrong credentials or a token that is not (or no longer) valid. The
    /// text never says which part was wrong.
    #[error("{0}")]
    NotAuthorized(&'static str),
    /// Every failed code check: wrong, expired, used up and "no such
    /// account" look the same.
    #[error("the code is wrong, expired or used up; check it or request a new one")]
    CodeMismatch,
    #[error(
        "this address was signed up more than once: enter the code with the \
         password you chose when you signed up"
    )]
    PasswordRequired,
    #[error(
        "the code is right, but this address was signed up again since with \
         another password; sign up again with yours and use the code of that mail"
    )]
    PasswordMismatch,
    #[error("this account is disabled")]
    UserDisabled,
    #[error("confirm your e-mail address with the code we sent first")]
    UserNotConfirmed,
    /// The current password given to a password change is wrong.
    #[error("the current password is not correct")]
    IncorrectPassword,
    /// The address waits out a lockout of failed sign-ins: try after this long.
    #[error("too many requests; try again later")]
    LockedOut(Duration),
    /// Something failed inside (already logged).
    #[error("internal error")]
    Internal,
}

impl AuthError {
    /// Logs the cause and answers [`AuthError::Internal`].
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::Internal
    }
}

impl From<tasksync_store::StoreError> for AuthError {
    fn from(e: tasksync_store::StoreError) -> Self {
        Self::internal(e)
    }
}

pub type AuthResult<T> = Result<T, AuthError>;
