//! Zero-downtime rolling deploys, end to end: two nodes on one PostgreSQL
//! database behind the shipped nginx config, each node a directory laid
//! out as on a real host (`releases/`, `current`, `previous`) and managed
//! by the shipped `deploy/node.sh`, driven by the shipped
//! `deploy/rolling-deploy.sh`. Only ssh and systemd are stood in for
//! (`tests/deploy/node-exec.sh` and `local-service.sh`, which stops a node
//! with SIGTERM and records its exit status, as systemd would).
//!
//! While writers and subscribers work through nginx, both nodes are rolled
//! to a new release twice, rolled back once, and then offered a release
//! that never reports its version, which must be rolled back on its own.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tasksync_store::testing::TestDatabase;
use tokio::sync::watch;
use uuid::Uuid;

use crate::helpers::{Http, email};
use crate::multinode::{Nginx, Seen, create, current_cursor, nginx_or_skip, seq};
use crate::ws_client::{Event, WsClient, changes_q};

const BIN: &str = env!("CARGO_BIN_EXE_tasksync");
const USERS: usize = 2;
const WRITERS_PER_USER: usize = 4;
const SUBSCRIBERS_PER_USER: usize = 25;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The two hosts of the test deployment.
struct Hosts {
    dir: tempfile::TempDir,
    ports: [u16; 2],
}

impl Hosts {
    const NAMES: [&str; 2] = ["node1", "node2"];

    fn new(database_url: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports = [free_port(), free_port()];
        for (name, port) in Self::NAMES.iter().zip(ports) {
            let root = dir.path().join(name);
            std::fs::create_dir_all(&root).expect("node dir");
            // What /etc/tasksync/tasksync.env holds on a real host.
            let env = [
                ("TASKSYNC_DATABASE_URL", database_url.to_owned()),
                ("TASKSYNC_LISTEN", format!("127.0.0.1:{port}")),
                ("TASKSYNC_PUBLIC_URL", "http://lb.test".into()),
                ("TASKSYNC_DEV", "1".into()),
                ("TASKSYNC_TRUSTED_PROXIES", "127.0.0.1".into()),
                ("TASKSYNC_DB_MAX_CONNECTIONS", "8".into()),
                ("TASKSYNC_AUTH_RATE_PER_MINUTE", "100000".into()),
                ("TASKSYNC_AUTH_RATE_BURST", "100000".into()),
                ("TASKSYNC_RATE_PER_MINUTE", "1000000".into()),
                ("TASKSYNC_DRAIN_DELAY", "1s".into()),
                ("TASKSYNC_DRAIN_SOCKET_WINDOW", "1s".into()),
                ("TASKSYNC_SHUTDOWN_GRACE", "10s".into()),
                ("TASKSYNC_LOG_FORMAT", "json".into()),
                ("RUST_LOG", "info".into()),
            ];
            let text: String = env.iter().map(|(k, v)| format!("{k}='{v}'\n")).collect();
            std::fs::write(root.join("env"), text).expect("env file");
        }
        Self { dir, ports }
    }

