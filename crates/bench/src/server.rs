//! The server under test: started here (one node on SQLite, or N nodes on a
//! fresh PostgreSQL database), or a running one given with `--url`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::args::Args;

/// Where the server's data is, for seeding.
pub enum Db {
    Sqlite(PathBuf),
    Postgres(String),
}

/// The server under test: one node, or several on one PostgreSQL database.
pub struct Server {
    /// Node 0: accounts are made here (its dev mailbox has the codes).
    pub base: String,
    /// Every node, `base` first.
    pub bases: Vec<String>,
    pub children: Vec<Child>,
    pub _dir: Option<tempfile::TempDir>,
    pub _pg: Option<tasksync_store::testing::TestDatabase>,
    pub db: Option<Db>,
    /// Node 0's process.
    pub pid: Option<u32>,
    /// Every node's process, for their CPU time.
    pub pids: Vec<u32>,
}

impl Server {
    /// The node the `i`-th client uses.
    pub fn node(&self, i: usize) -> &str {
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

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub async fn start_server(args: &Args, http: &reqwest::Client) -> anyhow::Result<Server> {
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
            // Nor a list size it cannot share (the move-in scenario's K).
            .env("TASKSYNC_MAX_SHARED_LIST_TASKS", "100000000")
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

pub async fn wait_healthy(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
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
