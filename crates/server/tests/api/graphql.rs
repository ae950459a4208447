//! The GraphQL task API over real HTTP.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tasksync_core::UserId;

use crate::helpers::{TestApp, email, spawn_app, spawn_with};
use crate::queries::{create_q, delete_q, task_q, tasks_q, update_q};

async fn create(app: &TestApp, token: &str, input: Value) -> Value {
    let a = app
        .gql(Some(token), &create_q(), json!({ "input": input }))
        .await;
    assert!(a.body["errors"].is_null(), "createTask failed: {}", a.body);
    a.body["data"]["createTask"].clone()
}

async fn head(app: &TestApp, token: &str) -> i64 {
    let me = app.me(token).await;
    let user = UserId::parse(&me.str("userId")).expect("user id");
    app.state.store.head(user).await.expect("head")
}

#[tokio::test]
async fn tasks_are_created_read_updated_and_deleted() {
    let app = spawn_app().await;
    let t = app.signed_in(&email("crud")).await;
    let created = create(
        &app,
        &t.access,
        json!({ "title": "Buy milk", "description": "2 litres" }),
    )
    .await;
    assert_eq!(
        (
            created["version"].as_i64(),
            created["done"].as_bool(),
            created["deleted"].as_bool()
        ),
        (Some(1), Some(false), Some(false))
    );
    assert_eq!(created["owner"], app.me(&t.access).await.body["userId"]);
    assert_eq!(created["createdAt"], created["updatedAt"]);
    assert!(
        created["createdAt"]
            .as_str()
            .is_some_and(|s| s.len() == 24 && s.ends_with('Z')),
        "{created}"
    );
    let id = created["id"].clone();

    let read = app
        .gql(Some(&t.access), &task_q(), json!({ "id": id }))
        .await;
    assert_eq!(read.body["data"]["task"], created);

    let updated = app
        .gql(Some(&t.access), &update_q(), json!({ "input": { "id": id, "expectedVersion": 1, "done": true, "title": "Buy oat milk" } }))
        .await;
    let u = &updated.body["data"]["updateTask"];
    assert_eq!(
        (
            u["version"].as_i64(),
            u["done"].as_bool(),
            u["title"].as_str()
        ),
        (Some(2), Some(true), Some("Buy oat milk"))
    );
    assert_eq!(u["description"], "2 litres", "absent fields stay");
    assert!(u["updatedAt"].as_str() >= created["updatedAt"].as_str());

    let cleared = app
        .gql(
            Some(&t.access),
            &update_q(),
            json!({ "input": { "id": id, "description": null } }),
        )
        .await;
    assert_eq!(
        cleared.body["data"]["updateTask"]["description"],
        Value::Null,
        "null clears the description"
    );
    let same = app
        .gql(
            Some(&t.access),
            &update_q(),
            json!({ "input": { "id": id, "done": true } }),
        )
        .await;
    assert_eq!(
        same.body["data"]["updateTask"]["version"], 3,
        "a change that changes nothing is no new version"
    );

    let deleted = app
        .gql(
            Some(&t.access),
            &delete_q(),
            json!({ "input": { "id": id, "expectedVersion": 3 } }),
        )
        .await;
    let d = &deleted.body["data"]["deleteTask"];
    assert_eq!(
        (d["deleted"].as_bool(), d["version"].as_i64()),
        (Some(true), Some(4)),
        "the tombstone: {}",
        deleted.body
    );
    let again = app
        .gql(
            Some(&t.access),
            &delete_q(),
            json!({ "input": { "id": id } }),
        )
        .await;
    assert_eq!(
        &again.body["data"]["deleteTask"], d,
        "deleting again returns the same tombstone"
    );

    let gone = app
        .gql(Some(&t.access), &task_q(), json!({ "id": id }))
        .await;
    assert_eq!(gone.gql_code(), Some("NOT_FOUND"));
    assert_eq!(gone.body["data"]["task"], Value::Null);
    let list = app.gql(Some(&t.access), &tasks_q(), json!({})).await;
    assert_eq!(
        list.body["data"]["tasks"]["items"],
        json!([]),
        "deleted tasks are hidden"
    );
    let update_deleted = app
        .gql(
            Some(&t.access),
            &update_q(),
            json!({ "input": { "id": id, "done": false } }),
        )
        .await;
    assert_eq!(update_deleted.gql_code(), Some("NOT_FOUND"));
    assert_eq!(
        head(&app, &t.access).await,
        4,
        "create, two updates and a delete: four changes"
    );
}

