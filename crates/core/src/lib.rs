//! Domain types of tasksync: values parsed once at the boundary and trusted
//! everywhere after. Nothing here does I/O or knows about HTTP, SQL or tokio.
//!
//! # Layout
//! - [`email`]: [`Email`], a normalised, validated e-mail address.
//! - [`password`]: [`Password`], a new password that meets the policy.
//! - [`ids`]: [`UserId`] and [`SessionId`].
//! - [`code`]: [`VerificationCode`], the six digits mailed to a user.
//! - [`lockout`]: how long an address waits after failed sign-ins.

pub mod code;
pub mod email;
pub mod ids;
pub mod lockout;
pub mod password;

pub use code::VerificationCode;
pub use email::{Email, EmailError};
pub use ids::{SessionId, UserId};
pub use password::{Password, PasswordError};
