//! Tasks: parsed inputs and the rules every write follows.
//!
//! Lengths are counted in Unicode scalar values and text is stored exactly
//! as given (no trimming, no normalisation), so a client reads back the
//! bytes it wrote.

use crate::list::ListView;
use crate::{ListId, TaskId, UserId};

/// Most characters in a title.
pub const MAX_TITLE_CHARS: usize = 256;
/// Most characters in a description.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;

/// Why a task input is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskInputError {
    #[error("title must not be empty")]
    TitleEmpty,
    #[error("title must not be blank")]
    TitleBlank,
    #[error("title must be at most {MAX_TITLE_CHARS} characters")]
    TitleTooLong,
    #[error("title must not contain control characters such as line breaks")]
    TitleControl,
    #[error("description must be at most {MAX_DESCRIPTION_CHARS} characters")]
    DescriptionTooLong,
    #[error("description must not contain control characters other than line breaks and tabs")]
    DescriptionControl,
}

/// A task title: 1..=256 characters, not only white space, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskTitle(String);

impl TaskTitle {
    pub fn parse(input: &str) -> Result<Self, TaskInputError> {
        if input.is_empty() {
            return Err(TaskInputError::TitleEmpty);
        }
        if input.chars().count() > MAX_TITLE_CHARS {
            return Err(TaskInputError::TitleTooLong);
        }
        if input.chars().any(char::is_control) {
            return Err(TaskInputError::TitleControl);
        }
        if input.chars().all(char::is_whitespace) {
            return Err(TaskInputError::TitleBlank);
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A task description: at most 10 000 characters; line breaks and tabs are
/// allowed, other control characters are not. Empty is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDescription(String);

impl TaskDescription {
    pub fn parse(input: &str) -> Result<Self, TaskInputError> {
        if input.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(TaskInputError::DescriptionTooLong);
        }
        if input
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(TaskInputError::DescriptionControl);
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A task as stored and as every client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: TaskId,
    /// The user who created it.
    pub owner: UserId,
    /// The list it is in.
    pub list_id: ListId,
    pub title: String,
    pub description: Option<String>,
    pub done: bool,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch milliseconds; never earlier than the previous value.
    pub updated_at: i64,
    /// 1 on create, +1 on every change.
    pub version: i64,
    /// A tombstone: visible only to sync, never to `task`/`tasks`.
    pub deleted: bool,
}

impl Task {
    /// About how many bytes the task takes in an answer: its texts and a
    /// fixed share for the other fields and the JSON around them. Pages of
    /// tasks are bounded by it.
    pub fn answer_bytes(&self) -> usize {
        256usize
            .saturating_add(self.title.len())
            .saturating_add(self.description.as_ref().map_or(0, String::len))
    }
}

/// How many of `tasks` (at least one, if any) fit in `budget` bytes of
/// answer ([`Task::answer_bytes`]), from the first.
pub fn fitting<'a>(tasks: impl IntoIterator<Item = &'a Task>, budget: usize) -> usize {
    let mut used = 0usize;
    let fits = tasks
        .into_iter()
        .take_while(|t| {
            used = used.saturating_add(t.answer_bytes());
            used <= budget
        })
        .count();
    fits.max(1)
}

/// What a change did to its task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeOp {
    Create,
    Update,
    Delete,
    /// The task or list left the scope's view (its user lost access to
    /// the list); the image is a tombstone.
    Remove,
}

impl ChangeOp {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Remove => "remove",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "create" => Some(Self::Create),
            "update" => Some(Self::Update),
            "delete" => Some(Self::Delete),
            "remove" => Some(Self::Remove),
            _ => None,
        }
    }
}

/// What a change is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A task's image after the change.
    Task(Task),
    /// A list as the scope's user sees it after the change.
    List(Box<ListView>),
}

/// One entry of a scope's change log: the new image of a task or list
/// after change number `seq` of that scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub scope: UserId,
    pub seq: i64,
    pub op: ChangeOp,
    pub subject: Subject,
    /// Epoch milliseconds when the write was made (the writer's clock;
    /// within one commit these need not follow `seq`).
    pub at: i64,
}

impl Change {
    /// The task, when the change is about one.
    pub fn task(&self) -> Option<&Task> {
        match &self.subject {
            Subject::Task(t) => Some(t),
            Subject::List(_) => None,
        }
    }

