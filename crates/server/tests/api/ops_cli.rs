//! The operations commands as an operator runs them, on the real binary:
//! `tasksync backup` while a server serves writes, `tasksync restore` and
//! what it refuses, `tasksync check-config`; SQLite, and a PostgreSQL
//! round trip through pg_dump and pg_restore.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use sqlx::Connection as _;
use tasksync_store::testing::TestDatabase;
use uuid::Uuid;

use crate::helpers::{Http, PASSWORD, Tokens, email};
use crate::multinode::Node;

const BIN: &str = env!("CARGO_BIN_EXE_tasksync");

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// Runs `tasksync ARGS` on the database of `url`, off the async threads.
async fn tasksync(url: &str, args: &[&str]) -> Output {
    let (url, args): (String, Vec<String>) =
        (url.to_owned(), args.iter().map(|a| a.to_string()).collect());
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(&args)
            .env("TASKSYNC_DATABASE_URL", url)
            .env_remove("RUST_LOG")
            .output()
            .expect("the tasksync binary runs")
    })
    .await
    .expect("joined")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Creates a task with a fresh id; `Ok(id)` once the server acknowledged it.
async fn create(node: &Http, token: &str, title: &str) -> Result<String, String> {
    let id = Uuid::new_v4().to_string();
    let a = node
        .gql(
            Some(token),
            "mutation($id: ID!, $t: String!) { createTask(input: { id: $id, title: $t }) { id } }",
            json!({ "id": id, "t": title }),
        )
        .await;
    if a.status.is_success() && a.body["errors"].is_null() {
        Ok(id)
    } else {
        Err(format!("{}: {}", a.status, a.body))
    }
}

/// The ids of every live task of the user.
async fn task_ids(node: &Http, token: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut next = Value::Null;
    loop {
        let a = node
            .gql(
                Some(token),
                "query($n: String) { tasks(limit: 1000, nextToken: $n) { items { id } nextToken } }",
                json!({ "n": next }),
            )
            .await;
        assert!(a.body["errors"].is_null(), "{}", a.body);
        let page = &a.body["data"]["tasks"];
        for item in page["items"].as_array().expect("items") {
            ids.push(item["id"].as_str().expect("id").to_owned());
        }
        next = page["nextToken"].clone();
        if next.is_null() {
            return ids;
        }
    }
}

/// Stops a node the hard way (SIGKILL, and the wait for its exit): what
/// was acknowledged is durable all the same.
fn terminate(node: Node) {
    drop(node);
}

