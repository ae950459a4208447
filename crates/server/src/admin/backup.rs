//! `tasksync backup PATH` and `tasksync restore PATH`.
//!
//! SQLite is backed up and restored by the store
//! ([`tasksync_store::SqliteStore::backup_to`], [`tasksync_store::sqlite::restore`]).
//! PostgreSQL by its own client programs, `pg_dump` and `pg_restore`, found
//! on `PATH`: they are given the database URL without its password, and
//! the password in `PGPASSWORD`, so it never shows in a process list.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context as _, bail};
use tasksync_store::{Compatibility, PgStore, SchemaStatus, SqliteStore};

use crate::config::DatabaseArgs;

/// Whether a database URL names SQLite (else it is PostgreSQL; others are
/// refused when connecting).
fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// `tasksync backup PATH`
pub async fn backup(db: &DatabaseArgs, path: &Path) -> anyhow::Result<()> {
    db.validate().map_err(anyhow::Error::msg)?;
    if path.exists() {
        bail!(
            "{} already exists: a backup never overwrites a file",
            path.display()
        );
    }
    let url = &db.database_url;
    if is_sqlite(url) {
        let file = tasksync_store::sqlite::path_of(url)?;
        if !file.exists() {
            bail!("there is no database at {}", file.display());
        }
        let store = SqliteStore::connect(url, 1)
            .await
            .context("opening the database")?;
        store.backup_to(path).await?;
    } else {
        let target = PgTarget::parse(url)?;
        let partial = partial_beside(path);
        let dumped = target
            .run(
                "pg_dump",
                &[
                    "--format=custom".into(),
                    format!("--file={}", partial.display()),
                ],
            )
            .await;
        let linked = dumped.and_then(|_| {
            std::fs::hard_link(&partial, path).with_context(|| {
                format!(
                    "naming the backup {} (a backup never overwrites a file)",
                    path.display()
                )
            })
        });
        let _ = std::fs::remove_file(&partial);
        linked?;
    }
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    println!(
        "backed up {} to {} ({bytes} bytes)",
        tasksync_store::redact_url(url),
        path.display()
    );
    Ok(())
}

/// `tasksync restore PATH`
pub async fn restore(db: &DatabaseArgs, path: &Path) -> anyhow::Result<()> {
    db.validate().map_err(anyhow::Error::msg)?;
    if !path.is_file() {
        bail!("there is no backup file at {}", path.display());
    }
    let url = db.database_url.clone();
    let (schema, compatibility) = if is_sqlite(&url) {
        let backup = path.to_path_buf();
        let restored = tokio::task::spawn_blocking({
            let url = url.clone();
            move || tasksync_store::sqlite::restore(&backup, &url)
        })
        .await
        .context("the restore stopped")??;
        (restored.schema, restored.compatibility)
    } else {
        restore_postgres(&url, path).await?
    };
    if let Compatibility::NewerExpand { schema, known } = compatibility {
        eprintln!(
            "tasksync: warning: the backup was taken by a newer tasksync (schema {schema}; this \
             binary knows {known}); it only expanded the schema, so this binary can use it"
        );
    }
    println!(
        "restored {} into {} (schema {}); `tasksync serve` applies any pending migration",
        path.display(),
        tasksync_store::redact_url(&url),
        schema.newest_applied()
    );
    Ok(())
}

async fn restore_postgres(url: &str, path: &Path) -> anyhow::Result<(SchemaStatus, Compatibility)> {
    let target = PgTarget::parse(url)?;
    let file = path.display().to_string();
    target
        .run("pg_restore", &["--list".into(), file.clone()])
        .await
        .with_context(|| format!("{file} is not a pg_dump custom-format archive"))?;
    let data = target
        .run(
            "pg_restore",
            &[
                "--data-only".into(),
                "--table=_sqlx_migrations".into(),
                "--table=schema_minimum".into(),
                "--file=-".into(),
                file.clone(),
            ],
        )
        .await?;
    let applied = copied_column(&data, "_sqlx_migrations", "version", Some("success"));
    if applied.is_empty() {
        bail!("{file} is not a backup of a tasksync database (it has no _sqlx_migrations rows)");
    }
    let minimum = copied_column(&data, "schema_minimum", "version", None)
        .first()
        .copied()
        .unwrap_or(0);
    let schema = SchemaStatus {
        applied,
        known: PgStore::known_schema(),
        minimum,
    };
    let compatibility = schema.compatibility()?;
    refuse_if_in_use(url).await?;
    target
        .run(
            "pg_restore",
            &[
                "--clean".into(),
                "--if-exists".into(),
                "--no-owner".into(),
                "--single-transaction".into(),
                "--exit-on-error".into(),
                format!("--dbname={}", target.url),
                file,
            ],
        )
        .await?;
    Ok((schema, compatibility))
}

