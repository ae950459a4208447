//! `fanout`: S subscribers of one user, M mutations over HTTP at
//! concurrency C.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::api::{fresh_user, subscriber, write_load};
use crate::args::Args;
use crate::cpu::{Cpu, CpuMark};
use crate::report::{Delivered, Report, dist, merged, stamp};
use crate::server::Server;
use crate::server_view;

/// The fan-out scenario; its mutations per second.
pub async fn run(
    args: &Args,
    http: &reqwest::Client,
    server: &Server,
    subscribers: usize,
    report: &mut Report,
) -> anyhow::Result<f64> {
    let (token, cursor) = fresh_user(http, &server.base, &format!("fanout-{subscribers}")).await?;
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