/// `PRAGMA integrity_check` of a SQLite file.
async fn integrity(path: &Path) -> String {
    let url = format!("sqlite://{}?mode=ro", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("opens");
    let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .expect("integrity_check");
    rows.join("; ")
}

/// A writer that creates tasks one after the other until told to stop,
/// recording every acknowledged one.
struct Writer {
    acked: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    fn start(node: &Node, tokens: &Tokens) -> Self {
        let http = Http::new(node.base.clone());
        let token = tokens.access.clone();
        let acked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let (acked, stop) = (acked.clone(), stop.clone());
            async move {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let id = create(&http, &token, &format!("task {n} ✓ ünïcödé"))
                        .await
                        .expect("the server acknowledges every write");
                    acked.lock().expect("lock").push(id);
                }
            }
        });
        Self { acked, stop, task }
    }

    fn acked(&self) -> Vec<String> {
        self.acked.lock().expect("lock").clone()
    }

    async fn wait_for(&self, count: usize) {
        while self.acked().len() < count {
            assert!(!self.task.is_finished(), "the writer stopped");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    async fn stop(self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("writer");
        self.acked.lock().expect("lock").clone()
    }
}

/// A backup taken by `tasksync backup` while a server keeps writing holds
/// every task acknowledged before it began; restored into a fresh path it
/// passes `integrity_check`, and a server started on it serves them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_backup_taken_while_serving_writes_restores_every_acknowledged_task() {
    let dir = tempfile::tempdir().expect("tempdir");
    let live = sqlite_url(&dir.path().join("live/tasksync.db"));
    let node = Node::start("live", &live);
    let address = email("backup");
    let tokens = node.signed_in(&address).await;
    let writer = Writer::start(&node, &tokens);
    writer.wait_for(20).await;

    let before = writer.acked();
    let backup = dir.path().join("backups/one.db");
    std::fs::create_dir_all(backup.parent().expect("dir")).expect("mkdir");
    let out = tasksync(&live, &["backup", backup.to_str().expect("utf-8")]).await;
    assert!(out.status.success(), "backup: {}", stderr(&out));
    assert!(stdout(&out).contains("backed up"), "{}", stdout(&out));
    // The server went on writing during and after the backup.
    let during = writer.acked().len();
    writer.wait_for(during + 10).await;
    let all = writer.stop().await;
    terminate(node);

    let restored_path = dir.path().join("restored/tasksync.db");
    let restored = sqlite_url(&restored_path);
    let out = tasksync(&restored, &["restore", backup.to_str().expect("utf-8")]).await;
    assert!(out.status.success(), "restore: {}", stderr(&out));
    assert_eq!(integrity(&restored_path).await, "ok");
    for side in ["-wal", "-shm"] {
        assert!(
            !dir.path()
                .join(format!("restored/tasksync.db{side}"))
                .exists(),
            "a restored database is one file"
        );
    }

    let node = Node::start("restored", &restored);
    let tokens = node.tokens(&address, PASSWORD).await;
    let ids = task_ids(&node, &tokens.access).await;
    let missing: Vec<&String> = before.iter().filter(|id| !ids.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "tasks acknowledged before the backup are missing: {missing:?}"
    );
    assert!(
        ids.iter().all(|id| all.contains(id)),
        "nothing but written tasks"
    );
    create(&node, &tokens.access, "after the restore")
        .await
        .expect("the restored database takes writes");
    terminate(node);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_never_overwrites_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = sqlite_url(&dir.path().join("tasksync.db"));
    let out = tasksync(&url, &["migrate"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let existing = dir.path().join("precious");
    std::fs::write(&existing, "keep me").expect("write");
    let out = tasksync(&url, &["backup", existing.to_str().expect("utf-8")]).await;
    assert!(!out.status.success(), "must refuse");
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&existing).expect("read"), "keep me");

    let missing = sqlite_url(&dir.path().join("none/tasksync.db"));
    let out = tasksync(
        &missing,
        &["backup", dir.path().join("b.db").to_str().expect("utf-8")],
    )
    .await;
    assert!(!out.status.success(), "no database to back up");
    assert!(
        stderr(&out).contains("there is no database"),
        "{}",
        stderr(&out)
    );
    assert!(
        !dir.path().join("none").exists(),
        "a backup creates no database"
    );
}

