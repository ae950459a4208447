//! The authenticated principal and the bearer scheme it arrives in.
//!
//! [`AuthService::authenticate`](super::AuthService::authenticate) makes an
//! [`AuthUser`] from a verified access token; the HTTP extractor, the
//! `/graphql` handler and the socket's `connection_init` all find the token
//! with [`bearer_token`].

use tasksync_core::{SessionId, UserId};

/// The caller of an endpoint that needs a bearer access token: its token
/// was verified and its session was still active.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    pub user_id: UserId,
    pub session_id: SessionId,
    /// When the access token expires (epoch seconds): live sockets close then.
    pub expires_at: u64,
}

/// The token of an `Authorization: Bearer <token>` value (scheme is case-insensitive).
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn bearer_values_parse() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }
}
