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
//! - `wire`: the floor of fan-out: `wire-server` (a bare WebSocket
//!   broadcast server beside this binary: no database, no auth) sends the
//!   same events to S sockets of the same client at the fan-out's rate.
//!
//! Subscribers are lean clients (`lean.rs`: raw TCP, frames parsed in place),
//! so that they read as fast as a real client and cost little of the CPU
//! they share with the server. The fan-out and wire reports add the
//! server's CPU time per delivery, the bench's own, and the delivery
//! latency of the first and last quarter of deliveries (a growing backlog).

mod lean;
mod server_view;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};

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
        default_value = "memory,fanout,wire,users,resume,delta"
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
    /// The `wire-server` binary of the wire scenario; defaults to the one
    /// beside this binary.
    #[arg(long)]
    wire_bin: Option<PathBuf>,
    /// Messages per second the wire scenario sends (0: as fast as the
    /// writers go); by default the mutation rate of the fan-out run with as
    /// many subscribers, when it ran before, else unpaced.
    #[arg(long)]
    wire_rate: Option<f64>,
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
    /// Every node's process, for their CPU time.
    pids: Vec<u32>,
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
            pids: args.server_pid.into_iter().collect(),
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
        pids: Vec::new(),
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
            // The bench measures what the server can do, not its per-user
            // rate limit (its writers are one user).
            .env("TASKSYNC_API_RATE_PER_SECOND", "100000000")
            .env("TASKSYNC_API_RATE_BURST", "100000000")
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
        server.pids.push(child.id());
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

/// A lean socket with one `taskChanges` subscription after `cursor`,
/// positioned (a pong after the subscribe proves the server has fixed its
/// start).
async fn subscriber(base: &str, token: &str, cursor: &str) -> anyhow::Result<lean::Socket> {
    lean::Socket::subscribe(base, token, CHANGES, cursor).await
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

/// Clock ticks per second of the CPU times in /proc (`getconf CLK_TCK`).
fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// CPU time (user + system) of a process so far, in seconds; of this one
/// for `None`.
fn cpu_secs(pid: Option<u32>) -> anyhow::Result<f64> {
    let path = pid.map_or_else(
        || "/proc/self/stat".to_owned(),
        |p| format!("/proc/{p}/stat"),
    );
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // After the command name (in parentheses, field 2) come the state
    // (field 3) … utime (field 14) and stime (field 15).
    let rest = stat
        .rsplit_once(')')
        .context("the format of /proc/PID/stat")?
        .1;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next().context("utime")?.parse()?;
    let stime: u64 = fields.next().context("stime")?.parse()?;
    Ok((utime + stime) as f64 / clock_ticks())
}

/// CPU time the whole machine has spent busy so far (every core), in
/// seconds: user, nice, system, irq, softirq and steal of /proc/stat.
fn machine_busy_secs() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let cpu = stat
        .lines()
        .find_map(|l| l.strip_prefix("cpu "))
        .context("no cpu line in /proc/stat")?;
    let ticks: Vec<u64> = cpu
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum();
    Ok(busy as f64 / clock_ticks())
}

/// CPU seconds used so far by the server processes (together), by the
/// bench, and by the whole machine.
#[derive(Debug, Clone, Copy)]
struct CpuMark {
    at: Instant,
    server: Option<f64>,
    bench: f64,
    machine: f64,
}

impl CpuMark {
    fn now(pids: &[u32]) -> anyhow::Result<Self> {
        let server = if pids.is_empty() {
            None
        } else {
            let mut sum = 0.0;
            for &p in pids {
                sum += cpu_secs(Some(p))?;
            }
            Some(sum)
        };
        Ok(Self {
            at: Instant::now(),
            server,
            bench: cpu_secs(None)?,
            machine: machine_busy_secs()?,
        })
    }
}

/// CPU use between two marks: cores busy, µs per delivery; and the cores
/// other processes took meanwhile (a figure measured while they took much
/// is not the server's).
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    server: Option<(f64, f64)>,
    bench: (f64, f64),
    other_cores: Option<f64>,
}

impl Cpu {
    fn between(a: CpuMark, b: CpuMark, deliveries: usize) -> Self {
        let wall = (b.at - a.at).as_secs_f64().max(1e-9);
        let per = |secs: f64| (secs / wall, secs * 1e6 / deliveries.max(1) as f64);
        let server = a.server.zip(b.server).map(|(a, b)| b - a);
        let bench = b.bench - a.bench;
        Self {
            server: server.map(per),
            bench: per(bench),
            other_cores: server
                .map(|server| ((b.machine - a.machine - server - bench) / wall).max(0.0)),
        }
    }

