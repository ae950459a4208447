//! The texts of the mails the account flows send. Plain text; each says
//! what to do if the reader did not ask for it.

use std::time::Duration;

use tasksync_core::VerificationCode;
use tasksync_store::CodePurpose;

/// The subject and text of the mail that carries a one-time `code` for
/// `purpose`, valid for `valid_for`. `again`: a second sign-up of an
/// unconfirmed address, whose mail says which password stands.
pub fn code(
    purpose: CodePurpose,
    again: bool,
    code: &VerificationCode,
    valid_for: Duration,
) -> (&'static str, String) {
    let valid = hours(valid_for);
    match purpose {
        CodePurpose::ConfirmSignUp if again => (
            "Your tasksync verification code",
            format!(
                "Someone signed up for tasksync again with this address, which has an \
                 account waiting for confirmation. The code {} confirms it together with \
                 the password chosen at this latest sign-up, and only with that password; \
                 codes mailed before no longer work.\n\nThe code is valid for {valid}. If \
                 you did not sign up just now, ignore this message, or sign up again with \
                 your own password.\n",
                code.as_str()
            ),
        ),
        CodePurpose::ConfirmSignUp => (
            "Your tasksync verification code",
            format!(
                "Your tasksync verification code is {}.\n\nIt is valid for {valid}. \
                 If this address was signed up more than once, enter the code with the \
                 password of the latest sign-up. If you did not sign up for tasksync, \
                 ignore this message.\n",
                code.as_str()
            ),
        ),
        CodePurpose::ResetPassword => (
            "Your tasksync password reset code",
            format!(
                "Your tasksync password reset code is {}.\n\nIt is valid for {valid}. \
                 If you did not ask to reset your password, ignore this message: \
                 your password has not changed.\n",
                code.as_str()
            ),
        ),
    }
}

/// The subject and text of the notice to a confirmed account's owner that
/// someone tried to sign up with the address.
pub const SIGN_UP_ATTEMPT: (&str, &str) = (
    "Sign-up attempt with your tasksync address",
    "Someone, perhaps you, tried to sign up for tasksync with this \
     address, which already has an account. No new account was made.\n\n\
     If it was you, sign in, or use \"forgot password\" to choose a new \
     password. Otherwise you can ignore this message.\n",
);

/// A lifetime in whole hours, or minutes when under an hour.
fn hours(d: Duration) -> String {
    let h = d.as_secs() / 3600;
    if h >= 1 {
        format!("{h} hour{}", if h == 1 { "" } else { "s" })
    } else {
        format!("{} minutes", d.as_secs() / 60)
    }
}