    /// About how many bytes the change takes in an answer (see
    /// [`Task::answer_bytes`]).
    pub fn answer_bytes(&self) -> usize {
        match &self.subject {
            Subject::Task(t) => t.answer_bytes(),
            Subject::List(l) => l
                .members
                .iter()
                .fold(256usize.saturating_add(l.list.name.len()), |n, m| {
                    n.saturating_add(64 + m.email.len())
                }),
        }
    }

    /// The list, when the change is about one.
    pub fn list(&self) -> Option<&ListView> {
        match &self.subject {
            Subject::List(l) => Some(l),
            Subject::Task(_) => None,
        }
    }
}

/// The tombstone a user who lost access to a task's list receives: its
/// version one past the last, so that a client that keeps the newest
/// version of each task drops it too.
pub fn removal(task: &Task) -> Task {
    Task {
        deleted: true,
        version: task.version + 1,
        ..task.clone()
    }
}

/// A create request, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    pub id: TaskId,
    /// The list to create it in; `None`: the creator's personal list.
    pub list: Option<ListId>,
    pub title: TaskTitle,
    pub description: Option<TaskDescription>,
    pub done: bool,
}

impl NewTask {
    /// The task this request creates.
    pub fn into_task(self, owner: UserId, now: i64) -> Task {
        Task {
            id: self.id,
            owner,
            list_id: self.list.unwrap_or(ListId::personal(owner)),
            title: self.title.0,
            description: self.description.map(|d| d.0),
            done: self.done,
            created_at: now,
            updated_at: now,
            version: 1,
            deleted: false,
        }
    }

    /// Whether `created` (the image written by a create) is what this request
    /// would create: then a second create with the same id is a retry.
    pub fn is_retry_of(&self, created: &Task, owner: UserId) -> bool {
        created.owner == owner
            && created.id == self.id
            && created.list_id == self.list.unwrap_or(ListId::personal(owner))
            && created.title == self.title.0
            && created.description.as_deref() == self.description.as_ref().map(|d| d.0.as_str())
            && created.done == self.done
    }
}

/// An update request, parsed. `None` fields stay as they are;
/// `description: Some(None)` clears the description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskPatch {
    pub id: TaskId,
    pub expected_version: Option<i64>,
    /// Moves the task to this list.
    pub list: Option<ListId>,
    pub title: Option<TaskTitle>,
    pub description: Option<Option<TaskDescription>>,
    pub done: Option<bool>,
}

/// Why a write was refused by the rules (not by bad input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteRejection {
    /// No live task with this id in the caller's scope (another user's task
    /// is reported the same way).
    #[error("task not found")]
    NotFound,
    /// `expectedVersion` is not the current version; here is the current task.
    #[error("task has changed: expected version differs from the current one")]
    Conflict(Box<Task>),
    /// The id is already used by a different task.
    #[error("a different task already has this id")]
    IdTaken,
    /// The caller may read the task's list but not write it (a viewer).
    #[error("your role in this list does not allow changing its tasks")]
    Forbidden,
}

/// Whether a caller whose roles in the lists a write touches are these
/// may make it: `current` is the role in the task's list (for a create,
/// the list it is created in), `target` the role in the list it moves to.
/// Not a member is `NotFound`, as for a task that does not exist.
pub fn check_access(
    current: Option<crate::ListRole>,
    target: Option<Option<crate::ListRole>>,
) -> Result<(), WriteRejection> {
    for role in std::iter::once(current).chain(target) {
        match role {
            None => return Err(WriteRejection::NotFound),
            Some(r) if !r.can_write() => return Err(WriteRejection::Forbidden),
            Some(_) => {}
        }
    }
    Ok(())
}

fn check_version(current: &Task, expected: Option<i64>) -> Result<(), WriteRejection> {
    match expected {
        Some(v) if v != current.version => Err(WriteRejection::Conflict(Box::new(current.clone()))),
        _ => Ok(()),
    }
}

