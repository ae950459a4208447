//! Cost amplification within the limits: root fields per request, the
//! weight of database fields in the complexity, and the per-user rate limit
//! of `/graphql` and WebSocket operations.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, email, spawn_app, spawn_with};
use crate::ws_client::WsClient;

/// `n` aliased root fields `syncTasks(limit: 1)`, the cheapest to send and
/// each a read of the database.
fn aliased_syncs(n: usize) -> String {
    let fields: String = (0..n)
        .map(|i| format!("s{i}: syncTasks(limit: 1) {{ cursor }} "))
        .collect();
    format!("{{ {fields}}}")
}

/// The user of `token` has no task: what was refused wrote nothing.
async fn assert_no_tasks(app: &TestApp, token: &str) {
    let none = app
        .gql(Some(token), "{ tasks { items { id } } }", json!({}))
        .await;
    assert_eq!(
        none.body["data"]["tasks"]["items"],
        json!([]),
        "{}",
        none.body
    );
}

fn message(a: &Value) -> &str {
    a["errors"][0]["message"].as_str().unwrap_or_default()
}

/// At most `TASKSYNC_GRAPHQL_MAX_ROOT_FIELDS` (50) root fields per request,
/// a batch's operations counted together, and per WebSocket operation;
/// `__typename` is free. Refusals are `BAD_USER_INPUT` and run nothing.
#[tokio::test]
async fn root_fields_beyond_the_cap_are_refused_per_request_and_per_socket_operation() {
    let app = spawn_app().await;
    let t = app.signed_in(&email("roots")).await;
    let ok = app
        .gql(Some(&t.access), &aliased_syncs(50), json!({}))
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(ok.body["errors"].is_null(), "{}", ok.body);
    assert_eq!(ok.body["data"].as_object().map(|o| o.len()), Some(50));

    let over = app
        .gql(Some(&t.access), &aliased_syncs(51), json!({}))
        .await;
    assert_eq!(over.status, StatusCode::BAD_REQUEST, "{}", over.body);
    assert_eq!(over.gql_code(), Some("BAD_USER_INPUT"));
    assert!(
        message(&over.body).contains("at most 50 root fields"),
        "{}",
        over.body
    );

    // Ten operations of six each: 60 in one request.
    let batch: Vec<Value> = (0..10)
        .map(|_| json!({ "query": aliased_syncs(6) }))
        .collect();
    let over = app.gql_raw(Some(&t.access), json!(batch)).await;
    assert_eq!(over.status, StatusCode::BAD_REQUEST, "{}", over.body);
    assert!(
        message(&over.body).contains("batches included"),
        "{}",
        over.body
    );

    // 5,000 creates in one request write nothing.
    let creates: String = (0..5000)
        .map(|i| format!("c{i}: createTask(input: {{ title: \"t\" }}) {{ id }} "))
        .collect();
    let over = app
        .gql(
            Some(&t.access),
            &format!("mutation {{ {creates}}}"),
            json!({}),
        )
        .await;
    assert_eq!(over.status, StatusCode::BAD_REQUEST, "{}", over.body);
    assert_no_tasks(&app, &t.access).await;

    let typenames: String = (0..200).map(|i| format!("t{i}: __typename ")).collect();
    let free = app
        .gql(Some(&t.access), &format!("{{ {typenames}}}"), json!({}))
        .await;
    assert_eq!(free.status, StatusCode::OK, "{}", free.body);

    let mut ws = WsClient::ready(&app, &t.access).await;
    ws.subscribe("big", &aliased_syncs(51), json!({})).await;
    let v = ws.json().await;
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["id"], "big", "{v}");
    assert_eq!(
        v["payload"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{v}"
    );
    ws.round_trip().await;
}

/// A field that reads or writes the database weighs 100 in the complexity:
/// with the root-field cap out of the way, 199 aliased creates exceed the
/// default complexity of 20,000 (199 × 101) and write nothing; 198 pass
/// (without the weight, 199 × 2 would be far within it).
#[tokio::test]
async fn database_fields_weigh_in_the_complexity() {
    let app = spawn_with(|s| {
        s.graphql_max_root_fields = 1000;
        s.api_rate_burst = 1000;
    })
    .await;
    let t = app.signed_in(&email("weights")).await;
    let creates = |n: usize| {
        let fields: String = (0..n)
            .map(|i| format!("c{i}: createTask(input: {{ title: \"t{i}\" }}) {{ id }} "))
            .collect();
        format!("mutation {{ {fields}}}")
    };
    let over = app.gql(Some(&t.access), &creates(199), json!({})).await;
    assert!(
        message(&over.body).to_lowercase().contains("complex"),
        "{}",
        over.body
    );
    assert_eq!(over.gql_code(), Some("BAD_USER_INPUT"), "{}", over.body);
    assert_no_tasks(&app, &t.access).await;
    let ok = app.gql(Some(&t.access), &creates(198), json!({})).await;
    assert!(ok.body["errors"].is_null(), "{}", ok.body);
    assert_eq!(ok.body["data"].as_object().map(|o| o.len()), Some(198));
}

