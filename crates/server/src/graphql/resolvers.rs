//! Queries and mutations. Each resolver takes the owner from the verified
//! token (never from input), parses its input into core types, then makes
//! one store call.

use async_graphql::{Context, ErrorExtensions as _, ID, MaybeUndefined, Object, Result};
use tasksync_core::{
    Email, ListId, ListName, ListWrite, NewTask, PageToken, TaskDescription, TaskId, TaskPatch,
    TaskTitle, UserId,
};
use tasksync_store::TaskWrite;

use super::context::{Page, caller, limit, store};
use super::error::{RATE_LIMITED, bad_input, coded, internal, list_error, not_found, write_error};
use super::limits::Limits;
use super::types::{
    CreateListInput, CreateTaskInput, DeleteListInput, DeleteTaskInput, GqlTask, GqlTaskList,
    LeaveListInput, ShareListInput, SyncPage, TaskPage, UnshareListInput, UpdateListInput,
    UpdateTaskInput,
};
use crate::clock::now_ms;

fn task_id(id: &ID) -> Result<TaskId> {
    TaskId::parse(id.as_str()).ok_or_else(|| bad_input("id must be a UUID"))
}

fn version(v: Option<i32>) -> Result<Option<i64>> {
    match v {
        Some(v) if v < 1 => Err(bad_input("expectedVersion must be at least 1")),
        v => Ok(v.map(i64::from)),
    }
}

fn list_id(id: &ID) -> Result<ListId> {
    ListId::parse(id.as_str()).ok_or_else(|| bad_input("listId must be a UUID"))
}

fn list_name(s: &str) -> Result<ListName> {
    ListName::parse(s).map_err(|e| bad_input(e.to_string()))
}

fn email(s: &str) -> Result<Email> {
    Email::parse(s).map_err(|e| bad_input(e.to_string()))
}

fn title(s: &str) -> Result<TaskTitle> {
    TaskTitle::parse(s).map_err(|e| bad_input(e.to_string()))
}

fn description(s: &str) -> Result<TaskDescription> {
    TaskDescription::parse(s).map_err(|e| bad_input(e.to_string()))
}

/// What a field that reads or writes the database adds to a query's
/// complexity, on top of 1 per field selected: so `TASKSYNC_GRAPHQL_MAX_COMPLEXITY`
/// (20,000) lets one operation run at most ~200 of them, however cheap
/// their selections.
pub const DB_COST: usize = 100;

#[derive(Debug, Default)]
pub struct Query;

#[Object]
impl Query {
    /// One of your live tasks. Unknown, deleted and other users' tasks are
    /// all `NOT_FOUND`.
    #[graphql(complexity = "DB_COST + child_complexity")]
    async fn task(&self, ctx: &Context<'_>, id: ID) -> Result<Option<GqlTask>> {
        let owner = caller(ctx)?;
        let id = task_id(&id)?;
        match store(ctx).task(owner, id).await.map_err(internal)? {
            Some(t) if !t.deleted => Ok(Some(t.into())),
            _ => Err(not_found()),
        }
    }

    /// Your live tasks, oldest first, `limit` (1..=1000) at a time.
    #[graphql(complexity = "DB_COST + limit.unwrap_or(100).max(1) as usize * child_complexity + 1")]
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 100)] limit: Option<i32>,
        next_token: Option<String>,
    ) -> Result<TaskPage> {
        let owner = caller(ctx)?;
        let n = self::limit(ctx, limit.unwrap_or(100), 100)?;
        let after = match next_token {
            None => None,
            Some(token) => {
                let page = PageToken::decode(&token)
                    .filter(|p| p.scope == owner)
                    .ok_or_else(|| bad_input("nextToken is not valid"))?;
                Some((page.created_at, page.id))
            }
        };
        let page = Page::start(ctx);
        let mut items = store(ctx)
            .tasks_page(owner, after, n + 1, page.bytes)
            .await
            .map_err(internal)?;
        let more = page.keep(&mut items, n, |t| t);
        let next_token = more
            .then(|| {
                items.last().map(|t| {
                    PageToken {
                        scope: owner,
                        created_at: t.created_at,
                        id: t.id,
                    }
                    .encode()
                })
            })
            .flatten();
        Ok(TaskPage {
            items: items.into_iter().map(GqlTask::from).collect(),
            next_token,
        })
    }
    /// Incremental sync. With `lastSync` null (or expired) this is a full
    /// sync (`fullSync: true`, the whole live set); otherwise the tasks changed
    /// after it, tombstones included, each once at its latest state. Page
    /// with `nextToken`; store `cursor` for next time, or subscribe with
    /// `taskChanges(after: cursor)`.
    #[graphql(
        complexity = "DB_COST + limit.unwrap_or(1000).max(1) as usize * child_complexity + 1"
    )]
    async fn sync_tasks(
        &self,
        ctx: &Context<'_>,
        last_sync: Option<String>,
        #[graphql(default = 1000)] limit: Option<i32>,
        next_token: Option<String>,
    ) -> Result<SyncPage> {
        super::sync::sync_tasks(ctx, last_sync, limit, next_token).await
    }

    /// Your lists: the personal one first, then the others by creation.
    #[graphql(complexity = "DB_COST + 1000 * child_complexity")]
    async fn lists(&self, ctx: &Context<'_>) -> Result<Vec<GqlTaskList>> {
        let user = caller(ctx)?;
        let lists = store(ctx).lists(user).await.map_err(internal)?;
        Ok(lists.into_iter().map(GqlTaskList::from).collect())
    }
}

