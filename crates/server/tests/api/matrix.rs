//! The attack suite of issue #15 as matrices over the real server, each
//! case named and every failing case listed at once:
//! - every forged or misused token × every way in that takes one
//!   (`/auth/me`, `/auth/change-password`, a `/graphql` query and mutation,
//!   WebSocket `connection_init`);
//! - another user's task ids, cursors and page tokens × every query,
//!   mutation and subscription × HTTP and WebSocket, on SQLite and on
//!   PostgreSQL, with the owner's data checked afterwards;
//! - every `/auth` endpoint that takes an address × a confirmed, a pending,
//!   a disabled and an unknown address: identical status, headers and bytes;
//! - WebSocket protocol abuse before and after the ack, with the close
//!   codes of the contract (see `crates/server/src/ws/mod.rs`; what `ws.rs`
//!   covers already is not repeated).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tasksync_core::UserId;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_tungstenite::tungstenite::Message;

use crate::forge::{
    Attacker, b64, decode_part, forged_tokens, public_key_pem, server_key, sign, sign_raw,
};
use crate::helpers::{
    Answer, NEW_PASSWORD, PASSWORD, TestApp, Tokens, email, spawn_app, spawn_on_postgres,
    spawn_with,
};
use crate::queries::{create_q, delete_q, sync_q, task_q, tasks_q, update_q};
use crate::ws_client::{Event, WAIT, WsClient, changes_q};

// ---------------------------------------------------------------------------
// Shared
// ---------------------------------------------------------------------------

/// The data of a GraphQL request that must succeed.
async fn data(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    let a = app.gql(Some(token), query, variables).await;
    assert!(a.body["errors"].is_null(), "{query}: {}", a.body);
    a.body["data"].clone()
}

async fn create(app: &TestApp, token: &str, input: Value) -> Value {
    data(app, token, &create_q(), json!({ "input": input })).await["createTask"].clone()
}

async fn user_of(app: &TestApp, t: &Tokens) -> UserId {
    UserId::parse(&app.me(&t.access).await.str("userId")).expect("user id")
}

async fn head(app: &TestApp, user: UserId) -> i64 {
    app.state.store.head(user).await.expect("head")
}

/// Every `extensions.code` in a GraphQL answer (HTTP body or WebSocket
/// messages), in order.
fn codes(v: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if let Some(code) = o
                    .get("extensions")
                    .and_then(|e| e.get("code"))
                    .and_then(Value::as_str)
                {
                    out.push(code.to_owned());
                }
                o.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut out);
    out
}

/// One operation over a socket: its messages (type and payload, without
/// the id) until it completes or fails.
async fn over_ws(ws: &mut WsClient, id: &str, query: &str, variables: Value) -> Value {
    ws.subscribe(id, query, variables).await;
    let mut messages = Vec::new();
    loop {
        let v = ws.json().await;
        assert_eq!(v["id"], id, "a message of another operation: {v}");
        let kind = v["type"].as_str().unwrap_or_default().to_owned();
        messages.push(json!({ "type": kind, "payload": v["payload"] }));
        if kind != "next" {
            return Value::Array(messages);
        }
    }
}

/// How a GraphQL operation travels.
#[derive(Debug, Clone, Copy)]
enum Transport {
    Http,
    WebSocket,
}

/// Runs one operation as `token` (whose socket is `ws`) and returns what
/// came back: status and body over HTTP, the messages over WebSocket.
async fn run(
    app: &TestApp,
    token: &str,
    ws: &mut WsClient,
    transport: Transport,
    query: &str,
    variables: Value,
) -> Value {
    match transport {
        Transport::Http => {
            let a = app.gql(Some(token), query, variables).await;
            json!({ "status": a.status.as_u16(), "body": a.body })
        }
        Transport::WebSocket => {
            let id = uuid::Uuid::new_v4().to_string();
            over_ws(ws, &id, query, variables).await
        }
    }
}

// ---------------------------------------------------------------------------
// Tokens × ways in
// ---------------------------------------------------------------------------

/// A way in that takes an access token.
#[derive(Debug, Clone, Copy)]
enum Via {
    Me,
    ChangePassword,
    GraphqlQuery,
    GraphqlMutation,
    ConnectionInit,
}

const VIAS: [Via; 5] = [
    Via::Me,
    Via::ChangePassword,
    Via::GraphqlQuery,
    Via::GraphqlMutation,
    Via::ConnectionInit,
];

/// What became of a token.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// Refused as documented: 401 `NotAuthorized` with a Bearer challenge on
    /// `/auth`, 401 `UNAUTHENTICATED` with a Bearer challenge and no data on
    /// `/graphql`, close 4403 at `connection_init`.
    Refused,
    /// Let in.
    Accepted,
    /// Anything else: a wrong status, code or close code.
    Other(String),
}

/// Not the victim's password: a change-password that got past the token
/// check would answer `IncorrectPassword` and change nothing.
const NOT_THE_PASSWORD: &str = "certainly not the password";

fn challenged(a: &Answer) -> bool {
    a.headers
        .get("www-authenticate")
        .is_some_and(|v| v == "Bearer")
}

fn judge(a: &Answer, refused: bool, accepted: bool) -> Outcome {
    if refused {
        Outcome::Refused
    } else if accepted {
        Outcome::Accepted
    } else {
        Outcome::Other(format!("{} {}", a.status, a.body))
    }
}

/// Presents `token` one way and says what became of it.
async fn present(app: &TestApp, via: Via, token: &str) -> Outcome {
    let auth_refused = |a: &Answer| {
        a.status == StatusCode::UNAUTHORIZED && a.code() == "NotAuthorized" && challenged(a)
    };
    let gql_refused = |a: &Answer| {
        a.status == StatusCode::UNAUTHORIZED
            && a.gql_code() == Some("UNAUTHENTICATED")
            && a.body["data"].is_null()
            && challenged(a)
    };
    match via {
        Via::Me => {
            let a = app.me(token).await;
            judge(&a, auth_refused(&a), a.status == StatusCode::OK)
        }
        Via::ChangePassword => {
            let body = json!({ "oldPassword": NOT_THE_PASSWORD, "newPassword": NEW_PASSWORD });
            let a = app.post_bearer("/auth/change-password", token, body).await;
            let accepted = a.status == StatusCode::BAD_REQUEST && a.code() == "IncorrectPassword";
            judge(&a, auth_refused(&a), accepted)
        }
        Via::GraphqlQuery => {
            let a = app
                .gql(Some(token), "{ tasks { items { id title } } }", json!({}))
                .await;
            let accepted = a.status == StatusCode::OK && a.body["errors"].is_null();
            judge(&a, gql_refused(&a), accepted)
        }
        Via::GraphqlMutation => {
            let q = "mutation { createTask(input: { title: \"written with this token\" }) { id } }";
            let a = app.gql(Some(token), q, json!({})).await;
            let accepted = a.status == StatusCode::OK && a.body["errors"].is_null();
            judge(&a, gql_refused(&a), accepted)
        }
        Via::ConnectionInit => {
            let mut ws = WsClient::connect(app).await;
            ws.init(token).await;
            match ws.event().await {
                Event::Closed(4403, _) => Outcome::Refused,
                Event::Json(v) if v["type"] == "connection_ack" => {
                    ws.close().await;
                    Outcome::Accepted
                }
                other => Outcome::Other(format!("{other:?}")),
            }
        }
    }
}

