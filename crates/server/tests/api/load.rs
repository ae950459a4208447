//! The server under load from one user: a burst of subscriptions must not
//! stall anybody (that user's other subscriptions, or another user's
//! queries), on both backends; subscribers that read nothing, and sockets
//! opened and closed in a loop, cost bounded memory.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use tasksync_store::testing::TestDatabase;

use crate::helpers::{Http, TestApp, email, metric, rss_kib, spawn_app, spawn_on_postgres};
use crate::multinode::Node;
use crate::ws::create;
use crate::ws_client::WsClient;

/// Sockets of the burst, and subscriptions sent back to back on each
/// (within the default caps of 100 sockets per user and 100 subscriptions
/// per socket).
const SOCKETS: usize = 100;
const PER_SOCKET: usize = 4;
/// Changes made before the burst, replayed by `taskChanges(after:)`.
const OLD: usize = 30;
/// Changes made after the burst, which every subscription must receive.
const NEW: usize = 5;

/// How long another user's query may take while the burst runs. Generous
/// for a slow CI machine; the stall this guards against lasted 30 s.
const PROMPT: Duration = Duration::from_secs(3);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// `onCreateTask { id }`: live only.
    Live,
    /// `taskChanges(after: <cursor before OLD changes>)`: each start reads
    /// the log.
    Replay,
}

