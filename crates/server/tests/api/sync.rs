//! Incremental sync and gapless resume: `syncTasks`, `taskChanges(after:)`,
//! cursor isolation, retention, and randomized end-to-end models.

use std::collections::HashMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};
use tasksync_core::{Cursor, UserId};

use crate::helpers::{TestApp, email, spawn_app};
use crate::ws::create;
use crate::ws_client::{Event, WsClient, changes_q};

const SYNC: &str = "query($last: String, $limit: Int, $next: String) { syncTasks(lastSync: $last, limit: $limit, nextToken: $next) { items { id title done version deleted } nextToken cursor fullSync } }";

async fn sync_page(
    app: &TestApp,
    token: &str,
    last: Option<&str>,
    limit: i64,
    next: Option<&str>,
) -> Value {
    let a = app
        .gql(
            Some(token),
            SYNC,
            json!({ "last": last, "limit": limit, "next": next }),
        )
        .await;
    assert!(a.body["errors"].is_null(), "syncTasks: {}", a.body);
    a.body["data"]["syncTasks"].clone()
}

/// A whole sync run: (items, cursor, fullSync), asserting the cursor and
/// the mode are the same on every page.
async fn sync_all(
    app: &TestApp,
    token: &str,
    last: Option<&str>,
    limit: i64,
) -> (Vec<Value>, String, bool) {
    let first = sync_page(app, token, last, limit, None).await;
    let (cursor, full) = (
        first["cursor"].as_str().expect("cursor").to_owned(),
        first["fullSync"].as_bool().expect("bool"),
    );
    let mut items: Vec<Value> = first["items"].as_array().expect("items").clone();
    let mut next = first["nextToken"].as_str().map(str::to_owned);
    while let Some(token_) = next {
        let page = sync_page(app, token, last, limit, Some(&token_)).await;
        assert_eq!(
            page["cursor"],
            cursor.as_str(),
            "one cursor for every page of a sync"
        );
        assert_eq!(page["fullSync"], full);
        items.extend(page["items"].as_array().expect("items").iter().cloned());
        next = page["nextToken"].as_str().map(str::to_owned);
    }
    (items, cursor, full)
}

async fn gql_ok(app: &TestApp, token: &str, q: &str, vars: Value) -> Value {
    let a = app.gql(Some(token), q, vars).await;
    assert!(a.body["errors"].is_null(), "{q}: {}", a.body);
    a.body["data"].clone()
}

const UPDATE: &str = "mutation($id: ID!, $t: String, $d: Boolean, $v: Int) { updateTask(input: { id: $id, title: $t, done: $d, expectedVersion: $v }) { id title done version deleted } }";
const DELETE: &str = "mutation($id: ID!, $v: Int) { deleteTask(input: { id: $id, expectedVersion: $v }) { id title done version deleted } }";

fn seq(cursor: &str) -> i64 {
    Cursor::decode(cursor).expect("a cursor").seq
}

