//! Lists and their members: the reads, and every write of a list or its
//! membership, for both backends.
//!
//! Fan-out on write (docs/ARCHITECTURE.md, "Shared lists"): a change of a
//! list goes into the log of every member, numbered by that member's
//! counter in `scopes`. A write locks the list's row first (PostgreSQL;
//! SQLite's write lock covers everything), then takes the members'
//! numbers in user-id order, the order task writes use too, so writers on
//! several nodes cannot deadlock. Move-in and revocation of a list's tasks
//! are one `INSERT … SELECT` each, whatever the number of tasks.

use std::collections::BTreeMap;

use tasksync_core::list::{check_list_version, check_manage, sort_members};
use tasksync_core::{
    ChangeOp, Email, ListId, ListLimits, ListRejection, ListRole, ListView, ListWrite, MemberView,
    TaskList, UserId,
};
use uuid::Uuid;

use super::{Conn, Pool, Tx, on};
use crate::rows::{self, Columns};
use crate::{ListWriteError, ListWritten, Result, StoreError};

/// One member row.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub email: String,
    pub user: Option<UserId>,
    pub role: ListRole,
    pub accepted: bool,
}

impl Member {
    fn view(&self) -> MemberView {
        MemberView {
            email: self.email.clone(),
            role: self.role,
            pending: !(self.user.is_some() && self.accepted),
        }
    }
}

fn member(row: &impl Columns) -> Result<(Uuid, Member)> {
    Ok((
        row.uuid("list_id")?,
        Member {
            email: row.text("email")?,
            user: row.opt_uuid("user_id")?.map(UserId::from_uuid),
            role: ListRole::parse(&row.text("role")?).ok_or(StoreError::Corrupt("list role"))?,
            accepted: row.flag("accepted")?,
        },
    ))
}

pub(crate) fn list(row: &impl Columns) -> Result<TaskList> {
    list_at(row, "id")
}

/// A list from a row whose list id is in column `id`.
fn list_at(row: &impl Columns, id: &str) -> Result<TaskList> {
    Ok(TaskList {
        id: ListId::from_uuid(row.uuid(id)?),
        owner: UserId::from_uuid(row.uuid("owner")?),
        name: row.text("name")?,
        personal: row.flag("personal")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        version: row.int("version")?,
        deleted: row.flag("deleted")?,
    })
}

/// The members as views show them.
fn views(members: &[Member]) -> Vec<MemberView> {
    let mut v: Vec<MemberView> = members.iter().map(Member::view).collect();
    sort_members(&mut v);
    v
}

/// How many live tasks a share of `list` with `email` by `user` would move
/// in, counting no further than `limit`: 0 unless `user` owns the list, it
/// is a live list that can be shared (not personal) and `email` is not
/// among its members yet (all of which the owner sees).
pub(crate) async fn share_size(
    pool: Pool<'_>,
    user: UserId,
    list: ListId,
    email: &str,
    limit: u32,
) -> Result<u32> {
    let n: i64 = on!(pool, |p| sqlx::query_scalar(
        "SELECT count(*) FROM (
             SELECT 1 FROM tasks
             WHERE list_id = $1 AND deleted = $2
               AND EXISTS (SELECT 1 FROM lists WHERE id = $1 AND personal = $2 AND deleted = $2)
               AND EXISTS (SELECT 1 FROM list_members
                           WHERE list_id = $1 AND user_id = $3 AND role = $4)
               AND NOT EXISTS (SELECT 1 FROM list_members WHERE list_id = $1 AND email = $5)
             LIMIT $6) t"
    )
    .bind(list.as_uuid())
    .bind(false)
    .bind(user.as_uuid())
    .bind(ListRole::Owner.as_str())
    .bind(email)
    .bind(i64::from(limit))
    .fetch_one(p)
    .await?);
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// The live lists `user` is a member of, personal first, then by creation.
pub(crate) async fn lists_of(pool: Pool<'_>, user: UserId) -> Result<Vec<ListView>> {
    let (lists, members) = on!(pool, |p| {
        let lists = sqlx::query(
            "SELECT l.id, l.owner, l.name, l.personal, l.created_at, l.updated_at, l.version,
                    l.deleted, m.role
             FROM list_members m JOIN lists l ON l.id = m.list_id
             WHERE m.user_id = $1 AND l.deleted = $2
             ORDER BY l.personal DESC, l.created_at, l.id",
        )
        .bind(user.as_uuid())
        .bind(false)
        .fetch_all(p)
        .await?;
        let members = sqlx::query(
            "SELECT list_id, email, user_id, role, accepted FROM list_members
             WHERE list_id IN (SELECT list_id FROM list_members WHERE user_id = $1)",
        )
        .bind(user.as_uuid())
        .fetch_all(p)
        .await?;
        (
            rows::all(&lists, |r| {
                Ok((
                    list(r)?,
                    ListRole::parse(&r.text("role")?).ok_or(StoreError::Corrupt("list role"))?,
                ))
            })?,
            rows::all(&members, member)?,
        )
    });
    let mut by_list: BTreeMap<Uuid, Vec<Member>> = BTreeMap::new();
    for (id, m) in members {
        by_list.entry(id).or_default().push(m);
    }
    Ok(lists
        .into_iter()
        .map(|(list, role)| ListView {
            members: views(
                by_list
                    .get(&list.id.as_uuid())
                    .map_or(&[][..], Vec::as_slice),
            ),
            list,
            role,
        })
        .collect())
}

