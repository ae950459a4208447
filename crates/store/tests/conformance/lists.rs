//! Shared lists: membership, fan-out on write, move-in and revocation.
//!
//! The check every test ends with is invariant 6 seen from the store: a
//! replica that applies a user's whole log equals exactly what that user
//! may see now (their lists and the live tasks of those lists).

use std::collections::BTreeMap;
use std::sync::Arc;

use tasksync_core::{
    ChangeOp, Email, ListId, ListLimits, ListName, ListRejection, ListRole, ListWrite, NewTask,
    TaskId, TaskPatch, TaskTitle, UserId, WriteRejection,
};
use tasksync_store::{ListWriteError, ListWritten, Store, TaskWrite, TaskWriteError, UserRecord};

const NOW: i64 = 1_000;

async fn account(store: &Arc<dyn Store>, confirmed: bool) -> (UserId, Email) {
    let id = UserId::new();
    let email = Email::parse(&format!("{}@example.com", id.as_uuid().simple())).expect("email");
    store
        .create_user(&UserRecord {
            id,
            email: email.clone(),
            password_hash: "x".into(),
            confirmed,
            disabled: false,
            created_at: 0,
        })
        .await
        .expect("user");
    (id, email)
}

async fn list_write(
    store: &Arc<dyn Store>,
    caller: UserId,
    w: ListWrite,
) -> Result<ListWritten, ListWriteError> {
    store
        .write_list(caller, w, ListLimits::default(), NOW)
        .await
}

async fn new_list(store: &Arc<dyn Store>, owner: UserId, name: &str) -> ListId {
    let id = ListId::new();
    list_write(
        store,
        owner,
        ListWrite::Create {
            id,
            name: ListName::parse(name).expect("name"),
        },
    )
    .await
    .expect("create list");
    id
}

async fn share(store: &Arc<dyn Store>, owner: UserId, list: ListId, email: &Email, role: ListRole) {
    list_write(
        store,
        owner,
        ListWrite::Share {
            id: list,
            email: email.clone(),
            role,
        },
    )
    .await
    .expect("share");
}

async fn add(
    store: &Arc<dyn Store>,
    caller: UserId,
    list: Option<ListId>,
    title: &str,
) -> Result<TaskId, TaskWriteError> {
    let id = TaskId::new();
    store
        .write_task(
            caller,
            TaskWrite::Create(NewTask {
                id,
                list,
                title: TaskTitle::parse(title).expect("title"),
                description: None,
                done: false,
            }),
            NOW,
        )
        .await
        .map(|_| id)
}

fn patch(id: TaskId) -> TaskPatch {
    TaskPatch {
        id,
        expected_version: None,
        list: None,
        title: None,
        description: None,
        done: None,
    }
}