#[tokio::test]
async fn twenty_five_tasks_come_back_oldest_first_in_pages_of_ten() {
    let app = spawn_app().await;
    let t = app.signed_in(&email("pages")).await;
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(
            create(&app, &t.access, json!({ "title": format!("task {i:02}") })).await["id"].clone(),
        );
    }
    let mut seen = Vec::new();
    let mut next = Value::Null;
    let mut sizes = Vec::new();
    loop {
        let page = app
            .gql(
                Some(&t.access),
                &tasks_q(),
                json!({ "limit": 10, "next": next }),
            )
            .await;
        let p = &page.body["data"]["tasks"];
        let items = p["items"].as_array().expect("items").clone();
        sizes.push(items.len());
        seen.extend(items.iter().map(|t| t["id"].clone()));
        next = p["nextToken"].clone();
        if next.is_null() {
            break;
        }
        assert!(sizes.len() < 5, "pagination must end");
    }
    assert_eq!(sizes, [10, 10, 5]);
    assert_eq!(seen, ids, "oldest first, each once");

    let other = app.signed_in(&email("other")).await;
    let first = app
        .gql(Some(&t.access), &tasks_q(), json!({ "limit": 10 }))
        .await;
    let token = first.body["data"]["tasks"]["nextToken"].clone();
    let foreign = app
        .gql(
            Some(&other.access),
            &tasks_q(),
            json!({ "limit": 10, "next": token }),
        )
        .await;
    assert_eq!(
        foreign.gql_code(),
        Some("BAD_USER_INPUT"),
        "another user's nextToken is refused"
    );
    let forged = app
        .gql(Some(&t.access), &tasks_q(), json!({ "next": "p1garbage" }))
        .await;
    assert_eq!(forged.gql_code(), Some("BAD_USER_INPUT"));
    let default = app.gql(Some(&t.access), &tasks_q(), json!({})).await;
    assert_eq!(
        default.body["data"]["tasks"]["items"]
            .as_array()
            .map(Vec::len),
        Some(25),
        "default limit is 100"
    );
}

#[tokio::test]
async fn a_stale_expected_version_is_a_conflict_carrying_the_current_task() {
    let app = spawn_app().await;
    let t = app.signed_in(&email("conflict")).await;
    let task = create(&app, &t.access, json!({ "title": "shared" })).await;
    let v2 = app
        .gql(
            Some(&t.access),
            &update_q(),
            json!({ "input": { "id": task["id"], "expectedVersion": 1, "title": "first" } }),
        )
        .await;
    let current = v2.body["data"]["updateTask"].clone();
    let before = head(&app, &t.access).await;

    let stale = app
        .gql(
            Some(&t.access),
            &update_q(),
            json!({ "input": { "id": task["id"], "expectedVersion": 1, "title": "second" } }),
        )
        .await;
    assert_eq!(stale.gql_code(), Some("CONFLICT"), "{}", stale.body);
    assert_eq!(
        stale.body["errors"][0]["extensions"]["current"], current,
        "extensions.current is the server's task"
    );
    let stale_delete = app
        .gql(
            Some(&t.access),
            &delete_q(),
            json!({ "input": { "id": task["id"], "expectedVersion": 1 } }),
        )
        .await;
    assert_eq!(stale_delete.gql_code(), Some("CONFLICT"));
    assert_eq!(
        head(&app, &t.access).await,
        before,
        "refused writes log nothing"
    );
}