/// The lists of `user`'s log whose latest change is in `(after, upto]`, at
/// that change's state (tombstones included), in log order.
pub(crate) async fn changed_lists(
    pool: Pool<'_>,
    user: UserId,
    after: i64,
    upto: i64,
) -> Result<Vec<ListView>> {
    on!(pool, |p| rows::all(
        &sqlx::query(
            "SELECT c.list_id AS id, c.owner, c.name, c.personal, c.role, c.members,
                    c.created_at, c.updated_at, c.version, c.deleted
             FROM list_changes c
             WHERE c.scope = $1 AND c.seq > $2 AND c.seq <= $3
               AND NOT EXISTS (SELECT 1 FROM list_changes d
                               WHERE d.scope = c.scope AND d.list_id = c.list_id
                                 AND d.seq > c.seq AND d.seq <= $3)
             ORDER BY c.seq",
        )
        .bind(user.as_uuid())
        .bind(after)
        .bind(upto)
        .fetch_all(p)
        .await?,
        list_view
    ))
}

/// A `list_changes` row's list as its scope's user saw it.
pub(crate) fn list_view(row: &impl Columns) -> Result<ListView> {
    view_at(row, "id")
}

/// The same, from a row whose list id is in column `id`.
pub(crate) fn view_at(row: &impl Columns, id: &str) -> Result<ListView> {
    let members: Vec<MemberView> = serde_json::from_str(&row.text("members")?)
        .map_err(|_| StoreError::Corrupt("list members"))?;
    Ok(ListView {
        list: list_at(row, id)?,
        role: ListRole::parse(&row.text("role")?).ok_or(StoreError::Corrupt("list role"))?,
        members,
    })
}

/// Locks a list's row (PostgreSQL; under SQLite's write lock a plain read)
/// and reads it.
async fn lock_list(conn: Conn<'_>, id: ListId) -> Result<Option<TaskList>> {
    let sql = conn.pick(
        "SELECT id, owner, name, personal, created_at, updated_at, version, deleted
         FROM lists WHERE id = $1",
        "SELECT id, owner, name, personal, created_at, updated_at, version, deleted
         FROM lists WHERE id = $1 FOR UPDATE",
    );
    on!(conn, |c| sqlx::query(sql)
        .bind(id.as_uuid())
        .fetch_optional(c)
        .await?
        .as_ref()
        .map(list)
        .transpose())
}

async fn members_of(conn: Conn<'_>, id: ListId) -> Result<Vec<Member>> {
    let rows = on!(conn, |c| {
        rows::all(
        &sqlx::query(
            "SELECT list_id, email, user_id, role, accepted FROM list_members WHERE list_id = $1",
        )
        .bind(id.as_uuid())
        .fetch_all(c)
        .await?,
        member
    )
    })?;
    Ok(rows.into_iter().map(|(_, m)| m).collect())
}

