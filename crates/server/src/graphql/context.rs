//! What resolvers read from a request's context: the caller, the store,
//! a `limit` argument within the configured maximum, and the share of the
//! request's answer budget a listing field may use (`Page`).

use std::sync::Arc;

use async_graphql::{Context, Result};
use tasksync_core::UserId;
use tasksync_store::Store;

use super::error::{UNAUTHENTICATED, bad_input, coded};
use super::limits::{AnswerBudget, Limits};
use crate::auth::AuthUser;

/// The signed-in caller, or `UNAUTHENTICATED`.
pub(super) fn caller(ctx: &Context<'_>) -> Result<UserId> {
    ctx.data_opt::<AuthUser>()
        .map(|u| u.user_id)
        .ok_or_else(|| {
            coded(
                UNAUTHENTICATED,
                "sign in: send Authorization: Bearer <accessToken>",
            )
        })
}

pub(super) fn store<'a>(ctx: &Context<'a>) -> &'a Arc<dyn Store> {
    ctx.data_unchecked::<Arc<dyn Store>>()
}

/// Parses a `limit` argument: 1 up to the configured maximum (1000 by
/// default). The schema's default value is lowered to the maximum when the
/// maximum is configured below it, so omitting `limit` always works.
pub(super) fn limit(ctx: &Context<'_>, limit: i32, default: i32) -> Result<u32> {
    let max = ctx.data_unchecked::<Limits>().max_limit;
    match u32::try_from(limit) {
        Ok(n) if limit == default => Ok(n.min(max)),
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(bad_input(format!("limit must be between 1 and {max}"))),
    }
}

/// The answer bytes a listing field may use: all that its request has left
/// ([`AnswerBudget`]), given back by [`Page::keep`] less what the
/// page kept. A request run without one (none is made outside
/// [`Api::admit`](super::Api::admit)) gets a budget of its own per field.
pub(super) struct Page {
    budget: Option<AnswerBudget>,
    pub(super) bytes: usize,
}

impl Page {
    pub(super) fn start(ctx: &Context<'_>) -> Self {
        match ctx.data_opt::<AnswerBudget>() {
            Some(budget) => Self {
                bytes: budget.take(),
                budget: Some(budget.clone()),
            },
            None => Self {
                budget: None,
                bytes: ctx.data_unchecked::<Limits>().answer_bytes,
            },
        }
    }

    /// Cuts rows read with a limit of `n + 1` and this page's bytes (see
    /// `Store::tasks_page`) down to at most `n` that fit in the bytes (at
    /// least one), and says whether there is more (and so a next page).
    pub(super) fn keep<T>(
        self,
        rows: &mut Vec<T>,
        n: u32,
        task: impl Fn(&T) -> &tasksync_core::Task,
    ) -> bool {
        let keep = tasksync_core::task::fitting(rows.iter().map(&task), self.bytes).min(n as usize);
        let more = rows.len() > keep;
        rows.truncate(keep);
        if let Some(budget) = &self.budget {
            let used: usize = rows.iter().map(|r| task(r).answer_bytes()).sum();
            budget.give_back(self.bytes.saturating_sub(used));
        }
        more
    }
}
