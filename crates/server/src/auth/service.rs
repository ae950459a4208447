//! The account flows of `/auth/*`, independent of HTTP framing.
//!
//! Rules kept here: answers never reveal whether an address has an account
//! (same status, same body, about the same time), codes are single use with
//! five tries, failed sign-ins throttle the address in the database, and
//! revoking a session makes its tokens fail at once.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tasksync_core::lockout::Attempt;
use tasksync_core::password::check_length;
use tasksync_core::{Email, Password, SessionId, UserId, VerificationCode};
use tasksync_store::{
    CodeCheck, CodePurpose, NewCode, PasswordProof, Rotation, SessionRecord, Store, UserRecord,
};
use uuid::Uuid;

use super::codes;
use super::error::{AuthError, AuthResult};
use super::mail::{Mail, Mailer};
use super::mail_texts;
use super::passwords::Hasher;
use super::tokens::{TokenService, TokenUse};
use super::user::AuthUser;
use crate::clock::{ms, now_ms};

/// Lifetimes the flows need.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub refresh: Duration,
    pub code: Duration,
    /// Active sessions a user may have; a sign-in beyond them ends the
    /// oldest.
    pub max_sessions: u32,
    /// Codes issued and tried per account and hour.
    pub codes: tasksync_store::CodeLimits,
}

/// Tokens handed out by sign-in and refresh.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenSet {
    pub access_token: String,
    pub id_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub token_type: &'static str,
}

/// The answer of sign-up, identical for new and already registered addresses.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignUpAnswer {
    pub user_id: UserId,
    pub confirmed: bool,
}

/// The caller's account, for `/auth/me`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub user_id: UserId,
    pub email: Email,
    pub email_verified: bool,
}

const WRONG_CREDENTIALS: &str = "incorrect e-mail address or password";

/// The account service.
pub struct AuthService {
    store: Arc<dyn Store>,
    tokens: TokenService,
    hasher: Hasher,
    mailer: Mailer,
    lifetimes: Lifetimes,
    on_revoked: Option<OnRevoked>,
}

/// Told of the sessions the service ends (see [`AuthService::on_revoked`]).
type OnRevoked = Box<dyn Fn(&[SessionId]) + Send + Sync>;

fn parse_email(input: &str) -> AuthResult<Email> {
    Email::parse(input).map_err(|e| AuthError::InvalidParameter(e.to_string()))
}

fn parse_code(input: &str) -> AuthResult<VerificationCode> {
    VerificationCode::parse(input)
        .ok_or_else(|| AuthError::InvalidParameter("code must be six digits".into()))
}

fn new_password(input: &str, email: &Email) -> AuthResult<Password> {
    let local = email.as_str().split('@').next().unwrap_or_default();
    Password::parse(input, &[email.as_str(), local])
        .map_err(|e| AuthError::InvalidPassword(e.to_string()))
}

/// Every failed code check answers the same: wrong, expired, used up and
/// "no such account" must be indistinguishable, or the difference would
/// tell which addresses have accounts. The reason is logged.
fn code_error(check: CodeCheck) -> AuthError {
    tracing::debug!(?check, "code refused");
    AuthError::CodeMismatch
}

