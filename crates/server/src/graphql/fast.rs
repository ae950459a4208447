//! The fast path of fan-out: change subscriptions rendered without running
//! the GraphQL executor for every delivery.
//!
//! Delivering a change to a subscriber through async-graphql builds a value
//! tree and runs the stream machinery for every subscriber and every change;
//! with hundreds of subscribers that dominates the cost of a write. Almost
//! every subscription, though, is one of four plain shapes: `taskChanges`
//! (or `onCreateTask`, `onUpdateTask`, `onDeleteTask`) with a selection of
//! plain fields. Such a document is turned once, at subscribe time, into a
//! [`Plan`]: a list of output keys and the fields they show. Rendering a
//! change through a plan writes the JSON text directly. Anything else
//! (fragments, directives, unknown fields, …) returns `None` and takes the
//! general path, which also produces the proper validation errors. Both
//! paths give the same bytes for the same change (tested).

use async_graphql::parser::types::{DocumentOperations, OperationType, Selection, SelectionSet};
use async_graphql::{Name, Positioned};
use async_graphql_value::Value;
use tasksync_core::{Change, ChangeOp, Cursor, ListView, Task};

use crate::clock::rfc3339;

/// What a subscription listens to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// `taskChanges(after:)`: every change after the cursor.
    Changes { after: Option<String> },
    /// `onCreateTask` and friends: changes of one kind, from now on.
    Kind(ChangeOp),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskField {
    Typename,
    Id,
    Title,
    Description,
    Done,
    Owner,
    ListId,
    CreatedAt,
    UpdatedAt,
    Version,
    Deleted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MemberField {
    Typename,
    Email,
    Role,
    Pending,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ListField {
    Typename,
    Id,
    Name,
    Personal,
    Role,
    Members(Vec<(String, MemberField)>),
    Version,
    Deleted,
    CreatedAt,
    UpdatedAt,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ChangeField {
    Typename,
    Op,
    Cursor,
    Task(Vec<(String, TaskField)>),
    List(Vec<(String, ListField)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    Change(Vec<(String, ChangeField)>),
    Task(Vec<(String, TaskField)>),
}

/// A compiled change subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub root: Root,
    /// The response key of the root field (its alias or name).
    key: String,
    shape: Shape,
}

/// Compiles a subscription request, or `None` when it is not one of the
/// plain shapes (the general path then handles it).
pub fn plan(request: &async_graphql::Request) -> Option<Plan> {
    let doc = async_graphql::parser::parse_query(&request.query).ok()?;
    if !doc.fragments.is_empty() {
        return None;
    }
    let op = match (&doc.operations, request.operation_name.as_deref()) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
        (DocumentOperations::Multiple(_), None) => return None,
    };
    let op = &op.node;
    if op.ty != OperationType::Subscription || !op.directives.is_empty() {
        return None;
    }
    let roots = plain_fields(&op.selection_set)?;
    let [root] = roots.as_slice() else {
        return None;
    };
    let (key, name, arguments, selection) = root;
    let root = match name.as_str() {
        "taskChanges" => {
            let mut after = None;
            for (arg, value) in arguments.iter() {
                if arg.node.as_str() != "after" {
                    return None;
                }
                after = string_argument(&value.node, request, op)?;
            }
            Root::Changes { after }
        }
        kind => {
            if !arguments.is_empty() {
                return None;
            }
            Root::Kind(match kind {
                "onCreateTask" => ChangeOp::Create,
                "onUpdateTask" => ChangeOp::Update,
                "onDeleteTask" => ChangeOp::Delete,
                _ => return None,
            })
        }
    };
    let shape = match root {
        Root::Changes { .. } => Shape::Change(change_fields(selection)?),
        Root::Kind(_) => Shape::Task(task_fields(selection)?),
    };
    Some(Plan {
        root,
        key: key.clone(),
        shape,
    })
}

type Plain<'a> = (
    String,
    &'a Name,
    &'a [(Positioned<Name>, Positioned<Value>)],
    &'a SelectionSet,
);

/// The fields of a selection set, if every item is a plain field without
/// directives and no response key repeats.
fn plain_fields(set: &Positioned<SelectionSet>) -> Option<Vec<Plain<'_>>> {
    let mut out: Vec<Plain<'_>> = Vec::with_capacity(set.node.items.len());
    for item in &set.node.items {
        let Selection::Field(field) = &item.node else {
            return None;
        };
        let field = &field.node;
        if !field.directives.is_empty() {
            return None;
        }
        let key = field.alias.as_ref().unwrap_or(&field.name).node.to_string();
        if out.iter().any(|(k, ..)| *k == key) {
            return None;
        }
        out.push((
            key,
            &field.name.node,
            &field.arguments,
            &field.selection_set.node,
        ));
    }
    (!out.is_empty()).then_some(out)
}