#[tokio::test]
async fn a_full_sync_pages_the_live_set_at_one_cursor_and_a_delta_sync_returns_each_change_once() {
    let app = spawn_app().await;
    let t = app.signed_in(&email("sync")).await;
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(create(&app, &t.access, &format!("t{i}")).await["id"].clone());
    }
    gql_ok(&app, &t.access, DELETE, json!({ "id": ids[0] })).await;

    let (items, cursor, full) = sync_all(&app, &t.access, None, 10).await;
    assert!(full, "no lastSync: a full sync");
    assert_eq!(items.len(), 24, "the live set, without the deleted task");
    assert!(items.iter().all(|t| t["deleted"] == false));
    assert_eq!(seq(&cursor), 26, "consistent up to the head when it began");

    // Changes after the cursor: two updates of one task, one of another,
    // a delete, a create.
    gql_ok(&app, &t.access, UPDATE, json!({ "id": ids[1], "d": true })).await;
    gql_ok(
        &app,
        &t.access,
        UPDATE,
        json!({ "id": ids[1], "t": "renamed" }),
    )
    .await;
    gql_ok(&app, &t.access, UPDATE, json!({ "id": ids[2], "d": true })).await;
    gql_ok(&app, &t.access, DELETE, json!({ "id": ids[3] })).await;
    let fresh = create(&app, &t.access, "fresh").await;

    let (delta, cursor2, full2) = sync_all(&app, &t.access, Some(&cursor), 2).await;
    assert!(!full2);
    let by_id: HashMap<String, &Value> = delta
        .iter()
        .map(|t| (t["id"].as_str().unwrap_or("").to_owned(), t))
        .collect();
    assert_eq!(delta.len(), 4, "each changed task once: {delta:?}");
    assert_eq!(by_id.len(), 4);
    let t1 = by_id[ids[1].as_str().expect("id")];
    assert_eq!(
        (
            t1["title"].as_str(),
            t1["done"].as_bool(),
            t1["version"].as_i64()
        ),
        (Some("renamed"), Some(true), Some(3)),
        "latest state"
    );
    assert_eq!(
        by_id[ids[3].as_str().expect("id")]["deleted"],
        true,
        "tombstones are included"
    );
    assert!(by_id.contains_key(fresh["id"].as_str().expect("id")));
    assert_eq!(seq(&cursor2), 31);

    let (nothing, cursor3, _) = sync_all(&app, &t.access, Some(&cursor2), 10).await;
    assert!(nothing.is_empty(), "nothing changed since");
    assert_eq!(cursor3, cursor2);
}

#[tokio::test]
async fn a_change_made_during_a_paged_sync_arrives_through_the_subscription_after_its_cursor() {
    let app = spawn_app().await;
    let t = app.signed_in(&email("during")).await;
    for i in 0..5 {
        create(&app, &t.access, &format!("t{i}")).await;
    }
    let first = sync_page(&app, &t.access, None, 2, None).await;
    let cursor = first["cursor"].as_str().expect("cursor").to_owned();
    let late = create(&app, &t.access, "late").await;
    let (rest, cursor_again, _) = {
        let mut items = Vec::new();
        let mut next = first["nextToken"].as_str().map(str::to_owned);
        let mut c = String::new();
        while let Some(n) = next {
            let p = sync_page(&app, &t.access, None, 2, Some(&n)).await;
            c = p["cursor"].as_str().unwrap_or("").to_owned();
            items.extend(p["items"].as_array().expect("items").iter().cloned());
            next = p["nextToken"].as_str().map(str::to_owned);
        }
        (items, c, ())
    };
    assert_eq!(cursor_again, cursor);
    assert_eq!(
        rest.len() + 2,
        6,
        "the listing may include the late task; the cursor says what is covered"
    );
    let mut c = WsClient::ready(&app, &t.access).await;
    c.subscribe("s", &changes_q(), json!({ "after": cursor }))
        .await;
    let d = c.next_data("s").await;
    assert_eq!(
        d["taskChanges"]["task"]["id"], late["id"],
        "the change after the cursor is replayed"
    );
}

