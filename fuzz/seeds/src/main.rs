//! Writes the seed corpora of the fuzz targets into `fuzz/corpus/<target>/`
//! (run from anywhere: `cargo run --manifest-path fuzz/Cargo.toml -p
//! tasksync-fuzz-seeds`). Seeds are small inputs that reach every branch
//! worth reaching: valid inputs of every kind, made by the real encoders
//! where there are some, and broken ones next to them. Files are named for
//! what they hold; rerunning rewrites the same files.

use std::path::{Path, PathBuf};

use serde_json::json;
use tasksync_core::{Cursor, PageToken, SyncPosition, SyncToken, TaskId, UserId};
use uuid::Uuid;

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(target);
    std::fs::create_dir_all(&dir).expect("create the corpus folder");
    dir
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) {
    std::fs::write(dir.join(name), bytes).expect("write a seed");
}

/// Fixed identifiers, so that the seeds are the same on every run.
fn user(n: u128) -> UserId {
    UserId::from_uuid(Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0000 | n,
    ))
}
fn task(n: u128) -> TaskId {
    TaskId::from_uuid(Uuid::from_u128(
        0x0191_0000_0000_7000_9000_0000_0000_0000 | n,
    ))
}

/// Broken variants of a valid text form.
fn mangled(good: &str) -> Vec<(&'static str, String)> {
    let mut chars: Vec<char> = good.chars().collect();
    let last = chars.len() - 1;
    let truncated: String = chars[..last].iter().collect();
    chars[last] = 'g';
    let not_hex: String = chars.iter().collect();
    chars[last] = 'é';
    let multibyte: String = chars.iter().collect();
    vec![
        ("truncated", truncated),
        ("one-more", format!("{good}0")),
        ("uppercase", good.to_uppercase()),
        ("not-hex", not_hex),
        ("multibyte", multibyte),
        ("plus-sign", good.replacen('0', "+", 1)),
        ("space", format!(" {good}")),
    ]
}

fn cursors() {
    let dir = corpus("cursor");
    let valid = [
        ("zero", Cursor::new(user(1), 0)),
        ("seven", Cursor::new(user(2), 7)),
        ("max", Cursor::new(user(3), i64::MAX)),
        ("nil-scope", Cursor::new(UserId::from_uuid(Uuid::nil()), 42)),
    ];
    for (name, cursor) in valid {
        write(&dir, &format!("valid-{name}"), cursor.encode());
    }
    let good = Cursor::new(user(4), 1234).encode();
    for (name, text) in mangled(&good) {
        write(&dir, &format!("broken-{name}"), text);
    }
    // A negative sequence number (the top bit set) is refused.
    write(
        &dir,
        "broken-negative",
        format!("c1{:032x}{:016x}", 5, u64::MAX),
    );
    write(&dir, "broken-prefix-only", "c1");
    write(&dir, "broken-other-version", good.replacen("c1", "c2", 1));
    write(&dir, "broken-page-token", page_token().encode());
    write(&dir, "empty", "");
    // Values for encode → decode (first byte 0).
    let mut value = vec![0u8];
    value.extend_from_slice(&0x1234u128.to_le_bytes());
    value.extend_from_slice(&99i64.to_le_bytes());
    write(&dir, "value-seq-99", &value);
    let mut negative = vec![0u8];
    negative.extend_from_slice(&7u128.to_le_bytes());
    negative.extend_from_slice(&(-1i64).to_le_bytes());
    write(&dir, "value-seq-negative", &negative);
}

fn page_token() -> PageToken {
    PageToken {
        scope: user(1),
        created_at: 1_767_225_600_000,
        id: task(1),
    }
}

