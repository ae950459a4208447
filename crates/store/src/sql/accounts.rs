//! Accounts, codes, sessions, signing keys and sign-in throttling: the
//! statements of the [`crate::Store`] methods both adapters share.

use sqlx::{Executor, Postgres, Row as _, Sqlite};
use tasksync_core::{Email, SessionId, UserId, lockout};

use super::{Backend, Pool, Tx, on};
use crate::rows;
use crate::{
    CodeBudget, CodeCheck, CodeLimits, CodePurpose, NewCode, PasswordProof, Result, Rotation,
    SessionRecord, SigningKeyRecord, StoreError, Throttle, UserRecord,
};

pub(crate) async fn ping(pool: Pool<'_>) -> Result<()> {
    on!(pool, |p| sqlx::query("SELECT 1").execute(p).await.map(drop))?;
    Ok(())
}

pub(crate) async fn create_user(pool: Pool<'_>, user: &UserRecord) -> Result<()> {
    let result = on!(pool, |p| sqlx::query(
        "INSERT INTO users (id, email, password_hash, confirmed, disabled, created_at,
                            updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(user.id.as_uuid())
    .bind(user.email.as_str())
    .bind(&user.password_hash)
    .bind(user.confirmed)
    .bind(user.disabled)
    .bind(user.created_at)
    .execute(p)
    .await
    .map(drop));
    match result {
        Ok(()) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(StoreError::Conflict("user"))
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn user_by_email(pool: Pool<'_>, email: &Email) -> Result<Option<UserRecord>> {
    on!(pool, |p| sqlx::query(
        "SELECT id, email, password_hash, confirmed, disabled, created_at
         FROM users WHERE email = $1",
    )
    .bind(email.as_str())
    .fetch_optional(p)
    .await?
    .as_ref()
    .map(rows::user)
    .transpose())
}

pub(crate) async fn user_by_id(pool: Pool<'_>, id: UserId) -> Result<Option<UserRecord>> {
    on!(pool, |p| sqlx::query(
        "SELECT id, email, password_hash, confirmed, disabled, created_at
         FROM users WHERE id = $1",
    )
    .bind(id.as_uuid())
    .fetch_optional(p)
    .await?
    .as_ref()
    .map(rows::user)
    .transpose())
}

pub(crate) async fn list_users(pool: Pool<'_>) -> Result<Vec<UserRecord>> {
    on!(pool, |p| rows::all(
        &sqlx::query(
            "SELECT id, email, password_hash, confirmed, disabled, created_at
             FROM users ORDER BY created_at, email",
        )
        .fetch_all(p)
        .await?,
        rows::user
    ))
}

pub(crate) async fn confirm_user(mut tx: Tx, id: UserId, now: i64) -> Result<()> {
    let done = on!(tx.conn(), |c| sqlx::query(
        "UPDATE users SET confirmed = TRUE, updated_at = $1 WHERE id = $2"
    )
    .bind(now)
    .bind(id.as_uuid())
    .execute(c)
    .await?
    .rows_affected());
    if done == 0 {
        return Err(StoreError::NotFound("user"));
    }
    // Membership starts at confirmation.
    super::lists::join_invitations(&mut tx, id, false, now).await?;
    tx.commit().await
}

pub(crate) async fn set_disabled(
    mut tx: Tx,
    id: UserId,
    disabled: bool,
    now: i64,
) -> Result<Vec<SessionId>> {
    let done = on!(tx.conn(), |c| sqlx::query(
        "UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3"
    )
    .bind(disabled)
    .bind(now)
    .bind(id.as_uuid())
    .execute(c)
    .await?
    .rows_affected());
    if done == 0 {
        return Err(StoreError::NotFound("user"));
    }
    let revoked = if disabled {
        revoke_all(tx.conn(), id, None, now).await?
    } else {
        Vec::new()
    };
    tx.commit().await?;
    Ok(revoked)
}

pub(crate) async fn set_password(
    mut tx: Tx,
    id: UserId,
    password_hash: &str,
    keep: Option<SessionId>,
    now: i64,
) -> Result<Vec<SessionId>> {
    // Confirmed in the same statement (see `Store::set_password`).
    let done = on!(tx.conn(), |c| sqlx::query(
        "UPDATE users SET password_hash = $1, confirmed = TRUE, updated_at = $2 WHERE id = $3",
    )
    .bind(password_hash)
    .bind(now)
    .bind(id.as_uuid())
    .execute(c)
    .await?
    .rows_affected());
    if done == 0 {
        return Err(StoreError::NotFound("user"));
    }
    // Membership starts at confirmation.
    super::lists::join_invitations(&mut tx, id, false, now).await?;
    let revoked = revoke_all(tx.conn(), id, keep, now).await?;
    tx.commit().await?;
    Ok(revoked)
}

/// Revokes every active session of a user but `keep`; returns them.
async fn revoke_all<'c>(
    db: Backend<impl Executor<'c, Database = Sqlite>, impl Executor<'c, Database = Postgres>>,
    user_id: UserId,
    keep: Option<SessionId>,
    now: i64,
) -> Result<Vec<SessionId>> {
    on!(db, |e| rows::all(
        &sqlx::query(
            "UPDATE sessions SET revoked_at = $1
             WHERE user_id = $2 AND revoked_at IS NULL AND id IS DISTINCT FROM $3
             RETURNING id",
        )
        .bind(now)
        .bind(user_id.as_uuid())
        .bind(keep.map(|s| s.as_uuid()))
        .fetch_all(e)
        .await?,
        rows::session_id
    ))
}

/// Sets the password of a user that is not confirmed yet; whether it did.
/// A password other than the current one marks the account contested.
async fn set_unconfirmed_password(
    tx: &mut Tx,
    user_id: UserId,
    hash: &str,
    now: i64,
) -> Result<bool> {
    let done = on!(tx.conn(), |c| sqlx::query(
        "UPDATE users SET password_hash = $1, updated_at = $2,
             contested = contested OR password_hash <> $1
         WHERE id = $3 AND confirmed = FALSE",
    )
    .bind(hash)
    .bind(now)
    .bind(user_id.as_uuid())
    .execute(c)
    .await?
    .rows_affected());
    Ok(done > 0)
}

/// The account's code budget as of `now`, read under the transaction's
/// lock: SQLite's write lock, taken when the transaction began; on
/// PostgreSQL the budget row's, taken here.
async fn code_budget(
    tx: &mut Tx,
    user_id: UserId,
    limits: &CodeLimits,
    now: i64,
) -> Result<CodeBudget> {
    if let Backend::Postgres(tx) = tx {
        // The row exists before it is locked, so concurrent first codes of
        // an account are counted one by one too.
        sqlx::query(
            "INSERT INTO code_budget (user_id, window_start) VALUES ($1, $2)
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user_id.as_uuid())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    let sql = tx.pick(
        "SELECT window_start, issued, wrong FROM code_budget WHERE user_id = $1",
        "SELECT window_start, issued, wrong FROM code_budget WHERE user_id = $1 FOR UPDATE",
    );
    let stored = on!(tx.conn(), |c| match sqlx::query(sql)
        .bind(user_id.as_uuid())
        .fetch_optional(c)
        .await?
    {
        Some(r) => Some(CodeBudget {
            window_start: r.try_get("window_start")?,
            issued: r.try_get("issued")?,
            wrong: r.try_get("wrong")?,
        }),
        None => None,
    });
    Ok(CodeBudget::current(stored, now, limits))
}

async fn save_code_budget(tx: &mut Tx, user_id: UserId, budget: CodeBudget) -> Result<()> {
    on!(tx.conn(), |c| sqlx::query(
        "INSERT INTO code_budget (user_id, window_start, issued, wrong) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id) DO UPDATE SET window_start = excluded.window_start,
           issued = excluded.issued, wrong = excluded.wrong",
    )
    .bind(user_id.as_uuid())
    .bind(budget.window_start)
    .bind(budget.issued)
    .bind(budget.wrong)
    .execute(c)
    .await
    .map(drop))?;
    Ok(())
}

async fn delete_code(tx: &mut Tx, user_id: UserId, purpose: CodePurpose) -> Result<()> {
    on!(tx.conn(), |c| sqlx::query(
        "DELETE FROM codes WHERE user_id = $1 AND purpose = $2"
    )
    .bind(user_id.as_uuid())
    .bind(purpose.as_str())
    .execute(c)
    .await
    .map(drop))?;
    Ok(())
}

pub(crate) async fn put_code(
    mut tx: Tx,
    code: &NewCode,
    limits: &CodeLimits,
    now: i64,
) -> Result<bool> {
    let mut budget = code_budget(&mut tx, code.user_id, limits, now).await?;
    if budget.issued >= i64::from(limits.issued_per_window) {
        // No code for this hour, but a sign-up's password still stands
        // and every earlier code stops working: otherwise whoever spent
        // the budget keeps a code (mailed to the owner) that confirms
        // their own password after the owner signed up.
        if let Some(hash) = &code.password_hash {
            let replaced = set_unconfirmed_password(&mut tx, code.user_id, hash, now).await?;
            if replaced {
                delete_code(&mut tx, code.user_id, code.purpose).await?;
            }
            tx.commit().await?;
        }
        return Ok(false);
    }
    budget.issued += 1;
    save_code_budget(&mut tx, code.user_id, budget).await?;
    on!(tx.conn(), |c| sqlx::query(
        "INSERT INTO codes (user_id, purpose, code_hash, expires_at, attempts)
         VALUES ($1, $2, $3, $4, 0)
         ON CONFLICT (user_id, purpose) DO UPDATE
         SET code_hash = excluded.code_hash, expires_at = excluded.expires_at, attempts = 0",
    )
    .bind(code.user_id.as_uuid())
    .bind(code.purpose.as_str())
    .bind(&code.code_hash)
    .bind(code.expires_at)
    .execute(c)
    .await
    .map(drop))?;
    if let Some(hash) = &code.password_hash {
        set_unconfirmed_password(&mut tx, code.user_id, hash, now).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// A stored code as `check_code` reads it.
struct StoredCode {
    hash: Vec<u8>,
    expires_at: i64,
    attempts: i64,
}

pub(crate) async fn check_code(
    mut tx: Tx,
    user_id: UserId,
    purpose: CodePurpose,
    code_hash: &[u8],
    proof: PasswordProof<'_>,
    limits: &CodeLimits,
    now: i64,
) -> Result<CodeCheck> {
    let mut budget = code_budget(&mut tx, user_id, limits, now).await?;
    if budget.wrong >= i64::from(limits.wrong_per_window) {
        return Ok(CodeCheck::TooManyAttempts);
    }
    let sql = tx.pick(
        "SELECT code_hash, expires_at, attempts FROM codes
         WHERE user_id = $1 AND purpose = $2",
        "SELECT code_hash, expires_at, attempts FROM codes
         WHERE user_id = $1 AND purpose = $2 FOR UPDATE",
    );
    let stored = on!(tx.conn(), |c| match sqlx::query(sql)
        .bind(user_id.as_uuid())
        .bind(purpose.as_str())
        .fetch_optional(c)
        .await?
    {
        Some(row) => Some(StoredCode {
            hash: row.try_get("code_hash")?,
            expires_at: row.try_get("expires_at")?,
            attempts: row.try_get("attempts")?,
        }),
        None => None,
    });
    let Some(stored) = stored else {
        return Ok(CodeCheck::Missing);
    };
    let outcome = if stored.attempts >= i64::from(limits.tries_per_code) {
        CodeCheck::TooManyAttempts
    } else if now >= stored.expires_at {
        CodeCheck::Expired
    } else if stored.hash == code_hash {
        if purpose == CodePurpose::ConfirmSignUp {
            let (contested, current): (bool, String) = on!(tx.conn(), |c| sqlx::query_as(
                "SELECT contested, password_hash FROM users WHERE id = $1"
            )
            .bind(user_id.as_uuid())
            .fetch_one(c)
            .await?);
            if let Some(refused) = proof.refusal(contested, &current) {
                // The right code, kept for a try with the right password.
                return Ok(refused);
            }
            on!(tx.conn(), |c| sqlx::query(
                "UPDATE users SET confirmed = TRUE, updated_at = $1 WHERE id = $2"
            )
            .bind(now)
            .bind(user_id.as_uuid())
            .execute(c)
            .await
            .map(drop))?;
            super::lists::join_invitations(&mut tx, user_id, false, now).await?;
        }
        delete_code(&mut tx, user_id, purpose).await?;
        CodeCheck::Accepted
    } else {
        on!(tx.conn(), |c| sqlx::query(
            "UPDATE codes SET attempts = attempts + 1 WHERE user_id = $1 AND purpose = $2",
        )
        .bind(user_id.as_uuid())
        .bind(purpose.as_str())
        .execute(c)
        .await
        .map(drop))?;
        budget.wrong += 1;
        save_code_budget(&mut tx, user_id, budget).await?;
        CodeCheck::Wrong
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Starts a session. Also joins the lists of any invitation still pending
/// for the account's address (one whose share raced the confirmation):
/// returns the sessions ended to keep `keep_at_most`, and the logs moved.
pub(crate) async fn create_session(
    mut tx: Tx,
    session: &SessionRecord,
    refresh_hash: &[u8],
    keep_at_most: u32,
    node: u64,
) -> Result<(Vec<SessionId>, super::lists::Heads)> {
    on!(tx.conn(), |c| sqlx::query(
        "INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(session.id.as_uuid())
    .bind(session.user_id.as_uuid())
    .bind(session.created_at)
    .bind(session.expires_at)
    .bind(session.revoked_at)
    .execute(c)
    .await
    .map(drop))?;
    insert_refresh_token(&mut tx, refresh_hash, session.id, session.created_at).await?;
    let heads = signed_in(&mut tx, session.user_id, session.created_at, node).await?;
    // The newest `keep_at_most` active sessions stay; older ones end.
    // (SQLite has no OFFSET without a LIMIT; -1 is none.)
    let sql = tx.pick(
        "UPDATE sessions SET revoked_at = $1 WHERE id IN (
             SELECT id FROM sessions
             WHERE user_id = $2 AND revoked_at IS NULL AND expires_at > $1
             ORDER BY created_at DESC, id DESC LIMIT -1 OFFSET $3)
         RETURNING id",
        "UPDATE sessions SET revoked_at = $1 WHERE id IN (
             SELECT id FROM sessions
             WHERE user_id = $2 AND revoked_at IS NULL AND expires_at > $1
             ORDER BY created_at DESC, id DESC OFFSET $3)
         RETURNING id",
    );
    let revoked = on!(tx.conn(), |c| rows::all(
        &sqlx::query(sql)
            .bind(session.created_at)
            .bind(session.user_id.as_uuid())
            .bind(i64::from(keep_at_most))
            .fetch_all(c)
            .await?,
        rows::session_id
    ))?;
    tx.commit().await?;
    Ok((revoked, heads))
}

async fn insert_refresh_token(
    tx: &mut Tx,
    hash: &[u8],
    session: SessionId,
    created_at: i64,
) -> Result<()> {
    on!(tx.conn(), |c| sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
    )
    .bind(hash)
    .bind(session.as_uuid())
    .bind(created_at)
    .execute(c)
    .await
    .map(drop))?;
    Ok(())
}

/// What a sign-in and each token refresh do for lists: the user's
/// memberships are accepted (no longer shown as pending), then any
/// invitation still pending for the account's address joins (one whose
/// share raced the confirmation, which did not see it).
/// In that order: the member rows accepted are of lists the user is in
/// already, the join's of lists it is not, and a role change or removal
/// takes a member row before that member's log, so the log must not be
/// held while waiting for a member row. Returns the logs moved (told to
/// the other nodes at commit; the caller tells its own feed).
async fn signed_in(tx: &mut Tx, user: UserId, now: i64, node: u64) -> Result<super::lists::Heads> {
    super::lists::accept_memberships(tx.conn(), user).await?;
    let heads = super::lists::join_invitations(tx, user, true, now).await?;
    heads.notify(tx, node).await?;
    Ok(heads)
}

/// Rotates a refresh token. Returns the outcome and the logs moved by
/// invitations that joined ([`signed_in`]).
pub(crate) async fn rotate_refresh(
    mut tx: Tx,
    old_hash: &[u8],
    new_hash: &[u8],
    now: i64,
    node: u64,
) -> Result<(Rotation, super::lists::Heads)> {
    // On PostgreSQL the token's row is locked (FOR UPDATE): of two
    // concurrent refreshes with one token, the second waits and then sees
    // it spent (reuse). SQLite's write lock already orders them.
    let sql = tx.pick(
        "SELECT s.id, s.user_id, s.created_at, s.expires_at, s.revoked_at, t.spent_at
         FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
         WHERE t.token_hash = $1",
        "SELECT s.id, s.user_id, s.created_at, s.expires_at, s.revoked_at, t.spent_at
         FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
         WHERE t.token_hash = $1 FOR UPDATE OF t",
    );
    let found = on!(
        tx.conn(),
        |c| match sqlx::query(sql).bind(old_hash).fetch_optional(c).await? {
            Some(row) => Some((
                rows::session(&row)?,
                row.try_get::<Option<i64>, _>("spent_at")?
            )),
            None => None,
        }
    );
    let none = super::lists::Heads::default;
    let Some((mut session, spent_at)) = found else {
        return Ok((Rotation::Invalid, none()));
    };
    if !session.is_active(now) {
        return Ok((Rotation::Invalid, none()));
    }
    if spent_at.is_some() {
        on!(tx.conn(), |c| sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE id = $2"
        )
        .bind(now)
        .bind(session.id.as_uuid())
        .execute(c)
        .await
        .map(drop))?;
        tx.commit().await?;
        session.revoked_at = Some(now);
        return Ok((Rotation::Reused(session), none()));
    }
    on!(tx.conn(), |c| sqlx::query(
        "UPDATE refresh_tokens SET spent_at = $1 WHERE token_hash = $2"
    )
    .bind(now)
    .bind(old_hash)
    .execute(c)
    .await
    .map(drop))?;
    insert_refresh_token(&mut tx, new_hash, session.id, now).await?;
    let heads = signed_in(&mut tx, session.user_id, now, node).await?;
    tx.commit().await?;
    Ok((Rotation::Rotated(session), heads))
}

pub(crate) async fn session_by_refresh(
    pool: Pool<'_>,
    hash: &[u8],
) -> Result<Option<SessionRecord>> {
    on!(pool, |p| sqlx::query(
        "SELECT s.id, s.user_id, s.created_at, s.expires_at, s.revoked_at
         FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
         WHERE t.token_hash = $1",
    )
    .bind(hash)
    .fetch_optional(p)
    .await?
    .as_ref()
    .map(rows::session)
    .transpose())
}

pub(crate) async fn revoke_session(pool: Pool<'_>, id: SessionId, now: i64) -> Result<bool> {
    let done = on!(pool, |p| sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL"
    )
    .bind(now)
    .bind(id.as_uuid())
    .execute(p)
    .await?
    .rows_affected());
    Ok(done == 1)
}

/// One statement, so it needs no transaction of its own.
pub(crate) async fn revoke_user_sessions(
    pool: Pool<'_>,
    user_id: UserId,
    now: i64,
) -> Result<Vec<SessionId>> {
    revoke_all(pool, user_id, None, now).await
}

pub(crate) async fn sessions_revoked_since(
    pool: Pool<'_>,
    since: i64,
) -> Result<Vec<(SessionId, i64)>> {
    on!(pool, |p| rows::all(
        &sqlx::query("SELECT id, revoked_at FROM sessions WHERE revoked_at >= $1")
            .bind(since)
            .fetch_all(p)
            .await?,
        rows::revoked
    ))
}

/// Key of the PostgreSQL advisory lock that serialises the creation of the
/// first signing key among nodes starting at once.
const SIGNING_KEY_LOCK: i64 = 0x7461_736b_7379_6e63; // "tasksync"

/// Stores `key` if there is no key yet; the keys afterwards, newest first.
pub(crate) async fn init_signing_key(
    mut tx: Tx,
    key: &SigningKeyRecord,
) -> Result<Vec<SigningKeyRecord>> {
    if let Backend::Postgres(tx) = &mut tx {
        // Read committed would let two starting nodes both see no key and
        // both insert one; the advisory lock makes them take turns. (On
        // SQLite the write lock of the transaction does.)
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SIGNING_KEY_LOCK)
            .execute(&mut **tx)
            .await?;
    }
    let sql = tx.pick(
        "INSERT INTO signing_keys (kid, private_der, public_key, created_at)
         SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM signing_keys)",
        "INSERT INTO signing_keys (kid, private_der, public_key, created_at)
         SELECT $1::text, $2::bytea, $3::bytea, $4::bigint
         WHERE NOT EXISTS (SELECT 1 FROM signing_keys)",
    );
    on!(tx.conn(), |c| sqlx::query(sql)
        .bind(&key.kid)
        .bind(&key.private_der)
        .bind(&key.public_key)
        .bind(key.created_at)
        .execute(c)
        .await
        .map(drop))?;
    let keys = signing_keys(tx.conn()).await?;
    tx.commit().await?;
    Ok(keys)
}

/// All signing keys, newest first (a pool, or the transaction of
/// `init_signing_key`).
pub(crate) async fn signing_keys<'c>(
    db: Backend<impl Executor<'c, Database = Sqlite>, impl Executor<'c, Database = Postgres>>,
) -> Result<Vec<SigningKeyRecord>> {
    on!(db, |e| rows::all(
        &sqlx::query(
            "SELECT kid, private_der, public_key, created_at FROM signing_keys
             ORDER BY created_at DESC, kid",
        )
        .fetch_all(e)
        .await?,
        rows::signing_key
    ))
}