fn list_refused(r: Result<ListWritten, ListWriteError>) -> ListRejection {
    match r {
        Err(ListWriteError::Rejected(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn task_refused<T: std::fmt::Debug>(r: Result<T, TaskWriteError>) -> WriteRejection {
    match r {
        Err(TaskWriteError::Rejected(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A client's copy, built from the user's whole log the way a client
/// that knows lists applies it.
#[derive(Debug, Default, PartialEq)]
struct Replica {
    /// Task id → (list, title, version).
    tasks: BTreeMap<TaskId, (ListId, String, i64)>,
    /// List id → (name, role).
    lists: BTreeMap<ListId, (String, ListRole)>,
}

async fn replica(store: &Arc<dyn Store>, user: UserId) -> Replica {
    let log = store.changes_after(user, 0, 100_000).await.expect("log");
    let mut r = Replica::default();
    // The personal list exists from the start: it is never in the log.
    r.lists.insert(
        ListId::personal(user),
        ("Personal".to_owned(), ListRole::Owner),
    );
    for (expect, c) in (1..).zip(&log) {
        assert_eq!(c.seq, expect, "the log of a user is gapless");
        if let Some(t) = c.task() {
            match c.op {
                ChangeOp::Remove | ChangeOp::Delete => {
                    assert!(t.deleted, "a removal is a tombstone");
                    r.tasks.remove(&t.id);
                }
                _ => {
                    assert!(
                        r.lists.contains_key(&t.list_id),
                        "a task arrives after its list: {c:?}"
                    );
                    r.tasks
                        .insert(t.id, (t.list_id, t.title.clone(), t.version));
                }
            }
        } else if let Some(l) = c.list() {
            match c.op {
                ChangeOp::Remove | ChangeOp::Delete => {
                    assert!(l.list.deleted, "a list removal is a tombstone");
                    assert!(
                        !r.tasks.values().any(|(list, _, _)| *list == l.list.id),
                        "every task of a lost list was removed before it"
                    );
                    r.lists.remove(&l.list.id);
                }
                _ => {
                    r.lists.insert(l.list.id, (l.list.name.clone(), l.role));
                }
            }
        }
    }
    r
}

/// What `user` may see now, read from the store's current state.
async fn truth(store: &Arc<dyn Store>, user: UserId) -> Replica {
    let mut r = Replica::default();
    for v in store.lists(user).await.expect("lists") {
        r.lists.insert(v.list.id, (v.list.name.clone(), v.role));
    }
    for t in store
        .tasks_page(user, None, 10_000, usize::MAX)
        .await
        .expect("tasks")
    {
        r.tasks
            .insert(t.id, (t.list_id, t.title.clone(), t.version));
    }
    r
}

/// Only lists created through the log are in a replica; the personal list
/// exists from the start (it is in `lists`, never in the log).
async fn assert_view(store: &Arc<dyn Store>, user: UserId) {
    let mut seen = replica(store, user).await;
    let mut now = truth(store, user).await;
    now.lists.retain(|id, _| id.as_uuid() != user.as_uuid());
    seen.lists.retain(|id, _| id.as_uuid() != user.as_uuid());
    assert_eq!(
        seen, now,
        "the replica of {user} is exactly what they may see"
    );
}

pub async fn sharing_brings_the_list_and_its_tasks_and_unsharing_takes_them_away(
    store: Arc<dyn Store>,
) {
    let (a, _) = account(&store, true).await;
    let (b, b_email) = account(&store, true).await;
    let list = new_list(&store, a, "Groceries").await;
    for t in ["milk", "eggs", "bread"] {
        add(&store, a, Some(list), t).await.expect("task");
    }
    add(&store, a, None, "private").await.expect("personal");
    let b_head = store.head(b).await.expect("head");
    share(&store, a, list, &b_email, ListRole::Editor).await;
    let log = store.changes_after(b, b_head, 100).await.expect("log");
    let ops: Vec<(ChangeOp, bool)> = log.iter().map(|c| (c.op, c.list().is_some())).collect();
    assert_eq!(
        ops,
        [
            (ChangeOp::Create, true),
            (ChangeOp::Create, false),
            (ChangeOp::Create, false),
            (ChangeOp::Create, false)
        ],
        "move-in: the list, then each of its tasks, once"
    );
    assert_view(&store, b).await;

    // The editor writes; the owner sees it in their log.
    let a_head = store.head(a).await.expect("head");
    let by_b = add(&store, b, Some(list), "butter")
        .await
        .expect("editor writes");
    let log = store.changes_after(a, a_head, 100).await.expect("log");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].task().map(|t| (t.id, t.owner)), Some((by_b, b)));
    assert_view(&store, a).await;
    assert_view(&store, b).await;

    // Unshared: every task B could see comes as a removal, then the list.
    let b_head = store.head(b).await.expect("head");
    list_write(
        &store,
        a,
        ListWrite::Unshare {
            id: list,
            email: b_email.clone(),
        },
    )
    .await
    .expect("unshare");
    let log = store.changes_after(b, b_head, 100).await.expect("log");
    assert_eq!(log.len(), 5, "4 tasks and the list: {log:#?}");
    assert!(log.iter().all(|c| c.op == ChangeOp::Remove));
    assert!(log.last().and_then(|c| c.list()).is_some(), "the list last");
    assert_view(&store, b).await;
    assert_eq!(store.task(b, by_b).await.expect("read"), None);

    // Nothing of that list after.
    let b_head = store.head(b).await.expect("head");
    add(&store, a, Some(list), "after").await.expect("task");
    store
        .write_task(
            a,
            TaskWrite::Update(TaskPatch {
                done: Some(true),
                ..patch(by_b)
            }),
            NOW,
        )
        .await
        .expect("update");
    assert_eq!(store.head(b).await.expect("head"), b_head);
    assert_eq!(
        task_refused(add(&store, b, Some(list), "sneak").await),
        WriteRejection::NotFound,
        "a former member is a stranger"
    );
    assert_view(&store, a).await;
}

pub async fn roles_decide_who_may_write_and_strangers_find_nothing(store: Arc<dyn Store>) {
    let (owner, _) = account(&store, true).await;
    let (editor, editor_email) = account(&store, true).await;
    let (viewer, viewer_email) = account(&store, true).await;
    let (stranger, stranger_email) = account(&store, true).await;
    let list = new_list(&store, owner, "Team").await;
    share(&store, owner, list, &editor_email, ListRole::Editor).await;
    share(&store, owner, list, &viewer_email, ListRole::Viewer).await;
    let task = add(&store, owner, Some(list), "plan").await.expect("task");

    assert!(
        store.task(viewer, task).await.expect("read").is_some(),
        "viewers read"
    );
    assert_eq!(
        task_refused(add(&store, viewer, Some(list), "no").await),
        WriteRejection::Forbidden
    );
    let done = |id| {
        TaskWrite::Update(TaskPatch {
            done: Some(true),
            ..patch(id)
        })
    };
    assert_eq!(
        task_refused(store.write_task(viewer, done(task), NOW).await),
        WriteRejection::Forbidden
    );
    assert_eq!(
        task_refused(
            store
                .write_task(
                    viewer,
                    TaskWrite::Delete {
                        id: task,
                        expected_version: None
                    },
                    NOW
                )
                .await
        ),
        WriteRejection::Forbidden
    );
    store
        .write_task(editor, done(task), NOW)
        .await
        .expect("editors write");

    // A stranger: the list and its task do not exist.
    assert_eq!(store.task(stranger, task).await.expect("read"), None);
    assert_eq!(
        task_refused(store.write_task(stranger, done(task), NOW).await),
        WriteRejection::NotFound
    );
    assert_eq!(
        task_refused(add(&store, stranger, Some(list), "x").await),
        WriteRejection::NotFound
    );
    let rename = |id| ListWrite::Rename {
        id,
        expected_version: None,
        name: ListName::parse("Mine now").expect("name"),
    };
    assert_eq!(
        list_refused(list_write(&store, stranger, rename(list)).await),
        ListRejection::NotFound
    );
    assert_eq!(
        list_refused(list_write(&store, editor, rename(list)).await),
        ListRejection::Forbidden
    );
    assert_eq!(
        list_refused(
            list_write(
                &store,
                editor,
                ListWrite::Share {
                    id: list,
                    email: stranger_email.clone(),
                    role: ListRole::Editor
                }
            )
            .await
        ),
        ListRejection::Forbidden
    );
    assert_eq!(
        list_refused(
            list_write(
                &store,
                viewer,
                ListWrite::Delete {
                    id: list,
                    expected_version: None
                }
            )
            .await
        ),
        ListRejection::Forbidden
    );
    // A role change takes effect at once.
    share(&store, owner, list, &viewer_email, ListRole::Editor).await;
    store
        .write_task(viewer, done(task), NOW)
        .await
        .expect("promoted");
    share(&store, owner, list, &editor_email, ListRole::Viewer).await;
    assert_eq!(
        task_refused(add(&store, editor, Some(list), "no").await),
        WriteRejection::Forbidden
    );
    for u in [owner, editor, viewer, stranger] {
        assert_view(&store, u).await;
    }
}

pub async fn moving_a_task_out_of_sight_removes_it_and_back_brings_it(store: Arc<dyn Store>) {
    let (a, _) = account(&store, true).await;
    let (b, b_email) = account(&store, true).await;
    let shared = new_list(&store, a, "Shared").await;
    share(&store, a, shared, &b_email, ListRole::Editor).await;
    let task = add(&store, a, Some(shared), "movable").await.expect("task");
    let move_to = |list| {
        TaskWrite::Update(TaskPatch {
            list: Some(list),
            ..patch(task)
        })
    };
    let head = store.head(b).await.expect("head");
    store
        .write_task(a, move_to(ListId::personal(a)), NOW)
        .await
        .expect("move to personal");
    let log = store.changes_after(b, head, 10).await.expect("log");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].op, ChangeOp::Remove);
    assert_view(&store, b).await;
    assert_eq!(
        task_refused(store.write_task(b, move_to(shared), NOW).await),
        WriteRejection::NotFound,
        "B can no longer see it to move it"
    );
    store
        .write_task(a, move_to(shared), NOW)
        .await
        .expect("move back");
    let log = store.changes_after(b, head + 1, 10).await.expect("log");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].op, ChangeOp::Create, "moved in");
    // Moving into a list one cannot write is refused.
    assert_eq!(
        task_refused(store.write_task(b, move_to(ListId::personal(a)), NOW).await),
        WriteRejection::NotFound
    );
    assert_view(&store, a).await;
    assert_view(&store, b).await;
}

pub async fn an_invitation_answers_alike_and_takes_effect_at_confirmation(store: Arc<dyn Store>) {
    let (a, _) = account(&store, true).await;
    let (_known, known_email) = account(&store, true).await;
    let list = new_list(&store, a, "Party").await;
    add(&store, a, Some(list), "balloons").await.expect("task");
    let unknown_email = Email::parse("nobody-yet@example.com").expect("email");
    let answer = |email: &Email| {
        let store = store.clone();
        let email = email.clone();
        async move {
            list_write(
                &store,
                a,
                ListWrite::Share {
                    id: list,
                    email,
                    role: ListRole::Viewer,
                },
            )
            .await
            .expect("share")
            .view
        }
    };
    let to_known = answer(&known_email).await;
    let to_unknown = answer(&unknown_email).await;
    let pending = |v: &tasksync_core::ListView, e: &Email| {
        v.members
            .iter()
            .find(|m| m.email == e.as_str())
            .map(|m| (m.role, m.pending))
    };
    assert_eq!(
        pending(&to_known, &known_email),
        Some((ListRole::Viewer, true))
    );
    assert_eq!(
        pending(&to_unknown, &unknown_email),
        Some((ListRole::Viewer, true)),
        "an address without an account looks the same"
    );

    // The address signs up: nothing until it is confirmed.
    let newcomer = UserId::new();
    store
        .create_user(&UserRecord {
            id: newcomer,
            email: unknown_email.clone(),
            password_hash: "x".into(),
            confirmed: false,
            disabled: false,
            created_at: 0,
        })
        .await
        .expect("sign up");
    assert_eq!(store.head(newcomer).await.expect("head"), 0);
    assert_eq!(
        store.lists(newcomer).await.expect("lists").len(),
        1,
        "personal"
    );
    store.confirm_user(newcomer, NOW).await.expect("confirm");
    let lists = store.lists(newcomer).await.expect("lists");
    assert_eq!(lists.len(), 2, "{lists:#?}");
    assert_eq!(lists[1].role, ListRole::Viewer);
    assert_view(&store, newcomer).await;
}

pub async fn limits_on_members_and_lists_are_kept(store: Arc<dyn Store>) {
    let (a, _) = account(&store, true).await;
    let limits = ListLimits {
        members_per_list: 3,
        lists_per_user: 2,
        ..ListLimits::default()
    };
    let create = |name: &str| ListWrite::Create {
        id: ListId::new(),
        name: ListName::parse(name).expect("name"),
    };
    let list = store
        .write_list(a, create("one"), limits, NOW)
        .await
        .expect("second list (the personal one is the first)")
        .view
        .list
        .id;
    assert!(matches!(
        list_refused(store.write_list(a, create("two"), limits, NOW).await),
        ListRejection::Limit(_)
    ));
    for i in 0..2 {
        let email = Email::parse(&format!("m{i}-{}@example.com", a.as_uuid().simple())).expect("e");
        store
            .write_list(
                a,
                ListWrite::Share {
                    id: list,
                    email,
                    role: ListRole::Viewer,
                },
                limits,
                NOW,
            )
            .await
            .expect("within the limit");
    }
    let one_more = Email::parse("one-more@example.com").expect("e");
    assert!(matches!(
        list_refused(
            store
                .write_list(
                    a,
                    ListWrite::Share {
                        id: list,
                        email: one_more,
                        role: ListRole::Viewer
                    },
                    limits,
                    NOW
                )
                .await
        ),
        ListRejection::Limit(_)
    ));
    assert_eq!(
        store.lists(a).await.expect("lists")[1].members.len(),
        3,
        "nothing of the refused share was kept"
    );
}

pub async fn deleting_a_list_removes_it_and_its_tasks_for_everyone(store: Arc<dyn Store>) {
    let (a, _) = account(&store, true).await;
    let (b, b_email) = account(&store, true).await;
    let list = new_list(&store, a, "Doomed").await;
    share(&store, a, list, &b_email, ListRole::Editor).await;
    let task = add(&store, b, Some(list), "gone soon").await.expect("task");
    list_write(
        &store,
        a,
        ListWrite::Delete {
            id: list,
            expected_version: Some(1),
        },
    )
    .await
    .map(drop)
    .expect_err("a stale version is refused");
    list_write(
        &store,
        a,
        ListWrite::Delete {
            id: list,
            expected_version: None,
        },
    )
    .await
    .expect("delete");
    for u in [a, b] {
        assert_eq!(store.task(u, task).await.expect("read"), None);
        assert_view(&store, u).await;
        let last = store.changes_after(u, 0, 1000).await.expect("log");
        assert_eq!(last.last().map(|c| c.op), Some(ChangeOp::Delete));
    }
    // The personal list cannot be deleted, shared or left; the owner cannot leave.
    assert!(matches!(
        list_refused(
            list_write(
                &store,
                a,
                ListWrite::Delete {
                    id: ListId::personal(a),
                    expected_version: None
                }
            )
            .await
        ),
        ListRejection::Invalid(_)
    ));
    assert!(matches!(
        list_refused(
            list_write(
                &store,
                a,
                ListWrite::Share {
                    id: ListId::personal(a),
                    email: b_email.clone(),
                    role: ListRole::Viewer
                }
            )
            .await
        ),
        ListRejection::Invalid(_)
    ));
    let other = new_list(&store, a, "Other").await;
    assert!(matches!(
        list_refused(list_write(&store, a, ListWrite::Leave { id: other }).await),
        ListRejection::Invalid(_)
    ));
    share(&store, a, other, &b_email, ListRole::Viewer).await;
    list_write(&store, b, ListWrite::Leave { id: other })
        .await
        .expect("a member leaves");
    assert_eq!(store.lists(b).await.expect("lists").len(), 1);
    assert_view(&store, b).await;
}

pub async fn delta_sync_gives_each_task_and_list_once_at_its_latest_state(store: Arc<dyn Store>) {
    let (a, _) = account(&store, true).await;
    let (b, b_email) = account(&store, true).await;
    let list = new_list(&store, a, "Delta").await;
    let kept = add(&store, a, Some(list), "kept").await.expect("task");
    let cursor = store.head(b).await.expect("head");
    share(&store, a, list, &b_email, ListRole::Editor).await;
    for title in ["v2", "v3"] {
        store
            .write_task(
                a,
                TaskWrite::Update(TaskPatch {
                    title: Some(TaskTitle::parse(title).expect("t")),
                    ..patch(kept)
                }),
                NOW,
            )
            .await
            .expect("update");
    }
    list_write(
        &store,
        a,
        ListWrite::Rename {
            id: list,
            expected_version: None,
            name: ListName::parse("Renamed").expect("name"),
        },
    )
    .await
    .expect("rename");
    let head = store.head(b).await.expect("head");
    let tasks = store
        .changed_tasks(b, cursor, head, 100, usize::MAX)
        .await
        .expect("delta");
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    assert_eq!(
        (tasks[0].task.title.as_str(), tasks[0].task.version),
        ("v3", 3)
    );
    let lists = store.changed_lists(b, cursor, head).await.expect("lists");
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0].list.name, "Renamed");
    assert_eq!(lists[0].role, ListRole::Editor);

    list_write(
        &store,
        a,
        ListWrite::Unshare {
            id: list,
            email: b_email,
        },
    )
    .await
    .expect("unshare");
    let after = store.head(b).await.expect("head");
    let tasks = store
        .changed_tasks(b, head, after, 100, usize::MAX)
        .await
        .expect("delta");
    assert_eq!(tasks.len(), 1);
    assert!(tasks[0].task.deleted, "a removal syncs as a tombstone");
    assert_eq!(tasks[0].task.version, 4, "one past the last version seen");
    let lists = store.changed_lists(b, head, after).await.expect("lists");
    assert!(lists[0].list.deleted);
}

