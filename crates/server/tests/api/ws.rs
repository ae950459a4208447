//! Live subscriptions over real WebSockets: fan-out, isolation, close codes,
//! revocation and expiry, slow subscribers, and queries over the socket.

use std::time::Duration;

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{NEW_PASSWORD, PASSWORD, TestApp, email, spawn_app, spawn_with};
use crate::ws_client::{Event, WsClient, changes_q};

pub async fn create(app: &TestApp, token: &str, title: &str) -> Value {
    let q = "mutation($t: String!) { createTask(input: { title: $t }) { id title version } }";
    let a = app.gql(Some(token), q, json!({ "t": title })).await;
    assert!(a.body["errors"].is_null(), "{}", a.body);
    a.body["data"]["createTask"].clone()
}

#[tokio::test]
async fn a_change_reaches_every_socket_of_its_owner_and_no_one_else() {
    let app = spawn_app().await;
    let a = app.signed_in(&email("fan-a")).await;
    let b = app.signed_in(&email("fan-b")).await;
    let mut a1 = WsClient::ready(&app, &a.access).await;
    let mut a2 = WsClient::ready(&app, &a.access).await;
    let mut b1 = WsClient::ready(&app, &b.access).await;
    for c in [&mut a1, &mut a2, &mut b1] {
        c.subscribe("1", &changes_q(), json!({ "after": null }))
            .await;
        c.subscribe("2", "subscription { onCreateTask { id title } }", json!({}))
            .await;
    }
    // Subscriptions start when the server has read the subscribe message;
    // a round trip on the same socket proves it has.
    for c in [&mut a1, &mut a2, &mut b1] {
        c.round_trip().await;
    }

    let task = create(&app, &a.access, "for A's eyes").await;
    for c in [&mut a1, &mut a2] {
        let mut got = Vec::new();
        for _ in 0..2 {
            let v = c.json().await;
            got.push((
                v["id"].as_str().unwrap_or("").to_owned(),
                v["payload"]["data"].clone(),
            ));
        }
        got.sort_by(|x, y| x.0.cmp(&y.0));
        let change = &got[0].1["taskChanges"];
        assert_eq!(
            (change["op"].as_str(), &change["task"]["id"]),
            (Some("CREATE"), &task["id"])
        );
        assert!(
            change["cursor"]
                .as_str()
                .is_some_and(|s| s.starts_with("c1"))
        );
        assert_eq!(got[1].1["onCreateTask"]["title"], "for A's eyes");
    }
    let own = create(&app, &b.access, "B's own").await;
    for _ in 0..2 {
        let v = b1.json().await;
        let data = &v["payload"]["data"];
        let id = data["taskChanges"]["task"]["id"]
            .as_str()
            .or(data["onCreateTask"]["id"].as_str());
        assert_eq!(
            id,
            own["id"].as_str(),
            "B's first events are about its own task, never A's: {v}"
        );
    }
}

#[tokio::test]
async fn each_kind_of_subscription_gets_only_its_kind() {
    let app = spawn_app().await;
    let t = app.signed_in(&email("kinds")).await;
    let mut c = WsClient::ready(&app, &t.access).await;
    c.subscribe(
        "c",
        "subscription { onCreateTask { id version } }",
        json!({}),
    )
    .await;
    c.subscribe(
        "u",
        "subscription { onUpdateTask { id version done } }",
        json!({}),
    )
    .await;
    c.subscribe(
        "d",
        "subscription { onDeleteTask { id version deleted } }",
        json!({}),
    )
    .await;
    c.round_trip().await;

    let task = create(&app, &t.access, "kinds").await;
    let id = task["id"].clone();
    app.gql(
        Some(&t.access),
        "mutation($id: ID!) { updateTask(input: { id: $id, done: true }) { id } }",
        json!({ "id": id }),
    )
    .await;
    app.gql(
        Some(&t.access),
        "mutation($id: ID!) { deleteTask(input: { id: $id }) { id } }",
        json!({ "id": id }),
    )
    .await;
    let c1 = c.next_data("c").await;
    let u = c.next_data("u").await;
    let d = c.next_data("d").await;
    assert_eq!(c1["onCreateTask"]["version"], 1);
    assert_eq!(
        (
            u["onUpdateTask"]["version"].as_i64(),
            u["onUpdateTask"]["done"].as_bool()
        ),
        (Some(2), Some(true))
    );
    assert_eq!(
        (
            d["onDeleteTask"]["version"].as_i64(),
            d["onDeleteTask"]["deleted"].as_bool()
        ),
        (Some(3), Some(true))
    );
}