/// Takes the next `n` numbers of `scope`'s log; returns the first. The
/// scope's row stays locked until the transaction ends.
pub(crate) async fn take_seqs(conn: Conn<'_>, scope: UserId, n: i64) -> Result<i64> {
    let head: i64 = on!(conn, |c| sqlx::query_scalar(
        "INSERT INTO scopes (scope, seq) VALUES ($1, $2)
         ON CONFLICT (scope) DO UPDATE SET seq = scopes.seq + $2
         RETURNING seq",
    )
    .bind(scope.as_uuid())
    .bind(n)
    .fetch_one(c)
    .await?);
    Ok(head - n + 1)
}

/// Appends a list change to `scope`'s log at `seq`.
async fn log_list(
    conn: Conn<'_>,
    scope: UserId,
    seq: i64,
    op: ChangeOp,
    view: &ListView,
    now: i64,
) -> Result<()> {
    let members =
        serde_json::to_string(&view.members).map_err(|e| StoreError::Engine(e.to_string()))?;
    let l = &view.list;
    on!(conn, |c| sqlx::query(
        "INSERT INTO list_changes (scope, seq, op, at, list_id, owner, name, personal, role,
                                   members, created_at, updated_at, version, deleted)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(scope.as_uuid())
    .bind(seq)
    .bind(op.as_str())
    .bind(now)
    .bind(l.id.as_uuid())
    .bind(l.owner.as_uuid())
    .bind(&l.name)
    .bind(l.personal)
    .bind(view.role.as_str())
    .bind(members)
    .bind(l.created_at)
    .bind(l.updated_at)
    .bind(l.version)
    .bind(l.deleted)
    .execute(c)
    .await
    .map(drop))?;
    Ok(())
}

/// How many live tasks a list has.
async fn live_tasks(conn: Conn<'_>, id: ListId) -> Result<i64> {
    Ok(on!(conn, |c| sqlx::query_scalar(
        "SELECT count(*) FROM tasks WHERE list_id = $1 AND deleted = $2"
    )
    .bind(id.as_uuid())
    .bind(false)
    .fetch_one(c)
    .await?))
}

/// Whether a list has more than `limit` live tasks, counting no further.
async fn holds_more_than(conn: Conn<'_>, id: ListId, limit: u32) -> Result<bool> {
    let n: i64 = on!(conn, |c| {
        sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT 1 FROM tasks WHERE list_id = $1 AND deleted = $2 LIMIT $3) t"
    )
    .bind(id.as_uuid())
    .bind(false)
    .bind(i64::from(limit) + 1)
    .fetch_one(c)
    .await?
    });
    Ok(n > i64::from(limit))
}

/// Appends every live task of a list to `scope`'s log from `first` on, in
/// creation order: as `CREATE` (move-in) or as `REMOVE` (a tombstone one
/// version past the task's, access lost). One statement.
async fn log_list_tasks(
    conn: Conn<'_>,
    scope: UserId,
    first: i64,
    op: ChangeOp,
    id: ListId,
    now: i64,
) -> Result<()> {
    let removing = op == ChangeOp::Remove;
    on!(conn, |c| sqlx::query(
        "INSERT INTO changes (scope, seq, op, at, task_id, owner, list_id, title, description,
                              done, created_at, updated_at, version, deleted)
         SELECT $1, $2 - 1 + ROW_NUMBER() OVER (ORDER BY created_at, id), $3, $4, id, owner,
                list_id, title, description, done, created_at, updated_at, version + $5, $6
         FROM tasks WHERE list_id = $7 AND deleted = $8",
    )
    .bind(scope.as_uuid())
    .bind(first)
    .bind(op.as_str())
    .bind(now)
    .bind(i64::from(removing))
    .bind(removing)
    .bind(id.as_uuid())
    .bind(false)
    .execute(c)
    .await
    .map(drop))?;
    Ok(())
}

/// The view of `list` that a member with `role` has.
fn view_for(list: &TaskList, role: ListRole, members: &[Member]) -> ListView {
    ListView {
        list: list.clone(),
        role,
        members: views(members),
    }
}

/// The active members (bound to an account), in user-id order: the order
/// their log numbers are taken in.
fn active(members: &[Member]) -> Vec<(UserId, ListRole)> {
    let mut v: Vec<(UserId, ListRole)> = members
        .iter()
        .filter_map(|m| m.user.map(|u| (u, m.role)))
        .collect();
    v.sort();
    v
}

/// What a list write leaves to do after its commit: wake each scope whose
/// log moved.
#[derive(Debug, Default)]
pub(crate) struct Heads(pub BTreeMap<UserId, i64>);

