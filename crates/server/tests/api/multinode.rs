//! Several `tasksync` nodes as separate processes on one PostgreSQL
//! database (a fresh one per test), optionally behind nginx: wake-ups
//! between nodes, cursors that move between nodes, sign-out everywhere,
//! a terminated listening connection, and a node killed with SIGKILL while
//! clients write and subscribe through the load balancer.

use std::collections::HashSet;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tasksync_core::Cursor;
use tasksync_store::testing::TestDatabase;
use uuid::Uuid;

use crate::helpers::{Http, PASSWORD, Tokens, email};
use crate::ws_client::{Event, WsClient, changes_q};

const BIN: &str = env!("CARGO_BIN_EXE_tasksync");
/// The address the nodes of a test deployment are known by.
const PUBLIC_URL: &str = "http://tasks.test";

/// A `tasksync serve` process.
pub struct Node {
    http: Http,
    child: Child,
}

impl std::ops::Deref for Node {
    type Target = Http;
    fn deref(&self) -> &Http {
        &self.http
    }
}

impl Node {
    /// Starts a node on `database_url` at a free port and waits until it
    /// listens. Its warnings and errors are copied to the test's stderr.
    /// Nodes of one deployment share the public URL: it is the issuer of
    /// their tokens.
    pub fn start(name: &str, database_url: &str) -> Self {
        Self::start_behind(name, database_url, PUBLIC_URL)
    }

    pub fn start_behind(name: &str, database_url: &str, public_url: &str) -> Self {
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--dev",
                "--listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
            ])
            .env("TASKSYNC_DATABASE_URL", database_url)
            .env("TASKSYNC_PUBLIC_URL", public_url)
            .env("TASKSYNC_DB_MAX_CONNECTIONS", "6")
            .env("TASKSYNC_AUTH_RATE_PER_MINUTE", "100000")
            .env("TASKSYNC_AUTH_RATE_BURST", "100000")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the tasksync binary starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let name = name.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let event: Value = serde_json::from_str(&line).unwrap_or_default();
                if event["message"] == "tasksync listening" {
                    let _ = tx.send(event["addr"].as_str().unwrap_or_default().to_owned());
                } else if matches!(event["level"].as_str(), Some("WARN" | "ERROR"))
                    || event.is_null()
                {
                    eprintln!("[{name}] {line}");
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the node logs that it listens");
        Self {
            http: Http::new(format!("http://{addr}")),
            child,
        }
    }

    /// SIGKILL: no shutdown, no goodbye to the sockets.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Signs up and confirms on `node` (its dev mailbox has the code) and
/// signs in.
async fn account(node: &Http, tag: &str) -> Tokens {
    node.signed_in(&email(tag)).await
}

fn seq(cursor: &str) -> i64 {
    Cursor::decode(cursor).expect("a cursor").seq
}

/// The cursor at which a client that has synced stands now.
async fn current_cursor(node: &Http, token: &str) -> String {
    let a = node
        .gql(
            Some(token),
            "query { syncTasks(limit: 1) { cursor } }",
            json!({}),
        )
        .await;
    assert!(a.body["errors"].is_null(), "{}", a.body);
    a.body["data"]["syncTasks"]["cursor"]
        .as_str()
        .expect("cursor")
        .to_owned()
}

async fn create(node: &Http, token: &str, id: Uuid, title: &str) -> Result<Value, String> {
    let response = node
        .client
        .post(node.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({
            "query": "mutation($id: ID!, $t: String!) { createTask(input: { id: $id, title: $t }) { id title version } }",
            "variables": { "id": id, "t": title },
        }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    if status.is_success() && body["errors"].is_null() {
        Ok(body["data"]["createTask"].clone())
    } else {
        Err(format!("{status}: {body}"))
    }
}

/// A change as a subscriber received it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    seq: i64,
    task: String,
    cursor: String,
}

/// The next change of subscription `id`.
async fn next_change(ws: &mut WsClient, id: &str) -> Seen {
    let data = ws.next_data(id).await;
    let change = &data["taskChanges"];
    let cursor = change["cursor"].as_str().expect("cursor").to_owned();
    Seen {
        seq: seq(&cursor),
        task: change["task"]["id"].as_str().expect("id").to_owned(),
        cursor,
    }
}

/// (seq, task id) of the next change.
async fn next_pair(ws: &mut WsClient, id: &str) -> (i64, String) {
    let seen = next_change(ws, id).await;
    (seen.seq, seen.task)
}

/// Three nodes: a subscriber on A and one on C receive a write made through
/// B; a cursor taken on A resumes on B with exactly the changes made
/// (through C) in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_reach_subscribers_on_every_node_and_cursors_resume_on_any_node() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let (a, b, c) = (
        Node::start("a", db.url()),
        Node::start("b", db.url()),
        Node::start("c", db.url()),
    );
    let t = account(&a, "three-nodes").await;
    let start = current_cursor(&a, &t.access).await;
    let mut on_a = WsClient::ready(&a, &t.access).await;
    on_a.subscribe("s", &changes_q(), json!({ "after": start }))
        .await;
    on_a.round_trip().await;
    let mut on_c = WsClient::ready(&c, &t.access).await;
    on_c.subscribe("s", &changes_q(), json!({ "after": start }))
        .await;
    on_c.round_trip().await;

    let id = Uuid::now_v7();
    create(&b, &t.access, id, "written on B")
        .await
        .expect("create on B");
    let heard = next_change(&mut on_a, "s").await;
    assert_eq!(
        (heard.seq, heard.task.clone()),
        (1, id.to_string()),
        "A heard B"
    );
    assert_eq!(
        next_pair(&mut on_c, "s").await,
        (1, id.to_string()),
        "C heard B"
    );

    // A's client goes away holding the cursor of change 1 …
    on_a.close().await;
    let mut made = Vec::new();
    for i in 0..5 {
        let id = Uuid::now_v7();
        create(&c, &t.access, id, &format!("on C {i}"))
            .await
            .expect("create on C");
        made.push((i as i64 + 2, id.to_string()));
    }
    // … and resumes on B.
    let mut on_b = WsClient::ready(&b, &t.access).await;
    on_b.subscribe("s", &changes_q(), json!({ "after": heard.cursor }))
        .await;
    let mut resumed = Vec::new();
    for _ in 0..5 {
        resumed.push(next_pair(&mut on_b, "s").await);
    }
    assert_eq!(resumed, made, "every change made meanwhile, once, in order");
    // Nothing more is pending on B: a new write is the very next event.
    let last = Uuid::now_v7();
    create(&a, &t.access, last, "on A")
        .await
        .expect("create on A");
    assert_eq!(next_pair(&mut on_b, "s").await, (7, last.to_string()));
    // C's subscriber, never disconnected, had them all live.
    for pair in made {
        assert_eq!(next_pair(&mut on_c, "s").await, pair);
    }
    assert_eq!(next_pair(&mut on_c, "s").await, (7, last.to_string()));
}

