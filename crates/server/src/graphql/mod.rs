//! The data API on `/graphql` — the only module that knows async-graphql.
//!
//! The HTTP handler is ours rather than async-graphql-axum's so that every
//! refusal (body size, bad token, batch size, bad JSON) answers in the
//! GraphQL error shape with a code, and so the limits are explicit.

pub mod error;
pub mod resolvers;
pub mod size;
pub mod sync;
pub mod types;

use std::sync::Arc;

use async_graphql::{BatchRequest, BatchResponse, Schema};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;
use tasksync_store::Store;

use crate::auth::{AuthError, bearer_token};
use crate::http::rate_limit::Caller;
use crate::state::AppState;
use error::{BAD_USER_INPUT, UNAUTHENTICATED};
use resolvers::{Mutation, Query};
use sync::Subscription;

pub type TaskSchema = Schema<Query, Mutation, Subscription>;

/// Limits of a GraphQL request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub depth: usize,
    pub complexity: usize,
    pub batch: usize,
    /// Largest `limit` of a listing.
    pub max_limit: u32,
    /// Bytes of tasks one request may answer with ([`AnswerBudget`]).
    pub answer_bytes: usize,
}

/// What is left of the bytes of tasks one request may answer with
/// (`TASKSYNC_GRAPHQL_MAX_ANSWER_BYTES`), shared by the listing fields of
/// all its operations: each takes what is left, reads pages within it, and
/// gives back what it did not use. Without it, one request of 50 full syncs
/// of 10 KB tasks would read and answer half a gigabyte.
#[derive(Debug, Clone)]
pub struct AnswerBudget(Arc<std::sync::atomic::AtomicUsize>);

impl AnswerBudget {
    pub fn new(bytes: usize) -> Self {
        Self(Arc::new(std::sync::atomic::AtomicUsize::new(bytes)))
    }

    /// Takes all that is left (0 when another field holds it: that field's
    /// page then holds one task).
    pub fn take(&self) -> usize {
        self.0.swap(0, std::sync::atomic::Ordering::AcqRel)
    }

    /// Gives back bytes taken and not used.
    pub fn give_back(&self, bytes: usize) {
        self.0.fetch_add(bytes, std::sync::atomic::Ordering::AcqRel);
    }
}

/// The executable schema. Introspection and field suggestions are on only
/// when asked (dev mode).
pub fn schema(
    store: Arc<dyn Store>,
    feed: Arc<crate::feed::Feed>,
    limits: Limits,
    introspection: bool,
) -> TaskSchema {
    let builder = Schema::build(Query, Mutation, Subscription)
        .data(store)
        .data(feed)
        .data(limits)
        .limit_depth(limits.depth)
        .limit_complexity(limits.complexity);
    // Outside dev mode, no introspection and no "did you mean" suggestions
    // (they tell anyone, signed in or not, the names of fields).
    if introspection {
        builder.finish()
    } else {
        builder
            .disable_introspection()
            .disable_suggestions()
            .finish()
    }
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(Query, Mutation, Subscription).finish().sdl()
}

fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, axum::Json(body)).into_response()
}

/// Errors raised before resolvers run (syntax, validation, depth and
/// complexity limits) come without a code; they are all bad input.
fn add_missing_codes(response: &mut BatchResponse) {
    match response {
        BatchResponse::Single(r) => add_missing_codes_one(r),
        BatchResponse::Batch(rs) => rs.iter_mut().for_each(add_missing_codes_one),
    }
}

/// [`add_missing_codes`] for one response.
pub fn add_missing_codes_one(response: &mut async_graphql::Response) {
    for e in &mut response.errors {
        let ext = e.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_none() {
            ext.set("code", BAD_USER_INPUT);
        }
    }
}

/// Why an operation is not run: it is too large, or its caller is over
/// the rate limit (wait this long).
#[derive(Debug)]
pub enum Refusal {
    TooLarge(String),
    RateLimited(std::time::Duration),
}

/// Bytes of query text that cost one more unit of the rate limit, paid
/// before the text is parsed (parsing is the work a refused document
/// still costs); shorter documents, the ones clients send over and over,
/// cost nothing more.
pub const QUERY_BYTES_PER_UNIT: usize = 4096;

