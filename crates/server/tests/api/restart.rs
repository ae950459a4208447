//! State that must survive a restart.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{email, spawn_app, start, test_settings};

#[tokio::test]
async fn tokens_signed_before_a_restart_still_verify_after_it() {
    let app = spawn_app().await;
    let t = app.signed_in(&email("restart")).await;
    let jwks_before = app.get("/.well-known/jwks.json").await.body;
    let public_url = app.state.settings.public_url.clone();
    let dir = app.stop().await;

    // A restarted server keeps its public URL (the issuer), not its port.
    let mut settings = test_settings(&dir);
    settings.public_url = public_url;
    let again = start(dir, settings).await;
    assert_eq!(
        again.get("/.well-known/jwks.json").await.body,
        jwks_before,
        "the same keys are loaded"
    );
    let me = again.me(&t.access).await;
    assert_eq!(
        me.status,
        StatusCode::OK,
        "an access token from before the restart: {:?}",
        me.body
    );
    let r = again
        .post("/auth/refresh", json!({ "refreshToken": t.refresh }))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "a refresh token from before the restart: {:?}",
        r.body
    );
}
