//! `memory`: the server's resident memory per idle subscribed socket.

use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;

use crate::api::{fresh_user, subscriber};
use crate::args::Args;
use crate::report::Report;
use crate::server::Server;

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

/// The memory scenario.
pub async fn run(
    args: &Args,
    http: &reqwest::Client,
    server: &Server,
    report: &mut Report,
) -> anyhow::Result<()> {
    let Some(pid) = server.pid else {
        println!("memory: skipped (needs --server-pid with --url)");
        return Ok(());
    };
    let (token, cursor) = fresh_user(http, &server.base, "idle").await?;
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