/// Bytes of an HTTP body that cost one more unit, paid before the body is
/// read as JSON, on top of the one every request pays.
pub const BODY_BYTES_PER_UNIT: usize = 16 * 1024;

/// The limits every operation passes before it runs, on HTTP and on a
/// socket alike: each query text is at most `TASKSYNC_GRAPHQL_MAX_QUERY_BYTES`
/// and `caller` pays for its length ([`QUERY_BYTES_PER_UNIT`]) before it is
/// parsed; each of `requests` gets its parsed document
/// ([`Documents::prepare`]); their root fields together must be within
/// `TASKSYNC_GRAPHQL_MAX_ROOT_FIELDS`, and `caller` pays for them beyond
/// the one root field it paid before the body was parsed. Admitted
/// requests share one [`AnswerBudget`].
pub async fn admit(
    state: &AppState,
    caller: Option<Caller>,
    requests: Vec<&mut async_graphql::Request>,
) -> Result<(), Refusal> {
    let max_text = state.settings.graphql_max_query_bytes;
    let mut text_units = 0usize;
    for r in &requests {
        if r.query.len() > max_text {
            return Err(Refusal::TooLarge(format!(
                "a query text may be at most {max_text} bytes (pass large values as variables)"
            )));
        }
        text_units = text_units.saturating_add(r.query.len() / QUERY_BYTES_PER_UNIT);
    }
    if let Some(caller) = caller
        && text_units > 0
    {
        state
            .api_rate
            .check(caller, text_units)
            .map_err(Refusal::RateLimited)?;
    }
    let limit = state.settings.graphql_max_selections;
    let answer = AnswerBudget::new(state.settings.graphql_max_answer_bytes);
    let mut roots = 0usize;
    for r in requests {
        let n = state
            .documents
            .prepare(r, limit)
            .await
            .map_err(|refused| Refusal::TooLarge(refused.to_string()))?;
        roots = roots.saturating_add(n);
        r.data.insert(answer.clone());
    }
    let max_roots = state.settings.graphql_max_root_fields;
    if roots > max_roots {
        return Err(Refusal::TooLarge(format!(
            "at most {max_roots} root fields per request, batches included"
        )));
    }
    match caller {
        Some(caller) if roots > 1 => state
            .api_rate
            .check(caller, roots - 1)
            .map_err(Refusal::RateLimited),
        _ => Ok(()),
    }
}

/// 429 `RATE_LIMITED`, with the seconds to wait in `Retry-After`.
fn rate_limited(wait: std::time::Duration) -> Response {
    let mut answer = refusal(
        StatusCode::TOO_MANY_REQUESTS,
        error::RATE_LIMITED,
        "too many requests: wait, then try again",
    );
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    if let Ok(value) = axum::http::HeaderValue::from_str(&seconds.to_string()) {
        answer.headers_mut().insert(header::RETRY_AFTER, value);
    }
    answer
}