/// Over its rate (`TASKSYNC_API_RATE_PER_SECOND`, in bursts of
/// `TASKSYNC_API_RATE_BURST` root fields), a user gets 429 `RATE_LIMITED`
/// with `Retry-After` over HTTP and an `error` for the operation over
/// WebSocket (the socket stays open); nothing runs, and other users and
/// anonymous callers have budgets of their own.
#[tokio::test]
async fn a_user_over_the_rate_limit_is_told_to_wait_and_others_are_not() {
    let app = spawn_with(|s| {
        s.api_rate_per_second = 1;
        s.api_rate_burst = 60;
    })
    .await;
    let a = app.signed_in(&email("greedy")).await;
    let b = app.signed_in(&email("other")).await;
    let ok = app
        .gql(Some(&a.access), &aliased_syncs(50), json!({}))
        .await;
    assert!(ok.body["errors"].is_null(), "{}", ok.body);
    let create = "mutation { createTask(input: { title: \"late\" }) { id } }";
    let mut ran = 0;
    let limited = loop {
        let r = app.gql(Some(&a.access), create, json!({})).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            break r;
        }
        assert!(r.body["errors"].is_null(), "{}", r.body);
        ran += 1;
        assert!(ran <= 11, "the burst of 60 is spent after 10 more");
    };
    assert_eq!(limited.gql_code(), Some("RATE_LIMITED"), "{}", limited.body);
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry), "Retry-After: {retry}");
    let listed = |app: &TestApp, token: String| {
        let app = crate::helpers::Http::new(app.base.clone());
        async move {
            app.gql(Some(&token), "{ tasks { items { title } } }", json!({}))
                .await
        }
    };
    // The other user is not limited, and the refused create wrote nothing.
    let theirs = listed(&app, b.access.clone()).await;
    assert!(theirs.body["errors"].is_null(), "{}", theirs.body);
    let anonymous = app.gql(None, "{ __typename }", json!({})).await;
    assert_eq!(anonymous.status, StatusCode::OK, "{}", anonymous.body);

    let mut ws = WsClient::ready(&app, &a.access).await;
    ws.subscribe("w", create, json!({})).await;
    let v = ws.json().await;
    assert_eq!(
        (v["type"].as_str(), v["id"].as_str()),
        (Some("error"), Some("w")),
        "{v}"
    );
    assert_eq!(v["payload"][0]["extensions"]["code"], "RATE_LIMITED", "{v}");
    ws.round_trip().await;

    // A second later there is budget for one more (and a second after
    // that, for the listing).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = app.gql(Some(&a.access), create, json!({})).await;
    assert!(r.body["errors"].is_null(), "{}", r.body);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mine = listed(&app, a.access.clone()).await;
    let titles = mine.body["data"]["tasks"]["items"]
        .as_array()
        .expect("items")
        .len();
    assert_eq!(titles, ran + 1, "refused operations wrote nothing");
}

/// One user sending the largest requests the limits allow, four at a time
/// and without pause, barely delays another user's queries: the limits
/// leave them a small share of the server. The figures are printed (run
/// with `--nocapture`); the assertion only catches a stall of a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_at_the_limits_does_not_stall_another_users_queries() {
    let app = spawn_app().await;
    let attacker = app.signed_in(&email("heavy")).await;
    let victim = app.signed_in(&email("victim")).await;
    for i in 0..20 {
        let q = format!("mutation {{ createTask(input: {{ title: \"v{i}\" }}) {{ id }} }}");
        app.gql(Some(&victim.access), &q, json!({})).await;
    }
    let victim_query = "{ tasks(limit: 20) { items { id title } } }";
    let latencies = |app: &TestApp, token: String| {
        let http = crate::helpers::Http::new(app.base.clone());
        async move {
            let mut took = Vec::new();
            for _ in 0..40 {
                let started = Instant::now();
                let r = http.gql(Some(&token), victim_query, json!({})).await;
                took.push(started.elapsed());
                assert!(r.body["errors"].is_null(), "{}", r.body);
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            took.sort();
            took
        }
    };
    let alone = latencies(&app, victim.access.clone()).await;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (mut served, mut limited) = (0u64, 0u64);
    let mut attackers = Vec::new();
    for _ in 0..4 {
        let (http, token, stop) = (
            crate::helpers::Http::new(app.base.clone()),
            attacker.access.clone(),
            stop.clone(),
        );
        attackers.push(tokio::spawn(async move {
            // Ten operations of five syncs: 50 root fields, the most a
            // request may hold.
            let batch: Vec<Value> = (0..10)
                .map(|_| json!({ "query": aliased_syncs(5) }))
                .collect();
            let (mut ok, mut refused) = (0u64, 0u64);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = http.gql_raw(Some(&token), json!(batch)).await;
                match r.status {
                    StatusCode::OK => ok += 1,
                    StatusCode::TOO_MANY_REQUESTS => refused += 1,
                    other => panic!("{other}: {}", r.body),
                }
            }
            (ok, refused)
        }));
    }
    let loaded = latencies(&app, victim.access.clone()).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for a in attackers {
        let (ok, refused) = a.await.expect("attacker");
        served += ok;
        limited += refused;
    }
    let p = |v: &[Duration], q: f64| v[((v.len() - 1) as f64 * q) as usize];
    eprintln!(
        "victim alone: p50 {:?} max {:?}; beside the heavy user: p50 {:?} p90 {:?} max {:?}; heavy user: {served} requests served, {limited} refused (429)",
        p(&alone, 0.5),
        p(&alone, 1.0),
        p(&loaded, 0.5),
        p(&loaded, 0.9),
        p(&loaded, 1.0),
    );
    assert!(limited > 0, "the heavy user reached the rate limit");
    assert!(
        p(&loaded, 1.0) < Duration::from_secs(1),
        "a query of the other user stalled: {loaded:?}"
    );
}