/// Refuses while tasksync nodes are connected to the database: a restore
/// would wait for their locks, or replace tables under them.
async fn refuse_if_in_use(url: &str) -> anyhow::Result<()> {
    let open = tasksync_store::postgres::tasksync_connections(url)
        .await
        .context("connecting to the database")?;
    if open > 0 {
        bail!(
            "the database is in use: {open} tasksync connection(s) are open on it; stop every \
             node first, then restore again"
        );
    }
    Ok(())
}

/// The values of `column` in the `COPY table (…) FROM stdin;` block of a
/// `pg_restore --data-only` script, as integers; with `only_if`, of the
/// rows where that boolean column is true.
fn copied_column(script: &str, table: &str, column: &str, only_if: Option<&str>) -> Vec<i64> {
    let mut values = Vec::new();
    let mut lines = script.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("COPY ") else {
            continue;
        };
        let Some((name, rest)) = rest.split_once(" (") else {
            continue;
        };
        if name.rsplit('.').next().map(|n| n.trim_matches('"')) != Some(table) {
            continue;
        }
        let columns: Vec<&str> = rest
            .split(')')
            .next()
            .unwrap_or_default()
            .split(',')
            .map(|c| c.trim().trim_matches('"'))
            .collect();
        let Some(at) = columns.iter().position(|c| *c == column) else {
            continue;
        };
        let flag = only_if.and_then(|f| columns.iter().position(|c| *c == f));
        for row in lines.by_ref() {
            if row == "\\." {
                break;
            }
            let fields: Vec<&str> = row.split('\t').collect();
            if flag.is_some_and(|f| fields.get(f) != Some(&"t")) {
                continue;
            }
            if let Some(v) = fields.get(at).and_then(|v| v.parse().ok()) {
                values.push(v);
            }
        }
    }
    values.sort_unstable();
    values
}

/// A path beside `path` for a file being written, unique to this run.
fn partial_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "backup".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.partial-{}", uuid::Uuid::new_v4().simple()))
}

/// A PostgreSQL database as its client programs take it.
struct PgTarget {
    /// The URL without its password (libpq reads `postgres://` URLs).
    url: String,
    password: Option<String>,
}

impl PgTarget {
    fn parse(url: &str) -> anyhow::Result<Self> {
        let mut parsed = url::Url::parse(url).with_context(|| {
            format!(
                "TASKSYNC_DATABASE_URL {:?} is not a URL",
                tasksync_store::redact_url(url)
            )
        })?;
        let password = parsed.password().map(percent_decode);
        let _ = parsed.set_password(None);
        Ok(Self {
            url: parsed.into(),
            password,
        })
    }

    /// Runs one of the PostgreSQL client programs on this database and
    /// returns its standard output; fails with its standard error.
    async fn run(&self, program: &str, args: &[String]) -> anyhow::Result<String> {
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            // Never wait for a password prompt.
            .arg("--no-password")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if program == "pg_dump" {
            command.arg(format!("--dbname={}", self.url));
        }
        if let Some(password) = &self.password {
            command.env("PGPASSWORD", password);
        }
        let out = match command.output().await {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "{program} is not installed or not on PATH: install the PostgreSQL client \
                 programs of the server's major version (Debian: apt-get install postgresql-client)"
            ),
            Err(e) => return Err(e).with_context(|| format!("running {program}")),
        };
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            bail!(
                "{program} failed ({}): {}",
                out.status,
                stderr.trim().replace('\n', "; ")
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// Decodes the `%XX` escapes of a URL's user information.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let value = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_url_for_the_environment_decoded() {
        let t =
            PgTarget::parse("postgres://app:p%40ss%2Fw0rd@db.internal:5433/tasks?sslmode=require")
                .expect("parses");
        assert_eq!(
            t.url,
            "postgres://app@db.internal:5433/tasks?sslmode=require"
        );
        assert_eq!(t.password.as_deref(), Some("p@ss/w0rd"));
        let t = PgTarget::parse("postgres://app@db/tasks").expect("parses");
        assert_eq!(t.password, None);
    }

    #[test]
    fn versions_are_read_from_the_copy_blocks_of_a_data_script() {
        let script = "\
--
-- Data for Name: _sqlx_migrations; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public._sqlx_migrations (version, description, installed_on, success, checksum, execution_time) FROM stdin;
1\tschema\t2025-01-01 00:00:00+00\tt\t\\\\x00\t5
3\tthird\t2025-01-01 00:00:00+00\tt\t\\\\x00\t5
2\tsecond\t2025-01-01 00:00:00+00\tt\t\\\\x00\t5
9\tfailed\t2025-01-01 00:00:00+00\tf\t\\\\x00\t5
\\.

COPY public.schema_minimum (id, version) FROM stdin;
1\t2
\\.
";
        assert_eq!(
            copied_column(script, "_sqlx_migrations", "version", Some("success")),
            [1, 2, 3]
        );
        assert_eq!(
            copied_column(script, "schema_minimum", "version", None),
            [2]
        );
        assert!(copied_column(script, "tasks", "version", None).is_empty());
    }
}
