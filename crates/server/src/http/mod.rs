//! The HTTP surface: the router and its middleware (metrics, CORS,
//! security headers, the `/auth/*` rate limit), every handler (`auth.rs`,
//! `graphql.rs` with the WebSocket upgrade, `health.rs`, `web.rs`), the one
//! mapping of failures to answers (`error.rs`), the extractors and the
//! connection loop (`serve.rs`). The handlers are thin: they decode, call
//! `auth`, `graphql` or `ws`, and encode.

pub mod auth;
pub mod error;
pub mod extract;
pub mod graphql;
pub mod health;
pub mod serve;
pub mod web;

use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::rate_limit::IpRateLimit;
use crate::state::AppState;
use error::ApiError;

/// The whole application router.
pub fn router(state: AppState, auth_limit: IpRateLimit) -> Router {
    let auth_routes = auth::router()
        .layer(middleware::from_fn_with_state(auth_limit, limit_addresses))
        // Token answers (and every other /auth answer) are never cached.
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    let mut app = Router::new()
        .nest("/auth", auth_routes)
        .route("/.well-known/jwks.json", get(auth::jwks))
        .route(
            "/.well-known/openid-configuration",
            get(auth::openid_configuration),
        )
        .route("/graphql", graphql_route())
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics));
    if state.settings.dev && state.dev_mailbox.is_some() {
        app = app.route("/dev/mailbox", get(health::dev_mailbox));
    }
    let cors = cors(&state);
    app.fallback(web::fallback)
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "this path does not accept that method",
            )
        })
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        // A body that trickles in is cut off (408) rather than held open.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            state.settings.http_body_timeout,
        ))
        .layer(middleware::from_fn(record_metrics))
        .layer(middleware::from_fn_with_state(
            state.draining.clone(),
            close_when_draining,
        ))
        .layer(cors)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            content_security_policy(state.settings.dev),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// The web app loads only its own scripts, styles and connections and is
/// never framed. Dev mode only forbids framing: GraphiQL loads its scripts
/// and styles from a CDN, inline.
fn content_security_policy(dev: bool) -> HeaderValue {
    HeaderValue::from_static(if dev {
        "frame-ancestors 'none'"
    } else {
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    })
}

/// `POST /graphql` for queries and mutations; `GET /graphql` for the
/// WebSocket (and GraphiQL in dev mode).
fn graphql_route() -> axum::routing::MethodRouter<AppState> {
    axum::routing::post(graphql::post).get(graphql::get)
}

fn cors(state: &AppState) -> CorsLayer {
    let settings = &state.settings;
    let origin = if settings.dev {
        AllowOrigin::mirror_request()
    } else {
        let mut origins: Vec<HeaderValue> = settings
            .allowed_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o.trim().trim_end_matches('/')).ok())
            .collect();
        if let Some(url) = &settings.public_url
            && let Ok(v) = HeaderValue::from_str(&url.origin().ascii_serialization())
        {
            origins.push(v);
        }
        AllowOrigin::list(origins)
    };
    CorsLayer::new()
        .allow_origin(origin)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::RETRY_AFTER])
        .max_age(std::time::Duration::from_secs(600))
}

/// Counts requests and their latency by method, route and status. The route
/// is the matched pattern, never the raw path, so label sets stay bounded.
async fn record_metrics(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("tasksync_http_requests_total", &labels).increment(1);
    metrics::histogram!("tasksync_http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    response.into_response()
}

/// While the node drains, answers end their connection (`Connection:
/// close`), so that a proxy's kept-alive connections are gone before the
/// node stops accepting, instead of being cut under a request. Upgrades
/// (WebSockets) keep theirs.
async fn close_when_draining(
    State(draining): State<crate::state::Draining>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    if draining.is_draining() && response.status() != axum::http::StatusCode::SWITCHING_PROTOCOLS {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Middleware of `/auth/*`: refuses requests of an address that is over
/// its limit (429 `TooManyRequests` with `Retry-After`).
async fn limit_addresses(
    State(limit): State<IpRateLimit>,
    request: Request,
    next: Next,
) -> Response {
    let ip = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|ConnectInfo(addr)| limit.client_ip(addr.ip(), request.headers()));
    if let Some(ip) = ip
        && let Err(wait) = limit.check(ip)
    {
        metrics::counter!("tasksync_rate_limited_total").increment(1);
        return ApiError::too_many_requests(wait).into_response();
    }
    next.run(request).await
}
