//! What only the PostgreSQL adapter has to prove: commit order under
//! concurrent transactions, migrations by nodes starting at once, and the
//! wake-ups between nodes, including after the listening connection dies.
//! Each test uses a fresh database (`tasksync_store::testing`).

use std::sync::Arc;
use std::time::Duration;

use tasksync_core::{Email, NewTask, TaskId, TaskPatch, TaskTitle, UserId};
use tasksync_store::testing::TestDatabase;
use tasksync_store::{ConnectOptions, PgStore, Store, TaskWrite, UserRecord};

async fn node(db: &TestDatabase) -> PgStore {
    PgStore::connect(&ConnectOptions {
        url: db.url().to_owned(),
        ..ConnectOptions::default()
    })
    .await
    .expect("connect")
}

async fn user(store: &PgStore) -> UserId {
    let id = UserId::new();
    store
        .create_user(&UserRecord {
            id,
            email: Email::parse(&format!("{}@example.com", id.as_uuid().simple())).expect("email"),
            password_hash: "x".into(),
            confirmed: true,
            disabled: false,
            created_at: 0,
        })
        .await
        .expect("user");
    id
}

fn create(title: &str) -> TaskWrite {
    TaskWrite::Create(NewTask {
        id: TaskId::new(),
        list: None,
        title: TaskTitle::parse(title).expect("title"),
        description: None,
        done: false,
    })
}

/// Backends of this database waiting for a lock.
async fn lock_waiters(store: &PgStore) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .fetch_one(store.pool())
    .await
    .expect("pg_stat_activity")
}

/// A scope's log is gapless and in commit order, even for the out-of-order
/// commit: transaction A takes seq N and is slow to commit; transaction B, of
/// the same scope, comes later. With a global sequence B would take N+1,
/// commit first, and a tailer could read N+1 and move past N before N exists.
/// Here B cannot take a number until A has committed: it waits on the scope's
/// row lock. So while A is open a tailer sees neither; after A commits it
/// sees N, then N+1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_write_cannot_commit_before_an_earlier_one_of_its_scope() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = node(&db).await;
    store.migrate().await.expect("migrate");
    let owner = user(&store).await;
    let first = store
        .write_task(owner, create("before"), 1)
        .await
        .expect("seq 1");
    let task = first.task.id;

    // A: takes seq 2 and holds its transaction open.
    let mut a = store.pool().begin().await.expect("begin A");
    let update = TaskWrite::Update(TaskPatch {
        id: task,
        list: None,
        expected_version: Some(1),
        title: Some(TaskTitle::parse("by A").expect("title")),
        description: None,
        done: None,
    });
    let written_a = store
        .write_in(&mut a, owner, &update, 2)
        .await
        .expect("A's write");
    assert_eq!(written_a.change.as_ref().map(|c| c.seq), Some(2));

    // B: a write of the same scope through the normal path.
    let b = {
        let store = store.clone();
        tokio::spawn(async move { store.write_task(owner, create("by B"), 3).await })
    };
    // B is blocked on a lock, not merely slow: wait until PostgreSQL says so.
    let mut waited = 0;
    while lock_waiters(&store).await < 1 {
        waited += 1;
        assert!(waited < 500, "B never waited for A's lock");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!b.is_finished(), "B finished while A held the scope");
    // A tailer in the meantime sees neither N nor N+1.
    let seen = store.changes_after(owner, 1, 100).await.expect("tail");
    assert!(seen.is_empty(), "nothing after 1 is visible: {seen:?}");
    assert_eq!(store.head(owner).await.expect("head"), 1);

    a.commit().await.expect("commit A");
    let written_b = b.await.expect("join").expect("B's write");
    assert_eq!(written_b.change.as_ref().map(|c| c.seq), Some(3));
    let seqs: Vec<i64> = store
        .changes_after(owner, 1, 100)
        .await
        .expect("tail")
        .iter()
        .map(|c| c.seq)
        .collect();
    assert_eq!(seqs, vec![2, 3], "N, then N+1");
}

/// The same with A rolled back: its number is given back and B takes it,
/// so the log stays gapless.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_write_leaves_no_gap() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = node(&db).await;
    store.migrate().await.expect("migrate");
    let owner = user(&store).await;
    let mut a = store.pool().begin().await.expect("begin A");
    let taken = store
        .write_in(&mut a, owner, &create("never"), 1)
        .await
        .expect("A's write");
    assert_eq!(taken.change.as_ref().map(|c| c.seq), Some(1));
    let b = {
        let store = store.clone();
        tokio::spawn(async move { store.write_task(owner, create("kept"), 2).await })
    };
    while lock_waiters(&store).await < 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a.rollback().await.expect("roll back A");
    let written_b = b.await.expect("join").expect("B's write");
    assert_eq!(written_b.change.as_ref().map(|c| c.seq), Some(1));
    let log = store.changes_after(owner, 0, 10).await.expect("log");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].task().expect("a task").title, "kept");
}

/// Several nodes starting at once on an empty database: every one migrates
/// without error and the schema is there once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_at_once_migrate_safely() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let mut nodes = Vec::new();
    for _ in 0..4 {
        let url = db.url().to_owned();
        nodes.push(tokio::spawn(async move {
            let store = tasksync_store::connect(&ConnectOptions {
                url,
                max_connections: 2,
                ..ConnectOptions::default()
            })
            .await
            .expect("connect");
            store.migrate().await.expect("migrate");
        }));
    }
    for n in nodes {
        n.await.expect("node");
    }
    let store = node(&db).await;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(store.pool())
        .await
        .expect("migrations table");
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .expect("migrations")
        .count();
    assert_eq!(
        applied,
        i64::try_from(files).expect("few"),
        "each migration once"
    );
    let owner = user(&store).await;
    store
        .write_task(owner, create("works"), 1)
        .await
        .expect("write");
}

