//! Test support: a real server on port 0 with a fresh SQLite file, and typed
//! helpers that call it over HTTP.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tasksync_server::{Application, Settings};
use tasksync_store::testing::TestDatabase;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A strong password accepted by the policy.
pub const PASSWORD: &str = "correct horse battery staple";
/// Another strong password.
pub const NEW_PASSWORD: &str = "purple elephants dance at midnight";

/// Where a server answers, with the typed calls tests make to it. A
/// [`TestApp`] (in this process) and a `multinode::Node` (a separate
/// process) both dereference to it.
pub struct Http {
    pub base: String,
    pub client: reqwest::Client,
}

impl Http {
    pub fn new(base: String) -> Self {
        Self {
            base,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        }
    }
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub http: Http,
    pub state: tasksync_server::state::AppState,
    /// The database directory; kept alive (and reusable by a restart) for
    /// the life of the test.
    pub dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Settings for tests: dev mode (dev mailbox), a fresh database in `dir`,
/// port 0, rate limits high enough not to interfere, and a quick drain at
/// shutdown (no delay, sockets closed within 100 ms).
pub fn test_settings(dir: &TempDir) -> Settings {
    let mut s = Settings::defaults();
    s.listen = "127.0.0.1:0".parse().expect("addr");
    s.dev = true;
    s.smtp_url = None;
    s.database.database_url = format!("sqlite://{}", dir.path().join("tasksync.db").display());
    s.auth_rate_per_minute = 100_000;
    s.auth_rate_burst = 100_000;
    s.drain_delay = Duration::ZERO;
    s.drain_socket_window = Duration::from_millis(100);
    s
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

/// Starts a server with the test settings changed by `tweak`.
pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = test_settings(&dir);
    tweak(&mut settings);
    start(dir, settings).await
}

/// Starts a server on a fresh PostgreSQL database, or `None` (the test
/// skips, loudly) when PostgreSQL cannot be reached. Keep the database for
/// as long as the server runs.
pub async fn spawn_on_postgres() -> Option<(TestDatabase, TestApp)> {
    let db = TestDatabase::create().await?;
    let url = db.url().to_owned();
    let app = spawn_with(move |s| s.database.database_url = url).await;
    Some((db, app))
}

/// Starts a server on an existing database directory.
pub async fn start(dir: TempDir, settings: Settings) -> TestApp {
    let app = Application::build(settings).await.expect("server builds");
    let base = format!("http://{}", app.local_addr());
    let state = app.state().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        http: Http::new(base),
        state,
        dir,
        stop: Some(stop),
        task: Some(task),
    }
}

/// A parsed answer: status, headers and JSON body (Null when not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The `extensions.code` of the first GraphQL error, if any.
    pub fn gql_code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }

    /// The `error.code` of an error answer.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn str(&self, field: &str) -> String {
        self.body[field]
            .as_str()
            .unwrap_or_else(|| panic!("no string {field:?} in {}", self.body))
            .to_owned()
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

/// The tokens of a signed-in session.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub id: String,
    pub refresh: String,
}

impl std::ops::Deref for TestApp {
    type Target = Http;
    fn deref(&self) -> &Http {
        &self.http
    }
}

