//! Health, metrics, errors of the HTTP surface and CORS.

use reqwest::StatusCode;

use crate::helpers::{email, spawn_app, spawn_with};

#[tokio::test]
async fn health_answers_ok_with_the_build_and_readiness_answers_ready() {
    let app = spawn_app().await;
    let a = app.get("/healthz").await;
    assert_eq!(
        (a.status, a.body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    assert_eq!(
        a.body["version"].as_str(),
        Some(tasksync_server::build_info::VERSION)
    );
    assert_eq!(
        a.body["commit"].as_str(),
        Some(tasksync_server::build_info::COMMIT)
    );
    let r = app.get("/readyz").await;
    assert_eq!(
        (r.status, r.body),
        (StatusCode::OK, serde_json::json!({ "status": "ready" }))
    );
    // A shutdown begun: not ready, still alive.
    app.state.draining.begin();
    let r = app.get("/readyz").await;
    assert_eq!(
        (r.status, r.body),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "status": "draining" })
        )
    );
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn metrics_are_served_in_prometheus_format() {
    let app = spawn_app().await;
    let t = app.signed_in(&email("metrics")).await;
    // A live subscriber and a write, for the socket and feed metrics.
    let mut ws = crate::ws_client::WsClient::ready(&app, &t.access).await;
    ws.subscribe(
        "s",
        &crate::ws_client::changes_q(),
        serde_json::json!({ "after": null }),
    )
    .await;
    ws.round_trip().await;
    crate::ws::create(&app, &t.access, "measured").await;
    ws.next_data("s").await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("text");
    for name in [
        "tasksync_http_requests_total",
        "tasksync_http_request_duration_seconds_bucket",
        "tasksync_sign_ins_total",
        r#"route="/auth/sign-in""#,
        "tasksync_ws_sockets",
        "tasksync_ws_subscriptions",
        "tasksync_subscriptions",
        "tasksync_write_batch_size",
        "tasksync_feed_lag_seconds_bucket",
        format!(
            r#"tasksync_build_info{{version="{}",commit="{}"}} 1"#,
            tasksync_server::build_info::VERSION,
            tasksync_server::build_info::COMMIT
        )
        .as_str(),
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
}

#[tokio::test]
async fn unknown_api_paths_and_methods_answer_in_the_error_shape_and_pages_get_the_app() {
    let app = spawn_app().await;
    for path in [
        "/auth/no-such-thing",
        "/graphql/x",
        "/.well-known/nope",
        "/assets/gone-123.js",
    ] {
        let a = app.get(path).await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::NOT_FOUND, "NotFound"),
            "{path}"
        );
    }
    let wrong_method = app.get("/auth/sign-in").await;
    assert_eq!(
        (wrong_method.status, wrong_method.code()),
        (StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed")
    );
    let post_page = app.post("/tasks", serde_json::json!({})).await;
    assert_eq!(post_page.status, StatusCode::NOT_FOUND);
    // A client-side route is a page of the web app (or, in a build without
    // it, a page that says how to build it).
    let page = app
        .client
        .get(app.url("/tasks"))
        .send()
        .await
        .expect("request");
    assert_eq!(page.status(), StatusCode::OK);
    let mime = page
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(mime.starts_with("text/html"), "{mime}");
}

#[tokio::test]
async fn cross_origin_requests_are_allowed_only_from_listed_origins_in_production() {
    let app = spawn_with(|s| {
        s.dev = false;
        s.smtp_url = Some(secrecy::SecretString::from("smtp://127.0.0.1:9"));
        s.allowed_origins = vec!["https://app.example.com".into()];
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/auth/sign-in"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let allowed = preflight("https://app.example.com").await.expect("request");
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.as_bytes()),
        Some(&b"https://app.example.com"[..])
    );
    let refused = preflight("https://evil.example.net")
        .await
        .expect("request");
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "unlisted origin gets no CORS grant"
    );
    assert_eq!(
        app.get("/dev/mailbox").await.status,
        StatusCode::NOT_FOUND,
        "no dev mailbox in production"
    );
}
