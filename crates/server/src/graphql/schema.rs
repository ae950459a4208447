//! The executable schema and its SDL.

use std::sync::Arc;

use async_graphql::Schema;
use tasksync_store::Store;

use super::limits::Limits;
use super::resolvers::{Mutation, Query};
use super::sync::Subscription;
use crate::feed::Feed;

pub type TaskSchema = Schema<Query, Mutation, Subscription>;

/// The executable schema. Introspection and field suggestions are on only
/// when asked (dev mode).
pub fn schema(
    store: Arc<dyn Store>,
    feed: Arc<Feed>,
    limits: Limits,
    invitations: super::resolvers::Invitations,
    rate: crate::rate_limit::ApiRateLimit,
    introspection: bool,
) -> TaskSchema {
    let builder = Schema::build(Query, Mutation::default(), Subscription)
        .data(store)
        .data(invitations)
        .data(rate)
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
    Schema::build(Query, Mutation::default(), Subscription)
        .finish()
        .sdl()
}

#[cfg(test)]
mod tests {
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