#[tokio::test]
async fn cursors_and_tokens_work_only_for_their_own_scope() {
    let app = spawn_app().await;
    let a = app.signed_in(&email("cur-a")).await;
    let b = app.signed_in(&email("cur-b")).await;
    for i in 0..3 {
        create(&app, &a.access, &format!("a{i}")).await;
    }
    create(&app, &b.access, "b0").await;
    let a_sync = sync_page(&app, &a.access, None, 1, None).await;
    let a_cursor = a_sync["cursor"].as_str().expect("cursor").to_owned();
    let a_next = a_sync["nextToken"].as_str().expect("more pages").to_owned();
    let b_cursor = sync_page(&app, &b.access, None, 10, None).await["cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();

    let b_scope = Cursor::decode(&b_cursor).expect("cursor").scope;
    let forged_ahead = Cursor::new(b_scope, 1_000).encode();
    let a_scope_hex = &a_cursor[2..34];
    let retargeted = a_cursor.replacen(a_scope_hex, &b_cursor[2..34], 1);
    assert_eq!(retargeted, Cursor::new(b_scope, seq(&a_cursor)).encode());
    let mut tampered = a_cursor.clone().into_bytes();
    tampered[10] = if tampered[10] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).expect("ascii");

    let garbage = app
        .gql(Some(&b.access), SYNC, json!({ "last": "garbage" }))
        .await;
    let cases = [
        ("A's cursor", a_cursor.clone()),
        ("A's cursor with one digit changed", tampered),
        ("a cursor ahead of B's log", forged_ahead),
        ("a syncTasks nextToken used as a cursor", a_next.clone()),
    ];
    for (name, cursor) in &cases {
        let sync = app
            .gql(Some(&b.access), SYNC, json!({ "last": cursor }))
            .await;
        assert_eq!(
            sync.gql_code(),
            Some("BAD_USER_INPUT"),
            "syncTasks with {name}: {}",
            sync.body
        );
        assert_eq!(
            sync.body["errors"][0]["message"], garbage.body["errors"][0]["message"],
            "{name}: the same words as garbage"
        );
        let mut ws = WsClient::ready(&app, &b.access).await;
        ws.subscribe("x", &changes_q(), json!({ "after": cursor }))
            .await;
        let e = ws.json().await;
        assert_eq!(
            (
                e["type"].as_str(),
                e["payload"][0]["extensions"]["code"].as_str()
            ),
            (Some("error"), Some("BAD_USER_INPUT")),
            "taskChanges with {name}: {e}"
        );
    }
    let replayed = app
        .gql(Some(&b.access), SYNC, json!({ "next": a_next }))
        .await;
    assert_eq!(
        replayed.gql_code(),
        Some("BAD_USER_INPUT"),
        "A's nextToken replayed by B"
    );
    // A retargeted cursor is B's own position: it reads only B's changes.
    let mut ws = WsClient::ready(&app, &b.access).await;
    ws.subscribe(
        "own",
        &changes_q(),
        json!({ "after": Cursor::new(b_scope, 0).encode() }),
    )
    .await;
    assert_eq!(
        ws.next_data("own").await["taskChanges"]["task"]["title"],
        "b0"
    );
}

