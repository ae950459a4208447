//! The scope ring under pressure: tiny rings, slow and fast subscribers on
//! several sockets, concurrent writers; every subscriber must get every
//! change exactly once and in order, on the fast path and on the executor
//! path, including subscribers that fall off the ring, join late, or come
//! and go so often that their scope's feed is forgotten and made again.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};
use tasksync_core::Cursor;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::helpers::{Http, TestApp, email, metric, rss_kib, spawn_with};
use crate::multinode::Node;
use crate::ws_client::WsClient;

/// The change fields every full `taskChanges` subscription selects.
const FULL: &str = "op cursor task { id title description done version deleted updatedAt }";
/// Long enough that a few messages fill a small socket buffer.
const PAD: usize = 600;

fn changes_doc() -> String {
    format!("subscription($after: String) {{ taskChanges(after: $after) {{ {FULL} }} }}")
}

/// The same selection through a fragment: always the executor path.
fn changes_doc_executor() -> String {
    format!(
        "subscription($after: String) {{ taskChanges(after: $after) {{ ...C }} }} fragment C on TaskChange {{ {FULL} }}"
    )
}

/// Another output shape (alias, fewer fields) of the same root.
fn changes_doc_small() -> String {
    "subscription($after: String) { c: taskChanges(after: $after) { op cursor task { id version } } }"
        .to_owned()
}

fn kind_doc(field: &str) -> String {
    format!("subscription {{ {field} {{ id version title deleted }} }}")
}

/// What one subscription listens to, and so how its deliveries are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sub {
    /// `taskChanges` with the full selection (either path).
    Full,
    /// `c: taskChanges { op cursor task { id version } }`.
    Small,
    /// `onCreateTask` / `onUpdateTask` / `onDeleteTask`.
    Kind(&'static str),
}

impl Sub {
    fn key(self) -> &'static str {
        match self {
            Sub::Full => "taskChanges",
            Sub::Small => "c",
            Sub::Kind(k) => k,
        }
    }
}

/// How a reader reads.
#[derive(Clone, Copy, Debug)]
enum Pace {
    Fast,
    /// A random sleep of up to `max_sleep_ms` after each message and a
    /// pause of `pause_ms` every `pause_every` messages, on a socket whose
    /// receive buffer is small, so that the server's writes block.
    Slow {
        max_sleep_ms: u64,
        pause_every: usize,
        pause_ms: u64,
    },
}

/// A `graphql-transport-ws` client whose TCP receive buffer can be made
/// small (so a slow reader pushes back on the server at once).
struct Client {
    ws: WebSocketStream<TcpStream>,
}

impl Client {
    async fn connect(app: &Http, rcvbuf: Option<u32>) -> Self {
        let addr: SocketAddr = app
            .base
            .trim_start_matches("http://")
            .parse()
            .expect("server address");
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        if let Some(size) = rcvbuf {
            socket.set_recv_buffer_size(size).expect("SO_RCVBUF");
        }
        let stream = socket.connect(addr).await.expect("connects");
        let mut request = format!("ws://{addr}/graphql")
            .into_client_request()
            .expect("request");
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().expect("header"),
        );
        let (ws, _) = tokio_tungstenite::client_async(request, stream)
            .await
            .expect("upgrade");
        Self { ws }
    }

    async fn ready(app: &Http, token: &str, rcvbuf: Option<u32>) -> Self {
        let mut c = Self::connect(app, rcvbuf).await;
        c.send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } }))
            .await;
        let ack = c.json().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        c
    }

    async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .expect("send");
    }

    async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } }))
            .await;
    }

    /// A ping answered by a pong: everything sent before is positioned.
    async fn round_trip(&mut self) {
        self.send(json!({ "type": "ping" })).await;
        let pong = self.json().await;
        assert_eq!(pong["type"], "pong", "{pong}");
    }

    /// The next JSON message within `wait`; `Ok(None)` on timeout, `Err`
    /// when the socket ended.
    async fn next_within(&mut self, wait: Duration) -> Result<Option<Value>, String> {
        let end = tokio::time::Instant::now() + wait;
        loop {
            let Ok(message) = tokio::time::timeout_at(end, self.ws.next()).await else {
                return Ok(None);
            };
            match message {
                Some(Ok(Message::Text(t))) => {
                    return serde_json::from_str(t.as_str())
                        .map(Some)
                        .map_err(|e| format!("not JSON ({e}): {t}"));
                }
                Some(Ok(Message::Close(frame))) => return Err(format!("closed: {frame:?}")),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(format!("socket error: {e}")),
                None => return Err("socket ended".into()),
            }
        }
    }

    async fn json(&mut self) -> Value {
        match self.next_within(Duration::from_secs(15)).await {
            Ok(Some(v)) => v,
            Ok(None) => panic!("no message within 15 s"),
            Err(e) => panic!("{e}"),
        }
    }
}