impl Heads {
    /// Wakes this process's feed for each log that moved (the changes are
    /// not attached: the feed reads them).
    pub(crate) fn announce(self, commits: &tokio::sync::broadcast::Sender<crate::CommitNotice>) {
        for (scope, seq) in self.0 {
            let _ = commits.send(crate::CommitNotice {
                scope,
                seq,
                committed: None,
            });
        }
    }

    /// On PostgreSQL, tells every node (at commit) which logs moved; this
    /// process's feed hears of it from [`Heads::announce`].
    pub(crate) async fn notify(&self, tx: &mut Tx, node: u64) -> Result<()> {
        if let Tx::Postgres(t) = tx
            && !self.0.is_empty()
        {
            let payloads: Vec<String> = self
                .0
                .iter()
                .map(|(scope, seq)| crate::postgres::payload(*scope, *seq, node))
                .collect();
            sqlx::query("SELECT count(pg_notify($1, p)) FROM unnest($2::text[]) p")
                .bind(crate::postgres::CHANNEL)
                .bind(&payloads)
                .execute(&mut **t)
                .await?;
        }
        Ok(())
    }

    fn moved(&mut self, scope: UserId, head: i64) {
        let h = self.0.entry(scope).or_insert(head);
        *h = (*h).max(head);
    }
}

/// Stores a list's new state and gives every member its `UPDATE` (each
/// with their role); the owner's view is the answer.
async fn updated(
    tx: &mut Tx,
    heads: &mut Heads,
    next: &TaskList,
    members: &[Member],
    now: i64,
) -> Result<ListWritten, ListWriteError> {
    store_list(tx.conn(), next).await?;
    for (user, role) in active(members) {
        let seq = take_seqs(tx.conn(), user, 1).await?;
        log_list(
            tx.conn(),
            user,
            seq,
            ChangeOp::Update,
            &view_for(next, role, members),
            now,
        )
        .await?;
        heads.moved(user, seq);
    }
    Ok(ListWritten {
        view: view_for(next, ListRole::Owner, members),
        changed: true,
        joined: false,
    })
}

/// Gives `user` a list they just gained: the list, then its live tasks.
async fn move_in(
    tx: &mut Tx,
    heads: &mut Heads,
    user: UserId,
    view: &ListView,
    now: i64,
) -> Result<()> {
    let n = live_tasks(tx.conn(), view.list.id).await?;
    let first = take_seqs(tx.conn(), user, n + 1).await?;
    log_list(tx.conn(), user, first, ChangeOp::Create, view, now).await?;
    log_list_tasks(
        tx.conn(),
        user,
        first + 1,
        ChangeOp::Create,
        view.list.id,
        now,
    )
    .await?;
    heads.moved(user, first + n);
    Ok(())
}

/// Takes a list away from `user`: a `REMOVE` for each live task, then the
/// list (`op`: `REMOVE`, or `DELETE` when the list itself is deleted).
async fn move_out(
    tx: &mut Tx,
    heads: &mut Heads,
    user: UserId,
    view: &ListView,
    op: ChangeOp,
    now: i64,
) -> Result<()> {
    let n = live_tasks(tx.conn(), view.list.id).await?;
    let first = take_seqs(tx.conn(), user, n + 1).await?;
    log_list_tasks(tx.conn(), user, first, ChangeOp::Remove, view.list.id, now).await?;
    log_list(tx.conn(), user, first + n, op, &view.removed(), now).await?;
    heads.moved(user, first + n);
    Ok(())
}

/// Stores a list's new name/version/deleted flag.
async fn store_list(conn: Conn<'_>, list: &TaskList) -> Result<()> {
    on!(conn, |c| sqlx::query(
        "UPDATE lists SET name = $2, updated_at = $3, version = $4, deleted = $5 WHERE id = $1"
    )
    .bind(list.id.as_uuid())
    .bind(&list.name)
    .bind(list.updated_at)
    .bind(list.version)
    .bind(list.deleted)
    .execute(c)
    .await
    .map(drop))?;
    Ok(())
}

fn bumped(list: &TaskList, now: i64) -> TaskList {
    TaskList {
        version: list.version + 1,
        updated_at: now.max(list.updated_at),
        ..list.clone()
    }
}

