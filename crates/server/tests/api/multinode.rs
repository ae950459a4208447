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
        Self::start_with(name, database_url, &[("TASKSYNC_PUBLIC_URL", public_url)])
    }

    /// Starts a node with extra environment variables (after the defaults,
    /// so they win).
    pub fn start_with(name: &str, database_url: &str, env: &[(&str, &str)]) -> Self {
        Self::start_wrapped(name, database_url, env, &[])
    }

    /// Starts a node as the argument of `wrapper` (a command such as
    /// `prlimit --as=N --`), with extra environment variables.
    pub fn start_wrapped(
        name: &str,
        database_url: &str,
        env: &[(&str, &str)],
        wrapper: &[&str],
    ) -> Self {
        let mut command = node_command_in(wrapper, database_url);
        command
            .env("TASKSYNC_PUBLIC_URL", PUBLIC_URL)
            .env("TASKSYNC_TRUSTED_PROXIES", "127.0.0.1")
            .env("TASKSYNC_DB_MAX_CONNECTIONS", "6")
            .env("TASKSYNC_AUTH_RATE_PER_MINUTE", "100000")
            .env("TASKSYNC_AUTH_RATE_BURST", "100000");
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("the tasksync binary starts");
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

    /// The node's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
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

pub(crate) fn seq(cursor: &str) -> i64 {
    Cursor::decode(cursor).expect("a cursor").seq
}

/// The cursor at which a client that has synced stands now.
pub(crate) async fn current_cursor(node: &Http, token: &str) -> String {
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

pub(crate) async fn create(
    node: &Http,
    token: &str,
    id: Uuid,
    title: &str,
) -> Result<Value, String> {
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
    let text = response.text().await.map_err(|e| e.to_string())?;
    // A proxy's own error page (nginx's 502) is not JSON.
    let body: Value = serde_json::from_str(&text).map_err(|_| format!("{status}: not JSON"))?;
    if status.is_success() && body["errors"].is_null() {
        Ok(body["data"]["createTask"].clone())
    } else {
        Err(format!("{status}: {body}"))
    }
}

/// A change as a subscriber received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) seq: i64,
    pub(crate) task: String,
    pub(crate) cursor: String,
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

/// Sessions live in the database: a global sign-out through node A closes
/// the sockets of that user on B and C (each node polls for revocations),
/// and leaves another user's socket open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_everywhere_on_one_node_closes_sockets_on_the_others() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let (a, b, c) = (
        Node::start("a", db.url()),
        Node::start("b", db.url()),
        Node::start("c", db.url()),
    );
    let mail = email("everywhere");
    a.register(&mail).await;
    let first = a.tokens(&mail, PASSWORD).await;
    let second = b.tokens(&mail, PASSWORD).await;
    let other = account(&c, "bystander").await;
    let mut on_b = WsClient::ready(&b, &first.access).await;
    let mut on_c = WsClient::ready(&c, &second.access).await;
    let mut bystander = WsClient::ready(&b, &other.access).await;

    let at = Instant::now();
    let out = a
        .post(
            "/auth/sign-out",
            json!({ "refreshToken": first.refresh, "global": true }),
        )
        .await;
    assert_eq!(out.status, 200, "{:?}", out.body);
    assert_eq!(on_b.closed().await.0, 4403, "B closed the socket");
    assert_eq!(on_c.closed().await.0, 4403, "C closed the socket");
    eprintln!(
        "sockets on two other nodes closed {:?} after the sign-out",
        at.elapsed()
    );
    bystander.round_trip().await;
    assert_eq!(
        c.me(&second.access).await.status,
        401,
        "the other session's token is refused on every node"
    );
}

