//! `subscribe`: the limits an operation passes, the session it must still
//! belong to, and its start on the data API.

use serde_json::{Value, json};

use super::close::Close;
use super::context::Context;
use super::outbound::{Results, results};
use super::protocol::Payload;
use crate::auth::AuthUser;
use crate::graphql::Refusal;
use crate::graphql::error::{BAD_USER_INPUT, RATE_LIMITED};
use crate::rate_limit::Caller;

/// What becomes of a `subscribe`.
pub(super) enum Started {
    /// Running. `positioned`: see `graphql::Subscribed`.
    Running {
        results: Results,
        positioned: Option<tokio::sync::oneshot::Receiver<()>>,
    },
    /// Refused with this `error` message; the socket lives on.
    Refused(Value),
}

/// Starts operation `id` of `user` on a socket that runs `running`
/// operations already. Over a limit, the operation is refused with an
/// `error` message; on a session that has ended, the socket closes (4403).
pub(super) async fn start(
    ctx: &Context,
    user: AuthUser,
    id: &str,
    mut payload: Box<Payload>,
    running: usize,
) -> Result<Started, Close> {
    if running >= ctx.limits.max_subscriptions {
        let limit = ctx.limits.max_subscriptions;
        let error = json!({ "message": format!("at most {limit} subscriptions per socket"), "extensions": { "code": RATE_LIMITED } });
        return Ok(Started::Refused(
            json!({ "id": id, "type": "error", "payload": [error] }),
        ));
    }
    let caller = Caller::User(user.user_id);
    // As on HTTP: one root field is paid before the document is parsed, so
    // refused operations are not free, the rest once it is counted.
    let admitted = match ctx.api.rate().check(caller, 1) {
        Ok(()) => ctx.api.admit(Some(caller), vec![&mut *payload]).await,
        Err(wait) => Err(Refusal::RateLimited(wait)),
    };
    let refused = match admitted {
        Ok(()) => None,
        Err(Refusal::BadInput(message)) => Some((message, BAD_USER_INPUT)),
        Err(Refusal::RateLimited(wait)) => Some((
            format!(
                "too many requests: wait {} ms, then try again",
                wait.as_millis().max(1)
            ),
            RATE_LIMITED,
        )),
    };
    if let Some((message, code)) = refused {
        let error = json!({ "message": message, "extensions": { "code": code } });
        return Ok(Started::Refused(
            json!({ "id": id, "type": "error", "payload": [error] }),
        ));
    }
    // Every operation (within the limits) starts only on a live session: a
    // socket whose session just ended (signed out, password changed) runs
    // nothing more, whenever its close arrives.
    let active = ctx
        .store
        .session(user.session_id)
        .await
        .map_err(|_| Close::new(1011, "internal error"))?
        .is_some_and(|s| s.is_active(crate::clock::now_ms()));
    if !active {
        return Err(Close::new(4403, "Forbidden"));
    }
    match ctx.api.subscribe(user, payload).await {
        Ok(subscribed) => Ok(Started::Running {
            results: results(id, subscribed.events),
            positioned: subscribed.positioned,
        }),
        Err(errors) => Ok(Started::Refused(
            json!({ "id": id, "type": "error", "payload": errors }),
        )),
    }
}