/// What `tasksync restore` refuses, each time leaving the target as it was:
/// a file that is no SQLite database, a SQLite database that is no
/// tasksync one, a backup whose schema a newer release contracted, and any
/// backup while a server has the target open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_what_it_cannot_use_and_a_database_in_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target_path = dir.path().join("target/tasksync.db");
    let target = sqlite_url(&target_path);
    let restore = |path: &Path| {
        let path = path.to_str().expect("utf-8").to_owned();
        let target = target.clone();
        async move { tasksync(&target, &["restore", &path]).await }
    };

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a database at all, but long enough").expect("write");
    let out = restore(&text).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is not a SQLite database"),
        "{}",
        stderr(&out)
    );
    assert!(!target_path.exists(), "nothing restored");

    let foreign = dir.path().join("foreign.db");
    {
        let mut conn =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", foreign.display()))
                .await
                .expect("create");
        sqlx::raw_sql("CREATE TABLE t (x INTEGER)")
            .execute(&mut conn)
            .await
            .expect("table");
    }
    let out = restore(&foreign).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not a tasksync one"),
        "{}",
        stderr(&out)
    );

    // A database a newer release migrated with a contract migration.
    let newer = dir.path().join("newer/tasksync.db");
    let out = tasksync(&sqlite_url(&newer), &["migrate"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    {
        let mut conn = sqlx::SqliteConnection::connect(&sqlite_url(&newer))
            .await
            .expect("open");
        sqlx::raw_sql(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (1000, 'a future contract', TRUE, X'00', 0);
             UPDATE schema_minimum SET version = 1000;",
        )
        .execute(&mut conn)
        .await
        .expect("fake a newer release");
    }
    let out = restore(&newer).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("migrated by a newer tasksync (schema 1000)")
            && stderr(&out).contains("needs at least 1000"),
        "{}",
        stderr(&out)
    );
    assert!(!target_path.exists(), "nothing restored");
    let leftovers: Vec<_> = std::fs::read_dir(target_path.parent().expect("dir"))
        .expect("the target's directory")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary files left: {leftovers:?}"
    );

    // A good backup, but a server has the target open.
    let node = Node::start("target", &target);
    let tokens = node.signed_in(&email("in-use")).await;
    let kept = create(&node, &tokens.access, "kept").await.expect("write");
    let good = dir.path().join("good.db");
    // Made by `backup`, not by copying the file: a copy of a WAL database
    // without its -wal file may lack what was committed.
    let other = sqlite_url(&dir.path().join("other/tasksync.db"));
    let out = tasksync(&other, &["migrate"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = tasksync(&other, &["backup", &good.display().to_string()]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = restore(&good).await;
    assert!(!out.status.success(), "must refuse a database in use");
    assert!(stderr(&out).contains("is in use"), "{}", stderr(&out));
    assert_eq!(
        task_ids(&node, &tokens.access).await,
        [kept],
        "the served database is untouched"
    );
    terminate(node);
    let out = restore(&good).await;
    assert!(
        out.status.success(),
        "once stopped, it restores: {}",
        stderr(&out)
    );
}

/// check-config prints every setting, a flag over its variable, secrets as
/// `<redacted>` (the database URL's password only), and agrees with
/// `serve` on what cannot work: status 2 and the setting's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_prints_settings_without_secrets_and_refuses_what_serve_refuses() {
    let secrets = [
        ("TASKSYNC_METRICS_TOKEN", "metrics-secret-1"),
        (
            "TASKSYNC_SMTP_URL",
            "smtps://mail:smtp-secret-2@mail.internal",
        ),
    ];
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env_remove("TASKSYNC_DEV")
            .env_remove("TASKSYNC_SMTP_URL")
            .env(
                "TASKSYNC_DATABASE_URL",
                "postgres://tasksync:db-secret-3@db.internal:5432/tasks",
            );
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().expect("runs")
    };
    let out = run(&["check-config", "--listen", "0.0.0.0:9999"], &secrets);
    assert!(out.status.success(), "valid: {}", stderr(&out));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    for secret in ["metrics-secret-1", "smtp-secret-2", "db-secret-3"] {
        assert!(!text.contains(secret), "printed {secret}: {text}");
    }
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    for expected in [
        "TASKSYNC_METRICS_TOKEN=<redacted>",
        "TASKSYNC_SMTP_URL=<redacted>",
        "TASKSYNC_DATABASE_URL=postgres://tasksync:<redacted>@db.internal:5432/tasks",
        "TASKSYNC_LISTEN=0.0.0.0:9999",
        "TASKSYNC_ACCESS_TOKEN_TTL=15m",
        "TASKSYNC_PUBLIC_URL=",
    ] {
        assert!(lines.iter().any(|l| l == expected), "{expected}: {lines:?}");
    }
    for line in &lines {
        let (name, _) = line.split_once('=').expect("NAME=value");
        assert!(
            name.starts_with("TASKSYNC_") && !name.contains(' '),
            "{line}"
        );
    }
    let help = stdout(&run(&["serve", "--help"], &[]));
    let settings = help.matches("[env: TASKSYNC_").count();
    assert_eq!(lines.len(), settings, "one line per setting of serve");

    // What cannot work: check-config and serve give the same reason.
    for (env, name) in [
        (
            vec![secrets[1], ("TASKSYNC_WS_LIVE_BUFFER", "100000")],
            "TASKSYNC_WS_LIVE_BUFFER",
        ),
        (vec![], "TASKSYNC_SMTP_URL"),
        (
            vec![secrets[1], ("TASKSYNC_SMTP_FROM", "not an address")],
            "TASKSYNC_SMTP_FROM",
        ),
    ] {
        let out = run(&["check-config"], &env);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(name), "{name}: {}", stderr(&out));
        let reason = stderr(&out)
            .lines()
            .find(|l| l.contains(name))
            .expect("a reason")
            .trim_start_matches("tasksync: invalid configuration: ")
            .to_owned();
        let serve = run(&["serve", "--listen", "127.0.0.1:0"], &env);
        assert!(!serve.status.success(), "{name}: serve must refuse too");
        assert!(
            stderr(&serve).contains(&reason),
            "{name}: serve says {}, check-config {reason}",
            stderr(&serve)
        );
    }
    // A value that does not parse at all.
    let out = run(&["check-config"], &[("TASKSYNC_LISTEN", "nowhere")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--listen"), "{}", stderr(&out));
}

/// `check-config --connect` opens the database without migrating it and
/// refuses one this binary cannot use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_connect_checks_the_schema_without_migrating() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tasksync.db");
    let url = sqlite_url(&path);
    let out = tasksync(&url, &["check-config", "--dev", "--connect"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not exist yet"),
        "{}",
        stderr(&out)
    );
    assert!(!path.exists(), "check-config creates no database");

    let out = tasksync(&url, &["migrate"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = tasksync(&url, &["check-config", "--dev", "--connect"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("0 migration(s) of this binary pending"),
        "{}",
        stderr(&out)
    );
    {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open");
        sqlx::raw_sql(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (1000, 'a future contract', TRUE, X'00', 0);
             UPDATE schema_minimum SET version = 1000;",
        )
        .execute(&mut conn)
        .await
        .expect("fake a newer release");
    }
    let out = tasksync(&url, &["check-config", "--dev", "--connect"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("install the newer release"),
        "{}",
        stderr(&out)
    );
}

/// The PostgreSQL client programs, or `None` with a loud skip (a failure
/// under `TASKSYNC_REQUIRE_ALL=1`).
fn pg_tools() -> Option<()> {
    let found = ["pg_dump", "pg_restore"].iter().all(|p| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found {
        return Some(());
    }
    let message = "pg_dump/pg_restore are not installed (apt-get install postgresql-client)";
    assert!(
        std::env::var("TASKSYNC_REQUIRE_ALL").as_deref() != Ok("1"),
        "TASKSYNC_REQUIRE_ALL=1: {message}"
    );
    eprintln!("SKIPPED (pg_dump): {message}");
    None
}

/// A PostgreSQL database backed up with `tasksync backup` (pg_dump) while
/// a node serves, restored with `tasksync restore` (pg_restore) into a
/// fresh database: a node there serves the same account and tasks. A
/// restore over a database that nodes use is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_backup_restores_into_a_fresh_database() {
    if pg_tools().is_none() {
        return;
    }
    let Some(source) = TestDatabase::create().await else {
        return;
    };
    let Some(fresh) = TestDatabase::create().await else {
        return;
    };
    let node = Node::start("source", source.url());
    let address = email("pg-backup");
    let tokens = node.signed_in(&address).await;
    let mut written = Vec::new();
    for n in 0..5 {
        written.push(
            create(&node, &tokens.access, &format!("pg task {n} ✓"))
                .await
                .expect("write"),
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let backup = dir.path().join("pg.dump");
    let path = backup.to_str().expect("utf-8");
    let out = tasksync(source.url(), &["backup", path]).await;
    assert!(out.status.success(), "backup: {}", stderr(&out));
    let out = tasksync(source.url(), &["backup", path]).await;
    assert!(!out.status.success(), "never overwrites");

    let out = tasksync(source.url(), &["restore", path]).await;
    assert!(!out.status.success(), "a database in use");
    assert!(stderr(&out).contains("is in use"), "{}", stderr(&out));
    terminate(node);

    let out = tasksync(fresh.url(), &["restore", path]).await;
    assert!(out.status.success(), "restore: {}", stderr(&out));
    let node = Node::start("fresh", fresh.url());
    let tokens = node.tokens(&address, PASSWORD).await;
    let mut ids = task_ids(&node, &tokens.access).await;
    ids.sort();
    written.sort();
    assert_eq!(ids, written);
    terminate(node);

    // A backup of a database a newer release contracted: refused before
    // anything is dropped.
    {
        let mut conn = sqlx::PgConnection::connect(fresh.url())
            .await
            .expect("connect");
        sqlx::raw_sql(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (1000, 'a future contract', TRUE, '\\x00'::bytea, 0);
             UPDATE schema_minimum SET version = 1000;",
        )
        .execute(&mut conn)
        .await
        .expect("fake a newer release");
    }
    let newer = dir.path().join("newer.dump");
    let out = tasksync(fresh.url(), &["backup", newer.to_str().expect("utf-8")]).await;
    assert!(out.status.success(), "backup: {}", stderr(&out));
    let out = tasksync(source.url(), &["restore", newer.to_str().expect("utf-8")]).await;
    assert!(!out.status.success(), "a schema this binary cannot use");
    assert!(
        stderr(&out).contains("needs at least 1000"),
        "{}",
        stderr(&out)
    );
    let kept: i64 = {
        let mut conn = sqlx::PgConnection::connect(source.url())
            .await
            .expect("connect");
        sqlx::query_scalar("SELECT count(*) FROM tasks")
            .fetch_one(&mut conn)
            .await
            .expect("the source's tasks are still there")
    };
    assert_eq!(kept, 5, "nothing was dropped");

    let junk = dir.path().join("junk.dump");
    std::fs::write(&junk, "not an archive").expect("write");
    let out = tasksync(fresh.url(), &["restore", junk.to_str().expect("utf-8")]).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not a pg_dump custom-format archive"),
        "{}",
        stderr(&out)
    );
}
