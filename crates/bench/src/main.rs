//! `tasksync-bench`: measures a tasksync server with real HTTP and
//! WebSocket clients and prints a table and one JSON line.
//!
//! By default it starts `target/release/tasksync` on a fresh SQLite file in
//! a temporary directory (so it can also seed the database and read the
//! server's memory). `--postgres URL` starts it on a fresh database of that
//! PostgreSQL server instead, and `--nodes N` starts N nodes on it, spreading
//! subscribers and writes over them. `--url` targets a running server (the
//! delta and memory scenarios then need `--db` and `--server-pid`).
//!
//! Scenarios:
//! - `fanout`: S subscribers of one user, M mutations over HTTP at
//!   concurrency C: mutation latency, delivery latency (mutation sent →
//!   change received), deliveries per second, lost events.
//! - `users`: U users × 2 sockets, random writes by every user.
//! - `resume`: a subscriber misses K changes, then resumes from its cursor.
//! - `delta`: delta sync of K changes in a database of N tasks.
//! - `memory`: server memory per idle subscribed socket (run first).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[derive(Debug, Parser)]
#[command(name = "tasksync-bench", about = "Benchmarks of a tasksync server")]
struct Args {
    /// Target a running server (dev mode, generous rate limits) instead of starting one.
    #[arg(long)]
    url: Option<String>,
    /// The server binary to start; defaults to `tasksync` beside this binary.
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// With --url: the server's SQLite file, for seeding the delta scenario.
    #[arg(long)]
    db: Option<PathBuf>,
    /// With --url: the server's process id, for the memory scenario.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Run on PostgreSQL: a fresh database is made on the server of this
    /// URL (e.g. postgres://postgres@127.0.0.1:5432/test) and dropped after.
    #[arg(long)]
    postgres: Option<String>,
    /// Nodes to start on the PostgreSQL database; subscribers and writes
    /// are spread over them round-robin.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Scenarios to run (memory first by default: later scenarios free
    /// memory that the allocator then reuses, hiding the cost of new sockets).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "memory,fanout,users,resume,delta"
    )]
    scenarios: Vec<String>,
    /// Subscriber counts of the fan-out scenario.
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    subscribers: Vec<usize>,
    /// Mutations per fan-out run.
    #[arg(long, default_value_t = 2000)]
    mutations: usize,
    /// Concurrent writers.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Users of the many-users scenario.
    #[arg(long, default_value_t = 50)]
    users: usize,
    /// Missed changes replayed by the resume scenario.
    #[arg(long, default_value_t = 10_000)]
    resume_changes: usize,
    /// Tasks in the database of the delta scenario.
    #[arg(long, default_value_t = 1_000_000)]
    delta_tasks: usize,
    /// Changes fetched by the delta sync.
    #[arg(long, default_value_t = 1000)]
    delta_changes: usize,
    /// Idle subscribed sockets of the memory scenario.
    #[arg(long, default_value_t = 2000)]
    idle_sockets: usize,
}

fn epoch() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

fn stamp() -> u128 {
    epoch().elapsed().as_micros()
}

/// Percentiles of a sample, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
struct Dist {
    p50: f64,
    p99: f64,
    max: f64,
}

fn dist(mut micros: Vec<u128>) -> Dist {
    if micros.is_empty() {
        return Dist::default();
    }
    micros.sort_unstable();
    let at = |q: f64| {
        let i = ((micros.len() as f64 - 1.0) * q).round() as usize;
        micros[i] as f64 / 1000.0
    };
    Dist {
        p50: at(0.5),
        p99: at(0.99),
        max: at(1.0),
    }
}

/// Where the server's data is, for seeding.
enum Db {
    Sqlite(PathBuf),
    Postgres(String),
}

/// The server under test: one node, or several on one PostgreSQL database.
struct Server {
    /// Node 0: accounts are made here (its dev mailbox has the codes).
    base: String,
    /// Every node, `base` first.
    bases: Vec<String>,
    children: Vec<Child>,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<tasksync_store::testing::TestDatabase>,
    db: Option<Db>,
    /// Node 0's process.
    pid: Option<u32>,
}

