//! Shared lists over the real API: live fan-out to members, revocation
//! that reaches open sockets (on another node too) and delta sync, the
//! authorization matrix of owner, editor, viewer, former member and
//! stranger, invitations that say nothing about which addresses have
//! accounts, and the configured limits.

use std::time::Instant;

use serde_json::{Value, json};
use tasksync_store::testing::TestDatabase;

use crate::helpers::{Http, Tokens, email, spawn_app, spawn_with};
use crate::multinode::Node;
use crate::ws_client::WsClient;

const LIST: &str = "id name personal role version deleted members { email role pending }";

fn changes_with_lists() -> String {
    format!(
        "subscription($after: String) {{ taskChanges(after: $after) {{ op cursor \
         task {{ id title listId version deleted }} list {{ {LIST} }} }} }}"
    )
}

async fn ok(node: &Http, token: &str, query: &str, variables: Value) -> Value {
    let a = node.gql(Some(token), query, variables).await;
    assert!(a.body["errors"].is_null(), "{query}: {}", a.body);
    a.body["data"].clone()
}

async fn create_list(node: &Http, token: &str, name: &str) -> String {
    let d = ok(
        node,
        token,
        &format!("mutation($i: CreateListInput!) {{ createList(input: $i) {{ {LIST} }} }}"),
        json!({ "i": { "name": name } }),
    )
    .await;
    d["createList"]["id"].as_str().expect("id").to_owned()
}

async fn add_task(node: &Http, token: &str, list: &str, title: &str) -> String {
    let d = ok(
        node,
        token,
        "mutation($i: CreateTaskInput!) { createTask(input: $i) { id listId } }",
        json!({ "i": { "title": title, "listId": list } }),
    )
    .await;
    assert_eq!(d["createTask"]["listId"], list);
    d["createTask"]["id"].as_str().expect("id").to_owned()
}

async fn share(node: &Http, token: &str, list: &str, to: &str, role: &str) -> Value {
    let a = node
        .gql(
            Some(token),
            &format!("mutation($i: ShareListInput!) {{ shareList(input: $i) {{ {LIST} }} }}"),
            json!({ "i": { "listId": list, "email": to, "role": role } }),
        )
        .await;
    a.body.clone()
}

async fn unshare(node: &Http, token: &str, list: &str, to: &str) {
    ok(
        node,
        token,
        "mutation($i: UnshareListInput!) { unshareList(input: $i) { id } }",
        json!({ "i": { "listId": list, "email": to } }),
    )
    .await;
}

async fn cursor(node: &Http, token: &str) -> String {
    let d = ok(
        node,
        token,
        "query { syncTasks(limit: 1) { cursor } }",
        json!({}),
    )
    .await;
    d["syncTasks"]["cursor"]
        .as_str()
        .expect("cursor")
        .to_owned()
}

/// The next `n` changes of subscription `s`: (op, task id or "list").
async fn changes(ws: &mut WsClient, n: usize) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let d = ws.next_data("s").await;
        let c = &d["taskChanges"];
        let what = if c["list"].is_null() {
            c["task"]["id"].as_str().expect("task").to_owned()
        } else {
            "list".to_owned()
        };
        out.push((c["op"].as_str().expect("op").to_owned(), what, c.clone()));
    }
    out
}

async fn two_users(app: &Http, tag: &str) -> (Tokens, String, Tokens, String) {
    let (a_email, b_email) = (email(&format!("{tag}-a")), email(&format!("{tag}-b")));
    let a = app.signed_in(&a_email).await;
    let b = app.signed_in(&b_email).await;
    (a, a_email, b, b_email)
}