fn page_tokens() {
    let dir = corpus("page_token");
    write(&dir, "valid-page", page_token().encode());
    let negative_time = PageToken {
        created_at: -1,
        ..page_token()
    };
    write(&dir, "valid-page-before-1970", negative_time.encode());
    let full = SyncToken {
        scope: user(2),
        upto: 41,
        position: SyncPosition::Full {
            created_at: 1_767_225_600_000,
            id: task(2),
        },
    };
    let delta = SyncToken {
        scope: user(3),
        upto: 1000,
        position: SyncPosition::Delta { last_seq: 999 },
    };
    write(&dir, "valid-sync-full", full.encode());
    write(&dir, "valid-sync-delta", delta.encode());
    for (name, text) in mangled(&page_token().encode()) {
        write(&dir, &format!("broken-page-{name}"), text);
    }
    for (name, text) in mangled(&delta.encode()) {
        write(&dir, &format!("broken-sync-{name}"), text);
    }
    let negative_upto = format!("sd{:032x}{:016x}{:016x}", 3, u64::MAX, 1);
    write(&dir, "broken-sync-negative-upto", negative_upto);
    // A full sync's length with a delta's prefix, and the other way round.
    write(
        &dir,
        "broken-sync-mixed",
        full.encode().replacen("sf", "sd", 1),
    );
    write(&dir, "broken-cursor", Cursor::new(user(4), 5).encode());
    write(&dir, "broken-prefix-only", "p1");
    // Values for encode → decode (first byte 0: page, 1: sync).
    let mut value = vec![0u8];
    value.extend_from_slice(&1u128.to_le_bytes());
    value.extend_from_slice(&(-5i64).to_le_bytes());
    value.extend_from_slice(&2u128.to_le_bytes());
    write(&dir, "value-page", &value);
    for (name, full) in [("value-sync-full", 1u8), ("value-sync-delta", 0)] {
        let mut value = vec![1u8];
        value.extend_from_slice(&3u128.to_le_bytes());
        value.extend_from_slice(&10i64.to_le_bytes());
        value.push(full);
        value.extend_from_slice(&9i64.to_le_bytes());
        value.extend_from_slice(&4u128.to_le_bytes());
        write(&dir, name, &value);
    }
}

