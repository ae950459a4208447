//! `lists`: shared lists (issue #14), in two parts.
//!
//! - `list-fanout`: one list shared by its owner with M − 1 other users
//!   (M members), each member with 2 sockets on `taskChanges`; the owner
//!   writes N changes into the list at a steady rate. Delivery latency from
//!   each write's acknowledgement (and from its send) to its arrival on
//!   every socket, deliveries per second, and a check that every socket got
//!   every change exactly once and in the same order (the scenario fails
//!   otherwise). Run once with the document that selects `list { id }`
//!   (what a client that knows lists sends) and once without it (what
//!   clients written before lists send); both take the fast path, which
//!   renders list changes too. The server's counters
//!   (`/metrics`: write batches, feed publishes, messages, flushes, lag
//!   classes) are read before and after and compared with what the
//!   clients saw.
//! - `list-move-in`: a list of K tasks (written through the API) is shared
//!   with a new member who has two sockets open (with and without `list`):
//!   the time of `shareList` itself, the time until each socket has the
//!   list and its K tasks, a delta `syncTasks` from the member's pre-share
//!   cursor (pages and total time); then `unshareList` and the time until
//!   the K + 1 removals arrived.

use std::time::Duration;

use anyhow::{Context as _, bail};
use futures_util::{StreamExt as _, TryStreamExt as _};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::api::{gql, head_cursor, register};
use crate::args::Args;
use crate::cpu::{Cpu, CpuMark};
use crate::lean::{self, Ended};
use crate::report::{Report, stamp};
use crate::server::Server;
use crate::server_view::Samples;

/// What a client that knows lists subscribes to (it selects `list`; the
/// fast path renders it).
const WITH_LIST: &str = "subscription($after: String) { taskChanges(after: $after) { op cursor task { id title listId } list { id } } }";
/// The same without `list`, as clients written before lists have it (they
/// receive no list changes).
const FAST: &str = "subscription($after: String) { taskChanges(after: $after) { op cursor task { id title listId } } }";
const CREATE_IN: &str =
    "mutation($t: String!, $l: ID!) { createTask(input: { title: $t, listId: $l }) { id } }";
/// How long a socket that has everything keeps reading, to catch a duplicate.
const GRACE: Duration = Duration::from_millis(500);

/// How long after the clients have everything the server's counters are read.
const SETTLE: Duration = Duration::from_millis(100);

/// An account of the scenario.
#[derive(Debug)]
struct Member {
    email: String,
    token: String,
}

async fn new_member(http: &reqwest::Client, base: &str, prefix: &str) -> anyhow::Result<Member> {
    let email = format!("{prefix}-{}@bench.example", uuid::Uuid::new_v4().simple());
    let token = register(http, base, &email).await?;
    Ok(Member { email, token })
}

async fn create_list(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    name: &str,
) -> anyhow::Result<String> {
    let d = gql(
        http,
        base,
        token,
        "mutation($n: String!) { createList(input: { name: $n }) { id } }",
        json!({ "n": name }),
    )
    .await?;
    d["createList"]["id"]
        .as_str()
        .map(str::to_owned)
        .context("createList id")
}

/// `shareList` (as EDITOR) or `unshareList`; the round trip in µs, and the
/// stamps of its send and its answer.
async fn membership(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    list: &str,
    email: &str,
    share: bool,
) -> anyhow::Result<(u64, u64)> {
    let (query, vars) = if share {
        (
            "mutation($l: ID!, $e: String!) { shareList(input: { listId: $l, email: $e, role: EDITOR }) { id version } }",
            json!({ "l": list, "e": email }),
        )
    } else {
        (
            "mutation($l: ID!, $e: String!) { unshareList(input: { listId: $l, email: $e }) { id version } }",
            json!({ "l": list, "e": email }),
        )
    };
    let sent = stamp() as u64;
    gql(http, base, token, query, vars).await?;
    Ok((sent, stamp() as u64))
}

/// Percentiles of signed samples (µs), in ms.
#[derive(Debug, Clone, Copy, Default)]
struct Spread {
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
    min: f64,
}

fn spread(mut micros: Vec<i64>) -> Spread {
    if micros.is_empty() {
        return Spread::default();
    }
    micros.sort_unstable();
    let at = |q: f64| micros[((micros.len() as f64 - 1.0) * q).round() as usize] as f64 / 1000.0;
    Spread {
        p50: at(0.5),
        p95: at(0.95),
        p99: at(0.99),
        max: at(1.0),
        min: at(0.0),
    }
}

