//! Brute-force protection and request limits.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Answer, NEW_PASSWORD, PASSWORD, email, spawn_app, spawn_with};

fn retry_after(a: &Answer) -> u64 {
    a.headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After in {:?}", a.headers))
}

#[tokio::test]
async fn five_failed_sign_ins_lock_the_address_until_the_wait_is_over() {
    let app = spawn_app().await;
    let addr = email("locked");
    app.register(&addr).await;

    for i in 1..=5 {
        let a = app.sign_in(&addr, NEW_PASSWORD).await;
        assert_eq!(
            a.code(),
            "NotAuthorized",
            "failure {i} is an ordinary refusal"
        );
    }
    let locked = app.sign_in(&addr, PASSWORD).await;
    assert_eq!(
        (locked.status, locked.code()),
        (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests"),
        "even the right password waits"
    );
    let wait = retry_after(&locked);
    assert_eq!(wait, 1, "the fifth failure costs 2^0 = 1 s");

    tokio::time::sleep(Duration::from_millis(wait * 1000 + 100)).await;
    let released = app.sign_in(&addr, PASSWORD).await;
    assert_eq!(
        released.status,
        StatusCode::OK,
        "released after the wait: {:?}",
        released.body
    );
    let fresh = app.sign_in(&addr, NEW_PASSWORD).await;
    assert_eq!(fresh.code(), "NotAuthorized", "success resets the count");
}

#[tokio::test]
async fn the_wait_doubles_with_each_failure_after_the_fifth() {
    let app = spawn_app().await;
    let addr = email("double");
    app.register(&addr).await;
    for _ in 0..5 {
        app.sign_in(&addr, NEW_PASSWORD).await;
    }
    let first = retry_after(&app.sign_in(&addr, PASSWORD).await);
    tokio::time::sleep(Duration::from_millis(first * 1000 + 100)).await;
    let sixth = app.sign_in(&addr, NEW_PASSWORD).await;
    assert_eq!(
        sixth.code(),
        "NotAuthorized",
        "a try after the wait is judged"
    );
    let locked = app.sign_in(&addr, PASSWORD).await;
    assert_eq!(retry_after(&locked), 2, "the sixth failure costs 2 s");
    let throttle = app
        .state
        .store
        .throttle(&tasksync_core::Email::parse(&addr).expect("email"))
        .await
        .expect("db");
    assert_eq!(throttle.failures, 6, "failures are counted in the database");
}

#[tokio::test]
async fn unknown_addresses_are_locked_exactly_like_known_ones() {
    let app = spawn_app().await;
    let ghost = email("ghost");
    for _ in 0..5 {
        assert_eq!(app.sign_in(&ghost, PASSWORD).await.code(), "NotAuthorized");
    }
    let locked = app.sign_in(&ghost, PASSWORD).await;
    assert_eq!(
        (locked.status, locked.code()),
        (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests")
    );
    assert_eq!(retry_after(&locked), 1);
}

#[tokio::test]
async fn the_auth_endpoints_are_rate_limited_per_address_with_retry_after() {
    let app = spawn_with(|s| {
        s.auth_rate_per_minute = 2;
        s.auth_rate_burst = 2;
    })
    .await;
    let body = json!({ "email": email("rate") });
    for i in 1..=2 {
        let a = app.post("/auth/forgot-password", body.clone()).await;
        assert_eq!(a.status, StatusCode::OK, "request {i} is within the burst");
    }
    let limited = app.post("/auth/resend-code", body.clone()).await;
    assert_eq!(
        (limited.status, limited.code()),
        (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests")
    );
    let wait = retry_after(&limited);
    assert!(
        (1..=30).contains(&wait),
        "one request every 30 s: Retry-After {wait}"
    );
    assert_eq!(
        app.get("/healthz").await.status,
        StatusCode::OK,
        "only /auth is limited"
    );
    assert_eq!(
        app.get("/.well-known/jwks.json").await.status,
        StatusCode::OK
    );
}

/// Behind a trusted proxy each forwarded client has its own budget; a
/// forwarded address from an untrusted peer changes nothing.
#[tokio::test]
async fn behind_a_trusted_proxy_the_limit_is_per_forwarded_client() {
    let forgot = |app: &crate::helpers::TestApp, client: &str| {
        let request = app
            .client
            .post(app.url("/auth/forgot-password"))
            .header("x-forwarded-for", format!("203.0.113.77, {client}"))
            .json(&json!({ "email": "who@example.com" }));
        async move { request.send().await.expect("request").status() }
    };
    let app = spawn_with(|s| {
        s.auth_rate_per_minute = 1;
        s.auth_rate_burst = 1;
        s.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    })
    .await;
    assert_eq!(forgot(&app, "198.51.100.1").await, StatusCode::OK);
    assert_eq!(
        forgot(&app, "198.51.100.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        forgot(&app, "198.51.100.2").await,
        StatusCode::OK,
        "another client behind the same proxy has its own budget"
    );

    let untrusting = spawn_with(|s| {
        s.auth_rate_per_minute = 1;
        s.auth_rate_burst = 1;
    })
    .await;
    assert_eq!(forgot(&untrusting, "198.51.100.1").await, StatusCode::OK);
    assert_eq!(
        forgot(&untrusting, "198.51.100.2").await,
        StatusCode::TOO_MANY_REQUESTS,
        "X-Forwarded-For from an untrusted peer is ignored"
    );
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_with_413() {
    let app = spawn_with(|s| s.max_body_bytes = 4096).await;
    let big = json!({ "email": "a@example.com", "password": "p".repeat(8192) });
    let a = app.post("/auth/sign-in", big).await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge")
    );

    let default = spawn_app().await;
    let over_a_mebibyte = json!({ "email": "a@example.com", "password": "p".repeat(1024 * 1024) });
    let b = default.post("/auth/sign-up", over_a_mebibyte).await;
    assert_eq!(
        b.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "the default limit is 1 MiB"
    );
    assert!(
        default
            .state
            .store
            .list_users()
            .await
            .expect("list")
            .is_empty()
    );
}
