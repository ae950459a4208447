//! The server under load from one user: a burst of subscriptions must not
//! stall anybody (that user's other subscriptions, or another user's
//! queries), on both backends.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use tasksync_store::testing::TestDatabase;

use crate::helpers::{Http, TestApp, email, spawn_app, spawn_with};
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

async fn on_postgres() -> Option<(TestDatabase, TestApp)> {
    let db = TestDatabase::create().await?;
    let url = db.url().to_owned();
    let app = spawn_with(move |s| s.database.database_url = url).await;
    Some((db, app))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_live_subscriptions_neither_stalls_nor_misses_a_change_on_postgres() {
    let Some((_db, app)) = on_postgres().await else {
        return;
    };
    burst(&app, Kind::Live).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_subscriptions_replaying_the_log_neither_stalls_nor_misses_a_change_on_postgres()
{
    let Some((_db, app)) = on_postgres().await else {
        return;
    };
    burst(&app, Kind::Replay).await;
}