/// `POST /graphql`
pub async fn post(
    State(state): State<AppState>,
    peer: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                BAD_USER_INPUT,
                "request body is too large",
            );
        }
        Err(_) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                BAD_USER_INPUT,
                "could not read the request body",
            );
        }
    };
    let user = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let token = value.to_str().ok().and_then(bearer_token);
            let verified = match token {
                Some(token) => state.auth.authenticate(token).await,
                None => Err(AuthError::NotAuthorized("no bearer token")),
            };
            match verified {
                Ok(user) => Some(user),
                Err(AuthError::Internal) => {
                    return refusal(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        error::INTERNAL,
                        "internal error",
                    );
                }
                Err(_) => {
                    let mut answer = refusal(
                        StatusCode::UNAUTHORIZED,
                        UNAUTHENTICATED,
                        "invalid or expired access token",
                    );
                    answer.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        axum::http::HeaderValue::from_static("Bearer"),
                    );
                    return answer;
                }
            }
        }
    };
    // Every request costs at least one root field, and one more per
    // `BODY_BYTES_PER_UNIT` of body, paid before its body is parsed: a
    // caller over the limit makes the server parse nothing, and requests
    // refused below (unparseable, too many selections or root fields) are
    // not free.
    let caller = match (&user, peer) {
        (Some(user), _) => Some(Caller::User(user.user_id)),
        (None, Some(axum::Extension(ConnectInfo(addr)))) => {
            Some(state.api_rate.anonymous(addr.ip(), &headers))
        }
        (None, None) => None,
    };
    if let Some(caller) = caller
        && let Err(wait) = state
            .api_rate
            .check(caller, 1 + body.len() / BODY_BYTES_PER_UNIT)
    {
        return rate_limited(wait);
    }
    let Ok(mut request) = serde_json::from_slice::<BatchRequest>(&body) else {
        return refusal(
            StatusCode::BAD_REQUEST,
            BAD_USER_INPUT,
            "body is not a GraphQL request in JSON",
        );
    };
    if let BatchRequest::Batch(ops) = &request
        && ops.len() > state.settings.graphql_max_batch
    {
        let message = format!(
            "at most {} operations per batch",
            state.settings.graphql_max_batch
        );
        return refusal(StatusCode::BAD_REQUEST, BAD_USER_INPUT, &message);
    }
    let admitted = match &mut request {
        BatchRequest::Single(r) => admit(&state, caller, vec![r]).await,
        BatchRequest::Batch(rs) => admit(&state, caller, rs.iter_mut().collect()).await,
    };
    match admitted {
        Ok(()) => {}
        Err(Refusal::TooLarge(message)) => {
            return refusal(StatusCode::BAD_REQUEST, BAD_USER_INPUT, &message);
        }
        Err(Refusal::RateLimited(wait)) => return rate_limited(wait),
    }
    if let Some(user) = user {
        request = request.data(user);
    }
    let mut response = state.schema.execute_batch(request).await;
    add_missing_codes(&mut response);
    axum::Json(response).into_response()
}

/// Parsed query documents by their text, with their root fields. Clients
/// send the same few documents over and over; cloning a parsed one is much
/// cheaper than parsing it again. Bounded: emptied when full. Only
/// documents within the selection limit are remembered. Documents too long
/// to remember are parsed on the blocking pool, one at a time, so parsing
/// the longest ones allowed never holds up the threads that serve
/// everyone else.
#[derive(Debug)]
pub struct Documents {
    parsed: std::sync::Mutex<std::collections::HashMap<String, Parsed>>,
    long: tokio::sync::Semaphore,
}

impl Default for Documents {
    fn default() -> Self {
        Self {
            parsed: Default::default(),
            long: tokio::sync::Semaphore::new(1),
        }
    }
}

/// A document and its root fields ([`size::root_fields`]).
type Parsed = (async_graphql::parser::types::ExecutableDocument, usize);

/// Documents remembered at most, and the longest one remembered.
const DOCUMENTS: usize = 512;
const DOCUMENT_MAX_LEN: usize = 4096;