/// The caller's address (members are keyed by address).
async fn email_of(conn: Conn<'_>, user: UserId) -> Result<String> {
    let email: Option<String> = on!(conn, |c| sqlx::query_scalar(
        "SELECT email FROM users WHERE id = $1"
    )
    .bind(user.as_uuid())
    .fetch_optional(c)
    .await?);
    email.ok_or(StoreError::NotFound("user"))
}

/// How many lists `user` is a member of (the personal one included).
async fn lists_count(conn: Conn<'_>, user: UserId) -> Result<i64> {
    Ok(on!(conn, |c| sqlx::query_scalar(
        "SELECT count(*) FROM list_members WHERE user_id = $1"
    )
    .bind(user.as_uuid())
    .fetch_one(c)
    .await?))
}

fn rejected(r: ListRejection) -> ListWriteError {
    ListWriteError::Rejected(r)
}

/// Applies one list write of `caller` inside `tx` and commits it. Returns
/// the caller's view afterwards and the heads of the logs it moved.
///
/// On PostgreSQL, `node` names this node in the wake-up notices for the
/// other nodes, which the commit sends.
pub(crate) async fn write_list(
    mut tx: Tx,
    caller: UserId,
    write: &ListWrite,
    limits: &ListLimits,
    now: i64,
    node: u64,
) -> Result<(ListWritten, Heads), ListWriteError> {
    let mut heads = Heads::default();
    let written = apply(&mut tx, &mut heads, caller, write, limits, now).await?;
    if written.changed {
        heads.notify(&mut tx, node).await?;
        tx.commit().await?;
    } else {
        on!(tx, |t| t.rollback().await.map_err(StoreError::from))?;
    }
    Ok((written, heads))
}

