//! `resume`: a subscriber misses K changes, then resumes from its cursor.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::api::{fresh_user, subscriber, write_load};
use crate::args::Args;
use crate::report::Report;
use crate::server::Server;

/// The resume scenario.
pub async fn run(
    args: &Args,
    http: &reqwest::Client,
    server: &Server,
    report: &mut Report,
) -> anyhow::Result<()> {
    let (token, cursor) = fresh_user(http, &server.base, "resume").await?;
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
