//! Operations endpoints: health, readiness and metrics.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret as _;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::build_info::{COMMIT, VERSION};
use crate::state::AppState;

/// `GET /healthz`: alive. 200 when the database answers, 503 otherwise;
/// either way with the version and commit of this build, so a deploy can
/// tell which build answers. It stays 200 while the node drains.
pub async fn healthz(State(s): State<AppState>) -> impl IntoResponse {
    let status = match s.store.ping().await {
        Ok(()) => StatusCode::OK,
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    let text = if status == StatusCode::OK {
        "ok"
    } else {
        "unavailable"
    };
    (
        status,
        axum::Json(json!({ "status": text, "version": VERSION, "commit": COMMIT })),
    )
}

/// `GET /readyz`: ready for traffic. 503 `draining` from the moment a
/// shutdown begins (the node still serves for the drain delay, so a load
/// balancer can stop sending it anything new), 503 `unavailable` when the
/// database does not answer, else 200 `ready`.
pub async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    let unavailable = |status: &str| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": status })),
        )
    };
    if s.draining.is_draining() {
        return unavailable("draining");
    }
    match s.store.ping().await {
        Ok(()) => (StatusCode::OK, axum::Json(json!({ "status": "ready" }))),
        Err(e) => {
            tracing::error!(error = %e, "readiness check: database unreachable");
            unavailable("unavailable")
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