impl Spread {
    fn label(&self) -> String {
        format!(
            "p50 {:.2} p95 {:.2} p99 {:.2} max {:.2} ms",
            self.p50, self.p95, self.p99, self.max
        )
    }

    fn json(&self) -> Value {
        json!({ "p50": self.p50, "p95": self.p95, "p99": self.p99, "max": self.max, "min": self.min })
    }
}

/// The index in a title `<prefix><index>` (the titles this scenario writes).
fn title_index(text: &str, prefix: char) -> Option<u32> {
    lean::field(text, "\"title\":\"")?
        .strip_prefix(prefix)?
        .parse()
        .ok()
}

/// What one socket of the fan-out saw.
#[derive(Debug, Default)]
struct FanoutGot {
    /// (receive stamp µs, write index) per task change, in arrival order.
    at: Vec<(u64, u32)>,
    /// Changes whose cursor did not follow the previous one's.
    breaks: usize,
    /// `next` messages without one of our titles (list changes: none expected).
    other: usize,
    /// Messages other than `next` (an `error` or `complete`), the first kept.
    bad: usize,
    first_bad: Option<String>,
    last_seq: Option<u64>,
    reads: u64,
}

const NEXT: &str = "{\"id\":\"1\",\"type\":\"next\"";

impl FanoutGot {
    fn on(&mut self, text: &[u8], now: u64) {
        let Ok(text) = std::str::from_utf8(text) else {
            self.bad += 1;
            return;
        };
        if !text.starts_with(NEXT) {
            self.bad += 1;
            self.first_bad.get_or_insert_with(|| text.to_owned());
            return;
        }
        let seq = lean::cursor_seq(text);
        match (seq, self.last_seq) {
            (Some(s), Some(prev)) if s == prev + 1 => {}
            (Some(_), None) => {}
            _ => self.breaks += 1,
        }
        self.last_seq = seq;
        match title_index(text, 'L') {
            Some(i) => self.at.push((now, i)),
            None => self.other += 1,
        }
    }
}

