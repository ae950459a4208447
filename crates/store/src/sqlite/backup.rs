//! Backups of a SQLite database while it serves, and their restore.
//!
//! A backup is `VACUUM INTO` on a pooled read connection: one read
//! transaction, so the copy is the consistent state of one moment, and WAL
//! lets the writers go on meanwhile. It is written under a temporary name
//! beside the target and linked into place only when complete, so the
//! target path never holds half a backup, and an existing file is never
//! overwritten.
//!
//! A restore checks the backup (a SQLite file, `PRAGMA integrity_check`,
//! a tasksync schema this binary may use), copies it beside the target and
//! renames it over the target, removing the target's stale `-wal`, `-shm`
//! and `-journal` files. It refuses a target in use: a connection in WAL
//! mode holds a shared lock on the database file for as long as it is
//! open (every running server has such connections), so the exclusive
//! lock that switching the target out of WAL needs is refused while any
//! process has it open; the restore holds that lock until the new file is
//! in place.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sqlx::sqlite::SqliteConnectOptions;

use super::{MIGRATOR, SqliteStore};
use crate::schema::{self, Compatibility, SchemaStatus};
use crate::{Result, StoreError};

/// The first 16 bytes of every SQLite database file.
const MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// What a restore installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// Where the database now is.
    pub path: PathBuf,
    /// The restored database's schema against this binary.
    pub schema: SchemaStatus,
    pub compatibility: Compatibility,
}

fn backup_error(text: String) -> StoreError {
    StoreError::Backup(text)
}

/// A path beside `path` for a file being written, unique to this call.
fn partial_beside(path: &Path, what: &str) -> PathBuf {
    let name = path.file_name().map_or_else(
        || "tasksync.db".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    path.with_file_name(format!(".{name}.{what}-{}", uuid::Uuid::new_v4().simple()))
}

/// Flushes a directory, so that a rename or link in it survives a crash.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::File::open(dir)?.sync_all()
}

/// The database file a `sqlite://` URL names.
pub fn path_of(url: &str) -> Result<PathBuf> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Config(format!("bad SQLite URL {url:?}: {e}")))?;
    Ok(options.get_filename().to_path_buf())
}

impl SqliteStore {
    /// Writes a consistent copy of the database to `dest`, which must not
    /// exist, while the store goes on serving (see the module's text).
    pub async fn backup_to(&self, dest: &Path) -> Result<()> {
        if dest.exists() {
            return Err(backup_error(format!(
                "{} already exists: a backup never overwrites a file",
                dest.display()
            )));
        }
        let partial = partial_beside(dest, "partial");
        let target = partial
            .to_str()
            .ok_or_else(|| backup_error(format!("{} is not UTF-8", dest.display())))?
            .to_owned();
        let vacuumed = sqlx::query("VACUUM INTO $1")
            .bind(&target)
            .execute(&self.readers)
            .await;
        let dest = dest.to_path_buf();
        let finished = match vacuumed {
            Ok(_) => tokio::task::spawn_blocking({
                let partial = partial.clone();
                move || link_complete(&partial, &dest)
            })
            .await
            .map_err(|_| StoreError::WorkerGone)?,
            Err(e) => Err(backup_error(format!("VACUUM INTO failed: {e}"))),
        };
        let _ = std::fs::remove_file(&partial);
        finished
    }
}

/// Flushes the complete backup and gives it its name, unless that name was
/// taken meanwhile.
fn link_complete(partial: &Path, dest: &Path) -> Result<()> {
    let io = |what: &str, e: std::io::Error| backup_error(format!("{what}: {e}"));
    std::fs::File::open(partial)
        .and_then(|f| f.sync_all())
        .map_err(|e| io("flushing the backup", e))?;
    match std::fs::hard_link(partial, dest) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(backup_error(format!(
                "{} already exists: a backup never overwrites a file",
                dest.display()
            )));
        }
        Err(e) => return Err(io(&format!("naming the backup {}", dest.display()), e)),
    }
    sync_dir(dest.parent().unwrap_or(Path::new(""))).map_err(|e| io("flushing the directory", e))
}

/// Checks a SQLite file as a tasksync database this binary may use: the
/// file's header, `PRAGMA integrity_check`, and the expand/contract rule.
/// `conn` is the file, opened read-write (it is a private copy).
fn check(conn: &Connection, shown: &Path) -> Result<(SchemaStatus, Compatibility)> {
    let engine = |e: rusqlite::Error| backup_error(format!("{}: {e}", shown.display()));
    let problems: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<std::result::Result<_, _>>()
        })
        .map_err(engine)?;
    if problems != ["ok"] {
        return Err(backup_error(format!(
            "{} fails PRAGMA integrity_check: {}",
            shown.display(),
            problems.join("; ")
        )));
    }
    let has = |table: &str| -> Result<bool> {
        conn.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [table],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n > 0)
        .map_err(engine)
    };
    if !has("_sqlx_migrations")? {
        return Err(backup_error(format!(
            "{} is a SQLite database but not a tasksync one (it has no _sqlx_migrations table)",
            shown.display()
        )));
    }
    let applied: Vec<i64> = conn
        .prepare("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, i64>(0))?
                .collect::<std::result::Result<_, _>>()
        })
        .map_err(engine)?;
    let minimum = if has("schema_minimum")? {
        conn.query_row("SELECT version FROM schema_minimum WHERE id = 1", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(engine)?
    } else {
        0
    };
    let status = SchemaStatus {
        applied,
        known: schema::known(&MIGRATOR),
        minimum,
    };
    let compatibility = status.compatibility()?;
    Ok((status, compatibility))
}