pub async fn the_logs_of_several_members_are_read_in_one_call(store: Arc<dyn Store>) {
    let (a, _) = account(&store, true).await;
    let (b, b_email) = account(&store, true).await;
    let list = new_list(&store, a, "Both").await;
    add(&store, a, Some(list), "one").await.expect("task");
    share(&store, a, list, &b_email, ListRole::Editor).await;
    let (ha, hb) = (
        store.head(a).await.expect("head"),
        store.head(b).await.expect("head"),
    );
    add(&store, b, Some(list), "two").await.expect("task");
    let both = store
        .changes_after_many(&[(b, hb - 1), (a, ha)], 100)
        .await
        .expect("read");
    let got: Vec<(UserId, i64, bool)> = both
        .iter()
        .map(|c| (c.scope, c.seq, c.list().is_some()))
        .collect();
    assert_eq!(
        got,
        [(b, hb, false), (b, hb + 1, false), (a, ha + 1, false)],
        "grouped by scope in the order asked, each in seq order"
    );
    let lists_too = store.changes_after_many(&[(b, 0)], 1).await.expect("read");
    assert_eq!(lists_too.len(), 1, "at most `limit` per scope");
    assert!(
        lists_too[0].list().is_some(),
        "list changes are in the log too"
    );
}

pub async fn a_list_beyond_its_task_limit_takes_no_new_member(store: Arc<dyn Store>) {
    let (a, _) = account(&store, true).await;
    let (b, b_email) = account(&store, true).await;
    let (_, c_email) = account(&store, true).await;
    let limits = ListLimits {
        tasks_per_shared_list: 2,
        ..ListLimits::default()
    };
    let list = new_list(&store, a, "Big").await;
    for t in ["one", "two"] {
        add(&store, a, Some(list), t).await.expect("task");
    }
    let share_as = |email: &Email, role: ListRole| ListWrite::Share {
        id: list,
        email: email.clone(),
        role,
    };
    store
        .write_list(a, share_as(&b_email, ListRole::Viewer), limits, NOW)
        .await
        .expect("two tasks: within the limit");
    let third = add(&store, a, Some(list), "three").await.expect("task");
    let before = store.head(a).await.expect("head");
    let unknown = Email::parse("not-yet-here@example.com").expect("email");
    for email in [&c_email, &unknown] {
        assert!(
            matches!(
                list_refused(
                    store
                        .write_list(a, share_as(email, ListRole::Viewer), limits, NOW)
                        .await
                ),
                ListRejection::Limit(_)
            ),
            "three tasks: no new member, account or not"
        );
    }
    assert_eq!(
        store.head(a).await.expect("head"),
        before,
        "nothing written"
    );
    store
        .write_list(a, share_as(&b_email, ListRole::Editor), limits, NOW)
        .await
        .expect("a role change moves no task: allowed");
    store
        .write_task(
            a,
            TaskWrite::Delete {
                id: third,
                expected_version: None,
            },
            NOW,
        )
        .await
        .expect("delete");
    store
        .write_list(a, share_as(&c_email, ListRole::Viewer), limits, NOW)
        .await
        .expect("two live tasks again: within the limit");
    assert_eq!(store.lists(a).await.expect("lists")[1].members.len(), 3);
    for u in [a, b] {
        assert_view(&store, u).await;
    }
}

