//! `connection_init`: the token in its payload, the session behind it,
//! and the socket's place in the registry.

use std::time::Duration;

use serde_json::Value;

use super::close::Close;
use super::context::Context;
use super::registry::Registration;
use crate::auth::{AuthUser, bearer_token};

/// An authenticated socket.
pub(super) struct Session {
    pub(super) user: AuthUser,
    pub(super) registration: Registration,
    /// When the access token expires: the socket closes then (4403).
    pub(super) expires: tokio::time::Instant,
}

/// Authenticates `connection_init`: 4403 for a missing, bad or expired
/// token or an ended session, 4429 when the user has all the sockets it
/// may have on this node.
pub(super) async fn authenticate(ctx: &Context, payload: Option<&Value>) -> Result<Session, Close> {
    let token = payload
        .and_then(|p| p.get("authorization").or_else(|| p.get("Authorization")))
        .and_then(Value::as_str)
        .and_then(bearer_token)
        .ok_or_else(|| Close::new(4403, "Forbidden"))?;
    let user = ctx
        .auth
        .authenticate(token)
        .await
        .map_err(|_| Close::new(4403, "Forbidden"))?;
    let registration = ctx
        .sockets
        .register(
            user.user_id,
            user.session_id,
            ctx.limits.max_sockets_per_user,
        )
        .ok_or_else(|| Close::new(4429, "Too many sockets for this user"))?;
    let remaining = user
        .expires_at
        .saturating_sub(crate::auth::tokens::now_secs());
    Ok(Session {
        user,
        registration,
        expires: tokio::time::Instant::now() + Duration::from_secs(remaining),
    })
}
