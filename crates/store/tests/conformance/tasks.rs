//! Tasks and the change log.

use std::sync::Arc;

use crate::user;

use tasksync_core::{
    ChangeOp, NewTask, Task, TaskDescription, TaskId, TaskPatch, TaskTitle, UserId, WriteRejection,
};
use tasksync_store::{CommitNotice, Store, TaskWrite, TaskWriteError, Written};

fn new_task(title: &str) -> NewTask {
    NewTask {
        id: TaskId::new(),
        list: None,
        title: TaskTitle::parse(title).expect("title"),
        description: None,
        done: false,
    }
}

/// The task a change is about (every change of these tests is).
fn task_of(c: &tasksync_core::Change) -> &tasksync_core::Task {
    c.task().expect("a change of a task")
}

fn patch(id: TaskId, expected: Option<i64>) -> TaskPatch {
    TaskPatch {
        id,
        list: None,
        expected_version: expected,
        title: None,
        description: None,
        done: None,
    }
}

async fn write(
    store: &Arc<dyn Store>,
    owner: UserId,
    w: TaskWrite,
) -> Result<Written, TaskWriteError> {
    store.write_task(owner, w, 1_000).await
}

fn rejection(r: Result<Written, TaskWriteError>) -> WriteRejection {
    match r {
        Err(TaskWriteError::Rejected(rej)) => rej,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

pub async fn each_write_appends_exactly_one_change_with_the_next_seq(store: Arc<dyn Store>) {
    let owner = user(&store).await;
    let t = new_task("write me");
    let created = write(&store, owner, TaskWrite::Create(t.clone()))
        .await
        .expect("create");
    let p = TaskPatch {
        done: Some(true),
        description: Some(Some(TaskDescription::parse("d").expect("d"))),
        ..patch(t.id, Some(1))
    };
    let updated = write(&store, owner, TaskWrite::Update(p))
        .await
        .expect("update");
    let deleted = write(
        &store,
        owner,
        TaskWrite::Delete {
            id: t.id,
            expected_version: Some(2),
        },
    )
    .await
    .expect("delete");

    let changes = store.changes_after(owner, 0, 100).await.expect("changes");
    let seen: Vec<(i64, ChangeOp, i64)> = changes
        .iter()
        .map(|c| (c.seq, c.op, task_of(c).version))
        .collect();
    assert_eq!(
        seen,
        [
            (1, ChangeOp::Create, 1),
            (2, ChangeOp::Update, 2),
            (3, ChangeOp::Delete, 3)
        ]
    );
    for (c, w) in changes.iter().zip([&created, &updated, &deleted]) {
        assert_eq!(
            Some(c),
            w.change.as_ref(),
            "the returned change is the logged one"
        );
        assert_eq!(task_of(c), &w.task, "the log holds the task's new image");
        assert_eq!(c.scope, owner);
    }
    assert!(deleted.task.deleted && deleted.task.description.as_deref() == Some("d"));
    assert_eq!(store.head(owner).await.expect("head"), 3);
    assert_eq!(
        store
            .changes_after(owner, 2, 100)
            .await
            .expect("tail")
            .len(),
        1
    );
    assert_eq!(
        store.task(owner, t.id).await.expect("read"),
        Some(deleted.task)
    );
}

pub async fn refused_writes_append_nothing_and_change_nothing(store: Arc<dyn Store>) {
    let (owner, other) = (user(&store).await, user(&store).await);
    let t = new_task("keep me");
    let created = write(&store, owner, TaskWrite::Create(t.clone()))
        .await
        .expect("create");
    let stale = TaskPatch {
        done: Some(true),
        ..patch(t.id, Some(7))
    };
    match rejection(write(&store, owner, TaskWrite::Update(stale)).await) {
        WriteRejection::Conflict(current) => {
            assert_eq!(*current, created.task, "conflict carries the current task")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        rejection(write(&store, owner, TaskWrite::Update(patch(TaskId::new(), None))).await),
        WriteRejection::NotFound
    );
    assert_eq!(
        rejection(write(&store, other, TaskWrite::Update(patch(t.id, None))).await),
        WriteRejection::NotFound,
        "another owner's task"
    );
    assert_eq!(
        rejection(
            write(
                &store,
                other,
                TaskWrite::Delete {
                    id: t.id,
                    expected_version: None
                }
            )
            .await
        ),
        WriteRejection::NotFound
    );
    assert!(matches!(
        rejection(
            write(
                &store,
                owner,
                TaskWrite::Delete {
                    id: t.id,
                    expected_version: Some(9)
                }
            )
            .await
        ),
        WriteRejection::Conflict(_)
    ));
    let noop = write(
        &store,
        owner,
        TaskWrite::Update(TaskPatch {
            done: Some(false),
            ..patch(t.id, Some(1))
        }),
    )
    .await
    .expect("no-op");
    assert_eq!(
        (noop.change, noop.task.version),
        (None, 1),
        "a patch that changes nothing logs nothing"
    );

    assert_eq!(
        store.head(owner).await.expect("head"),
        1,
        "only the create was logged"
    );
    assert_eq!(store.head(other).await.expect("head"), 0);
    assert_eq!(
        store.task(owner, t.id).await.expect("read"),
        Some(created.task)
    );
    assert_eq!(
        store.task(other, t.id).await.expect("read"),
        None,
        "reads are scoped by owner"
    );
}

pub async fn creating_with_a_known_id_is_a_retry_only_with_the_same_content(store: Arc<dyn Store>) {
    let (owner, other) = (user(&store).await, user(&store).await);
    let t = new_task("once");
    let first = write(&store, owner, TaskWrite::Create(t.clone()))
        .await
        .expect("create");
    let retry = write(&store, owner, TaskWrite::Create(t.clone()))
        .await
        .expect("retry");
    assert_eq!(
        (retry.task, retry.change),
        (first.task.clone(), None),
        "a retry returns the task and logs nothing"
    );

    let different = NewTask {
        done: true,
        ..t.clone()
    };
    assert_eq!(
        rejection(write(&store, owner, TaskWrite::Create(different)).await),
        WriteRejection::IdTaken
    );
    assert_eq!(
        rejection(write(&store, other, TaskWrite::Create(t.clone())).await),
        WriteRejection::IdTaken,
        "another owner's id"
    );

    write(
        &store,
        owner,
        TaskWrite::Update(TaskPatch {
            done: Some(true),
            ..patch(t.id, None)
        }),
    )
    .await
    .expect("update");
    let late_retry = write(&store, owner, TaskWrite::Create(t.clone()))
        .await
        .expect("late retry");
    assert_eq!(
        (late_retry.task.version, late_retry.change),
        (2, None),
        "recognised by the create's own image"
    );
    assert_eq!(store.head(owner).await.expect("head"), 2);
    assert_eq!(store.head(other).await.expect("head"), 0);
}

/// Writes of one task sent at once (so a group-committing writer takes
/// them into one batch) behave exactly as if sent one by one: each sees
/// what the earlier ones did, including a create, a conflict, a delete and
/// a create retried after it.
pub async fn writes_of_one_task_in_one_batch_see_each_other(store: Arc<dyn Store>) {
    let owner = user(&store).await;
    let x = new_task("x");
    let y = new_task("y");
    let titled = |id, expected, title: &str| {
        TaskWrite::Update(TaskPatch {
            title: Some(TaskTitle::parse(title).expect("title")),
            ..patch(id, expected)
        })
    };
    let writes = vec![
        TaskWrite::Create(x.clone()),
        titled(x.id, Some(1), "x2"),
        titled(x.id, Some(1), "stale"),
        TaskWrite::Create(y.clone()),
        TaskWrite::Delete {
            id: x.id,
            expected_version: Some(2),
        },
        titled(x.id, None, "after delete"),
        TaskWrite::Create(x.clone()),
        TaskWrite::Create(NewTask {
            title: TaskTitle::parse("other").expect("title"),
            ..y.clone()
        }),
        titled(y.id, Some(1), "y2"),
        titled(y.id, None, "y2"),
    ];
    // Polled in order on the first poll, so they reach the store in order.
    let results =
        futures_util::future::join_all(writes.into_iter().map(|w| write(&store, owner, w))).await;
    let mut results = results.into_iter();
    let mut next = || results.next().expect("a result");

    let created = next().expect("create x");
    assert_eq!((created.task.version, seq_of(&created)), (1, Some(1)));
    let updated = next().expect("update x");
    assert_eq!((updated.task.version, seq_of(&updated)), (2, Some(2)));
    assert_eq!(updated.task.title, "x2");
    match rejection(next()) {
        WriteRejection::Conflict(current) => assert_eq!(current.version, 2, "sees the update"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let created_y = next().expect("create y");
    assert_eq!(seq_of(&created_y), Some(3));
    let stone = next().expect("delete x");
    assert!(stone.task.deleted);
    assert_eq!((stone.task.version, seq_of(&stone)), (3, Some(4)));
    assert_eq!(rejection(next()), WriteRejection::NotFound, "x is deleted");
    let retried = next().expect("create x again: a retry");
    assert_eq!(seq_of(&retried), None, "a retry logs nothing");
    assert!(retried.task.deleted, "and returns the task as it is");
    assert_eq!(
        rejection(next()),
        WriteRejection::IdTaken,
        "y with other content"
    );
    let updated_y = next().expect("update y");
    assert_eq!((updated_y.task.version, seq_of(&updated_y)), (2, Some(5)));
    let same = next().expect("the same update again");
    assert_eq!(
        seq_of(&same),
        None,
        "a patch equal to the task is no change"
    );

    let log = store.changes_after(owner, 0, 100).await.expect("log");
    let ops: Vec<(i64, ChangeOp, TaskId)> =
        log.iter().map(|c| (c.seq, c.op, task_of(c).id)).collect();
    assert_eq!(
        ops,
        vec![
            (1, ChangeOp::Create, x.id),
            (2, ChangeOp::Update, x.id),
            (3, ChangeOp::Create, y.id),
            (4, ChangeOp::Delete, x.id),
            (5, ChangeOp::Update, y.id),
        ]
    );
    assert_eq!(store.task(owner, x.id).await.expect("x"), Some(stone.task));
    assert_eq!(
        store.task(owner, y.id).await.expect("y"),
        Some(updated_y.task)
    );
    let synced = store
        .changed_tasks(owner, 0, 5, 10, usize::MAX)
        .await
        .expect("delta");
    let last: Vec<(TaskId, i64)> = synced.iter().map(|s| (s.task.id, s.last_seq)).collect();
    assert_eq!(
        last,
        vec![(x.id, 4), (y.id, 5)],
        "each task's latest change"
    );
}

fn seq_of(written: &Written) -> Option<i64> {
    written.change.as_ref().map(|c| c.seq)
}

pub async fn sequences_are_per_scope(store: Arc<dyn Store>) {
    let (a, b) = (user(&store).await, user(&store).await);
    for owner in [a, b, a] {
        write(&store, owner, TaskWrite::Create(new_task("x")))
            .await
            .expect("create");
    }
    let seqs = |v: Vec<tasksync_core::Change>| v.into_iter().map(|c| c.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs(store.changes_after(a, 0, 10).await.expect("a")),
        [1, 2]
    );
    assert_eq!(seqs(store.changes_after(b, 0, 10).await.expect("b")), [1]);
}

pub async fn sequences_have_no_gaps_under_eight_concurrent_writers(store: Arc<dyn Store>) {
    let owner = user(&store).await;
    let per_writer = 40;
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let t = new_task(&format!("writer {w}"));
                write(&store, owner, TaskWrite::Create(t.clone()))
                    .await
                    .expect("create");
                for i in 1..per_writer {
                    // Every other write is refused (stale version): refusals
                    // interleaved with successes must not leave gaps.
                    let stale = TaskPatch {
                        done: Some(i % 2 == 0),
                        ..patch(t.id, Some(0))
                    };
                    assert!(
                        write(&store, owner, TaskWrite::Update(stale))
                            .await
                            .is_err()
                    );
                    let p = TaskPatch {
                        title: Some(TaskTitle::parse(&format!("w{w} #{i}")).expect("t")),
                        ..patch(t.id, Some(i64::from(i)))
                    };
                    write(&store, owner, TaskWrite::Update(p))
                        .await
                        .expect("update");
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    let total = 8 * i64::from(per_writer);
    let changes = store.changes_after(owner, 0, 1000).await.expect("changes");
    let seqs: Vec<i64> = changes.iter().map(|c| c.seq).collect();
    assert_eq!(
        seqs,
        (1..=total).collect::<Vec<_>>(),
        "1, 2, 3, … with no gap"
    );
    assert_eq!(store.head(owner).await.expect("head"), total);
    let mut last_version = std::collections::HashMap::new();
    for c in &changes {
        let prev = last_version
            .insert(task_of(c).id, task_of(c).version)
            .unwrap_or(0);
        assert_eq!(
            task_of(c).version,
            prev + 1,
            "each task's versions appear in log order"
        );
    }
}

pub async fn of_sixteen_concurrent_updates_with_one_expected_version_exactly_one_wins(
    store: Arc<dyn Store>,
) {
    let owner = user(&store).await;
    let t = new_task("contended");
    write(&store, owner, TaskWrite::Create(t.clone()))
        .await
        .expect("create");
    let head = store.head(owner).await.expect("head");
    let racers: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            let p = TaskPatch {
                title: Some(TaskTitle::parse(&format!("racer {i}")).expect("t")),
                ..patch(t.id, Some(1))
            };
            tokio::spawn(async move { write(&store, owner, TaskWrite::Update(p)).await })
        })
        .collect();
    let (mut won, mut conflicts) = (0, 0);
    for r in racers {
        match r.await.expect("join") {
            Ok(w) => {
                assert_eq!(w.task.version, 2);
                won += 1;
            }
            Err(TaskWriteError::Rejected(WriteRejection::Conflict(current))) => {
                assert_eq!(current.version, 2, "the conflict shows the winner's task");
                conflicts += 1;
            }
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!((won, conflicts), (1, 15));
    assert_eq!(
        store.head(owner).await.expect("head"),
        head + 1,
        "exactly one new change-log row"
    );
}

pub async fn the_live_listing_is_oldest_first_and_hides_tombstones(store: Arc<dyn Store>) {
    let owner = user(&store).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let t = new_task(&format!("t{i}"));
        store
            .write_task(owner, TaskWrite::Create(t.clone()), 100 + i)
            .await
            .expect("create");
        ids.push(t.id);
    }
    store
        .write_task(
            owner,
            TaskWrite::Delete {
                id: ids[3],
                expected_version: None,
            },
            200,
        )
        .await
        .expect("delete");
    let mut seen: Vec<Task> = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .tasks_page(owner, after, 2, usize::MAX)
            .await
            .expect("page");
        if page.is_empty() {
            break;
        }
        after = page.last().map(|t| (t.created_at, t.id));
        seen.extend(page);
    }
    let want: Vec<TaskId> = ids.iter().copied().filter(|id| *id != ids[3]).collect();
    assert_eq!(seen.iter().map(|t| t.id).collect::<Vec<_>>(), want);
    assert!(
        store
            .tasks_page(user(&store).await, None, 100, usize::MAX)
            .await
            .expect("page")
            .is_empty(),
        "other scopes see nothing"
    );
}

/// Changes per writer in the tailing test (the issue asks for 10,000).
const CHANGES_PER_WRITER: usize = 10_000;
const WRITERS: usize = 8;

/// A scope's log is gapless and in commit order, under load: 8 writers make
/// 10,000 changes each in one scope, pausing at random, while a tailer reads
/// the log the way the feed does (after its cursor, in pages). The tailer
/// must see every acknowledged change exactly once, with seqs 1, 2, 3, … and
/// never a gap that later fills in (it checks each page continues its
/// cursor).
pub async fn a_tailer_sees_every_change_once_in_order_under_eight_writers(store: Arc<dyn Store>) {
    let owner = user(&store).await;
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        let done = done.clone();
        writers.push(tokio::spawn(async move {
            // A small deterministic generator per writer for the pauses.
            let mut state = 0x9e37_79b9_7f4a_7c15_u64 ^ (w as u64 + 1);
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            let t = new_task(&format!("writer {w}"));
            let mut acked = vec![
                write(&store, owner, TaskWrite::Create(t.clone()))
                    .await
                    .expect("create")
                    .change
                    .expect("a change"),
            ];
            for i in 1..CHANGES_PER_WRITER {
                if next() % 32 == 0 {
                    tokio::time::sleep(std::time::Duration::from_micros(next() % 2_000)).await;
                }
                let p = TaskPatch {
                    title: Some(TaskTitle::parse(&format!("writer {w} #{i}")).expect("title")),
                    ..patch(t.id, Some(i as i64))
                };
                let written = write(&store, owner, TaskWrite::Update(p))
                    .await
                    .expect("update");
                acked.push(written.change.expect("a change"));
            }
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            acked
        }));
    }
    let tailer = {
        let store = store.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut cursor = 0;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst) == WRITERS;
                let page = store.changes_after(owner, cursor, 500).await.expect("read");
                for change in &page {
                    assert_eq!(change.seq, cursor + 1, "the log skipped or repeated a seq");
                    cursor = change.seq;
                }
                let empty = page.is_empty();
                seen.extend(page);
                if empty {
                    if finished {
                        return seen;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
        })
    };
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.expect("writer"));
    }
    let seen = tailer.await.expect("tailer");
    let total = WRITERS * CHANGES_PER_WRITER;
    assert_eq!(acked.len(), total);
    assert_eq!(seen.len(), total, "the tailer saw every change once");
    let mut by_seq: std::collections::HashMap<i64, _> =
        seen.into_iter().map(|c| (c.seq, c)).collect();
    for change in &acked {
        let got = by_seq
            .remove(&change.seq)
            .expect("acknowledged change in the log");
        assert_eq!(&got, change, "the log holds what was acknowledged");
    }
    assert!(by_seq.is_empty(), "nothing unacknowledged in the log");
    assert_eq!(store.head(owner).await.expect("head"), total as i64);
}

