//! The `tasksync` binary as an operator runs it: start-up refusals, SIGTERM
//! and the admin commands.

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tasksync");

fn db_url(dir: &tempfile::TempDir) -> String {
    format!(
        "sqlite://{}",
        dir.path().join("nested/dir/tasksync.db").display()
    )
}

#[test]
fn production_mode_without_smtp_refuses_to_start_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("TASKSYNC_DEV")
        .env_remove("TASKSYNC_SMTP_URL")
        .env("TASKSYNC_DATABASE_URL", db_url(&dir))
        .output()
        .expect("runs");
    assert!(!out.status.success(), "must not start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("TASKSYNC_SMTP_URL"), "says why: {stderr}");
}

#[test]
fn admin_commands_refuse_a_pool_setting_that_cannot_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .arg("migrate")
        .env("TASKSYNC_DATABASE_URL", db_url(&dir))
        .env("TASKSYNC_DB_MAX_CONNECTIONS", "1")
        .output()
        .expect("runs");
    assert!(!out.status.success(), "must refuse");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("TASKSYNC_DB_MAX_CONNECTIONS"),
        "says why: {stderr}"
    );
    assert!(
        !dir.path().join("nested").exists(),
        "refused before touching the database"
    );
}

#[test]
fn help_never_prints_secrets_from_the_environment() {
    for args in [
        &["serve", "--help"][..],
        &["migrate", "--help"],
        &["users", "--help"],
    ] {
        let out = Command::new(BIN)
            .args(args)
            .env(
                "TASKSYNC_DATABASE_URL",
                "postgres://tasksync:db-secret-1@db.internal/tasks",
            )
            .env(
                "TASKSYNC_SMTP_URL",
                "smtps://mail:smtp-secret-2@mail.internal",
            )
            .output()
            .expect("runs");
        assert!(out.status.success(), "{args:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("TASKSYNC_DATABASE_URL"), "{args:?}: {help}");
        assert!(
            !help.contains("db-secret-1") && !help.contains("smtp-secret-2"),
            "{args:?} printed a secret: {help}"
        );
    }
}

#[test]
fn sigterm_stops_the_server_cleanly_and_admin_commands_use_its_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = crate::multinode::node_command(&db_url(&dir))
        .spawn()
        .expect("starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        assert!(Instant::now() < deadline, "no start-up line");
        let line = lines.next().expect("a log line").expect("utf-8");
        let event: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if event["message"] == "tasksync listening" {
            break event["addr"].as_str().expect("addr").to_owned();
        }
    };
    let health = http_status(&format!("http://{addr}/healthz"));
    assert_eq!(health, 200, "serving before the signal");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child.wait().expect("exits");
    assert!(status.success(), "SIGTERM is a clean exit: {status}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("\"stopped\"")),
        "logs that it stopped: {rest:?}"
    );

    let migrate = Command::new(BIN)
        .arg("migrate")
        .env("TASKSYNC_DATABASE_URL", db_url(&dir))
        .output()
        .expect("runs");
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&migrate.stdout).trim(),
        "database is up to date"
    );
    let list = Command::new(BIN)
        .args(["users", "list"])
        .env("TASKSYNC_DATABASE_URL", db_url(&dir))
        .output()
        .expect("runs");
    assert!(list.status.success());
    assert!(
        String::from_utf8_lossy(&list.stdout).starts_with("id"),
        "a header line"
    );
    let missing = Command::new(BIN)
        .args(["users", "disable", "ghost@example.com"])
        .env("TASKSYNC_DATABASE_URL", db_url(&dir))
        .output()
        .expect("runs");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no account"));
}

/// The status code of a GET, from this synchronous test.
fn http_status(url: &str) -> u16 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        reqwest::get(url)
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    })
}