/// How many changes of each kind the log holds once the writers are done.
#[derive(Clone, Copy, Debug, Default)]
struct Want {
    all: usize,
    creates: usize,
    updates: usize,
    deletes: usize,
}

impl Want {
    fn of(&self, sub: Sub) -> usize {
        match sub {
            Sub::Full | Sub::Small => self.all,
            Sub::Kind("onCreateTask") => self.creates,
            Sub::Kind("onUpdateTask") => self.updates,
            Sub::Kind("onDeleteTask") => self.deletes,
            Sub::Kind(k) => unreachable!("{k}"),
        }
    }
}

/// What a reader got: per subscription id, the `data` of each `next`, in
/// arrival order; and anything else that arrived (errors, completes).
#[derive(Debug, Default)]
struct Got {
    data: HashMap<String, Vec<Value>>,
    other: Vec<String>,
}

/// Reads `client` until every subscription has what `want` says it should
/// (once known), then a little longer to catch anything extra.
async fn read(
    mut client: Client,
    subs: Vec<(String, Sub)>,
    pace: Pace,
    seed: u64,
    mut want: tokio::sync::watch::Receiver<Option<Want>>,
    deadline: Instant,
) -> Got {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut got = Got::default();
    for (id, _) in &subs {
        got.data.insert(id.clone(), Vec::new());
    }
    let mut received = 0usize;
    let complete = |got: &Got, want: &Option<Want>| {
        want.is_some_and(|w| {
            subs.iter()
                .all(|(id, sub)| got.data[id].len() >= w.of(*sub))
        })
    };
    loop {
        let known = *want.borrow_and_update();
        if complete(&got, &known) {
            break;
        }
        if Instant::now() > deadline {
            got.other
                .push("deadline passed before every change arrived".into());
            return got;
        }
        match client.next_within(Duration::from_millis(50)).await {
            Ok(None) => continue,
            Ok(Some(v)) => {
                received += 1;
                record(&mut got, v);
            }
            Err(e) => {
                got.other.push(e);
                return got;
            }
        }
        if let Pace::Slow {
            max_sleep_ms,
            pause_every,
            pause_ms,
        } = pace
        {
            let nap = rng.gen_range(0..=max_sleep_ms);
            if nap > 0 {
                tokio::time::sleep(Duration::from_millis(nap)).await;
            }
            if received.is_multiple_of(pause_every) {
                tokio::time::sleep(Duration::from_millis(pause_ms)).await;
            }
        }
    }
    // Nothing more may come: a duplicate would show up here.
    loop {
        match client.next_within(Duration::from_millis(300)).await {
            Ok(None) => break,
            Ok(Some(v)) => record(&mut got, v),
            Err(e) => {
                got.other.push(e);
                break;
            }
        }
    }
    got
}

fn record(got: &mut Got, v: Value) {
    match (v["type"].as_str(), v["id"].as_str()) {
        (Some("next"), Some(id)) if v["payload"]["errors"].is_null() => got
            .data
            .entry(id.to_owned())
            .or_default()
            .push(v["payload"]["data"].clone()),
        (Some("pong" | "ping"), _) => {}
        _ => got.other.push(v.to_string()),
    }
}