/// Retention removes a prefix of each scope's log (and the tombstones it
/// recorded), never a change inside the kept part.
pub async fn retention_trims_a_gapless_prefix_and_moves_the_bounds(store: Arc<dyn Store>) {
    let owner = user(&store).await;
    let other = user(&store).await;
    let gone = new_task("deleted early");
    store
        .write_task(owner, TaskWrite::Create(gone.clone()), 1_000)
        .await
        .expect("create");
    store
        .write_task(
            owner,
            TaskWrite::Delete {
                id: gone.id,
                expected_version: None,
            },
            2_000,
        )
        .await
        .expect("delete");
    let kept = new_task("kept");
    for (i, at) in [3_000, 4_000, 5_000].into_iter().enumerate() {
        let w = if i == 0 {
            TaskWrite::Create(kept.clone())
        } else {
            TaskWrite::Update(TaskPatch {
                done: Some(i % 2 == 1),
                ..patch(kept.id, None)
            })
        };
        store.write_task(owner, w, at).await.expect("write");
    }
    store
        .write_task(other, TaskWrite::Create(new_task("recent")), 9_000)
        .await
        .expect("other scope");

    let removed = store.trim_log(3_500).await.expect("trim");
    assert_eq!(removed, 3, "changes before the horizon");
    let bounds = store.log_bounds(owner).await.expect("bounds");
    assert_eq!((bounds.trimmed_to, bounds.head), (3, 5));
    let left: Vec<i64> = store
        .changes_after(owner, 0, 100)
        .await
        .expect("log")
        .iter()
        .map(|c| c.seq)
        .collect();
    assert_eq!(left, vec![4, 5]);
    assert!(
        store.task(owner, gone.id).await.expect("read").is_none(),
        "the tombstone went with its change"
    );
    assert!(store.task(owner, kept.id).await.expect("read").is_some());
    assert_eq!(store.log_bounds(other).await.expect("bounds").trimmed_to, 0);
    assert_eq!(store.trim_log(3_500).await.expect("again"), 0, "idempotent");
}