fn string_argument(
    value: &Value,
    request: &async_graphql::Request,
    op: &async_graphql::parser::types::OperationDefinition,
) -> Option<Option<String>> {
    let constant = match value {
        Value::Variable(name) => match request.variables.get(name) {
            Some(v) => v.clone(),
            None => {
                let def = op
                    .variable_definitions
                    .iter()
                    .find(|d| d.node.name.node == *name)?;
                def.node
                    .default_value()
                    .cloned()
                    .unwrap_or(async_graphql::Value::Null)
            }
        },
        other => other.clone().into_const()?,
    };
    match constant {
        async_graphql::Value::Null => Some(None),
        async_graphql::Value::String(s) => Some(Some(s)),
        _ => None,
    }
}

fn leaf(set: &SelectionSet, arguments: &[(Positioned<Name>, Positioned<Value>)]) -> bool {
    set.items.is_empty() && arguments.is_empty()
}

fn task_fields(set: &SelectionSet) -> Option<Vec<(String, TaskField)>> {
    let wrapped = Positioned::new(set.clone(), async_graphql::Pos::default());
    plain_fields(&wrapped)?
        .into_iter()
        .map(|(key, name, args, sel)| {
            if !leaf(sel, args) {
                return None;
            }
            let f = match name.as_str() {
                "__typename" => TaskField::Typename,
                "id" => TaskField::Id,
                "title" => TaskField::Title,
                "description" => TaskField::Description,
                "done" => TaskField::Done,
                "owner" => TaskField::Owner,
                "listId" => TaskField::ListId,
                "createdAt" => TaskField::CreatedAt,
                "updatedAt" => TaskField::UpdatedAt,
                "version" => TaskField::Version,
                "deleted" => TaskField::Deleted,
                _ => return None,
            };
            Some((key, f))
        })
        .collect()
}

fn member_fields(set: &SelectionSet) -> Option<Vec<(String, MemberField)>> {
    let wrapped = Positioned::new(set.clone(), async_graphql::Pos::default());
    plain_fields(&wrapped)?
        .into_iter()
        .map(|(key, name, args, sel)| {
            if !leaf(sel, args) {
                return None;
            }
            let f = match name.as_str() {
                "__typename" => MemberField::Typename,
                "email" => MemberField::Email,
                "role" => MemberField::Role,
                "pending" => MemberField::Pending,
                _ => return None,
            };
            Some((key, f))
        })
        .collect()
}

fn list_fields(set: &SelectionSet) -> Option<Vec<(String, ListField)>> {
    let wrapped = Positioned::new(set.clone(), async_graphql::Pos::default());
    plain_fields(&wrapped)?
        .into_iter()
        .map(|(key, name, args, sel)| {
            let f = match name.as_str() {
                "members" if args.is_empty() => ListField::Members(member_fields(sel)?),
                _ if !leaf(sel, args) => return None,
                "__typename" => ListField::Typename,
                "id" => ListField::Id,
                "name" => ListField::Name,
                "personal" => ListField::Personal,
                "role" => ListField::Role,
                "version" => ListField::Version,
                "deleted" => ListField::Deleted,
                "createdAt" => ListField::CreatedAt,
                "updatedAt" => ListField::UpdatedAt,
                _ => return None,
            };
            Some((key, f))
        })
        .collect()
}

