//! `users`: U users with 2 sockets each, writes spread over all of them.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::api::{fresh_user, subscriber, write_load};
use crate::args::Args;
use crate::report::{Report, dist};
use crate::server::Server;

/// The many-users scenario.
pub async fn run(
    args: &Args,
    http: &reqwest::Client,
    server: &Server,
    report: &mut Report,
) -> anyhow::Result<()> {
    let mut tokens = Vec::new();
    let mut receivers = Vec::new();
    let per_user = (args.mutations / args.users).max(1);
    for u in 0..args.users {
        let (token, cursor) = fresh_user(http, &server.base, &format!("user{u}")).await?;
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
