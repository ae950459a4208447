//! `syncTasks` (incremental sync) and the subscriptions (live changes).

use std::sync::Arc;

use async_graphql::{Context, Result, Subscription};
use futures_util::{Stream, StreamExt as _};
use tasksync_core::{ChangeOp, Cursor, SyncPosition, SyncToken, UserId};
use tasksync_store::{LogBounds, Store};

use super::context::{Page, caller, limit, store};
use super::error::{bad_cursor, cursor_expired, internal};
use super::types::{GqlTask, GqlTaskChange, GqlTaskList, SyncPage};
use crate::feed::{Feed, FeedError};

/// `syncTasks`: a full sync when `last_sync` is null or expired, otherwise the
/// tasks changed after it, each once at its latest state.
pub async fn sync_tasks(
    ctx: &Context<'_>,
    last_sync: Option<String>,
    limit_arg: Option<i32>,
    next_token: Option<String>,
) -> Result<SyncPage> {
    let owner = caller(ctx)?;
    let n = limit(ctx, limit_arg.unwrap_or(1000), 1000)?;
    let store = store(ctx);
    let bounds = store.log_bounds(owner).await.map_err(internal)?;
    let first_page = next_token.is_none();
    let token = match next_token {
        Some(t) => SyncToken::decode(&t)
            .filter(|t| t.scope == owner && t.upto <= bounds.head)
            .ok_or_else(|| bad_cursor("nextToken"))?,
        None => start(owner, last_sync.as_deref(), bounds)?,
    };
    let cursor = Cursor::new(owner, token.upto).encode();
    match token.position {
        SyncPosition::Full { created_at, id } => {
            let after = (created_at != i64::MIN).then_some((created_at, id));
            let page = Page::start(ctx);
            let mut tasks = store
                .tasks_page(owner, after, n + 1, page.bytes)
                .await
                .map_err(internal)?;
            let more = page.keep(&mut tasks, n, |t| t);
            let next_token = more.then(|| tasks.last()).flatten().map(|t| {
                let position = SyncPosition::Full {
                    created_at: t.created_at,
                    id: t.id,
                };
                SyncToken { position, ..token }.encode()
            });
            let lists = if first_page {
                store.lists(owner).await.map_err(internal)?
            } else {
                Vec::new()
            };
            Ok(SyncPage {
                items: tasks.into_iter().map(GqlTask::from).collect(),
                next_token,
                cursor,
                full_sync: true,
                lists: lists.into_iter().map(GqlTaskList::from).collect(),
            })
        }
        SyncPosition::Delta { last_seq } => {
            if last_seq < bounds.trimmed_to {
                // Retention ran in the middle of this sync: tombstones it
                // needs may be gone. Start again.
                return Err(cursor_expired());
            }
            let page = Page::start(ctx);
            let mut synced = store
                .changed_tasks(owner, last_seq, token.upto, n + 1, page.bytes)
                .await
                .map_err(internal)?;
            let more = page.keep(&mut synced, n, |s| &s.task);
            let next_token = more.then(|| synced.last()).flatten().map(|s| {
                SyncToken {
                    position: SyncPosition::Delta {
                        last_seq: s.last_seq,
                    },
                    ..token
                }
                .encode()
            });
            let items = synced.into_iter().map(|s| GqlTask::from(s.task)).collect();
            let lists = if first_page {
                store
                    .changed_lists(owner, last_seq, token.upto)
                    .await
                    .map_err(internal)?
            } else {
                Vec::new()
            };
            Ok(SyncPage {
                items,
                next_token,
                cursor,
                full_sync: false,
                lists: lists.into_iter().map(GqlTaskList::from).collect(),
            })
        }
    }
}

/// The first page of a sync run: full or delta, consistent up to the head
/// read now, before the first read of tasks.
fn start(owner: UserId, last_sync: Option<&str>, bounds: LogBounds) -> Result<SyncToken> {
    let full = SyncToken {
        scope: owner,
        upto: bounds.head,
        position: SyncPosition::Full {
            created_at: i64::MIN,
            id: tasksync_core::TaskId::from_uuid(uuid::Uuid::nil()),
        },
    };
    let Some(text) = last_sync else {
        return Ok(full);
    };
    let last = Cursor::decode(text)
        .filter(|c| c.scope == owner && c.seq <= bounds.head)
        .ok_or_else(|| bad_cursor("lastSync"))?;
    if last.seq < bounds.trimmed_to {
        return Ok(full);
    }
    Ok(SyncToken {
        position: SyncPosition::Delta { last_seq: last.seq },
        ..full
    })
}