pub async fn concurrent_creates_of_one_list_id_make_one_list(store: Arc<dyn Store>) {
    let (a, _) = account(&store, true).await;
    let (b, _) = account(&store, true).await;
    let id = ListId::new();
    let tries: Vec<_> = [a, b, a, b, a, b]
        .into_iter()
        .map(|caller| {
            let store = store.clone();
            tokio::spawn(async move {
                let w = ListWrite::Create {
                    id,
                    name: ListName::parse("Same").expect("name"),
                };
                (caller, list_write(&store, caller, w).await)
            })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tries {
        answers.push(t.await.expect("join"));
    }
    let created: Vec<UserId> = answers
        .iter()
        .filter_map(|(u, r)| matches!(r, Ok(w) if w.changed).then_some(*u))
        .collect();
    assert_eq!(created.len(), 1, "one list: {answers:?}");
    let owner = created[0];
    for (u, r) in &answers {
        match r {
            Ok(w) => assert_eq!(
                (*u, w.view.list.owner),
                (owner, owner),
                "only the owner's creates succeed (as retries)"
            ),
            Err(ListWriteError::Rejected(ListRejection::IdTaken)) => {
                assert_ne!(*u, owner, "the owner's own retry is never IdTaken");
            }
            Err(e) => panic!("a race is a retry or IdTaken, never {e:?}"),
        }
    }
    for u in [a, b] {
        let has = store
            .lists(u)
            .await
            .expect("lists")
            .iter()
            .any(|l| l.list.id == id);
        assert_eq!(has, u == owner);
        assert_view(&store, u).await;
    }
}

pub async fn share_size_counts_what_a_share_would_move_in_and_nothing_else(store: Arc<dyn Store>) {
    let (a, a_email) = account(&store, true).await;
    let (b, b_email) = account(&store, true).await;
    let newcomer = Email::parse("share-size-newcomer@example.com").expect("email");
    let list = new_list(&store, a, "Sized").await;
    let mut tasks = Vec::new();
    for t in ["one", "two", "three"] {
        tasks.push(add(&store, a, Some(list), t).await.expect("task"));
    }
    store
        .write_task(
            a,
            TaskWrite::Delete {
                id: tasks[2],
                expected_version: None,
            },
            NOW,
        )
        .await
        .expect("delete");
    add(&store, a, None, "in the personal list")
        .await
        .expect("task");
    let size = |user: UserId, list: ListId, email: &Email, limit: u32| {
        let (store, email) = (store.clone(), email.clone());
        async move {
            store
                .share_size(user, list, &email, limit)
                .await
                .expect("size")
        }
    };
    assert_eq!(size(a, list, &newcomer, 100).await, 2, "the live tasks");
    assert_eq!(
        size(a, list, &newcomer, 1).await,
        1,
        "counted up to the limit"
    );
    share(&store, a, list, &b_email, ListRole::Editor).await;
    assert_eq!(
        size(a, list, &b_email, 100).await,
        0,
        "already a member: a role change"
    );
    assert_eq!(size(b, list, &newcomer, 100).await, 0, "not the owner");
    let (stranger, _) = account(&store, true).await;
    assert_eq!(size(stranger, list, &newcomer, 100).await, 0, "a stranger");
    assert_eq!(
        size(a, ListId::personal(a), &newcomer, 100).await,
        0,
        "the personal list is never shared"
    );
    assert_eq!(size(a, list, &a_email, 100).await, 0, "the owner itself");
}

/// A new session of the same user, signed in at the same time.
fn another(session: &tasksync_store::SessionRecord) -> tasksync_store::SessionRecord {
    tasksync_store::SessionRecord {
        id: tasksync_core::SessionId::new(),
        ..session.clone()
    }
}

/// Sets a flag column of `user`'s row in `users`, beside the store.
async fn set_user_flag(guard: &crate::Guard, user: UserId, column: &str, on: bool) {
    let sql =
        |id: String, value: &str| format!("UPDATE users SET {column} = {value} WHERE id = {id}");
    guard
        .exec(
            &sql(
                format!("X'{}'", user.as_uuid().simple()),
                if on { "1" } else { "0" },
            ),
            &sql(
                format!("'{}'", user.as_uuid()),
                if on { "TRUE" } else { "FALSE" },
            ),
        )
        .await;
}

pub async fn an_invitation_a_confirmation_missed_joins_at_sign_in_or_refresh(
    guard: &crate::Guard,
    store: Arc<dyn Store>,
) {
    let (a, _) = account(&store, true).await;
    let (b, b_email) = account(&store, false).await;
    let list = new_list(&store, a, "Raced").await;
    let task = add(&store, a, Some(list), "seen after sign-in")
        .await
        .expect("task");
    share(&store, a, list, &b_email, ListRole::Editor).await;
    // What a share that raced b's confirmation leaves (on PostgreSQL the
    // share read b as unconfirmed, and the confirmation did not see its
    // row): a confirmed account whose invitation is still pending, and
    // nothing of the list in its log.
    set_user_flag(guard, b, "confirmed", true).await;
    assert_eq!(
        store.lists(b).await.expect("lists").len(),
        1,
        "left pending"
    );
    let head = store.head(b).await.expect("head");
    let session = tasksync_store::SessionRecord {
        id: tasksync_core::SessionId::new(),
        user_id: b,
        created_at: NOW,
        expires_at: NOW + 3_600_000,
        revoked_at: None,
    };
    // `b`'s feed is listening: the join wakes it.
    let mut commits = store.commits();
    store
        .create_session(&session, b"raced-token", 100)
        .await
        .expect("sign in");
    // The move-in, exactly: the list (as b sees it: an editor who has
    // signed in, so not pending), then its task.
    let moved = store.changes_after(b, head, 100).await.expect("changes");
    assert_eq!(moved.len(), 2, "{moved:#?}");
    match &moved[0].subject {
        tasksync_core::Subject::List(v) => {
            assert_eq!(
                (moved[0].op, v.list.id, v.role),
                (ChangeOp::Create, list, ListRole::Editor)
            );
            let me = v
                .members
                .iter()
                .find(|m| m.email == b_email.as_str())
                .expect("b");
            assert!(!me.pending, "{v:#?}");
        }
        other => panic!("the list first, not {other:?}"),
    }
    assert_eq!(
        (moved[1].op, moved[1].task().map(|t| t.id)),
        (ChangeOp::Create, Some(task))
    );
    let woke = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            match commits.recv().await {
                Ok(n) if n.scope == b => break n.seq,
                Ok(_) => {}
                Err(e) => panic!("commits: {e}"),
            }
        }
    })
    .await
    .expect("a commit notice for b");
    assert_eq!(woke, moved[1].seq);
    assert_view(&store, b).await;
    // A second sign-in finds nothing pending and moves nothing.
    let second = another(&session);
    store
        .create_session(&second, b"raced-token-2", 100)
        .await
        .expect("sign in again");
    assert_eq!(store.head(b).await.expect("head"), moved[1].seq);

    // The same race again while b stays signed in: the next token refresh
    // joins it (no password sign-in needed).
    set_user_flag(guard, b, "confirmed", false).await;
    let again = new_list(&store, a, "Raced again").await;
    share(&store, a, again, &b_email, ListRole::Viewer).await;
    set_user_flag(guard, b, "confirmed", true).await;
    let head = store.head(b).await.expect("head");
    match store
        .rotate_refresh(b"raced-token-2", b"raced-token-3", NOW + 1)
        .await
        .expect("refresh")
    {
        tasksync_store::Rotation::Rotated(s) => assert_eq!(s.user_id, b),
        other => panic!("a fresh token rotates: {other:?}"),
    }
    let moved = store.changes_after(b, head, 100).await.expect("changes");
    assert_eq!(moved.len(), 1, "the list (it has no tasks): {moved:#?}");
    assert!(
        matches!(&moved[0].subject, tasksync_core::Subject::List(v) if v.list.id == again && v.role == ListRole::Viewer),
        "{moved:#?}"
    );
    assert_view(&store, b).await;

    // A disabled account joins nothing; enabled again, it does.
    set_user_flag(guard, b, "confirmed", false).await;
    let third = new_list(&store, a, "Raced while disabled").await;
    share(&store, a, third, &b_email, ListRole::Viewer).await;
    set_user_flag(guard, b, "confirmed", true).await;
    set_user_flag(guard, b, "disabled", true).await;
    let head = store.head(b).await.expect("head");
    let disabled = another(&session);
    store
        .create_session(&disabled, b"raced-token-4", 100)
        .await
        .expect("a session row (the sign-in refuses a disabled account before)");
    assert_eq!(store.head(b).await.expect("head"), head, "nothing joined");
    set_user_flag(guard, b, "disabled", false).await;
    let enabled = another(&session);
    store
        .create_session(&enabled, b"raced-token-5", 100)
        .await
        .expect("sign in");
    let moved = store.changes_after(b, head, 100).await.expect("changes");
    assert!(
        matches!(moved.as_slice(), [c] if matches!(&c.subject, tasksync_core::Subject::List(v) if v.list.id == third)),
        "{moved:#?}"
    );
    assert_view(&store, b).await;
}
