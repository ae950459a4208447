//! Upgrades from every released schema: each directory of
//! `tests/fixtures/upgrade/` holds the databases one release wrote
//! (`sqlite.db`, and `postgres.sql` from `pg_dump --inserts`) and
//! `expected.json`, what is in them; scripts/upgrade-fixture.sh writes
//! them, once per release. Each is migrated by this build (a copy of the
//! SQLite file; the dump run on a fresh PostgreSQL database) and must then
//! hold exactly the data described, and take a new write. Adding a
//! release's fixture needs no code here.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use sqlx::Connection as _;
use tasksync_core::{ChangeOp, Cursor, NewTask, TaskId, TaskTitle};
use tasksync_store::testing::TestDatabase;
use tasksync_store::{ConnectOptions, Store, TaskWrite};

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/fixtures/upgrade")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no fixture in {}", root.display());
    dirs
}

fn expected(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("expected.json is JSON")
}

async fn open(url: String) -> Arc<dyn Store> {
    let store = tasksync_store::connect(&ConnectOptions {
        url,
        ..ConnectOptions::default()
    })
    .await
    .expect("connect");
    store
        .migrate()
        .await
        .expect("the release's database migrates");
    store
}

fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

fn op(text: &str) -> ChangeOp {
    match text {
        "create" => ChangeOp::Create,
        "update" => ChangeOp::Update,
        "delete" => ChangeOp::Delete,
        other => panic!("unknown op {other}"),
    }
}

