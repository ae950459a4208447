//! `/graphql`: `POST` runs queries and mutations, `GET` upgrades to the
//! WebSocket (or, in dev mode, serves GraphiQL).
//!
//! The handler is ours rather than async-graphql-axum's so that every
//! refusal (body size, bad token, batch size, bad JSON) answers in the
//! GraphQL error shape with a code, and so the limits are explicit. What
//! runs a request is `graphql::Api`; this file only reads the body, finds
//! the caller, charges it and frames the answer.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use crate::auth::{AuthError, bearer_token};
use crate::graphql::error::{self, BAD_USER_INPUT, UNAUTHENTICATED};
use crate::graphql::{BODY_BYTES_PER_UNIT, Refusal, graphiql};
use crate::rate_limit::Caller;
use crate::state::AppState;
use crate::ws::PROTOCOL;

fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, axum::Json(body)).into_response()
}

/// 429 `RATE_LIMITED`, with the seconds to wait in `Retry-After`.
fn rate_limited(wait: std::time::Duration) -> Response {
    let mut answer = refusal(
        StatusCode::TOO_MANY_REQUESTS,
        error::RATE_LIMITED,
        "too many requests: wait, then try again",
    );
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    if let Ok(value) = axum::http::HeaderValue::from_str(&seconds.to_string()) {
        answer.headers_mut().insert(header::RETRY_AFTER, value);
    }
    answer
}

/// `POST /graphql`
pub async fn post(
    State(state): State<AppState>,
    peer: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                BAD_USER_INPUT,
                "request body is too large",
            );
        }
        Err(_) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                BAD_USER_INPUT,
                "could not read the request body",
            );
        }
    };
    let user = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let token = value.to_str().ok().and_then(bearer_token);
            let verified = match token {
                Some(token) => state.auth.authenticate(token).await,
                None => Err(AuthError::NotAuthorized("no bearer token")),
            };
            match verified {
                Ok(user) => Some(user),
                Err(AuthError::Internal) => {
                    return refusal(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        error::INTERNAL,
                        "internal error",
                    );
                }
                Err(_) => {
                    let mut answer = refusal(
                        StatusCode::UNAUTHORIZED,
                        UNAUTHENTICATED,
                        "invalid or expired access token",
                    );
                    answer.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        axum::http::HeaderValue::from_static("Bearer"),
                    );
                    return answer;
                }
            }
        }
    };
    // Every request costs at least one root field, and one more per
    // `BODY_BYTES_PER_UNIT` of body, paid before its body is parsed: a
    // caller over the limit makes the server parse nothing, and requests
    // refused below (unparseable, too many selections or root fields) are
    // not free.
    let caller = match (&user, peer) {
        (Some(user), _) => Some(Caller::User(user.user_id)),
        (None, Some(axum::Extension(ConnectInfo(addr)))) => {
            Some(state.graphql.rate().anonymous(addr.ip(), &headers))
        }
        (None, None) => None,
    };
    let api = &state.graphql;
    if let Some(caller) = caller
        && let Err(wait) = api
            .rate()
            .check(caller, 1 + body.len() / BODY_BYTES_PER_UNIT)
    {
        return rate_limited(wait);
    }
    match api.execute(caller, user, &body).await {
        Ok(answer) => axum::Json(answer).into_response(),
        Err(Refusal::BadInput(message)) => {
            refusal(StatusCode::BAD_REQUEST, BAD_USER_INPUT, &message)
        }
        Err(Refusal::RateLimited(wait)) => rate_limited(wait),
    }
}

/// `GET /graphql`: the WebSocket upgrade, or in dev mode GraphiQL.
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: Result<
        axum::extract::WebSocketUpgrade,
        axum::extract::ws::rejection::WebSocketUpgradeRejection,
    >,
) -> Response {
    match ws {
        Ok(ws) => upgrade(state, &headers, ws),
        Err(_) if state.settings.dev => Html(graphiql()).into_response(),
        Err(_) => refusal(
            StatusCode::METHOD_NOT_ALLOWED,
            BAD_USER_INPUT,
            "GET /graphql is for WebSocket subscriptions (graphql-transport-ws); send queries with POST",
        ),
    }
}

/// Whether a browser page from `origin` may open a socket.
fn origin_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        // Not a browser (browsers always send Origin on WebSockets).
        return true;
    };
    let settings = &state.settings;
    if settings.dev {
        return true;
    }
    let origin = origin.trim_end_matches('/');
    settings
        .allowed_origins
        .iter()
        .any(|o| o.trim().trim_end_matches('/') == origin)
        || settings
            .public_url
            .as_ref()
            .is_some_and(|u| u.origin().ascii_serialization() == origin)
}

/// The upgrade: checks origin and subprotocol, sizes the buffers.
fn upgrade(state: AppState, headers: &HeaderMap, ws: WebSocketUpgrade) -> Response {
    if !origin_allowed(&state, headers) {
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let offered = ws
        .requested_protocols()
        .any(|p| p.to_str().is_ok_and(|p| p.trim() == PROTOCOL));
    if !offered {
        return (
            StatusCode::BAD_REQUEST,
            "use the graphql-transport-ws subprotocol",
        )
            .into_response();
    }
    let max = state.settings.ws_max_message_bytes;
    ws.protocols([PROTOCOL])
        .max_message_size(max)
        .max_frame_size(max)
        // Small buffers: an idle socket should cost a few KiB, not the
        // 128 KiB tungstenite reserves by default.
        .read_buffer_size(512)
        // Frames of a burst collect here and leave in one write at the flush.
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(4 * max)
        .on_upgrade(move |socket| async move {
            state
                .socket_runtime
                .spawn(crate::ws::serve(state.ws.clone(), socket));
        })
}