    fn label(&self) -> String {
        let server = self.server.map_or_else(
            || "server CPU unknown (needs --server-pid)".to_owned(),
            |(cores, us)| format!("server CPU {cores:.2} cores, {us:.2} µs per delivery"),
        );
        let other = self
            .other_cores
            .map_or_else(String::new, |o| format!(" | other processes {o:.2} cores"));
        format!(
            "{server} | bench CPU {:.2} cores, {:.2} µs per delivery{other}",
            self.bench.0, self.bench.1
        )
    }

    fn json(&self) -> Value {
        json!({
            "server_cpu": self.server.map(|(cores, us)| json!({ "cores": cores, "us_per_delivery": us })),
            "bench_cpu": { "cores": self.bench.0, "us_per_delivery": self.bench.1 },
            "other_cpu_cores": self.other_cores,
        })
    }
}

/// What the subscribers of a run received, together.
#[derive(Debug, Default)]
struct Delivered {
    received: usize,
    in_order: usize,
    mean_bytes: f64,
    /// Deliveries per read of a subscriber socket.
    per_read: f64,
    all: Dist,
    /// The first and the last quarter of the deliveries by receive time.
    first: Dist,
    last: Dist,
    /// From the start of the writes to the last receive.
    secs: f64,
}

impl Delivered {
    fn new(results: Vec<lean::Received>, start: u64) -> Self {
        let received = results.iter().map(|r| r.deliveries.len()).sum();
        let mut all = Vec::with_capacity(received);
        let (mut in_order, mut bytes, mut reads) = (0, 0, 0);
        for r in results {
            in_order += r.in_order;
            bytes += r.bytes;
            reads += r.reads;
            all.extend(r.deliveries);
        }
        all.sort_unstable_by_key(|&(at, _)| at);
        let latencies =
            |part: &[(u64, u64)]| dist(part.iter().map(|&(_, l)| u128::from(l)).collect());
        let quarter = received / 4;
        Self {
            received,
            in_order,
            mean_bytes: bytes as f64 / received.max(1) as f64,
            per_read: received as f64 / reads.max(1) as f64,
            all: latencies(&all),
            first: latencies(&all[..quarter]),
            last: latencies(&all[received - quarter..]),
            secs: all
                .last()
                .map_or(0.0, |&(at, _)| at.saturating_sub(start) as f64 / 1e6),
        }
    }

    fn per_s(&self) -> f64 {
        self.received as f64 / self.secs.max(1e-9)
    }

    /// The last quarter waited more than twice as long as the first, and long.
    fn backlog_growing(&self) -> bool {
        self.last.p50 > 2.0 * self.first.p50 && self.last.p50 > 50.0
    }

    fn label(&self) -> String {
        format!(
            "delivered in {:.2} s, first quarter p50 {:.2} ms p99 {:.2} ms, last quarter p50 {:.2} ms p99 {:.2} ms, backlog growing: {} | event {:.0} bytes, {:.1} per read",
            self.secs,
            self.first.p50,
            self.first.p99,
            self.last.p50,
            self.last.p99,
            if self.backlog_growing() { "yes" } else { "no" },
            self.mean_bytes,
            self.per_read,
        )
    }

    fn json(&self) -> Value {
        json!({
            "delivery_secs": self.secs,
            "delivery_ms_first_quarter": { "p50": self.first.p50, "p99": self.first.p99, "max": self.first.max },
            "delivery_ms_last_quarter": { "p50": self.last.p50, "p99": self.last.p99, "max": self.last.max },
            "backlog_growing": self.backlog_growing(),
            "event_bytes": self.mean_bytes,
            "deliveries_per_read": self.per_read,
        })
    }
}

/// Merges the fields of `extra` objects into `base`.
fn merged(mut base: Value, extra: &[Value]) -> Value {
    if let Some(map) = base.as_object_mut() {
        for e in extra {
            if let Some(e) = e.as_object() {
                map.extend(e.clone());
            }
        }
    }
    base
}