impl Documents {
    /// Gives `request` its parsed document from the cache, or parses it,
    /// refuses it if it selects more than `max_selections` fields once its
    /// fragments are expanded or nests too deep ([`size::check`]), and
    /// remembers it. Answers the document's root fields: what the request
    /// costs against the rate limit. Documents that do not parse are left
    /// to the executor, which reports the error (and cost 0 here).
    pub async fn prepare(
        &self,
        request: &mut async_graphql::Request,
        max_selections: usize,
    ) -> Result<usize, size::Refused> {
        let checked = if request.query.len() <= DOCUMENT_MAX_LEN {
            if let Some((doc, roots)) = self.lock().get(&request.query).cloned() {
                request.set_parsed_query(doc);
                return Ok(roots);
            }
            size::check(&request.query, max_selections)?
        } else {
            // Closed never; a failed acquire would only mean no queue.
            let _turn = self.long.acquire().await.ok();
            let query = request.query.clone();
            match tokio::task::spawn_blocking(move || size::check(&query, max_selections)).await {
                Ok(checked) => checked?,
                // The parser panicked: as it would have here.
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // Shutting down: left to the executor.
                Err(_) => None,
            }
        };
        let Some(doc) = checked else {
            return Ok(0);
        };
        let roots = size::root_fields(&doc);
        if request.query.len() <= DOCUMENT_MAX_LEN {
            let mut parsed = self.lock();
            if parsed.len() >= DOCUMENTS {
                parsed.clear();
            }
            parsed.insert(request.query.clone(), (doc.clone(), roots));
        }
        request.set_parsed_query(doc);
        Ok(roots)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Parsed>> {
        self.parsed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `GET /graphql`: the WebSocket upgrade, or in dev mode GraphiQL.
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: Result<
        axum::extract::WebSocketUpgrade,
        axum::extract::ws::rejection::WebSocketUpgradeRejection,
    >,
) -> Response {
    match ws {
        Ok(ws) => crate::ws::upgrade(state, &headers, ws),
        Err(_) if state.settings.dev => graphiql().await.into_response(),
        Err(_) => refusal(
            StatusCode::METHOD_NOT_ALLOWED,
            BAD_USER_INPUT,
            "GET /graphql is for WebSocket subscriptions (graphql-transport-ws); send queries with POST",
        ),
    }
}

/// GraphiQL, pointed at this server for queries and subscriptions.
pub async fn graphiql() -> Html<String> {
    Html(
        async_graphql::http::GraphiQLSource::build()
            .endpoint("/graphql")
            .title("tasksync GraphiQL")
            .finish(),
    )
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn documents_are_parsed_once_and_the_cache_stays_bounded() {
        let documents = super::Documents::default();
        let mut request = async_graphql::Request::new("{ tasks { items { id } } }");
        documents.prepare(&mut request, 100).await.expect("small");
        assert!(
            request.parsed_query().is_ok(),
            "a valid document is handed over parsed"
        );
        let mut again = async_graphql::Request::new("{ tasks { items { id } } }");
        documents.prepare(&mut again, 100).await.expect("small");
        assert_eq!(documents.lock().len(), 1, "the same text is parsed once");
        let mut broken = async_graphql::Request::new("{ tasks { ");
        documents
            .prepare(&mut broken, 100)
            .await
            .expect("left to the executor");
        assert!(
            broken.parsed_query().is_err(),
            "a broken document is left for the executor to report"
        );
        for i in 0..(super::DOCUMENTS + 10) {
            documents
                .prepare(
                    &mut async_graphql::Request::new(format!("{{ t{i}: tasks {{ nextToken }} }}")),
                    100,
                )
                .await
                .expect("small");
        }
        assert!(documents.lock().len() <= super::DOCUMENTS, "bounded");
        let mut big =
            async_graphql::Request::new("{ a: tasks { nextToken } b: tasks { nextToken } }");
        assert!(
            documents.prepare(&mut big, 3).await.is_err(),
            "4 selections over a limit of 3"
        );
        assert!(
            !documents.lock().contains_key(&big.query),
            "a refused document is not remembered"
        );
        let mut two =
            async_graphql::Request::new("{ a: tasks { nextToken } b: tasks { nextToken } }");
        assert_eq!(
            documents.prepare(&mut two, 100).await,
            Ok(2),
            "two root fields"
        );
        let mut cached =
            async_graphql::Request::new("{ a: tasks { nextToken } b: tasks { nextToken } }");
        assert_eq!(
            documents.prepare(&mut cached, 100).await,
            Ok(2),
            "remembered with its root fields"
        );
        let fields: Vec<String> = (0..500).map(|i| format!("a{i}: __typename")).collect();
        let long = format!("{{ {} }}", fields.join(" "));
        assert!(long.len() > super::DOCUMENT_MAX_LEN);
        let mut request = async_graphql::Request::new(long.clone());
        assert_eq!(documents.prepare(&mut request, 1000).await, Ok(0));
        assert!(
            request.parsed_query().is_ok(),
            "parsed on the blocking pool"
        );
        assert!(
            !documents.lock().contains_key(&long),
            "too long to remember"
        );
        let mut over = async_graphql::Request::new(long);
        assert!(documents.prepare(&mut over, 499).await.is_err());
    }

    /// `schema.graphql` at the repository root is what the code serves.
    /// Regenerate with `UPDATE_SCHEMA=1 cargo test -p tasksync-server schema`.
    #[test]
    fn committed_schema_matches_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schema.graphql");
        let sdl = super::sdl();
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(path, &sdl).expect("write schema.graphql");
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == sdl,
            "schema.graphql is out of date: run `UPDATE_SCHEMA=1 cargo test -p tasksync-server schema`"
        );
    }
}