/// Checks a migrated fixture against its expected.json: users, tasks and
/// tombstones, the change log (order and sequence numbers) and the cursors
/// clients held, sessions; then a write.
async fn check(store: &Arc<dyn Store>, expected: &Value, backend: &str, what: &str) {
    let users = store.list_users().await.expect("users");
    let wanted = expected["users"].as_array().expect("users");
    assert_eq!(users.len(), wanted.len(), "{what}: the users");
    let revoked = store.sessions_revoked_since(0).await.expect("revoked");
    assert_eq!(
        revoked.len() as u64,
        expected["revoked_sessions"]
            .as_u64()
            .expect("revoked_sessions"),
        "{what}: ended sessions"
    );
    for want in wanted {
        let email = str_of(want, "email");
        let user = users
            .iter()
            .find(|u| u.email.as_str() == email)
            .unwrap_or_else(|| panic!("{what}: no user {email}"));
        let me = format!("{what}: {email}");
        assert_eq!(Some(user.confirmed), want["confirmed"].as_bool(), "{me}");
        assert_eq!(Some(user.disabled), want["disabled"].as_bool(), "{me}");
        assert!(
            user.password_hash.starts_with("$argon2id$"),
            "{me}: a password hash"
        );

        // Every account of before lists has its personal list, and only it.
        let lists = store.lists(user.id).await.expect("lists");
        assert_eq!(lists.len(), 1, "{me}: the personal list");
        assert!(lists[0].list.personal && lists[0].list.id.as_uuid() == user.id.as_uuid());
        assert_eq!(lists[0].members.len(), 1, "{me}: its owner");
        let head = want["head"].as_i64().expect("head");
        assert_eq!(store.head(user.id).await.expect("head"), head, "{me}");
        let log: Vec<(i64, String, ChangeOp)> = store
            .changes_after(user.id, 0, 10_000)
            .await
            .expect("changes")
            .into_iter()
            .map(|c| (c.seq, c.task().expect("a task").id.to_string(), c.op))
            .collect();
        let want_log: Vec<(i64, String, ChangeOp)> = want["log"]
            .as_array()
            .expect("log")
            .iter()
            .map(|c| {
                (
                    c["seq"].as_i64().expect("seq"),
                    str_of(c, "task").to_owned(),
                    op(str_of(c, "op")),
                )
            })
            .collect();
        assert_eq!(log, want_log, "{me}: the change log");

        for task in want["tasks"].as_array().expect("tasks") {
            let id = TaskId::parse(str_of(task, "id")).expect("task id");
            let got = store
                .task(user.id, id)
                .await
                .expect("task")
                .unwrap_or_else(|| panic!("{me}: no task {id}"));
            assert_eq!(got.owner, user.id, "{me}");
            assert_eq!(
                got.list_id,
                tasksync_core::ListId::personal(user.id),
                "{me}: a task of before lists is in its owner's personal list"
            );
            assert_eq!(got.title, str_of(task, "title"), "{me}: {id}");
            assert_eq!(
                got.description.as_deref(),
                task["description"].as_str(),
                "{me}: {id}"
            );
            assert_eq!(Some(got.done), task["done"].as_bool(), "{me}: {id}");
            assert_eq!(Some(got.version), task["version"].as_i64(), "{me}: {id}");
            assert_eq!(Some(got.deleted), task["deleted"].as_bool(), "{me}: {id}");
        }
        let live: Vec<String> = store
            .tasks_page(user.id, None, 1000, usize::MAX)
            .await
            .expect("page")
            .iter()
            .map(|t| t.id.to_string())
            .collect();
        let want_live: Vec<&str> = want["live"]
            .as_array()
            .expect("live")
            .iter()
            .map(|v| v.as_str().expect("id"))
            .collect();
        assert_eq!(live, want_live, "{me}: the live tasks, oldest first");

        // A client's cursor from before the upgrade still names this scope
        // and resumes where it was.
        if let Some(text) = want["cursors"][backend].as_str() {
            let cursor = Cursor::decode(text).expect("a cursor");
            assert_eq!(cursor.scope, user.id, "{me}: the cursor's scope");
            assert!(cursor.seq <= head, "{me}");
            let after = store
                .changes_after(user.id, cursor.seq, 10_000)
                .await
                .expect("changes");
            assert_eq!(
                after.iter().map(|c| c.seq).collect::<Vec<_>>(),
                ((cursor.seq + 1)..=head).collect::<Vec<_>>(),
                "{me}: resuming from the cursor"
            );
        }

        let ended = store
            .revoke_user_sessions(user.id, i64::MAX / 2)
            .await
            .expect("sessions");
        assert_eq!(
            ended.len() as u64,
            want["active_sessions"].as_u64().expect("active_sessions"),
            "{me}: active sessions"
        );
        for id in ended {
            let session = store.session(id).await.expect("session").expect("exists");
            assert_eq!(session.user_id, user.id, "{me}");
        }
    }
    assert!(
        !store.signing_keys().await.expect("keys").is_empty(),
        "{what}: the signing key"
    );

    // The migrated database takes a write, numbered after the old log.
    let first = str_of(&wanted[0], "email");
    let alice = users
        .iter()
        .find(|u| u.email.as_str() == first)
        .expect("the first user");
    let head = store.head(alice.id).await.expect("head");
    let written = store
        .write_task(
            alice.id,
            TaskWrite::Create(NewTask {
                id: TaskId::new(),
                list: None,
                title: TaskTitle::parse("written after the upgrade").expect("title"),
                description: None,
                done: false,
            }),
            i64::MAX / 4,
        )
        .await
        .expect("a write after the upgrade");
    assert_eq!(
        written.change.expect("a change").seq,
        head + 1,
        "{what}: the next seq"
    );
    let status = store.schema().await.expect("schema");
    assert!(
        status.pending().is_empty() && status.unknown().is_empty(),
        "{what}: fully migrated: {status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_released_sqlite_database_migrates_with_its_data() {
    for dir in fixtures() {
        let what = format!("{} (SQLite)", dir.display());
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("tasksync.db");
        std::fs::copy(dir.join("sqlite.db"), &path).expect("copy the fixture");
        let store = open(format!("sqlite://{}", path.display())).await;
        check(&store, &expected(&dir), "sqlite", &what).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_released_postgres_database_migrates_with_its_data() {
    for dir in fixtures() {
        let what = format!("{} (PostgreSQL)", dir.display());
        let Some(db) = TestDatabase::create().await else {
            return;
        };
        let dump = std::fs::read_to_string(dir.join("postgres.sql")).expect("postgres.sql");
        {
            let mut conn = sqlx::PgConnection::connect(db.url())
                .await
                .expect("connect");
            sqlx::raw_sql(sqlx::AssertSqlSafe(dump))
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{what}: loading the dump: {e}"));
        }
        let store = open(db.url().to_owned()).await;
        check(&store, &expected(&dir), "postgres", &what).await;
    }
}

/// Every fixture directory has its three files, small, and is named for
/// the release its expected.json names. (A fixture is the data its release
/// wrote: never regenerate an old release's directory with a newer binary.)
#[test]
fn each_fixture_is_complete_and_small() {
    for dir in fixtures() {
        for file in ["sqlite.db", "postgres.sql", "expected.json"] {
            let bytes = std::fs::metadata(dir.join(file))
                .unwrap_or_else(|e| panic!("{}: {file}: {e}", dir.display()))
                .len();
            assert!(
                bytes < 256 * 1024,
                "{}: {file} is {bytes} bytes; keep fixtures small",
                dir.display()
            );
        }
        let release = expected(&dir)["release"].as_str().map(str::to_owned);
        assert_eq!(
            release.as_deref(),
            dir.file_name().and_then(|n| n.to_str()),
            "expected.json names its release"
        );
    }
}
