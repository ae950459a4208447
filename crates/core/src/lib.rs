//! Domain types of tasksync: values parsed once at the boundary and trusted
//! everywhere after. Nothing here does I/O or knows about HTTP, SQL or tokio.
//!
//! # Layout
//! - [`email`]: [`Email`], a normalised, validated e-mail address.
//! - [`password`]: [`Password`], a new password that meets the policy.
//! - [`ids`]: [`UserId`] and [`SessionId`].
//! - [`code`]: [`VerificationCode`], the six digits mailed to a user.
//! - [`lockout`]: how long an address waits after failed sign-ins.
//! - [`task`]: [`Task`], its parsed inputs and the version rules of writes.
//! - [`cursor`]: [`Cursor`] (a position in a scope's change log) and
//!   [`PageToken`] (a position in a task listing), both opaque to clients.

pub mod code;
pub mod cursor;
pub mod email;
pub mod ids;
pub mod list;
pub mod lockout;
pub mod password;
pub mod task;

pub use code::VerificationCode;
pub use cursor::{Cursor, PageToken, SyncPosition, SyncToken};
pub use email::{Email, EmailError};
pub use ids::{ListId, SessionId, TaskId, UserId};
pub use list::{
    ListInputError, ListLimits, ListName, ListRejection, ListRole, ListView, ListWrite, MemberView,
    TaskList,
};
pub use password::{Password, PasswordError};
pub use task::{
    Change, ChangeOp, NewTask, Subject, Task, TaskDescription, TaskInputError, TaskPatch,
    TaskTitle, WriteRejection,
};