impl Server {
    /// The node the `i`-th client uses.
    fn node(&self, i: usize) -> &str {
        &self.bases[i % self.bases.len()]
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn start_server(args: &Args, http: &reqwest::Client) -> anyhow::Result<Server> {
    if let Some(url) = &args.url {
        let base = url.trim_end_matches('/').to_owned();
        return Ok(Server {
            bases: vec![base.clone()],
            base,
            children: Vec::new(),
            _dir: None,
            _pg: None,
            db: args.db.clone().map(Db::Sqlite),
            pid: args.server_pid,
        });
    }
    let bin = match &args.server_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?.with_file_name("tasksync"),
    };
    let dir = tempfile::tempdir()?;
    let (url, db, pg) = match &args.postgres {
        Some(admin) => {
            let pg = tasksync_store::testing::TestDatabase::create_on(admin)
                .await
                .context("creating a database for the benchmark")?;
            let url = pg.url().to_owned();
            (url.clone(), Db::Postgres(url), Some(pg))
        }
        None => {
            let db = dir.path().join("bench.db");
            (format!("sqlite://{}", db.display()), Db::Sqlite(db), None)
        }
    };
    if args.nodes > 1 && pg.is_none() {
        bail!("--nodes above 1 needs --postgres (a SQLite file has one server)");
    }
    let mut server = Server {
        base: String::new(),
        bases: Vec::new(),
        children: Vec::new(),
        _dir: Some(dir),
        _pg: pg,
        db: Some(db),
        pid: None,
    };
    for n in 0..args.nodes.max(1) {
        let port = free_port()?;
        let child = Command::new(&bin)
            .arg("serve")
            .env("TASKSYNC_DEV", "1")
            .env("TASKSYNC_LISTEN", format!("127.0.0.1:{port}"))
            .env("TASKSYNC_PUBLIC_URL", "http://bench.test")
            .env("TASKSYNC_DATABASE_URL", &url)
            .env("TASKSYNC_AUTH_RATE_PER_MINUTE", "10000000")
            .env("TASKSYNC_AUTH_RATE_BURST", "10000000")
            .env("TASKSYNC_MAX_SOCKETS_PER_USER", "100000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (build it with `cargo build --release`)",
                    bin.display()
                )
            })?;
        if n == 0 {
            server.pid = Some(child.id());
        }
        server.children.push(child);
        let base = format!("http://127.0.0.1:{port}");
        wait_healthy(http, &base).await?;
        server.bases.push(base);
    }
    server.base = server.bases[0].clone();
    Ok(server)
}