#[tokio::test]
async fn sixteen_concurrent_updates_with_one_expected_version_let_exactly_one_through() {
    let app = spawn_app().await;
    let t = app.signed_in(&email("race")).await;
    let task = create(&app, &t.access, json!({ "title": "contended" })).await;
    let before = head(&app, &t.access).await;
    let racers = (0..16).map(|i| {
        let vars = json!({ "input": { "id": task["id"], "expectedVersion": 1, "title": format!("racer {i}") } });
        let (app, token, q) = (&app, t.access.clone(), update_q());
        async move { app.gql(Some(&token), &q, vars).await }
    });
    let answers = futures_util::future::join_all(racers).await;
    let ok = answers
        .iter()
        .filter(|a| a.body["errors"].is_null())
        .count();
    let conflicts = answers
        .iter()
        .filter(|a| a.gql_code() == Some("CONFLICT"))
        .count();
    assert_eq!((ok, conflicts), (1, 15));
    assert_eq!(
        head(&app, &t.access).await,
        before + 1,
        "exactly one new change-log row"
    );
}

#[tokio::test]
async fn creating_with_a_client_chosen_id_is_idempotent() {
    let app = spawn_app().await;
    let t = app.signed_in(&email("retry")).await;
    let id = uuid::Uuid::new_v4().to_string();
    let input =
        json!({ "id": id, "title": "offline", "description": "made on a plane", "done": false });
    let first = create(&app, &t.access, input.clone()).await;
    let retry = create(&app, &t.access, input.clone()).await;
    assert_eq!(first["id"], id.as_str());
    assert_eq!(retry, first, "a retry returns the same task");
    assert_eq!(
        head(&app, &t.access).await,
        1,
        "and writes no second change"
    );

    let different = app
        .gql(
            Some(&t.access),
            &create_q(),
            json!({ "input": { "id": id, "title": "something else" } }),
        )
        .await;
    assert_eq!(different.gql_code(), Some("BAD_USER_INPUT"));
    let other = app.signed_in(&email("thief")).await;
    let stolen = app
        .gql(Some(&other.access), &create_q(), json!({ "input": input }))
        .await;
    assert_eq!(stolen.gql_code(), Some("BAD_USER_INPUT"));
    assert_eq!(
        stolen.body["errors"][0]["message"], different.body["errors"][0]["message"],
        "the same words: nothing about the owner leaks"
    );
    assert!(stolen.body["errors"][0]["extensions"]["current"].is_null());
}