/// A shared list reaches a member's open socket (the list, then its
/// tasks), their writes reach the owner, and unsharing sends the member a
/// removal of every task and of the list, then nothing more of it; their
/// delta sync after that says the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_reaches_a_members_socket_and_unsharing_takes_everything_back() {
    let app = spawn_app().await;
    let (a, _, b, b_email) = two_users(&app, "live-share").await;
    let list = create_list(&app, &a.access, "Groceries").await;
    let t1 = add_task(&app, &a.access, &list, "milk").await;
    let t2 = add_task(&app, &a.access, &list, "eggs").await;
    let start = cursor(&app, &b.access).await;
    let mut ws = WsClient::ready(&app, &b.access).await;
    ws.subscribe("s", &changes_with_lists(), json!({ "after": start }))
        .await;
    ws.round_trip().await;

    let shared = share(&app, &a.access, &list, &b_email, "EDITOR").await;
    assert!(shared["errors"].is_null(), "{shared}");
    let got = changes(&mut ws, 3).await;
    let seen: Vec<(&str, &str)> = got
        .iter()
        .map(|(o, w, _)| (o.as_str(), w.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("CREATE", "list"),
            ("CREATE", t1.as_str()),
            ("CREATE", t2.as_str())
        ]
    );
    assert_eq!(got[0].2["list"]["role"], "EDITOR");
    assert_eq!(got[0].2["list"]["members"][0]["role"], "OWNER");

    // The member writes: the owner's sync has it.
    let a_before = cursor(&app, &a.access).await;
    let t3 = add_task(&app, &b.access, &list, "butter").await;
    assert_eq!(changes(&mut ws, 1).await[0].1, t3);
    let d = ok(
        &app,
        &a.access,
        "query($c: String) { syncTasks(lastSync: $c) { items { id } } }",
        json!({ "c": a_before }),
    )
    .await;
    assert_eq!(d["syncTasks"]["items"][0]["id"], t3.as_str());

    // Revoked: every task as a removal (a tombstone), then the list.
    let before_unshare = cursor(&app, &b.access).await;
    let at = Instant::now();
    unshare(&app, &a.access, &list, &b_email).await;
    let got = changes(&mut ws, 4).await;
    let latency = at.elapsed();
    eprintln!("revocation reached the member's socket in {latency:?}");
    assert!(got.iter().all(|(op, _, _)| op == "REMOVE"), "{got:#?}");
    assert_eq!(got[3].1, "list");
    for (_, _, c) in &got[..3] {
        assert_eq!(c["task"]["deleted"], true);
    }
    // Nothing of that list after: the next change B hears is B's own.
    add_task(&app, &a.access, &list, "after").await;
    let mine = ok(
        &app,
        &b.access,
        "mutation { createTask(input: { title: \"mine\" }) { id } }",
        json!({}),
    )
    .await;
    let next = changes(&mut ws, 1).await;
    assert_eq!(next[0].1, mine["createTask"]["id"].as_str().expect("id"));

    // Reconnecting with the cursor from before: delta sync says the same.
    let d = ok(
        &app,
        &b.access,
        &format!(
            "query($c: String) {{ syncTasks(lastSync: $c) {{ fullSync items {{ id deleted }} lists {{ {LIST} }} }} }}"
        ),
        json!({ "c": before_unshare }),
    )
    .await;
    let sync = &d["syncTasks"];
    assert_eq!(sync["fullSync"], false);
    let gone: Vec<(&str, bool)> = sync["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| {
            (
                t["id"].as_str().expect("id"),
                t["deleted"].as_bool() == Some(true),
            )
        })
        .collect();
    for t in [&t1, &t2, &t3] {
        assert!(gone.contains(&(t.as_str(), true)), "{t} removed: {gone:?}");
    }
    assert_eq!(sync["lists"][0]["deleted"], true);
    let a = app
        .gql(
            Some(&b.access),
            "query($id: ID!) { task(id: $id) { id } }",
            json!({ "id": t1 }),
        )
        .await;
    assert_eq!(a.gql_code(), Some("NOT_FOUND"));
}

/// A member's socket on another node gets the removals too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_reaches_a_socket_on_another_node() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let (one, two) = (Node::start("one", db.url()), Node::start("two", db.url()));
    let (a, _, b, b_email) = two_users(&one, "two-nodes-revoke").await;
    let list = create_list(&one, &a.access, "Across").await;
    for i in 0..5 {
        add_task(&one, &a.access, &list, &format!("task {i}")).await;
    }
    assert!(share(&one, &a.access, &list, &b_email, "VIEWER").await["errors"].is_null());
    let start = cursor(&two, &b.access).await;
    let mut ws = WsClient::ready(&two, &b.access).await;
    ws.subscribe("s", &changes_with_lists(), json!({ "after": start }))
        .await;
    ws.round_trip().await;
    let at = Instant::now();
    unshare(&one, &a.access, &list, &b_email).await;
    let got = changes(&mut ws, 6).await;
    eprintln!(
        "revocation reached a socket on another node in {:?}",
        at.elapsed()
    );
    assert!(got.iter().all(|(op, _, _)| op == "REMOVE"), "{got:#?}");
    assert_eq!(got[5].1, "list");
}

