//! `wire`: the floor of fan-out, the same events from `wire-server`, a bare
//! WebSocket broadcast server (no database, no auth).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};

use crate::args::Args;
use crate::cpu::{Cpu, CpuMark};
use crate::lean;
use crate::report::{Delivered, Report, dist, merged, stamp};
use crate::server::free_port;

/// The `wire-server` process of the wire scenario, killed on drop.
struct WireServer(Child);

impl Drop for WireServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The wire scenario: the fan-out's events from a bare broadcast server.
pub async fn run(
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