/// An attacker's web server that would serve its JWKS (and anything else)
/// to a server that followed a `jku` or `x5u` header; it counts every
/// connection made to it.
struct KeyServer {
    base: String,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl KeyServer {
    async fn start(jwks: Value) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let body = jwks.to_string();
        let task = tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                // Read the request's head, then answer whatever it asked.
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && tcp.read_exact(&mut byte).await.is_ok() {
                    head.push(byte[0]);
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tcp.write_all(answer.as_bytes()).await;
            }
        });
        Self { base, hits, task }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for KeyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn every_forged_or_misused_token_is_refused_over_http_and_connection_init() {
    let app = spawn_app().await;
    let victim_addr = email("victim");
    let t = app.signed_in(&victim_addr).await;
    let other = app.signed_in(&email("other")).await;
    let victim = user_of(&app, &t).await;
    let bystander = user_of(&app, &other).await;

    let forged = forged_tokens(&app, &t, &other).await;
    let mut cases = forged.cases;
    let (kid, key) = server_key(&app).await;
    let server_public = app.state.store.signing_keys().await.expect("keys")[0]
        .public_key
        .clone();
    let claims = decode_part(&t.access, 1);
    let signature = t.access.rsplit_once('.').expect("three parts").1.to_owned();
    let signed_part = t.access.rsplit_once('.').expect("three parts").0.to_owned();
    let unsigned = |header: Value| format!("{}.{}.", b64(&header), b64(&claims));
    let resigned = |header: Value| format!("{}.{}.{signature}", b64(&header), b64(&claims));
    let hmac = |alg: Algorithm, secret: &[u8], header: Value| {
        sign_raw(&header, &claims, &EncodingKey::from_secret(secret), alg)
    };
    let with = |changes: Value| {
        let mut c = claims.clone();
        for (k, v) in changes.as_object().expect("object") {
            c[k] = v.clone();
        }
        c
    };

    let attacker = Attacker::new();
    let keys = KeyServer::start(json!({ "keys": [attacker.jwk()] })).await;
    // The attacker's key server works: what it would hand out is the key
    // that signs the jku tokens below.
    let served: Value = app
        .client
        .get(keys.url("/jwks.json"))
        .send()
        .await
        .expect("key server")
        .json()
        .await
        .expect("jwks");
    assert_eq!(served["keys"][0], attacker.jwk());
    assert_eq!(keys.hits(), 1);

    let id_relabelled = {
        let mut c = decode_part(&t.id, 1);
        c["token_use"] = json!("access");
        let (header, rest) = t.id.split_once('.').expect("parts");
        let sig = rest.rsplit_once('.').expect("parts").1;
        format!("{header}.{}.{sig}", b64(&c))
    };
    let ed = |extra: Value| {
        let mut h = json!({ "alg": "EdDSA", "typ": "JWT" });
        for (k, v) in extra.as_object().expect("object") {
            h[k] = v.clone();
        }
        h
    };
    let more: Vec<(&str, String)> = vec![
        (
            "alg None (capitalised) without a signature",
            unsigned(json!({ "alg": "None", "typ": "JWT", "kid": kid })),
        ),
        (
            "alg NONE without a signature",
            unsigned(json!({ "alg": "NONE", "typ": "JWT", "kid": kid })),
        ),
        (
            "alg none without a kid or a signature",
            unsigned(json!({ "alg": "none" })),
        ),
        (
            "HS256 keyed with the server's raw public key",
            hmac(
                Algorithm::HS256,
                &server_public,
                json!({ "alg": "HS256", "typ": "JWT", "kid": kid }),
            ),
        ),
        (
            "HS256 keyed with the server's public key as PEM",
            hmac(
                Algorithm::HS256,
                public_key_pem(&server_public).as_bytes(),
                json!({ "alg": "HS256", "typ": "JWT", "kid": kid }),
            ),
        ),
        (
            "HS512 keyed with the server's raw public key",
            hmac(
                Algorithm::HS512,
                &server_public,
                json!({ "alg": "HS512", "typ": "JWT", "kid": kid }),
            ),
        ),
        (
            "HS256 without a kid, keyed with the server's raw public key",
            hmac(
                Algorithm::HS256,
                &server_public,
                json!({ "alg": "HS256", "typ": "JWT" }),
            ),
        ),
        (
            "an RS256 header on the EdDSA signature",
            resigned(json!({ "alg": "RS256", "typ": "JWT", "kid": kid })),
        ),
        (
            "an ES256 header on the EdDSA signature",
            resigned(json!({ "alg": "ES256", "typ": "JWT", "kid": kid })),
        ),
        (
            "a kid naming a file, HS256 keyed with nothing",
            hmac(
                Algorithm::HS256,
                b"",
                json!({ "alg": "HS256", "typ": "JWT", "kid": "../../../../../../dev/null" }),
            ),
        ),
        (
            "a kid carrying SQL, signed with the attacker's key",
            attacker.sign(&ed(json!({ "kid": "x' OR '1'='1" })), &claims),
        ),
        (
            "no kid, signed with the attacker's key",
            attacker.sign(&ed(json!({})), &claims),
        ),
        (
            "jku pointing at the attacker's JWKS",
            attacker.sign(
                &ed(json!({ "kid": attacker.kid(), "jku": keys.url("/jwks.json") })),
                &claims,
            ),
        ),
        (
            "jku pointing at the attacker's JWKS, under the server's kid",
            attacker.sign(
                &ed(json!({ "kid": kid, "jku": keys.url("/jwks.json") })),
                &claims,
            ),
        ),
        (
            "x5u pointing at the attacker's certificate",
            attacker.sign(
                &ed(json!({ "kid": attacker.kid(), "x5u": keys.url("/cert.pem") })),
                &claims,
            ),
        ),
        (
            "the attacker's key embedded as jwk",
            attacker.sign(
                &ed(json!({ "kid": attacker.kid(), "jwk": attacker.jwk() })),
                &claims,
            ),
        ),
        (
            "the attacker's key embedded as jwk, under the server's kid",
            attacker.sign(&ed(json!({ "kid": kid, "jwk": attacker.jwk() })), &claims),
        ),
        (
            "the attacker's key embedded as jwk, without a kid",
            attacker.sign(&ed(json!({ "jwk": attacker.jwk() })), &claims),
        ),
        (
            "the issuer with a trailing slash",
            sign(
                &kid,
                &key,
                &with(json!({ "iss": format!("{}/", app.base) })),
            ),
        ),
        (
            "the ID token relabelled as access, its signature kept",
            id_relabelled,
        ),
        (
            "the signature stripped (header.payload.)",
            format!("{signed_part}."),
        ),
        ("header and payload only", signed_part.clone()),
        ("an empty token", String::new()),
    ];
    cases.extend(more.into_iter().map(|(n, token)| (n.to_owned(), token)));

    // Ended sessions and accounts: each token worked (and so sits in the
    // server's cache of verified signatures) before its session ended.
    let signed_out = app.tokens(&victim_addr, PASSWORD).await;
    assert_eq!(app.me(&signed_out.access).await.status, StatusCode::OK);
    let out = app
        .post(
            "/auth/sign-out",
            json!({ "refreshToken": signed_out.refresh }),
        )
        .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    let reused = app.tokens(&victim_addr, PASSWORD).await;
    let rotated = app
        .post("/auth/refresh", json!({ "refreshToken": reused.refresh }))
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_eq!(app.me(&rotated.str("accessToken")).await.status, 200);
    let replay = app
        .post("/auth/refresh", json!({ "refreshToken": reused.refresh }))
        .await;
    assert_eq!(
        replay.status,
        StatusCode::UNAUTHORIZED,
        "a spent refresh token"
    );
    let disabled_addr = email("disabled");
    let disabled = app.signed_in(&disabled_addr).await;
    let disabled_user = user_of(&app, &disabled).await;
    tasksync_server::admin::users(
        &app.state.settings.database,
        &tasksync_server::config::UsersCommand::Disable {
            email: disabled_addr,
        },
    )
    .await
    .expect("disable");
    cases.extend([
        (
            "a signed-out session's unexpired access token".to_owned(),
            signed_out.access.clone(),
        ),
        (
            "the first access token of a session revoked for refresh-token reuse".to_owned(),
            reused.access.clone(),
        ),
        (
            "the rotated access token of a session revoked for refresh-token reuse".to_owned(),
            rotated.str("accessToken"),
        ),
        (
            "a disabled account's unexpired access token".to_owned(),
            disabled.access.clone(),
        ),
    ]);

    for via in VIAS {
        assert_eq!(
            present(&app, via, &forged.control).await,
            Outcome::Accepted,
            "the control token (well-formed, signed with the server's key) must get in over {via:?}"
        );
    }
    let mut failures = Vec::new();
    for (name, token) in &cases {
        for via in VIAS {
            let outcome = present(&app, via, token).await;
            if outcome != Outcome::Refused {
                failures.push(format!("{name}, over {via:?}: {outcome:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases were not refused as documented:\n{}",
        failures.len(),
        cases.len() * VIAS.len(),
        failures.join("\n")
    );
    for via in VIAS {
        assert_eq!(
            present(&app, via, &t.access).await,
            Outcome::Accepted,
            "the genuine token still gets in over {via:?}"
        );
    }

    assert_eq!(
        keys.hits(),
        1,
        "the server fetched something from a URL named in a token"
    );
    assert_eq!(
        head(&app, victim).await,
        2,
        "only the control's and the genuine token's writes landed"
    );
    assert_eq!(
        head(&app, bystander).await,
        0,
        "nothing written as the other user"
    );
    assert_eq!(head(&app, disabled_user).await, 0);
    assert_eq!(
        app.sign_in(&victim_addr, PASSWORD).await.status,
        StatusCode::OK,
        "the victim's password is unchanged"
    );
}

// ---------------------------------------------------------------------------
// Another user's ids, cursors and page tokens
// ---------------------------------------------------------------------------

/// What a user has: every task at its latest state (tombstones included,
/// from a delta sync from the very start), the listing, and the log head.
async fn everything_of(app: &TestApp, t: &Tokens, first: &str, user: UserId) -> Value {
    let mut all = data(
        app,
        &t.access,
        &sync_q(),
        json!({ "last": first, "limit": 1000 }),
    )
    .await["syncTasks"]["items"]
        .clone();
    if let Some(items) = all.as_array_mut() {
        items.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    }
    let listing = data(app, &t.access, &tasks_q(), json!({})).await["tasks"].clone();
    json!({ "tasks": all, "listing": listing, "head": head(app, user).await })
}

/// The ids (task and user, in both their forms) and words of A's that B must
/// never see.
fn secrets_of(ids: &[Value], user: UserId, words: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
    let mut uuids: Vec<uuid::Uuid> = ids
        .iter()
        .map(|id| uuid::Uuid::parse_str(id.as_str().expect("id")).expect("uuid"))
        .collect();
    uuids.push(user.as_uuid());
    for u in uuids {
        out.push(u.to_string());
        out.push(u.simple().to_string());
    }
    out
}

fn revealed<'a>(answer: &Value, secrets: &'a [String]) -> Option<&'a str> {
    let text = answer.to_string();
    secrets
        .iter()
        .find(|s| text.contains(s.as_str()))
        .map(String::as_str)
}

/// Records what is wrong with `theirs`, B's answer to an operation on
/// something of A's: it must carry exactly `code`, be identical to `like`
/// (the same operation on something that is not A's), and reveal nothing.
fn judge_refusal(
    failures: &mut Vec<String>,
    secrets: &[String],
    name: String,
    theirs: &Value,
    like: &Value,
    code: &str,
) {
    if codes(theirs) != [code] {
        failures.push(format!("{name}: want exactly {code}, got {theirs}"));
    }
    if theirs != like {
        failures.push(format!(
            "{name}: differs from its control\n  theirs: {theirs}\n  control: {like}"
        ));
    }
    if let Some(s) = revealed(theirs, secrets) {
        failures.push(format!("{name}: reveals {s:?}: {theirs}"));
    }
}

async fn another_users_things_reveal_and_change_nothing(app: &TestApp) {
    let a = app.signed_in(&email("idor-a")).await;
    let b = app.signed_in(&email("idor-b")).await;
    let (a_user, b_user) = (user_of(app, &a).await, user_of(app, &b).await);
    let a_first = data(app, &a.access, &sync_q(), json!({})).await["syncTasks"]["cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let secret = create(
        app,
        &a.access,
        json!({ "title": "A's secret title", "description": "A's secret description" }),
    )
    .await;
    let mut a_ids = vec![secret["id"].clone()];
    for i in 0..3 {
        a_ids.push(
            create(app, &a.access, json!({ "title": format!("A's task {i}") })).await["id"].clone(),
        );
    }
    let doomed = create(app, &a.access, json!({ "title": "A's deleted task" })).await;
    data(
        app,
        &a.access,
        &delete_q(),
        json!({ "input": { "id": doomed["id"] } }),
    )
    .await;
    a_ids.push(doomed["id"].clone());
    let b_own = create(app, &b.access, json!({ "title": "B's own" })).await;
    let b_cursor = data(app, &b.access, &sync_q(), json!({})).await["syncTasks"]["cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();

    // A's positions: a listing's page token, a full sync's cursor and page
    // token, a delta sync's page token.
    let a_tasks_next =
        data(app, &a.access, &tasks_q(), json!({ "limit": 1 })).await["tasks"]["nextToken"]
            .as_str()
            .expect("more pages")
            .to_owned();
    let full = data(app, &a.access, &sync_q(), json!({ "limit": 1 })).await["syncTasks"].clone();
    let a_cursor = full["cursor"].as_str().expect("cursor").to_owned();
    let a_full_next = full["nextToken"].as_str().expect("more pages").to_owned();
    let a_delta_next = data(
        app,
        &a.access,
        &sync_q(),
        json!({ "last": a_first, "limit": 1 }),
    )
    .await["syncTasks"]["nextToken"]
        .as_str()
        .expect("more pages")
        .to_owned();
    let before = everything_of(app, &a, &a_first, a_user).await;
    let secrets = secrets_of(
        &a_ids,
        a_user,
        &["A's secret", "A's task", "A's deleted task"],
    );

    let unknown = json!(uuid::Uuid::new_v4().to_string());
    type Variables = fn(&Value) -> Value;
    let by_id: [(&str, String, Variables); 8] = [
        ("task", task_q(), |id| json!({ "id": id })),
        (
            "updateTask",
            update_q(),
            |id| json!({ "input": { "id": id, "done": true } }),
        ),
        (
            "updateTask at version 1",
            update_q(),
            |id| json!({ "input": { "id": id, "expectedVersion": 1, "title": "mine now" } }),
        ),
        (
            "updateTask at a stale version",
            update_q(),
            |id| json!({ "input": { "id": id, "expectedVersion": 99, "title": "mine now" } }),
        ),
        (
            "updateTask clearing the description",
            update_q(),
            |id| json!({ "input": { "id": id, "description": null } }),
        ),
        (
            "deleteTask",
            delete_q(),
            |id| json!({ "input": { "id": id } }),
        ),
        (
            "deleteTask at version 1",
            delete_q(),
            |id| json!({ "input": { "id": id, "expectedVersion": 1 } }),
        ),
        (
            "deleteTask at a stale version",
            delete_q(),
            |id| json!({ "input": { "id": id, "expectedVersion": 99 } }),
        ),
    ];
    // (what, query, variables, the same with garbage in place of A's position)
    let positions: Vec<(&str, String, Value, Value)> = vec![
        (
            "tasks with A's nextToken",
            tasks_q(),
            json!({ "next": a_tasks_next }),
            json!({ "next": "p1garbage" }),
        ),
        (
            "tasks with A's syncTasks nextToken",
            tasks_q(),
            json!({ "next": a_full_next }),
            json!({ "next": "p1garbage" }),
        ),
        (
            "syncTasks with A's cursor",
            sync_q(),
            json!({ "last": a_cursor }),
            json!({ "last": "garbage" }),
        ),
        (
            "syncTasks with A's first cursor",
            sync_q(),
            json!({ "last": a_first }),
            json!({ "last": "garbage" }),
        ),
        (
            "syncTasks with A's tasks nextToken as lastSync",
            sync_q(),
            json!({ "last": a_tasks_next }),
            json!({ "last": "garbage" }),
        ),
        (
            "syncTasks with A's full-sync nextToken",
            sync_q(),
            json!({ "next": a_full_next }),
            json!({ "next": "garbage" }),
        ),
        (
            "syncTasks with A's delta-sync nextToken",
            sync_q(),
            json!({ "next": a_delta_next }),
            json!({ "next": "garbage" }),
        ),
        (
            "syncTasks with A's tasks nextToken",
            sync_q(),
            json!({ "next": a_tasks_next }),
            json!({ "next": "garbage" }),
        ),
        (
            "syncTasks with B's own cursor and A's nextToken",
            sync_q(),
            json!({ "last": b_cursor, "next": a_delta_next }),
            json!({ "last": b_cursor, "next": "garbage" }),
        ),
    ];

    let mut failures = Vec::new();
    let mut ws = WsClient::ready(app, &b.access).await;
    for transport in [Transport::Http, Transport::WebSocket] {
        for (target, id) in [
            ("A's task", &secret["id"]),
            ("A's deleted task", &doomed["id"]),
        ] {
            for (op, query, vars) in &by_id {
                let theirs = run(app, &b.access, &mut ws, transport, query, vars(id)).await;
                let nobodys = run(app, &b.access, &mut ws, transport, query, vars(&unknown)).await;
                judge_refusal(
                    &mut failures,
                    &secrets,
                    format!("{op} of {target} over {transport:?} (control: an unknown id)"),
                    &theirs,
                    &nobodys,
                    "NOT_FOUND",
                );
            }
            // A create with A's id cannot be NOT_FOUND (ids are unique):
            // it must answer exactly as B reusing its own id does.
            let input = json!({ "input": { "id": id, "title": "A's secret title" } });
            let theirs = run(app, &b.access, &mut ws, transport, &create_q(), input).await;
            let clash = json!({ "input": { "id": b_own["id"], "title": "not B's title" } });
            let own = run(app, &b.access, &mut ws, transport, &create_q(), clash).await;
            judge_refusal(
                &mut failures,
                &secrets,
                format!(
                    "createTask with the id of {target} over {transport:?} (control: B's own id)"
                ),
                &theirs,
                &own,
                "BAD_USER_INPUT",
            );
        }
        for (name, query, vars, garbage) in &positions {
            let theirs = run(app, &b.access, &mut ws, transport, query, vars.clone()).await;
            let junk = run(app, &b.access, &mut ws, transport, query, garbage.clone()).await;
            judge_refusal(
                &mut failures,
                &secrets,
                format!("{name} over {transport:?} (control: garbage)"),
                &theirs,
                &junk,
                "BAD_USER_INPUT",
            );
        }
        // B's own listings hold B's task and nothing of A's.
        for (name, query, vars, field) in [
            ("tasks", tasks_q(), json!({}), "tasks"),
            ("a full syncTasks", sync_q(), json!({}), "syncTasks"),
            (
                "a delta syncTasks",
                sync_q(),
                json!({ "last": b_first(&b_cursor) }),
                "syncTasks",
            ),
        ] {
            let answer = run(app, &b.access, &mut ws, transport, &query, vars).await;
            let page = match transport {
                Transport::Http => answer["body"]["data"][field].clone(),
                Transport::WebSocket => answer[0]["payload"]["data"][field].clone(),
            };
            let ids: Vec<&Value> = page["items"]
                .as_array()
                .map(|items| items.iter().map(|t| &t["id"]).collect())
                .unwrap_or_default();
            if ids != [&b_own["id"]] {
                failures.push(format!("B's {name} over {transport:?}: {answer}"));
            }
            if let Some(s) = revealed(&answer, &secrets) {
                failures.push(format!("B's {name} over {transport:?} reveals {s:?}"));
            }
        }
    }

    // A's positions as the cursor of a subscription, on the fast path (a
    // variable or a literal) and through the executor (a fragment).
    type Document = fn(&str) -> (String, Value);
    let documents: [(&str, Document); 3] = [
        ("the fast path, as a variable", |c| {
            (changes_q(), json!({ "after": c }))
        }),
        ("the fast path, as a literal", |c| {
            (
                format!(
                    "subscription {{ taskChanges(after: \"{c}\") {{ op cursor task {{ id title }} }} }}"
                ),
                json!({}),
            )
        }),
        ("the executor", |c| {
            (
                format!(
                    "subscription {{ taskChanges(after: \"{c}\") {{ ...C }} }} fragment C on TaskChange {{ op cursor task {{ id title }} }}"
                ),
                json!({}),
            )
        }),
    ];
    for (path, document) in documents {
        let (query, vars) = document("c1garbage");
        let junk = over_ws(&mut ws, "junk", &query, vars).await;
        for (name, cursor) in [
            ("A's cursor", &a_cursor),
            ("A's first cursor", &a_first),
            ("A's full-sync nextToken", &a_full_next),
            ("A's delta-sync nextToken", &a_delta_next),
            ("A's tasks nextToken", &a_tasks_next),
        ] {
            let (query, vars) = document(cursor);
            let theirs = over_ws(&mut ws, "theirs", &query, vars).await;
            judge_refusal(
                &mut failures,
                &secrets,
                format!("taskChanges(after: {name}) on {path} (control: garbage)"),
                &theirs,
                &junk,
                "BAD_USER_INPUT",
            );
        }
    }
    ws.round_trip().await;

    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        everything_of(app, &a, &a_first, a_user).await,
        before,
        "A's tasks, listing and log are as they were"
    );
    assert_eq!(
        head(app, b_user).await,
        1,
        "B wrote nothing but its own task"
    );

    // Live: B's subscriptions of every kind, on both paths and resuming
    // from B's cursor, get B's changes and none of A's (which A makes
    // first, so a leak would arrive before B's own).
    let mut live = WsClient::ready(app, &b.access).await;
    let subscriptions = [
        ("changes", changes_q(), json!({ "after": null }), 3),
        (
            "changes through the executor",
            "subscription { taskChanges { ...C } } fragment C on TaskChange { op cursor task { id title } }".to_owned(),
            json!({}),
            3,
        ),
        ("changes after B's cursor", changes_q(), json!({ "after": b_cursor }), 3),
        ("onCreateTask", "subscription { onCreateTask { id title } }".to_owned(), json!({}), 1),
        ("onUpdateTask", "subscription { onUpdateTask { id title } }".to_owned(), json!({}), 1),
        ("onDeleteTask", "subscription { onDeleteTask { id title } }".to_owned(), json!({}), 1),
        (
            "onCreateTask through the executor",
            "subscription { onCreateTask { ...T } } fragment T on Task { id title }".to_owned(),
            json!({}),
            1,
        ),
    ];
    for (name, query, vars, _) in &subscriptions {
        live.subscribe(name, query, vars.clone()).await;
    }
    live.round_trip().await;
    for (who, token) in [("A", &a.access), ("B", &b.access)] {
        let task = create(app, token, json!({ "title": format!("{who}'s live task") })).await;
        data(
            app,
            token,
            &update_q(),
            json!({ "input": { "id": task["id"], "title": format!("{who}'s live task, renamed") } }),
        )
        .await;
        data(
            app,
            token,
            &delete_q(),
            json!({ "input": { "id": task["id"] } }),
        )
        .await;
    }
    let expected: BTreeMap<String, usize> = subscriptions
        .iter()
        .map(|(name, _, _, n)| ((*name).to_owned(), *n))
        .collect();
    let mut got: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..expected.values().sum::<usize>() {
        let v = live.json().await;
        assert_eq!(v["type"], "next", "{v}");
        let text = v["payload"].to_string();
        assert!(
            text.contains("B's live task") && !text.contains("A's"),
            "B's subscription {} delivered something not B's: {v}",
            v["id"]
        );
        *got.entry(v["id"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    assert_eq!(
        got, expected,
        "each subscription got B's changes of its kind"
    );
    live.round_trip().await;
}

/// B's cursor at the start of its log (scope of `cursor`, seq 0).
fn b_first(cursor: &str) -> String {
    let c = tasksync_core::Cursor::decode(cursor).expect("cursor");
    tasksync_core::Cursor::new(c.scope, 0).encode()
}

#[tokio::test]
async fn another_users_ids_cursors_and_page_tokens_reveal_and_change_nothing() {
    another_users_things_reveal_and_change_nothing(&spawn_app().await).await;
}

#[tokio::test]
async fn another_users_ids_cursors_and_page_tokens_reveal_and_change_nothing_on_postgres() {
    let Some((_db, app)) = spawn_on_postgres().await else {
        return;
    };
    another_users_things_reveal_and_change_nothing(&app).await;
}

// ---------------------------------------------------------------------------
// Enumeration
// ---------------------------------------------------------------------------

/// An answer as bytes, with the headers a difference could hide in.
#[derive(Debug, Clone, PartialEq)]
struct Raw {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

async fn raw_post(app: &TestApp, path: &str, body: &Value) -> Raw {
    let r = app
        .client
        .post(app.url(path))
        .json(body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let headers = [
        "content-type",
        "content-length",
        "cache-control",
        "www-authenticate",
        "set-cookie",
        "retry-after",
    ]
    .into_iter()
    .map(|name| {
        let value = r
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or("(not text)").to_owned());
        // How long to wait depends on when the lockout began, not on who
        // the address is: only whether there is a wait is compared.
        let value = match (name, value) {
            ("retry-after", Some(_)) => "(present)".to_owned(),
            (_, v) => v.unwrap_or_default(),
        };
        (name, value)
    })
    .collect();
    let mut body = r.text().await.expect("body");
    // A sign-up answers with a fresh id every time, whoever the address is.
    if path == "/auth/sign-up"
        && let Some(id) = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["userId"].as_str().map(str::to_owned))
    {
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{body}");
        body = body.replace(&id, "(an id)");
    }
    Raw {
        status,
        headers,
        body,
    }
}

/// A six-digit code that none of the codes mailed to `addr` is.
async fn unmailed_code(app: &TestApp, addr: &str) -> String {
    let mailed: Vec<String> = app
        .mails_to(addr)
        .await
        .iter()
        .filter_map(|m| crate::helpers::extract_code(m["text"].as_str().unwrap_or_default()))
        .collect();
    (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| !mailed.contains(c))
        .expect("a free code")
}

#[tokio::test]
async fn every_auth_endpoint_answers_confirmed_pending_disabled_and_unknown_addresses_alike() {
    let app = spawn_app().await;
    let confirmed = email("confirmed");
    app.register(&confirmed).await;
    let pending = email("pending");
    assert_eq!(app.sign_up(&pending, PASSWORD).await.status, 201);
    let disabled = email("disabled");
    app.register(&disabled).await;
    tasksync_server::admin::users(
        &app.state.settings.database,
        &tasksync_server::config::UsersCommand::Disable {
            email: disabled.clone(),
        },
    )
    .await
    .expect("disable");
    // One unknown address throughout (so its sign-in failures add up as
    // the others' do), except where a sign-up would make it known.
    let unknown = email("unknown");

    // (what, path, body for an address and a code that is not its code)
    type Body = fn(&str, &str) -> Value;
    let rows: [(&str, &str, Body); 9] = [
        (
            "sign-up",
            "/auth/sign-up",
            |e, _| json!({ "email": e, "password": NEW_PASSWORD }),
        ),
        (
            "sign-up with a weak password",
            "/auth/sign-up",
            |e, _| json!({ "email": e, "password": "password1" }),
        ),
        (
            "resend-code",
            "/auth/resend-code",
            |e, _| json!({ "email": e }),
        ),
        (
            "confirm-sign-up with a wrong code",
            "/auth/confirm-sign-up",
            |e, c| json!({ "email": e, "code": c }),
        ),
        (
            "forgot-password",
            "/auth/forgot-password",
            |e, _| json!({ "email": e }),
        ),
        (
            "confirm-forgot-password with a wrong code",
            "/auth/confirm-forgot-password",
            |e, c| json!({ "email": e, "code": c, "newPassword": NEW_PASSWORD }),
        ),
        (
            "confirm-forgot-password with a weak new password",
            "/auth/confirm-forgot-password",
            |e, c| json!({ "email": e, "code": c, "newPassword": "password1" }),
        ),
        (
            "sign-in with a wrong password",
            "/auth/sign-in",
            |e, _| json!({ "email": e, "password": "not the password at all" }),
        ),
        (
            "sign-in with a too short password",
            "/auth/sign-in",
            |e, _| json!({ "email": e, "password": "short" }),
        ),
    ];
    let mut failures = Vec::new();
    let mut compared = 0;
    for round in 1..=2 {
        for (what, path, body) in rows {
            let mut answers = Vec::new();
            for (who, addr) in [
                ("a confirmed address", confirmed.clone()),
                ("a pending address", pending.clone()),
                ("a disabled address", disabled.clone()),
                (
                    "an unknown address",
                    if path == "/auth/sign-up" {
                        email("unknown")
                    } else {
                        unknown.clone()
                    },
                ),
            ] {
                let code = unmailed_code(&app, &addr).await;
                answers.push((who, raw_post(&app, path, &body(&addr, &code)).await));
            }
            let (first, model) = &answers[0];
            for (who, answer) in &answers[1..] {
                compared += 1;
                if answer != model {
                    failures.push(format!(
                        "{what} (round {round}): {who} answers\n  {answer:?}\nbut {first}\n  {model:?}"
                    ));
                }
            }
        }
    }

    // Every address has four failed sign-ins now. A burst of wrong
    // passwords gets its fifth evaluated and then the lockout, the same
    // for addresses with and without an account.
    let mut lockouts = Vec::new();
    for (who, addr) in [
        ("a confirmed address", &confirmed),
        ("a pending address", &pending),
        ("a disabled address", &disabled),
        ("an unknown address", &unknown),
    ] {
        let body = json!({ "email": addr, "password": "not the password at all" });
        let burst = (0..10).map(|_| raw_post(&app, "/auth/sign-in", &body));
        let answers = futures_util::future::join_all(burst).await;
        let refused: Vec<&Raw> = answers.iter().filter(|a| a.status == 401).collect();
        let waiting: Vec<&Raw> = answers.iter().filter(|a| a.status == 429).collect();
        assert_eq!(
            (refused.len(), waiting.len()),
            (1, 9),
            "{who}: one guess evaluated, the rest wait: {answers:?}"
        );
        lockouts.push((who, refused[0].clone(), waiting[0].clone()));
    }
    for (who, refused, waiting) in &lockouts[1..] {
        compared += 1;
        if (refused, waiting) != (&lockouts[0].1, &lockouts[0].2) {
            failures.push(format!(
                "the lockout: {who} answers\n  {refused:?}\n  {waiting:?}\nbut a confirmed address\n  {:?}\n  {:?}",
                lockouts[0].1, lockouts[0].2
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} comparisons differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// WebSocket protocol abuse
// ---------------------------------------------------------------------------

/// What a message must lead to.
#[derive(Debug, Clone)]
enum Expect {
    /// The socket closes with this code.
    Close(u16),
    /// A pong comes back and the socket stays.
    Pong,
    /// Nothing comes back and the socket stays.
    Ignored,
    /// The operation of this id runs to `complete`.
    Completes(String),
}

fn nested(depth: usize) -> String {
    format!(
        r#"{{"id":"n","type":"subscribe","payload":{{"query":"{{ __typename }}","variables":{{"v":{}{}}}}}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

fn text(s: impl Into<String>) -> Message {
    Message::Text(s.into().into())
}

fn subscribe_with_id(id: &str) -> Message {
    text(
        json!({ "id": id, "type": "subscribe", "payload": { "query": "{ __typename }" } })
            .to_string(),
    )
}

/// The next event, or `None` if the server says nothing for 10 s (before
/// the client's own limit fails the test without naming the case).
async fn next_event(ws: &mut WsClient) -> Option<Event> {
    tokio::time::timeout(Duration::from_secs(10), ws.event())
        .await
        .ok()
}

/// Sends `message` on `ws` and checks `expect`; `Err` says what happened
/// instead.
async fn expect(ws: &mut WsClient, message: Message, expect: &Expect) -> Result<(), String> {
    ws.send_raw(message).await;
    if matches!(expect, Expect::Ignored) {
        ws.send(json!({ "type": "ping" })).await;
    }
    let mut seen = Vec::new();
    loop {
        let event = next_event(ws).await;
        match (expect, event) {
            (Expect::Close(code), Some(Event::Closed(c, _))) if c == *code => return Ok(()),
            (Expect::Pong | Expect::Ignored, Some(Event::Json(v)))
                if v == json!({ "type": "pong" }) =>
            {
                return Ok(());
            }
            (Expect::Completes(id), Some(Event::Json(v)))
                if v["id"] == id.as_str() && v["type"] == "complete" =>
            {
                return Ok(());
            }
            (Expect::Completes(id), Some(Event::Json(v)))
                if v["id"] == id.as_str() && v["type"] == "next" =>
            {
                seen.push(v);
            }
            (_, other) => {
                return Err(format!(
                    "want {expect:?}, got {seen:?} then {}",
                    other.map_or("nothing for 10 s".to_owned(), |e| format!("{e:?}"))
                ));
            }
        }
    }
}

#[tokio::test]
async fn messages_before_connection_init_are_refused_or_answered_as_documented() {
    let app = spawn_app().await;
    let t = app.signed_in(&email("before-init")).await;
    let user = user_of(&app, &t).await;
    let cases: Vec<(&str, Message, Expect)> = vec![
        ("text that is not JSON", text("{hello"), Expect::Close(4400)),
        ("JSON that is not an object", text("[]"), Expect::Close(4400)),
        ("an unknown message type", text(r#"{"type":"hello"}"#), Expect::Close(4400)),
        (
            "a connection_ack sent by the client",
            text(r#"{"type":"connection_ack"}"#),
            Expect::Close(4400),
        ),
        (
            "a next sent by the client",
            text(r#"{"id":"1","type":"next","payload":{"data":{}}}"#),
            Expect::Close(4400),
        ),
        ("a binary frame", Message::Binary(vec![123, 125].into()), Expect::Close(4400)),
        ("JSON nested 10,000 deep", text(nested(10_000)), Expect::Close(4400)),
        (
            "a query before the ack",
            subscribe_with_id("q"),
            Expect::Close(4401),
        ),
        (
            "a mutation before the ack",
            text(json!({ "id": "m", "type": "subscribe", "payload": { "query": "mutation { createTask(input: { title: \"before the ack\" }) { id } }" } }).to_string()),
            Expect::Close(4401),
        ),
        (
            "connection_init whose payload is a string",
            text(json!({ "type": "connection_init", "payload": format!("Bearer {}", t.access) }).to_string()),
            Expect::Close(4403),
        ),
        (
            "connection_init whose authorization is not a string",
            text(r#"{"type":"connection_init","payload":{"authorization":42}}"#),
            Expect::Close(4403),
        ),
        (
            "connection_init with the token but no Bearer scheme",
            text(json!({ "type": "connection_init", "payload": { "authorization": t.access } }).to_string()),
            Expect::Close(4403),
        ),
        (
            "connection_init with a Basic scheme",
            text(json!({ "type": "connection_init", "payload": { "authorization": format!("Basic {}", t.access) } }).to_string()),
            Expect::Close(4403),
        ),
        ("a ping", text(r#"{"type":"ping"}"#), Expect::Pong),
        ("a ping with a payload", text(r#"{"type":"ping","payload":{"x":1}}"#), Expect::Pong),
        ("an unsolicited pong", text(r#"{"type":"pong"}"#), Expect::Ignored),
        (
            "complete for an unknown id",
            text(r#"{"id":"nobody","type":"complete"}"#),
            Expect::Ignored,
        ),
    ];
    let mut failures = Vec::new();
    for (name, message, want) in cases {
        let mut ws = WsClient::connect(&app).await;
        if let Err(e) = expect(&mut ws, message, &want).await {
            failures.push(format!("{name}: {e}"));
            continue;
        }
        if !matches!(want, Expect::Close(_)) {
            // The socket is still waiting for its init, and takes it.
            ws.init(&t.access).await;
            match ws.event().await {
                Event::Json(v) if v["type"] == "connection_ack" => {}
                other => failures.push(format!("{name}: then no ack but {other:?}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(head(&app, user).await, 0, "nothing sent before the ack ran");

    // Two inits sent at once: the first is acknowledged, the second closes.
    let mut ws = WsClient::connect(&app).await;
    ws.init(&t.access).await;
    ws.init(&t.access).await;
    assert_eq!(ws.json().await["type"], "connection_ack");
    assert_eq!(
        ws.closed().await.0,
        4429,
        "a second init before reading the ack"
    );
}

#[tokio::test]
async fn messages_after_the_ack_are_refused_or_answered_as_documented() {
    let app = spawn_app().await;
    let t = app.signed_in(&email("after-ack")).await;
    let long = |n: usize| "i".repeat(n);
    let cases: Vec<(String, Message, Expect)> = vec![
        ("JSON that is a string".into(), text(r#""hello""#), Expect::Close(4400)),
        ("JSON null".into(), text("null"), Expect::Close(4400)),
        (
            "a type that differs in case".into(),
            text(r#"{"type":"PING"}"#),
            Expect::Close(4400),
        ),
        (
            "a subscribe whose id is a number".into(),
            text(r#"{"id":1,"type":"subscribe","payload":{"query":"{ __typename }"}}"#),
            Expect::Close(4400),
        ),
        (
            "a subscribe without a payload".into(),
            text(r#"{"id":"x","type":"subscribe"}"#),
            Expect::Close(4400),
        ),
        (
            "a subscribe whose payload is not a request".into(),
            text(r#"{"id":"x","type":"subscribe","payload":"{ __typename }"}"#),
            Expect::Close(4400),
        ),
        (
            "a subscribe with an empty id".into(),
            subscribe_with_id(""),
            Expect::Close(4400),
        ),
        (
            "a subscribe whose id is 129 bytes".into(),
            subscribe_with_id(&long(129)),
            Expect::Close(4400),
        ),
        (
            "a subscribe whose id is 60 KiB".into(),
            subscribe_with_id(&long(60 * 1024)),
            Expect::Close(4400),
        ),
        (
            "a complete whose id is 1 KiB".into(),
            text(json!({ "id": long(1024), "type": "complete" }).to_string()),
            Expect::Close(4400),
        ),
        (
            "a complete without an id".into(),
            text(r#"{"type":"complete"}"#),
            Expect::Close(4400),
        ),
        (
            "a connection_ack sent by the client".into(),
            text(r#"{"type":"connection_ack"}"#),
            Expect::Close(4400),
        ),
        (
            "an error sent by the client".into(),
            text(r#"{"id":"1","type":"error","payload":[]}"#),
            Expect::Close(4400),
        ),
        (
            "JSON nested 10,000 deep".into(),
            text(nested(10_000)),
            Expect::Close(4400),
        ),
        (
            "a subscribe of 70 KiB".into(),
            text(
                json!({ "id": "big", "type": "subscribe", "payload": { "query": format!("{{ __typename }} #{}", "x".repeat(70 * 1024)) } })
                    .to_string(),
            ),
            Expect::Close(1009),
        ),
        (
            "a ping of 60 KiB, under the limit".into(),
            text(json!({ "type": "ping", "payload": { "pad": "x".repeat(60 * 1024) } }).to_string()),
            Expect::Pong,
        ),
        (
            "an unsolicited pong".into(),
            text(r#"{"type":"pong","payload":{}}"#),
            Expect::Ignored,
        ),
        (
            "complete for an unknown id".into(),
            text(r#"{"id":"nobody","type":"complete"}"#),
            Expect::Ignored,
        ),
        (
            "a subscribe whose id is 128 bytes".into(),
            subscribe_with_id(&long(128)),
            Expect::Completes(long(128)),
        ),
        (
            "a subscribe whose id is a UUID".into(),
            subscribe_with_id("0b5e5c5f-7d7e-4f3c-9a53-1d4f0f3b6c11"),
            Expect::Completes("0b5e5c5f-7d7e-4f3c-9a53-1d4f0f3b6c11".into()),
        ),
    ];
    let mut failures = Vec::new();
    for (name, message, want) in cases {
        let mut ws = WsClient::ready(&app, &t.access).await;
        if let Err(e) = expect(&mut ws, message, &want).await {
            failures.push(format!("{name}: {e}"));
            continue;
        }
        if !matches!(want, Expect::Close(_)) {
            ws.round_trip().await;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn ended_operations_free_their_ids_and_slots_and_complete_stops_delivery() {
    let app = spawn_with(|s| s.ws_max_subscriptions = 2).await;
    let t = app.signed_in(&email("ids")).await;
    let mut ws = WsClient::ready(&app, &t.access).await;
    for round in 0..2 {
        let answer = over_ws(&mut ws, "q", "{ tasks { items { id } } }", json!({})).await;
        assert_eq!(
            answer[1]["type"], "complete",
            "round {round}: a query's id is free again once it completed: {answer}"
        );
    }
    for round in 0..2 {
        let answer = over_ws(
            &mut ws,
            "bad",
            "subscription { taskChanges(after: \"c1nope\") { op } }",
            json!({}),
        )
        .await;
        assert_eq!(
            answer[0]["type"], "error",
            "round {round}: a failed subscription's id is free again: {answer}"
        );
    }
    ws.subscribe("s1", &changes_q(), json!({})).await;
    ws.subscribe("s2", &changes_q(), json!({})).await;
    ws.round_trip().await;
    ws.send(json!({ "id": "s1", "type": "complete" })).await;
    // The completed id and its slot are free: this is neither a duplicate
    // (4409) nor a third subscription (RATE_LIMITED).
    ws.subscribe("s1", &changes_q(), json!({})).await;
    ws.round_trip().await;
    ws.subscribe("s3", &changes_q(), json!({})).await;
    let refused = ws.json().await;
    assert_eq!(
        (refused["id"].as_str(), refused["type"].as_str()),
        (Some("s3"), Some("error")),
        "two are live: {refused}"
    );
    crate::ws::create(&app, &t.access, "one change").await;
    let mut ids: Vec<String> = Vec::new();
    for _ in 0..2 {
        let v = ws.json().await;
        assert_eq!(v["type"], "next", "{v}");
        ids.push(v["id"].as_str().unwrap_or_default().to_owned());
    }
    ids.sort();
    assert_eq!(
        ids,
        ["s1", "s2"],
        "one event each; the completed s1 sent none"
    );
    ws.round_trip().await;
}

#[tokio::test]
async fn pings_before_connection_init_do_not_hold_off_the_init_timeout() {
    let app = spawn_with(|s| s.ws_init_timeout = Duration::from_millis(300)).await;
    let mut ws = WsClient::connect(&app).await;
    let mut pongs = 0;
    let code = loop {
        ws.send(json!({ "type": "ping" })).await;
        match ws.event().await {
            Event::Json(v) if v["type"] == "pong" => pongs += 1,
            Event::Closed(code, _) => break code,
            Event::Json(v) => panic!("unexpected {v}"),
        }
        // Pacing, not synchronisation: a ping every 20 ms until the close.
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(pongs > 0, "pings before the init are answered");
    assert_eq!(code, 4408, "pings are no connection_init");
}

/// A masked client text frame, as RFC 6455 wants one.
fn client_frame(payload: &[u8]) -> Vec<u8> {
    let mask = [0x5a, 0x17, 0xc3, 0x81];
    let mut frame = vec![0x81];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&u16::try_from(n).expect("small").to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// The opcodes of the frames the server sends on `tcp` until it closes the
/// connection.
async fn frames_until_closed(tcp: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut opcodes = Vec::new();
    loop {
        let mut head = [0u8; 2];
        if tcp.read_exact(&mut head).await.is_err() {
            return opcodes;
        }
        opcodes.push(head[0] & 0x0f);
        let len = match head[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                if tcp.read_exact(&mut b).await.is_err() {
                    return opcodes;
                }
                u64::from(u16::from_be_bytes(b))
            }
            127 => {
                let mut b = [0u8; 8];
                if tcp.read_exact(&mut b).await.is_err() {
                    return opcodes;
                }
                u64::from_be_bytes(b)
            }
            n => u64::from(n),
        };
        let mut body = vec![0u8; usize::try_from(len).expect("len")];
        if tcp.read_exact(&mut body).await.is_err() {
            return opcodes;
        }
    }
}

#[tokio::test]
async fn the_server_pings_and_drops_a_peer_that_never_answers_but_keeps_one_that_does() {
    let app = spawn_with(|s| {
        s.ws_ping_interval = Duration::from_millis(250);
        s.ws_init_timeout = Duration::from_secs(60);
    })
    .await;
    let t = app.signed_in(&email("pings")).await;
    // A peer that completes the handshake and the init, then reads nothing
    // and answers no ping (a raw TCP stream: no WebSocket library to
    // answer for it).
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut dead = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    dead.write_all(
        format!(
            "GET /graphql HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .expect("handshake");
    let mut response = Vec::new();
    while !response.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        dead.read_exact(&mut byte).await.expect("response");
        response.push(byte[0]);
    }
    assert!(
        response.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&response)
    );
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", t.access) } });
    dead.write_all(&client_frame(init.to_string().as_bytes()))
        .await
        .expect("init");

    // A live peer, whose WebSocket library answers every ping while it
    // waits for messages.
    let mut live = WsClient::ready(&app, &t.access).await;
    let opcodes = tokio::select! {
        opcodes = tokio::time::timeout(WAIT, frames_until_closed(&mut dead)) => {
            opcodes.expect("a peer that answers no ping is dropped")
        }
        event = live.event() => panic!("the live peer got {event:?}"),
    };
    assert_eq!(opcodes.first(), Some(&0x1), "the ack first: {opcodes:?}");
    assert!(
        opcodes.contains(&0x9),
        "the server pinged before dropping: {opcodes:?}"
    );
    // The live peer saw as many ping intervals and is still served.
    live.round_trip().await;
}
