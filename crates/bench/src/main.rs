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
//! - `lists` (`list-fanout`, `list-move-in`): one list shared by its owner
//!   with 99 users, 2 sockets each, changes written at a steady rate
//!   (delivery latency from the write's acknowledgement, exactly once and in
//!   order on every socket, the server's counters against the clients'); and
//!   the move-in and removal of a list of 10 000 tasks when it is shared
//!   and unshared.
//! - `wire`: the floor of fan-out: `wire-server` (a bare WebSocket
//!   broadcast server beside this binary: no database, no auth) sends the
//!   same events to S sockets of the same client at the fan-out's rate.
//!
//! Subscribers are lean clients (`lean.rs`: raw TCP, frames parsed in place),
//! so that they read as fast as a real client and cost little of the CPU
//! they share with the server. The fan-out and wire reports add the
//! server's CPU time per delivery, the bench's own, and the delivery
//! latency of the first and last quarter of deliveries (a growing backlog).
//!
//! # Layout
//!
//! - `args`: the command line.
//! - `server`: the server under test, started here or given with `--url`.
//! - `api`: accounts, GraphQL over HTTP, subscriber sockets, the write load.
//! - `lean`: the lean subscriber WebSocket client.
//! - `scenario/`: one module per scenario, each with a `run` function.
//! - `report`, `cpu`, `server_view`: time stamps and distributions, CPU time
//!   from /proc, the server's own view from `/metrics`, and the report.
//! - `bin/wire-server.rs`: the bare broadcast server of the wire scenario.

mod api;
mod args;
mod cpu;
mod lean;
mod report;
mod scenario;
mod server;
mod server_view;

use anyhow::{Context as _, bail};
use clap::Parser as _;
use serde_json::Value;

use crate::args::Args;
use crate::report::{Report, epoch};
use crate::scenario::{delta, fanout, lists, memory, resume, users, wire};
use crate::server::{Db, start_server};

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
                wire::run(&args, s, rate, &mut report).await?;
            }
            continue;
        }
        let server = server.as_ref().context("no server")?;
        match scenario.as_str() {
            "fanout" => {
                for &s in &args.subscribers {
                    let rate = fanout::run(&args, &http, server, s, &mut report).await?;
                    fanout_rates.insert(s, rate);
                }
            }
            "users" => users::run(&args, &http, server, &mut report).await?,
            "resume" => resume::run(&args, &http, server, &mut report).await?,
            "delta" => delta::run(&args, &http, server, &mut report).await?,
            "memory" => memory::run(&args, &http, server, &mut report).await?,
            "lists" => {
                lists::fanout(&args, &http, server, &mut report).await?;
                lists::move_in(&args, &http, server, &mut report).await?;
            }
            "list-fanout" => lists::fanout(&args, &http, server, &mut report).await?,
            "list-move-in" => lists::move_in(&args, &http, server, &mut report).await?,
            other => bail!("unknown scenario {other:?}"),
        }
    }
    println!("{}", Value::Object(report.json));
    Ok(())
}
