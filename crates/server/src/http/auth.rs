//! HTTP handlers of `/auth/*` and the `.well-known` documents. Thin: they
//! decode, call [`AuthService`](crate::auth::AuthService) and encode; its
//! errors become REST errors through `From<AuthError> for ApiError`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiResult;
use super::extract::Json;
use crate::auth::AuthUser;
use crate::state::AppState;

// The request bodies carry passwords, codes and refresh tokens: they are
// deliberately not `Debug`, so no log line can print them.

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
}

#[derive(Deserialize)]
struct EmailCode {
    email: String,
    code: String,
    /// Required only once the address was signed up more than once.
    password: Option<String>,
}

#[derive(Deserialize)]
struct EmailOnly {
    email: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefreshBody {
    refresh_token: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignOutBody {
    refresh_token: String,
    #[serde(default)]
    global: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResetBody {
    email: String,
    code: String,
    new_password: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChangeBody {
    old_password: String,
    new_password: String,
}

/// The `/auth` routes (rate limited by the caller of this function).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sign-up", post(sign_up))
        .route("/confirm-sign-up", post(confirm_sign_up))
        .route("/resend-code", post(resend_code))
        .route("/sign-in", post(sign_in))
        .route("/refresh", post(refresh))
        .route("/sign-out", post(sign_out))
        .route("/forgot-password", post(forgot_password))
        .route("/confirm-forgot-password", post(confirm_forgot_password))
        .route("/change-password", post(change_password))
        .route("/me", get(me))
}

fn ok() -> Json<serde_json::Value> {
    Json(json!({ "ok": true }))
}

async fn sign_up(
    State(s): State<AppState>,
    Json(b): Json<Credentials>,
) -> ApiResult<impl IntoResponse> {
    let answer = s.auth.sign_up(&b.email, &b.password).await?;
    Ok((StatusCode::CREATED, Json(answer)))
}

async fn confirm_sign_up(
    State(s): State<AppState>,
    Json(b): Json<EmailCode>,
) -> ApiResult<impl IntoResponse> {
    s.auth
        .confirm_sign_up(&b.email, &b.code, b.password.as_deref())
        .await?;
    Ok(Json(json!({ "confirmed": true })))
}

async fn resend_code(
    State(s): State<AppState>,
    Json(b): Json<EmailOnly>,
) -> ApiResult<impl IntoResponse> {
    s.auth.resend_code(&b.email).await?;
    Ok(ok())
}

async fn sign_in(
    State(s): State<AppState>,
    Json(b): Json<Credentials>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.auth.sign_in(&b.email, &b.password).await?))
}

async fn refresh(
    State(s): State<AppState>,
    Json(b): Json<RefreshBody>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.auth.refresh(&b.refresh_token).await?))
}

async fn sign_out(
    State(s): State<AppState>,
    Json(b): Json<SignOutBody>,
) -> ApiResult<impl IntoResponse> {
    s.auth.sign_out(&b.refresh_token, b.global).await?;
    Ok(ok())
}

async fn forgot_password(
    State(s): State<AppState>,
    Json(b): Json<EmailOnly>,
) -> ApiResult<impl IntoResponse> {
    s.auth.forgot_password(&b.email).await?;
    Ok(ok())
}

async fn confirm_forgot_password(
    State(s): State<AppState>,
    Json(b): Json<ResetBody>,
) -> ApiResult<impl IntoResponse> {
    s.auth
        .confirm_forgot_password(&b.email, &b.code, &b.new_password)
        .await?;
    Ok(ok())
}

async fn change_password(
    State(s): State<AppState>,
    caller: AuthUser,
    Json(b): Json<ChangeBody>,
) -> ApiResult<impl IntoResponse> {
    s.auth
        .change_password(caller, &b.old_password, &b.new_password)
        .await?;
    Ok(ok())
}

async fn me(State(s): State<AppState>, caller: AuthUser) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.auth.me(caller).await?))
}

/// `GET /.well-known/jwks.json`
pub async fn jwks(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(axum::http::header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(s.auth.tokens().jwks().await),
    )
}

/// `GET /.well-known/openid-configuration`
pub async fn openid_configuration(State(s): State<AppState>) -> impl IntoResponse {
    let issuer = s.auth.tokens().issuer();
    axum::Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "userinfo_endpoint": format!("{issuer}/auth/me"),
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "token_endpoint_auth_methods_supported": ["none"],
        "claims_supported": ["iss", "aud", "sub", "exp", "iat", "jti", "sid", "token_use", "email", "email_verified"],
    }))
}