/// What each kind of caller gets for each operation on a shared list and
/// its task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_matrix_of_a_shared_list() {
    let app = spawn_app().await;
    let owner_email = email("matrix-owner");
    let owner = app.signed_in(&owner_email).await;
    let mut callers = Vec::new();
    for who in ["editor", "viewer", "former", "stranger"] {
        let address = email(&format!("matrix-{who}"));
        let t = app.signed_in(&address).await;
        callers.push((who, address, t));
    }
    let list = create_list(&app, &owner.access, "Matrix").await;
    for (who, address, _) in &callers {
        let role = match *who {
            "editor" => "EDITOR",
            "viewer" | "former" => "VIEWER",
            _ => continue,
        };
        assert!(share(&app, &owner.access, &list, address, role).await["errors"].is_null());
    }
    let former_cursor = cursor(&app, &callers[2].2.access).await;
    unshare(&app, &owner.access, &list, &callers[2].1).await;
    let task = add_task(&app, &owner.access, &list, "guarded").await;

    let ops: Vec<(&str, String, Value)> = vec![
        ("read task", "query($t: ID!) { task(id: $t) { id } }".into(), json!({ "t": task })),
        (
            "update task",
            "mutation($t: ID!) { updateTask(input: { id: $t, done: true }) { id } }".into(),
            json!({ "t": task }),
        ),
        (
            "create in list",
            "mutation($l: ID!) { createTask(input: { title: \"x\", listId: $l }) { id } }".into(),
            json!({ "l": list }),
        ),
        (
            "move out",
            "mutation($t: ID!, $l: ID!) { updateTask(input: { id: $t, listId: $l }) { id } }"
                .into(),
            json!({ "t": task, "l": "00000000-0000-0000-0000-000000000000" }),
        ),
        (
            "rename list",
            "mutation($l: ID!) { updateList(input: { id: $l, name: \"y\" }) { id } }".into(),
            json!({ "l": list }),
        ),
        (
            "share list",
            "mutation($l: ID!) { shareList(input: { listId: $l, email: \"z@example.com\", role: VIEWER }) { id } }"
                .into(),
            json!({ "l": list }),
        ),
        (
            "delete task",
            "mutation($t: ID!) { deleteTask(input: { id: $t }) { id } }".into(),
            json!({ "t": task }),
        ),
    ];
    // (caller, the code of each op above; "" = allowed)
    let expected: [(&str, [&str; 7]); 4] = [
        (
            "editor",
            ["", "", "", "NOT_FOUND", "FORBIDDEN", "FORBIDDEN", ""],
        ),
        (
            "viewer",
            [
                "",
                "FORBIDDEN",
                "FORBIDDEN",
                "FORBIDDEN",
                "FORBIDDEN",
                "FORBIDDEN",
                "FORBIDDEN",
            ],
        ),
        ("former", ["NOT_FOUND"; 7]),
        ("stranger", ["NOT_FOUND"; 7]),
    ];
    for (who, codes) in expected {
        let t = &callers
            .iter()
            .find(|(w, _, _)| *w == who)
            .expect("caller")
            .2;
        for ((name, q, vars), want) in ops.iter().zip(codes) {
            if who == "editor" && *name == "delete task" {
                continue; // checked last, below
            }
            let a = app.gql(Some(&t.access), q, vars.clone()).await;
            let got = a.gql_code().unwrap_or("");
            assert_eq!(got, want, "{who} / {name}: {}", a.body);
        }
    }
    // The listings: members see the task, the others do not.
    for (who, _, t) in &callers {
        let d = ok(
            &app,
            &t.access,
            "query { tasks { items { id } } lists { id } }",
            json!({}),
        )
        .await;
        let sees = d["tasks"]["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|i| i["id"] == task.as_str());
        let has_list = d["lists"]
            .as_array()
            .expect("lists")
            .iter()
            .any(|l| l["id"] == list.as_str());
        let member = matches!(*who, "editor" | "viewer");
        assert_eq!((sees, has_list), (member, member), "{who}");
    }
    // A former member's old cursor still syncs only their own log: the
    // removals, and nothing written after they left.
    let d = ok(
        &app,
        &callers[2].2.access,
        "query($c: String) { syncTasks(lastSync: $c) { items { id } lists { id deleted } } }",
        json!({ "c": former_cursor }),
    )
    .await;
    assert!(
        !d["syncTasks"]["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|i| i["id"] == task.as_str()),
        "{d}"
    );
    // The owner may do everything, the editor deletes tasks.
    let del = "mutation($t: ID!) { deleteTask(input: { id: $t }) { id } }";
    let a = app
        .gql(Some(&callers[0].2.access), del, json!({ "t": task }))
        .await;
    assert!(a.body["errors"].is_null(), "{}", a.body);
    let gone = ok(
        &app,
        &owner.access,
        "mutation($l: ID!) { deleteList(input: { id: $l }) { deleted } }",
        json!({ "l": list }),
    )
    .await;
    assert_eq!(gone["deleteList"]["deleted"], true);
}

/// The answer to a share, and the mail, are the same whether or not the
/// address has an account; an address without one joins when it signs up
/// and confirms, and sees the list and its tasks then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_to_an_unknown_address_answers_alike_and_starts_at_confirmation() {
    let app = spawn_app().await;
    let a = app.signed_in(&email("invite-owner")).await;
    let known = email("invite-known");
    app.signed_in(&known).await;
    let unknown = email("invite-unknown");
    let list_k = create_list(&app, &a.access, "Known").await;
    let list_u = create_list(&app, &a.access, "Known").await;
    let task = add_task(&app, &a.access, &list_u, "waiting").await;
    let to_known = share(&app, &a.access, &list_k, &known, "EDITOR").await;
    let to_unknown = share(&app, &a.access, &list_u, &unknown, "EDITOR").await;
    let normalise = |v: &Value, addr: &str, id: &str| {
        v.to_string().replace(addr, "ADDRESS").replace(id, "LIST")
    };
    assert_eq!(
        normalise(&to_known, &known, &list_k),
        normalise(&to_unknown, &unknown, &list_u),
        "the same answer"
    );
    let mail_k = app.wait_for_mail(&known, 2).await;
    let mail_u = app.wait_for_mail(&unknown, 1).await;
    assert_eq!(mail_k["subject"], mail_u["subject"]);
    assert_eq!(
        mail_k["text"].as_str().map(|t| t.len()),
        mail_u["text"].as_str().map(|t| t.len()),
        "one text for both"
    );

    // The unknown address signs up and confirms: the list is theirs to see.
    let b = app.signed_in(&unknown).await;
    let d = ok(
        &app,
        &b.access,
        &format!("query {{ lists {{ {LIST} }} syncTasks {{ items {{ id }} lists {{ id }} }} }}"),
        json!({}),
    )
    .await;
    assert_eq!(d["lists"].as_array().map(Vec::len), Some(2), "{d}");
    assert_eq!(d["lists"][1]["role"], "EDITOR");
    assert!(
        d["syncTasks"]["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|i| i["id"] == task.as_str()),
        "{d}"
    );
}

/// Members per list and lists per user are limited as configured; a
/// refused write changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_and_lists_are_limited_as_configured() {
    let app = spawn_with(|s| {
        s.max_list_members = 2;
        s.max_lists_per_user = 2;
    })
    .await;
    let a = app.signed_in(&email("limit-owner")).await;
    let list = create_list(&app, &a.access, "Only one").await;
    let again = app
        .gql(
            Some(&a.access),
            "mutation { createList(input: { name: \"two\" }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(again.gql_code(), Some("BAD_USER_INPUT"), "{}", again.body);
    assert!(share(&app, &a.access, &list, "first@example.com", "VIEWER").await["errors"].is_null());
    let over = share(&app, &a.access, &list, "second@example.com", "VIEWER").await;
    assert_eq!(
        over["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{over}"
    );
    let d = ok(
        &app,
        &a.access,
        &format!("query {{ lists {{ {LIST} }} }}"),
        json!({}),
    )
    .await;
    assert_eq!(d["lists"].as_array().map(Vec::len), Some(2));
    assert_eq!(d["lists"][1]["members"].as_array().map(Vec::len), Some(2));
}

/// A client written before lists (its subscription selects no `list`)
/// keeps working: it gets the tasks of a list shared with it, and the
/// removals, and never a change without a task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_knows_nothing_of_lists_still_gets_the_tasks_and_their_removal() {
    let app = spawn_app().await;
    let (a, _, b, b_email) = two_users(&app, "legacy").await;
    let list = create_list(&app, &a.access, "Old client").await;
    let task = add_task(&app, &a.access, &list, "seen by an old client").await;
    let start = cursor(&app, &b.access).await;
    let mut ws = WsClient::ready(&app, &b.access).await;
    ws.subscribe(
        "s",
        &crate::ws_client::changes_q(),
        json!({ "after": start }),
    )
    .await;
    ws.round_trip().await;
    assert!(share(&app, &a.access, &list, &b_email, "VIEWER").await["errors"].is_null());
    let d = ws.next_data("s").await;
    assert_eq!(
        (
            d["taskChanges"]["op"].as_str(),
            d["taskChanges"]["task"]["id"].as_str()
        ),
        (Some("CREATE"), Some(task.as_str()))
    );
    unshare(&app, &a.access, &list, &b_email).await;
    let d = ws.next_data("s").await;
    assert_eq!(d["taskChanges"]["op"], "REMOVE");
    assert_eq!(d["taskChanges"]["task"]["deleted"], true);
    // Nothing else (the list's own changes are not for this document).
    let mine = ok(
        &app,
        &b.access,
        "mutation { createTask(input: { title: \"own\" }) { id } }",
        json!({}),
    )
    .await;
    let d = ws.next_data("s").await;
    assert_eq!(d["taskChanges"]["task"]["id"], mine["createTask"]["id"]);
}

/// Changes of lists render the same on the fast path and through the
/// executor (a fragment sends the same selection there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_changes_are_the_same_on_the_fast_path_and_the_executor() {
    let app = spawn_app().await;
    let (a, _, b, b_email) = two_users(&app, "paths-lists").await;
    let task =
        "__typename id title description done owner listId createdAt updatedAt version deleted";
    let list = "__typename id name personal role version deleted createdAt updatedAt \
                members { __typename email role pending }";
    let fast = format!(
        "subscription {{ taskChanges {{ __typename op cursor task {{ {task} }} list {{ {list} }} }} }}"
    );
    let slow = format!(
        "subscription {{ taskChanges {{ ...C }} }} fragment C on TaskChange {{ __typename op cursor task {{ {task} }} list {{ {list} }} }}"
    );
    let mut ws = WsClient::ready(&app, &b.access).await;
    ws.subscribe("fast", &fast, json!({})).await;
    ws.subscribe("slow", &slow, json!({})).await;
    ws.round_trip().await;
    let id = create_list(&app, &a.access, "Paths \" é").await;
    add_task(&app, &a.access, &id, "before").await;
    assert!(share(&app, &a.access, &id, &b_email, "EDITOR").await["errors"].is_null());
    ok(
        &app,
        &a.access,
        "mutation($l: ID!) { updateList(input: { id: $l, name: \"Renamed\" }) { id } }",
        json!({ "l": id }),
    )
    .await;
    unshare(&app, &a.access, &id, &b_email).await;
    // share: list + 1 task; rename: 1; unshare: 1 task + list.
    let mut got: std::collections::HashMap<String, Vec<Value>> = Default::default();
    for _ in 0..10 {
        let v = ws.json().await;
        got.entry(v["id"].as_str().expect("id").to_owned())
            .or_default()
            .push(v["payload"].clone());
    }
    assert_eq!(got["fast"], got["slow"], "the same payloads on both paths");
    assert_eq!(got["fast"].len(), 5);
    assert!(got["fast"][0]["data"]["taskChanges"]["task"].is_null());
    assert_eq!(
        got["fast"][0]["data"]["taskChanges"]["list"]["members"][1]["email"],
        b_email.as_str()
    );
}