/// Whether a file begins as a SQLite database does.
fn is_sqlite_file(path: &Path) -> Result<bool> {
    let mut head = [0u8; 16];
    let mut file = std::fs::File::open(path)
        .map_err(|e| backup_error(format!("cannot open {}: {e}", path.display())))?;
    match file.read_exact(&mut head) {
        Ok(()) => Ok(&head == MAGIC),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(backup_error(format!("cannot read {}: {e}", path.display()))),
    }
}

/// Restores the backup at `backup` as the database of the `sqlite://`
/// URL `target_url` (see the module's text). Blocking: run it off the
/// async threads.
pub fn restore(backup: &Path, target_url: &str) -> Result<Restored> {
    let target = path_of(target_url)?;
    if !is_sqlite_file(backup)? {
        return Err(backup_error(format!(
            "{} is not a SQLite database",
            backup.display()
        )));
    }
    if let Some(dir) = target.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| backup_error(format!("cannot create directory {}: {e}", dir.display())))?;
    }
    let copy = partial_beside(&target, "restore");
    let result = restore_via(backup, &copy, &target);
    let _ = std::fs::remove_file(&copy);
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = copy.clone().into_os_string();
        side.push(suffix);
        let _ = std::fs::remove_file(side);
    }
    result
}

fn restore_via(backup: &Path, copy: &Path, target: &Path) -> Result<Restored> {
    let io = |what: String, e: std::io::Error| backup_error(format!("{what}: {e}"));
    std::fs::copy(backup, copy).map_err(|e| {
        io(
            format!("copying {} to {}", backup.display(), copy.display()),
            e,
        )
    })?;
    let (schema, compatibility) = {
        let conn = Connection::open_with_flags(copy, OpenFlags::SQLITE_OPEN_READ_WRITE)
            .map_err(|e| backup_error(format!("{}: {e}", backup.display())))?;
        let checked = check(&conn, backup)?;
        // The copy leaves WAL mode, so that it is whole in one file; the
        // server turns WAL on again when it opens it.
        let _: String = conn
            .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
            .map_err(|e| backup_error(format!("{}: {e}", backup.display())))?;
        checked
    };
    std::fs::File::open(copy)
        .and_then(|f| f.sync_all())
        .map_err(|e| io(format!("flushing {}", copy.display()), e))?;
    // Held until the new file is in place: nobody opens the old one meanwhile.
    let _lock = if target.exists() {
        Some(lock_unused(target)?)
    } else {
        None
    };
    std::fs::rename(copy, target).map_err(|e| {
        io(
            format!("renaming {} to {}", copy.display(), target.display()),
            e,
        )
    })?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = target.to_path_buf().into_os_string();
        side.push(suffix);
        match std::fs::remove_file(&side) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(format!("removing {}", Path::new(&side).display()), e)),
        }
    }
    sync_dir(target.parent().unwrap_or(Path::new("")))
        .map_err(|e| io("flushing the directory".into(), e))?;
    Ok(Restored {
        path: target.to_path_buf(),
        schema,
        compatibility,
    })
}

/// Takes the exclusive lock of the database at `target`, which only
/// succeeds when no other connection (of any process) has it open, and
/// switches it out of WAL mode (checkpointing its WAL) under that lock.
fn lock_unused(target: &Path) -> Result<Connection> {
    let in_use = |e: &dyn std::fmt::Display| {
        backup_error(format!(
            "the database {} is in use ({e}): stop every tasksync server (and other \
             program) that has it open, then restore again",
            target.display()
        ))
    };
    if !is_sqlite_file(target)? && std::fs::metadata(target).is_ok_and(|m| m.len() > 0) {
        return Err(backup_error(format!(
            "{} exists and is not a SQLite database: move it away first",
            target.display()
        )));
    }
    let conn = Connection::open_with_flags(target, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| backup_error(format!("{}: {e}", target.display())))?;
    conn.busy_timeout(Duration::ZERO)
        .map_err(|e| backup_error(format!("{}: {e}", target.display())))?;
    // Set before the first access: a WAL database is then opened with an
    // exclusive lock on the file and no shared memory, or not at all.
    let _: String = conn
        .query_row("PRAGMA locking_mode = EXCLUSIVE", [], |r| r.get(0))
        .map_err(|e| in_use(&e))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
        .map_err(|e| in_use(&e))?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(in_use(&format!("its journal mode stays {mode}")));
    }
    conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;")
        .map_err(|e| in_use(&e))?;
    Ok(conn)
}
