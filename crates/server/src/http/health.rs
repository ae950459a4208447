//! Operations endpoints: health and metrics.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

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

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        s.metrics.render(),
    )
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
