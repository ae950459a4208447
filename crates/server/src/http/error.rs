//! The one place where failures become HTTP answers.
//!
//! Every REST error has the body `{"error": {"code", "message"}}`. Internal
//! errors are logged with their cause and answered with a fixed text, so no
//! SQL, path or stack trace ever reaches a client.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::AuthError;

/// An error answer of the REST API.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidParameter", message)
    }

    pub fn invalid_password(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidPassword", message)
    }

    /// Wrong credentials or a token that is not (or no longer) valid. The
    /// text never says which part was wrong.
    pub fn not_authorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "NotAuthorized", message)
    }

    pub fn too_many_requests(wait: Duration) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "too many requests; try again later",
        );
        e.retry_after = Some(wait);
        e
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFound", "no such resource")
    }

    /// Logs the cause and answers a generic 500.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal",
            "internal error",
        )
    }
}

/// Each account-flow error's status and code; the message is the error's
/// own text. Internal errors were logged where they happened.
impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let (status, code) = match &e {
            AuthError::InvalidParameter(_) => (StatusCode::BAD_REQUEST, "InvalidParameter"),
            AuthError::InvalidPassword(_) => (StatusCode::BAD_REQUEST, "InvalidPassword"),
            AuthError::NotAuthorized(_) => (StatusCode::UNAUTHORIZED, "NotAuthorized"),
            AuthError::CodeMismatch => (StatusCode::BAD_REQUEST, "CodeMismatch"),
            AuthError::PasswordRequired => (StatusCode::BAD_REQUEST, "PasswordRequired"),
            AuthError::PasswordMismatch => (StatusCode::BAD_REQUEST, "PasswordMismatch"),
            AuthError::UserDisabled => (StatusCode::FORBIDDEN, "UserDisabled"),
            AuthError::UserNotConfirmed => (StatusCode::FORBIDDEN, "UserNotConfirmed"),
            AuthError::IncorrectPassword => (StatusCode::BAD_REQUEST, "IncorrectPassword"),
            AuthError::LockedOut(wait) => return Self::too_many_requests(*wait),
            AuthError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "Internal"),
        };
        Self::new(status, code, e.to_string())
    }
}

impl From<tasksync_store::StoreError> for ApiError {
    fn from(e: tasksync_store::StoreError) -> Self {
        Self::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(wait) = self.retry_after {
            // Whole seconds, rounded up, at least 1: a client that waits this
            // long is allowed again.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