#[tokio::test]
async fn invalid_input_is_refused_with_bad_user_input_and_writes_nothing() {
    let app = spawn_app().await;
    let t = app.signed_in(&email("inputs")).await;
    let existing = create(&app, &t.access, json!({ "title": "exists" })).await;
    let id = existing["id"].clone();
    let cases: Vec<(&str, String, Value)> = vec![
        (
            "an empty title",
            create_q(),
            json!({ "input": { "title": "" } }),
        ),
        (
            "a blank title",
            create_q(),
            json!({ "input": { "title": " \t " } }),
        ),
        (
            "a title of 257 characters",
            create_q(),
            json!({ "input": { "title": "é".repeat(257) } }),
        ),
        (
            "a title with a line break",
            create_q(),
            json!({ "input": { "title": "a\nb" } }),
        ),
        (
            "a description of 10 001 characters",
            create_q(),
            json!({ "input": { "title": "t", "description": "x".repeat(10_001) } }),
        ),
        (
            "a description with a control character",
            create_q(),
            json!({ "input": { "title": "t", "description": "\u{7}" } }),
        ),
        (
            "an id that is not a UUID",
            create_q(),
            json!({ "input": { "id": "42", "title": "t" } }),
        ),
        ("a missing title", create_q(), json!({ "input": {} })),
        (
            "a title of the wrong type",
            create_q(),
            json!({ "input": { "title": 5 } }),
        ),
        (
            "an update with a blank title",
            update_q(),
            json!({ "input": { "id": id, "title": "  " } }),
        ),
        (
            "an expected version of 0",
            update_q(),
            json!({ "input": { "id": id, "expectedVersion": 0, "done": true } }),
        ),
        (
            "a malformed id in an update",
            update_q(),
            json!({ "input": { "id": "nope", "done": true } }),
        ),
        (
            "a malformed id in a delete",
            delete_q(),
            json!({ "input": { "id": "nope" } }),
        ),
        (
            "a malformed id in a query",
            task_q(),
            json!({ "id": "nope" }),
        ),
        ("a limit of 0", tasks_q(), json!({ "limit": 0 })),
        ("a limit of 1001", tasks_q(), json!({ "limit": 1001 })),
    ];
    for (name, query, vars) in cases {
        let a = app.gql(Some(&t.access), &query, vars).await;
        assert_eq!(a.gql_code(), Some("BAD_USER_INPUT"), "{name}: {}", a.body);
        let text = a.body.to_string().to_lowercase();
        assert!(
            !text.contains("sql") && !text.contains("panick"),
            "{name}: no internals in {text}"
        );
    }
    let unknown_field = app
        .gql(Some(&t.access), "{ tasks { items { secret } } }", json!({}))
        .await;
    assert_eq!(unknown_field.gql_code(), Some("BAD_USER_INPUT"));
    let syntax = app.gql(Some(&t.access), "{ tasks { ", json!({})).await;
    assert_eq!(syntax.gql_code(), Some("BAD_USER_INPUT"));

    let ok_max = create(
        &app,
        &t.access,
        json!({ "title": "é".repeat(256), "description": "😀".repeat(10_000) }),
    )
    .await;
    assert_eq!(
        ok_max["title"].as_str().map(|s| s.chars().count()),
        Some(256),
        "limits count characters, not bytes"
    );
    let exact = create(
        &app,
        &t.access,
        json!({ "title": "  spaced \u{200b} ", "description": "line\r\nnext" }),
    )
    .await;
    assert_eq!(
        (exact["title"].as_str(), exact["description"].as_str()),
        (Some("  spaced \u{200b} "), Some("line\r\nnext")),
        "stored byte-exact"
    );
    assert_eq!(
        head(&app, &t.access).await,
        3,
        "only the three valid creates were written"
    );
}

#[tokio::test]
async fn another_users_tasks_are_not_found_through_every_query_and_mutation() {
    let app = spawn_app().await;
    let a = app.signed_in(&email("owner")).await;
    let b = app.signed_in(&email("intruder")).await;
    let task = create(&app, &a.access, json!({ "title": "private" })).await;
    let unknown = json!(uuid::Uuid::new_v4().to_string());

    type Variables = Box<dyn Fn(&Value) -> Value>;
    let operations: Vec<(&str, String, Variables)> = vec![
        ("task", task_q(), Box::new(|id| json!({ "id": id }))),
        (
            "updateTask",
            update_q(),
            Box::new(|id| json!({ "input": { "id": id, "done": true } })),
        ),
        (
            "updateTask with a version",
            update_q(),
            Box::new(
                |id| json!({ "input": { "id": id, "expectedVersion": 1, "title": "mine now" } }),
            ),
        ),
        (
            "deleteTask",
            delete_q(),
            Box::new(|id| json!({ "input": { "id": id } })),
        ),
    ];
    for (name, query, vars) in &operations {
        let theirs = app.gql(Some(&b.access), query, vars(&task["id"])).await;
        let nobodys = app.gql(Some(&b.access), query, vars(&unknown)).await;
        assert_eq!(
            theirs.gql_code(),
            Some("NOT_FOUND"),
            "{name}: {}",
            theirs.body
        );
        assert_eq!(
            theirs.body["data"], nobodys.body["data"],
            "{name}: same data as an unknown id"
        );
        assert_eq!(
            theirs.body["errors"][0]["message"], nobodys.body["errors"][0]["message"],
            "{name}: same words"
        );
    }
    let list = app.gql(Some(&b.access), &tasks_q(), json!({})).await;
    assert_eq!(list.body["data"]["tasks"]["items"], json!([]));

    let still = app
        .gql(Some(&a.access), &task_q(), json!({ "id": task["id"] }))
        .await;
    assert_eq!(
        still.body["data"]["task"], task,
        "the owner's task is untouched"
    );
    assert_eq!(head(&app, &a.access).await, 1);
    assert_eq!(head(&app, &b.access).await, 0);
}