impl std::fmt::Debug for AuthService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthService")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl AuthService {
    pub fn new(
        store: Arc<dyn Store>,
        tokens: TokenService,
        hasher: Hasher,
        mailer: Mailer,
        lifetimes: Lifetimes,
    ) -> Self {
        Self {
            store,
            tokens,
            hasher,
            mailer,
            lifetimes,
            on_revoked: None,
        }
    }

    /// Calls `f` with the sessions this service ends (sign-out, password
    /// change or reset, the session cap) as soon as they are ended, so this
    /// node closes their sockets at once rather than at the next poll.
    pub fn on_revoked(mut self, f: impl Fn(&[SessionId]) + Send + Sync + 'static) -> Self {
        self.on_revoked = Some(Box::new(f));
        self
    }

    fn revoked(&self, sessions: &[SessionId]) {
        if let Some(f) = &self.on_revoked
            && !sessions.is_empty()
        {
            f(sessions);
        }
    }

    pub fn tokens(&self) -> &TokenService {
        &self.tokens
    }

    /// Stores a new code and mails it. `again`: a second sign-up of an
    /// unconfirmed address, whose mail says which password stands.
    /// `password_hash`: the password a sign-up chose, which the code
    /// confirms (see `NewCode::password_hash`).
    async fn mail_code(
        &self,
        user: &UserRecord,
        purpose: CodePurpose,
        again: bool,
        password_hash: Option<String>,
    ) -> AuthResult<()> {
        let code = codes::new_code();
        let issued = self
            .store
            .put_code(
                &NewCode {
                    user_id: user.id,
                    purpose,
                    code_hash: codes::code_hash(user.id, purpose, &code),
                    expires_at: now_ms().saturating_add(ms(self.lifetimes.code)),
                    password_hash,
                },
                &self.lifetimes.codes,
                now_ms(),
            )
            .await?;
        if !issued {
            // The same answer as ever (nothing tells the caller), but no new
            // code and no mail: the account's codes for this hour are spent.
            tracing::info!(
                purpose = purpose.as_str(),
                "code budget spent; no code mailed"
            );
            metrics::counter!("tasksync_codes_refused_total").increment(1);
            return Ok(());
        }
        let (subject, text) = mail_texts::code(purpose, again, &code, self.lifetimes.code);
        self.mailer.send(Mail {
            to: user.email.to_string(),
            subject: subject.into(),
            text,
        });
        Ok(())
    }

    /// Registers an address. An address that is already registered gets the
    /// same answer: a confirmed account's owner is mailed a notice and its
    /// password is not touched; an unconfirmed one gets a fresh code that
    /// confirms this sign-up's password (earlier codes stop working).
    pub async fn sign_up(&self, email: &str, password: &str) -> AuthResult<SignUpAnswer> {
        let email = parse_email(email)?;
        let password = new_password(password, &email)?;
        let hash = self
            .hasher
            .hash(password.expose().to_owned())
            .await
            .map_err(AuthError::internal)?;
        let now = now_ms();
        let user = UserRecord {
            id: UserId::new(),
            email: email.clone(),
            password_hash: hash,
            confirmed: false,
            disabled: false,
            created_at: now,
        };
        match self.store.create_user(&user).await {
            Ok(()) => {
                metrics::counter!("tasksync_sign_ups_total").increment(1);
                self.mail_code(
                    &user,
                    CodePurpose::ConfirmSignUp,
                    false,
                    Some(user.password_hash.clone()),
                )
                .await?;
            }
            Err(tasksync_store::StoreError::Conflict(_)) => {
                if let Some(existing) = self.store.user_by_email(&email).await? {
                    if existing.confirmed {
                        let (subject, text) = mail_texts::SIGN_UP_ATTEMPT;
                        self.mailer.send(Mail {
                            to: email.to_string(),
                            subject: subject.into(),
                            text: text.into(),
                        });
                    } else if !existing.disabled {
                        // The latest sign-up's password stands, with its code:
                        // whoever confirms the account (the mailbox's owner)
                        // confirms the password chosen with the code they use.
                        // Keeping the first one would let anyone who signed
                        // the address up before its owner keep a password
                        // that works once the owner confirms.
                        self.mail_code(
                            &existing,
                            CodePurpose::ConfirmSignUp,
                            true,
                            Some(user.password_hash),
                        )
                        .await?;
                    }
                }
            }
            Err(e) => return Err(e.into()),
        }
        Ok(SignUpAnswer {
            user_id: user.id,
            confirmed: false,
        })
    }

    /// Confirms an address with its mailed code and, once a later sign-up
    /// chose another password (`PasswordProof`), the latest sign-up's
    /// password. A password given is checked (slowly) whether or not the
    /// address has an account, and its outcome only told with the right
    /// code.
    pub async fn confirm_sign_up(
        &self,
        email: &str,
        code: &str,
        password: Option<&str>,
    ) -> AuthResult<()> {
        let email = parse_email(email)?;
        let code = parse_code(code)?;
        let user = self.store.user_by_email(&email).await?;
        let matched = match password {
            None => None,
            Some(password) => Some(
                check_length(password).is_ok()
                    && self
                        .hasher
                        .verify(
                            password.to_owned(),
                            user.as_ref().map(|u| u.password_hash.clone()),
                        )
                        .await
                        .map_err(AuthError::internal)?,
            ),
        };
        let Some(user) = user else {
            return Err(code_error(CodeCheck::Missing));
        };
        let proof = match matched {
            None => PasswordProof::Absent,
            Some(true) => PasswordProof::Matches(&user.password_hash),
            Some(false) => PasswordProof::Wrong,
        };
        let purpose = CodePurpose::ConfirmSignUp;
        let hash = codes::code_hash(user.id, purpose, &code);
        match self
            .store
            .check_code(
                user.id,
                purpose,
                &hash,
                proof,
                &self.lifetimes.codes,
                now_ms(),
            )
            .await?
        {
            // The store confirmed the account with the code.
            CodeCheck::Accepted => Ok(()),
            CodeCheck::PasswordRequired => Err(AuthError::PasswordRequired),
            CodeCheck::PasswordMismatch => Err(AuthError::PasswordMismatch),
            other => Err(code_error(other)),
        }
    }

    /// Mails a new confirmation code to an unconfirmed account; silently
    /// does nothing otherwise.
    pub async fn resend_code(&self, email: &str) -> AuthResult<()> {
        let email = parse_email(email)?;
        if let Some(user) = self.store.user_by_email(&email).await?
            && !user.confirmed
            && !user.disabled
        {
            self.mail_code(&user, CodePurpose::ConfirmSignUp, false, None)
                .await?;
        }
        Ok(())
    }

    /// Checks a password of an account (or of nobody, in the same time),
    /// after reserving the attempt: it is counted against the address (as a
    /// failure, until a success clears it) before the password is checked,
    /// and refused while the address waits out a lockout, so guesses sent
    /// at once are held to the same limit as guesses sent one by one.
    async fn check_password(
        &self,
        email: &Email,
        user: Option<&UserRecord>,
        password: &str,
    ) -> AuthResult<bool> {
        let now = now_ms();
        let counted = match self.store.reserve_login_attempt(email, now).await? {
            Attempt::Locked { until } => {
                let wait = u64::try_from(until - now).unwrap_or(0);
                return Err(AuthError::LockedOut(Duration::from_millis(wait)));
            }
            Attempt::Allowed(counted) => counted,
        };
        // An impossible length cannot match; it is not worth hashing.
        let ok = check_length(password).is_ok()
            && self
                .hasher
                .verify(password.to_owned(), user.map(|u| u.password_hash.clone()))
                .await
                .map_err(AuthError::internal)?;
        if ok {
            self.store.clear_login_failures(email).await?;
        } else if counted.locked_until > 0 {
            // The wait runs from the moment the guess was found wrong.
            let wait = counted.locked_until - counted.last_failure_at;
            self.store
                .extend_lockout(email, now_ms().saturating_add(wait))
                .await?;
        }
        Ok(ok)
    }

    /// Signs in and starts a session.
    pub async fn sign_in(&self, email: &str, password: &str) -> AuthResult<TokenSet> {
        let email = parse_email(email)?;
        let user = self.store.user_by_email(&email).await?;
        let verified = self.check_password(&email, user.as_ref(), password).await?;
        let user = match user {
            Some(user) if verified => user,
            _ => {
                metrics::counter!("tasksync_sign_ins_total", "result" => "refused").increment(1);
                return Err(AuthError::NotAuthorized(WRONG_CREDENTIALS));
            }
        };
        // Only someone who knows the password learns these.
        if user.disabled {
            return Err(AuthError::UserDisabled);
        }
        if !user.confirmed {
            return Err(AuthError::UserNotConfirmed);
        }
        let now = now_ms();
        let refresh_token = codes::new_refresh_token();
        let session = SessionRecord {
            id: SessionId::new(),
            user_id: user.id,
            created_at: now,
            expires_at: now.saturating_add(ms(self.lifetimes.refresh)),
            revoked_at: None,
        };
        let ended = self
            .store
            .create_session(
                &session,
                &codes::refresh_hash(&refresh_token),
                self.lifetimes.max_sessions,
            )
            .await?;
        if !ended.is_empty() {
            // Their sockets close with the next revocation poll.
            tracing::info!(
                sessions = ended.len(),
                "ended the oldest sessions of a user at the cap"
            );
        }
        metrics::counter!("tasksync_sign_ins_total", "result" => "ok").increment(1);
        self.token_set(&user, session.id, refresh_token).await
    }

    async fn token_set(
        &self,
        user: &UserRecord,
        sid: SessionId,
        refresh: String,
    ) -> AuthResult<TokenSet> {
        let pair = self
            .tokens
            .issue(user, sid.as_uuid())
            .await
            .map_err(AuthError::internal)?;
        Ok(TokenSet {
            access_token: pair.access_token,
            id_token: pair.id_token,
            refresh_token: refresh,
            expires_in: pair.expires_in,
            token_type: "Bearer",
        })
    }

    /// Trades a refresh token for a new token set. The old refresh token is
    /// spent; presenting a spent one revokes the whole session.
    pub async fn refresh(&self, refresh_token: &str) -> AuthResult<TokenSet> {
        let invalid = || AuthError::NotAuthorized("invalid refresh token");
        let next = codes::new_refresh_token();
        let rotation = self
            .store
            .rotate_refresh(
                &codes::refresh_hash(refresh_token),
                &codes::refresh_hash(&next),
                now_ms(),
            )
            .await?;
        let session = match rotation {
            Rotation::Rotated(session) => session,
            Rotation::Reused(session) => {
                tracing::warn!(session = %session.id, user = %session.user_id, "refresh token reused; session revoked");
                metrics::counter!("tasksync_refresh_reuse_total").increment(1);
                return Err(invalid());
            }
            Rotation::Invalid => return Err(invalid()),
        };
        let user = self
            .store
            .user_by_id(session.user_id)
            .await?
            .ok_or_else(invalid)?;
        if user.disabled {
            return Err(invalid());
        }
        self.token_set(&user, session.id, next).await
    }

    /// Ends the session of a refresh token, or with `global` every session of
    /// its user. Unknown or already ended tokens are not an error.
    pub async fn sign_out(&self, refresh_token: &str, global: bool) -> AuthResult<()> {
        let now = now_ms();
        let Some(session) = self
            .store
            .session_by_refresh(&codes::refresh_hash(refresh_token))
            .await?
        else {
            return Ok(());
        };
        if !session.is_active(now) {
            return Ok(());
        }
        let ended = if global {
            self.store
                .revoke_user_sessions(session.user_id, now)
                .await?
        } else if self.store.revoke_session(session.id, now).await? {
            vec![session.id]
        } else {
            Vec::new()
        };
        self.revoked(&ended);
        Ok(())
    }

    /// Mails a password reset code if the account exists; answers the same
    /// either way.
    pub async fn forgot_password(&self, email: &str) -> AuthResult<()> {
        let email = parse_email(email)?;
        if let Some(user) = self.store.user_by_email(&email).await?
            && !user.disabled
        {
            self.mail_code(&user, CodePurpose::ResetPassword, false, None)
                .await?;
        }
        Ok(())
    }

    /// Sets a new password with a mailed reset code and ends every session.
    /// The code proves the address, so an unconfirmed account is confirmed too.
    pub async fn confirm_forgot_password(
        &self,
        email: &str,
        code: &str,
        new: &str,
    ) -> AuthResult<()> {
        let email = parse_email(email)?;
        let code = parse_code(code)?;
        let password = new_password(new, &email)?;
        let Some(user) = self.store.user_by_email(&email).await? else {
            return Err(code_error(CodeCheck::Missing));
        };
        let purpose = CodePurpose::ResetPassword;
        let hash = codes::code_hash(user.id, purpose, &code);
        let check = self
            .store
            .check_code(
                user.id,
                purpose,
                &hash,
                PasswordProof::Absent,
                &self.lifetimes.codes,
                now_ms(),
            )
            .await?;
        if check != CodeCheck::Accepted {
            return Err(code_error(check));
        }
        let hash = self
            .hasher
            .hash(password.expose().to_owned())
            .await
            .map_err(AuthError::internal)?;
        // Confirms an unconfirmed account in the same transaction: a
        // sign-up of the address in between would otherwise replace this
        // password first, and the account be confirmed with that one.
        let ended = self
            .store
            .set_password(user.id, &hash, None, now_ms())
            .await?;
        self.revoked(&ended);
        self.store.clear_login_failures(&email).await?;
        Ok(())
    }

    /// Changes the caller's password; every other session of the user ends.
    pub async fn change_password(&self, caller: AuthUser, old: &str, new: &str) -> AuthResult<()> {
        let user = self
            .store
            .user_by_id(caller.user_id)
            .await?
            .ok_or(AuthError::NotAuthorized("invalid token"))?;
        let password = new_password(new, &user.email)?;
        if !self.check_password(&user.email, Some(&user), old).await? {
            return Err(AuthError::IncorrectPassword);
        }
        let hash = self
            .hasher
            .hash(password.expose().to_owned())
            .await
            .map_err(AuthError::internal)?;
        let ended = self
            .store
            .set_password(user.id, &hash, Some(caller.session_id), now_ms())
            .await?;
        self.revoked(&ended);
        Ok(())
    }

    /// The caller's account.
    pub async fn me(&self, caller: AuthUser) -> AuthResult<Me> {
        let user = self
            .store
            .user_by_id(caller.user_id)
            .await?
            .ok_or(AuthError::NotAuthorized("invalid token"))?;
        Ok(Me {
            user_id: user.id,
            email: user.email,
            email_verified: user.confirmed,
        })
    }

    /// Verifies a bearer access token and that its session is still active.
    pub async fn authenticate(&self, token: &str) -> AuthResult<AuthUser> {
        let refused = || AuthError::NotAuthorized("invalid or expired access token");
        let claims = self
            .tokens
            .verify(token, TokenUse::Access)
            .await
            .map_err(|e| {
                tracing::debug!(error = %e, "access token refused");
                refused()
            })?;
        let user_id = Uuid::parse_str(&claims.sub)
            .map(UserId::from_uuid)
            .map_err(|_| refused())?;
        let session_id = Uuid::parse_str(&claims.sid)
            .map(SessionId::from_uuid)
            .map_err(|_| refused())?;
        let session = self.store.session(session_id).await?.ok_or_else(refused)?;
        if session.user_id != user_id || !session.is_active(now_ms()) {
            return Err(refused());
        }
        Ok(AuthUser {
            user_id,
            session_id,
            expires_at: claims.exp,
        })
    }
}