fn role_name(role: tasksync_core::ListRole) -> &'static str {
    match role {
        tasksync_core::ListRole::Owner => "OWNER",
        tasksync_core::ListRole::Editor => "EDITOR",
        tasksync_core::ListRole::Viewer => "VIEWER",
    }
}

fn push_bool(out: &mut String, b: bool) {
    out.push_str(if b { "true" } else { "false" });
}

fn render_list(out: &mut String, view: &ListView, fields: &[(String, ListField)]) {
    out.push('{');
    let mut first = true;
    let list = &view.list;
    for (key, f) in fields {
        push_key(out, key, &mut first);
        match f {
            ListField::Typename => push_str(out, "TaskList"),
            ListField::Id => push_str(out, &list.id.to_string()),
            ListField::Name => push_str(out, &list.name),
            ListField::Personal => push_bool(out, list.personal),
            ListField::Role => push_str(out, role_name(view.role)),
            ListField::Members(fields) => {
                out.push('[');
                for (i, m) in view.members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('{');
                    let mut first = true;
                    for (key, f) in fields {
                        push_key(out, key, &mut first);
                        match f {
                            MemberField::Typename => push_str(out, "ListMember"),
                            MemberField::Email => push_str(out, &m.email),
                            MemberField::Role => push_str(out, role_name(m.role)),
                            MemberField::Pending => push_bool(out, m.pending),
                        }
                    }
                    out.push('}');
                }
                out.push(']');
            }
            ListField::Version => {
                out.push_str(&i32::try_from(list.version).unwrap_or(i32::MAX).to_string())
            }
            ListField::Deleted => push_bool(out, list.deleted),
            ListField::CreatedAt => push_str(out, &rfc3339(list.created_at)),
            ListField::UpdatedAt => push_str(out, &rfc3339(list.updated_at)),
        }
    }
    out.push('}');
}

fn change_fields(set: &SelectionSet) -> Option<Vec<(String, ChangeField)>> {
    let wrapped = Positioned::new(set.clone(), async_graphql::Pos::default());
    plain_fields(&wrapped)?
        .into_iter()
        .map(|(key, name, args, sel)| {
            let f = match name.as_str() {
                "task" if args.is_empty() => ChangeField::Task(task_fields(sel)?),
                "list" if args.is_empty() => ChangeField::List(list_fields(sel)?),
                _ if !leaf(sel, args) => return None,
                "__typename" => ChangeField::Typename,
                "op" => ChangeField::Op,
                "cursor" => ChangeField::Cursor,
                _ => return None,
            };
            Some((key, f))
        })
        .collect()
}

fn push_str(out: &mut String, s: &str) {
    // serde_json escapes exactly as the executor's serializer does.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "null".into()));
}

fn push_key(out: &mut String, key: &str, first: &mut bool) {
    if !std::mem::take(first) {
        out.push(',');
    }
    push_str(out, key);
    out.push(':');
}

fn render_task(out: &mut String, task: &Task, fields: &[(String, TaskField)]) {
    out.push('{');
    let mut first = true;
    for (key, f) in fields {
        push_key(out, key, &mut first);
        match f {
            TaskField::Typename => push_str(out, "Task"),
            TaskField::Id => push_str(out, &task.id.to_string()),
            TaskField::Title => push_str(out, &task.title),
            TaskField::Description => match &task.description {
                Some(d) => push_str(out, d),
                None => out.push_str("null"),
            },
            TaskField::Done => out.push_str(if task.done { "true" } else { "false" }),
            TaskField::Owner => push_str(out, &task.owner.to_string()),
            TaskField::ListId => push_str(out, &task.list_id.to_string()),
            TaskField::CreatedAt => push_str(out, &rfc3339(task.created_at)),
            TaskField::UpdatedAt => push_str(out, &rfc3339(task.updated_at)),
            TaskField::Version => {
                out.push_str(&i32::try_from(task.version).unwrap_or(i32::MAX).to_string())
            }
            TaskField::Deleted => out.push_str(if task.deleted { "true" } else { "false" }),
        }
    }
    out.push('}');
}

