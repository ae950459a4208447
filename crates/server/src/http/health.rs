//! Operations endpoints: health and metrics.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret as _;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::state::AppState;

/// `GET /healthz`: 200 when the database answers, 503 otherwise.
pub async fn healthz(State(s): State<AppState>) -> impl IntoResponse {
    match s.store.ping().await {
        Ok(()) => (StatusCode::OK, axum::Json(json!({ "status": "ok" }))),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({ "status": "unavailable" })),
            )
        }
    }
}

/// `GET /metrics`: Prometheus text format, for the bearer of
/// `TASKSYNC_METRICS_TOKEN` (anyone in dev mode when it is not set).
pub async fn metrics(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let allowed = match &s.settings.metrics_token {
        Some(token) => headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::auth::bearer_token)
            // Compared as digests: equal lengths, no early exit on the secret.
            .is_some_and(|given| {
                Sha256::digest(given.as_bytes()) == Sha256::digest(token.expose_secret().as_bytes())
            }),
        None => s.settings.dev,
    };
    if !allowed {
        let reason = if s.settings.metrics_token.is_some() {
            "metrics need Authorization: Bearer <TASKSYNC_METRICS_TOKEN>"
        } else {
            "set TASKSYNC_METRICS_TOKEN to scrape metrics outside dev mode"
        };
        return crate::http::error::ApiError::new(StatusCode::FORBIDDEN, "Forbidden", reason)
            .into_response();
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

/// `GET /dev/mailbox`: the dev mailbox as JSON, newest last (dev mode only).
pub async fn dev_mailbox(State(s): State<AppState>) -> impl IntoResponse {
    let messages = s
        .dev_mailbox
        .as_ref()
        .map(|m| m.messages())
        .unwrap_or_default();
    axum::Json(messages)
}
