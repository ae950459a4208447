//! Schema compatibility between a binary and a database: the
//! expand/contract rule of crates/store/migrations/README.md.
//!
//! A binary knows the migrations compiled into it. A database may have
//! applied migrations that a binary does not know: during a rolling
//! upgrade, the first upgraded node migrates the shared database while the
//! older nodes still run, and a rolled-back node starts on a database its
//! newer release migrated. That is safe as long as the newer migrations
//! only *expanded* the schema (added tables, nullable or defaulted
//! columns, indexes), which the older code ignores. A *contract* migration
//! (dropping, renaming, tightening, changing meaning) raises the minimum
//! recorded in the `schema_minimum` table to its own number; a binary whose
//! newest known migration is below that minimum refuses the database.

use sqlx::migrate::Migrator;

use crate::sql::{Pool, on};
use crate::{Result, StoreError};

/// Where a database's schema stands against the migrations of this binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Versions of the migrations the database has applied, ascending.
    pub applied: Vec<i64>,
    /// Versions of the migrations this binary knows, ascending.
    pub known: Vec<i64>,
    /// The lowest schema version a binary must know to use the database
    /// (`schema_minimum`; 0 before that table exists).
    pub minimum: i64,
}

/// What the expand/contract rule allows for a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compatibility {
    /// The database has no migration this binary does not know.
    Known,
    /// The database was migrated by a newer binary, with expand migrations
    /// only: this binary may use it (and should say so).
    NewerExpand {
        /// The newest migration the database has applied.
        schema: i64,
        /// The newest migration this binary knows.
        known: i64,
    },
}

impl SchemaStatus {
    /// The newest applied migration (0 for an empty database).
    pub fn newest_applied(&self) -> i64 {
        self.applied.last().copied().unwrap_or(0)
    }

    /// The newest migration this binary knows.
    pub fn newest_known(&self) -> i64 {
        self.known.last().copied().unwrap_or(0)
    }

    /// Applied migrations this binary does not know.
    pub fn unknown(&self) -> Vec<i64> {
        self.applied
            .iter()
            .copied()
            .filter(|v| self.known.binary_search(v).is_err())
            .collect()
    }

    /// Known migrations the database has not applied yet.
    pub fn pending(&self) -> Vec<i64> {
        self.known
            .iter()
            .copied()
            .filter(|v| self.applied.binary_search(v).is_err())
            .collect()
    }

    /// The rule: a database with migrations this binary does not know may
    /// be used only if this binary's newest migration reaches the recorded
    /// minimum; else [`StoreError::NeedsNewerBinary`].
    pub fn compatibility(&self) -> Result<Compatibility> {
        if self.unknown().is_empty() {
            return Ok(Compatibility::Known);
        }
        let (schema, known) = (self.newest_applied(), self.newest_known());
        if known >= self.minimum {
            Ok(Compatibility::NewerExpand { schema, known })
        } else {
            Err(StoreError::NeedsNewerBinary {
                schema,
                known,
                minimum: self.minimum,
            })
        }
    }
}

/// The versions of a migrator, ascending.
pub(crate) fn known(migrator: &Migrator) -> Vec<i64> {
    let mut versions: Vec<i64> = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .collect();
    versions.sort_unstable();
    versions
}

/// Reads a database's schema status (without migrating it).
pub(crate) async fn status(pool: Pool<'_>, migrator: &Migrator) -> Result<SchemaStatus> {
    let exists = pool.pick(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
        "SELECT COUNT(*) FROM pg_catalog.pg_tables
         WHERE schemaname = current_schema() AND tablename = $1",
    );
    let has = |table: &'static str| async move {
        let n: i64 = on!(pool, |p| sqlx::query_scalar(exists)
            .bind(table)
            .fetch_one(p)
            .await)?;
        Ok::<_, StoreError>(n > 0)
    };
    let applied: Vec<i64> = if has("_sqlx_migrations").await? {
        on!(pool, |p| sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version"
        )
        .fetch_all(p)
        .await)?
    } else {
        Vec::new()
    };
    let minimum: i64 = if has("schema_minimum").await? {
        on!(pool, |p| sqlx::query_scalar(
            "SELECT version FROM schema_minimum WHERE id = 1"
        )
        .fetch_optional(p)
        .await)?
        .unwrap_or(0)
    } else {
        0
    };
    Ok(SchemaStatus {
        applied,
        known: known(migrator),
        minimum,
    })
}

/// Applies the pending migrations of `migrator` on `pool` after checking
/// the rule: refuses a database that needs a newer binary, and runs on one
/// that a newer binary only expanded, with a warning (sqlx would refuse
/// it for the migrations it does not know).
pub(crate) async fn migrate(pool: Pool<'_>, migrator: &'static Migrator) -> Result<()> {
    let status = status(pool, migrator).await?;
    match status.compatibility()? {
        Compatibility::Known => run(pool, migrator).await?,
        Compatibility::NewerExpand { schema, known } => {
            tracing::warn!(
                schema,
                known,
                unknown = ?status.unknown(),
                "the database was migrated by a newer tasksync (schema {schema}); this binary \
                 knows schema {known}; the newer migrations only expanded the schema, so it runs \
                 on it"
            );
            let mut lenient = Migrator::with_migrations(migrator.iter().cloned().collect());
            lenient.set_ignore_missing(true);
            run(pool, &lenient).await?;
        }
    }
    Ok(())
}

/// Runs a migrator on a connection of its own. sqlx returns a refusal
/// (such as a changed checksum) without releasing PostgreSQL's advisory
/// lock; the connection that holds it is then closed rather than put back
/// into the pool, where it would make every later migration wait.
/// (`run_direct` is what `Migrator::run` calls; sqlx names it as the way
/// around the "`Acquire` is not general enough" error in `async_trait`s.)
async fn run(pool: Pool<'_>, migrator: &Migrator) -> Result<()> {
    on!(pool, |p| {
        let mut conn = p.acquire().await?;
        match migrator.run_direct(None, &mut *conn, false).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = conn.close().await;
                Err(e.into())
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(applied: &[i64], known: &[i64], minimum: i64) -> SchemaStatus {
        SchemaStatus {
            applied: applied.to_vec(),
            known: known.to_vec(),
            minimum,
        }
    }

    #[test]
    fn the_rule_allows_known_and_newer_expand_schemas_and_refuses_a_raised_minimum() {
        assert_eq!(
            status(&[], &[1, 2], 0).compatibility().ok(),
            Some(Compatibility::Known)
        );
        assert_eq!(status(&[1], &[1, 2], 0).pending(), [2]);
        assert_eq!(
            status(&[1, 2, 3], &[1, 2], 0).compatibility().ok(),
            Some(Compatibility::NewerExpand {
                schema: 3,
                known: 2
            })
        );
        assert_eq!(
            status(&[1, 2, 3], &[1, 2], 2).compatibility().ok(),
            Some(Compatibility::NewerExpand {
                schema: 3,
                known: 2
            })
        );
        let err = status(&[1, 2, 3, 4], &[1, 2], 4)
            .compatibility()
            .expect_err("a contract migration past this binary");
        assert_eq!(
            err.to_string(),
            "the database was migrated by a newer tasksync (schema 4); this binary knows \
             schema 2 and that database needs at least 4: install the newer release or \
             restore the backup taken before the upgrade"
        );
    }
}