impl Plan {
    /// Whether this subscription shows `change` at all.
    pub fn wants(&self, change: &Change) -> bool {
        match self.root {
            // Changes of lists reach only documents that select them.
            Root::Changes { .. } => change.task().is_some() || self.selects_list(),
            // A task that left the view is gone for `onDeleteTask` too.
            Root::Kind(op) => {
                change.task().is_some()
                    && (change.op == op
                        || (op == ChangeOp::Delete && change.op == ChangeOp::Remove))
            }
        }
    }

    fn selects_list(&self) -> bool {
        match &self.shape {
            Shape::Change(fields) => fields
                .iter()
                .any(|(_, f)| matches!(f, ChangeField::List(_))),
            Shape::Task(_) => false,
        }
    }

    /// The `payload` of a `next` message for `change`, one this plan
    /// [`wants`](Self::wants): `{"data":{"<key>":{…}}}`.
    pub fn render(&self, change: &Change) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("{\"data\":{");
        push_str(&mut out, &self.key);
        out.push(':');
        match &self.shape {
            Shape::Task(fields) => match change.task() {
                Some(task) => render_task(&mut out, task, fields),
                None => out.push_str("null"),
            },
            Shape::Change(fields) => {
                out.push('{');
                let mut first = true;
                for (key, f) in fields {
                    push_key(&mut out, key, &mut first);
                    match f {
                        ChangeField::Typename => push_str(&mut out, "TaskChange"),
                        ChangeField::Op => push_str(
                            &mut out,
                            match change.op {
                                ChangeOp::Create => "CREATE",
                                ChangeOp::Update => "UPDATE",
                                ChangeOp::Delete => "DELETE",
                                ChangeOp::Remove => "REMOVE",
                            },
                        ),
                        ChangeField::List(fields) => match change.list() {
                            Some(list) => render_list(&mut out, list, fields),
                            None => out.push_str("null"),
                        },
                        ChangeField::Cursor => {
                            push_str(&mut out, &Cursor::new(change.scope, change.seq).encode())
                        }
                        ChangeField::Task(fields) => match change.task() {
                            Some(task) => render_task(&mut out, task, fields),
                            None => out.push_str("null"),
                        },
                    }
                }
                out.push('}');
            }
        }
        out.push_str("}}");
        out
    }
}

/// The renderer of one output shape (the same key and fields), shared by
/// every subscription of that shape: with a thousand sockets on the same
/// query, a change is rendered once, not a thousand times.
#[derive(Debug)]
pub struct Renderer {
    plan: Plan,
    /// Names this shape in the renderings cached on each batch.
    id: u64,
}

/// The `payload` of a `next` message for each change of a batch, or `None`
/// for a change the subscription does not show.
pub type Rendered = Vec<Option<bytes::Bytes>>;

impl Renderer {
    /// The payloads of `batch`, rendered once per shape and batch.
    pub fn render(&self, batch: &crate::feed::Batch) -> std::sync::Arc<Rendered> {
        batch.rendered(self.id, |changes| {
            changes
                .iter()
                .map(|c| {
                    self.plan
                        .wants(c)
                        .then(|| bytes::Bytes::from(self.plan.render(c)))
                })
                .collect()
        })
    }
}