async fn wait_healthy(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    for _ in 0..300 {
        if http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the server at {base} did not become healthy")
}

const PASSWORD: &str = "correct horse battery staple";

/// Signs up, confirms through the dev mailbox and signs in; the access token.
async fn register(http: &reqwest::Client, base: &str, email: &str) -> anyhow::Result<String> {
    let body = json!({ "email": email, "password": PASSWORD });
    let up = http
        .post(format!("{base}/auth/sign-up"))
        .json(&body)
        .send()
        .await?;
    if !up.status().is_success() {
        bail!("sign-up failed: {}", up.text().await?);
    }
    let mut code = None;
    for _ in 0..200 {
        let mails: Value = http
            .get(format!("{base}/dev/mailbox"))
            .send()
            .await?
            .json()
            .await?;
        code = mails
            .as_array()
            .into_iter()
            .flatten()
            .rev()
            .find(|m| m["to"] == email)
            .and_then(|m| {
                let text = m["text"].as_str()?;
                text.split(|c: char| !c.is_ascii_digit())
                    .find(|w| w.len() == 6)
                    .map(str::to_owned)
            });
        if code.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let code = code.context("no code in the dev mailbox (is the server in dev mode?)")?;
    http.post(format!("{base}/auth/confirm-sign-up"))
        .json(&json!({ "email": email, "code": code }))
        .send()
        .await?
        .error_for_status()?;
    let tokens: Value = http
        .post(format!("{base}/auth/sign-in"))
        .json(&body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    tokens["accessToken"]
        .as_str()
        .map(str::to_owned)
        .context("no access token")
}

async fn gql(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    let v: Value = http
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await?
        .json()
        .await?;
    if !v["errors"].is_null() {
        bail!("GraphQL errors: {}", v["errors"]);
    }
    Ok(v["data"].clone())
}

const CREATE: &str = "mutation($t: String!) { createTask(input: { title: $t }) { id } }";
const CHANGES: &str =
    "subscription($after: String) { taskChanges(after: $after) { cursor task { title } } }";

/// The current cursor of a user (the head of its log).
async fn head_cursor(http: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<String> {
    let d = gql(
        http,
        base,
        token,
        "{ syncTasks(limit: 1) { cursor } }",
        json!({}),
    )
    .await?;
    d["syncTasks"]["cursor"]
        .as_str()
        .map(str::to_owned)
        .context("cursor")
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A socket with one `taskChanges` subscription after `cursor`, positioned
/// (a pong after the subscribe proves the server has fixed its start).
async fn subscriber(base: &str, token: &str, cursor: &str) -> anyhow::Result<Socket> {
    let mut request =
        format!("{}/graphql", base.replacen("http", "ws", 1)).into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
    let send = |v: Value| Message::Text(v.to_string().into());
    ws.send(send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } }))).await?;
    ws.send(send(json!({ "id": "1", "type": "subscribe", "payload": { "query": CHANGES, "variables": { "after": cursor } } }))).await?;
    ws.send(send(json!({ "type": "ping" }))).await?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.as_str().contains("\"pong\"") => return Ok(ws),
            Some(Ok(Message::Text(t))) if t.as_str().contains("\"connection_ack\"") => {}
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => bail!("unexpected while subscribing: {other:?}"),
        }
    }
}

/// Reads `expected` changes; returns the delivery latencies (µs since the
/// stamp in the title) and the number received in order.
async fn receive(mut ws: Socket, expected: usize, deadline: Duration) -> (Vec<u128>, usize) {
    let mut latencies = Vec::with_capacity(expected);
    let mut last_seq = None::<u64>;
    let mut in_order = 0;
    let end = tokio::time::Instant::now() + deadline;
    while latencies.len() < expected {
        let Ok(Some(Ok(message))) = tokio::time::timeout_at(end, ws.next()).await else {
            break;
        };
        let Message::Text(text) = message else {
            continue;
        };
        let now = stamp();
        // A string scan, not a JSON parse: the client shares the machine
        // with the server and should cost as little as it can.
        let text = text.as_str();
        let Some(title) = field(text, "title") else {
            continue;
        };
        if let Some(sent) = title
            .strip_prefix('b')
            .and_then(|t| t.split(' ').next())
            .and_then(|t| t.parse::<u128>().ok())
        {
            latencies.push(now.saturating_sub(sent));
        } else {
            latencies.push(0);
        }
        let seq = field(text, "cursor")
            .and_then(|c| u64::from_str_radix(c.get(c.len().saturating_sub(16)..)?, 16).ok());
        if let (Some(s), Some(prev)) = (seq, last_seq) {
            if s == prev + 1 {
                in_order += 1;
            }
        } else if seq.is_some() {
            in_order += 1;
        }
        last_seq = seq;
    }
    let _ = ws.close(None).await;
    (latencies, in_order)
}

/// The string value of the first `"name":"…"` in a JSON text (no escapes).
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("\"{name}\":\"");
    let start = text.find(&key)? + key.len();
    let len = text[start..].find('"')?;
    Some(&text[start..start + len])
}