/// Every mutation: those of tasks and those of lists.
#[derive(Debug, Default, async_graphql::MergedObject)]
pub struct Mutation(TaskMutation, ListMutation);

#[derive(Debug, Default)]
pub struct TaskMutation;

#[Object]
impl TaskMutation {
    /// Creates a task. The same id with the same content again is an
    /// idempotent retry that returns the task.
    #[graphql(complexity = "DB_COST + child_complexity")]
    async fn create_task(&self, ctx: &Context<'_>, input: CreateTaskInput) -> Result<GqlTask> {
        let owner = caller(ctx)?;
        let new = NewTask {
            id: match &input.id {
                Some(id) => task_id(id)?,
                None => TaskId::new(),
            },
            list: input.list_id.as_ref().map(list_id).transpose()?,
            title: title(&input.title)?,
            description: input.description.as_deref().map(description).transpose()?,
            done: input.done.unwrap_or(false),
        };
        write(ctx, owner, TaskWrite::Create(new)).await
    }

    /// Changes a task; with `expectedVersion`, only if nobody changed it since.
    #[graphql(complexity = "DB_COST + child_complexity")]
    async fn update_task(&self, ctx: &Context<'_>, input: UpdateTaskInput) -> Result<GqlTask> {
        let owner = caller(ctx)?;
        let patch = TaskPatch {
            id: task_id(&input.id)?,
            expected_version: version(input.expected_version)?,
            list: input.list_id.as_ref().map(list_id).transpose()?,
            title: input.title.as_deref().map(title).transpose()?,
            description: match &input.description {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(d) => Some(Some(description(d)?)),
            },
            done: input.done,
        };
        write(ctx, owner, TaskWrite::Update(patch)).await
    }

    /// Deletes a task and returns its tombstone. Deleting it again returns
    /// the same tombstone.
    #[graphql(complexity = "DB_COST + child_complexity")]
    async fn delete_task(&self, ctx: &Context<'_>, input: DeleteTaskInput) -> Result<GqlTask> {
        let owner = caller(ctx)?;
        let write_ = TaskWrite::Delete {
            id: task_id(&input.id)?,
            expected_version: version(input.expected_version)?,
        };
        write(ctx, owner, write_).await
    }
}

#[Object]
impl ListMutation {
    /// Creates a list, which you own. The same id and name again is an
    /// idempotent retry that returns the list.
    #[graphql(complexity = "DB_COST + child_complexity")]
    async fn create_list(&self, ctx: &Context<'_>, input: CreateListInput) -> Result<GqlTaskList> {
        let w = ListWrite::Create {
            id: match &input.id {
                Some(id) => list_id(id)?,
                None => ListId::new(),
            },
            name: list_name(&input.name)?,
        };
        write_list(ctx, w).await
    }

    /// Renames a list (owner only; `FORBIDDEN` for members).
    #[graphql(complexity = "DB_COST + child_complexity")]
    async fn update_list(&self, ctx: &Context<'_>, input: UpdateListInput) -> Result<GqlTaskList> {
        let w = ListWrite::Rename {
            id: list_id(&input.id)?,
            expected_version: version(input.expected_version)?,
            name: list_name(&input.name)?,
        };
        write_list(ctx, w).await
    }

    /// Deletes a list and its tasks, for every member (owner only); returns
    /// its tombstone. The personal list cannot be deleted.
    #[graphql(complexity = "DB_COST + child_complexity")]
    async fn delete_list(&self, ctx: &Context<'_>, input: DeleteListInput) -> Result<GqlTaskList> {
        let w = ListWrite::Delete {
            id: list_id(&input.id)?,
            expected_version: version(input.expected_version)?,
        };
        write_list(ctx, w).await
    }

    /// Shares a list with an address as `EDITOR` or `VIEWER`, or changes
    /// that member's role (owner only). The answer is the same whether or
    /// not the address has an account; an address without one joins when
    /// it signs up and confirms. The address is told by mail either way.
    #[graphql(complexity = "DB_COST + child_complexity")]
    async fn share_list(&self, ctx: &Context<'_>, input: ShareListInput) -> Result<GqlTaskList> {
        let to = email(&input.email)?;
        let w = ListWrite::Share {
            id: list_id(&input.list_id)?,
            email: to.clone(),
            role: input.role.into(),
        };
        let user = caller(ctx)?;
        charge_for_tasks_moved(ctx, user, w.list_id(), &to).await?;
        let written = store(ctx)
            .write_list(user, w, ctx.data_unchecked::<Limits>().lists, now_ms())
            .await
            .map_err(list_error)?;
        // A new member only: a role change is not news worth a mail.
        if written.joined {
            notify_invitee(ctx, user, &written.view, &to);
        }
        Ok(written.view.into())
    }