#[tokio::test]
async fn requests_without_a_valid_access_token_are_refused() {
    let app = spawn_app().await;
    let t = app.signed_in(&email("auth")).await;
    let anonymous = app.gql(None, &tasks_q(), json!({})).await;
    assert_eq!(
        anonymous.gql_code(),
        Some("UNAUTHENTICATED"),
        "{}",
        anonymous.body
    );
    let anonymous_write = app
        .gql(None, &create_q(), json!({ "input": { "title": "x" } }))
        .await;
    assert_eq!(anonymous_write.gql_code(), Some("UNAUTHENTICATED"));

    for (name, token) in [
        ("an ID token", t.id.clone()),
        ("garbage", "abc.def.ghi".to_owned()),
    ] {
        let a = app.gql(Some(&token), &tasks_q(), json!({})).await;
        assert_eq!(
            (a.status, a.gql_code()),
            (StatusCode::UNAUTHORIZED, Some("UNAUTHENTICATED")),
            "{name}"
        );
        assert_eq!(
            a.headers.get("www-authenticate").map(|v| v.as_bytes()),
            Some(&b"Bearer"[..])
        );
    }
    app.post("/auth/sign-out", json!({ "refreshToken": t.refresh }))
        .await;
    let revoked = app
        .gql(
            Some(&t.access),
            &create_q(),
            json!({ "input": { "title": "x" } }),
        )
        .await;
    assert_eq!(
        revoked.status,
        StatusCode::UNAUTHORIZED,
        "a signed-out session's token fails at once"
    );
    let user = UserId::parse(
        &app.state.store.list_users().await.expect("users")[0]
            .id
            .to_string(),
    )
    .expect("id");
    assert_eq!(
        app.state.store.head(user).await.expect("head"),
        0,
        "nothing was written"
    );
}