/// A database configured with `synchronous_commit = off` would acknowledge
/// writes a server crash can still lose: the store turns it back on for
/// every connection of its pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_are_synchronous_even_where_the_database_turns_it_off() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    {
        let setup = node(&db).await;
        sqlx::query(sqlx::AssertSqlSafe(
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET synchronous_commit = off', current_database()); END $$",
        ))
        .execute(setup.pool())
        .await
        .expect("alter database");
        setup.pool().close().await;
    }
    let mut plain = <sqlx::PgConnection as sqlx::Connection>::connect(db.url())
        .await
        .expect("plain connection");
    let configured: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(&mut plain)
        .await
        .expect("show");
    assert_eq!(configured, "off", "the database's own setting took effect");

    let store = node(&db).await;
    // Every connection of the pool, not only the first.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut conn = store.pool().acquire().await.expect("acquire");
        let setting: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(&mut *conn)
            .await
            .expect("show");
        assert_eq!(setting, "on");
        held.push(conn);
    }
}

async fn notice_for(
    rx: &mut tokio::sync::broadcast::Receiver<tasksync_store::CommitNotice>,
    scope: UserId,
) -> tasksync_store::CommitNotice {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let notice = rx.recv().await.expect("notice");
            if notice.scope == scope {
                return notice;
            }
        }
    })
    .await
    .expect("a notice within 10 s")
}

/// A commit on one node wakes the other: node A hears of node B's write (a
/// bare wake-up, without changes), and of its own only locally (with the
/// changes). After its listening connection is terminated by the server,
/// A listens again on its own and signals a resync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_nodes_commits_wake_this_node_also_after_the_listener_is_killed() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let a = Arc::new(node(&db).await);
    let b = node(&db).await;
    a.migrate().await.expect("migrate");
    let owner = user(&b).await;
    let mut notices = a.commits();
    let mut resyncs = a.resyncs().expect("PostgreSQL signals resyncs");
    // The listener's first LISTEN is itself a resync point.
    tokio::time::timeout(Duration::from_secs(10), resyncs.changed())
        .await
        .expect("listening")
        .expect("resyncs open");

    let written = b.write_task(owner, create("from B"), 1).await.expect("B");
    let notice = notice_for(&mut notices, owner).await;
    assert_eq!(notice.seq, written.change.expect("change").seq);
    assert!(
        notice.committed.is_none(),
        "another node's commit is read from the log"
    );

    let own = a.write_task(owner, create("from A"), 2).await.expect("A");
    let notice = notice_for(&mut notices, owner).await;
    assert_eq!(Some(notice.seq), own.change.map(|c| c.seq));
    assert!(
        notice.committed.is_some(),
        "own commits carry their changes"
    );

    // The server ends A's listening connection.
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = $1) t",
    )
    .bind(tasksync_store::postgres::LISTENER_APPLICATION_NAME)
    .fetch_one(b.pool())
    .await
    .expect("terminate");
    assert_eq!(killed, 1, "one listening connection");
    // Written while (perhaps) nobody listens: covered by the resync.
    let during = b
        .write_task(owner, create("meanwhile"), 3)
        .await
        .expect("B");
    tokio::time::timeout(Duration::from_secs(10), resyncs.changed())
        .await
        .expect("listening again within 10 s")
        .expect("resyncs open");
    assert!(
        a.head(owner).await.expect("head") >= during.change.expect("change").seq,
        "a resync reads the log, which has the change"
    );
    // And wake-ups flow again.
    let after = b.write_task(owner, create("after"), 4).await.expect("B");
    let want = after.change.expect("change").seq;
    loop {
        let notice = notice_for(&mut notices, owner).await;
        if notice.seq == want {
            break;
        }
    }
}

/// Two owners create a task with the same client-chosen id at once: the
/// second one's batch sees no such task, then finds the id taken when the
/// first commits. It is refused with ID taken, writes nothing, and the
/// writes batched with it are unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_racing_another_owners_create_of_the_same_id_is_refused_cleanly() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = node(&db).await;
    store.migrate().await.expect("migrate");
    let (first, second) = (user(&store).await, user(&store).await);
    let same = TaskWrite::Create(NewTask {
        id: TaskId::new(),
        list: None,
        title: TaskTitle::parse("mine").expect("title"),
        description: None,
        done: false,
    });
    let mut a = store.pool().begin().await.expect("begin A");
    store
        .write_in(&mut a, first, &same, 1)
        .await
        .expect("first owner's create");
    let racing = {
        let (store, same) = (store.clone(), same.clone());
        tokio::spawn(async move { store.write_task(second, same, 2).await })
    };
    while lock_waiters(&store).await < 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a.commit().await.expect("commit A");
    let refused = racing.await.expect("join");
    assert!(
        matches!(
            refused,
            Err(tasksync_store::TaskWriteError::Rejected(
                tasksync_core::WriteRejection::IdTaken
            ))
        ),
        "{refused:?}"
    );
    assert_eq!(store.head(second).await.expect("head"), 0, "nothing logged");
    assert!(
        store
            .changes_after(second, 0, 10)
            .await
            .expect("log")
            .is_empty()
    );
    // The second owner's next write takes seq 1: no number was used up.
    let next = store
        .write_task(second, create("next"), 3)
        .await
        .expect("write");
    assert_eq!(next.change.map(|c| c.seq), Some(1));
}
