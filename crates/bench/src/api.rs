//! The server's API as the bench's clients use it: accounts through the dev
//! mailbox, GraphQL over HTTP, lean subscriber sockets and the write load.

use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::lean;
use crate::report::stamp;

pub const PASSWORD: &str = "correct horse battery staple";

/// Signs up, confirms through the dev mailbox and signs in; the access token.
pub async fn register(http: &reqwest::Client, base: &str, email: &str) -> anyhow::Result<String> {
    let body = json!({ "email": email, "password": PASSWORD });
    let up = http
        .post(format!("{base}/auth/sign-up"))
        .json(&body)
        .send()
        .await?;
    if !up.status().is_success() {
        bail!("sign-up failed: {}", up.text().await?);
    }
    let mut code = None;
    for _ in 0..200 {
        let mails: Value = http
            .get(format!("{base}/dev/mailbox"))
            .send()
            .await?
            .json()
            .await?;
        code = mails
            .as_array()
            .into_iter()
            .flatten()
            .rev()
            .find(|m| m["to"] == email)
            .and_then(|m| {
                let text = m["text"].as_str()?;
                text.split(|c: char| !c.is_ascii_digit())
                    .find(|w| w.len() == 6)
                    .map(str::to_owned)
            });
        if code.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let code = code.context("no code in the dev mailbox (is the server in dev mode?)")?;
    http.post(format!("{base}/auth/confirm-sign-up"))
        .json(&json!({ "email": email, "code": code }))
        .send()
        .await?
        .error_for_status()?;
    let tokens: Value = http
        .post(format!("{base}/auth/sign-in"))
        .json(&body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    tokens["accessToken"]
        .as_str()
        .map(str::to_owned)
        .context("no access token")
}

pub async fn gql(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    let v: Value = http
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await?
        .json()
        .await?;
    if !v["errors"].is_null() {
        bail!("GraphQL errors: {}", v["errors"]);
    }
    Ok(v["data"].clone())
}

pub const CREATE: &str = "mutation($t: String!) { createTask(input: { title: $t }) { id } }";
pub const CHANGES: &str =
    "subscription($after: String) { taskChanges(after: $after) { cursor task { title } } }";

/// The current cursor of a user (the head of its log).
pub async fn head_cursor(
    http: &reqwest::Client,
    base: &str,
    token: &str,
) -> anyhow::Result<String> {
    let d = gql(
        http,
        base,
        token,
        "{ syncTasks(limit: 1) { cursor } }",
        json!({}),
    )
    .await?;
    d["syncTasks"]["cursor"]
        .as_str()
        .map(str::to_owned)
        .context("cursor")
}

/// A new user `{prefix}-{random}@bench.example`: its access token and the
/// cursor at the head of its (empty) log.
pub async fn fresh_user(
    http: &reqwest::Client,
    base: &str,
    prefix: &str,
) -> anyhow::Result<(String, String)> {
    let email = format!("{prefix}-{}@bench.example", uuid::Uuid::new_v4().simple());
    let token = register(http, base, &email).await?;
    let cursor = head_cursor(http, base, &token).await?;
    Ok((token, cursor))
}

/// A lean socket with one `taskChanges` subscription after `cursor`,
/// positioned (a pong after the subscribe proves the server has fixed its
/// start).
pub async fn subscriber(base: &str, token: &str, cursor: &str) -> anyhow::Result<lean::Socket> {
    lean::Socket::subscribe(base, token, CHANGES, cursor).await
}

/// Runs `total` createTask mutations at `concurrency`, titles stamped with
/// their send time; returns each mutation's latency in µs.
pub async fn write_load(
    http: &reqwest::Client,
    bases: &[String],
    tokens: &[String],
    total: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<u128>> {
    let mut workers = Vec::new();
    for w in 0..concurrency {
        // Writers spread over the nodes.
        let (http, base, tokens) = (
            http.clone(),
            bases[w % bases.len()].clone(),
            tokens.to_vec(),
        );
        let n = total / concurrency + usize::from(w < total % concurrency);
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(n);
            for i in 0..n {
                let token = &tokens[(w + i * concurrency) % tokens.len()];
                let sent = stamp();
                gql(
                    &http,
                    &base,
                    token,
                    CREATE,
                    json!({ "t": format!("b{sent} w{w}") }),
                )
                .await?;
                lat.push(stamp() - sent);
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::with_capacity(total);
    for w in workers {
        all.extend(w.await??);
    }
    Ok(all)
}