#[tokio::test]
async fn expired_cursors_get_cursor_expired_and_a_full_sync_while_tombstones_in_the_window_are_kept()
 {
    let app = spawn_app().await;
    let t = app.signed_in(&email("retain")).await;
    let me = UserId::parse(&app.me(&t.access).await.str("userId")).expect("id");
    let old = create(&app, &t.access, "old").await;
    let early = sync_page(&app, &t.access, None, 10, None).await["cursor"]
        .as_str()
        .expect("c")
        .to_owned();
    let gone = create(&app, &t.access, "deleted long ago").await;
    gql_ok(&app, &t.access, DELETE, json!({ "id": gone["id"] })).await;
    let at_trim = sync_page(&app, &t.access, None, 10, None).await["cursor"]
        .as_str()
        .expect("c")
        .to_owned();

    let removed = app
        .state
        .store
        .trim_log(tasksync_server::clock::now_ms() + 1)
        .await
        .expect("trim");
    assert_eq!(removed, 3, "every change so far is older than the horizon");
    assert_eq!(
        app.state
            .store
            .log_bounds(me)
            .await
            .expect("bounds")
            .trimmed_to,
        3
    );

    let mut ws = WsClient::ready(&app, &t.access).await;
    ws.subscribe("x", &changes_q(), json!({ "after": early }))
        .await;
    let e = ws.json().await;
    assert_eq!(
        e["payload"][0]["extensions"]["code"], "CURSOR_EXPIRED",
        "{e}"
    );
    let (items, _, full) = sync_all(&app, &t.access, Some(&early), 10).await;
    assert!(full, "an expired lastSync gets a full sync");
    assert_eq!(
        items.iter().map(|t| t["id"].clone()).collect::<Vec<_>>(),
        vec![old["id"].clone()]
    );
    let (none, _, full) = sync_all(&app, &t.access, Some(&at_trim), 10).await;
    assert!(
        !full && none.is_empty(),
        "a cursor at the trim point is still good"
    );

    let doomed = create(&app, &t.access, "short-lived").await;
    gql_ok(&app, &t.access, DELETE, json!({ "id": doomed["id"] })).await;
    let (delta, _, full) = sync_all(&app, &t.access, Some(&at_trim), 10).await;
    assert!(!full);
    assert_eq!(delta.len(), 1);
    assert_eq!(
        (&delta[0]["id"], delta[0]["deleted"].as_bool()),
        (&doomed["id"], Some(true)),
        "a tombstone inside the window"
    );
    ws.subscribe("y", &changes_q(), json!({ "after": at_trim }))
        .await;
    let ops: Vec<String> = [ws.next_data("y").await, ws.next_data("y").await]
        .iter()
        .map(|d| d["taskChanges"]["op"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(ops, ["CREATE", "DELETE"]);
}

/// Reads events of subscription `id` until the cursor reaches `target`;
/// returns the seqs seen, or stops early after `budget` events.
async fn read_until(
    ws: &mut WsClient,
    id: &str,
    target: i64,
    budget: usize,
    seen: &mut Vec<i64>,
    last: &mut String,
) {
    for _ in 0..budget {
        if seen.last().copied().unwrap_or(seq(last)) >= target {
            return;
        }
        let d = ws.next_data(id).await;
        let c = d["taskChanges"]["cursor"]
            .as_str()
            .expect("cursor")
            .to_owned();
        seen.push(seq(&c));
        *last = c;
    }
}

#[tokio::test]
async fn subscribers_that_disconnect_and_resume_at_random_points_see_every_change_once_in_order() {
    let app = spawn_app().await;
    for seed in 0..5u64 {
        let t = app.signed_in(&email(&format!("resume-{seed}"))).await;
        let start = sync_page(&app, &t.access, None, 1, None).await["cursor"]
            .as_str()
            .expect("c")
            .to_owned();
        let (writers, updates) = (8, 20);
        let total = writers * (updates + 1);
        let mut tasks = Vec::new();
        for w in 0..writers {
            let (app_base, token) = (app.base.clone(), t.access.clone());
            tasks.push(tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(seed * 100 + w);
                let client = reqwest::Client::new();
                let post = |q: &'static str, v: Value| {
                    let c = client.post(format!("{app_base}/graphql")).bearer_auth(&token).json(&json!({ "query": q, "variables": v }));
                    async move { c.send().await.expect("send").json::<Value>().await.expect("json") }
                };
                let created = post("mutation($t: String!) { createTask(input: { title: $t }) { id } }", json!({ "t": format!("w{w}") })).await;
                let id = created["data"]["createTask"]["id"].clone();
                for i in 0..updates {
                    tokio::time::sleep(Duration::from_micros(rng.gen_range(0..3000))).await;
                    let r = post("mutation($id: ID!, $t: String) { updateTask(input: { id: $id, title: $t }) { version } }", json!({ "id": id, "t": format!("w{w} #{i}") })).await;
                    assert!(r["errors"].is_null(), "{r}");
                }
            }));
        }
        let mut subscribers = Vec::new();
        for s in 0..3u64 {
            let (app_ref, token, start) = (&app, t.access.clone(), start.clone());
            subscribers.push(async move {
                let mut rng = StdRng::seed_from_u64(seed * 1000 + s);
                let (mut seen, mut last) = (Vec::new(), start);
                while seen.last().copied().unwrap_or(0) < total as i64 {
                    let mut ws = WsClient::ready(app_ref, &token).await;
                    ws.subscribe("s", &changes_q(), json!({ "after": last }))
                        .await;
                    let budget = rng.gen_range(1..60);
                    read_until(&mut ws, "s", total as i64, budget, &mut seen, &mut last).await;
                    ws.close().await;
                }
                seen
            });
        }
        let seen_all = futures_util::future::join_all(subscribers).await;
        for w in tasks {
            w.await.expect("writer");
        }
        for (s, seen) in seen_all.iter().enumerate() {
            assert_eq!(
                seen,
                &(1..=total as i64).collect::<Vec<_>>(),
                "seed {seed}, subscriber {s}: every change once, in order"
            );
        }
    }
}