/// The listening connection of node A is terminated by PostgreSQL while a
/// client of A is subscribed; changes written through B meanwhile still
/// reach the client, once and in order, after A listens again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_written_while_a_nodes_listener_is_down_still_arrive() {
    use sqlx::Connection as _;
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let (a, b) = (Node::start("a", db.url()), Node::start("b", db.url()));
    let t = account(&a, "listener").await;
    let start = current_cursor(&a, &t.access).await;
    let mut on_a = WsClient::ready(&a, &t.access).await;
    on_a.subscribe("s", &changes_q(), json!({ "after": start }))
        .await;
    on_a.round_trip().await;
    let id = Uuid::now_v7();
    create(&b, &t.access, id, "before").await.expect("create");
    assert_eq!(next_pair(&mut on_a, "s").await, (1, id.to_string()));

    let mut admin = sqlx::PgConnection::connect(db.url())
        .await
        .expect("connect");
    let listeners = "SELECT pid FROM pg_stat_activity
                     WHERE datname = current_database() AND application_name = $1";
    let name = tasksync_store::postgres::LISTENER_APPLICATION_NAME;
    // Both nodes listen; find A's by terminating each in turn would be
    // ambiguous, so terminate both: B's loss is harmless to this client.
    let before: Vec<i32> = sqlx::query_scalar(listeners)
        .bind(name)
        .fetch_all(&mut admin)
        .await
        .expect("listeners");
    assert_eq!(before.len(), 2, "one listening connection per node");
    for pid in &before {
        let done: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .fetch_one(&mut admin)
            .await
            .expect("terminate");
        assert!(done);
    }
    let mut made = Vec::new();
    for i in 0..5 {
        let id = Uuid::now_v7();
        create(&b, &t.access, id, &format!("meanwhile {i}"))
            .await
            .expect("create");
        made.push((i as i64 + 2, id.to_string()));
    }
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(next_pair(&mut on_a, "s").await);
    }
    assert_eq!(got, made, "every change written meanwhile, once, in order");
    // A listens again (it delivered); B may still be in its backoff.
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let after: Vec<i32> = sqlx::query_scalar(listeners)
            .bind(name)
            .fetch_all(&mut admin)
            .await
            .expect("listeners");
        if after.len() == 2 || Instant::now() > deadline {
            break after;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(after.len(), 2, "both nodes listen again");
    assert!(
        after.iter().all(|pid| !before.contains(pid)),
        "on new connections"
    );
    // And live wake-ups work again.
    let id = Uuid::now_v7();
    create(&b, &t.access, id, "after").await.expect("create");
    assert_eq!(next_pair(&mut on_a, "s").await, (7, id.to_string()));
}

/// `tasksync serve` in dev mode on a free port of 127.0.0.1, logging JSON
/// at `info` to a pipe.
pub fn node_command(database_url: &str) -> Command {
    node_command_in(&[], database_url)
}

/// [`node_command`] run by `wrapper` (its first word is the program).
fn node_command_in(wrapper: &[&str], database_url: &str) -> Command {
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(BIN);
            c
        }
        None => Command::new(BIN),
    };
    command
        .args([
            "serve",
            "--dev",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ])
        .env("TASKSYNC_DATABASE_URL", database_url)
        // A quick drain at SIGTERM, as in-process test servers have it.
        .env("TASKSYNC_DRAIN_DELAY", "0s")
        .env("TASKSYNC_DRAIN_SOCKET_WINDOW", "100ms")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// The log lines of a node started without `TASKSYNC_PUBLIC_URL`, up to
/// the one saying it listens; the node is then stopped.
fn start_up_lines(database_url: &str) -> Vec<Value> {
    let mut child = node_command(database_url)
        .env_remove("TASKSYNC_PUBLIC_URL")
        .spawn()
        .expect("the tasksync binary starts");
    let mut lines = Vec::new();
    for line in BufReader::new(child.stderr.take().expect("stderr"))
        .lines()
        .map_while(Result::ok)
    {
        let event: Value = serde_json::from_str(&line).unwrap_or_default();
        let listening = event["message"] == "tasksync listening";
        lines.push(event);
        if listening {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    lines
}

/// Tokens name their issuer, which defaults to the node's own address: on
/// a shared database that makes nodes refuse each other's tokens, so a
/// node on PostgreSQL without a public URL says so; one on SQLite (alone
/// by design) does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_a_shared_database_without_a_public_url_warns() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let warned = |lines: &[Value]| {
        lines.iter().any(|e| {
            e["level"] == "WARN"
                && e["fields"]["message"]
                    .as_str()
                    .or(e["message"].as_str())
                    .is_some_and(|m| m.contains("TASKSYNC_PUBLIC_URL"))
        })
    };
    let on_postgres = start_up_lines(db.url());
    assert!(
        on_postgres
            .last()
            .is_some_and(|e| e["message"] == "tasksync listening"),
        "it starts: {on_postgres:?}"
    );
    assert!(warned(&on_postgres), "warns: {on_postgres:?}");

    let dir = tempfile::tempdir().expect("tempdir");
    let on_sqlite = start_up_lines(&format!(
        "sqlite://{}",
        dir.path().join("alone.db").display()
    ));
    assert!(
        on_sqlite
            .last()
            .is_some_and(|e| e["message"] == "tasksync listening"),
        "it starts: {on_sqlite:?}"
    );
    assert!(!warned(&on_sqlite), "no warning on SQLite: {on_sqlite:?}");
}