/// The fan-out scenario; its mutations per second.
async fn fanout(
    args: &Args,
    http: &reqwest::Client,
    server: &Server,
    subscribers: usize,
    report: &mut Report,
) -> anyhow::Result<f64> {
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
        .map(|ws| tokio::spawn(ws.receive(m, Duration::from_secs(120))))
        .collect();
    let seen_before = server_view::Snapshot::read(http, &server.bases).await?;
    let before = CpuMark::now(&server.pids)?;
    let start_stamp = stamp() as u64;
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
    let mut results = Vec::with_capacity(subscribers);
    for r in receivers {
        results.push(r.await?);
    }
    let after = CpuMark::now(&server.pids)?;
    let seen = server_view::View::between(
        &seen_before,
        &server_view::Snapshot::read(http, &server.bases).await?,
    );
    let d = Delivered::new(results, start_stamp);
    let cpu = Cpu::between(before, after, d.received);
    let lost = m * subscribers - d.received;
    let (md, dd) = (dist(mutation), d.all);
    let key = format!("fanout_{subscribers}");
    let mutations_per_s = m as f64 / write_secs;
    report.add(
        &key,
        format!(
            "fan-out S={subscribers:<5} M={m} C={}: {:>8.0} mutations/s, mutation p50 {:.2} ms p99 {:.2} ms | delivery p50 {:.2} ms p99 {:.2} ms max {:.2} ms | {:>9.0} deliveries/s | lost {lost} | out of order {} | {} | {} | {}",
            args.concurrency,
            mutations_per_s,
            md.p50,
            md.p99,
            dd.p50,
            dd.p99,
            dd.max,
            d.per_s(),
            d.received - d.in_order,
            d.label(),
            cpu.label(),
            seen.label(d.received, dd.p50, dd.p99),
        ),
        merged(
            json!({
                "subscribers": subscribers, "mutations": m, "concurrency": args.concurrency,
                "mutations_per_s": mutations_per_s,
                "mutation_ms": { "p50": md.p50, "p99": md.p99, "max": md.max },
                "delivery_ms": { "p50": dd.p50, "p99": dd.p99, "max": dd.max },
                "deliveries_per_s": d.per_s(),
                "lost": lost, "out_of_order": d.received - d.in_order,
            }),
            &[d.json(), cpu.json(), seen.json(d.received, dd.p50, dd.p99)],
        ),
    );
    Ok(mutations_per_s)
}

/// The `wire-server` process of the wire scenario, killed on drop.
struct WireServer(Child);

impl Drop for WireServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The wire scenario: the fan-out's events from a bare broadcast server.
async fn wire(
    args: &Args,
    subscribers: usize,
    rate: f64,
    report: &mut Report,
) -> anyhow::Result<()> {
    let bin = match &args.wire_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?.with_file_name("wire-server"),
    };
    let (port, cmd_port) = (free_port()?, free_port()?);
    let m = args.mutations;
    let child = Command::new(&bin)
        .arg("--port")
        .arg(port.to_string())
        .arg("--cmd-port")
        .arg(cmd_port.to_string())
        .arg("--capacity")
        .arg(m.max(1024).to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| {
            format!(
                "starting {} (build it with `cargo build --release -p tasksync-bench`)",
                bin.display()
            )
        })?;
    let wire_server = WireServer(child);
    let pids = [wire_server.0.id()];
    let cmd = std::net::SocketAddr::from(([127, 0, 0, 1], cmd_port));
    let mut up = false;
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(cmd).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if !up {
        bail!("{} did not start listening", bin.display());
    }
    let base = format!("http://127.0.0.1:{port}");
    let mut sockets = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let mut ws = lean::Socket::connect(&base, "/", Some("graphql-transport-ws")).await?;
        ws.wait_for("ready").await?;
        sockets.push(ws);
    }
    let receivers: Vec<_> = sockets
        .into_iter()
        .map(|ws| tokio::spawn(ws.receive(m, Duration::from_secs(120))))
        .collect();
    let before = CpuMark::now(&pids)?;
    let start_stamp = stamp() as u64;
    let start = Instant::now();
    let sends = wire_load(cmd, m, args.concurrency, rate).await?;
    let write_secs = start.elapsed().as_secs_f64();
    let mut results = Vec::with_capacity(subscribers);
    for r in receivers {
        results.push(r.await?);
    }
    let after = CpuMark::now(&pids)?;
    drop(wire_server);
    let d = Delivered::new(results, start_stamp);
    let cpu = Cpu::between(before, after, d.received);
    let lost = m * subscribers - d.received;
    let (sd, dd) = (dist(sends), d.all);
    let offered = if rate > 0.0 {
        format!("paced at {rate:.0}/s")
    } else {
        "unpaced".to_owned()
    };
    report.add(
        &format!("wire_{subscribers}"),
        format!(
            "wire    S={subscribers:<5} M={m} C={} ({offered}): {:>8.0} messages/s, send p50 {:.2} ms | delivery p50 {:.2} ms p99 {:.2} ms max {:.2} ms | {:>9.0} deliveries/s | lost {lost} | out of order {} | {} | {}",
            args.concurrency,
            m as f64 / write_secs,
            sd.p50,
            dd.p50,
            dd.p99,
            dd.max,
            d.per_s(),
            d.received - d.in_order,
            d.label(),
            cpu.label(),
        ),
        merged(
            json!({
                "subscribers": subscribers, "messages": m, "concurrency": args.concurrency,
                "rate": rate, "messages_per_s": m as f64 / write_secs,
                "send_ms": { "p50": sd.p50, "p99": sd.p99 },
                "delivery_ms": { "p50": dd.p50, "p99": dd.p99, "max": dd.max },
                "deliveries_per_s": d.per_s(),
                "lost": lost, "out_of_order": d.received - d.in_order,
            }),
            &[d.json(), cpu.json()],
        ),
    );
    Ok(())
}