/// Renderers by output shape, so that equal plans share one.
#[derive(Debug, Default)]
pub struct Renderers {
    by_shape: std::sync::Mutex<std::collections::HashMap<String, std::sync::Weak<Renderer>>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl Renderers {
    /// The renderer for `plan`'s output (its starting point does not matter).
    pub fn get(&self, plan: Plan) -> std::sync::Arc<Renderer> {
        let shape = format!("{:?}|{:?}|{}", plan.shape, kind(&plan.root), plan.key);
        let mut map = self.by_shape.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = map.get(&shape).and_then(std::sync::Weak::upgrade) {
            return r;
        }
        map.retain(|_, w| w.strong_count() > 0);
        let r = std::sync::Arc::new(Renderer {
            plan,
            // Never reused, so a batch's cached rendering is never taken for
            // another shape's.
            id: self
                .next_id
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        });
        map.insert(shape, std::sync::Arc::downgrade(&r));
        r
    }
}

fn kind(root: &Root) -> Option<ChangeOp> {
    match root {
        Root::Changes { .. } => None,
        Root::Kind(op) => Some(*op),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tasksync_core::{TaskId, UserId};

    fn request(query: &str, variables: serde_json::Value) -> async_graphql::Request {
        async_graphql::Request::new(query).variables(async_graphql::Variables::from_json(variables))
    }

    #[test]
    fn plain_subscriptions_compile_and_everything_else_does_not() {
        let yes = [
            (
                "subscription { taskChanges { op cursor task { id } } }",
                serde_json::json!({}),
            ),
            (
                "subscription($a: String) { taskChanges(after: $a) { op } }",
                serde_json::json!({ "a": "c1x" }),
            ),
            (
                "subscription S($a: String = null) { c: taskChanges(after: $a) { o: op task { t: title } } }",
                serde_json::json!({}),
            ),
            (
                "subscription { onDeleteTask { id deleted __typename } }",
                serde_json::json!({}),
            ),
        ];
        for (q, v) in yes {
            assert!(plan(&request(q, v)).is_some(), "{q}");
        }
        let no = [
            "{ tasks { items { id } } }",
            "mutation { createTask(input: { title: \"x\" }) { id } }",
            "subscription { taskChanges { ...F } } fragment F on TaskChange { op }",
            "subscription { taskChanges { op @include(if: true) } }",
            "subscription { taskChanges { op } onCreateTask { id } }",
            "subscription { taskChanges { secret } }",
            "subscription { taskChanges { task } }",
            "subscription { taskChanges { op op } }",
            "subscription { taskChanges(after: 5) { op } }",
            "subscription { taskChanges(before: \"x\") { op } }",
            "subscription { onCreateTask(x: 1) { id } }",
            "subscription { taskChanges { op { x } } }",
            "not graphql",
        ];
        for q in no {
            assert!(plan(&request(q, serde_json::json!({}))).is_none(), "{q}");
        }
        let p = plan(&request(
            "subscription($a: String) { taskChanges(after: $a) { op } }",
            serde_json::json!({ "a": "c1abc" }),
        ));
        assert_eq!(
            p.map(|p| p.root),
            Some(Root::Changes {
                after: Some("c1abc".into())
            })
        );
    }

    #[test]
    fn rendering_escapes_text_and_writes_nulls() {
        let scope = UserId::new();
        let change = Change {
            scope,
            seq: 7,
            op: ChangeOp::Update,
            at: 0,
            subject: tasksync_core::Subject::Task(Task {
                id: TaskId::new(),
                owner: scope,
                list_id: tasksync_core::ListId::personal(scope),
                title: "quote \" backslash \\ newline-free <img src=x>".into(),
                description: None,
                done: true,
                created_at: 0,
                updated_at: 1,
                version: 3,
                deleted: false,
            }),
        };
        let p = plan(&request(
            "subscription { taskChanges { op cursor task { title description done version } } }",
            serde_json::json!({}),
        ))
        .expect("plan");
        let v: serde_json::Value = serde_json::from_str(&p.render(&change)).expect("valid JSON");
        let c = &v["data"]["taskChanges"];
        assert_eq!(c["op"], "UPDATE");
        assert_eq!(c["cursor"], Cursor::new(scope, 7).encode());
        assert_eq!(
            c["task"]["title"],
            change.task().expect("a task").title.as_str()
        );
        assert_eq!(c["task"]["description"], serde_json::Value::Null);
        assert_eq!(
            (c["task"]["done"].as_bool(), c["task"]["version"].as_i64()),
            (Some(true), Some(3))
        );
    }
}
