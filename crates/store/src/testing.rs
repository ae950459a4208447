//! A fresh PostgreSQL database per test (feature `testing`).
//!
//! The server is `TASKSYNC_TEST_DATABASE_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test`. Each [`TestDatabase`] creates
//! a database of its own there and drops it when it goes out of scope; ones
//! left behind by a killed run are dropped by the next run after an hour.
//!
//! When the server cannot be reached, [`TestDatabase::create`] says so on
//! stderr and returns `None` (the test skips), unless
//! `TASKSYNC_REQUIRE_ALL=1`, which makes it panic instead.

use std::str::FromStr as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _, PgConnection};

/// Where tests find PostgreSQL unless `TASKSYNC_TEST_DATABASE_URL` says otherwise.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const PREFIX: &str = "tasksync_t_";

/// A database that exists for as long as this value does.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    admin: String,
    name: String,
}

fn base_url() -> String {
    std::env::var("TASKSYNC_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

fn require_all() -> bool {
    std::env::var("TASKSYNC_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

async fn admin_connection(url: &str) -> Result<PgConnection, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?.disable_statement_logging();
    PgConnection::connect_with(&options).await
}

impl TestDatabase {
    /// Creates a fresh, empty database, or `None` (with a loud message) when
    /// PostgreSQL is not reachable and skipping is allowed.
    pub async fn create() -> Option<Self> {
        let admin = base_url();
        match Self::create_on(&admin).await {
            Ok(db) => Some(db),
            Err(e) => {
                let message = format!(
                    "PostgreSQL at {} is not reachable ({e}); set TASKSYNC_TEST_DATABASE_URL or start it",
                    crate::redact_url(&admin)
                );
                assert!(!require_all(), "TASKSYNC_REQUIRE_ALL=1: {message}");
                eprintln!("SKIPPED (PostgreSQL): {message}");
                None
            }
        }
    }

    /// Creates a fresh, empty database on the server of `admin` (a URL of
    /// any database there the user may connect to and create databases).
    pub async fn create_on(admin: &str) -> Result<Self, sqlx::Error> {
        let mut conn = admin_connection(admin).await?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        drop_stale(&mut conn, now).await;
        let name = format!("{PREFIX}{now}_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await?;
        let _ = conn.close().await;
        let mut url = url::Url::parse(admin).map_err(|e| sqlx::Error::Configuration(e.into()))?;
        url.set_path(&format!("/{name}"));
        Ok(Self {
            url: url.into(),
            admin: admin.to_owned(),
            name,
        })
    }

    /// The `postgres://` URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Drops test databases older than an hour (left by a killed run).
async fn drop_stale(conn: &mut PgConnection, now: u64) {
    let names: Vec<String> =
        match sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1")
            .bind(format!("{PREFIX}%"))
            .fetch_all(&mut *conn)
            .await
        {
            Ok(names) => names,
            Err(_) => return,
        };
    for name in names {
        let created = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|at| at + 3600 < now) {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
            )))
            .execute(&mut *conn)
            .await;
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs outside async code; a small runtime on its own thread
        // removes the database (FORCE ends connections still open).
        let admin = self.admin.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut conn = admin_connection(&admin).await.ok()?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}
