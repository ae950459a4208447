//! The store conformance suite: the behaviour every `Store` adapter must
//! have. Each test is an `async fn(Arc<dyn Store>)`; the macro below runs
//! every one against each backend: a fresh SQLite file, and a fresh
//! PostgreSQL database (see `tasksync_store::testing`).

mod accounts;
mod lists;
mod schema;
mod sessions;
mod tasks;

use std::sync::Arc;

use tasksync_core::{Email, UserId};
use tasksync_store::testing::TestDatabase;
use tasksync_store::{ConnectOptions, Store, UserRecord};

/// A confirmed user with a unique address, for tests about other things.
pub(crate) async fn user(store: &Arc<dyn Store>) -> UserId {
    let id = UserId::new();
    let u = UserRecord {
        id,
        email: Email::parse(&format!("{}@example.com", id.as_uuid().simple())).expect("email"),
        password_hash: "x".into(),
        confirmed: true,
        disabled: false,
        created_at: 0,
    };
    store.create_user(&u).await.expect("user");
    id
}

/// Keeps a backend's database alive for the length of a test.
#[allow(dead_code)]
pub(crate) enum Guard {
    Dir(tempfile::TempDir, String),
    Db(TestDatabase),
}

impl Guard {
    /// The database's URL.
    pub(crate) fn url(&self) -> &str {
        match self {
            Self::Dir(_, url) => url,
            Self::Db(db) => db.url(),
        }
    }

    /// Runs `sqlite` or `postgres` (plain SQL, several statements) on the
    /// database beside the store, as another binary or a person would.
    pub(crate) async fn exec(&self, sqlite: &str, postgres: &str) {
        use sqlx::Connection as _;
        let url = self.url();
        if url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(url).await.expect("connect");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sqlite.to_owned()))
                .execute(&mut conn)
                .await
                .expect(sqlite);
        } else {
            let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
            sqlx::raw_sql(sqlx::AssertSqlSafe(postgres.to_owned()))
                .execute(&mut conn)
                .await
                .expect(postgres);
        }
    }
}

async fn open(url: String) -> Arc<dyn Store> {
    let store = tasksync_store::connect(&ConnectOptions {
        url,
        ..ConnectOptions::default()
    })
    .await
    .expect("connect");
    store.migrate().await.expect("migrate");
    store.migrate().await.expect("migrating again is harmless");
    store
}

async fn sqlite() -> Option<(Guard, Arc<dyn Store>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    // A directory that does not exist yet: connecting creates it.
    let url = format!("sqlite://{}", dir.path().join("a/b/test.db").display());
    let store = open(url.clone()).await;
    Some((Guard::Dir(dir, url), store))
}

async fn postgres() -> Option<(Guard, Arc<dyn Store>)> {
    let db = TestDatabase::create().await?;
    let store = open(db.url().to_owned()).await;
    Some((Guard::Db(db), store))
}

macro_rules! conformance {
    ($backend:ident) => {
        mod $backend {
            conformance!(@tests $backend;
                accounts::a_taken_address_is_a_conflict_and_changes_nothing,
                accounts::concurrent_refreshes_with_one_token_rotate_once_and_detect_the_reuse,
                accounts::concurrent_wrong_codes_are_all_counted,
                accounts::only_the_first_signing_key_is_kept_when_nodes_race,
                accounts::password_change_keeps_one_session_and_revokes_the_rest,
                accounts::failed_sign_ins_lock_from_the_fifth_and_are_forgotten_after_an_hour,
                accounts::concurrent_sign_in_attempts_are_counted_one_by_one,
                accounts::sessions_beyond_the_cap_end_the_oldest,
                accounts::codes_are_limited_per_account_and_hour,
                accounts::a_sign_up_code_confirms_the_password_chosen_with_it,
                accounts::a_code_alone_confirms_an_address_signed_up_once,
                accounts::a_migrated_store_answers_a_ping,
                accounts::confirming_marks_one_account_and_an_unknown_one_is_not_found,
                accounts::signing_keys_are_listed_as_they_were_stored,
                accounts::a_lockout_is_only_ever_extended,
                sessions::a_refresh_token_current_or_spent_finds_its_session,
                sessions::revoking_one_session_works_once_and_leaves_the_others,
                sessions::revoking_a_users_sessions_ends_only_their_active_ones,
                sessions::disabling_an_account_ends_its_sessions_and_enabling_it_ends_none,
                sessions::revocations_are_listed_from_a_given_time,
                tasks::each_write_appends_exactly_one_change_with_the_next_seq,
                tasks::refused_writes_append_nothing_and_change_nothing,
                tasks::creating_with_a_known_id_is_a_retry_only_with_the_same_content,
                tasks::sequences_are_per_scope,
                tasks::writes_of_one_task_in_one_batch_see_each_other,
                tasks::sequences_have_no_gaps_under_eight_concurrent_writers,
                tasks::of_sixteen_concurrent_updates_with_one_expected_version_exactly_one_wins,
                tasks::the_live_listing_is_oldest_first_and_hides_tombstones,
                tasks::a_tailer_sees_every_change_once_in_order_under_eight_writers,
                tasks::retention_trims_a_gapless_prefix_and_moves_the_bounds,
                tasks::pages_stop_one_row_past_their_bytes,
                tasks::each_commit_wakes_subscribers_with_its_scope_head_and_changes,
                tasks::resyncs_tick_once_listening_where_notices_can_be_lost,
                lists::sharing_brings_the_list_and_its_tasks_and_unsharing_takes_them_away,
                lists::roles_decide_who_may_write_and_strangers_find_nothing,
                lists::moving_a_task_out_of_sight_removes_it_and_back_brings_it,
                lists::an_invitation_answers_alike_and_takes_effect_at_confirmation,
                lists::limits_on_members_and_lists_are_kept,
                lists::deleting_a_list_removes_it_and_its_tasks_for_everyone,
                lists::delta_sync_gives_each_task_and_list_once_at_its_latest_state,
                lists::the_logs_of_several_members_are_read_in_one_call,
                lists::a_list_beyond_its_task_limit_takes_no_new_member,
                lists::concurrent_creates_of_one_list_id_make_one_list,
                lists::share_size_counts_what_a_share_would_move_in_and_nothing_else,
            );
            conformance!(@beside $backend;
                schema::a_database_a_newer_binary_only_expanded_opens_and_works,
                schema::a_database_a_newer_contract_migration_needs_is_refused_with_the_way_out,
                schema::a_known_migration_whose_checksum_changed_still_fails,
                lists::an_invitation_a_confirmation_missed_joins_at_sign_in_or_refresh,
            );
        }
    };
    // Tests that also touch the database beside the store (`Guard::exec`).
    (@beside $backend:ident; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some((guard, store)) = super::$backend().await else {
                    return;
                };
                super::$module::$name(&guard, store).await;
            }
        )*
    };
    (@tests $backend:ident; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some((_guard, store)) = super::$backend().await else {
                    return;
                };
                super::$module::$name(store).await;
            }
        )*
    };
}

conformance!(sqlite);
conformance!(postgres);