/// A client's local copy: tasks by id (tombstones kept) and its cursor.
#[derive(Default)]
struct Replica {
    tasks: HashMap<String, Value>,
    cursor: Option<String>,
    socket: Option<WsClient>,
}

impl Replica {
    /// Applies a task image if it is newer than the one held.
    fn apply(&mut self, task: &Value) {
        // Keep the synced fields only (a conflict's `current` has them all).
        let task = &json!({
            "id": task["id"], "title": task["title"], "done": task["done"],
            "version": task["version"], "deleted": task["deleted"],
        });
        let id = task["id"].as_str().expect("id").to_owned();
        let newer = self
            .tasks
            .get(&id)
            .is_none_or(|held| held["version"].as_i64() < task["version"].as_i64());
        if newer {
            self.tasks.insert(id, task.clone());
        }
    }

    fn live(&self) -> Vec<Value> {
        let mut v: Vec<Value> = self
            .tasks
            .values()
            .filter(|t| t["deleted"] == false)
            .cloned()
            .collect();
        v.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        v
    }

    /// Syncs from the cursor (full when told) and goes live after it.
    async fn reconnect(&mut self, app: &TestApp, token: &str) {
        if let Some(old) = self.socket.take() {
            old.close().await;
        }
        let (items, cursor, full) = sync_all(app, token, self.cursor.as_deref(), 7).await;
        if full {
            self.tasks.clear();
        }
        for t in &items {
            self.apply(t);
        }
        let mut ws = WsClient::ready(app, token).await;
        ws.subscribe("live", "subscription($after: String) { taskChanges(after: $after) { cursor task { id title done version deleted } } }", json!({ "after": cursor })).await;
        self.cursor = Some(cursor);
        self.socket = Some(ws);
    }

    /// Applies live events until the cursor reaches `target`.
    async fn drain(&mut self, target: i64) {
        while self.cursor.as_deref().map_or(0, seq) < target {
            let Some(ws) = self.socket.as_mut() else {
                return;
            };
            let d = match ws.event().await {
                Event::Json(v) => v["payload"]["data"]["taskChanges"].clone(),
                Event::Closed(code, r) => panic!("live socket closed {code} {r}"),
            };
            let task = d["task"].clone();
            self.cursor = d["cursor"].as_str().map(str::to_owned);
            self.apply(&task);
        }
    }
}