/// Runs `total` createTask mutations at `concurrency`, titles stamped with
/// their send time; returns each mutation's latency in µs.
async fn write_load(
    http: &reqwest::Client,
    bases: &[String],
    tokens: &[String],
    total: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<u128>> {
    let mut workers = Vec::new();
    for w in 0..concurrency {
        // Writers spread over the nodes.
        let (http, base, tokens) = (
            http.clone(),
            bases[w % bases.len()].clone(),
            tokens.to_vec(),
        );
        let n = total / concurrency + usize::from(w < total % concurrency);
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(n);
            for i in 0..n {
                let token = &tokens[(w + i * concurrency) % tokens.len()];
                let sent = stamp();
                gql(
                    &http,
                    &base,
                    token,
                    CREATE,
                    json!({ "t": format!("b{sent} w{w}") }),
                )
                .await?;
                lat.push(stamp() - sent);
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::with_capacity(total);
    for w in workers {
        all.extend(w.await??);
    }
    Ok(all)
}

#[derive(Debug, Default)]
struct Report {
    rows: Vec<(String, String)>,
    json: serde_json::Map<String, Value>,
}

impl Report {
    fn add(&mut self, key: &str, label: String, value: Value) {
        println!("{label}");
        self.rows.push((key.to_owned(), label));
        self.json.insert(key.to_owned(), value);
    }
}

async fn fanout(
    args: &Args,
    http: &reqwest::Client,
    server: &Server,
    subscribers: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    let token = register(
        http,
        &server.base,
        &format!(
            "fanout-{subscribers}-{}@bench.example",
            uuid::Uuid::new_v4().simple()
        ),
    )
    .await?;
    let cursor = head_cursor(http, &server.base, &token).await?;
    let mut sockets = Vec::with_capacity(subscribers);
    for i in 0..subscribers {
        sockets.push(subscriber(server.node(i), &token, &cursor).await?);
    }
    let m = args.mutations;
    let receivers: Vec<_> = sockets
        .into_iter()
        .map(|ws| tokio::spawn(receive(ws, m, Duration::from_secs(120))))
        .collect();
    let start = Instant::now();
    let mutation = write_load(
        http,
        &server.bases,
        std::slice::from_ref(&token),
        m,
        args.concurrency,
    )
    .await?;
    let write_secs = start.elapsed().as_secs_f64();
    let mut delivery = Vec::with_capacity(m * subscribers);
    let mut in_order = 0;
    for r in receivers {
        let (lat, ordered) = r.await?;
        in_order += ordered;
        delivery.extend(lat);
    }
    let all_secs = start.elapsed().as_secs_f64();
    let received = delivery.len();
    let lost = m * subscribers - received;
    let (md, dd) = (dist(mutation), dist(delivery));
    let key = format!("fanout_{subscribers}");
    report.add(
        &key,
        format!(
            "fan-out S={subscribers:<5} M={m} C={}: {:>8.0} mutations/s, mutation p50 {:.2} ms p99 {:.2} ms | delivery p50 {:.2} ms p99 {:.2} ms max {:.2} ms | {:>9.0} deliveries/s | lost {lost} | out of order {}",
            args.concurrency,
            m as f64 / write_secs,
            md.p50,
            md.p99,
            dd.p50,
            dd.p99,
            dd.max,
            received as f64 / all_secs,
            received - in_order,
        ),
        json!({
            "subscribers": subscribers, "mutations": m, "concurrency": args.concurrency,
            "mutations_per_s": m as f64 / write_secs,
            "mutation_ms": { "p50": md.p50, "p99": md.p99, "max": md.max },
            "delivery_ms": { "p50": dd.p50, "p99": dd.p99, "max": dd.max },
            "deliveries_per_s": received as f64 / all_secs,
            "lost": lost, "out_of_order": received - in_order,
        }),
    );
    Ok(())
}

async fn many_users(
    args: &Args,
    http: &reqwest::Client,
    server: &Server,
    report: &mut Report,
) -> anyhow::Result<()> {
    let mut tokens = Vec::new();
    let mut receivers = Vec::new();
    let per_user = (args.mutations / args.users).max(1);
    for u in 0..args.users {
        let token = register(
            http,
            &server.base,
            &format!("user{u}-{}@bench.example", uuid::Uuid::new_v4().simple()),
        )
        .await?;
        let cursor = head_cursor(http, &server.base, &token).await?;
        for i in 0..2 {
            let ws = subscriber(server.node(u * 2 + i), &token, &cursor).await?;
            receivers.push(tokio::spawn(receive(
                ws,
                per_user,
                Duration::from_secs(120),
            )));
        }
        tokens.push(token);
    }
    let total = per_user * args.users;
    let start = Instant::now();
    // Round-robin over users from every writer: each user gets exactly
    // `per_user` writes.
    let mutation = write_load(http, &server.bases, &tokens, total, args.concurrency).await?;
    let secs = start.elapsed().as_secs_f64();
    let mut delivery = Vec::new();
    for r in receivers {
        delivery.extend(r.await?.0);
    }
    let lost = 2 * total - delivery.len();
    let (md, dd) = (dist(mutation), dist(delivery));
    report.add(
        "many_users",
        format!(
            "many users U={} x 2 sockets, {total} writes: {:>8.0} mutations/s, mutation p50 {:.2} ms | delivery p50 {:.2} ms p99 {:.2} ms max {:.2} ms | lost {lost}",
            args.users, total as f64 / secs, md.p50, dd.p50, dd.p99, dd.max
        ),
        json!({ "users": args.users, "writes": total, "mutations_per_s": total as f64 / secs,
                "mutation_ms": { "p50": md.p50, "p99": md.p99 },
                "delivery_ms": { "p50": dd.p50, "p99": dd.p99, "max": dd.max }, "lost": lost }),
    );
    Ok(())
}

async fn resume(
    args: &Args,
    http: &reqwest::Client,
    server: &Server,
    report: &mut Report,
) -> anyhow::Result<()> {
    let token = register(
        http,
        &server.base,
        &format!("resume-{}@bench.example", uuid::Uuid::new_v4().simple()),
    )
    .await?;
    let cursor = head_cursor(http, &server.base, &token).await?;
    let k = args.resume_changes;
    write_load(
        http,
        &server.bases,
        std::slice::from_ref(&token),
        k,
        args.concurrency,
    )
    .await?;
    let start = Instant::now();
    let ws = subscriber(&server.base, &token, &cursor).await?;
    let (got, in_order) = receive(ws, k, Duration::from_secs(300)).await;
    let secs = start.elapsed().as_secs_f64();
    report.add(
        "resume",
        format!(
            "resume of K={k} missed changes: {:.1} ms total, {:>9.0} changes/s, received {} (in order {in_order})",
            secs * 1000.0,
            got.len() as f64 / secs,
            got.len()
        ),
        json!({ "changes": k, "ms": secs * 1000.0, "per_s": got.len() as f64 / secs, "received": got.len(), "in_order": in_order }),
    );
    Ok(())
}

/// Fills the database with `n` tasks of other users, straight through SQL
/// (through the API it would take many minutes).
async fn seed(db: &std::path::Path, n: usize) -> anyhow::Result<()> {
    use sqlx::Connection as _;
    let url = format!("sqlite://{}", db.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await?;
    sqlx::query("PRAGMA busy_timeout = 30000")
        .execute(&mut conn)
        .await?;
    let per_user = 1000;
    let mut tx = conn.begin().await?;
    for u in 0..n.div_ceil(per_user) {
        let owner = uuid::Uuid::now_v7();
        sqlx::query("INSERT INTO users (id, email, password_hash, confirmed, disabled, created_at, updated_at) VALUES ($1, $2, 'x', 1, 0, 0, 0)")
            .bind(owner)
            .bind(format!("seed{u}-{}@bench.example", owner.simple()))
            .execute(&mut *tx)
            .await?;
        let count = per_user.min(n - u * per_user);
        for i in 0..count {
            sqlx::query(
                "INSERT INTO tasks (id, owner, title, description, done, created_at, updated_at, version, deleted, last_seq)
                 VALUES ($1, $2, $3, NULL, 0, $4, $4, 1, 0, $5)",
            )
            .bind(uuid::Uuid::now_v7())
            .bind(owner)
            .bind(format!("seeded task {i}"))
            .bind(i as i64)
            .bind(i as i64 + 1)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("INSERT INTO scopes (scope, seq, trimmed_to) VALUES ($1, $2, $2)")
            .bind(owner)
            .bind(count as i64)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The same seeding on PostgreSQL, in one statement.
async fn seed_postgres(url: &str, n: usize) -> anyhow::Result<()> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::query(
        "WITH u AS (
             INSERT INTO users (id, email, password_hash, confirmed, disabled, created_at, updated_at)
             SELECT gen_random_uuid(), 'seed' || g || '-' || md5(random()::text) || '@bench.example',
                    'x', TRUE, FALSE, 0, 0
             FROM generate_series(1, $1::int) g
             RETURNING id),
         t AS (
             INSERT INTO tasks (id, owner, title, description, done, created_at, updated_at,
                                version, deleted, last_seq)
             SELECT gen_random_uuid(), u.id, 'seeded task ' || i, NULL, FALSE, i, i, 1, FALSE, i + 1
             FROM u, generate_series(0, 999) i)
         INSERT INTO scopes (scope, seq, trimmed_to) SELECT id, 1000, 1000 FROM u",
    )
    .bind(i32::try_from(n.div_ceil(1000))?)
    .execute(&mut conn)
    .await?;
    sqlx::query("ANALYZE").execute(&mut conn).await?;
    Ok(())
}

async fn delta(
    args: &Args,
    http: &reqwest::Client,
    server: &Server,
    report: &mut Report,
) -> anyhow::Result<()> {
    let Some(db) = &server.db else {
        println!("delta: skipped (needs --db with --url)");
        return Ok(());
    };
    let seed_start = Instant::now();
    match db {
        Db::Sqlite(path) => seed(path, args.delta_tasks).await?,
        Db::Postgres(url) => seed_postgres(url, args.delta_tasks).await?,
    }
    let seeded = seed_start.elapsed();
    let token = register(
        http,
        &server.base,
        &format!("delta-{}@bench.example", uuid::Uuid::new_v4().simple()),
    )
    .await?;
    // Some history before the cursor, then K changes after it.
    write_load(
        http,
        &server.bases,
        std::slice::from_ref(&token),
        args.delta_changes,
        args.concurrency,
    )
    .await?;
    let cursor = head_cursor(http, &server.base, &token).await?;
    write_load(
        http,
        &server.bases,
        std::slice::from_ref(&token),
        args.delta_changes,
        args.concurrency,
    )
    .await?;
    let query = "query($last: String, $limit: Int) { syncTasks(lastSync: $last, limit: $limit) { items { id title done version deleted updatedAt } cursor fullSync nextToken } }";
    let mut times = Vec::new();
    let mut items = 0;
    for _ in 0..30 {
        let start = stamp();
        let d = gql(
            http,
            &server.base,
            &token,
            query,
            json!({ "last": cursor, "limit": args.delta_changes }),
        )
        .await?;
        times.push(stamp() - start);
        items = d["syncTasks"]["items"].as_array().map_or(0, Vec::len);
        if d["syncTasks"]["fullSync"] != false {
            bail!("expected a delta sync");
        }
    }
    let d = dist(times);
    report.add(
        "delta_sync",
        format!(
            "delta sync of K={} changes among N={} tasks: p50 {:.2} ms p99 {:.2} ms ({items} items; seeding took {:.1} s)",
            args.delta_changes,
            args.delta_tasks + 2 * args.delta_changes,
            d.p50,
            d.p99,
            seeded.as_secs_f64()
        ),
        json!({ "changes": args.delta_changes, "tasks": args.delta_tasks + 2 * args.delta_changes, "ms": { "p50": d.p50, "p99": d.p99 }, "items": items }),
    );
    Ok(())
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS")
}

/// The server's RSS once it stops moving (freed memory, such as the
/// Argon2 buffers of sign-ins, is returned to the system with a delay).
async fn settled_rss(pid: u32) -> anyhow::Result<u64> {
    let mut last = rss_kib(pid)?;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = rss_kib(pid)?;
        if now.abs_diff(last) < 128 {
            return Ok(now);
        }
        last = now;
    }
    Ok(last)
}

async fn memory(
    args: &Args,
    http: &reqwest::Client,
    server: &Server,
    report: &mut Report,
) -> anyhow::Result<()> {
    let Some(pid) = server.pid else {
        println!("memory: skipped (needs --server-pid with --url)");
        return Ok(());
    };
    let token = register(
        http,
        &server.base,
        &format!("idle-{}@bench.example", uuid::Uuid::new_v4().simple()),
    )
    .await?;
    let cursor = head_cursor(http, &server.base, &token).await?;
    // Warm up with a first batch, then measure the growth caused by the
    // next `idle_sockets` sockets.
    let mut warm = Vec::new();
    // As many sockets again as will be measured: the allocator has then
    // settled (mimalloc hands back freed memory, like the Argon2 buffers of
    // the sign-ins, only while it allocates).
    for _ in 0..args.idle_sockets {
        warm.push(subscriber(&server.base, &token, &cursor).await?);
    }
    let before = settled_rss(pid).await?;
    let mut sockets = Vec::with_capacity(args.idle_sockets);
    for _ in 0..args.idle_sockets {
        sockets.push(subscriber(&server.base, &token, &cursor).await?);
    }
    let after = settled_rss(pid).await?;
    if after < before {
        println!(
            "memory: inconclusive (the server's RSS fell from {before} to {after} KiB while sockets opened; run this scenario first)"
        );
        return Ok(());
    }
    let per = (after.saturating_sub(before)) as f64 * 1024.0 / args.idle_sockets as f64;
    report.add(
        "memory",
        format!(
            "memory: {} idle subscribed sockets add {} KiB to the server: {:.0} bytes ({:.1} KiB) per socket",
            args.idle_sockets,
            after.saturating_sub(before),
            per,
            per / 1024.0
        ),
        json!({ "sockets": args.idle_sockets, "bytes_per_socket": per, "rss_before_kib": before, "rss_after_kib": after }),
    );
    // Close them all and let the server settle, so that the teardown of
    // thousands of sockets does not run into the next scenario.
    for mut ws in warm.into_iter().chain(sockets) {
        let _ = ws.close(None).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    epoch();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let server = start_server(&args, &http).await?;
    println!(
        "tasksync-bench against {} ({}, {} node{})",
        server.bases.join(", "),
        match server.db {
            Some(Db::Postgres(_)) => "PostgreSQL",
            Some(Db::Sqlite(_)) => "SQLite",
            None => "database unknown",
        },
        server.bases.len(),
        if server.bases.len() == 1 { "" } else { "s" }
    );
    let mut report = Report::default();
    for scenario in &args.scenarios {
        match scenario.as_str() {
            "fanout" => {
                for &s in &args.subscribers {
                    fanout(&args, &http, &server, s, &mut report).await?;
                }
            }
            "users" => many_users(&args, &http, &server, &mut report).await?,
            "resume" => resume(&args, &http, &server, &mut report).await?,
            "delta" => delta(&args, &http, &server, &mut report).await?,
            "memory" => memory(&args, &http, &server, &mut report).await?,
            other => bail!("unknown scenario {other:?}"),
        }
    }
    println!("{}", Value::Object(report.json));
    Ok(())
}
