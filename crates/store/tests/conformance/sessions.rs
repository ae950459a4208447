//! Sessions: finding them by refresh token, revoking them one by one, per
//! user and with their account, and listing the revocations.

use std::sync::Arc;

use crate::user;

use tasksync_core::{SessionId, UserId};
use tasksync_store::{Rotation, SessionRecord, Store, StoreError};

/// Starts an active session of `user` created at `at`, whose refresh
/// token is `token`.
async fn session(store: &Arc<dyn Store>, user: UserId, at: i64, token: &str) -> SessionRecord {
    let s = SessionRecord {
        id: SessionId::new(),
        user_id: user,
        created_at: at,
        expires_at: i64::MAX,
        revoked_at: None,
    };
    let ended = store
        .create_session(&s, token.as_bytes(), 100)
        .await
        .expect("session");
    assert!(ended.is_empty(), "far below the cap: {ended:?}");
    s
}

async fn stored(store: &Arc<dyn Store>, id: SessionId) -> SessionRecord {
    store
        .session(id)
        .await
        .expect("db")
        .expect("the session is stored")
}

fn sorted(mut ids: Vec<SessionId>) -> Vec<SessionId> {
    ids.sort_by_key(|id| id.as_uuid());
    ids
}

/// A refresh token finds its session whether it is current or already
/// spent (so a reused token can be traced to the session it must end);
/// an unknown token finds nothing.
pub async fn a_refresh_token_current_or_spent_finds_its_session(store: Arc<dyn Store>) {
    let owner = user(&store).await;
    let s = session(&store, owner, 10, "first").await;
    let other = session(&store, owner, 11, "other").await;
    match store
        .rotate_refresh(b"first", b"second", 20)
        .await
        .expect("rotate")
    {
        Rotation::Rotated(rotated) => assert_eq!(rotated, s, "the rotated session"),
        outcome => panic!("a current token rotates, got {outcome:?}"),
    }
    for (token, want) in [
        (&b"first"[..], Some(&s)),
        (b"second", Some(&s)),
        (b"other", Some(&other)),
        (b"never issued", None),
    ] {
        let found = store.session_by_refresh(token).await.expect("db");
        assert_eq!(
            found.as_ref(),
            want,
            "token {:?}",
            String::from_utf8_lossy(token)
        );
    }
}

/// Revoking a session succeeds once, records the time, and leaves the
/// user's other sessions alone; an unknown session is not revoked.
pub async fn revoking_one_session_works_once_and_leaves_the_others(store: Arc<dyn Store>) {
    let owner = user(&store).await;
    let (a, b) = (
        session(&store, owner, 1, "a").await,
        session(&store, owner, 2, "b").await,
    );
    assert!(
        store.revoke_session(a.id, 50).await.expect("db"),
        "the first revocation revokes"
    );
    assert!(
        !store.revoke_session(a.id, 60).await.expect("db"),
        "a revoked session is not revoked again"
    );
    assert!(
        !store
            .revoke_session(SessionId::new(), 60)
            .await
            .expect("db"),
        "an unknown session is not revoked"
    );
    assert_eq!(
        stored(&store, a.id).await.revoked_at,
        Some(50),
        "the first revocation's time is kept"
    );
    assert!(
        stored(&store, b.id).await.is_active(70),
        "the other session stays active"
    );
}

