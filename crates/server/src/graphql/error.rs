//! GraphQL errors: every error carries one of the `extensions.code` values
//! below (the contract clients rely on) and never internal text.

use async_graphql::{Error, ErrorExtensions as _};
use tasksync_core::{ListRejection, WriteRejection};
use tasksync_store::{ListWriteError, TaskWriteError};

use super::types::GqlTask;

pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
pub const NOT_FOUND: &str = "NOT_FOUND";
pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
pub const CONFLICT: &str = "CONFLICT";
pub const FORBIDDEN: &str = "FORBIDDEN";
pub const INTERNAL: &str = "INTERNAL";
pub const CURSOR_EXPIRED: &str = "CURSOR_EXPIRED";
pub const RATE_LIMITED: &str = "RATE_LIMITED";

/// A cursor older than the retained log.
pub fn cursor_expired() -> Error {
    coded(
        CURSOR_EXPIRED,
        "the cursor is older than the retained change log; do a full sync",
    )
}

/// Every unusable cursor or token gets these words, whether it is garbage,
/// forged, ahead of the log or another user's: nothing leaks.
pub fn bad_cursor(what: &str) -> Error {
    bad_input(format!("{what} is not valid"))
}

/// An error with a code.
pub fn coded(code: &'static str, message: impl Into<String>) -> Error {
    Error::new(message).extend_with(|_, e| e.set("code", code))
}

pub fn bad_input(message: impl Into<String>) -> Error {
    coded(BAD_USER_INPUT, message)
}

pub fn not_found() -> Error {
    coded(NOT_FOUND, "task not found")
}

/// Logs the cause; the client learns only that something failed inside.
pub fn internal(cause: impl std::fmt::Display) -> Error {
    tracing::error!(error = %cause, "internal error in a GraphQL resolver");
    coded(INTERNAL, "internal error")
}

/// The answer to a refused or failed list write.
pub fn list_error(e: ListWriteError) -> Error {
    match e {
        ListWriteError::Rejected(ListRejection::NotFound) => coded(NOT_FOUND, "list not found"),
        ListWriteError::Rejected(ListRejection::Forbidden) => coded(
            FORBIDDEN,
            "only the owner of a list renames, shares or deletes it",
        ),
        ListWriteError::Rejected(ListRejection::Conflict(current)) => {
            let version = i32::try_from(current.version).unwrap_or(i32::MAX);
            Error::new("the list has changed since expectedVersion; see extensions.current")
                .extend_with(|_, e| {
                    e.set("code", CONFLICT);
                    e.set(
                        "current",
                        async_graphql::Value::from_json(serde_json::json!({
                            "id": current.id.to_string(),
                            "name": current.name,
                            "version": version,
                        }))
                        .unwrap_or(async_graphql::Value::Null),
                    );
                })
        }
        ListWriteError::Rejected(ListRejection::IdTaken) => {
            bad_input("a different list already uses this id; choose a new id")
        }
        ListWriteError::Rejected(ListRejection::Invalid(why)) => bad_input(why),
        ListWriteError::Rejected(ListRejection::Limit(why)) => bad_input(why),
        ListWriteError::Store(e) => internal(e),
    }
}

/// The answer to a refused or failed task write.
pub fn write_error(e: TaskWriteError) -> Error {
    match e {
        TaskWriteError::Rejected(WriteRejection::NotFound) => not_found(),
        TaskWriteError::Rejected(WriteRejection::Conflict(current)) => {
            let current = GqlTask::from(*current);
            let value = serde_json::to_value(&current)
                .ok()
                .and_then(|v| async_graphql::Value::from_json(v).ok())
                .unwrap_or(async_graphql::Value::Null);
            Error::new("the task has changed since expectedVersion; see extensions.current")
                .extend_with(|_, e| {
                    e.set("code", CONFLICT);
                    e.set("current", value.clone());
                })
        }
        TaskWriteError::Rejected(WriteRejection::Forbidden) => coded(
            FORBIDDEN,
            "your role in this list does not allow changing its tasks",
        ),
        TaskWriteError::Rejected(WriteRejection::IdTaken) => {
            bad_input("a different task already uses this id; choose a new id")
        }
        TaskWriteError::Store(e) => internal(e),
    }
}