/// Pages are bounded by bytes as well as by `limit`: reading stops one row
/// past those that take more than `max_bytes` of answer (so the caller can
/// tell there is more), in the listing and in the delta sync alike.
pub async fn pages_stop_one_row_past_their_bytes(store: Arc<dyn Store>) {
    let owner = user(&store).await;
    for i in 0..5 {
        let mut t = new_task(&format!("b{i}"));
        t.description = Some(TaskDescription::parse(&"d".repeat(1000)).expect("description"));
        store
            .write_task(owner, TaskWrite::Create(t), 100 + i)
            .await
            .expect("create");
    }
    // Each task takes 256 + 2 + 1,000 bytes.
    for (max_bytes, rows) in [(usize::MAX, 5), (1500, 3), (0, 2)] {
        let page = store
            .tasks_page(owner, None, 10, max_bytes)
            .await
            .expect("page");
        assert_eq!(page.len(), rows, "tasks_page within {max_bytes}");
        let synced = store
            .changed_tasks(owner, 0, 5, 10, max_bytes)
            .await
            .expect("delta");
        assert_eq!(synced.len(), rows, "changed_tasks within {max_bytes}");
    }
}

/// The next wake-up call, or a failure after ten seconds.
async fn next_notice(commits: &mut tokio::sync::broadcast::Receiver<CommitNotice>) -> CommitNotice {
    tokio::time::timeout(std::time::Duration::from_secs(10), commits.recv())
        .await
        .expect("a commit notice within 10 s")
        .expect("the commit channel is open and kept up")
}