    /// Removes a member from a list (owner only): they lose it and its
    /// tasks at once, on every device.
    #[graphql(complexity = "DB_COST + child_complexity")]
    async fn unshare_list(
        &self,
        ctx: &Context<'_>,
        input: UnshareListInput,
    ) -> Result<GqlTaskList> {
        let w = ListWrite::Unshare {
            id: list_id(&input.list_id)?,
            email: email(&input.email)?,
        };
        write_list(ctx, w).await
    }

    /// Leaves a list shared with you (its owner cannot: delete it instead).
    #[graphql(complexity = "DB_COST")]
    async fn leave_list(&self, ctx: &Context<'_>, input: LeaveListInput) -> Result<bool> {
        let w = ListWrite::Leave {
            id: list_id(&input.list_id)?,
        };
        write_list(ctx, w).await.map(|_| true)
    }
}

/// The mutations of lists, merged into `Mutation`.
#[derive(Debug, Default)]
pub struct ListMutation;

async fn write_list(ctx: &Context<'_>, w: ListWrite) -> Result<GqlTaskList> {
    let user = caller(ctx)?;
    let written = store(ctx)
        .write_list(user, w, ctx.data_unchecked::<Limits>().lists, now_ms())
        .await
        .map_err(list_error)?;
    Ok(written.view.into())
}

/// Tasks of a list whose sharing costs as much of the data API's rate
/// limit as one root field. A share writes each task into the new member's
/// log, and their removal later (unshare, leave) writes each again: 100
/// rows, about what one task write in a list of 100 members writes.
pub const TASKS_PER_ROOT_FIELD: u32 = 50;

/// Charges `user`'s rate limit, beyond the root field already paid, for the
/// tasks a share of `list` with `to` moves in (and the removal that may
/// follow moves out): without it, sharing and unsharing a large list in a
/// loop would write far more than the limit means to allow. Only a share
/// that adds a member is charged (`Store::share_size` is 0 for a role
/// change, a repeat, the personal list, a list the caller does not own),
/// and not one the store refuses for the list's size; removals are never
/// charged (each follows a share; a revocation is never delayed). At most
/// the burst less one, so any list can be shared by waiting.
async fn charge_for_tasks_moved(
    ctx: &Context<'_>,
    user: UserId,
    list: ListId,
    to: &Email,
) -> Result<()> {
    let rate = ctx.data_unchecked::<crate::rate_limit::ApiRateLimit>();
    let cap = ctx.data_unchecked::<Limits>().lists.tasks_per_shared_list;
    let most = rate.max_cost().saturating_sub(1);
    let tasks = store(ctx)
        .share_size(user, list, to, cap.saturating_add(1))
        .await
        .map_err(internal)?;
    if tasks > cap {
        // Refused by the store as too large: nothing moves.
        return Ok(());
    }
    let cost = (tasks / TASKS_PER_ROOT_FIELD).min(most);
    if cost == 0 {
        return Ok(());
    }
    rate.check(crate::rate_limit::Caller::User(user), cost as usize)
        .map_err(|wait| {
            let seconds = wait.as_secs().max(1);
            coded(
                RATE_LIMITED,
                format!(
                    "sharing this list moves its {tasks} tasks: wait {seconds} s (a share \
                     costs one root field of the rate limit per {TASKS_PER_ROOT_FIELD} tasks)"
                ),
            )
            .extend_with(|_, e| e.set("retryAfter", seconds))
        })
}

/// How invitees are told of a share: the mailer and its budget.
#[derive(Debug, Clone)]
pub struct Invitations {
    pub mailer: crate::auth::mail::Mailer,
    pub budget: crate::rate_limit::ShareNotices,
}

/// Mails the invitee of a share (in the background, as every mail: the
/// answer neither waits for it nor depends on it). One text whether or not
/// the address has an account; none beyond the budget of share notices.
fn notify_invitee(ctx: &Context<'_>, sender: UserId, view: &tasksync_core::ListView, to: &Email) {
    let Some(Invitations { mailer, budget }) = ctx.data_opt::<Invitations>() else {
        return;
    };
    if !budget.allow(sender, to.as_str()) {
        tracing::info!(%sender, "share notice not mailed: over its hourly budget");
        return;
    }
    let owner = view
        .members
        .iter()
        .find(|m| m.role == tasksync_core::ListRole::Owner)
        .map_or("Someone", |m| m.email.as_str());
    mailer.send(crate::auth::mail::Mail {
        to: to.as_str().to_owned(),
        subject: "A tasksync list was shared with you".to_owned(),
        text: format!(
            "{owner} shared the list \"{}\" with you on tasksync.\n\nSign in with this \
             address to see it. If you have no account yet, sign up with this address: \
             the list is yours to see once you confirm it. If you do not know {owner}, \
             ignore this message.\n",
            view.list.name
        ),
    });
}

async fn write(ctx: &Context<'_>, owner: UserId, w: TaskWrite) -> Result<GqlTask> {
    let written = store(ctx)
        .write_task(owner, w, now_ms())
        .await
        .map_err(write_error)?;
    Ok(written.task.into())
}
