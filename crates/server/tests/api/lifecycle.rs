//! The lifecycle of the `tasksync` binary as a deploy sees it: the build
//! it reports, readiness, the drain at SIGTERM (delay, sockets closed with
//! 1012 in spread batches, exit 0, or 1 when the grace period runs out),
//! `tasksync healthcheck` and the systemd notifications.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, ExitStatus, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Http, email};
use crate::ws_client::{WsClient, changes_q};

const BIN: &str = env!("CARGO_BIN_EXE_tasksync");
/// The longest any wait of these tests for the server may take.
const PATIENCE: Duration = Duration::from_secs(30);

/// A `tasksync serve` process on a fresh SQLite database, its log lines
/// collected as they come.
struct Server {
    http: Http,
    child: Child,
    addr: String,
    logs: Arc<Mutex<Vec<Value>>>,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Server {
    type Target = Http;
    fn deref(&self) -> &Http {
        &self.http
    }
}

impl Server {
    /// Starts the binary with `env` (after the test defaults: no drain
    /// delay, a 100 ms socket window) and waits until it listens.
    fn start(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("tasksync.db").display());
        let mut command = crate::multinode::node_command(&url);
        command
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC");
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("the binary starts");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let kept = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let event: Value =
                    serde_json::from_str(&line).unwrap_or(json!({ "message": line }));
                if event["message"] == "tasksync listening" {
                    let _ = tx.send(event["addr"].as_str().unwrap_or_default().to_owned());
                }
                kept.lock().expect("logs").push(event);
            }
        });
        let addr = rx
            .recv_timeout(PATIENCE)
            .expect("the server logs that it listens");
        Self {
            http: Http::new(format!("http://{addr}")),
            child,
            addr,
            logs,
            _dir: dir,
        }
    }

    fn sigterm(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
    }

    /// Waits (at most [`PATIENCE`]) for the process to exit.
    fn exit_status(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The messages logged so far.
    fn messages(&self) -> Vec<String> {
        self.logs
            .lock()
            .expect("logs")
            .iter()
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// `tasksync healthcheck ARGS` against this server.
    fn healthcheck(&self, args: &[&str]) -> Output {
        healthcheck(&[&["--url", &self.http.base], args].concat())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn healthcheck(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("healthcheck")
        .args(args)
        .env_remove("TASKSYNC_LISTEN")
        .output()
        .expect("healthcheck runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_owned()
}

/// Asserts a failed healthcheck: exit 1 and one line on stderr containing `says`.
fn assert_fails(out: &Output, says: &str) {
    let text = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    assert!(text.contains(says), "says {says:?}: {text}");
}

/// The text after `tasksync ` in `tasksync --version`.
fn version_text() -> String {
    let out = Command::new(BIN).arg("--version").output().expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    text.strip_prefix("tasksync ")
        .unwrap_or_else(|| panic!("not `tasksync …`: {text}"))
        .to_owned()
}

async fn create(server: &Http, token: &str, title: &str) {
    let q = "mutation($t: String!) { createTask(input: { title: $t }) { id } }";
    let a = server.gql(Some(token), q, json!({ "t": title })).await;
    assert!(a.body["errors"].is_null(), "{}", a.body);
}

/// Polls `/readyz` until it answers 503 (the signal was handled).
async fn wait_until_draining(server: &Http) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let a = server.get("/readyz").await;
        if a.status == StatusCode::SERVICE_UNAVAILABLE {
            return a.body;
        }
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        assert!(Instant::now() < deadline, "/readyz never failed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn healthz_reports_the_version_and_commit_that_the_binary_prints() {
    let server = Server::start(&[]);
    let a = server.get("/healthz").await;
    assert_eq!(a.status, StatusCode::OK);
    let commit = a.body["commit"].as_str().expect("commit").to_owned();
    assert_eq!(
        format!(
            "{} (commit {commit})",
            a.body["version"].as_str().expect("version")
        ),
        version_text()
    );
    assert_eq!(a.body["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit()))
            || std::env::var_os("TASKSYNC_GIT_COMMIT").is_some(),
        "{commit}"
    );
}

/// SIGTERM: `/readyz` fails at once, but through the drain delay the node
/// still answers `/healthz`, GraphQL and new sockets, which get their
/// changes; then every socket is closed with 1012 and the process exits 0,
/// having logged each phase.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_fails_readiness_at_once_serves_through_the_delay_then_closes_sockets_and_exits_0()
{
    let mut server = Server::start(&[
        ("TASKSYNC_DRAIN_DELAY", "4s"),
        ("TASKSYNC_DRAIN_SOCKET_WINDOW", "300ms"),
    ]);
    let t = server.signed_in(&email("drain")).await;
    let mut before = WsClient::ready(&server, &t.access).await;
    before
        .subscribe("s", &changes_q(), json!({ "after": null }))
        .await;
    before.round_trip().await;
    let ready = server.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.headers.get("connection"), None, "kept alive");
    assert!(server.healthcheck(&["--ready"]).status.success());

    server.sigterm();
    assert_eq!(
        wait_until_draining(&server).await,
        json!({ "status": "draining" })
    );
    // Still serving: alive, answering requests, taking new sockets; each
    // answer ends its connection, so a proxy keeps none to this node.
    let health = server.get("/healthz").await;
    assert_eq!(
        (health.status, health.body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    assert_eq!(
        health
            .headers
            .get("connection")
            .and_then(|v| v.to_str().ok()),
        Some("close")
    );
    let mut during = WsClient::ready(&server, &t.access).await;
    during
        .subscribe("s", &changes_q(), json!({ "after": null }))
        .await;
    during.round_trip().await;
    create(&server, &t.access, "written while draining").await;
    for ws in [&mut before, &mut during] {
        let data = ws.next_data("s").await;
        assert_eq!(
            data["taskChanges"]["task"]["title"], "written while draining",
            "{data}"
        );
    }
    assert_fails(&server.healthcheck(&["--ready"]), "503 (draining)");
    assert!(
        server.healthcheck(&[]).status.success(),
        "alive while draining"
    );

    for ws in [&mut before, &mut during] {
        assert_eq!(ws.closed().await, (1012, "service restart".to_owned()));
    }
    let status = server.exit_status();
    assert_eq!(status.code(), Some(0), "a clean drain exits 0");
    let messages = server.messages();
    for phase in ["draining", "stopped accepting", "sockets closed", "stopped"] {
        assert!(
            messages.iter().any(|m| m.contains(phase)),
            "no {phase:?} in {messages:#?}"
        );
    }
    assert!(
        healthcheck(&["--url", &server.base]).status.code() == Some(1),
        "nothing answers once it exited"
    );
}

/// 40 sockets and a 1 s window: they are closed at different moments
/// (batches at random points of equal slices of the window), not all at
/// once, and every one with 1012.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_are_closed_in_batches_spread_over_the_window() {
    let mut server = Server::start(&[
        ("TASKSYNC_DRAIN_SOCKET_WINDOW", "1s"),
        ("TASKSYNC_MAX_SOCKETS_PER_USER", "100"),
    ]);
    let t = server.signed_in(&email("spread")).await;
    let mut waiting = Vec::new();
    for _ in 0..40 {
        let mut ws = WsClient::ready(&server, &t.access).await;
        ws.round_trip().await;
        waiting.push(tokio::spawn(async move {
            let close = ws.closed().await;
            (Instant::now(), close)
        }));
    }
    server.sigterm();
    let mut times = Vec::new();
    for task in waiting {
        let (at, close) = task.await.expect("socket task");
        assert_eq!(close, (1012, "service restart".to_owned()));
        times.push(at);
    }
    assert_eq!(server.exit_status().code(), Some(0));
    times.sort();
    let spread = times[times.len() - 1] - times[0];
    // Batches land in 20 slices of 50 ms: the first in the first slices,
    // the last in the last ones. All at once would be a few ms.
    assert!(
        spread > Duration::from_millis(250),
        "closes spread over {spread:?}"
    );
    let batches = 1 + times
        .windows(2)
        .filter(|w| w[1] - w[0] > Duration::from_millis(10))
        .count();
    assert!(batches >= 2, "{batches} batch(es) over {spread:?}");
}

/// A request still in flight when the grace period runs out: the process
/// says so and exits 1; new connections were refused meanwhile. The request is a POST whose body never comes; its
/// `100 Continue` shows that the server is reading it.
#[test]
fn a_request_in_flight_past_the_grace_period_makes_the_exit_status_1() {
    // A grace period long enough that a loaded machine still sees the
    // refusal below while the process runs (CI once took over 3 s to).
    let mut server = Server::start(&[
        ("TASKSYNC_SHUTDOWN_GRACE", "8s"),
        ("TASKSYNC_HTTP_BODY_TIMEOUT", "60s"),
    ]);
    let mut slow = std::net::TcpStream::connect(&server.addr).expect("connects");
    slow.set_read_timeout(Some(PATIENCE)).expect("timeout");
    write!(
        slow,
        "POST /auth/sign-in HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\nExpect: 100-continue\r\n\r\n",
        server.addr
    )
    .expect("writes");
    let mut continued = [0u8; 25];
    slow.read_exact(&mut continued).expect("100 Continue");
    assert!(
        String::from_utf8_lossy(&continued).starts_with("HTTP/1.1 100 Continue"),
        "{}",
        String::from_utf8_lossy(&continued)
    );

    server.sigterm();
    // The listener closes when the node stops accepting (here at once),
    // not at exit: a new connection is refused while the request holds
    // the process, rather than left waiting in the backlog.
    let deadline = Instant::now() + PATIENCE;
    while std::net::TcpStream::connect(&server.addr).is_ok() {
        assert!(Instant::now() < deadline, "still accepting");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        server.child.try_wait().expect("wait").is_none(),
        "refused while still running"
    );
    let status = server.exit_status();
    assert_eq!(status.code(), Some(1), "the grace period ran out");
    let messages = server.messages();
    assert!(
        messages.iter().any(|m| m.contains("grace period over")),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("TASKSYNC_SHUTDOWN_GRACE")),
        "the last line names the setting: {messages:#?}"
    );
}

#[test]
fn a_grace_period_not_longer_than_the_delay_and_the_window_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args(["serve", "--dev", "--listen", "127.0.0.1:0"])
        .env(
            "TASKSYNC_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("t.db").display()),
        )
        .env("TASKSYNC_SHUTDOWN_GRACE", "10s")
        .env("TASKSYNC_DRAIN_DELAY", "5s")
        .env("TASKSYNC_DRAIN_SOCKET_WINDOW", "5s")
        .output()
        .expect("runs");
    let text = stderr(&out);
    assert!(!out.status.success(), "must not start: {text}");
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    assert!(text.contains("TASKSYNC_SHUTDOWN_GRACE"), "{text}");
    assert!(
        !dir.path().join("t.db").exists(),
        "refused before opening the database"
    );
}

#[test]
fn healthcheck_exits_0_for_a_live_server_of_the_expected_version_and_1_otherwise() {
    let server = Server::start(&[]);
    let ok = server.healthcheck(&[]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let ready = server.healthcheck(&["--ready", "--expect-version", &version_text()]);
    assert!(ready.status.success(), "{}", stderr(&ready));
    assert!(String::from_utf8_lossy(&ready.stdout).contains(&version_text()));

    // The default URL: the listen address, 0.0.0.0 asked on loopback.
    let port = server.addr.rsplit(':').next().expect("port");
    let by_listen = Command::new(BIN)
        .arg("healthcheck")
        .env("TASKSYNC_LISTEN", format!("0.0.0.0:{port}"))
        .output()
        .expect("runs");
    assert!(by_listen.status.success(), "{}", stderr(&by_listen));

    let other = server.healthcheck(&["--expect-version", "0.0.1 (commit 000000000000)"]);
    assert_fails(&other, "not 0.0.1 (commit 000000000000)");
    let other_ready = server.healthcheck(&["--ready", "--expect-version", "9.9.9 (commit x)"]);
    assert_fails(&other_ready, &version_text());

    // Nothing listening.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", free.local_addr().expect("addr"));
    drop(free);
    assert_fails(&healthcheck(&["--url", &dead]), "connecting to");
    assert_fails(
        &healthcheck(&["--url", "https://127.0.0.1:1"]),
        "only http://",
    );
}

/// Under systemd (`NOTIFY_SOCKET`): READY=1 once listening, WATCHDOG=1
/// pings with `WATCHDOG_USEC`, STOPPING=1 at SIGTERM.
#[test]
fn systemd_hears_ready_watchdog_pings_and_stopping() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind");
    socket.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let path = path.to_str().expect("utf-8").to_owned();
    let mut server = Server::start(&[
        ("NOTIFY_SOCKET", path.as_str()),
        ("WATCHDOG_USEC", "200000"),
    ]);
    let mut heard = Vec::<String>::new();
    let receive_until = |wanted: &str, heard: &mut Vec<String>| {
        let mut buf = [0u8; 4096];
        while !heard.iter().any(|m| m.lines().any(|l| l == wanted)) {
            let n = socket
                .recv(&mut buf)
                .unwrap_or_else(|e| panic!("no {wanted} (heard {heard:?}): {e}"));
            heard.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    };
    receive_until("READY=1", &mut heard);
    receive_until("WATCHDOG=1", &mut heard);
    assert!(
        heard.iter().any(|m| m.contains("STATUS=serving")),
        "{heard:?}"
    );
    server.sigterm();
    receive_until("STOPPING=1", &mut heard);
    assert_eq!(server.exit_status().code(), Some(0));
    let ready_at = heard.iter().position(|m| m.contains("READY=1"));
    let stopping_at = heard.iter().position(|m| m.contains("STOPPING=1"));
    assert!(ready_at < stopping_at, "{heard:?}");
}
