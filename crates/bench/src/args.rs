//! The command line of `tasksync-bench`.

use std::path::PathBuf;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "tasksync-bench", about = "Benchmarks of a tasksync server")]
pub struct Args {
    /// Target a running server (dev mode, generous rate limits) instead of starting one.
    #[arg(long)]
    pub url: Option<String>,
    /// The server binary to start; defaults to `tasksync` beside this binary.
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// With --url: the server's SQLite file, for seeding the delta scenario.
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// With --url: the server's process id, for the memory scenario.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Run on PostgreSQL: a fresh database is made on the server of this
    /// URL (e.g. postgres://postgres@127.0.0.1:5432/test) and dropped after.
    #[arg(long)]
    pub postgres: Option<String>,
    /// Nodes to start on the PostgreSQL database; subscribers and writes
    /// are spread over them round-robin.
    #[arg(long, default_value_t = 1)]
    pub nodes: usize,
    /// Scenarios to run (memory first by default: later scenarios free
    /// memory that the allocator then reuses, hiding the cost of new sockets).
    /// `lists` is `list-fanout` then `list-move-in`.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "memory,fanout,wire,users,resume,delta,lists"
    )]
    pub scenarios: Vec<String>,
    /// Subscriber counts of the fan-out scenario.
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    pub subscribers: Vec<usize>,
    /// Mutations per fan-out run.
    #[arg(long, default_value_t = 2000)]
    pub mutations: usize,
    /// Concurrent writers.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Users of the many-users scenario.
    #[arg(long, default_value_t = 50)]
    pub users: usize,
    /// Missed changes replayed by the resume scenario.
    #[arg(long, default_value_t = 10_000)]
    pub resume_changes: usize,
    /// Tasks in the database of the delta scenario.
    #[arg(long, default_value_t = 1_000_000)]
    pub delta_tasks: usize,
    /// Changes fetched by the delta sync.
    #[arg(long, default_value_t = 1000)]
    pub delta_changes: usize,
    /// Idle subscribed sockets of the memory scenario.
    #[arg(long, default_value_t = 2000)]
    pub idle_sockets: usize,
    /// Members of the shared list of the list-fanout scenario, its owner
    /// included (at most `TASKSYNC_MAX_LIST_MEMBERS`, 100 by default); each
    /// has 2 sockets.
    #[arg(long, default_value_t = 100)]
    pub list_members: usize,
    /// Changes the owner writes into the shared list, per run.
    #[arg(long, default_value_t = 2000)]
    pub list_changes: usize,
    /// Steady write rates (writes per second) of the list-fanout runs; each
    /// rate runs with both subscription documents.
    #[arg(long, value_delimiter = ',', default_value = "200,500")]
    pub list_rates: Vec<f64>,
    /// Tasks of the list that the list-move-in scenario shares and unshares.
    #[arg(long, default_value_t = 10_000)]
    pub list_tasks: usize,
    /// The `wire-server` binary of the wire scenario; defaults to the one
    /// beside this binary.
    #[arg(long)]
    pub wire_bin: Option<PathBuf>,
    /// Messages per second the wire scenario sends (0: as fast as the
    /// writers go); by default the mutation rate of the fan-out run with as
    /// many subscribers, when it ran before, else unpaced.
    #[arg(long)]
    pub wire_rate: Option<f64>,
}
