//! Security review of the cost-amplification limits and of the
//! pre-account-hijacking fix: each test is an attack tried against a real
//! server: defences that hold (or were fixed here) and must keep holding.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Http, PASSWORD, TestApp, email, spawn_app, spawn_with};
use crate::multinode::Node;
use crate::ws_client::WsClient;

/// What an attacker picks as the password of somebody else's address.
const ATTACKER: &str = "attacker picked this one";

/// Percentile `q` of sorted latencies.
fn pct(v: &[Duration], q: f64) -> Duration {
    v[((v.len() - 1) as f64 * q) as usize]
}

/// POSTs a raw JSON body to `/graphql`; `None` when no answer came (the
/// server is gone).
async fn post_raw(http: &Http, token: Option<&str>, body: String) -> Option<(StatusCode, Value)> {
    let mut request = http
        .client
        .post(http.url("/graphql"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.ok()?;
    let status = response.status();
    let bytes = response.bytes().await.ok()?;
    Some((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

/// The victim's query, `n` times with a pause between, sorted latencies.
async fn victim_latencies(http: &Http, token: &str, n: usize) -> Vec<Duration> {
    let mut took = Vec::new();
    for _ in 0..n {
        let started = Instant::now();
        let r = http
            .gql(Some(token), "{ tasks { items { id } } }", json!({}))
            .await;
        took.push(started.elapsed());
        assert!(r.body["errors"].is_null(), "{}", r.body);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    took.sort();
    took
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("tasksync.db").display())
}

// ---------------------------------------------------------------------------
// 1. Cost amplification
// ---------------------------------------------------------------------------

/// Deeply nested documents, sent by an anonymous caller within the body
/// limit: list and object values nest without bound in the GraphQL
/// grammar, and selection sets are only checked for depth after the
/// (recursive) grammar has run. The server must refuse them and stay up.
#[tokio::test]
async fn deeply_nested_documents_do_not_take_the_server_down() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start_with("deep", &sqlite_url(&dir), &[]);
    // Up to 6 bytes a level: within the 1 MiB body limit.
    let n = 150_000;
    let documents = [
        (
            "list value",
            format!("{{ __typename(x: {}1{}) }}", "[".repeat(n), "]".repeat(n)),
        ),
        (
            "object value",
            format!("{{ __typename(x: {}1{}) }}", "{a:".repeat(n), "}".repeat(n)),
        ),
        (
            "selection set",
            format!("{{ {}__typename{} }}", "a {".repeat(n), "}".repeat(n)),
        ),
        (
            "inline fragments",
            format!("{{ {}__typename{} }}", "... {".repeat(n), "}".repeat(n)),
        ),
    ];
    for (name, query) in documents {
        let started = Instant::now();
        let answer = post_raw(&node, None, json!({ "query": query }).to_string()).await;
        eprintln!(
            "{name}: {n} levels, {} bytes: {:?} in {:?}",
            query.len(),
            answer.as_ref().map(|a| a.0),
            started.elapsed()
        );
        let alive = post_raw(
            &node,
            None,
            json!({ "query": "{ __typename }" }).to_string(),
        )
        .await;
        assert!(
            alive.is_some_and(|(s, _)| s == StatusCode::OK),
            "the server died on a nested {name} (stack overflow?)"
        );
        let (status, body) = answer.expect("an answer");
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        eprintln!(
            "  {} bytes of message, ending {:?}",
            message.len(),
            &message[message.len().saturating_sub(60)..]
        );
        assert!(
            !status.is_server_error()
                && body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT",
            "{name}: {status} {}",
            body["errors"][0]
        );
    }
}

/// `n` aliased `__typename`: parses, but more selections than the limit.
fn too_many_selections(n: usize) -> String {
    let fields: String = (0..n).map(|i| format!("t{i}: __typename ")).collect();
    format!("{{ {fields}}}")
}

/// An unparseable document runs nothing but still costs 1 against the
/// caller's budget.
#[tokio::test]
async fn unparseable_documents_are_charged_against_the_rate_limit() {
    let app = spawn_with(|s| {
        s.api_rate_per_second = 1;
        s.api_rate_burst = 50;
    })
    .await;
    let t = app.signed_in(&email("unparseable")).await;
    assert!(
        over_budget(&app, &t.access, "{ tasks { items { id } }").await,
        "60 unparseable requests in a second against a budget of 50, never a 429"
    );
}

/// Sends `query` 60 times; whether any was refused with 429.
async fn over_budget(app: &Http, token: &str, query: &str) -> bool {
    for _ in 0..60 {
        let r = app.gql(Some(token), query, json!({})).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(r.gql_code(), Some("RATE_LIMITED"));
            return true;
        }
    }
    false
}

/// Requests refused for their selections or their root fields still cost
/// the server the body, the token check and the parse: they must count
/// against the caller's budget like any other request, or they are a
/// flood that no limit stops (anonymous callers included).
#[tokio::test]
async fn refused_documents_are_charged_against_the_rate_limit() {
    let app = spawn_with(|s| {
        s.api_rate_per_second = 1;
        s.api_rate_burst = 50;
    })
    .await;
    let roots: String = (0..51)
        .map(|i| format!("s{i}: syncTasks(limit: 1) {{ cursor }} "))
        .collect();
    for (name, query) in [
        ("over the selection limit", too_many_selections(1001)),
        ("over the root-field cap", format!("{{ {roots}}}")),
    ] {
        let t = app.signed_in(&email("refused")).await;
        assert!(
            over_budget(&app, &t.access, &query).await,
            "{name}: 60 requests in a second against a budget of 50, never a 429"
        );
    }
    let mut limited = false;
    for _ in 0..60 {
        let r = app.gql(None, &too_many_selections(1001), json!({})).await;
        limited |= r.status == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(limited, "anonymous: never a 429");
}

/// Eight anonymous clients sending, without pause, the largest document
/// the body limit allows (1 MiB of `__typename`, parsed, then refused for
/// its selections): how much do they delay a signed-in user's query? The
/// figures are printed; the assertion only catches a stall.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_refused_documents_from_anonymous_callers_and_a_users_query() {
    let app = spawn_app().await;
    let victim = app.signed_in(&email("victim")).await;
    let alone = victim_latencies(&app, &victim.access, 40).await;
    let body = json!({ "query": too_many_selections(50_000) }).to_string();
    assert!(
        body.len() < 1024 * 1024 && body.len() > 900 * 1024,
        "{}",
        body.len()
    );
    let body = Arc::new(body);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let limited = Arc::new(AtomicU64::new(0));
    let lost = Arc::new(AtomicU64::new(0));
    let mut attackers = Vec::new();
    for _ in 0..8 {
        let (http, body, stop, sent, limited, lost) = (
            Http::new(app.base.clone()),
            body.clone(),
            stop.clone(),
            sent.clone(),
            limited.clone(),
            lost.clone(),
        );
        attackers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Some((status, _)) = post_raw(&http, None, body.to_string()).await else {
                    // No answer within the client's 30 s.
                    lost.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                match status {
                    StatusCode::BAD_REQUEST => sent.fetch_add(1, Ordering::Relaxed),
                    StatusCode::TOO_MANY_REQUESTS => limited.fetch_add(1, Ordering::Relaxed),
                    other => panic!("{other}"),
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let loaded = victim_latencies(&app, &victim.access, 20).await;
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        a.await.expect("attacker");
    }
    eprintln!(
        "victim alone: p50 {:?} max {:?}; beside 8 anonymous 1 MiB floods: p50 {:?} p90 {:?} max {:?}; {} parsed and refused (400, {:.0}/s), {} rate-limited before parsing (429), {} unanswered in 30 s",
        pct(&alone, 0.5),
        pct(&alone, 1.0),
        pct(&loaded, 0.5),
        pct(&loaded, 0.9),
        pct(&loaded, 1.0),
        sent.load(Ordering::Relaxed),
        sent.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64(),
        limited.load(Ordering::Relaxed),
        lost.load(Ordering::Relaxed),
    );
    assert!(
        pct(&loaded, 1.0) < Duration::from_secs(5),
        "a query of the user stalled: {loaded:?}"
    );
}

/// Fills an account with `n` tasks of 10,000-character descriptions (the
/// most a task may hold), 50 per request.
async fn fill(http: &Http, token: &str, n: usize) {
    let description = "d".repeat(10_000);
    for chunk in 0..n.div_ceil(50) {
        let fields: String = (0..50.min(n - chunk * 50))
            .map(|i| {
                format!("c{i}: createTask(input: {{ title: \"t\", description: $d }}) {{ id }} ")
            })
            .collect();
        let q = format!("mutation($d: String) {{ {fields}}}");
        loop {
            let r = http.gql(Some(token), &q, json!({ "d": description })).await;
            if r.status == StatusCode::TOO_MANY_REQUESTS {
                tokio::time::sleep(Duration::from_millis(300)).await;
                continue;
            }
            assert!(r.body["errors"].is_null(), "{}", r.body);
            break;
        }
    }
}

/// The largest read the limits let one request make: a batch of ten
/// operations of five full syncs of 1,000 tasks of 10 KB, within the
/// complexity (5 × 2,101 per operation), the root-field cap (50) and the
/// burst. The answer stays within `TASKSYNC_GRAPHQL_MAX_ANSWER_BYTES`
/// (1 MiB, and one task per field past it; it was 500 MB, and 1.4 GB of
/// memory, before pages were bounded by bytes). The memory it takes and the
/// delay it makes for another user are printed; those assertions only
/// catch a dead server or a stall.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_reads_the_limits_allow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start_with("reads", &sqlite_url(&dir), &[]);
    let attacker = node.signed_in(&email("reader")).await;
    let victim = node.signed_in(&email("victim")).await;
    fill(&node, &attacker.access, 1000).await;
    let base = crate::helpers::rss_kib(node.pid());
    let alone = victim_latencies(&node, &victim.access, 20).await;

    let op = format!(
        "{{ {} }}",
        (0..5)
            .map(|i| format!("s{i}: syncTasks(limit: 1000) {{ items {{ description }} }} "))
            .collect::<String>()
    );
    let batch: Vec<Value> = (0..10).map(|_| json!({ "query": op })).collect();
    let batch_body = json!(batch).to_string();

    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(base));
    let sampler = {
        let (stop, peak, pid) = (stop.clone(), peak.clone(), node.pid());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(crate::helpers::rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let started = Instant::now();
    let http = Http::new(node.base.clone());
    let mut request = http
        .client
        .post(http.url("/graphql"))
        .bearer_auth(&attacker.access)
        .header("content-type", "application/json")
        .body(batch_body.clone());
    request = request.timeout(Duration::from_secs(120));
    let response = request.send().await.expect("an answer");
    let status = response.status();
    let bytes = response.bytes().await.expect("body").len();
    let one = started.elapsed();
    eprintln!(
        "one batch of 50 full syncs: {status}, {} MB answer in {one:?}; RSS {} MB -> peak {} MB",
        bytes / 1_000_000,
        base / 1024,
        peak.load(Ordering::Relaxed) / 1024,
    );

    // Four at a time, without pause, beside the victim: one operation of
    // five full syncs each (a tenth of the batch, to spare the test's own
    // memory).
    let body = json!({ "query": op }).to_string();
    let mut attackers = Vec::new();
    let served = Arc::new(AtomicU64::new(0));
    for _ in 0..4 {
        let (http, body, stop, token, served) = (
            Http::new(node.base.clone()),
            body.clone(),
            stop.clone(),
            attacker.access.clone(),
            served.clone(),
        );
        attackers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let r = http
                    .client
                    .post(http.url("/graphql"))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .timeout(Duration::from_secs(120))
                    .send()
                    .await;
                if let Ok(r) = r {
                    if r.status() == StatusCode::OK {
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = r.bytes().await;
                } else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let loaded = victim_latencies(&node, &victim.access, 20).await;
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        let _ = a.await;
    }
    let _ = sampler.await;
    eprintln!(
        "victim alone: p50 {:?} max {:?}; beside 4 clients of 5 full syncs: p50 {:?} p90 {:?} max {:?}; {} batches served; peak RSS {} MB (base {} MB)",
        pct(&alone, 0.5),
        pct(&alone, 1.0),
        pct(&loaded, 0.5),
        pct(&loaded, 0.9),
        pct(&loaded, 1.0),
        served.load(Ordering::Relaxed),
        peak.load(Ordering::Relaxed) / 1024,
        base / 1024,
    );
    let alive = post_raw(
        &node,
        None,
        json!({ "query": "{ __typename }" }).to_string(),
    )
    .await;
    assert!(alive.is_some(), "the server is gone");
    assert!(
        bytes < 2 * 1024 * 1024,
        "one request of {} bytes within every limit was answered with {bytes} bytes",
        batch_body.len()
    );
    assert!(
        pct(&loaded, 1.0) < Duration::from_secs(10),
        "a query of the other user stalled: {loaded:?}"
    );
}

/// Queries and mutations sent over sockets are charged to the same
/// budget as HTTP: a user who spent it over HTTP is refused on any of
/// their sockets (with an `error`, the socket stays open), and opening
/// more sockets buys nothing.
#[tokio::test]
async fn sockets_and_http_share_one_budget_however_many_sockets() {
    let app = spawn_with(|s| {
        s.api_rate_per_second = 1;
        s.api_rate_burst = 50;
    })
    .await;
    let t = app.signed_in(&email("sockets")).await;
    let mut sockets = Vec::new();
    for _ in 0..5 {
        sockets.push(WsClient::ready(&app, &t.access).await);
    }
    let fifty: String = (0..50)
        .map(|i| format!("s{i}: syncTasks(limit: 1) {{ cursor }} "))
        .collect();
    let (mut ran, mut refused) = (0, 0);
    for (i, ws) in sockets.iter_mut().enumerate() {
        ws.subscribe(&format!("q{i}"), &format!("{{ {fifty}}}"), json!({}))
            .await;
        let v = ws.json().await;
        match v["type"].as_str() {
            Some("next") => {
                ran += 1;
                let done = ws.json().await;
                assert_eq!(done["type"], "complete", "{done}");
            }
            Some("error") => {
                assert_eq!(v["payload"][0]["extensions"]["code"], "RATE_LIMITED", "{v}");
                refused += 1;
                ws.round_trip().await;
            }
            _ => panic!("{v}"),
        }
    }
    assert_eq!((ran, refused), (1, 4), "one burst of 50 for all sockets");
    let http = app
        .gql(Some(&t.access), "{ tasks { items { id } } }", json!({}))
        .await;
    assert_eq!(http.status, StatusCode::TOO_MANY_REQUESTS, "{}", http.body);
}

/// An anonymous caller cannot buy fresh budgets with `X-Forwarded-For`
/// when no proxy is trusted (the default): every request counts against
/// the TCP peer.
#[tokio::test]
async fn anonymous_callers_cannot_spoof_forwarded_addresses_for_budget() {
    let app = spawn_with(|s| {
        s.api_rate_per_second = 1;
        s.api_rate_burst = 50;
    })
    .await;
    let mut limited = 0;
    for i in 0..60 {
        let r = app
            .client
            .post(app.url("/graphql"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await
            .expect("request");
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
        }
    }
    assert!(limited >= 9, "{limited} of 60 refused");
}

// ---------------------------------------------------------------------------
// 2. Pre-account hijacking
// ---------------------------------------------------------------------------

async fn resend(app: &Http, addr: &str) -> crate::helpers::Answer {
    app.post("/auth/resend-code", json!({ "email": addr }))
        .await
}

/// The victim signs up and the attacker signs the address up again
/// (the documented race): the victim's code stops working, so the victim
/// asks for a new one with "resend code". That code would confirm the
/// attacker's password: alone, or with the victim's password, it confirms
/// nothing; the victim signs up again, and that mail's code with the
/// victim's password confirms the victim's.
async fn a_resend_after_someone_signed_up_again_does_not_confirm_their_password(app: &TestApp) {
    let addr = email("resend");
    assert_eq!(
        app.sign_up(&addr, PASSWORD).await.status,
        StatusCode::CREATED
    );
    let mine = app.code_from_mail(&addr, 1).await;
    // The attacker, a moment later.
    assert_eq!(
        app.sign_up(&addr, ATTACKER).await.status,
        StatusCode::CREATED
    );
    if mine != app.code_from_mail(&addr, 2).await {
        assert_eq!(app.confirm(&addr, &mine).await.code(), "CodeMismatch");
    }
    // "Request a new code", as the error says.
    assert_eq!(resend(app, &addr).await.status, StatusCode::OK);
    let mail = app.wait_for_mail(&addr, 3).await;
    let text = mail["text"].as_str().unwrap_or_default().to_owned();
    let code = crate::helpers::extract_code(&text).expect("a code");
    assert_eq!(app.confirm(&addr, &code).await.code(), "PasswordRequired");
    let mismatch = app.confirm_with(&addr, &code, PASSWORD).await;
    assert_eq!(mismatch.code(), "PasswordMismatch", "{:?}", mismatch.body);
    assert_eq!(
        app.sign_in(&addr, ATTACKER).await.code(),
        "UserNotConfirmed",
        "nothing confirmed the attacker's password"
    );
    // The victim does as the error says.
    assert_eq!(
        app.sign_up(&addr, PASSWORD).await.status,
        StatusCode::CREATED
    );
    let again = app.code_from_mail(&addr, 4).await;
    assert_eq!(
        app.confirm_with(&addr, &again, PASSWORD).await.status,
        StatusCode::OK
    );
    assert_eq!(app.sign_in(&addr, PASSWORD).await.status, StatusCode::OK);
    assert_eq!(
        app.sign_in(&addr, ATTACKER).await.status,
        StatusCode::UNAUTHORIZED,
        "the mail said: {text}"
    );
}

#[tokio::test]
async fn a_resend_after_someone_signed_up_again_does_not_confirm_their_password_on_sqlite() {
    a_resend_after_someone_signed_up_again_does_not_confirm_their_password(&spawn_app().await)
        .await;
}

#[tokio::test]
async fn a_resend_after_someone_signed_up_again_does_not_confirm_their_password_on_postgres() {
    let Some(db) = tasksync_store::testing::TestDatabase::create().await else {
        return;
    };
    let url = db.url().to_owned();
    let app = spawn_with(move |s| s.database.database_url = url).await;
    a_resend_after_someone_signed_up_again_does_not_confirm_their_password(&app).await;
}

/// The attacker signs the address up and spends its codes for the hour
/// (resends count). The owner then signs up: no new code can be mailed,
/// and the newest code in their mailbox, a plain "your code is …" from
/// minutes ago, must not confirm the attacker's password.
async fn a_sign_up_once_the_codes_are_spent_still_replaces_the_password(app: &TestApp) {
    let addr = email("spent");
    assert_eq!(
        app.sign_up(&addr, ATTACKER).await.status,
        StatusCode::CREATED
    );
    for _ in 0..4 {
        assert_eq!(resend(app, &addr).await.status, StatusCode::OK);
    }
    let newest = app.code_from_mail(&addr, 5).await;
    // The owner, later in the hour.
    let mine = app.sign_up(&addr, PASSWORD).await;
    assert_eq!(mine.status, StatusCode::CREATED, "{:?}", mine.body);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        app.mails_to(&addr).await.len(),
        5,
        "the code budget is spent: no new mail"
    );
    let confirmed = app.confirm(&addr, &newest).await;
    let theirs = app.sign_in(&addr, ATTACKER).await;
    assert_ne!(
        theirs.status,
        StatusCode::OK,
        "confirmed with a code mailed before the owner's sign-up ({:?}): the attacker's password works",
        confirmed.status
    );
    // Once the hour is over, a resend confirms the owner's password.
    assert_eq!(confirmed.code(), "CodeMismatch", "{:?}", confirmed.body);
}

#[tokio::test]
async fn a_sign_up_once_the_codes_are_spent_still_replaces_the_password_on_sqlite() {
    a_sign_up_once_the_codes_are_spent_still_replaces_the_password(&spawn_app().await).await;
}

#[tokio::test]
async fn a_sign_up_once_the_codes_are_spent_still_replaces_the_password_on_postgres() {
    let Some(db) = tasksync_store::testing::TestDatabase::create().await else {
        return;
    };
    let url = db.url().to_owned();
    let app = spawn_with(move |s| s.database.database_url = url).await;
    a_sign_up_once_the_codes_are_spent_still_replaces_the_password(&app).await;
}

/// The owner resets the password of an unconfirmed account (the reset
/// code proves the mailbox and confirms it) while the attacker keeps
/// signing the address up: the account must end up confirmed with the
/// owner's new password, never the attacker's.
async fn a_reset_racing_sign_ups_never_confirms_the_attackers_password(app: &TestApp) {
    let (mut hijacked, mut lost) = (0, 0);
    let rounds = 20;
    for round in 0..rounds {
        let addr = email("race");
        app.sign_up(&addr, ATTACKER).await;
        let forgot = app
            .post("/auth/forgot-password", json!({ "email": addr }))
            .await;
        assert_eq!(forgot.status, StatusCode::OK);
        let code = app.code_from_mail(&addr, 2).await;
        let new = format!("owner's own new password {round}");
        let owner = {
            let (http, addr, code, new) = (
                Http::new(app.base.clone()),
                addr.clone(),
                code.clone(),
                new.clone(),
            );
            tokio::spawn(async move {
                http.post(
                    "/auth/confirm-forgot-password",
                    json!({ "email": addr, "code": code, "newPassword": new }),
                )
                .await
            })
        };
        let mut attackers = Vec::new();
        for _ in 0..12 {
            let (http, addr) = (Http::new(app.base.clone()), addr.clone());
            attackers.push(tokio::spawn(
                async move { http.sign_up(&addr, ATTACKER).await },
            ));
        }
        let reset = owner.await.expect("owner");
        for a in attackers {
            a.await.expect("attacker");
        }
        assert_eq!(reset.status, StatusCode::OK, "{:?}", reset.body);
        if app.sign_in(&addr, ATTACKER).await.status == StatusCode::OK {
            hijacked += 1;
        }
        if app.sign_in(&addr, &new).await.status != StatusCode::OK {
            lost += 1;
        }
    }
    assert_eq!(
        (hijacked, lost),
        (0, 0),
        "of {rounds} accounts: the attacker's password signs in / the owner's does not"
    );
}

#[tokio::test]
async fn a_reset_racing_sign_ups_never_confirms_the_attackers_password_on_sqlite() {
    let app = spawn_with(|s| s.codes_per_hour = 1000).await;
    a_reset_racing_sign_ups_never_confirms_the_attackers_password(&app).await;
}

#[tokio::test]
async fn a_reset_racing_sign_ups_never_confirms_the_attackers_password_on_postgres() {
    let Some(db) = tasksync_store::testing::TestDatabase::create().await else {
        return;
    };
    let url = db.url().to_owned();
    let app = spawn_with(move |s| {
        s.database.database_url = url;
        s.codes_per_hour = 1000;
    })
    .await;
    a_reset_racing_sign_ups_never_confirms_the_attackers_password(&app).await;
}

/// Sign-up, resend-code, forgot-password and confirm-forgot-password
/// answer the same (status and body) for an address with no account, an
/// unconfirmed one, a confirmed one and a disabled one.
#[tokio::test]
async fn the_account_flows_answer_alike_whatever_the_address() {
    let app = spawn_app().await;
    let nobody = email("nobody");
    let pending = email("pending");
    let done = email("done");
    let disabled = email("disabled");
    app.sign_up(&pending, PASSWORD).await;
    app.register(&done).await;
    app.register(&disabled).await;
    tasksync_server::admin::users(
        &app.state.settings.database,
        &tasksync_server::config::UsersCommand::Disable {
            email: disabled.clone(),
        },
    )
    .await
    .expect("disable");
    let shape = |a: crate::helpers::Answer| {
        let mut body = a.body;
        if let Some(o) = body.as_object_mut() {
            // A fresh id in every answer, for every address.
            if o.get("userId").is_some_and(Value::is_string) {
                o.insert("userId".into(), json!("…"));
            }
        }
        (a.status, body)
    };
    let mut answers: Vec<(String, Vec<(StatusCode, Value)>)> = Vec::new();
    for addr in [&nobody, &pending, &done, &disabled] {
        // "nobody" stays nobody: a fresh unknown address for every flow.
        let at = |addr: &String| {
            if addr == &nobody {
                email("nobody")
            } else {
                addr.clone()
            }
        };
        let again = shape(resend(&app, &at(addr)).await);
        let forgot = shape(
            app.post("/auth/forgot-password", json!({ "email": at(addr) }))
                .await,
        );
        let reset = shape(
            app.post(
                "/auth/confirm-forgot-password",
                json!({ "email": at(addr), "code": "000000", "newPassword": NEW }),
            )
            .await,
        );
        let confirm = shape(app.confirm(&at(addr), "000000").await);
        let up = shape(app.sign_up(&at(addr), NEW).await);
        answers.push((addr.clone(), vec![again, forgot, reset, confirm, up]));
    }
    for (addr, a) in &answers[1..] {
        assert_eq!(a, &answers[0].1, "{addr} answers unlike an unknown address");
    }
}

const NEW: &str = crate::helpers::NEW_PASSWORD;