#[tokio::test]
async fn request_size_depth_complexity_and_batch_are_limited() {
    let app = spawn_app().await;
    let t = app.signed_in(&email("limits")).await;

    let huge = json!({ "query": "{ tasks { items { id } } }", "variables": { "pad": "x".repeat(1024 * 1024) } });
    let a = app.gql_raw(Some(&t.access), huge).await;
    assert_eq!(
        (a.status, a.gql_code()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("BAD_USER_INPUT"))
    );

    let mut deep = String::from("name");
    for _ in 0..20 {
        deep = format!("ofType {{ {deep} }}");
    }
    let deep = app
        .gql(
            Some(&t.access),
            &format!("{{ __schema {{ types {{ fields {{ type {{ {deep} }} }} }} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(deep.gql_code(), Some("BAD_USER_INPUT"), "{}", deep.body);
    assert!(
        deep.body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nested too deep")),
        "{}",
        deep.body
    );

    let f = "id title description done owner createdAt updatedAt version deleted";
    let complex = format!(
        "{{ a: tasks(limit: 1000) {{ items {{ {f} }} }} b: tasks(limit: 1000) {{ items {{ {f} }} }} c: tasks(limit: 1000) {{ items {{ {f} }} }} }}"
    );
    let c = app.gql(Some(&t.access), &complex, json!({})).await;
    assert!(
        c.body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("complex")),
        "{}",
        c.body
    );
    let one_page = app
        .gql(
            Some(&t.access),
            &format!("{{ tasks(limit: 1000) {{ items {{ {f} }} }} }}"),
            json!({}),
        )
        .await;
    assert!(
        one_page.body["errors"].is_null(),
        "a full page is within the limit: {}",
        one_page.body
    );

    let op = json!({ "query": "{ tasks { items { id } } }" });
    let ten = app
        .gql_raw(Some(&t.access), Value::Array(vec![op.clone(); 10]))
        .await;
    assert_eq!(
        ten.body.as_array().map(Vec::len),
        Some(10),
        "ten operations run: {}",
        ten.body
    );
    let eleven = app
        .gql_raw(Some(&t.access), Value::Array(vec![op; 11]))
        .await;
    assert_eq!(
        (eleven.status, eleven.gql_code()),
        (StatusCode::BAD_REQUEST, Some("BAD_USER_INPUT"))
    );
    let not_graphql = app
        .gql_raw(Some(&t.access), json!({ "hello": "world" }))
        .await;
    assert_eq!(not_graphql.gql_code(), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn limits_are_configurable() {
    let app = spawn_with(|s| {
        s.graphql_max_batch = 2;
        s.graphql_max_depth = 3;
        s.graphql_max_limit = 5;
    })
    .await;
    let t0 = app.signed_in(&email("limit5")).await;
    let five = app
        .gql(
            Some(&t0.access),
            "{ tasks(limit: 5) { nextToken } }",
            json!({}),
        )
        .await;
    assert!(five.body["errors"].is_null(), "{}", five.body);
    let six = app
        .gql(
            Some(&t0.access),
            "{ tasks(limit: 6) { nextToken } }",
            json!({}),
        )
        .await;
    assert_eq!(
        six.gql_code(),
        Some("BAD_USER_INPUT"),
        "the configured maximum limit"
    );
    let t = app.signed_in(&email("tight")).await;
    let op = json!({ "query": "{ tasks { items { id } } }" });
    assert!(
        app.gql_raw(Some(&t.access), Value::Array(vec![op.clone(); 2]))
            .await
            .body
            .is_array()
    );
    assert_eq!(
        app.gql_raw(Some(&t.access), Value::Array(vec![op; 3]))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let depth4 = app
        .gql(Some(&t.access), "{ tasks { items { id } } }", json!({}))
        .await;
    assert!(
        depth4.body["errors"].is_null(),
        "depth 3 fits: {}",
        depth4.body
    );
    let with_alias = app
        .gql(
            Some(&t.access),
            "{ __schema { types { fields { name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        with_alias.gql_code(),
        Some("BAD_USER_INPUT"),
        "depth 4 does not"
    );
}

#[tokio::test]
async fn graphiql_and_introspection_are_on_in_dev_mode_only() {
    let dev = spawn_app().await;
    let page = dev
        .client
        .get(dev.url("/graphql"))
        .send()
        .await
        .expect("get");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text()
            .await
            .expect("html")
            .to_lowercase()
            .contains("graphiql")
    );
    let t = dev.signed_in(&email("intro")).await;
    let intro = dev
        .gql(
            Some(&t.access),
            "{ __schema { queryType { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(intro.body["data"]["__schema"]["queryType"]["name"], "Query");

    let prod = spawn_with(|s| {
        s.dev = false;
        s.smtp_url = Some(secrecy::SecretString::from("smtp://127.0.0.1:9"));
    })
    .await;
    let page = prod
        .client
        .get(prod.url("/graphql"))
        .send()
        .await
        .expect("get");
    assert_eq!(
        page.status(),
        StatusCode::METHOD_NOT_ALLOWED,
        "no GraphiQL in production"
    );
    let intro = prod
        .gql(None, "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert!(
        intro.body["data"]["__schema"].is_null() || !intro.body["errors"].is_null(),
        "introspection is off: {}",
        intro.body
    );
}