/// After each commit of task writes a subscriber is woken with the scope,
/// its new head and the changes the commit made; a refused write and a
/// write that changes nothing commit nothing and wake nobody.
pub async fn each_commit_wakes_subscribers_with_its_scope_head_and_changes(store: Arc<dyn Store>) {
    let (owner, other) = (user(&store).await, user(&store).await);
    let mut commits = store.commits();
    let notice_of = |scope, written: &Written| CommitNotice {
        scope,
        seq: seq_of(written).expect("a change"),
        committed: Some(vec![written.change.clone().expect("a change")].into()),
    };

    let t = new_task("notify me");
    let created = write(&store, owner, TaskWrite::Create(t.clone()))
        .await
        .expect("create");
    assert_eq!(
        next_notice(&mut commits).await,
        notice_of(owner, &created),
        "the create's notice"
    );

    rejection(write(&store, owner, TaskWrite::Update(patch(TaskId::new(), None))).await);
    let unchanged = write(
        &store,
        owner,
        TaskWrite::Update(TaskPatch {
            done: Some(false),
            ..patch(t.id, None)
        }),
    )
    .await
    .expect("no-op");
    assert_eq!(unchanged.change, None);
    let updated = write(
        &store,
        owner,
        TaskWrite::Update(TaskPatch {
            done: Some(true),
            ..patch(t.id, Some(1))
        }),
    )
    .await
    .expect("update");
    assert_eq!(
        next_notice(&mut commits).await,
        notice_of(owner, &updated),
        "the next notice is the update's: the refused write and the no-op sent none"
    );

    let theirs = write(&store, other, TaskWrite::Create(new_task("theirs")))
        .await
        .expect("other scope");
    assert_eq!(
        next_notice(&mut commits).await,
        notice_of(other, &theirs),
        "each scope is announced with its own head"
    );
}

/// A store whose wake-up calls can be lost (they come from other nodes over
/// a connection) offers `resyncs` and ticks it once it listens, so tailers
/// read what they may have missed; a store whose commits all happen in
/// this process offers none.
pub async fn resyncs_tick_once_listening_where_notices_can_be_lost(store: Arc<dyn Store>) {
    let Some(mut resyncs) = store.resyncs() else {
        // Nothing can be lost: every notice of this store is sent in this
        // process, with its changes (see the test of `commits` above).
        let _commits = store.commits();
        assert!(store.resyncs().is_none(), "the answer does not change");
        return;
    };
    // Subscribing to the commits starts the listening connection.
    let _commits = store.commits();
    tokio::time::timeout(std::time::Duration::from_secs(10), resyncs.changed())
        .await
        .expect("a resync tick within 10 s of listening")
        .expect("the resync channel is open");
    assert!(
        *resyncs.borrow_and_update() >= 1,
        "the tick counts the listens"
    );
}
