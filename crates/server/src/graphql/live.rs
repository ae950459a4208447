//! Subscriptions as a socket runs them: [`Api::subscribe`] starts one and
//! hands back a stream of [`Event`]s, from the fast path (changes rendered
//! straight to JSON, `fast.rs`) or from the executor (the general path).
//! The socket only frames the events as `graphql-transport-ws` messages.

use std::sync::Arc;

use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use serde::Serialize;
use serde_json::Value;

use super::api::{Api, add_missing_codes_one};
use super::error::{cursor_expired, internal};
use super::fast::{self, Rendered};
use super::sync::{Started, starting_point};
use crate::auth::AuthUser;
use crate::feed::FeedError;

/// What a subscription's stream yields.
#[derive(Debug)]
pub enum Event {
    /// A response of the general (executor) path.
    Response(Outcome),
    /// Changes rendered by the fast path: the payload of a `next` message
    /// for each of `payloads[from..]` that is there.
    Rendered {
        /// Shared by every subscription of the same shape.
        payloads: Arc<Rendered>,
        from: usize,
        /// When the first of these changes was written (epoch ms).
        written_at: i64,
    },
    /// Errors that end the operation (the payload of an `error` message).
    Failed(Value),
    /// The operation is complete.
    Done,
}

/// A response of the general path, its errors' codes filled in.
#[derive(Debug)]
pub struct Outcome(async_graphql::Response);

impl Outcome {
    /// Whether it ends the operation: errors and no data (an `error`
    /// message with [`Outcome::errors`]); otherwise it is the payload of a
    /// `next` message ([`Outcome::payload`]).
    pub fn ends(&self) -> bool {
        self.0.data == async_graphql::Value::Null && !self.0.errors.is_empty()
    }

    /// The payload of a `next` message.
    pub fn payload(&self) -> &impl Serialize {
        &self.0
    }

    /// The payload of an `error` message.
    pub fn errors(&self) -> &impl Serialize {
        &self.0.errors
    }
}

/// A started subscription.
pub struct Subscribed {
    /// Its events. The stream ends after `Done` or `Failed`.
    pub events: BoxStream<'static, Event>,
    /// On the general path, fires (or is dropped) once the subscription's
    /// starting point in the log is fixed; until then the socket reads no
    /// further client message. `None`: positioned already.
    pub positioned: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl std::fmt::Debug for Subscribed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscribed")
            .field("positioned", &self.positioned.is_some())
            .finish_non_exhaustive()
    }
}

impl Api {
    /// Starts the subscription `request` (admitted already) for `user`.
    /// `Err`: the payload of the `error` message that refuses it.
    pub async fn subscribe(
        &self,
        user: AuthUser,
        request: Box<async_graphql::Request>,
    ) -> Result<Subscribed, Value> {
        let fast = self.fast_path.then(|| fast::plan(&request)).flatten();
        if let Some(plan) = fast {
            return Ok(Subscribed {
                events: self.fast_events(user, plan).await?,
                positioned: None,
            });
        }
        let (started, positioned) = tokio::sync::oneshot::channel();
        let request = request.data(user).data(Started::new(started));
        let events = self
            .schema
            .execute_stream(request)
            .map(|mut response| {
                add_missing_codes_one(&mut response);
                Event::Response(Outcome(response))
            })
            .chain(futures_util::stream::once(async { Event::Done }))
            .boxed();
        Ok(Subscribed {
            events,
            positioned: Some(positioned),
        })
    }

    /// A subscription on the fast path, positioned in the log before this
    /// returns (so the next client message is read only after that).
    async fn fast_events(
        &self,
        user: AuthUser,
        plan: fast::Plan,
    ) -> Result<BoxStream<'static, Event>, Value> {
        let after = match &plan.root {
            fast::Root::Changes { after } => after.as_deref(),
            fast::Root::Kind(_) => None,
        };
        let errors = |e: async_graphql::Error| {
            // No source position: the error is about the subscription as a whole.
            let mut e = e.into_server_error(async_graphql::Pos::default());
            e.locations.clear();
            serde_json::to_value([e]).unwrap_or(Value::Null)
        };
        let start = starting_point(&self.store, user.user_id, after)
            .await
            .map_err(errors)?;
        let sub = self.feed.subscribe(user.user_id, start);
        let renderer = self.renderers.get(plan);
        let stream = futures_util::stream::unfold(Some(sub), |sub| async move {
            let mut sub = sub?;
            match sub.next_batch().await {
                Ok(delivery) => Some((Ok(delivery), Some(sub))),
                Err(e) => Some((Err(e), None)),
            }
        })
        .map(move |next| match next {
            Ok(delivery) => Event::Rendered {
                payloads: renderer.render(&delivery.batch),
                from: delivery.from,
                written_at: delivery.changes().first().map_or(i64::MAX, |c| c.at),
            },
            Err(FeedError::Expired) => Event::Failed(errors(cursor_expired())),
            Err(FeedError::Store(e)) => Event::Failed(errors(internal(e))),
        });
        Ok(stream.boxed())
    }
}