/// The sequence number of a delivered change.
fn seq(change: &Value) -> i64 {
    let text = change["cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("no cursor in {change}"));
    Cursor::decode(text)
        .unwrap_or_else(|| panic!("bad cursor {text}"))
        .seq
}

/// The head of the caller's log, as a cursor.
async fn head_cursor(app: &TestApp, token: &str) -> String {
    app.gql(Some(token), "{ syncTasks(limit: 1) { cursor } }", json!({}))
        .await
        .body["data"]["syncTasks"]["cursor"]
        .as_str()
        .expect("cursor")
        .to_owned()
}

/// What one writer did.
#[derive(Debug, Default, Clone, Copy)]
struct Done {
    creates: usize,
    updates: usize,
    deletes: usize,
}

/// Creates `n` tasks, updates each once (after the next create) and deletes
/// every third (after its update), interleaved.
async fn writer(http: Http, token: String, w: usize, n: usize) -> Done {
    let pad = "p".repeat(PAD);
    let create = "mutation($t: String!, $d: String) { createTask(input: { title: $t, description: $d }) { id } }";
    let update = "mutation($id: ID!, $t: String!) { updateTask(input: { id: $id, title: $t, done: true }) { id } }";
    let delete = "mutation($id: ID!) { deleteTask(input: { id: $id }) { id } }";
    let mut ids: Vec<Value> = Vec::new();
    let mut done = Done::default();
    let ok = |a: &crate::helpers::Answer, what: &str| {
        assert!(a.body["errors"].is_null(), "writer {w} {what}: {}", a.body);
    };
    for i in 0..n {
        let a = http
            .gql(
                Some(&token),
                create,
                json!({ "t": format!("w{w} t{i}"), "d": format!("{i} {pad}") }),
            )
            .await;
        ok(&a, "create");
        ids.push(a.body["data"]["createTask"]["id"].clone());
        done.creates += 1;
        if i >= 1 {
            let a = http
                .gql(
                    Some(&token),
                    update,
                    json!({ "id": ids[i - 1], "t": format!("w{w} t{} updated", i - 1) }),
                )
                .await;
            ok(&a, "update");
            done.updates += 1;
        }
        if i >= 2 && (i - 2) % 3 == 0 {
            let a = http
                .gql(Some(&token), delete, json!({ "id": ids[i - 2] }))
                .await;
            ok(&a, "delete");
            done.deletes += 1;
        }
    }
    done
}

/// A socket of the stress test: its pace and its subscriptions.
struct Socket {
    name: &'static str,
    pace: Pace,
    subs: Vec<(&'static str, Sub, String)>,
}

const SLOW: Pace = Pace::Slow {
    max_sleep_ms: 2,
    pause_every: 60,
    pause_ms: 100,
};
const VERY_SLOW: Pace = Pace::Slow {
    max_sleep_ms: 4,
    pause_every: 50,
    pause_ms: 150,
};

/// Creates in GraphQL batches of `per` (one HTTP request each), so that
/// several changes land in one commit, and so in one batch of the ring.
async fn batcher(http: Http, token: String, requests: usize, per: usize) -> Done {
    let create = "mutation($t: String!) { createTask(input: { title: $t }) { id } }";
    for r in 0..requests {
        let body: Vec<Value> = (0..per)
            .map(|i| json!({ "query": create, "variables": { "t": format!("batch {r}.{i}") } }))
            .collect();
        let a = http.gql_raw(Some(&token), Value::Array(body)).await;
        let answers = a
            .body
            .as_array()
            .unwrap_or_else(|| panic!("batch answer: {}", a.body));
        assert_eq!(answers.len(), per, "{}", a.body);
        for one in answers {
            assert!(one["errors"].is_null(), "batched create: {one}");
        }
    }
    Done {
        creates: requests * per,
        ..Done::default()
    }
}

/// The stress test: `WRITERS` writers, ~500 changes, a ring of `ring`
/// batches, fast and slow sockets, and a subscriber that joins late from
/// the start of the log. Every `taskChanges` subscriber must get seq 1..=N
/// once each, in order, with the same payloads the log replays; every kind
/// subscriber exactly the changes of its kind.
async fn stress(fast_path: bool, ring: usize, reads_per_user: usize, database: Option<String>) {
    const WRITERS: usize = 4;
    const PER_WRITER: usize = 48;
    let app = spawn_with(|s| {
        s.ws_live_buffer = ring;
        s.ws_fast_path = fast_path;
        s.database.db_reads_per_user = reads_per_user;
        if let Some(url) = database {
            s.database.database_url = url;
        }
    })
    .await;
    let t = app.signed_in(&email("ring")).await;
    let start = head_cursor(&app, &t.access).await;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(25);
    let null = json!({ "after": null });
    let sockets = vec![
        Socket {
            name: "fast-1",
            pace: Pace::Fast,
            subs: vec![
                ("a", Sub::Full, changes_doc()),
                ("b", Sub::Full, changes_doc()),
                ("c", Sub::Kind("onCreateTask"), kind_doc("onCreateTask")),
            ],
        },
        Socket {
            name: "fast-2",
            pace: Pace::Fast,
            subs: vec![
                ("a", Sub::Full, changes_doc()),
                ("x", Sub::Full, changes_doc_executor()),
                ("u", Sub::Kind("onUpdateTask"), kind_doc("onUpdateTask")),
            ],
        },
        Socket {
            name: "fast-3",
            pace: Pace::Fast,
            subs: vec![("s", Sub::Small, changes_doc_small())],
        },
        Socket {
            name: "slow-1",
            pace: SLOW,
            subs: vec![
                ("a", Sub::Full, changes_doc()),
                ("d", Sub::Kind("onDeleteTask"), kind_doc("onDeleteTask")),
            ],
        },
        Socket {
            name: "slow-2",
            pace: SLOW,
            subs: vec![
                ("a", Sub::Full, changes_doc()),
                ("x", Sub::Full, changes_doc_executor()),
            ],
        },
        Socket {
            name: "very-slow",
            pace: VERY_SLOW,
            subs: vec![
                ("a", Sub::Full, changes_doc()),
                ("c", Sub::Kind("onCreateTask"), kind_doc("onCreateTask")),
            ],
        },
    ];
    let (want_tx, want_rx) = tokio::sync::watch::channel(None::<Want>);
    let mut readers = Vec::new();
    for (n, socket) in sockets.into_iter().enumerate() {
        let rcvbuf = matches!(socket.pace, Pace::Slow { .. }).then_some(4096);
        let mut client = Client::ready(&app, &t.access, rcvbuf).await;
        for (id, sub, doc) in &socket.subs {
            let vars = if matches!(sub, Sub::Kind(_)) {
                json!({})
            } else {
                null.clone()
            };
            client.subscribe(id, doc, vars).await;
        }
        client.round_trip().await;
        let subs = socket
            .subs
            .iter()
            .map(|(id, sub, _)| ((*id).to_owned(), *sub))
            .collect();
        let (pace, rx) = (socket.pace, want_rx.clone());
        readers.push((
            socket.name,
            tokio::spawn(read(client, subs, pace, n as u64, rx, deadline)),
        ));
    }

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        writers.push(tokio::spawn(writer(
            Http::new(app.base.clone()),
            t.access.clone(),
            w,
            PER_WRITER,
        )));
    }
    writers.push(tokio::spawn(batcher(
        Http::new(app.base.clone()),
        t.access.clone(),
        10,
        6,
    )));
    // A subscriber that joins while the writes flow, from the start of the
    // log: it replays, then joins the (tiny) ring under load.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut late = Client::ready(&app, &t.access, None).await;
    late.subscribe("a", &changes_doc(), json!({ "after": start }))
        .await;
    late.subscribe("x", &changes_doc_executor(), json!({ "after": start }))
        .await;
    readers.push((
        "late",
        tokio::spawn(read(
            late,
            vec![("a".into(), Sub::Full), ("x".into(), Sub::Full)],
            Pace::Fast,
            99,
            want_rx.clone(),
            deadline,
        )),
    ));

    let mut total = Done::default();
    for w in writers {
        let d = w.await.expect("writer");
        total.creates += d.creates;
        total.updates += d.updates;
        total.deletes += d.deletes;
    }
    let written = started.elapsed();
    let head = Cursor::decode(&head_cursor(&app, &t.access).await)
        .expect("cursor")
        .seq;
    let want = Want {
        all: total.creates + total.updates + total.deletes,
        creates: total.creates,
        updates: total.updates,
        deletes: total.deletes,
    };
    let first = Cursor::decode(&start).expect("cursor").seq;
    assert_eq!(
        usize::try_from(head - first).expect("non-negative"),
        want.all,
        "every write logged one change"
    );
    want_tx.send(Some(want)).expect("readers wait");

    // The reference: the log itself, replayed from the start by a fresh
    // subscription once nothing is written any more.
    let mut replay = WsClient::ready(&app, &t.access).await;
    replay
        .subscribe("r", &changes_doc(), json!({ "after": start }))
        .await;
    let mut reference = Vec::with_capacity(want.all);
    for _ in 0..want.all {
        reference.push(replay.next_data("r").await["taskChanges"].clone());
    }
    let seqs: Vec<i64> = reference.iter().map(seq).collect();
    let expected: Vec<i64> = (first + 1..=head).collect();
    assert_eq!(seqs, expected, "the replay is the log, in order");

    let mut failures = Vec::new();
    for (name, reader) in readers {
        let got = reader.await.expect("reader");
        if !got.other.is_empty() {
            failures.push(format!(
                "{name}: unexpected messages/events: {:?}",
                got.other
            ));
        }
        for (id, data) in &got.data {
            let sub = match (name, id.as_str()) {
                (_, "a" | "b" | "x") => Sub::Full,
                (_, "s") => Sub::Small,
                (_, "c") => Sub::Kind("onCreateTask"),
                (_, "u") => Sub::Kind("onUpdateTask"),
                (_, "d") => Sub::Kind("onDeleteTask"),
                _ => unreachable!(),
            };
            let items: Vec<&Value> = data.iter().map(|d| &d[sub.key()]).collect();
            match sub {
                Sub::Full | Sub::Small => {
                    let got_seqs: Vec<i64> = items.iter().map(|c| seq(c)).collect();
                    if got_seqs != expected {
                        failures.push(format!(
                            "{name}/{id}: {} changes, expected {}; first difference at {:?}: got {:?}",
                            got_seqs.len(),
                            expected.len(),
                            first_difference(&got_seqs, &expected),
                            first_difference(&got_seqs, &expected)
                                .map(|i| got_seqs.get(i.saturating_sub(2)..(i + 3).min(got_seqs.len()))),
                        ));
                        continue;
                    }
                    for (i, (c, r)) in items.iter().zip(&reference).enumerate() {
                        let same = if sub == Sub::Full {
                            *c == r
                        } else {
                            c["op"] == r["op"]
                                && c["task"]["id"] == r["task"]["id"]
                                && c["task"]["version"] == r["task"]["version"]
                        };
                        if !same {
                            failures.push(format!(
                                "{name}/{id}: change #{i} differs from the log: {c} vs {r}"
                            ));
                            break;
                        }
                    }
                }
                Sub::Kind(_) => {
                    let op = match sub.key() {
                        "onCreateTask" => "CREATE",
                        "onUpdateTask" => "UPDATE",
                        _ => "DELETE",
                    };
                    let wanted: Vec<Value> = reference
                        .iter()
                        .filter(|r| r["op"] == op)
                        .map(|r| {
                            json!({
                                "id": r["task"]["id"],
                                "version": r["task"]["version"],
                                "title": r["task"]["title"],
                                "deleted": r["task"]["deleted"],
                            })
                        })
                        .collect();
                    let seen: Vec<Value> = items.iter().map(|v| (*v).clone()).collect();
                    if seen != wanted {
                        failures.push(format!(
                            "{name}/{id}: {} {op} events, expected {}; first difference at {:?}",
                            seen.len(),
                            wanted.len(),
                            first_difference(&seen, &wanted)
                        ));
                    }
                }
            }
        }
    }
    let fell_behind = metric(&app, "tasksync_feed_fell_behind_total").await;
    eprintln!(
        "ring={ring} fast_path={fast_path} reads_per_user={reads_per_user}: {} changes written in {written:?}, all checked after {:?}; feed_fell_behind_total (process-wide) = {fell_behind}",
        want.all,
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "ring={ring} fast_path={fast_path}:\n{}",
        failures.join("\n")
    );
}

fn first_difference<T: PartialEq>(a: &[T], b: &[T]) -> Option<usize> {
    (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_of_one_batch_loses_and_repeats_nothing_on_the_fast_path() {
    stress(true, 1, 2, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_of_one_batch_loses_and_repeats_nothing_on_the_executor_path() {
    stress(false, 1, 2, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_of_two_batches_and_one_read_per_user_loses_and_repeats_nothing() {
    stress(true, 2, 1, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_of_one_batch_loses_and_repeats_nothing_on_postgres() {
    let Some(db) = tasksync_store::testing::TestDatabase::create().await else {
        return;
    };
    stress(true, 1, 2, Some(db.url().to_owned())).await;
}

/// A subscriber that resumes from its last cursor over and over (a new
/// socket each time, or `complete` and the same id again), while it is its
/// scope's only subscriber: the scope's feed is forgotten between its
/// sessions and made again, with `advance` tasks of the old one still
/// running. What it gets over all its sessions is the log, once, in order.
async fn resume_over_and_over(fast_path: bool) {
    const WRITES: usize = 240;
    let app = spawn_with(|s| {
        s.ws_live_buffer = 1;
        s.ws_fast_path = fast_path;
    })
    .await;
    let mut users = Vec::new();
    for u in 0..2 {
        users.push(app.signed_in(&email(&format!("resume{u}"))).await);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (u, t) in users.iter().enumerate() {
        let start = head_cursor(&app, &t.access).await;
        let first = Cursor::decode(&start).expect("cursor").seq;
        let http = Http::new(app.base.clone());
        let token = t.access.clone();
        let writer = tokio::spawn(async move {
            let q = "mutation($t: String!) { createTask(input: { title: $t }) { id } }";
            for i in 0..WRITES {
                let a = http
                    .gql(Some(&token), q, json!({ "t": format!("u{u} #{i}") }))
                    .await;
                assert!(a.body["errors"].is_null(), "{}", a.body);
                if i % 16 == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        });
        let (http, token) = (Http::new(app.base.clone()), t.access.clone());
        let resumer = tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(u as u64);
            let mut cursor = start;
            let mut seqs = Vec::new();
            let mut sessions = 0;
            let deadline = Instant::now() + Duration::from_secs(20);
            while seqs.len() < WRITES && Instant::now() < deadline {
                let mut c = Client::ready(&http, &token, None).await;
                // A few rounds on this socket: subscribe, read a few,
                // complete, subscribe again with the same id.
                for _ in 0..rng.gen_range(1..=3) {
                    sessions += 1;
                    c.subscribe("s", &changes_doc(), json!({ "after": cursor }))
                        .await;
                    let take = rng.gen_range(1..=12);
                    for _ in 0..take {
                        match c.next_within(Duration::from_millis(500)).await {
                            Ok(Some(v)) if v["type"] == "next" && v["id"] == "s" => {
                                let change = &v["payload"]["data"]["taskChanges"];
                                seqs.push(seq(change));
                                cursor = change["cursor"].as_str().expect("cursor").to_owned();
                            }
                            Ok(Some(v)) if v["type"] == "ping" || v["type"] == "pong" => {}
                            Ok(Some(v)) => panic!("user {u}: unexpected {v}"),
                            Ok(None) => break,
                            Err(e) => panic!("user {u}: {e}"),
                        }
                    }
                    c.send(json!({ "id": "s", "type": "complete" })).await;
                    // Whatever was in flight for the old subscription is
                    // drained by the round trip (and dropped: the cursor
                    // says where to resume).
                    c.send(json!({ "type": "ping" })).await;
                    loop {
                        match c.next_within(Duration::from_secs(5)).await {
                            Ok(Some(v)) if v["type"] == "pong" => break,
                            Ok(Some(v)) if v["type"] == "next" || v["type"] == "ping" => {}
                            other => panic!("user {u}: waiting for pong: {other:?}"),
                        }
                    }
                }
                // Sometimes a clean close, sometimes the socket just goes.
                if rng.gen_bool(0.5) {
                    let _ = c.ws.close(None).await;
                }
                drop(c);
                if rng.gen_bool(0.3) {
                    tokio::time::sleep(Duration::from_millis(rng.gen_range(0..20))).await;
                }
            }
            (first, seqs, sessions)
        });
        tasks.push((u, writer, resumer));
    }
    for (u, writer, resumer) in tasks {
        writer.await.expect("writer");
        let (first, seqs, sessions) = resumer.await.expect("resumer");
        let expected: Vec<i64> = (first + 1..=first + WRITES as i64).collect();
        assert_eq!(
            first_difference(&seqs, &expected),
            None,
            "user {u} over {sessions} sessions: got {} changes, expected {}: {seqs:?}",
            seqs.len(),
            expected.len(),
        );
        eprintln!(
            "user {u}: {WRITES} changes over {sessions} sessions in {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_over_and_over_as_the_only_subscriber_loses_and_repeats_nothing() {
    resume_over_and_over(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_over_and_over_on_the_executor_path_loses_and_repeats_nothing() {
    resume_over_and_over(false).await;
}

/// `onDeleteTask` on a ring of one while only creates flow: batches with no
/// wanted change produce no message (and stall nothing); the one delete
/// arrives, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_subscription_skips_batches_without_its_kind() {
    for fast_path in [true, false] {
        let app = spawn_with(|s| {
            s.ws_live_buffer = 1;
            s.ws_fast_path = fast_path;
        })
        .await;
        let t = app.signed_in(&email("kind-skip")).await;
        let mut c = Client::ready(&app, &t.access, None).await;
        c.subscribe("d", &kind_doc("onDeleteTask"), json!({})).await;
        c.subscribe("u", &kind_doc("onUpdateTask"), json!({})).await;
        c.round_trip().await;
        let mut last = Value::Null;
        for i in 0..60 {
            last = crate::ws::create(&app, &t.access, &format!("k{i}")).await;
        }
        let a = app
            .gql(
                Some(&t.access),
                "mutation($id: ID!) { deleteTask(input: { id: $id }) { id version } }",
                json!({ "id": last["id"] }),
            )
            .await;
        assert!(a.body["errors"].is_null(), "{}", a.body);
        let v = c.json().await;
        assert_eq!(
            (v["type"].as_str(), v["id"].as_str()),
            (Some("next"), Some("d")),
            "fast_path={fast_path}: {v}"
        );
        assert_eq!(v["payload"]["data"]["onDeleteTask"]["id"], last["id"]);
        assert_eq!(v["payload"]["data"]["onDeleteTask"]["deleted"], true);
        match c.next_within(Duration::from_millis(400)).await {
            Ok(None) => {}
            other => panic!("fast_path={fast_path}: nothing more may arrive: {other:?}"),
        }
    }
}

/// One read permit per user, and many reads of that user at once (queries,
/// syncs, subscriptions starting and replaying): every one of them is
/// answered; nothing waits for a permit that is never given back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_read_permit_per_user_serves_many_concurrent_reads() {
    let app = spawn_with(|s| s.database.db_reads_per_user = 1).await;
    let t = app.signed_in(&email("permits")).await;
    let start = head_cursor(&app, &t.access).await;
    for i in 0..20 {
        crate::ws::create(&app, &t.access, &format!("p{i}")).await;
    }
    for round in 0..3 {
        let mut handles = Vec::new();
        for i in 0..48 {
            let (http, token) = (Http::new(app.base.clone()), t.access.clone());
            let start = start.clone();
            handles.push(tokio::spawn(async move {
                match i % 3 {
                    0 => {
                        let a = http
                            .gql(Some(&token), "{ tasks { items { id } } }", json!({}))
                            .await;
                        assert_eq!(
                            a.body["data"]["tasks"]["items"].as_array().map(Vec::len),
                            Some(20),
                            "{}",
                            a.body
                        );
                    }
                    1 => {
                        let a = http
                            .gql(
                                Some(&token),
                                "query($s: String) { syncTasks(lastSync: $s) { items { id } } }",
                                json!({ "s": start }),
                            )
                            .await;
                        assert!(a.body["errors"].is_null(), "{}", a.body);
                    }
                    _ => {
                        let mut c = Client::ready(&http, &token, None).await;
                        c.subscribe("s", &changes_doc(), json!({ "after": start }))
                            .await;
                        for _ in 0..20 {
                            let v = c.json().await;
                            assert_eq!(v["type"], "next", "{v}");
                        }
                    }
                }
            }));
        }
        for h in handles {
            tokio::time::timeout(Duration::from_secs(15), h)
                .await
                .unwrap_or_else(|_| panic!("round {round}: a read did not finish within 15 s"))
                .expect("read");
        }
    }
}

/// `tasksync_ws_subscriptions` counts open operations: after queries and
/// mutations over a socket have completed, it is back where it was; and
/// after the socket closed too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscriptions_gauge_returns_to_zero_after_operations_complete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("tasksync.db").display());
    let node = Node::start_with("gauge", &url, &[]);
    let t = node.signed_in(&email("gauge")).await;
    let mut c = WsClient::ready(&node, &t.access).await;
    for i in 0..5 {
        let id = format!("q{i}");
        c.subscribe(&id, "{ tasks { items { id } } }", json!({}))
            .await;
        assert!(c.next_data(&id).await["tasks"]["items"].is_array());
        assert_eq!(c.json().await, json!({ "id": id, "type": "complete" }));
    }
    c.subscribe(
        "m",
        "mutation { createTask(input: { title: \"g\" }) { id } }",
        json!({}),
    )
    .await;
    c.next_data("m").await;
    assert_eq!(c.json().await, json!({ "id": "m", "type": "complete" }));
    c.round_trip().await;
    let open = metric(&node, "tasksync_ws_subscriptions").await;
    c.close().await;
    let mut closed = f64::NAN;
    for _ in 0..50 {
        if metric(&node, "tasksync_ws_sockets").await == 0.0 {
            closed = metric(&node, "tasksync_ws_subscriptions").await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        (open, closed),
        (0.0, 0.0),
        "tasksync_ws_subscriptions with 6 completed operations on an open socket, then after it closed"
    );
}

/// A subscribed user costs the scope's ring, allocated in full (the ring
/// is a `tokio::sync::broadcast` channel: 32 bytes a slot), so its size is
/// capped: at the largest `TASKSYNC_WS_LIVE_BUFFER` allowed, one idle
/// subscription per user stays under 4 MiB of RSS per user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_subscription_costs_at_most_the_largest_ring() {
    const USERS: usize = 4;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("tasksync.db").display());
    let largest = tasksync_server::config::MAX_LIVE_BUFFER.to_string();
    let node = Node::start_with(
        "ring-memory",
        &url,
        &[("TASKSYNC_WS_LIVE_BUFFER", &largest)],
    );
    let mut tokens = Vec::new();
    for u in 0..USERS {
        tokens.push(node.signed_in(&email(&format!("mem{u}"))).await.access);
    }
    // Warm up: one socket and subscription of another user, then gone.
    let warm = node.signed_in(&email("mem-warm")).await.access;
    let mut w = WsClient::ready(&node, &warm).await;
    w.round_trip().await;
    let mut sockets = Vec::new();
    for token in &tokens {
        sockets.push(WsClient::ready(&node, token).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib(node.pid());
    for ws in &mut sockets {
        ws.subscribe("s", "subscription { onCreateTask { id } }", json!({}))
            .await;
        ws.round_trip().await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = rss_kib(node.pid());
    let per_user = after.saturating_sub(before) / USERS as u64;
    assert!(
        per_user < 4 * 1024,
        "one idle subscription per user cost {per_user} KiB of RSS per user with TASKSYNC_WS_LIVE_BUFFER={largest}"
    );
}

/// A `TASKSYNC_WS_LIVE_BUFFER` above the largest ring is refused when the
/// server starts, not found out by the first subscription (whose socket
/// task would panic in `tokio::sync::broadcast::channel` for a capacity
/// over `usize::MAX / 2`, or allocate the ring in full for every user).
#[tokio::test]
async fn a_live_buffer_above_the_largest_ring_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    for too_big in [
        tasksync_server::config::MAX_LIVE_BUFFER + 1,
        (usize::MAX >> 1) + 1,
    ] {
        let mut settings = crate::helpers::test_settings(&dir);
        settings.ws_live_buffer = too_big;
        let refused = tasksync_server::Application::build(settings).await;
        let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains("TASKSYNC_WS_LIVE_BUFFER"),
            "TASKSYNC_WS_LIVE_BUFFER={too_big} was accepted: {message:?}"
        );
    }
}