pub(crate) async fn throttle(pool: Pool<'_>, email: &Email) -> Result<Throttle> {
    on!(pool, |p| sqlx::query(
        "SELECT failures, locked_until, last_failure_at FROM login_throttle WHERE email = $1",
    )
    .bind(email.as_str())
    .fetch_optional(p)
    .await?
    .map_or(Ok(Throttle::default()), |r| rows::throttle(&r)))
}

pub(crate) async fn extend_lockout(pool: Pool<'_>, email: &Email, until: i64) -> Result<()> {
    let sql = pool.pick(
        "UPDATE login_throttle SET locked_until = MAX(locked_until, $1) WHERE email = $2",
        "UPDATE login_throttle SET locked_until = GREATEST(locked_until, $1) WHERE email = $2",
    );
    on!(pool, |p| sqlx::query(sql)
        .bind(until)
        .bind(email.as_str())
        .execute(p)
        .await
        .map(drop))?;
    Ok(())
}

pub(crate) async fn clear_login_failures(pool: Pool<'_>, email: &Email) -> Result<()> {
    on!(pool, |p| sqlx::query(
        "DELETE FROM login_throttle WHERE email = $1"
    )
    .bind(email.as_str())
    .execute(p)
    .await
    .map(drop))?;
    Ok(())
}

pub(crate) async fn purge_expired(mut tx: Tx, now: i64, keep_ms: i64) -> Result<u64> {
    let horizon = now.saturating_sub(keep_ms);
    let mut removed = 0;
    removed += on!(tx.conn(), |c| sqlx::query(
        "DELETE FROM codes WHERE expires_at < $1"
    )
    .bind(now)
    .execute(c)
    .await?
    .rows_affected());
    removed += on!(tx.conn(), |c| sqlx::query(
        "DELETE FROM sessions
         WHERE expires_at < $1 OR (revoked_at IS NOT NULL AND revoked_at < $1)",
    )
    .bind(horizon)
    .execute(c)
    .await?
    .rows_affected());
    // Only rows the lockout rules have forgotten anyway: no wait left,
    // and no attempt within the hour. (Purging every row not locked
    // erased the count of an address with fewer than five failures.)
    removed += on!(tx.conn(), |c| sqlx::query(
        "DELETE FROM login_throttle WHERE locked_until < $1 AND last_failure_at < $2",
    )
    .bind(now)
    .bind(now.saturating_sub(lockout::FORGET_AFTER_MS))
    .execute(c)
    .await?
    .rows_affected());
    tx.commit().await?;
    Ok(removed)
}