/// Where nginx is: `TASKSYNC_NGINX`, `/usr/sbin/nginx` or the PATH.
fn nginx_binary() -> Option<String> {
    if let Ok(path) = std::env::var("TASKSYNC_NGINX") {
        return Some(path);
    }
    if std::path::Path::new("/usr/sbin/nginx").exists() {
        return Some("/usr/sbin/nginx".into());
    }
    Command::new("nginx")
        .arg("-v")
        .output()
        .ok()
        .map(|_| "nginx".into())
}

/// nginx, or `None` after a loud skip (a failure with
/// `TASKSYNC_REQUIRE_ALL=1`).
pub(crate) fn nginx_or_skip() -> Option<String> {
    let binary = nginx_binary();
    if binary.is_none() {
        let message = "nginx is not installed (apt-get install nginx)";
        assert!(
            std::env::var("TASKSYNC_REQUIRE_ALL").as_deref() != Ok("1"),
            "TASKSYNC_REQUIRE_ALL=1: {message}"
        );
        eprintln!("SKIPPED (nginx): {message}");
    }
    binary
}

/// nginx as a child process with the repository's config in front of the
/// given upstream addresses.
pub(crate) struct Nginx {
    child: Child,
    pub(crate) http: Http,
    _dir: tempfile::TempDir,
}