#[tokio::test]
async fn queries_and_mutations_work_over_the_socket_and_complete() {
    let app = spawn_app().await;
    let t = app.signed_in(&email("ws-query")).await;
    let mut c = WsClient::ready(&app, &t.access).await;
    c.subscribe(
        "m",
        "mutation { createTask(input: { title: \"over ws\" }) { title version } }",
        json!({}),
    )
    .await;
    assert_eq!(c.next_data("m").await["createTask"]["title"], "over ws");
    assert_eq!(c.json().await, json!({ "id": "m", "type": "complete" }));
    c.subscribe("q", "{ tasks { items { title } } }", json!({}))
        .await;
    assert_eq!(
        c.next_data("q").await["tasks"]["items"][0]["title"],
        "over ws"
    );
    assert_eq!(c.json().await["type"], "complete");
    c.subscribe(
        "bad",
        "subscription { taskChanges(after: \"c1nope\") { op } }",
        json!({}),
    )
    .await;
    let err = c.json().await;
    assert_eq!(
        (err["type"].as_str(), err["id"].as_str()),
        (Some("error"), Some("bad")),
        "{err}"
    );
    assert_eq!(err["payload"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

#[tokio::test]
async fn protocol_violations_close_the_socket_with_the_documented_codes() {
    let app = spawn_with(|s| {
        s.ws_init_timeout = Duration::from_millis(300);
        s.max_sockets_per_user = 2;
        s.ws_max_subscriptions = 2;
    })
    .await;
    let t = app.signed_in(&email("codes")).await;

    let mut silent = WsClient::connect(&app).await;
    assert_eq!(silent.closed().await.0, 4408, "no connection_init in time");

    let mut twice = WsClient::ready(&app, &t.access).await;
    twice.init(&t.access).await;
    assert_eq!(twice.closed().await.0, 4429, "a second connection_init");

    let mut early = WsClient::connect(&app).await;
    early.subscribe("1", &changes_q(), json!({})).await;
    assert_eq!(early.closed().await.0, 4401, "subscribe before the ack");

    let mut dup = WsClient::ready(&app, &t.access).await;
    dup.subscribe("same", &changes_q(), json!({})).await;
    dup.subscribe("same", &changes_q(), json!({})).await;
    assert_eq!(dup.closed().await.0, 4409, "a duplicate subscription id");

    for (name, message) in [
        ("text that is not JSON", Message::Text("hello".into())),
        (
            "an unknown message type",
            Message::Text(r#"{"type":"launch_missiles"}"#.into()),
        ),
        (
            "a subscribe without an id",
            Message::Text(
                r#"{"type":"subscribe","payload":{"query":"{ tasks { items { id } } }"}}"#.into(),
            ),
        ),
        ("a binary message", Message::Binary(vec![1, 2, 3].into())),
    ] {
        let mut c = WsClient::ready(&app, &t.access).await;
        c.send_raw(message).await;
        assert_eq!(c.closed().await.0, 4400, "{name}");
    }

    for (name, token) in [("an ID token", t.id.as_str()), ("garbage", "nope")] {
        let mut c = WsClient::connect(&app).await;
        c.init(token).await;
        assert_eq!(c.closed().await.0, 4403, "{name}");
    }
    let mut no_payload = WsClient::connect(&app).await;
    no_payload.send(json!({ "type": "connection_init" })).await;
    assert_eq!(
        no_payload.closed().await.0,
        4403,
        "connection_init without a token"
    );

    // At most two subscriptions per socket here: the third is refused, the
    // socket stays.
    let mut many = WsClient::ready(&app, &t.access).await;
    many.subscribe("1", &changes_q(), json!({})).await;
    many.subscribe("2", &changes_q(), json!({})).await;
    many.subscribe("3", &changes_q(), json!({})).await;
    let refused = many.json().await;
    assert_eq!(
        (refused["type"].as_str(), refused["id"].as_str()),
        (Some("error"), Some("3"))
    );
    assert_eq!(refused["payload"][0]["extensions"]["code"], "RATE_LIMITED");

    // Two sockets per user are live now (`twice`… were closed): `many` and
    // one more; the one after that is refused.
    let _second = WsClient::ready(&app, &t.access).await;
    let mut third = WsClient::connect(&app).await;
    third.init(&t.access).await;
    let (code, reason) = third.closed().await;
    assert_eq!(
        (code, reason.as_str()),
        (4429, "Too many sockets for this user")
    );

    let oversized = "x".repeat(70 * 1024);
    let mut big = WsClient::connect(&app).await;
    big.send(json!({ "type": "ping", "payload": { "pad": oversized } }))
        .await;
    assert_eq!(big.closed().await.0, 1009, "messages over 64 KiB");
}

#[tokio::test]
async fn the_upgrade_needs_the_subprotocol_and_an_allowed_origin() {
    let app = spawn_with(|s| {
        s.dev = false;
        s.smtp_url = Some(secrecy::SecretString::from("smtp://127.0.0.1:9"));
        s.allowed_origins = vec!["https://app.example.com".into()];
    })
    .await;
    let no_protocol = WsClient::connect_with(&app, &[]).await.err();
    assert_eq!(no_protocol, Some(400));
    let proto = ("sec-websocket-protocol", "graphql-transport-ws");
    let evil = WsClient::connect_with(&app, &[proto, ("origin", "https://evil.example.net")])
        .await
        .err();
    assert_eq!(evil, Some(403));
    assert!(
        WsClient::connect_with(&app, &[proto, ("origin", "https://app.example.com")])
            .await
            .is_ok()
    );
    assert!(
        WsClient::connect_with(&app, &[proto]).await.is_ok(),
        "non-browser clients send no Origin"
    );
}

#[tokio::test]
async fn revoking_a_session_closes_its_sockets() {
    let app = spawn_app().await;
    let addr = email("revoke");
    let t1 = app.signed_in(&addr).await;
    let t2 = app.tokens(&addr, PASSWORD).await;
    let t3 = app.tokens(&addr, PASSWORD).await;
    let other = app.signed_in(&email("bystander")).await;
    let mut s1 = WsClient::ready(&app, &t1.access).await;
    let mut s2 = WsClient::ready(&app, &t2.access).await;
    let mut s3 = WsClient::ready(&app, &t3.access).await;
    let mut bystander = WsClient::ready(&app, &other.access).await;

    // A password change ends the other sessions (and their sockets).
    let changed = app
        .post_bearer(
            "/auth/change-password",
            &t3.access,
            json!({ "oldPassword": PASSWORD, "newPassword": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(changed.status, reqwest::StatusCode::OK);
    assert_eq!(s1.closed().await, (4403, "session revoked".to_owned()));
    assert_eq!(s2.closed().await.0, 4403);

    // Refresh-token reuse revokes the session that was reused.
    let t4 = app.tokens(&addr, NEW_PASSWORD).await;
    let mut s4 = WsClient::ready(&app, &t4.access).await;
    app.post("/auth/refresh", json!({ "refreshToken": t4.refresh }))
        .await;
    app.post("/auth/refresh", json!({ "refreshToken": t4.refresh }))
        .await;
    assert_eq!(
        s4.closed().await.0,
        4403,
        "reuse revokes the session and closes its socket"
    );

    // Global sign-out ends the rest.
    app.post(
        "/auth/sign-out",
        json!({ "refreshToken": t3.refresh, "global": true }),
    )
    .await;
    assert_eq!(s3.closed().await.0, 4403, "global sign-out");

    bystander.send(json!({ "type": "ping" })).await;
    assert_eq!(
        bystander.json().await["type"],
        "pong",
        "other users' sockets stay open"
    );
}

#[tokio::test]
async fn a_socket_closes_when_its_access_token_expires() {
    let app = spawn_with(|s| s.access_token_ttl = Duration::from_secs(2)).await;
    let t = app.signed_in(&email("expiry")).await;
    let mut c = WsClient::ready(&app, &t.access).await;
    assert_eq!(c.closed().await, (4403, "access token expired".to_owned()));
}

#[tokio::test]
async fn shutting_down_closes_sockets_with_1012_service_restart() {
    let app = spawn_app().await;
    let t = app.signed_in(&email("shutdown")).await;
    let mut c = WsClient::ready(&app, &t.access).await;
    // Not yet authenticated: closed all the same.
    let mut fresh = WsClient::connect(&app).await;
    let _dir = app.stop().await;
    assert_eq!(c.closed().await, (1012, "service restart".to_owned()));
    assert_eq!(fresh.closed().await.0, 1012);
}

#[tokio::test]
async fn a_slow_subscriber_does_not_delay_a_fast_one_and_loses_nothing() {
    let app = spawn_with(|s| s.ws_live_buffer = 4).await;
    let t = app.signed_in(&email("slow")).await;
    let mut slow = WsClient::ready(&app, &t.access).await;
    let mut fast = WsClient::ready(&app, &t.access).await;
    for c in [&mut slow, &mut fast] {
        c.subscribe("s", &changes_q(), json!({ "after": null }))
            .await;
        c.round_trip().await;
    }
    // The slow client reads nothing while 400 changes are made; the fast one
    // must see all of them meanwhile.
    let total = 400;
    let writer = {
        let (base, token) = (app.base.clone(), t.access.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 0..total {
                let body = json!({ "query": "mutation($t: String!) { createTask(input: { title: $t }) { id } }", "variables": { "t": format!("#{i} {}", "x".repeat(200)) } });
                let r = client
                    .post(format!("{base}/graphql"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .expect("write");
                assert!(r.status().is_success());
            }
        })
    };
    let mut last = None;
    for i in 0..total {
        let d = fast.next_data("s").await;
        let title = d["taskChanges"]["task"]["title"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        assert!(
            title.starts_with(&format!("#{i} ")),
            "fast subscriber: change {i} in order, got {title}"
        );
        last = d["taskChanges"]["cursor"].as_str().map(str::to_owned);
    }
    writer.await.expect("writer");
    for i in 0..total {
        let d = slow.next_data("s").await;
        let title = d["taskChanges"]["task"]["title"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        assert!(
            title.starts_with(&format!("#{i} ")),
            "slow subscriber: change {i} in order, got {title}"
        );
        if i == total - 1 {
            assert_eq!(d["taskChanges"]["cursor"].as_str().map(str::to_owned), last);
        }
    }
    match tokio::time::timeout(Duration::from_millis(300), slow.event()).await {
        Err(_) => {}
        Ok(Event::Json(v)) => panic!("nothing more may arrive, got {v}"),
        Ok(Event::Closed(code, r)) => panic!("socket closed {code} {r}"),
    }
}

#[tokio::test]
async fn the_fast_path_and_the_executor_deliver_identical_messages() {
    let app = spawn_app().await;
    let t = app.signed_in(&email("paths")).await;
    let mut c = WsClient::ready(&app, &t.access).await;
    let all = "__typename id title description done owner createdAt updatedAt version deleted";
    // Plain documents take the fast path; the same selections through a
    // fragment take the executor.
    let pairs = [
        (
            format!("subscription {{ taskChanges {{ __typename op cursor task {{ {all} }} }} }}"),
            format!("subscription {{ taskChanges {{ ...C }} }} fragment C on TaskChange {{ __typename op cursor task {{ {all} }} }}"),
        ),
        (
            "subscription { x: onUpdateTask { t: title v: version d: description } }".to_owned(),
            "subscription { x: onUpdateTask { ...T } } fragment T on Task { t: title v: version d: description }".to_owned(),
        ),
    ];
    for (i, (fast, slow)) in pairs.iter().enumerate() {
        c.subscribe(&format!("fast{i}"), fast, json!({})).await;
        c.subscribe(&format!("slow{i}"), slow, json!({})).await;
    }
    c.round_trip().await;

    let task = create(&app, &t.access, "quote \" and \\ and <b>é</b> 😀").await;
    let upd = "mutation($id: ID!) { updateTask(input: { id: $id, description: \"line\\nbreak\", done: true }) { id } }";
    app.gql(Some(&t.access), upd, json!({ "id": task["id"] }))
        .await;
    let mut got: std::collections::HashMap<String, Vec<Value>> = std::collections::HashMap::new();
    for _ in 0..6 {
        let v = c.json().await;
        let id = v["id"].as_str().expect("id").to_owned();
        got.entry(id).or_default().push(v["payload"].clone());
    }
    assert_eq!(
        got["fast0"], got["slow0"],
        "taskChanges: the same payloads on both paths"
    );
    assert_eq!(
        got["fast1"], got["slow1"],
        "onUpdateTask: the same payloads on both paths"
    );
    assert_eq!(got["fast0"].len(), 2);
    assert_eq!(got["fast1"][0]["data"]["x"]["d"], "line\nbreak");
}

#[tokio::test]
async fn without_the_fast_path_subscriptions_still_deliver_everything() {
    let app = spawn_with(|s| s.ws_fast_path = false).await;
    let t = app.signed_in(&email("slowpath")).await;
    let mut c = WsClient::ready(&app, &t.access).await;
    c.subscribe("s", &changes_q(), json!({ "after": null }))
        .await;
    c.round_trip().await;
    for i in 0..5 {
        create(&app, &t.access, &format!("#{i}")).await;
    }
    for i in 0..5 {
        assert_eq!(
            c.next_data("s").await["taskChanges"]["task"]["title"],
            format!("#{i}")
        );
    }
}

#[tokio::test]
async fn a_client_close_is_answered_with_a_close_frame() {
    let app = spawn_app().await;
    let t = app.signed_in(&email("bye")).await;
    let mut c = WsClient::ready(&app, &t.access).await;
    c.subscribe("s", &changes_q(), json!({ "after": null }))
        .await;
    assert_eq!(
        c.close_and_wait(1000).await.0,
        1000,
        "the close handshake completes (not 1006)"
    );
}

#[tokio::test]
async fn disabling_an_account_from_the_admin_command_closes_its_sockets() {
    let app = spawn_app().await;
    let addr = email("disabled");
    let t = app.signed_in(&addr).await;
    let mut c = WsClient::ready(&app, &t.access).await;
    // The admin command opens its own connection to the database, as the
    // `tasksync users disable` process does; the server learns of the
    // revocation only from the database.
    let db = app.state.settings.database.clone();
    tasksync_server::admin::users(
        &db,
        &tasksync_server::config::UsersCommand::Disable { email: addr },
    )
    .await
    .expect("disable");
    assert_eq!(c.closed().await, (4403, "session revoked".to_owned()));
}