/// A bystander's query, answered within `PROMPT`, over and over until
/// `stop` fires; returns how many answered.
async fn bystander(
    http: Http,
    token: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> usize {
    let mut answered = 0;
    while !*stop.borrow() {
        let started = std::time::Instant::now();
        let answer = tokio::time::timeout(
            PROMPT,
            http.gql(Some(&token), "{ tasks { items { id } } }", json!({})),
        )
        .await
        .unwrap_or_else(|_| {
            panic!("another user's query did not answer within {PROMPT:?} during the burst")
        });
        assert!(
            answer.body["errors"].is_null(),
            "bystander's query failed: {}",
            answer.body
        );
        assert!(started.elapsed() <= PROMPT);
        answered += 1;
        tokio::select! {
            _ = stop.changed() => {}
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
    answered
}

async fn burst(app: &TestApp, kind: Kind) {
    let owner = app.signed_in(&email("burst")).await;
    let other = app.signed_in(&email("bystander")).await;
    let before = app
        .gql(
            Some(&owner.access),
            "{ syncTasks(limit: 1) { cursor } }",
            json!({}),
        )
        .await
        .body["data"]["syncTasks"]["cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let mut old_ids = Vec::new();
    if kind == Kind::Replay {
        for i in 0..OLD {
            old_ids.push(create(app, &owner.access, &format!("old {i}")).await["id"].clone());
        }
    }

    let mut sockets = Vec::with_capacity(SOCKETS);
    for _ in 0..SOCKETS {
        sockets.push(WsClient::ready(app, &owner.access).await);
    }

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let watcher = tokio::spawn(bystander(
        Http::new(app.base.clone()),
        other.access.clone(),
        stopped,
    ));

    let (query, variables) = match kind {
        Kind::Live => ("subscription { onCreateTask { id } }".to_owned(), json!({})),
        Kind::Replay => (
            "subscription($a: String) { taskChanges(after: $a) { cursor task { id } } }".to_owned(),
            json!({ "a": before }),
        ),
    };
    // Every subscribe of every socket back to back, then a ping: its pong
    // proves the server positioned all four.
    for ws in &mut sockets {
        for s in 0..PER_SOCKET {
            ws.subscribe(&format!("s{s}"), &query, variables.clone())
                .await;
        }
        ws.send(json!({ "type": "ping" })).await;
    }
    let expected = match kind {
        Kind::Live => NEW,
        Kind::Replay => OLD + NEW,
    };
    let (positioned_tx, mut positioned) = tokio::sync::mpsc::channel::<()>(SOCKETS);
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|mut ws| {
            let positioned_tx = positioned_tx.clone();
            tokio::spawn(async move {
                let mut got: HashMap<String, Vec<Value>> = HashMap::new();
                let mut ponged = false;
                while !ponged || got.values().map(Vec::len).sum::<usize>() < expected * PER_SOCKET {
                    let v = ws.json().await;
                    match v["type"].as_str() {
                        Some("pong") => {
                            ponged = true;
                            let _ = positioned_tx.send(()).await;
                        }
                        Some("next") => {
                            let data = &v["payload"]["data"];
                            let id = match kind {
                                Kind::Live => data["onCreateTask"]["id"].clone(),
                                Kind::Replay => data["taskChanges"]["task"]["id"].clone(),
                            };
                            assert!(!id.is_null(), "a delivery without a task: {v}");
                            got.entry(v["id"].as_str().expect("id").to_owned())
                                .or_default()
                                .push(id);
                        }
                        Some("ping") => {}
                        _ => panic!("unexpected message during the burst: {v}"),
                    }
                }
                ws.close().await;
                got
            })
        })
        .collect();
    drop(positioned_tx);
    for n in 0..SOCKETS {
        tokio::time::timeout(Duration::from_secs(30), positioned.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "only {n} of {SOCKETS} sockets had their subscriptions positioned within 30 s"
                )
            })
            .expect("a reader ended early");
    }

    let mut new_ids = Vec::new();
    for i in 0..NEW {
        new_ids.push(create(app, &owner.access, &format!("new {i}")).await["id"].clone());
    }
    let want: Vec<Value> = old_ids.iter().chain(&new_ids).cloned().collect();
    for (n, reader) in readers.into_iter().enumerate() {
        let got = tokio::time::timeout(Duration::from_secs(30), reader)
            .await
            .unwrap_or_else(|_| panic!("socket {n} did not receive every change within 30 s"))
            .expect("reader");
        assert_eq!(
            got.len(),
            PER_SOCKET,
            "socket {n}: every subscription delivers"
        );
        for (id, ids) in got {
            assert_eq!(
                ids, want,
                "socket {n}, subscription {id}: every change, once, in order"
            );
        }
    }
    stop.send(true).expect("bystander runs");
    let answered = watcher.await.expect("bystander");
    assert!(answered > 0, "the bystander's query ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_live_subscriptions_neither_stalls_nor_misses_a_change() {
    burst(&spawn_app().await, Kind::Live).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_subscriptions_replaying_the_log_neither_stalls_nor_misses_a_change() {
    burst(&spawn_app().await, Kind::Replay).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_live_subscriptions_neither_stalls_nor_misses_a_change_on_postgres() {
    let Some((_db, app)) = spawn_on_postgres().await else {
        return;
    };
    burst(&app, Kind::Live).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_subscriptions_replaying_the_log_neither_stalls_nor_misses_a_change_on_postgres()
{
    let Some((_db, app)) = spawn_on_postgres().await else {
        return;
    };
    burst(&app, Kind::Replay).await;
}

/// Waits until the node has no socket open.
async fn until_no_sockets(node: &Http, within: Duration) {
    let end = std::time::Instant::now() + within;
    loop {
        let open = metric(node, "tasksync_ws_sockets").await;
        if open == 0.0 {
            return;
        }
        assert!(
            std::time::Instant::now() < end,
            "{open} sockets still open after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What keeps a node's database alive: its directory or its PostgreSQL
/// database, removed when dropped (after the node).
type Db = Box<dyn std::any::Any + Send>;

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A node process on a fresh database of `backend`, or `None` when
/// PostgreSQL is wanted but unreachable (and skipping is allowed).
async fn node_on(backend: Backend, name: &str, env: &[(&str, &str)]) -> Option<(Db, Node)> {
    let (url, db) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = format!("sqlite://{}", dir.path().join("tasksync.db").display());
            (url, Box::new(dir) as Db)
        }
        Backend::Postgres => {
            let db = TestDatabase::create().await?;
            (db.url().to_owned(), Box::new(db) as Db)
        }
    };
    // In this order the node is dropped (killed) before its database.
    Some((db, Node::start_with(name, &url, env)))
}

/// 100 subscribers that read nothing while 2,000 changes of 4 KB flow:
/// the server's memory stays bounded (nothing is queued per subscriber
/// beyond its socket's buffers: they share the scope's ring and then read
/// the log only when their socket can take more), and the send timeout
/// closes every one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_that_read_nothing_cost_bounded_memory_and_are_closed() {
    stalled_subscribers(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_that_read_nothing_cost_bounded_memory_and_are_closed_on_postgres() {
    stalled_subscribers(Backend::Postgres).await;
}

async fn stalled_subscribers(backend: Backend) {
    const STALLED: usize = 100;
    const WRITES: usize = 2000;
    let Some((_db, node)) =
        // One user writes 2,000 changes as fast as it can: this measures the
        // feed, not the API's rate limit.
        node_on(
            backend,
            "stalled",
            &[
                ("TASKSYNC_WS_SEND_TIMEOUT", "2s"),
                ("TASKSYNC_API_RATE_PER_SECOND", "1000000"),
                ("TASKSYNC_API_RATE_BURST", "1000000"),
            ],
        )
        .await
    else {
        return;
    };
    let t = node.signed_in(&email("stalled")).await;
    let mut stalled = Vec::with_capacity(STALLED);
    for _ in 0..STALLED {
        let mut ws = WsClient::ready(&node, &t.access).await;
        ws.subscribe(
            "s",
            &crate::ws_client::changes_q(),
            json!({ "after": null }),
        )
        .await;
        ws.round_trip().await;
        stalled.push(ws);
    }
    let before = rss_kib(node.pid());

    let description = "x".repeat(4000);
    let q = "mutation($t: String!, $d: String) { createTask(input: { title: $t, description: $d }) { id } }";
    let mut writers = Vec::new();
    for w in 0..4 {
        let (http, token, d) = (
            Http::new(node.base.clone()),
            t.access.clone(),
            description.clone(),
        );
        writers.push(tokio::spawn(async move {
            for i in 0..WRITES / 4 {
                let a = http
                    .gql(Some(&token), q, json!({ "t": format!("w{w} {i}"), "d": d }))
                    .await;
                assert!(a.body["errors"].is_null(), "{}", a.body);
            }
        }));
    }
    let pid = node.pid();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(pid), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    for w in writers {
        w.await.expect("writer");
    }
    // The server closes them itself: nobody here reads a byte.
    until_no_sockets(&node, Duration::from_secs(30)).await;
    sampler.abort();
    let peak = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .max(rss_kib(pid));
    let growth = peak.saturating_sub(before);
    eprintln!("{STALLED} stalled subscribers: server RSS {before} KiB, peak +{growth} KiB");
    // Had the server queued every change for every stalled subscriber, it
    // would have held 100 x 2,000 x 4 KB = 800 MB. What one may hold: its
    // socket's write buffer (4 x 64 KiB), a burst (about 64 KiB) and a page
    // of the log with its rendering (about 2 x 128 KiB), some 576 KiB, so
    // 56 MiB for 100, plus the allocator's slack.
    assert!(
        growth < 96 * 1024,
        "the server's RSS peaked {growth} KiB above {before} KiB with {STALLED} stalled subscribers"
    );
    drop(stalled);
}

/// A client that opens, subscribes and closes sockets in a loop: after
/// 10,000 rounds the server's memory is back within 10 % of where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_and_closing_sockets_in_a_loop_does_not_leak() {
    socket_churn(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_and_closing_sockets_in_a_loop_does_not_leak_on_postgres() {
    socket_churn(Backend::Postgres).await;
}

async fn socket_churn(backend: Backend) {
    const ROUNDS: usize = 10_000;
    const CLIENTS: usize = 8;
    // Two read connections, not eight: each connection's page and
    // statement caches fill as it is first used, which is growth that
    // stops, not a leak.
    let Some((_db, node)) =
        node_on(backend, "churn", &[("TASKSYNC_DB_READ_CONNECTIONS", "2")]).await
    else {
        return;
    };
    let t = node.signed_in(&email("churn")).await;
    let churn = |rounds: usize| {
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            let (http, token) = (Http::new(node.base.clone()), t.access.clone());
            clients.push(tokio::spawn(async move {
                for _ in 0..rounds / CLIENTS {
                    let mut ws = WsClient::ready(&http, &token).await;
                    ws.subscribe(
                        "s",
                        &crate::ws_client::changes_q(),
                        json!({ "after": null }),
                    )
                    .await;
                    ws.round_trip().await;
                    ws.close().await;
                }
            }));
        }
        clients
    };
    // Warm up: the allocator's, the runtime's and the connections' caches
    // reach their size (RSS rises by ~10 % over the first few thousand
    // rounds, then stays flat: measured over 30,000).
    for c in churn(5000) {
        c.await.expect("client");
    }
    until_no_sockets(&node, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = rss_kib(node.pid());
    for c in churn(ROUNDS) {
        c.await.expect("client");
    }
    until_no_sockets(&node, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let end = rss_kib(node.pid());
    eprintln!("{ROUNDS} socket rounds: server RSS {start} KiB before, {end} KiB after");
    assert!(
        end * 10 <= start * 11,
        "RSS went from {start} KiB to {end} KiB over {ROUNDS} socket rounds"
    );
    let opened = metric(&node, "tasksync_ws_sockets").await;
    assert_eq!(opened, 0.0, "every socket is gone");
}