impl Nginx {
    pub(crate) fn start(binary: &str, upstreams: [&str; 2]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let shipped = include_str!("../../../../deploy/nginx/tasksync.conf");
        let mut site = shipped.to_owned();
        for (from, to) in [
            (
                "server 127.0.0.1:8081 ",
                format!("server {} ", upstreams[0]),
            ),
            (
                "server 127.0.0.1:8082 ",
                format!("server {} ", upstreams[1]),
            ),
            ("listen 80;", format!("listen 127.0.0.1:{port};")),
        ] {
            assert!(
                site.contains(from),
                "deploy/nginx/tasksync.conf has {from:?}"
            );
            site = site.replace(from, &to);
        }
        let root = dir.path().display().to_string();
        std::fs::write(dir.path().join("tasksync.conf"), site).expect("site");
        std::fs::write(
            dir.path().join("nginx.conf"),
            format!(
                "daemon off;\nmaster_process off;\npid {root}/nginx.pid;\nerror_log {root}/error.log warn;\n\
                 events {{ worker_connections 1024; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {root}/body;\n  proxy_temp_path {root}/proxy;\n\
                 fastcgi_temp_path {root}/fastcgi;\n  uwsgi_temp_path {root}/uwsgi;\n  scgi_temp_path {root}/scgi;\n\
                 include {root}/tasksync.conf;\n}}\n"
            ),
        )
        .expect("nginx.conf");
        let child = Command::new(binary)
            .args([
                "-e",
                &format!("{root}/error.log"),
                "-p",
                &root,
                "-c",
                &format!("{root}/nginx.conf"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not listen: {}",
                std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child,
            http: Http::new(format!("http://127.0.0.1:{port}")),
            _dir: dir,
        }
    }
}

impl Nginx {
    /// What nginx logged (warnings and errors), such as each upstream it
    /// could not reach.
    pub(crate) fn error_log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client behind the load balancer: subscribes from its cursor and, when
/// its socket drops, reconnects (through nginx, to whichever node is up)
/// and resumes from the last cursor it received, until it has `total`
/// changes. Returns them in the order received, and how many sockets it
/// had to open.
async fn resilient_subscriber(
    lb: Arc<Http>,
    token: String,
    start: String,
    total: i64,
    subscribed: Arc<AtomicUsize>,
) -> (Vec<Seen>, usize) {
    let mut seen: Vec<Seen> = Vec::new();
    let (mut reconnects, mut sockets) = (0, 0);
    while seen.last().map_or(0, |s| s.seq) < total {
        let after = seen.last().map_or(start.clone(), |s| s.cursor.clone());
        let mut ws = match WsClient::try_ready(&lb, &token).await {
            Ok(ws) => ws,
            Err(_) => {
                reconnects += 1;
                assert!(reconnects < 200, "cannot reconnect through nginx");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        sockets += 1;
        ws.subscribe("s", &changes_q(), json!({ "after": after }))
            .await;
        if sockets == 1 {
            subscribed.fetch_add(1, Ordering::SeqCst);
        }
        while seen.last().map_or(0, |s| s.seq) < total {
            match ws.event().await {
                Event::Json(v) if v["type"] == "next" => {
                    let change = &v["payload"]["data"]["taskChanges"];
                    let cursor = change["cursor"].as_str().expect("cursor").to_owned();
                    seen.push(Seen {
                        seq: seq(&cursor),
                        task: change["task"]["id"].as_str().expect("id").to_owned(),
                        cursor,
                    });
                }
                Event::Json(v) if v["type"] == "ping" || v["type"] == "pong" => {}
                Event::Json(v) => panic!("unexpected message {v}"),
                // The node went away: reconnect and resume.
                Event::Closed(..) => break,
            }
        }
    }
    (seen, sockets)
}

/// Two nodes behind nginx (the shipped config); clients of two users
/// subscribe and write through nginx; one node is killed with SIGKILL in
/// the middle. Every client reconnects through nginx, resumes from its
/// cursor, and ends with every acknowledged change exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_in_front_of_two_nodes_survives_a_node_killed_mid_stream() {
    let Some(binary) = nginx_or_skip() else {
        return;
    };
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let public = "http://lb.test";
    let mut a = Node::start_behind("a", db.url(), public);
    let b = Node::start_behind("b", db.url(), public);
    let nginx = Nginx::start(
        &binary,
        [
            a.base.trim_start_matches("http://"),
            b.base.trim_start_matches("http://"),
        ],
    );
    let lb = Arc::new(Http::new(nginx.http.base.clone()));
    // Accounts are made on B (its dev mailbox has the codes); everything
    // after goes through nginx.
    const WRITERS: usize = 2;
    const CREATES: usize = 40;
    let total = (WRITERS * CREATES) as i64;
    let mut users = Vec::new();
    for u in 0..2 {
        let t = account(&b, &format!("lb-{u}")).await;
        let start = current_cursor(&lb, &t.access).await;
        users.push((t, start));
    }
    let mut subscribers = Vec::new();
    let subscribed = Arc::new(AtomicUsize::new(0));
    for (t, start) in &users {
        for _ in 0..3 {
            subscribers.push(tokio::spawn(resilient_subscriber(
                lb.clone(),
                t.access.clone(),
                start.clone(),
                total,
                subscribed.clone(),
            )));
        }
    }
    // Every client holds a socket before the writes begin: nginx's
    // round-robin has spread the six over both nodes.
    while subscribed.load(Ordering::SeqCst) < subscribers.len() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let acked = Arc::new(AtomicUsize::new(0));
    let retried = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for (u, (t, _)) in users.iter().enumerate() {
        for w in 0..WRITERS {
            let (lb, token) = (lb.clone(), t.access.clone());
            let (acked, retried) = (acked.clone(), retried.clone());
            writers.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..CREATES {
                    let id = Uuid::now_v7();
                    let title = format!("user {u} writer {w} #{i}");
                    // Retried until acknowledged: a create cut off by the
                    // kill may or may not have committed; its retry is
                    // idempotent either way.
                    let mut tries = 0;
                    while let Err(e) = create(&lb, &token, id, &title).await {
                        retried.fetch_add(1, Ordering::SeqCst);
                        tries += 1;
                        assert!(tries < 100, "create never acknowledged: {e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    ids.push(id.to_string());
                    acked.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                (u, ids)
            }));
        }
    }
    // Kill A once about a third of the writes are acknowledged.
    while acked.load(Ordering::SeqCst) < (2 * WRITERS * CREATES) / 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    a.kill9();
    let mut acked_by_user: Vec<HashSet<String>> = vec![HashSet::new(), HashSet::new()];
    for w in writers {
        let (u, ids) = w.await.expect("writer");
        acked_by_user[u].extend(ids);
    }
    let mut reconnected = 0;
    for (i, s) in subscribers.into_iter().enumerate() {
        let (seen, sockets) = s.await.expect("subscriber");
        reconnected += usize::from(sockets > 1);
        let user = i / 3;
        let seqs: Vec<i64> = seen.iter().map(|s| s.seq).collect();
        assert_eq!(
            seqs,
            (1..=total).collect::<Vec<_>>(),
            "client {i}: every change once, in order"
        );
        let tasks: HashSet<String> = seen.into_iter().map(|s| s.task).collect();
        assert_eq!(
            tasks, acked_by_user[user],
            "client {i}: exactly the acknowledged creates"
        );
    }
    eprintln!(
        "{reconnected} of 6 clients reconnected; {} create attempts were retried",
        retried.load(Ordering::SeqCst)
    );
    assert!(
        reconnected >= 1,
        "the killed node had subscribers, which moved over"
    );
}