    fn root(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn upstreams(&self) -> [String; 2] {
        self.ports.map(|p| format!("127.0.0.1:{p}"))
    }

    fn node(&self, i: usize) -> Http {
        Http::new(format!("http://127.0.0.1:{}", self.ports[i]))
    }

    /// `deploy/rolling-deploy.sh ARGS… node1 node2`: its exit status and
    /// what it printed.
    fn deploy(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("bash")
            .arg(repo().join("deploy/rolling-deploy.sh"))
            .args(args)
            .args(["--ready-timeout", "15", "--settle", "3"])
            .args(Self::NAMES)
            .env(
                "TASKSYNC_DEPLOY_EXEC",
                format!(
                    "bash {}",
                    repo()
                        .join("crates/server/tests/deploy/node-exec.sh")
                        .display()
                ),
            )
            .env("TASKSYNC_TEST_NODES", self.dir.path())
            .env("TASKSYNC_TEST_STOP_TIMEOUT", "20")
            .output()
            .expect("bash runs");
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        eprintln!("--- rolling-deploy {args:?}\n{log}");
        (out.status.success(), log)
    }

    fn current(&self, name: &str) -> String {
        std::fs::read_link(self.root(name).join("current"))
            .expect("current")
            .file_name()
            .expect("release")
            .to_string_lossy()
            .into_owned()
    }

    fn read(&self, name: &str, file: &str) -> String {
        std::fs::read_to_string(self.root(name).join(file)).unwrap_or_default()
    }

    /// Stops both nodes as systemd would at the end.
    fn stop(&self) {
        for name in Self::NAMES {
            if let Ok(pid) = std::fs::read_to_string(self.root(name).join("pid")) {
                let _ = Command::new("kill").args(["-TERM", pid.trim()]).status();
            }
        }
        for name in Self::NAMES {
            for _ in 0..400 {
                if !self.root(name).join("pid").exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for name in Self::NAMES {
            if let Ok(pid) = std::fs::read_to_string(self.root(name).join("pid")) {
                let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
            }
        }
    }
}

/// A release whose binary says it is another version than the server it
/// runs reports: the deploy must not accept it.
fn lying_release(dir: &Path) -> PathBuf {
    let path = dir.join("tasksync-lying");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'tasksync 9.9.9 (commit 000000000000)'; exit 0; fi\nexec '{BIN}' \"$@\"\n"
        ),
    )
    .expect("write");
    Command::new("chmod")
        .args(["+x", &path.display().to_string()])
        .status()
        .expect("chmod");
    path
}

/// What one subscriber saw: the changes, the sockets it opened, and the
/// close codes of the sockets that ended under it.
struct Subscribed {
    seen: Vec<Seen>,
    sockets: usize,
    closes: Vec<u16>,
    failed_connects: usize,
}

/// Subscribes through nginx from `start` and, when its socket ends,
/// reconnects and resumes from the last cursor it received, until it has
/// seen the change with seq `target` (known once the writers stopped).
async fn subscriber(
    lb: Arc<Http>,
    token: String,
    start: String,
    mut target: watch::Receiver<Option<i64>>,
    subscribed: Arc<AtomicUsize>,
) -> Subscribed {
    let mut out = Subscribed {
        seen: Vec::new(),
        sockets: 0,
        closes: Vec::new(),
        failed_connects: 0,
    };
    let done = |seen: &[Seen], target: Option<i64>| {
        target.is_some_and(|t| seen.last().map_or(0, |s| s.seq) >= t)
    };
    while !done(&out.seen, *target.borrow()) {
        let after = out.seen.last().map_or(start.clone(), |s| s.cursor.clone());
        let mut ws = match WsClient::try_ready(&lb, &token).await {
            Ok(ws) => ws,
            Err(_) => {
                out.failed_connects += 1;
                assert!(out.failed_connects < 400, "cannot reconnect through nginx");
                tokio::time::sleep(Duration::from_millis(25)).await;
                continue;
            }
        };
        out.sockets += 1;
        ws.subscribe("s", &changes_q(), json!({ "after": after }))
            .await;
        if out.sockets == 1 {
            subscribed.fetch_add(1, Ordering::SeqCst);
        }
        while !done(&out.seen, *target.borrow()) {
            let event = tokio::select! {
                event = ws.event() => event,
                _ = target.changed() => continue,
            };
            match event {
                Event::Json(v) if v["type"] == "next" => {
                    let change = &v["payload"]["data"]["taskChanges"];
                    let cursor = change["cursor"].as_str().expect("cursor").to_owned();
                    out.seen.push(Seen {
                        seq: seq(&cursor),
                        task: change["task"]["id"].as_str().expect("id").to_owned(),
                        cursor,
                    });
                }
                Event::Json(v) if v["type"] == "ping" || v["type"] == "pong" => {}
                Event::Json(v) => panic!("unexpected message {v}"),
                Event::Closed(code, _) => {
                    out.closes.push(code);
                    break;
                }
            }
        }
    }
    out
}

/// Every live task of `token`'s user, through `lb`.
async fn stored_ids(lb: &Http, token: &str) -> HashSet<String> {
    let mut ids = HashSet::new();
    let mut next: Option<String> = None;
    loop {
        let a = lb
            .gql(
                Some(token),
                "query($n: String) { syncTasks(limit: 1000, nextToken: $n) { items { id deleted } nextToken } }",
                json!({ "n": next }),
            )
            .await;
        assert!(a.body["errors"].is_null(), "{}", a.body);
        let page = &a.body["data"]["syncTasks"];
        for t in page["items"].as_array().expect("items") {
            if t["deleted"] != true {
                ids.insert(t["id"].as_str().expect("id").to_owned());
            }
        }
        match page["nextToken"].as_str() {
            Some(n) => next = Some(n.to_owned()),
            None => return ids,
        }
    }
}

/// The version text of `tasksync --version` ("0.1.0 (commit …)").
fn version_text() -> String {
    let out = Command::new(BIN).arg("--version").output().expect("runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches("tasksync ")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_deploys_and_a_rollback_lose_no_write_and_no_change() {
    let Some(nginx) = nginx_or_skip() else {
        return;
    };
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let hosts = Hosts::new(db.url());
    let hosts_for_blocking = Arc::new(hosts);
    let deploy = |args: Vec<String>| {
        let hosts = hosts_for_blocking.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            hosts.deploy(&args)
        })
    };
    let hosts = hosts_for_blocking.clone();