fn ws_messages() {
    let dir = corpus("ws_message");
    let changes = "subscription($after: String) { taskChanges(after: $after) { op cursor task { id title done version deleted } } }";
    let after = Cursor::new(user(1), 3).encode();
    let valid = [
        ("init", json!({ "type": "connection_init" })),
        (
            "init-token",
            json!({ "type": "connection_init", "payload": { "authorization": "Bearer eyJhbGciOiJFZERTQSJ9.e30.c2ln" } }),
        ),
        (
            "init-null-payload",
            json!({ "type": "connection_init", "payload": null }),
        ),
        ("ping", json!({ "type": "ping" })),
        (
            "ping-payload",
            json!({ "type": "ping", "payload": { "at": 1 } }),
        ),
        ("pong", json!({ "type": "pong" })),
        ("pong-payload", json!({ "type": "pong", "payload": {} })),
        (
            "subscribe-changes",
            json!({ "id": "1", "type": "subscribe", "payload": { "query": changes, "variables": { "after": after } } }),
        ),
        (
            "subscribe-on-create",
            json!({ "id": "2", "type": "subscribe", "payload": { "query": "subscription { onCreateTask { id title } }" } }),
        ),
        (
            "subscribe-named",
            json!({ "id": "a-3", "type": "subscribe", "payload": {
                "query": "subscription A { onDeleteTask { id } } subscription B { onUpdateTask { id } }",
                "operationName": "B", "variables": null, "extensions": { "persistedQuery": { "version": 1 } } } }),
        ),
        (
            "subscribe-query",
            json!({ "id": "4", "type": "subscribe", "payload": { "query": "{ tasks(limit: 2) { items { id } nextToken } }" } }),
        ),
        ("complete", json!({ "id": "1", "type": "complete" })),
        (
            "extra-field",
            json!({ "id": "1", "type": "complete", "reason": "done" }),
        ),
    ];
    for (name, message) in valid {
        write(&dir, &format!("valid-{name}"), message.to_string());
    }
    let nested = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let broken = [
        ("empty", String::new()),
        ("not-json", "connection_init".into()),
        ("array", "[{\"type\":\"ping\"}]".into()),
        ("no-type", json!({ "payload": {} }).to_string()),
        ("type-number", json!({ "type": 1 }).to_string()),
        ("unknown-type", json!({ "type": "start", "id": "1" }).to_string()),
        ("server-message", json!({ "type": "next", "id": "1", "payload": {} }).to_string()),
        ("legacy-terminate", json!({ "type": "connection_terminate" }).to_string()),
        ("subscribe-no-id", json!({ "type": "subscribe", "payload": { "query": "{ __typename }" } }).to_string()),
        ("subscribe-id-number", json!({ "type": "subscribe", "id": 1, "payload": { "query": "{ a }" } }).to_string()),
        ("subscribe-no-payload", json!({ "type": "subscribe", "id": "1" }).to_string()),
        ("subscribe-null-payload", json!({ "type": "subscribe", "id": "1", "payload": null }).to_string()),
        ("subscribe-query-number", json!({ "type": "subscribe", "id": "1", "payload": { "query": 7 } }).to_string()),
        ("subscribe-variables-list", json!({ "type": "subscribe", "id": "1", "payload": { "query": "{ a }", "variables": [1] } }).to_string()),
        ("complete-no-id", json!({ "type": "complete" }).to_string()),
        ("duplicate-type", r#"{"type":"ping","type":"complete","id":"1"}"#.into()),
        ("duplicate-id", r#"{"type":"complete","id":"1","id":"2"}"#.into()),
        ("deep-payload", format!(r#"{{"type":"ping","payload":{nested}}}"#)),
        ("truncated", r#"{"type":"subscribe","id":"1","payload":{"query":"#.into()),
        ("escaped-type", r#"{"type":"p\u0069ng"}"#.into()),
        ("bom", format!("\u{feff}{}", json!({ "type": "ping" }))),
    ];
    for (name, text) in broken {
        write(&dir, &format!("broken-{name}"), text);
    }
    // Well-formed messages built from the bytes (first byte 0).
    write(
        &dir,
        "built-messages",
        b"\x00sub-1{ tasks { items { id } } }",
    );
}

/// `n` fragments, each spreading the one before twice, `leaf` at the bottom.
fn doubling(op: &str, on: &str, n: usize, leaf: &str) -> String {
    let mut q = format!(
        "{op} {{ ...F{} }}\nfragment F0 on {on} {{ {leaf} }}\n",
        n - 1
    );
    for i in 1..n {
        q.push_str(&format!(
            "fragment F{i} on {on} {{ ...F{j} ...F{j} }}\n",
            j = i - 1
        ));
    }
    q
}

fn graphql_documents() {
    let dir = corpus("graphql_document");
    let docs = [
        ("tasks", "{ tasks(limit: 10) { items { id title description done owner createdAt updatedAt version deleted } nextToken } }".to_owned()),
        ("task", "query Task($id: ID!) { task(id: $id) { id title } }".to_owned()),
        (
            "sync",
            "query Sync($since: String, $next: String) { syncTasks(lastSync: $since, limit: 1000, nextToken: $next) { items { id version deleted } nextToken cursor fullSync } }".to_owned(),
        ),
        (
            "mutations",
            r#"mutation { a: createTask(input: { title: "one", done: false }) { id version } b: updateTask(input: { id: "x", expectedVersion: 1, title: "two" }) { id } c: deleteTask(input: { id: "x" }) { id deleted } }"#.to_owned(),
        ),
        (
            "variables",
            "mutation Create($input: CreateTaskInput! = { title: \"t\", description: null }, $n: [[Int!]] = [[1, 2], [3]]) { createTask(input: $input) { id } }".to_owned(),
        ),
        ("subscription", "subscription($after: String) { taskChanges(after: $after) { op cursor task { id title } } }".to_owned()),
        ("subscription-two-roots", "subscription { onCreateTask { id } onDeleteTask { id } }".to_owned()),
        (
            "subscription-fragment",
            "subscription { ...S } fragment S on Subscription { onUpdateTask { ...T } } fragment T on Task { id title }".to_owned(),
        ),
        ("aliases", "{ a: tasks { n: nextToken } b: tasks { n: nextToken } c: __typename }".to_owned()),
        (
            "directives",
            "query($s: Boolean = false) { tasks @include(if: true) { items @skip(if: $s) { id } nextToken @skip(if: false) @include(if: true) } }".to_owned(),
        ),
        ("directive-repeated", "{ tasks @skip(if: false) @skip(if: false) { nextToken } }".to_owned()),
        (
            "inline-fragments",
            "{ ... on Query { tasks { ... on TaskPage { items { ... @include(if: true) { id } } } } } }".to_owned(),
        ),
        (
            "fragments",
            "query { ...Q } fragment Q on Query { tasks { ...P } } fragment P on TaskPage { items { ...T } nextToken } fragment T on Task { id title }".to_owned(),
        ),
        ("fragment-cycle", "{ ...A } fragment A on Query { ...B } fragment B on Query { __typename ...A }".to_owned()),
        ("fragment-self", "{ ...A } fragment A on Query { ...A }".to_owned()),
        ("fragment-unknown", "{ ...Missing __typename }".to_owned()),
        ("doubling-8", doubling("query", "Query", 8, "__typename")),
        ("doubling-12", doubling("query", "Query", 12, "__typename")),
        ("doubling-27", doubling("query", "Query", 27, "__typename")),
        ("doubling-subscription", doubling("subscription", "Subscription", 10, "onCreateTask { id }")),
        ("fan-out", format!("{{ {} }}", (0..120).map(|i| format!("a{i}: __typename")).collect::<Vec<_>>().join(" "))),
        ("deep-nesting-30", format!("{}__typename{}", "{ a ".repeat(30), " }".repeat(30))),
        ("deep-nesting-40", format!("{}__typename{}", "{ a ".repeat(40), " }".repeat(40))),
        ("deep-inline-40", format!("{{ {}__typename{} }}", "... on Query { ".repeat(40), " }".repeat(40))),
        (
            "fragment-chain-40",
            {
                let mut q = "{ ...F39 }\nfragment F0 on Query { __typename }\n".to_owned();
                for i in 1..40 {
                    q.push_str(&format!("fragment F{i} on Query {{ ...F{} }}\n", i - 1));
                }
                q
            },
        ),
        ("deep-list-60", format!("{{ a(x: {}1{}) }}", "[".repeat(60), "]".repeat(60))),
        ("deep-object-60", format!("{{ a(x: {}1{}) }}", "{a: ".repeat(60), "}".repeat(60))),
        ("deep-list-type", format!("query($v: {}Int{}) {{ a }}", "[".repeat(60), "]".repeat(60))),
        (
            "strings",
            "{ a(x: \"{[(\\\" \\u00e9\", y: \"\"\"block {{{ [[[ \\\"\"\" \"\"\") # comment {{{ [[[\n b }".to_owned(),
        ),
        ("many-directives", format!("{{ a {} }}", (0..200).map(|i| format!("@d{i}")).collect::<Vec<_>>().join(" "))),
        ("multiple-operations", "query A { a } query B { b } mutation C { c } subscription D { d }".to_owned()),
        ("anonymous-and-named", "{ a } query B { b }".to_owned()),
        ("syntax-error", "{ tasks { ".to_owned()),
        // Regressions (docs/fuzzing.md): each was refused too late, or not
        // at all, before the fix named.
        ("doubling-nothing-30", doubling("query", "Query", 30, "...Missing")),
        (
            "doubling-nothing-subscription",
            doubling("subscription", "Subscription", 30, "...Missing"),
        ),
        ("deep-list-1000", format!("{{ a(x: {}1{}) }}", "[".repeat(1000), "]".repeat(1000))),
        ("empty", String::new()),
    ];
    for (name, text) in docs {
        write(&dir, &format!("{name}.graphql"), text);
    }
}

fn main() {
    cursors();
    page_tokens();
    ws_messages();
    graphql_documents();
    let root = corpus("").canonicalize().expect("the corpus folder");
    println!("seeds written under {}", root.display());
}