/// A query text over `TASKSYNC_GRAPHQL_MAX_QUERY_BYTES` is refused before
/// it is parsed, over HTTP and on a socket; one at the limit runs.
#[tokio::test]
async fn query_texts_over_the_byte_limit_are_refused_on_http_and_sockets() {
    let app = spawn_with(|s| s.graphql_max_query_bytes = 2048).await;
    let t = app.signed_in(&email("query-bytes")).await;
    let padded = |len: usize| {
        let q = "{ tasks { items { id } } }";
        format!("{q}{}", " ".repeat(len - q.len()))
    };
    let at = app.gql(Some(&t.access), &padded(2048), json!({})).await;
    assert!(at.body["errors"].is_null(), "{}", at.body);
    let over = app.gql(Some(&t.access), &padded(2049), json!({})).await;
    assert_eq!(over.status, StatusCode::BAD_REQUEST, "{}", over.body);
    assert_eq!(
        over.body["errors"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
    assert!(
        over.body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("2048 bytes")),
        "{}",
        over.body
    );
    let mut ws = WsClient::ready(&app, &t.access).await;
    ws.subscribe("q", &padded(2049), json!({})).await;
    let v = ws.json().await;
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(
        v["payload"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{v}"
    );
}

/// Pages bounded by `TASKSYNC_GRAPHQL_MAX_ANSWER_BYTES` hold fewer tasks
/// than `limit`, and following `nextToken` still yields every task once,
/// in `tasks` and in a full and a delta `syncTasks`.
#[tokio::test]
async fn pages_bounded_by_bytes_lose_no_task() {
    let app = spawn_with(|s| s.graphql_max_answer_bytes = 3000).await;
    let t = app.signed_in(&email("page-bytes")).await;
    let first = app
        .gql(Some(&t.access), "{ syncTasks { cursor } }", json!({}))
        .await;
    let cursor = first.body["data"]["syncTasks"]["cursor"].clone();
    let mut ids = Vec::new();
    for i in 0..7 {
        let r = app
            .gql(
                Some(&t.access),
                "mutation($d: String) { createTask(input: { title: \"t\", description: $d }) { id } }",
                json!({ "d": format!("{i}{}", "d".repeat(999)) }),
            )
            .await;
        ids.push(r.body["data"]["createTask"]["id"].clone());
    }
    ids.sort_by_key(|v| v.to_string());
    for (field, args) in [
        ("tasks", String::new()),
        ("syncTasks", String::new()),
        ("syncTasks", format!("lastSync: {cursor}, ")),
    ] {
        let (mut seen, mut next, mut pages) = (Vec::new(), Value::Null, 0);
        loop {
            let q = format!(
                "query($n: String) {{ {field}({args}limit: 100, nextToken: $n) {{ items {{ id }} nextToken }} }}"
            );
            let r = app.gql(Some(&t.access), &q, json!({ "n": next })).await;
            assert!(r.body["errors"].is_null(), "{}", r.body);
            let page = &r.body["data"][field];
            let items = page["items"].as_array().expect("items");
            assert!(
                items.len() <= 2,
                "{field}({args}): {} tasks of ~1.2 KB in 3,000 bytes",
                items.len()
            );
            seen.extend(items.iter().map(|i| i["id"].clone()));
            pages += 1;
            next = page["nextToken"].clone();
            if next.is_null() {
                break;
            }
        }
        seen.sort_by_key(|v| v.to_string());
        assert_eq!(seen, ids, "{field}({args})");
        assert!(pages >= 4, "{field}({args}): {pages} pages");
    }
}