    // First install: release r1 on both nodes.
    let (ok, log) = deploy(vec![
        "--binary".into(),
        BIN.into(),
        "--release".into(),
        "r1".into(),
    ])
    .await
    .expect("deploy");
    assert!(ok, "the first deploy succeeds: {log}");
    let version = version_text();
    for i in 0..2 {
        let h = hosts.node(i).get("/healthz").await;
        assert_eq!(
            h.body["version"].as_str().map(|v| format!(
                "{v} (commit {})",
                h.body["commit"].as_str().unwrap_or_default()
            )),
            Some(version.clone()),
            "{}",
            h.body
        );
    }
    let upstreams = hosts.upstreams();
    let proxy = Nginx::start(&nginx, [upstreams[0].as_str(), upstreams[1].as_str()]);
    let lb = Arc::new(Http::new(proxy.http.base.clone()));

    // Accounts are made on node 1 (its dev mailbox has the codes);
    // everything after goes through nginx.
    let mut users = Vec::new();
    for u in 0..USERS {
        let t = hosts.node(0).signed_in(&email(&format!("roll-{u}"))).await;
        let start = current_cursor(&lb, &t.access).await;
        users.push((t, start));
    }
    let targets: Vec<_> = (0..USERS)
        .map(|_| watch::channel::<Option<i64>>(None))
        .collect();
    let subscribed = Arc::new(AtomicUsize::new(0));
    let mut subscribers = Vec::new();
    for (u, (t, start)) in users.iter().enumerate() {
        for _ in 0..SUBSCRIBERS_PER_USER {
            subscribers.push((
                u,
                tokio::spawn(subscriber(
                    lb.clone(),
                    t.access.clone(),
                    start.clone(),
                    targets[u].1.clone(),
                    subscribed.clone(),
                )),
            ));
        }
    }
    while subscribed.load(Ordering::SeqCst) < subscribers.len() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let retries = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for (u, (t, _)) in users.iter().enumerate() {
        for w in 0..WRITERS_PER_USER {
            let (lb, token) = (lb.clone(), t.access.clone());
            let (stop, retries) = (stop.clone(), retries.clone());
            writers.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                let mut errors: HashMap<String, usize> = HashMap::new();
                let mut i = 0;
                // The longest a write went unacknowledged (first try to ack).
                let mut longest = Duration::ZERO;
                while !stop.load(Ordering::SeqCst) {
                    let id = Uuid::now_v7();
                    let title = format!("user {u} writer {w} #{i}");
                    // Client-chosen id: a retry of a create that did commit
                    // is answered with the stored task, not a second one.
                    let mut tries = 0;
                    let began = Instant::now();
                    while let Err(e) = create(&lb, &token, id, &title).await {
                        retries.fetch_add(1, Ordering::SeqCst);
                        let kind = e.split(':').next().unwrap_or_default().to_owned();
                        *errors.entry(kind).or_default() += 1;
                        tries += 1;
                        assert!(
                            tries < 200,
                            "create never acknowledged after {:?}: {e}",
                            began.elapsed()
                        );
                        tokio::time::sleep(Duration::from_millis(25)).await;
                    }
                    longest = longest.max(began.elapsed());
                    acked.push(id.to_string());
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(40)).await;
                }
                (u, acked, errors, longest)
            }));
        }
    }

    // Roll to r2, then to r3, then back (to r2).
    for release in ["r2", "r3"] {
        let (ok, log) = deploy(vec![
            "--binary".into(),
            BIN.into(),
            "--release".into(),
            release.into(),
        ])
        .await
        .expect("deploy");
        assert!(ok, "the deploy of {release} succeeds: {log}");
        for name in Hosts::NAMES {
            assert_eq!(hosts.current(name), release);
        }
    }
    let (ok, log) = deploy(vec!["--rollback".into()]).await.expect("rollback");
    assert!(ok, "the rollback succeeds: {log}");
    for name in Hosts::NAMES {
        assert_eq!(hosts.current(name), "r2", "rolled back to r2");
    }
    // A release that does not answer with its own version: node 1 takes it,
    // is not accepted, goes back to r2; node 2 is never touched.
    let lying = lying_release(hosts.dir.path());
    let (ok, log) = deploy(vec![
        "--binary".into(),
        lying.display().to_string(),
        "--release".into(),
        "r4".into(),
    ])
    .await
    .expect("deploy");
    assert!(
        !ok,
        "a release that reports the wrong version is refused: {log}"
    );
    assert!(log.contains("did not come up on r4"), "{log}");
    for name in Hosts::NAMES {
        assert_eq!(
            hosts.current(name),
            "r2",
            "{name} is on r2 after the failed deploy"
        );
    }
    // A moment of writes with both nodes settled, then stop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);

    let mut acked_by_user: Vec<HashSet<String>> = vec![HashSet::new(); USERS];
    let mut acked_total = 0;
    let mut errors: HashMap<String, usize> = HashMap::new();
    let mut longest = Duration::ZERO;
    for w in writers {
        let (u, ids, e, l) = w.await.expect("writer");
        longest = longest.max(l);
        acked_total += ids.len();
        let before = acked_by_user[u].len();
        acked_by_user[u].extend(ids.iter().cloned());
        assert_eq!(acked_by_user[u].len(), before + ids.len(), "ids are unique");
        for (k, n) in e {
            *errors.entry(k).or_default() += n;
        }
    }
    for (u, (tx, _)) in targets.iter().enumerate() {
        // One change per acknowledged create, numbered from 1 for each user.
        let _ = tx.send(Some(acked_by_user[u].len() as i64));
    }
    let mut sockets = 0;
    let mut closes: HashMap<u16, usize> = HashMap::new();
    let mut failed_connects = 0;
    for (i, (u, s)) in subscribers.into_iter().enumerate() {
        let s = s.await.expect("subscriber");
        sockets += s.sockets;
        failed_connects += s.failed_connects;
        for c in &s.closes {
            *closes.entry(*c).or_default() += 1;
        }
        let seqs: Vec<i64> = s.seen.iter().map(|c| c.seq).collect();
        let total = acked_by_user[u].len() as i64;
        assert_eq!(
            seqs,
            (1..=total).collect::<Vec<_>>(),
            "subscriber {i}: every change once, in order"
        );
        let tasks: HashSet<String> = s.seen.into_iter().map(|c| c.task).collect();
        assert_eq!(
            tasks, acked_by_user[u],
            "subscriber {i}: exactly the acknowledged creates"
        );
    }
    for (u, (t, _)) in users.iter().enumerate() {
        assert_eq!(
            stored_ids(&lb, &t.access).await,
            acked_by_user[u],
            "user {u}: every acknowledged write is stored, nothing else"
        );
    }
    hosts.stop();
    let nginx_log = proxy.error_log();
    let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
    for line in nginx_log.lines() {
        // "… [error] 123#0: *45 connect() failed (111: Connection refused) while …"
        let what = line.split(": ").skip(1).collect::<Vec<_>>().join(": ");
        let what = what.trim_start_matches(|c: char| c == '*' || c.is_ascii_digit() || c == ' ');
        let what = what.split(", client").next().unwrap_or_default();
        *kinds.entry(what.to_owned()).or_default() += 1;
    }
    eprintln!("nginx logged: {kinds:#?}");

    eprintln!(
        "rolling deploy: {acked_total} creates acknowledged by {} writers; {} attempts retried {errors:?} (longest write {longest:?}); \
         {} subscribers opened {sockets} sockets ({failed_connects} failed connects); closes seen: {closes:?}",
        USERS * WRITERS_PER_USER,
        retries.load(Ordering::SeqCst),
        USERS * SUBSCRIBERS_PER_USER,
    );
    // Five restarts of node 1 (r2, r3, rollback, r4, back), four of node 2,
    // and the final stop: each ended by its own drain, none by a SIGKILL
    // or its grace period.
    for (name, restarts) in [("node1", 6), ("node2", 4)] {
        assert_eq!(hosts.read(name, "kills"), "", "{name} was never SIGKILLed");
        let exits: Vec<String> = hosts
            .read(name, "exits")
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(
            exits,
            vec!["0".to_owned(); restarts],
            "{name}: every exit clean"
        );
        let log = hosts.read(name, "log");
        assert!(
            !log.contains("grace period"),
            "{name} ran out of grace: {log}"
        );
    }
    // Never both nodes out of nginx's rotation at once (the deploy script
    // settles after every restart for that): nginx saw a node refuse a
    // connection at each restart, but always had the other one to send it
    // to.
    let no_live: Vec<&str> = nginx_log
        .lines()
        .filter(|l| l.contains("no live upstreams"))
        .collect();
    assert!(
        no_live.is_empty(),
        "nginx had no node to send {} request(s) to, from {:?} to {:?}",
        no_live.len(),
        no_live.first().map(|l| &l[..19.min(l.len())]),
        no_live.last().map(|l| &l[..19.min(l.len())]),
    );
    // Every socket that ended under a subscriber ended with 1012 from a
    // draining node, and each subscriber moved at least once per roll (each
    // roll restarts the node it is on).
    assert_eq!(
        closes.keys().copied().collect::<Vec<_>>(),
        vec![1012],
        "sockets close only with 1012: {closes:?}"
    );
    assert!(
        sockets >= 4 * USERS * SUBSCRIBERS_PER_USER,
        "every subscriber moved at least once per roll: {sockets} sockets"
    );
    // The first node backed the database up before each migration.
    let backups = std::fs::read_dir(hosts.root("node1").join("backups"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(
        backups >= 3,
        "a backup before each deploy's migration: {backups}"
    );
}