/// A sync of the largest page that also asks for the lists and their
/// members is within the default complexity: the lists count once, not
/// once per task of the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_page_of_sync_with_the_lists_is_within_the_complexity_limit() {
    let app = spawn_app().await;
    let a = app.signed_in(&email("complex-sync")).await;
    let task = "id title description done owner listId createdAt updatedAt version deleted";
    let d = ok(
        &app,
        &a.access,
        &format!(
            "query {{ syncTasks(limit: 1000) {{ items {{ {task} }} nextToken cursor fullSync lists {{ {LIST} createdAt updatedAt }} }} }}"
        ),
        json!({}),
    )
    .await;
    assert_eq!(d["syncTasks"]["lists"][0]["personal"], true);
}

/// The notice of a share goes to a new member only (a role change mails
/// nothing) and within its hourly budgets, per address and per sharer;
/// beyond them a share still takes effect and answers as ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_notices_go_to_new_members_only_and_within_their_budgets() {
    let app = spawn_with(|s| {
        s.share_notices_per_address_per_hour = 2;
        s.share_notices_per_user_per_hour = 4;
    })
    .await;
    let a = app.signed_in(&email("notice-owner")).await;
    let (x, y, z) = (email("notice-x"), email("notice-y"), email("notice-z"));
    let list = create_list(&app, &a.access, "Noticed").await;
    async fn shared(app: &Http, token: &str, list: &str, to: &str, role: &str) -> Value {
        let s = share(app, token, list, to, role).await;
        assert!(s["errors"].is_null(), "{s}");
        s
    }
    shared(&app, &a.access, &list, &x, "VIEWER").await; // x: 1, sender: 1
    app.wait_for_mail(&x, 1).await;
    shared(&app, &a.access, &list, &x, "EDITOR").await; // a role change: no mail, nothing counted
    unshare(&app, &a.access, &list, &x).await;
    shared(&app, &a.access, &list, &x, "VIEWER").await; // x: 2, sender: 2
    app.wait_for_mail(&x, 2).await;
    unshare(&app, &a.access, &list, &x).await;
    let third = shared(&app, &a.access, &list, &x, "VIEWER").await; // x over its 2; sender: 3
    shared(&app, &a.access, &list, &y, "VIEWER").await; // y: 1, sender: 4
    app.wait_for_mail(&y, 1).await;
    let unmailed = shared(&app, &a.access, &list, &z, "VIEWER").await; // sender over its 4
    // A mail that must arrive, sent after the ones that must not.
    let other = app.signed_in(&email("notice-other")).await;
    let other_list = create_list(&app, &other.access, "Sentinel").await;
    let s = share(&app, &other.access, &other_list, &z, "VIEWER").await;
    assert!(s["errors"].is_null(), "{s}");
    let sentinel = app.wait_for_mail(&z, 1).await;
    assert!(
        sentinel["text"]
            .as_str()
            .is_some_and(|t| t.contains("Sentinel")),
        "z's only notice is the other sharer's: {sentinel}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(app.mails_to(&x).await.len(), 2, "x: two notices an hour");
    assert_eq!(app.mails_to(&y).await.len(), 1);
    assert_eq!(app.mails_to(&z).await.len(), 1, "only the sentinel");
    // The unmailed shares took effect, and said so as any other.
    for (answer, to) in [(&third, &x), (&unmailed, &z)] {
        let members = answer["data"]["shareList"]["members"]
            .as_array()
            .expect("members");
        assert!(
            members.iter().any(|m| m["email"] == to.as_str()),
            "{answer}"
        );
    }
}