/// Where a `taskChanges` subscription starts: after the cursor given, or at
/// the head of the log (live only).
pub(super) async fn starting_point(
    store: &Arc<dyn Store>,
    owner: UserId,
    after: Option<&str>,
) -> Result<i64> {
    let bounds = store.log_bounds(owner).await.map_err(internal)?;
    let Some(text) = after else {
        return Ok(bounds.head);
    };
    let cursor = Cursor::decode(text)
        .filter(|c| c.scope == owner && c.seq <= bounds.head)
        .ok_or_else(|| bad_cursor("cursor"))?;
    if cursor.seq < bounds.trimmed_to {
        return Err(cursor_expired());
    }
    Ok(cursor.seq)
}

/// The caller's changes after `start`, as a stream that ends after an error.
fn changes(
    ctx: &Context<'_>,
    owner: UserId,
    start: i64,
) -> impl Stream<Item = Result<tasksync_core::Change>> + use<> {
    let sub = ctx.data_unchecked::<Arc<Feed>>().subscribe(owner, start);
    // The subscription is positioned: the socket may read on.
    if let Some(started) = ctx.data_opt::<Started>() {
        started.fire();
    }
    futures_util::stream::unfold(Some(sub), |sub| async move {
        let mut sub = sub?;
        match sub.next().await {
            Ok(change) => Some((Ok(change), Some(sub))),
            Err(FeedError::Expired) => Some((Err(cursor_expired()), None)),
            Err(FeedError::Store(e)) => Some((Err(internal(e)), None)),
        }
    })
}

/// Live changes of one kind, from now on.
async fn of_kind(
    ctx: &Context<'_>,
    op: ChangeOp,
) -> Result<impl Stream<Item = Result<GqlTask>> + use<>> {
    let owner = caller(ctx)?;
    let start = starting_point(store(ctx), owner, None).await?;
    Ok(changes(ctx, owner, start).filter_map(move |c| async move {
        match c {
            // A task that left the view is gone for `onDeleteTask` too.
            Ok(c) if c.op == op || (op == ChangeOp::Delete && c.op == ChangeOp::Remove) => {
                c.task().cloned().map(|t| Ok(GqlTask::from(t)))
            }
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        }
    }))
}

#[derive(Debug, Default)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Your tasks as they are created, from now on.
    async fn on_create_task(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<GqlTask>> + use<>> {
        of_kind(ctx, ChangeOp::Create).await
    }

    /// Your tasks as they are updated, from now on.
    async fn on_update_task(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<GqlTask>> + use<>> {
        of_kind(ctx, ChangeOp::Update).await
    }

    /// Your tasks as they are deleted (tombstones), from now on.
    async fn on_delete_task(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<GqlTask>> + use<>> {
        of_kind(ctx, ChangeOp::Delete).await
    }

    /// Every change of your tasks after `after` (a cursor from a change or a
    /// sync), replayed in order, then live, with no gap and no duplicate.
    /// `after: null` starts from now. An expired cursor gets
    /// `CURSOR_EXPIRED`: do a full `syncTasks` and start from its cursor.
    async fn task_changes(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<GqlTaskChange>> + use<>> {
        let owner = caller(ctx)?;
        // Changes of lists only for documents that ask for them: clients
        // written before lists never see a change without a task.
        let lists = ctx.look_ahead().field("list").exists();
        let start = starting_point(store(ctx), owner, after.as_deref()).await?;
        Ok(changes(ctx, owner, start).filter_map(move |c| async move {
            match c {
                Ok(c) if c.task().is_some() || lists => Some(Ok(GqlTaskChange::of(&c))),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            }
        }))
    }
}

/// Put in a subscription request's data by [`Api::subscribe`](super::Api::subscribe);
/// fired by the subscription resolver once its starting point in the log is
/// fixed, and dropped (which counts too) when the operation ends otherwise.
/// Until then the socket reads no further client message, so a client that
/// got an answer to a later message knows its subscription is live.
#[derive(Debug)]
pub struct Started(std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>);

impl Started {
    pub(super) fn new(tx: tokio::sync::oneshot::Sender<()>) -> Self {
        Self(std::sync::Mutex::new(Some(tx)))
    }

    /// Signals that the subscription is positioned.
    fn fire(&self) {
        if let Some(tx) = self.0.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = tx.send(());
        }
    }
}
