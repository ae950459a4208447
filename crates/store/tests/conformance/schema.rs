//! The expand/contract rule at open: what a binary does with a database
//! that a newer binary migrated (crates/store/migrations/README.md). The
//! newer binary is faked by the rows it would have left in
//! `_sqlx_migrations` and `schema_minimum`.

use std::sync::Arc;

use tasksync_store::{Compatibility, Store, StoreError};

use crate::Guard;

/// Records migration `version` as applied, as a newer binary would have.
async fn fake_applied(guard: &Guard, version: i64) {
    guard
        .exec(
            &format!(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
                 VALUES ({version}, 'a future migration', TRUE, X'00', 0)"
            ),
            &format!(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
                 VALUES ({version}, 'a future migration', TRUE, '\\x00'::bytea, 0)"
            ),
        )
        .await;
}

/// A newer binary applied an expand migration (the minimum stays): this
/// binary migrates and serves, reads and writes as before.
pub async fn a_database_a_newer_binary_only_expanded_opens_and_works(
    guard: &Guard,
    store: Arc<dyn Store>,
) {
    let before = store.schema().await.expect("schema");
    assert!(before.pending().is_empty() && before.unknown().is_empty());
    assert_eq!(before.minimum, 0, "no contract migration yet");
    let newer = before.newest_known() + 1;
    fake_applied(guard, newer).await;
    guard
        .exec(
            "CREATE TABLE future_things (id INTEGER PRIMARY KEY)",
            "CREATE TABLE future_things (id INTEGER PRIMARY KEY)",
        )
        .await;

    let status = store.schema().await.expect("schema");
    assert_eq!(status.unknown(), [newer]);
    assert_eq!(
        status.compatibility().expect("usable"),
        Compatibility::NewerExpand {
            schema: newer,
            known: before.newest_known()
        }
    );
    store
        .migrate()
        .await
        .expect("an expanded schema is still usable");
    store.migrate().await.expect("and again");
    let user = crate::user(&store).await;
    assert!(store.user_by_id(user).await.expect("read").is_some());
}

/// A newer binary applied a contract migration, which raised the minimum
/// past this binary's newest migration: this binary refuses, naming the
/// versions and what to do.
pub async fn a_database_a_newer_contract_migration_needs_is_refused_with_the_way_out(
    guard: &Guard,
    store: Arc<dyn Store>,
) {
    let known = store.schema().await.expect("schema").newest_known();
    let (expand, contract) = (known + 1, known + 2);
    fake_applied(guard, expand).await;
    fake_applied(guard, contract).await;
    guard
        .exec(
            &format!("UPDATE schema_minimum SET version = {contract}"),
            &format!("UPDATE schema_minimum SET version = {contract}"),
        )
        .await;

    let err = store.migrate().await.expect_err("needs a newer binary");
    assert!(
        matches!(
            err,
            StoreError::NeedsNewerBinary { schema, known: k, minimum }
                if schema == contract && k == known && minimum == contract
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert_eq!(
        text,
        format!(
            "the database was migrated by a newer tasksync (schema {contract}); this binary \
             knows schema {known} and that database needs at least {contract}: install the \
             newer release or restore the backup taken before the upgrade"
        )
    );
    // The boundary: a minimum equal to this binary's newest migration
    // (the contract migration was this binary's own) is usable.
    guard
        .exec(
            &format!("UPDATE schema_minimum SET version = {known}"),
            &format!("UPDATE schema_minimum SET version = {known}"),
        )
        .await;
    assert!(
        matches!(
            store.schema().await.expect("schema").compatibility(),
            Ok(Compatibility::NewerExpand { .. })
        ),
        "a minimum this binary reaches"
    );
    store.migrate().await.expect("usable again");
}

/// A migration this binary knows, recorded with another checksum (it was
/// edited after it shipped): refused, as sqlx always did.
pub async fn a_known_migration_whose_checksum_changed_still_fails(
    guard: &Guard,
    store: Arc<dyn Store>,
) {
    guard
        .exec(
            "UPDATE _sqlx_migrations SET checksum = X'00' WHERE version = 1",
            "UPDATE _sqlx_migrations SET checksum = '\\x00'::bytea WHERE version = 1",
        )
        .await;
    let err = store.migrate().await.expect_err("a changed migration");
    assert!(
        matches!(
            err,
            StoreError::Migrate(sqlx::migrate::MigrateError::VersionMismatch(1))
        ),
        "{err:?}"
    );
    // Also when the database was expanded by a newer binary besides.
    let known = store.schema().await.expect("schema").newest_known();
    fake_applied(guard, known + 1).await;
    let err = store.migrate().await.expect_err("a changed migration");
    assert!(
        matches!(
            err,
            StoreError::Migrate(sqlx::migrate::MigrateError::VersionMismatch(1))
        ),
        "{err:?}"
    );
}