#[tokio::test]
async fn replicas_kept_by_sync_and_subscription_converge_on_the_server_under_random_writes_conflicts_and_disconnects()
 {
    let app = spawn_app().await;
    let mut conflicts = 0;
    for seed in 0..4u64 {
        let t = app.signed_in(&email(&format!("model-{seed}"))).await;
        let me = UserId::parse(&app.me(&t.access).await.str("userId")).expect("id");
        let mut rng = StdRng::seed_from_u64(seed);
        let mut replicas: Vec<Replica> = (0..3).map(|_| Replica::default()).collect();
        for r in &mut replicas {
            r.reconnect(&app, &t.access).await;
        }
        for step in 0..120 {
            let r = &mut replicas[rng.gen_range(0..3)];
            let live = r.live();
            match rng.gen_range(0..10) {
                0..=3 => {
                    create(&app, &t.access, &format!("s{seed} step {step}")).await;
                }
                4..=7 if !live.is_empty() => {
                    // Write from this replica's (possibly stale) view.
                    let target = &live[rng.gen_range(0..live.len())];
                    let (q, vars) = if rng.gen_bool(0.8) {
                        (
                            UPDATE,
                            json!({ "id": target["id"], "d": rng.gen_bool(0.5), "t": format!("edit {step}"), "v": target["version"] }),
                        )
                    } else {
                        (
                            DELETE,
                            json!({ "id": target["id"], "v": target["version"] }),
                        )
                    };
                    let a = app.gql(Some(&t.access), q, vars).await;
                    match a.gql_code() {
                        None => {
                            let data = a.body["data"]
                                .as_object()
                                .and_then(|o| o.values().next())
                                .cloned()
                                .expect("task");
                            r.apply(&data);
                        }
                        Some("CONFLICT") => {
                            conflicts += 1;
                            r.apply(&a.body["errors"][0]["extensions"]["current"]);
                        }
                        Some("NOT_FOUND") => {}
                        Some(other) => panic!("unexpected {other}: {}", a.body),
                    }
                }
                8 => r.reconnect(&app, &t.access).await,
                _ => {
                    let head = app.state.store.head(me).await.expect("head");
                    r.drain(head).await;
                }
            }
            if rng.gen_ratio(1, 15) {
                // Lose the cursor now and then: a fresh client does a full sync.
                r.cursor = None;
                r.reconnect(&app, &t.access).await;
            }
        }
        let head = app.state.store.head(me).await.expect("head");
        let (server, _, _) = sync_all(&app, &t.access, None, 1000).await;
        let mut server: Vec<Value> = server;
        server.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        for (i, r) in replicas.iter_mut().enumerate() {
            r.drain(head).await;
            assert_eq!(
                r.live(),
                server,
                "seed {seed}: replica {i} equals the server"
            );
        }
        assert!(head > 50, "the run made changes");
    }
    assert!(conflicts > 0, "stale replicas must have run into conflicts");
}

#[tokio::test]
async fn the_retention_job_trims_the_log_in_the_background() {
    let app = crate::helpers::spawn_with(|s| {
        s.retention = Duration::from_millis(1);
        s.maintenance_interval = Duration::from_millis(50);
    })
    .await;
    let t = app.signed_in(&email("job")).await;
    let me = UserId::parse(&app.me(&t.access).await.str("userId")).expect("id");
    let task = create(&app, &t.access, "soon forgotten").await;
    gql_ok(&app, &t.access, DELETE, json!({ "id": task["id"] })).await;
    for _ in 0..400 {
        if app
            .state
            .store
            .log_bounds(me)
            .await
            .expect("bounds")
            .trimmed_to
            == 2
        {
            let tombstone = app
                .state
                .store
                .task(
                    me,
                    tasksync_core::TaskId::parse(task["id"].as_str().expect("id")).expect("id"),
                )
                .await
                .expect("db");
            assert_eq!(tombstone, None, "the tombstone is purged with its change");
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the retention job never trimmed the log");
}

#[tokio::test]
async fn a_subscriber_whose_unread_changes_are_trimmed_away_is_told_its_cursor_expired() {
    let app = spawn_app().await;
    let t = app.signed_in(&email("trimmed")).await;
    let me = UserId::parse(&app.me(&t.access).await.str("userId")).expect("id");
    let feed = tasksync_server::feed::Feed::new(app.state.store.clone(), 8);
    let mut sub = feed.subscribe(me, 0);
    for i in 0..3 {
        create(&app, &t.access, &format!("t{i}")).await;
    }
    app.state
        .store
        .trim_log(tasksync_server::clock::now_ms() + 1)
        .await
        .expect("trim");
    let next = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("no endless paging");
    assert!(
        matches!(next, Err(tasksync_server::feed::FeedError::Expired)),
        "{next:?}"
    );
}