impl Http {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        answer(
            self.client
                .post(self.url(path))
                .json(&body)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    pub async fn post_bearer(&self, path: &str, token: &str, body: Value) -> Answer {
        answer(
            self.client
                .post(self.url(path))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Answer {
        answer(
            self.client
                .get(self.url(path))
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> Answer {
        answer(
            self.client
                .get(self.url(path))
                .bearer_auth(token)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    /// A GraphQL request, with a bearer token when given.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Answer {
        self.gql_raw(token, json!({ "query": query, "variables": variables }))
            .await
    }

    /// A GraphQL request with any JSON body (batches, malformed requests).
    pub async fn gql_raw(&self, token: Option<&str>, body: Value) -> Answer {
        let mut request = self.client.post(self.url("/graphql")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        answer(request.send().await.expect("request")).await
    }

    pub async fn sign_up(&self, email: &str, password: &str) -> Answer {
        self.post(
            "/auth/sign-up",
            json!({ "email": email, "password": password }),
        )
        .await
    }

    /// `POST /auth/confirm-sign-up`.
    pub async fn confirm(&self, email: &str, code: &str) -> Answer {
        self.post(
            "/auth/confirm-sign-up",
            json!({ "email": email, "code": code }),
        )
        .await
    }

    /// Confirms with the code and the password of the latest sign-up (as an
    /// address signed up more than once needs).
    pub async fn confirm_with(&self, email: &str, code: &str, password: &str) -> Answer {
        self.post(
            "/auth/confirm-sign-up",
            json!({ "email": email, "code": code, "password": password }),
        )
        .await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Answer {
        self.post(
            "/auth/sign-in",
            json!({ "email": email, "password": password }),
        )
        .await
    }

    pub async fn me(&self, access: &str) -> Answer {
        self.get_bearer("/auth/me", access).await
    }

    /// Messages in the dev mailbox addressed to `to`, oldest first.
    pub async fn mails_to(&self, to: &str) -> Vec<Value> {
        let all = self.get("/dev/mailbox").await;
        assert_eq!(all.status, StatusCode::OK, "dev mailbox: {:?}", all.body);
        all.body
            .as_array()
            .expect("array")
            .iter()
            .filter(|m| m["to"] == to)
            .cloned()
            .collect()
    }

    /// Waits until `to` has `count` messages (mail is sent in the background)
    /// and returns the newest.
    pub async fn wait_for_mail(&self, to: &str, count: usize) -> Value {
        for _ in 0..200 {
            let mails = self.mails_to(to).await;
            if mails.len() >= count {
                return mails[count - 1].clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no mail #{count} to {to}");
    }

    /// The code in the `count`-th message to `to`.
    pub async fn code_from_mail(&self, to: &str, count: usize) -> String {
        let mail = self.wait_for_mail(to, count).await;
        extract_code(mail["text"].as_str().expect("text")).expect("a code in the mail")
    }

    /// Signs up and confirms `email`; returns nothing but asserts each step.
    pub async fn register(&self, email: &str) {
        let before = self.mails_to(email).await.len();
        let up = self.sign_up(email, PASSWORD).await;
        assert_eq!(up.status, StatusCode::CREATED, "sign-up: {:?}", up.body);
        let code = self.code_from_mail(email, before + 1).await;
        let ok = self
            .post(
                "/auth/confirm-sign-up",
                json!({ "email": email, "code": code }),
            )
            .await;
        assert_eq!(ok.status, StatusCode::OK, "confirm: {:?}", ok.body);
    }

    /// Registers `email` and signs in.
    pub async fn signed_in(&self, email: &str) -> Tokens {
        self.register(email).await;
        self.tokens(email, PASSWORD).await
    }

    /// Signs in, asserting success.
    pub async fn tokens(&self, email: &str, password: &str) -> Tokens {
        let a = self.sign_in(email, password).await;
        assert_eq!(a.status, StatusCode::OK, "sign-in: {:?}", a.body);
        Tokens {
            access: a.str("accessToken"),
            id: a.str("idToken"),
            refresh: a.str("refreshToken"),
        }
    }
}

impl TestApp {
    /// Stops the server (as SIGTERM would) and waits for it to finish.
    pub async fn stop(mut self) -> TempDir {
        self.shutdown().await;
        let dir = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, dir)
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task")
                .expect("server ran cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The first run of six digits in a text.
pub fn extract_code(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(5)).find_map(|i| {
        let window = &bytes[i..i + 6];
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i + 6).copied();
        (window.iter().all(u8::is_ascii_digit)
            && !before.is_some_and(|b| b.is_ascii_digit())
            && !after.is_some_and(|b| b.is_ascii_digit()))
        .then(|| String::from_utf8_lossy(window).into_owned())
    })
}

/// A unique address for one test.
pub fn email(tag: &str) -> String {
    format!("{tag}-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// A six-digit code that is not `code`.
pub fn wrong_code(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

/// The resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

/// A gauge or counter without labels of a server's `/metrics` (0 when it
/// is not there yet). Metrics are process-wide: in-process servers of this
/// test binary share them.
pub async fn metric(server: &Http, name: &str) -> f64 {
    let text = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}