/// Revoking a user's sessions ends their active ones (and returns them),
/// not the ones already revoked, and no other user's.
pub async fn revoking_a_users_sessions_ends_only_their_active_ones(store: Arc<dyn Store>) {
    let (owner, other) = (user(&store).await, user(&store).await);
    let active = [
        session(&store, owner, 1, "o1").await,
        session(&store, owner, 2, "o2").await,
    ];
    let ended = session(&store, owner, 3, "o3").await;
    assert!(store.revoke_session(ended.id, 5).await.expect("db"));
    let theirs = session(&store, other, 4, "t1").await;

    let revoked = store.revoke_user_sessions(owner, 10).await.expect("db");
    assert_eq!(
        sorted(revoked),
        sorted(active.iter().map(|s| s.id).collect()),
        "the active sessions, and only those"
    );
    for s in &active {
        assert_eq!(stored(&store, s.id).await.revoked_at, Some(10), "{s:?}");
    }
    assert_eq!(
        stored(&store, ended.id).await.revoked_at,
        Some(5),
        "an earlier revocation keeps its time"
    );
    assert!(
        stored(&store, theirs.id).await.is_active(11),
        "another user's session stays active"
    );
    assert_eq!(
        store.revoke_user_sessions(owner, 20).await.expect("db"),
        Vec::<SessionId>::new(),
        "nothing is left to revoke"
    );
    assert_eq!(
        store
            .revoke_user_sessions(UserId::new(), 20)
            .await
            .expect("db"),
        Vec::<SessionId>::new(),
        "an unknown user has no sessions"
    );
}

/// Disabling an account ends its active sessions and returns them;
/// enabling it again ends none and brings none back. Either way an unknown
/// account is `NotFound`.
pub async fn disabling_an_account_ends_its_sessions_and_enabling_it_ends_none(
    store: Arc<dyn Store>,
) {
    let (owner, other) = (user(&store).await, user(&store).await);
    let active = [
        session(&store, owner, 1, "d1").await,
        session(&store, owner, 2, "d2").await,
    ];
    let theirs = session(&store, other, 3, "d3").await;

    let ended = store.set_disabled(owner, true, 10).await.expect("disable");
    assert_eq!(
        sorted(ended),
        sorted(active.iter().map(|s| s.id).collect()),
        "disabling ends the account's active sessions"
    );
    let account = store.user_by_id(owner).await.expect("db").expect("user");
    assert!(account.disabled, "the account is disabled");
    for s in &active {
        assert!(!stored(&store, s.id).await.is_active(11), "{s:?}");
    }
    assert!(stored(&store, theirs.id).await.is_active(11));

    let ended = store.set_disabled(owner, false, 20).await.expect("enable");
    assert_eq!(ended, Vec::<SessionId>::new(), "enabling ends nothing");
    let account = store.user_by_id(owner).await.expect("db").expect("user");
    assert!(!account.disabled, "the account is enabled again");
    for s in &active {
        assert_eq!(
            stored(&store, s.id).await.revoked_at,
            Some(10),
            "an ended session stays ended"
        );
    }
    assert!(
        !store
            .user_by_id(other)
            .await
            .expect("db")
            .expect("user")
            .disabled,
        "another account is untouched"
    );

    for disabled in [true, false] {
        let unknown = store.set_disabled(UserId::new(), disabled, 30).await;
        assert!(
            matches!(unknown, Err(StoreError::NotFound(_))),
            "disabled = {disabled}: {unknown:?}"
        );
    }
}

/// The revocations at or after a time are listed with their times (what a
/// node polls to close the sockets of revoked sessions).
pub async fn revocations_are_listed_from_a_given_time(store: Arc<dyn Store>) {
    let owner = user(&store).await;
    let mut revoked_at = Vec::new();
    for at in [100, 200, 300] {
        let s = session(&store, owner, at, &format!("r{at}")).await;
        assert!(store.revoke_session(s.id, at).await.expect("db"));
        revoked_at.push((s.id, at));
    }
    let live = session(&store, owner, 400, "live").await;
    for (since, want) in [
        (0, &revoked_at[..]),
        (100, &revoked_at[..]),
        (101, &revoked_at[1..]),
        (300, &revoked_at[2..]),
        (301, &[][..]),
    ] {
        let mut listed = store.sessions_revoked_since(since).await.expect("db");
        listed.sort_by_key(|(_, at)| *at);
        assert_eq!(listed, want, "revoked since {since}");
        assert!(
            listed.iter().all(|(id, _)| *id != live.id),
            "an active session is never listed"
        );
    }
}