/// Sends `total` broadcast commands (`title` lines, each acknowledged by a
/// line) to a wire-server from `concurrency` connections, titles stamped
/// like the fan-out's mutations; each command's latency in µs. Paced
/// (`rate` per second in all), a connection sends on schedule without
/// waiting for acknowledgements, so the offered rate is the fan-out's;
/// unpaced (`rate` 0), it waits for each, like the fan-out's writers.
async fn wire_load(
    cmd: std::net::SocketAddr,
    total: usize,
    concurrency: usize,
    rate: f64,
) -> anyhow::Result<Vec<u128>> {
    let begin = tokio::time::Instant::now();
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let n = total / concurrency + usize::from(w < total % concurrency);
        workers.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(cmd).await?;
            stream.set_nodelay(true)?;
            let (read, mut write) = stream.into_split();
            let (ack_tx, mut acks) = tokio::sync::mpsc::unbounded_channel();
            let reader = tokio::spawn(async move {
                let mut read = tokio::io::BufReader::new(read);
                let mut line = String::new();
                for _ in 0..n {
                    line.clear();
                    if read.read_line(&mut line).await? == 0 || ack_tx.send(stamp()).is_err() {
                        break;
                    }
                }
                anyhow::Ok(())
            });
            let closed = "the wire-server closed a command connection";
            let mut sent = Vec::with_capacity(n);
            let mut lat = Vec::with_capacity(n);
            for i in 0..n {
                if rate > 0.0 {
                    let k = (i * concurrency + w) as f64;
                    tokio::time::sleep_until(begin + Duration::from_secs_f64(k / rate)).await;
                }
                let at = stamp();
                write.write_all(format!("b{at} w{w}\n").as_bytes()).await?;
                sent.push(at);
                if rate <= 0.0 {
                    lat.push(acks.recv().await.context(closed)? - at);
                }
            }
            while lat.len() < n {
                lat.push(acks.recv().await.context(closed)? - sent[lat.len()]);
            }
            reader.await??;
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::with_capacity(total);
    for w in workers {
        all.extend(w.await??);
    }
    Ok(all)
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
            receivers.push(tokio::spawn(ws.receive(per_user, Duration::from_secs(120))));
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
        delivery.extend(r.await?.deliveries.into_iter().map(|(_, l)| u128::from(l)));
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
    let got = ws.receive(k, Duration::from_secs(300)).await;
    let secs = start.elapsed().as_secs_f64();
    let (in_order, got) = (got.in_order, got.deliveries);
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
    for ws in warm.into_iter().chain(sockets) {
        ws.close().await;
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
    // The wire scenario needs no tasksync server.
    let server = if args.scenarios.iter().any(|s| s != "wire") {
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
        Some(server)
    } else {
        None
    };
    let mut report = Report::default();
    // Mutations per second of the fan-out runs, by subscriber count: the
    // wire scenario's default rate.
    let mut fanout_rates = std::collections::HashMap::new();
    for scenario in &args.scenarios {
        if scenario == "wire" {
            for &s in &args.subscribers {
                let rate = args
                    .wire_rate
                    .or_else(|| fanout_rates.get(&s).copied())
                    .unwrap_or(0.0);
                wire(&args, s, rate, &mut report).await?;
            }
            continue;
        }
        let server = server.as_ref().context("no server")?;
        match scenario.as_str() {
            "fanout" => {
                for &s in &args.subscribers {
                    let rate = fanout(&args, &http, server, s, &mut report).await?;
                    fanout_rates.insert(s, rate);
                }
            }
            "users" => many_users(&args, &http, server, &mut report).await?,
            "resume" => resume(&args, &http, server, &mut report).await?,
            "delta" => delta(&args, &http, server, &mut report).await?,
            "memory" => memory(&args, &http, server, &mut report).await?,
            other => bail!("unknown scenario {other:?}"),
        }
    }
    println!("{}", Value::Object(report.json));
    Ok(())
}