async fn apply(
    tx: &mut Tx,
    heads: &mut Heads,
    caller: UserId,
    write: &ListWrite,
    limits: &ListLimits,
    now: i64,
) -> Result<ListWritten, ListWriteError> {
    let id = write.list_id();
    let current = lock_list(tx.conn(), id).await?;
    if let ListWrite::Create { name, .. } = write {
        return create(tx, heads, caller, id, name.as_str(), current, limits, now).await;
    }
    // Not a member, or no such list: the same answer.
    let list = current
        .filter(|l| !l.deleted)
        .ok_or(rejected(ListRejection::NotFound))?;
    let mut members = members_of(tx.conn(), id).await?;
    let role = members
        .iter()
        .find(|m| m.user == Some(caller))
        .map(|m| m.role);
    let unchanged = |list: &TaskList, members: &[Member]| ListWritten {
        view: view_for(list, role.unwrap_or(ListRole::Viewer), members),
        changed: false,
        joined: false,
    };
    match write {
        ListWrite::Create { .. } => unreachable!("handled above"),
        ListWrite::Rename {
            expected_version,
            name,
            ..
        } => {
            check_manage(role).map_err(rejected)?;
            check_list_version(&list, *expected_version).map_err(rejected)?;
            if list.name == name.as_str() {
                return Ok(unchanged(&list, &members));
            }
            let next = TaskList {
                name: name.as_str().to_owned(),
                ..bumped(&list, now)
            };
            updated(tx, heads, &next, &members, now).await
        }
        ListWrite::Delete {
            expected_version, ..
        } => {
            check_manage(role).map_err(rejected)?;
            if list.personal {
                return Err(rejected(ListRejection::Invalid(
                    "the personal list cannot be deleted",
                )));
            }
            check_list_version(&list, *expected_version).map_err(rejected)?;
            let next = TaskList {
                deleted: true,
                ..bumped(&list, now)
            };
            for (user, role) in active(&members) {
                let view = view_for(&next, role, &members);
                move_out(tx, heads, user, &view, ChangeOp::Delete, now).await?;
            }
            // The tasks go with the list, as tombstones (retention removes them).
            on!(tx.conn(), |c| sqlx::query(
                "UPDATE tasks SET deleted = $2, version = version + 1, updated_at = $3
                 WHERE list_id = $1 AND deleted = $4",
            )
            .bind(id.as_uuid())
            .bind(true)
            .bind(now)
            .bind(false)
            .execute(c)
            .await
            .map(drop))?;
            on!(tx.conn(), |c| sqlx::query(
                "DELETE FROM list_members WHERE list_id = $1"
            )
            .bind(id.as_uuid())
            .execute(c)
            .await
            .map(drop))?;
            store_list(tx.conn(), &next).await?;
            Ok(ListWritten {
                view: view_for(&next, ListRole::Owner, &[]).removed(),
                changed: true,
                joined: false,
            })
        }
        ListWrite::Share {
            email,
            role: new_role,
            ..
        } => {
            check_manage(role).map_err(rejected)?;
            if list.personal {
                return Err(rejected(ListRejection::Invalid(
                    "the personal list cannot be shared",
                )));
            }
            if *new_role == ListRole::Owner {
                return Err(rejected(ListRejection::Invalid(
                    "a list has one owner: share as EDITOR or VIEWER",
                )));
            }
            let address = email.as_str().to_owned();
            if let Some(m) = members.iter_mut().find(|m| m.email == address) {
                if m.role == ListRole::Owner {
                    return Err(rejected(ListRejection::Invalid(
                        "you own this list: share it with someone else",
                    )));
                }
                if m.role == *new_role {
                    return Ok(unchanged(&list, &members));
                }
                m.role = *new_role;
                set_role(tx.conn(), id, &address, *new_role).await?;
                return updated(tx, heads, &bumped(&list, now), &members, now).await;
            }
            if members.len() >= limits.members_per_list as usize {
                return Err(rejected(ListRejection::Limit(format!(
                    "a list has at most {} members",
                    limits.members_per_list
                ))));
            }
            // Said before anything about the invitee is looked at: the
            // answer depends on the list alone.
            if holds_more_than(tx.conn(), id, limits.tasks_per_shared_list).await? {
                return Err(rejected(ListRejection::Limit(format!(
                    "a list of more than {} tasks cannot be shared with one more member: \
                     move or delete some of its tasks first",
                    limits.tasks_per_shared_list
                ))));
            }
            let invitee = confirmed_user(tx.conn(), email).await?;
            on!(tx.conn(), |c| sqlx::query(
                "INSERT INTO list_members (list_id, email, user_id, role, accepted, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id.as_uuid())
            .bind(&address)
            .bind(invitee.map(|u| u.as_uuid()))
            .bind(new_role.as_str())
            .bind(false)
            .bind(now)
            .execute(c)
            .await
            .map(drop))?;
            let before = active(&members);
            members.push(Member {
                email: address,
                user: invitee,
                role: *new_role,
                accepted: false,
            });
            let next = bumped(&list, now);
            store_list(tx.conn(), &next).await?;
            // In user-id order with the new member among the others.
            for (user, role) in active(&members) {
                let view = view_for(&next, role, &members);
                if before.iter().any(|(u, _)| *u == user) {
                    let seq = take_seqs(tx.conn(), user, 1).await?;
                    log_list(tx.conn(), user, seq, ChangeOp::Update, &view, now).await?;
                    heads.moved(user, seq);
                } else {
                    move_in(tx, heads, user, &view, now).await?;
                }
            }
            Ok(ListWritten {
                view: view_for(&next, ListRole::Owner, &members),
                changed: true,
                joined: true,
            })
        }
        ListWrite::Unshare { email, .. } => {
            check_manage(role).map_err(rejected)?;
            let address = email.as_str();
            match members.iter().find(|m| m.email == address) {
                None => Ok(unchanged(&list, &members)),
                Some(m) if m.role == ListRole::Owner => Err(rejected(ListRejection::Invalid(
                    "the owner cannot be removed from the list",
                ))),
                Some(_) => {
                    let next = remove_member(tx, heads, &list, &mut members, address, now).await?;
                    Ok(ListWritten {
                        view: view_for(&next, ListRole::Owner, &members),
                        changed: true,
                        joined: false,
                    })
                }
            }
        }
        ListWrite::Leave { .. } => {
            let Some(me) = members.iter().find(|m| m.user == Some(caller)).cloned() else {
                return Err(rejected(ListRejection::NotFound));
            };
            if me.role == ListRole::Owner {
                return Err(rejected(ListRejection::Invalid(
                    "the owner cannot leave the list: delete it instead",
                )));
            }
            let next = remove_member(tx, heads, &list, &mut members, &me.email, now).await?;
            Ok(ListWritten {
                view: view_for(&next, me.role, &members).removed(),
                changed: true,
                joined: false,
            })
        }
    }
}

/// Removes the member with `address`: they get the removals, the others
/// the list's new members.
async fn remove_member(
    tx: &mut Tx,
    heads: &mut Heads,
    list: &TaskList,
    members: &mut Vec<Member>,
    address: &str,
    now: i64,
) -> Result<TaskList> {
    let gone = members
        .iter()
        .position(|m| m.email == address)
        .map(|i| members.remove(i));
    on!(tx.conn(), |c| sqlx::query(
        "DELETE FROM list_members WHERE list_id = $1 AND email = $2"
    )
    .bind(list.id.as_uuid())
    .bind(address)
    .execute(c)
    .await
    .map(drop))?;
    let next = bumped(list, now);
    store_list(tx.conn(), &next).await?;
    let mut to: Vec<(UserId, Option<ListRole>)> = active(members)
        .into_iter()
        .map(|(u, r)| (u, Some(r)))
        .collect();
    if let Some(user) = gone.as_ref().and_then(|m| m.user) {
        to.push((user, None));
        to.sort();
    }
    for (user, role) in to {
        match role {
            Some(role) => {
                let seq = take_seqs(tx.conn(), user, 1).await?;
                log_list(
                    tx.conn(),
                    user,
                    seq,
                    ChangeOp::Update,
                    &view_for(&next, role, members),
                    now,
                )
                .await?;
                heads.moved(user, seq);
            }
            None => {
                let role = gone.as_ref().map_or(ListRole::Viewer, |m| m.role);
                let view = view_for(&next, role, members);
                move_out(tx, heads, user, &view, ChangeOp::Remove, now).await?;
            }
        }
    }
    Ok(next)
}

async fn set_role(conn: Conn<'_>, id: ListId, email: &str, role: ListRole) -> Result<()> {
    on!(conn, |c| sqlx::query(
        "UPDATE list_members SET role = $3 WHERE list_id = $1 AND email = $2"
    )
    .bind(id.as_uuid())
    .bind(email)
    .bind(role.as_str())
    .execute(c)
    .await
    .map(drop))?;
    Ok(())
}

/// The confirmed account of an address, if any.
async fn confirmed_user(conn: Conn<'_>, email: &Email) -> Result<Option<UserId>> {
    let id: Option<Uuid> = on!(conn, |c| sqlx::query_scalar(
        "SELECT id FROM users WHERE email = $1 AND confirmed = $2"
    )
    .bind(email.as_str())
    .bind(true)
    .fetch_optional(c)
    .await?);
    Ok(id.map(UserId::from_uuid))
}

#[allow(clippy::too_many_arguments)]
async fn create(
    tx: &mut Tx,
    heads: &mut Heads,
    caller: UserId,
    id: ListId,
    name: &str,
    current: Option<TaskList>,
    limits: &ListLimits,
    now: i64,
) -> Result<ListWritten, ListWriteError> {
    if let Some(existing) = current {
        // A retry of this very create returns the list; anything else with
        // this id is taken, whoever has it.
        let retry = existing.owner == caller
            && !existing.deleted
            && !existing.personal
            && existing.name == name
            && existing.version == 1;
        if retry {
            let members = members_of(tx.conn(), id).await?;
            return Ok(ListWritten {
                view: view_for(&existing, ListRole::Owner, &members),
                changed: false,
                joined: false,
            });
        }
        return Err(rejected(ListRejection::IdTaken));
    }
    if id.as_uuid() == caller.as_uuid() || user_exists(tx.conn(), id.as_uuid()).await? {
        // Personal lists have their user's id.
        return Err(rejected(ListRejection::IdTaken));
    }
    if lists_count(tx.conn(), caller).await? >= i64::from(limits.lists_per_user) {
        return Err(rejected(ListRejection::Limit(format!(
            "you can be in at most {} lists",
            limits.lists_per_user
        ))));
    }
    let email = email_of(tx.conn(), caller).await?;
    let list = TaskList {
        id,
        owner: caller,
        name: name.to_owned(),
        personal: false,
        created_at: now,
        updated_at: now,
        version: 1,
        deleted: false,
    };
    on!(tx.conn(), |c| sqlx::query(
        "INSERT INTO lists (id, owner, name, personal, created_at, updated_at, version, deleted)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    .bind(id.as_uuid())
    .bind(caller.as_uuid())
    .bind(name)
    .bind(false)
    .bind(now)
    .bind(now)
    .bind(1_i64)
    .bind(false)
    .execute(c)
    .await
    .map(drop))?;
    on!(tx.conn(), |c| sqlx::query(
        "INSERT INTO list_members (list_id, email, user_id, role, accepted, created_at)
         VALUES ($1, $2, $3, 'owner', $4, $5)",
    )
    .bind(id.as_uuid())
    .bind(&email)
    .bind(caller.as_uuid())
    .bind(true)
    .bind(now)
    .execute(c)
    .await
    .map(drop))?;
    let members = vec![Member {
        email,
        user: Some(caller),
        role: ListRole::Owner,
        accepted: true,
    }];
    let view = view_for(&list, ListRole::Owner, &members);
    let seq = take_seqs(tx.conn(), caller, 1).await?;
    log_list(tx.conn(), caller, seq, ChangeOp::Create, &view, now).await?;
    heads.moved(caller, seq);
    Ok(ListWritten {
        view,
        changed: true,
        joined: false,
    })
}

async fn user_exists(conn: Conn<'_>, id: Uuid) -> Result<bool> {
    let found: Option<i64> = on!(conn, |c| sqlx::query_scalar(
        "SELECT 1 FROM users WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await?);
    Ok(found.is_some())
}

/// Binds the invitations of `user`'s address to it and gives it each list
/// (move-in), inside the caller's transaction, if the account is confirmed
/// and enabled: the confirming one, and each sign-in's and refresh's (an
/// invitation whose share raced the confirmation, unseen by it, joins
/// then: `accepted`, as the user is signing in). One read when there is
/// nothing to join. Returns the logs it moved.
pub(crate) async fn join_invitations(
    tx: &mut Tx,
    user: UserId,
    accepted: bool,
    now: i64,
) -> Result<Heads> {
    let invited: Vec<(Uuid, String)> = on!(tx.conn(), |c| sqlx::query_as(
        "SELECT m.list_id, m.email FROM users u JOIN list_members m ON m.email = u.email
         WHERE u.id = $1 AND u.confirmed = $2 AND u.disabled = $3 AND m.user_id IS NULL
         ORDER BY m.list_id"
    )
    .bind(user.as_uuid())
    .bind(true)
    .bind(false)
    .fetch_all(c)
    .await?);
    let Some(email) = invited.first().map(|(_, e)| e.clone()) else {
        return Ok(Heads::default());
    };
    let mut heads = Heads::default();
    // Every list first (in id order), then the user's log: locks in the
    // order every writer takes them, lists before scopes.
    let mut lists = Vec::with_capacity(invited.len());
    for (id, _) in invited {
        if let Some(list) = lock_list(tx.conn(), ListId::from_uuid(id)).await? {
            lists.push(list);
        }
    }
    for list in lists.into_iter().filter(|l| !l.deleted) {
        let id = list.id;
        // Only an invitation still pending under the list's lock: the
        // owner may have removed it (or an earlier confirmation of the
        // address bound it) since the unlocked read above.
        let bound: Option<String> = on!(tx.conn(), |c| sqlx::query_scalar(
            "UPDATE list_members SET user_id = $3, accepted = $4 \
             WHERE list_id = $1 AND email = $2 AND user_id IS NULL RETURNING role"
        )
        .bind(id.as_uuid())
        .bind(&email)
        .bind(user.as_uuid())
        .bind(accepted)
        .fetch_optional(c)
        .await?);
        let Some(role) = bound.as_deref().and_then(ListRole::parse) else {
            continue;
        };
        let members = members_of(tx.conn(), id).await?;
        move_in(tx, &mut heads, user, &view_for(&list, role, &members), now).await?;
    }
    Ok(heads)
}

/// Marks `user`'s memberships accepted (they signed in since being
/// invited), so they no longer show as pending.
pub(crate) async fn accept_memberships(conn: Conn<'_>, user: UserId) -> Result<()> {
    on!(conn, |c| sqlx::query(
        "UPDATE list_members SET accepted = $2 WHERE user_id = $1 AND accepted = $3"
    )
    .bind(user.as_uuid())
    .bind(true)
    .bind(false)
    .execute(c)
    .await
    .map(drop))?;
    Ok(())
}