/// `app.gql`, waiting out every 429 (the rate limit every request pays,
/// before it runs) for as long as `Retry-After` says.
async fn patient(app: &Http, token: &str, query: &str, variables: Value) -> Value {
    loop {
        let r = app.gql(Some(token), query, variables.clone()).await;
        if r.status != reqwest::StatusCode::TOO_MANY_REQUESTS {
            return r.body;
        }
        let seconds = r
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1);
        tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
    }
}

/// Sharing a list costs rate limit by its size (each task moves into the
/// new member's log, and out again when they go), so a share and unshare
/// loop of a large list is slowed down where one of an empty list is not;
/// the refusal is `RATE_LIMITED` with the seconds to wait and changes
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_a_large_list_costs_rate_limit_by_its_size() {
    // A slow refill, so that how fast this machine runs the loop below
    // does not decide whether the burst runs out.
    let app = spawn_with(|s| {
        s.api_rate_per_second = 10;
        s.api_rate_burst = 2_100;
    })
    .await;
    let a = app.signed_in(&email("costly-owner")).await;
    let b = email("costly-member");
    let empty = create_list(&app, &a.access, "Empty").await;
    let large = create_list(&app, &a.access, "Large").await;
    // 2,000 tasks, written by an editor (from their own budget).
    let editor_email = email("costly-editor");
    let editor = app.signed_in(&editor_email).await;
    assert!(share(&app, &a.access, &large, &editor_email, "EDITOR").await["errors"].is_null());
    for batch in 0..40 {
        let fields: String = (0..50)
            .map(|i| {
                format!(
                    "t{i}: createTask(input: {{ title: \"task {batch}-{i}\", listId: \"{large}\" }}) {{ id }} "
                )
            })
            .collect();
        let r = patient(
            &app,
            &editor.access,
            &format!("mutation {{ {fields} }}"),
            json!({}),
        )
        .await;
        assert!(r["errors"].is_null(), "{r}");
    }
    // The empty list: 50 shares and unshares cost 100 root fields.
    for _ in 0..50 {
        assert!(share(&app, &a.access, &empty, &b, "VIEWER").await["errors"].is_null());
        unshare(&app, &a.access, &empty, &b).await;
    }
    // The large one: 40 more root fields a share; the rest of the burst
    // (about 2,000 after the setup and the empty list) runs out within some
    // 50 rounds while each takes well under 4 s (the refill is 10 a second).
    // A request may also meet the empty bucket before it runs (HTTP 429,
    // the limit every request pays): `patient` waits that out, so that
    // the loop goes on until the share itself is refused for its size.
    let share_q = format!("mutation($i: ShareListInput!) {{ shareList(input: $i) {{ {LIST} }} }}");
    let unshare_q = "mutation($i: UnshareListInput!) { unshareList(input: $i) { id } }";
    let mut refused = None;
    for round in 0..200 {
        let s = patient(
            &app,
            &a.access,
            &share_q,
            json!({ "i": { "listId": large, "email": b, "role": "VIEWER" } }),
        )
        .await;
        if !s["errors"].is_null() {
            refused = Some((round, s));
            break;
        }
        let u = patient(
            &app,
            &a.access,
            unshare_q,
            json!({ "i": { "listId": large, "email": b } }),
        )
        .await;
        assert!(u["errors"].is_null(), "an unshare is never charged: {u}");
    }
    let (round, answer) = refused.expect("a share loop of a large list is slowed down");
    assert!(round > 5, "a few shares are fine: refused at round {round}");
    let e = &answer["errors"][0];
    assert_eq!(e["extensions"]["code"], "RATE_LIMITED", "{answer}");
    assert!(
        e["extensions"]["retryAfter"]
            .as_u64()
            .is_some_and(|s| s >= 1),
        "{answer}"
    );
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("2000 tasks")),
        "{answer}"
    );
    // A role change moves no task: not charged, however large the list.
    let role = patient(
        &app,
        &a.access,
        &share_q,
        json!({ "i": { "listId": large, "email": editor_email, "role": "VIEWER" } }),
    )
    .await;
    assert!(role["errors"].is_null(), "{role}");
    // Nothing of the refused share: b is not a member.
    let d = ok(
        &app,
        &a.access,
        &format!("query {{ lists {{ {LIST} }} }}"),
        json!({}),
    )
    .await;
    let large_view = d["lists"]
        .as_array()
        .expect("lists")
        .iter()
        .find(|l| l["id"] == large.as_str())
        .expect("large")
        .clone();
    assert!(
        !large_view["members"]
            .as_array()
            .expect("members")
            .iter()
            .any(|m| m["email"] == b.as_str()),
        "{large_view}"
    );
}

/// A list beyond `TASKSYNC_MAX_SHARED_LIST_TASKS` takes no new member; a
/// role change still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_beyond_the_shared_task_limit_takes_no_new_member() {
    let app = spawn_with(|s| s.max_shared_list_tasks = 1).await;
    let a = app.signed_in(&email("cap-owner")).await;
    let list = create_list(&app, &a.access, "Capped").await;
    add_task(&app, &a.access, &list, "one").await;
    let first = email("cap-first");
    assert!(share(&app, &a.access, &list, &first, "VIEWER").await["errors"].is_null());
    add_task(&app, &a.access, &list, "two").await;
    let over = share(&app, &a.access, &list, &email("cap-second"), "VIEWER").await;
    assert_eq!(
        over["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{over}"
    );
    assert!(
        share(&app, &a.access, &list, &first, "EDITOR").await["errors"].is_null(),
        "a role change moves nothing"
    );
}