/// The fan-out part: a list of `--list-members` members, 2 sockets each,
/// for every rate of `--list-rates` and both documents.
pub async fn fanout(
    args: &Args,
    http: &reqwest::Client,
    server: &Server,
    report: &mut Report,
) -> anyhow::Result<()> {
    let m = args.list_members.max(1);
    let setup = Instant::now();
    let members: Vec<Member> = futures_util::stream::iter(0..m)
        .map(|i| {
            new_member(
                http,
                &server.base,
                if i == 0 {
                    "lists-owner"
                } else {
                    "lists-member"
                },
            )
        })
        .buffered(4)
        .try_collect()
        .await?;
    let owner = &members[0];
    let list = create_list(http, &server.base, &owner.token, "bench shared list").await?;
    let mut share_us = Vec::with_capacity(m);
    for member in &members[1..] {
        let (sent, acked) =
            membership(http, &server.base, &owner.token, &list, &member.email, true).await?;
        share_us.push(i64::try_from(acked - sent)?);
    }
    let shares = spread(share_us);
    println!(
        "list fan-out: {m} members ready in {:.1} s (shareList of an empty list with 1..{} members: {})",
        setup.elapsed().as_secs_f64(),
        m - 1,
        shares.label()
    );
    for &rate in &args.list_rates {
        for with_list in [true, false] {
            fanout_run(args, http, server, report, &members, &list, rate, with_list).await?;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn fanout_run(
    args: &Args,
    http: &reqwest::Client,
    server: &Server,
    report: &mut Report,
    members: &[Member],
    list: &str,
    rate: f64,
    with_list: bool,
) -> anyhow::Result<()> {
    let n = args.list_changes;
    let doc = if with_list { WITH_LIST } else { FAST };
    let shape = if with_list {
        "with list"
    } else {
        "without list"
    };
    // Each member's sockets start at the head of that member's log.
    let mut sockets = Vec::with_capacity(2 * members.len());
    for (i, member) in members.iter().enumerate() {
        let cursor = head_cursor(http, &server.base, &member.token).await?;
        for k in 0..2 {
            sockets.push(
                lean::Socket::subscribe(server.node(2 * i + k), &member.token, doc, &cursor)
                    .await?,
            );
        }
    }
    let socket_count = sockets.len();
    let limit = Duration::from_secs_f64(n as f64 / rate.max(1e-3)) + Duration::from_secs(60);
    let receivers: Vec<_> = sockets
        .into_iter()
        .map(|mut ws| {
            tokio::spawn(async move {
                let mut got = FanoutGot {
                    at: Vec::with_capacity(n),
                    ..FanoutGot::default()
                };
                let mut reads = 0;
                let end = ws
                    .read_until(Instant::now() + limit, &mut reads, |t, now| {
                        got.on(t, now);
                        got.at.len() >= n
                    })
                    .await;
                if end == Ended::Done {
                    ws.read_until(Instant::now() + GRACE, &mut reads, |t, now| {
                        got.on(t, now);
                        false
                    })
                    .await;
                }
                got.reads = reads;
                ws.close().await;
                got
            })
        })
        .collect();
    let before = Samples::read(http, &server.bases).await?;
    let cpu_before = CpuMark::now(&server.pids)?;
    let owner = &members[0];
    let writes = paced_writes(http, &server.bases, &owner.token, list, n, rate).await?;
    let mut results = Vec::with_capacity(socket_count);
    for r in receivers {
        results.push(r.await?);
    }
    let cpu_after = CpuMark::now(&server.pids)?;
    let after = Samples::read(http, &server.bases).await?;

    // Exactly once and in order, on every socket.
    let mut failures = Vec::new();
    let reference: Vec<u32> = results[0].at.iter().map(|&(_, i)| i).collect();
    for (s, got) in results.iter().enumerate() {
        let order: Vec<u32> = got.at.iter().map(|&(_, i)| i).collect();
        let mut distinct = order.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let mut problems = Vec::new();
        if order.len() != n {
            problems.push(format!("{} of {n} changes", order.len()));
        }
        if distinct.len() != order.len() {
            problems.push(format!("{} duplicates", order.len() - distinct.len()));
        }
        if distinct.last().is_some_and(|&i| i as usize >= n) {
            problems.push("a change that was not written".to_owned());
        }
        if got.breaks > 0 {
            problems.push(format!("{} cursor gaps or repeats", got.breaks));
        }
        if got.other > 0 {
            problems.push(format!("{} unexpected changes", got.other));
        }
        if got.bad > 0 {
            problems.push(format!(
                "{} messages other than next, first {:?}",
                got.bad, got.first_bad
            ));
        }
        if order != reference {
            problems.push("an order other than socket 0's".to_owned());
        }
        if !problems.is_empty() {
            failures.push(format!("socket {s}: {}", problems.join(", ")));
        }
    }

    // The clients' view.
    let received: usize = results.iter().map(|g| g.at.len()).sum();
    let reads: u64 = results.iter().map(|g| g.reads).sum();
    let mut from_ack = Vec::with_capacity(received);
    let mut from_send = Vec::with_capacity(received);
    let mut before_ack = 0usize;
    let mut last_at = 0u64;
    for got in &results {
        for &(at, i) in &got.at {
            let Some(&(sent, acked)) = writes.get(i as usize) else {
                continue;
            };
            let l = at as i64 - acked as i64;
            before_ack += usize::from(l < 0);
            from_ack.push(l);
            from_send.push(at as i64 - sent as i64);
            last_at = last_at.max(at);
        }
    }
    let first_sent = writes.iter().map(|w| w.0).min().unwrap_or(0);
    let last_sent = writes.iter().map(|w| w.0).max().unwrap_or(0);
    let delivery_secs = last_at.saturating_sub(first_sent) as f64 / 1e6;
    let deliveries_per_s = received as f64 / delivery_secs.max(1e-9);
    let write_rate =
        (n.max(1) - 1) as f64 / (last_sent.saturating_sub(first_sent) as f64 / 1e6).max(1e-9);
    let mutation = spread(writes.iter().map(|&(s, a)| a as i64 - s as i64).collect());
    let (ack, send) = (spread(from_ack), spread(from_send));
    let cpu = Cpu::between(cpu_before, cpu_after, received);

    // The server's view, and whether it agrees.
    let d = |k: &str| after.delta(&before, k);
    let sum_d = |k: &str| after.sum_of(k) - before.sum_of(k);
    let writes_seen = d("tasksync_write_batch_size_sum");
    let commits = d("tasksync_write_batch_size_count");
    let messages = d("tasksync_ws_messages_sent_total");
    let flushes = d("tasksync_ws_flushes_total");
    let published = d("tasksync_feed_lag_seconds_count");
    let feed_lag_ms = d("tasksync_feed_lag_seconds_sum") * 1000.0 / published.max(1.0);
    let feed_p99 = histogram_bounds(&before, &after, "tasksync_feed_lag_seconds", 0.99);
    let fell_behind = d("tasksync_feed_fell_behind_total");
    let lag_classed = sum_d("tasksync_ws_deliveries_by_lag_total");
    let (lag_p50, lag_p99) = lag_buckets(&before, &after);
    let sockets_gauge = before.get("tasksync_ws_sockets");
    let m = members.len();
    let mut disagree = Vec::new();
    if writes_seen != n as f64 {
        disagree.push(format!(
            "server committed {writes_seen} task writes, clients {n}"
        ));
    }
    if messages != received as f64 {
        disagree.push(format!(
            "server sent {messages} messages, clients received {received}"
        ));
    }
    if published != (n * m) as f64 {
        disagree.push(format!(
            "feed published {published} changes, expected {} (N × members)",
            n * m
        ));
    }
    if fell_behind != 0.0 {
        disagree.push(format!("{fell_behind} subscribers fell off their ring"));
    }
    // Both documents take the fast path (it renders `list` too), which
    // classes every message it sends by its lag.
    if lag_classed != messages {
        disagree.push(format!("{lag_classed} lag-classed of {messages} messages"));
    }
    // The server's classes end at the flush; the clients' times also
    // hold the way to them (as `server_view::View::agrees`).
    let fits = |(lower, upper): (f64, f64), client: f64| {
        client >= lower * 0.8 && client <= upper * 1.2 + 5.0
    };
    if !fits(lag_p50, send.p50) || !fits(lag_p99, send.p99) {
        disagree.push(format!(
            "server lag p50 {}–{} ms p99 {}–{} ms, clients (from send) p50 {:.2} p99 {:.2} ms",
            lag_p50.0, lag_p50.1, lag_p99.0, lag_p99.1, send.p50, send.p99
        ));
    }
    let exact = failures.is_empty();
    let lag_label = format!(
        "lag classes p50 {}–{} ms p99 {}–{} ms",
        lag_p50.0, lag_p50.1, lag_p99.0, lag_p99.1
    );
    let key = format!(
        "list_fanout_{}_{}",
        rate.round(),
        if with_list { "list" } else { "fast" }
    );
    report.add(
        &key,
        format!(
            "list fan-out M={m} members x 2 = {socket_count} sockets, {shape}, N={n} at {rate:.0}/s: writes {write_rate:.0}/s, mutation {} | delivery from ack {} ({before_ack} before the ack), from send p50 {:.2} p99 {:.2} ms | {deliveries_per_s:>8.0} deliveries/s, last {delivery_secs:.2} s after the first write | exactly once in order on every socket: {} | server: {writes_seen:.0} writes in {commits:.0} commits ({:.1} per commit), feed published {published:.0} (lag mean {feed_lag_ms:.1} ms, p99 {}–{} ms), fell behind {fell_behind:.0}, {messages:.0} messages in {flushes:.0} flushes ({:.1} per flush; clients {:.1} per read), {lag_label}, sockets {sockets_gauge:.0}; agrees with the clients: {} | {}",
            mutation.label(),
            ack.label(),
            send.p50,
            send.p99,
            if exact { "yes" } else { "NO" },
            writes_seen / commits.max(1.0),
            feed_p99.0,
            feed_p99.1,
            messages / flushes.max(1.0),
            received as f64 / reads.max(1) as f64,
            if disagree.is_empty() {
                "yes".to_owned()
            } else {
                format!("NO ({})", disagree.join("; "))
            },
            cpu.label(),
        ),
        crate::report::merged(
            json!({
                "members": m, "sockets": socket_count, "with_list": with_list,
                "changes": n, "rate": rate, "write_rate": write_rate,
                "mutation_ms": mutation.json(),
                "delivery_ms_from_ack": ack.json(), "delivered_before_ack": before_ack,
                "delivery_ms_from_send": send.json(),
                "deliveries_per_s": deliveries_per_s, "delivery_secs": delivery_secs,
                "received": received, "exactly_once_in_order": exact,
                "server_view": {
                    "writes": writes_seen, "commits": commits,
                    "feed_published": published, "feed_lag_ms_mean": feed_lag_ms,
                    "feed_lag_ms_p99_bucket": [feed_p99.0, feed_p99.1],
                    "fell_behind": fell_behind, "messages": messages, "flushes": flushes,
                    "lag_classed": lag_classed,
                    "lag_ms_p50_bucket": [lag_p50.0, lag_p50.1],
                    "lag_ms_p99_bucket": [lag_p99.0, lag_p99.1],
                    "agrees": disagree.is_empty(), "disagreements": disagree,
                },
            }),
            &[cpu.json()],
        ),
    );
    if !exact {
        for f in failures.iter().take(10) {
            eprintln!("list fan-out: {f}");
        }
        bail!(
            "list fan-out ({shape}): {} of {socket_count} sockets did not get every change exactly once in order",
            failures.len()
        );
    }
    Ok(())
}

/// The bucket bounds (ms) within which the p50 and p99 of the messages
/// classed by `tasksync_ws_deliveries_by_lag_total` between two samples fall.
fn lag_buckets(before: &Samples, after: &Samples) -> ((f64, f64), (f64, f64)) {
    let mut classes: Vec<(f64, f64)> = after
        .0
        .iter()
        .filter_map(|(k, v)| {
            let le = k
                .strip_prefix("tasksync_ws_deliveries_by_lag_total{le_ms=\"")?
                .split('"')
                .next()?;
            let le = if le == "inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, v - before.get(k)))
        })
        .collect();
    classes.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = classes.iter().map(|c| c.1).sum();
    let bounds = |q: f64| {
        let (mut lower, mut sum) = (0.0, 0.0);
        for &(le, count) in &classes {
            sum += count;
            if total > 0.0 && sum >= q * total {
                return (lower, le);
            }
            lower = le;
        }
        (0.0, 0.0)
    };
    (bounds(0.5), bounds(0.99))
}

/// The bucket bounds (ms) of a Prometheus histogram in seconds (cumulative
/// `name_bucket{le}`) within which its quantile `q` of the samples recorded
/// between two reads falls.
fn histogram_bounds(before: &Samples, after: &Samples, name: &str, q: f64) -> (f64, f64) {
    let prefix = format!("{name}_bucket{{le=\"");
    let mut buckets: Vec<(f64, f64)> = after
        .0
        .iter()
        .filter_map(|(k, v)| {
            let le = k.strip_prefix(&prefix)?.split('"').next()?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse::<f64>().ok()? * 1000.0
            };
            Some((le, v - before.get(k)))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last().map_or(0.0, |b| b.1);
    let mut lower = 0.0;
    for &(le, cumulative) in &buckets {
        if total > 0.0 && cumulative >= q * total {
            return (lower, le);
        }
        lower = le;
    }
    (0.0, 0.0)
}

/// Writes `n` tasks into `list` at `rate` per second, each on its own
/// schedule (a slow answer does not delay the next write); (send, answer)
/// stamps in µs by write index. Titles are `L<index>`.
async fn paced_writes(
    http: &reqwest::Client,
    bases: &[String],
    token: &str,
    list: &str,
    n: usize,
    rate: f64,
) -> anyhow::Result<Vec<(u64, u64)>> {
    let start = Instant::now();
    let mut pending = Vec::with_capacity(n);
    for i in 0..n {
        tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate.max(1e-3))).await;
        let (http, base, token, list) = (
            http.clone(),
            bases[i % bases.len()].clone(),
            token.to_owned(),
            list.to_owned(),
        );
        pending.push(tokio::spawn(async move {
            let sent = stamp() as u64;
            gql(
                &http,
                &base,
                &token,
                CREATE_IN,
                json!({ "t": format!("L{i}"), "l": list }),
            )
            .await?;
            anyhow::Ok((sent, stamp() as u64))
        }));
    }
    let mut out = Vec::with_capacity(n);
    for p in pending {
        out.push(p.await??);
    }
    Ok(out)
}

/// Writes `n` tasks `S<index>` into `list` as fast as `concurrency`
/// writers go; the seconds it took.
async fn seed_list(
    http: &reqwest::Client,
    bases: &[String],
    token: &str,
    list: &str,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let start = Instant::now();
    futures_util::stream::iter(0..n)
        .map(|i| {
            let base = &bases[i % bases.len()];
            gql(
                http,
                base,
                token,
                CREATE_IN,
                json!({ "t": format!("S{i}"), "l": list }),
            )
        })
        .buffer_unordered(concurrency.max(1))
        .try_for_each(|_| async { Ok(()) })
        .await?;
    Ok(start.elapsed().as_secs_f64())
}

/// What one socket of the move-in saw, per phase (0: share, 1: unshare).
#[derive(Debug, Default)]
struct MoveGot {
    /// Task changes by index, per phase (CREATE, then REMOVE).
    tasks: [Vec<u32>; 2],
    /// List changes per phase, and where among the phase's messages they came.
    lists: [Vec<usize>; 2],
    /// Receive stamps of the first and the last message of each phase.
    first: [u64; 2],
    last: [u64; 2],
    /// Messages of the wrong kind (an op other than the phase's, an
    /// `error`), the first kept.
    bad: usize,
    first_bad: Option<String>,
    breaks: usize,
    last_seq: Option<u64>,
    reads: u64,
}

impl MoveGot {
    fn on(&mut self, phase: usize, text: &[u8], now: u64) {
        let Ok(text) = std::str::from_utf8(text) else {
            self.bad += 1;
            return;
        };
        let op = lean::field(text, "\"op\":\"");
        let want = if phase == 0 { "CREATE" } else { "REMOVE" };
        if !text.starts_with(NEXT) || op != Some(want) {
            self.bad += 1;
            self.first_bad.get_or_insert_with(|| text.to_owned());
            return;
        }
        let seq = lean::cursor_seq(text);
        match (seq, self.last_seq) {
            (Some(s), Some(prev)) if s == prev + 1 => {}
            (Some(_), None) => {}
            _ => self.breaks += 1,
        }
        self.last_seq = seq;
        if self.tasks[phase].is_empty() && self.lists[phase].is_empty() {
            self.first[phase] = now;
        }
        self.last[phase] = now;
        match title_index(text, 'S') {
            Some(i) => self.tasks[phase].push(i),
            None if text.contains("\"list\":{\"id\":") => {
                let at = self.tasks[phase].len() + self.lists[phase].len();
                self.lists[phase].push(at);
            }
            None => {
                self.bad += 1;
                self.first_bad.get_or_insert_with(|| text.to_owned());
            }
        }
    }

    fn count(&self, phase: usize) -> usize {
        self.tasks[phase].len() + self.lists[phase].len()
    }

    /// What is wrong with phase `phase` for a socket that expects `k` tasks
    /// and, `with_list`, the list first (share) or last (unshare).
    fn problems(&self, phase: usize, k: usize, with_list: bool) -> Vec<String> {
        let mut p = Vec::new();
        let tasks = &self.tasks[phase];
        let mut distinct = tasks.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if tasks.len() != k || distinct.len() != k {
            p.push(format!(
                "{} task changes ({} distinct) of {k}",
                tasks.len(),
                distinct.len()
            ));
        }
        let list_at = if phase == 0 { 0 } else { k };
        let lists = &self.lists[phase];
        if with_list && lists.as_slice() != [list_at] {
            p.push(format!(
                "list changes at {lists:?}, expected at [{list_at}]"
            ));
        }
        if !with_list && !lists.is_empty() {
            p.push(format!("{} list changes on the fast path", lists.len()));
        }
        p
    }
}

/// Reads one socket through both phases: the share's changes, a signal on
/// `shared`, then the unshare's, then the grace period.
fn move_reader(
    mut ws: lean::Socket,
    expect: usize,
    shared: tokio::sync::oneshot::Sender<()>,
    limit: Duration,
) -> tokio::task::JoinHandle<MoveGot> {
    tokio::spawn(async move {
        let mut got = MoveGot::default();
        let mut reads = 0;
        let mut shared = Some(shared);
        for phase in 0..2 {
            let end = ws
                .read_until(Instant::now() + limit, &mut reads, |t, now| {
                    got.on(phase, t, now);
                    got.count(phase) >= expect
                })
                .await;
            if let Some(s) = shared.take() {
                let _ = s.send(());
            }
            if end != Ended::Done {
                break;
            }
        }
        // A duplicate would come as a third phase's message (phase 1: its
        // op is REMOVE, so it is counted there).
        ws.read_until(Instant::now() + GRACE, &mut reads, |t, now| {
            got.on(1, t, now);
            false
        })
        .await;
        got.reads = reads;
        ws.close().await;
        got
    })
}

/// The move-in part: share and unshare a list of `--list-tasks` tasks.
pub async fn move_in(
    args: &Args,
    http: &reqwest::Client,
    server: &Server,
    report: &mut Report,
) -> anyhow::Result<()> {
    let k = args.list_tasks;
    let owner = new_member(http, &server.base, "movein-owner").await?;
    let list = create_list(http, &server.base, &owner.token, "bench big list").await?;
    let seed_secs = seed_list(
        http,
        &server.bases,
        &owner.token,
        &list,
        k,
        args.concurrency,
    )
    .await?;
    let joiner = new_member(http, &server.base, "movein-member").await?;
    let pre = head_cursor(http, &server.base, &joiner.token).await?;
    let limit = Duration::from_secs(300);
    let (a_shared, a_ready) = tokio::sync::oneshot::channel();
    let (b_shared, b_ready) = tokio::sync::oneshot::channel();
    let a = move_reader(
        lean::Socket::subscribe(&server.base, &joiner.token, WITH_LIST, &pre).await?,
        k + 1,
        a_shared,
        limit,
    );
    let b = move_reader(
        lean::Socket::subscribe(server.node(1), &joiner.token, FAST, &pre).await?,
        k,
        b_shared,
        limit,
    );

    let s0 = Samples::read(http, &server.bases).await?;
    let (share_sent, share_acked) =
        membership(http, &server.base, &owner.token, &list, &joiner.email, true).await?;
    let _ = a_ready.await;
    let _ = b_ready.await;
    // The server counts a burst's messages once its flush returned, which
    // can be just after the client has read them.
    tokio::time::sleep(SETTLE).await;
    let s1 = Samples::read(http, &server.bases).await?;

    // A delta sync from before the share, as a client that was offline.
    let query = "query($last: String, $next: String) { syncTasks(lastSync: $last, nextToken: $next, limit: 1000) { items { id title listId deleted } lists { id deleted } cursor fullSync nextToken } }";
    let sync_start = stamp();
    let mut page_us = Vec::new();
    let (mut items, mut ids, mut lists, mut next) =
        (0usize, Vec::new(), Vec::new(), None::<String>);
    loop {
        let t = stamp();
        let d = gql(
            http,
            &server.base,
            &joiner.token,
            query,
            json!({ "last": pre, "next": next }),
        )
        .await?;
        page_us.push(i64::try_from(stamp() - t)?);
        let page = &d["syncTasks"];
        if page["fullSync"] != false {
            bail!("list move-in: expected a delta sync from the pre-share cursor");
        }
        for item in page["items"].as_array().into_iter().flatten() {
            items += 1;
            if item["listId"] == list.as_str() {
                ids.push(item["id"].as_str().unwrap_or_default().to_owned());
            }
        }
        lists.extend(page["lists"].as_array().into_iter().flatten().cloned());
        next = page["nextToken"].as_str().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    let sync_ms = (stamp() - sync_start) as f64 / 1000.0;
    ids.sort_unstable();
    ids.dedup();
    let sync_ok = ids.len() == k && items == k && lists.iter().any(|l| l["id"] == list.as_str());
    let page_count = page_us.len();
    let pages = spread(page_us);

    let (unshare_sent, unshare_acked) = membership(
        http,
        &server.base,
        &owner.token,
        &list,
        &joiner.email,
        false,
    )
    .await?;
    let (a, b) = (a.await?, b.await?);
    let s2 = Samples::read(http, &server.bases).await?;

    let mut failures = Vec::new();
    for (name, got, with_list) in [("with list", &a, true), ("without list", &b, false)] {
        let mut p: Vec<String> = Vec::new();
        for phase in 0..2 {
            p.extend(
                got.problems(phase, k, with_list)
                    .into_iter()
                    .map(|x| format!("{}: {x}", ["share", "unshare"][phase])),
            );
        }
        if got.breaks > 0 {
            p.push(format!("{} cursor gaps or repeats", got.breaks));
        }
        if got.bad > 0 {
            p.push(format!(
                "{} unexpected messages, first {:?}",
                got.bad, got.first_bad
            ));
        }
        if !p.is_empty() {
            failures.push(format!("{name} socket: {}", p.join(", ")));
        }
    }
    if !sync_ok {
        failures.push(format!(
            "delta sync: {items} items ({} distinct of the list), list on the first page: {}",
            ids.len(),
            lists.iter().any(|l| l["id"] == list.as_str())
        ));
    }
    let ms = |from: u64, to: u64| to.saturating_sub(from) as f64 / 1000.0;
    let share_ms = ms(share_sent, share_acked);
    let unshare_ms = ms(unshare_sent, unshare_acked);
    let d1 = |key: &str| s1.delta(&s0, key);
    let d2 = |key: &str| s2.delta(&s1, key);
    let (msgs_in, msgs_out) = (
        d1("tasksync_ws_messages_sent_total"),
        d2("tasksync_ws_messages_sent_total"),
    );
    let (pub_in, pub_out) = (
        d1("tasksync_feed_lag_seconds_count"),
        d2("tasksync_feed_lag_seconds_count"),
    );
    let (fell_in, fell_out) = (
        d1("tasksync_feed_fell_behind_total"),
        d2("tasksync_feed_fell_behind_total"),
    );
    let (lag_in, lag_out) = (
        d1("tasksync_feed_lag_seconds_sum") * 1000.0 / pub_in.max(1.0),
        d2("tasksync_feed_lag_seconds_sum") * 1000.0 / pub_out.max(1.0),
    );
    let mut disagree = Vec::new();
    let expected = (2 * k + 1) as f64;
    // The feed publishes a change once whoever reads it; a subscriber off
    // the ring reads the log itself (not a publish).
    for (what, messages) in [("share", msgs_in), ("unshare", msgs_out)] {
        if messages != expected {
            disagree.push(format!(
                "{what}: server sent {messages} messages, the two sockets expected {expected}"
            ));
        }
    }
    for (what, published) in [("share", pub_in), ("unshare", pub_out)] {
        if published != (k + 1) as f64 {
            disagree.push(format!(
                "{what}: the feed published {published} changes, the member's log got {}",
                k + 1
            ));
        }
    }
    let exact = failures.is_empty();
    report.add(
        "list_move_in",
        format!(
            "list move-in of K={k} tasks (seeded through the API in {seed_secs:.1} s, {:.0} writes/s): shareList {share_ms:.1} ms | all {} changes on the socket with list {:.1} ms after the send ({:.1} ms after the ack; first at {:.1} ms), {k} on the socket without list {:.1} ms | delta syncTasks from the pre-share cursor: {} pages, {sync_ms:.1} ms total, page {} | unshareList {unshare_ms:.1} ms | all {} removals on the socket with list {:.1} ms after the send ({:.1} ms after the ack), without list {:.1} ms | exactly once in order: {} | server: {msgs_in:.0}+{msgs_out:.0} messages, feed published {pub_in:.0}+{pub_out:.0} (mean lag {lag_in:.0} / {lag_out:.0} ms), fell behind {fell_in:.0}+{fell_out:.0}; agrees with the clients: {}",
            k as f64 / seed_secs,
            k + 1,
            ms(share_sent, a.last[0]),
            ms(share_acked, a.last[0]),
            ms(share_sent, a.first[0]),
            ms(share_sent, b.last[0]),
            page_count,
            pages.label(),
            k + 1,
            ms(unshare_sent, a.last[1]),
            ms(unshare_acked, a.last[1]),
            ms(unshare_sent, b.last[1]),
            if exact { "yes" } else { "NO" },
            if disagree.is_empty() {
                "yes".to_owned()
            } else {
                format!("NO ({})", disagree.join("; "))
            },
        ),
        json!({
            "tasks": k, "seed_secs": seed_secs,
            "share_ms": share_ms,
            "move_in_ms_from_send": { "with_list": ms(share_sent, a.last[0]), "fast": ms(share_sent, b.last[0]) },
            "move_in_ms_from_ack": { "with_list": ms(share_acked, a.last[0]), "fast": ms(share_acked, b.last[0]) },
            "move_in_first_ms": ms(share_sent, a.first[0]),
            "delta_sync": { "ms": sync_ms, "pages": page_count, "items": items, "page_ms": pages.json(), "ok": sync_ok },
            "unshare_ms": unshare_ms,
            "removal_ms_from_send": { "with_list": ms(unshare_sent, a.last[1]), "fast": ms(unshare_sent, b.last[1]) },
            "removal_ms_from_ack": { "with_list": ms(unshare_acked, a.last[1]), "fast": ms(unshare_acked, b.last[1]) },
            "exactly_once_in_order": exact,
            "server_view": {
                "messages": [msgs_in, msgs_out], "feed_published": [pub_in, pub_out],
                "feed_lag_ms_mean": [lag_in, lag_out], "fell_behind": [fell_in, fell_out],
                "agrees": disagree.is_empty(), "disagreements": disagree,
            },
        }),
    );
    if !exact {
        for f in &failures {
            eprintln!("list move-in: {f}");
        }
        bail!("list move-in: changes missing, repeated or out of order");
    }
    Ok(())
}
