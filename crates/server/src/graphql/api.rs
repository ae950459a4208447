//! [`Api`]: the data API as the HTTP handler and the sockets call it. It
//! owns the schema, the parsed-document cache, the limits every operation
//! passes ([`Api::admit`]) and the fast path's renderers, so that neither
//! caller needs to know async-graphql: HTTP hands over a body and gets a
//! serializable [`Answer`] or a [`Refusal`]; a socket hands over a
//! subscribe payload and gets a stream of events (`live.rs`).

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{BatchRequest, BatchResponse};
use serde::Serialize;
use tasksync_store::Store;

use super::documents::Documents;
use super::error::BAD_USER_INPUT;
use super::fast::Renderers;
use super::limits::{AnswerBudget, Limits, QUERY_BYTES_PER_UNIT};
use super::schema::{TaskSchema, schema};
use crate::auth::AuthUser;
use crate::feed::Feed;
use crate::rate_limit::{ApiRateLimit, Caller};

/// Switches of the data API.
#[derive(Debug, Clone, Copy)]
pub struct Features {
    /// Introspection and field suggestions (dev mode only).
    pub introspection: bool,
    /// Change subscriptions of the plain shapes are rendered without the
    /// executor (`TASKSYNC_WS_FAST_PATH`; see `fast.rs`).
    pub fast_path: bool,
}

/// The data API of one node.
pub struct Api {
    pub(super) schema: TaskSchema,
    documents: Documents,
    pub(super) renderers: Renderers,
    rate: ApiRateLimit,
    share_notices: crate::rate_limit::ShareNotices,
    pub(super) store: Arc<dyn Store>,
    pub(super) feed: Arc<Feed>,
    limits: Limits,
    pub(super) fast_path: bool,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("limits", &self.limits)
            .field("fast_path", &self.fast_path)
            .finish_non_exhaustive()
    }
}

/// Why an operation is not run: it is not a request or too large (the
/// text says which limit), or its caller is over the rate limit (wait
/// this long).
#[derive(Debug)]
pub enum Refusal {
    BadInput(String),
    RateLimited(Duration),
}

/// The answer to a `POST /graphql`, serialized as async-graphql would.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct Answer(BatchResponse);

impl Api {
    pub fn new(
        store: Arc<dyn Store>,
        feed: Arc<Feed>,
        rate: ApiRateLimit,
        limits: Limits,
        features: Features,
        invitations: super::resolvers::Invitations,
    ) -> Self {
        Self {
            share_notices: invitations.budget.clone(),
            schema: schema(
                store.clone(),
                feed.clone(),
                limits,
                invitations,
                rate.clone(),
                features.introspection,
            ),
            documents: Documents::default(),
            renderers: Renderers::default(),
            rate,
            store,
            feed,
            limits,
            fast_path: features.fast_path,
        }
    }

    /// The data API's rate limit per caller: HTTP charges a request before
    /// its body is parsed, a socket each operation before it is admitted.
    pub fn rate(&self) -> &ApiRateLimit {
        &self.rate
    }

    /// The mail budget of list invitations.
    pub fn share_notices(&self) -> &crate::rate_limit::ShareNotices {
        &self.share_notices
    }

    /// The limits every operation passes before it runs, on HTTP and on a
    /// socket alike: each query text is at most `TASKSYNC_GRAPHQL_MAX_QUERY_BYTES`
    /// and `caller` pays for its length ([`QUERY_BYTES_PER_UNIT`]) before it is
    /// parsed; each of `requests` gets its parsed document
    /// ([`Documents::prepare`]); their root fields together must be within
    /// `TASKSYNC_GRAPHQL_MAX_ROOT_FIELDS`, and `caller` pays for them beyond
    /// the one root field it paid before the body was parsed. Admitted
    /// requests share one [`AnswerBudget`].
    pub async fn admit(
        &self,
        caller: Option<Caller>,
        requests: Vec<&mut async_graphql::Request>,
    ) -> Result<(), Refusal> {
        let max_text = self.limits.query_bytes;
        let mut text_units = 0usize;
        for r in &requests {
            if r.query.len() > max_text {
                return Err(Refusal::BadInput(format!(
                    "a query text may be at most {max_text} bytes (pass large values as variables)"
                )));
            }
            text_units = text_units.saturating_add(r.query.len() / QUERY_BYTES_PER_UNIT);
        }
        if let Some(caller) = caller
            && text_units > 0
        {
            self.rate
                .check(caller, text_units)
                .map_err(Refusal::RateLimited)?;
        }
        let limit = self.limits.selections;
        let answer = AnswerBudget::new(self.limits.answer_bytes);
        let mut roots = 0usize;
        for r in requests {
            let n = self
                .documents
                .prepare(r, limit)
                .await
                .map_err(|refused| Refusal::BadInput(refused.to_string()))?;
            roots = roots.saturating_add(n);
            r.data.insert(answer.clone());
        }
        let max_roots = self.limits.root_fields;
        if roots > max_roots {
            return Err(Refusal::BadInput(format!(
                "at most {max_roots} root fields per request, batches included"
            )));
        }
        match caller {
            Some(caller) if roots > 1 => self
                .rate
                .check(caller, roots - 1)
                .map_err(Refusal::RateLimited),
            _ => Ok(()),
        }
    }

    /// Runs the body of a `POST /graphql` (one request or a batch) for
    /// `user`, once it is admitted. `caller` has paid for the body already.
    pub async fn execute(
        &self,
        caller: Option<Caller>,
        user: Option<AuthUser>,
        body: &[u8],
    ) -> Result<Answer, Refusal> {
        let Ok(mut request) = serde_json::from_slice::<BatchRequest>(body) else {
            return Err(Refusal::BadInput(
                "body is not a GraphQL request in JSON".into(),
            ));
        };
        if let BatchRequest::Batch(ops) = &request
            && ops.len() > self.limits.batch
        {
            return Err(Refusal::BadInput(format!(
                "at most {} operations per batch",
                self.limits.batch
            )));
        }
        match &mut request {
            BatchRequest::Single(r) => self.admit(caller, vec![r]).await?,
            BatchRequest::Batch(rs) => self.admit(caller, rs.iter_mut().collect()).await?,
        }
        if let Some(user) = user {
            request = request.data(user);
        }
        let mut response = self.schema.execute_batch(request).await;
        add_missing_codes(&mut response);
        Ok(Answer(response))
    }
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
pub(super) fn add_missing_codes_one(response: &mut async_graphql::Response) {
    for e in &mut response.errors {
        let ext = e.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_none() {
            ext.set("code", BAD_USER_INPUT);
        }
    }
}

/// GraphiQL's page, pointed at this server for queries and subscriptions.
pub fn graphiql() -> String {
    async_graphql::http::GraphiQLSource::build()
        .endpoint("/graphql")
        .title("tasksync GraphiQL")
        .finish()
}