/// The task after `patch`, or `None` when the patch changes nothing (no new
/// version, nothing logged).
pub fn apply_update(
    current: &Task,
    patch: &TaskPatch,
    now: i64,
) -> Result<Option<Task>, WriteRejection> {
    if current.deleted {
        return Err(WriteRejection::NotFound);
    }
    check_version(current, patch.expected_version)?;
    let mut next = current.clone();
    if let Some(t) = &patch.title {
        next.title = t.0.clone();
    }
    if let Some(d) = &patch.description {
        next.description = d.as_ref().map(|d| d.0.clone());
    }
    if let Some(done) = patch.done {
        next.done = done;
    }
    if let Some(list) = patch.list {
        next.list_id = list;
    }
    if next == *current {
        return Ok(None);
    }
    next.version = current.version + 1;
    next.updated_at = now.max(current.updated_at);
    Ok(Some(next))
}

/// The tombstone a delete leaves, or `None` if the task is already deleted
/// (a retried delete: nothing more to do).
pub fn apply_delete(
    current: &Task,
    expected: Option<i64>,
    now: i64,
) -> Result<Option<Task>, WriteRejection> {
    if current.deleted {
        return Ok(None);
    }
    check_version(current, expected)?;
    Ok(Some(Task {
        deleted: true,
        version: current.version + 1,
        updated_at: now.max(current.updated_at),
        ..current.clone()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn task() -> Task {
        NewTask {
            id: TaskId::new(),
            list: None,
            title: TaskTitle::parse("Buy milk").expect("title"),
            description: None,
            done: false,
        }
        .into_task(UserId::new(), 100)
    }

    fn patch(t: &Task) -> TaskPatch {
        TaskPatch {
            id: t.id,
            list: None,
            expected_version: None,
            title: None,
            description: None,
            done: None,
        }
    }

    #[test]
    fn titles_follow_the_rules() {
        let long = "é".repeat(MAX_TITLE_CHARS + 1);
        let max = "é".repeat(MAX_TITLE_CHARS);
        let cases: Vec<(&str, Result<(), TaskInputError>)> = vec![
            ("Buy milk", Ok(())),
            ("  padded  ", Ok(())),
            ("日本語のタスク 🎉", Ok(())),
            (&max, Ok(())),
            ("<img src=x onerror=alert(1)>", Ok(())),
            ("", Err(TaskInputError::TitleEmpty)),
            ("   ", Err(TaskInputError::TitleBlank)),
            ("\u{3000}\u{2003}", Err(TaskInputError::TitleBlank)),
            ("two\nlines", Err(TaskInputError::TitleControl)),
            ("tab\there", Err(TaskInputError::TitleControl)),
            ("nul\0", Err(TaskInputError::TitleControl)),
            (&long, Err(TaskInputError::TitleTooLong)),
        ];
        for (input, want) in cases {
            assert_eq!(TaskTitle::parse(input).map(|_| ()), want, "title {input:?}");
        }
        assert_eq!(
            TaskTitle::parse("  padded  ").expect("ok").as_str(),
            "  padded  ",
            "stored byte-exact"
        );
    }

    #[test]
    fn descriptions_follow_the_rules() {
        let max = "x".repeat(MAX_DESCRIPTION_CHARS);
        let long = "x".repeat(MAX_DESCRIPTION_CHARS + 1);
        let cases: Vec<(&str, Result<(), TaskInputError>)> = vec![
            ("", Ok(())),
            ("line one\r\nline two\n\tindented", Ok(())),
            (&max, Ok(())),
            (&long, Err(TaskInputError::DescriptionTooLong)),
            ("bell\u{7}", Err(TaskInputError::DescriptionControl)),
            ("escape\u{1b}[31m", Err(TaskInputError::DescriptionControl)),
        ];
        for (input, want) in cases {
            assert_eq!(
                TaskDescription::parse(input).map(|_| ()),
                want,
                "description of {} chars",
                input.chars().count()
            );
        }
    }

    #[test]
    fn updates_bump_the_version_and_check_the_expected_one() {
        let t = task();
        let p = TaskPatch {
            done: Some(true),
            expected_version: Some(1),
            ..patch(&t)
        };
        let next = apply_update(&t, &p, 200).expect("ok").expect("changed");
        assert_eq!(
            (next.version, next.done, next.updated_at, next.created_at),
            (2, true, 200, 100)
        );

        let stale = TaskPatch {
            done: Some(false),
            expected_version: Some(1),
            ..patch(&t)
        };
        assert_eq!(
            apply_update(&next, &stale, 300),
            Err(WriteRejection::Conflict(Box::new(next.clone())))
        );

        let same = TaskPatch {
            done: Some(true),
            ..patch(&t)
        };
        assert_eq!(
            apply_update(&next, &same, 300),
            Ok(None),
            "a patch that changes nothing is no change"
        );

        let earlier = TaskPatch {
            title: Some(TaskTitle::parse("x").expect("t")),
            ..patch(&t)
        };
        assert_eq!(
            apply_update(&next, &earlier, 50)
                .expect("ok")
                .expect("changed")
                .updated_at,
            200,
            "time never goes back"
        );

        let clear = TaskPatch {
            description: Some(None),
            ..patch(&t)
        };
        let with_desc = Task {
            description: Some("d".into()),
            ..t.clone()
        };
        assert_eq!(
            apply_update(&with_desc, &clear, 5)
                .expect("ok")
                .expect("changed")
                .description,
            None
        );
    }

    #[test]
    fn deletes_leave_a_tombstone_once() {
        let t = task();
        let stone = apply_delete(&t, Some(1), 150)
            .expect("ok")
            .expect("deleted");
        assert!(stone.deleted);
        assert_eq!(stone.version, 2);
        assert_eq!(
            apply_delete(&stone, Some(1), 160),
            Ok(None),
            "a retried delete does nothing"
        );
        assert_eq!(
            apply_update(&stone, &patch(&t), 160),
            Err(WriteRejection::NotFound)
        );
        assert!(matches!(
            apply_delete(&t, Some(7), 150),
            Err(WriteRejection::Conflict(_))
        ));
    }

    #[test]
    fn a_create_is_recognised_as_a_retry_only_with_identical_content() {
        let owner = UserId::new();
        let req = NewTask {
            id: TaskId::new(),
            list: None,
            title: TaskTitle::parse("a").expect("t"),
            description: None,
            done: false,
        };
        let created = req.clone().into_task(owner, 1);
        assert!(req.is_retry_of(&created, owner));
        assert!(!req.is_retry_of(&created, UserId::new()), "another owner");
        let other = NewTask {
            done: true,
            ..req.clone()
        };
        assert!(!other.is_retry_of(&created, owner), "different content");
    }

    proptest! {
        #[test]
        fn parsed_titles_are_stored_exactly_and_within_bounds(s in "\\PC{0,300}|[ \\t\\n\\u{3000}a-z]{0,10}") {
            match TaskTitle::parse(&s) {
                Ok(t) => {
                    prop_assert_eq!(t.as_str(), s.as_str());
                    let n = s.chars().count();
                    prop_assert!((1..=MAX_TITLE_CHARS).contains(&n));
                    prop_assert!(!s.chars().all(char::is_whitespace));
                    prop_assert!(!s.chars().any(char::is_control));
                }
                Err(_) => prop_assert!(
                    s.is_empty()
                        || s.chars().count() > MAX_TITLE_CHARS
                        || s.chars().all(char::is_whitespace)
                        || s.chars().any(char::is_control)
                ),
            }
        }

        #[test]
        fn parsed_descriptions_keep_every_byte(s in "(\\PC|\\n|\\r|\\t){0,200}") {
            let d = TaskDescription::parse(&s).expect("printable text with line breaks is accepted");
            prop_assert_eq!(d.as_str(), s.as_str());
        }

        #[test]
        fn any_control_character_other_than_line_breaks_is_refused(prefix in "\\PC{0,20}", c in proptest::char::range('\u{0}', '\u{1f}')) {
            prop_assume!(!matches!(c, '\n' | '\r' | '\t'));
            let s = format!("{prefix}{c}");
            prop_assert_eq!(TaskDescription::parse(&s), Err(TaskInputError::DescriptionControl));
            prop_assert!(TaskTitle::parse(&s).is_err());
        }

        #[test]
        fn versions_increase_by_one_per_real_change(flips in proptest::collection::vec(any::<bool>(), 1..20)) {
            let mut t = task();
            for (i, done) in flips.into_iter().enumerate() {
                let p = TaskPatch { done: Some(done), expected_version: Some(t.version), ..patch(&t) };
                let before = t.version;
                if let Some(next) = apply_update(&t, &p, 100 + i64::try_from(i).unwrap_or(0)).expect("ok") {
                    prop_assert_eq!(next.version, before + 1);
                    t = next;
                } else {
                    prop_assert_eq!(t.done, done);
                }
            }
        }
    }
}
