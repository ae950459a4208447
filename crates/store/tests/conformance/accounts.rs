//! Accounts: atomicity of the operations that concurrent requests race on.

use std::sync::Arc;

use tasksync_core::{Email, SessionId, UserId};
use tasksync_store::{
    CodeCheck, CodePurpose, NewCode, PasswordProof, Rotation, SessionRecord, Store, UserRecord,
};

async fn user(store: &Arc<dyn Store>, email: &str) -> UserRecord {
    let u = UserRecord {
        id: UserId::new(),
        email: Email::parse(email).expect("email"),
        password_hash: "$argon2id$dummy".into(),
        confirmed: true,
        disabled: false,
        created_at: 1,
    };
    store.create_user(&u).await.expect("create");
    u
}

pub async fn a_taken_address_is_a_conflict_and_changes_nothing(store: Arc<dyn Store>) {
    let first = user(&store, "a@example.com").await;
    let mut second = first.clone();
    second.id = UserId::new();
    second.password_hash = "other".into();
    let err = store.create_user(&second).await.expect_err("duplicate");
    assert!(
        matches!(err, tasksync_store::StoreError::Conflict(_)),
        "{err:?}"
    );
    let stored = store
        .user_by_email(&first.email)
        .await
        .expect("db")
        .expect("user");
    assert_eq!(stored, first);
    assert_eq!(store.list_users().await.expect("list").len(), 1);
}

pub async fn concurrent_refreshes_with_one_token_rotate_once_and_detect_the_reuse(
    store: Arc<dyn Store>,
) {
    let u = user(&store, "r@example.com").await;
    let session = SessionRecord {
        id: SessionId::new(),
        user_id: u.id,
        created_at: 0,
        expires_at: i64::MAX,
        revoked_at: None,
    };
    store
        .create_session(&session, b"token-0", 100)
        .await
        .expect("session");
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .rotate_refresh(b"token-0", format!("next-{i}").as_bytes(), 10)
                    .await
            })
        })
        .collect();
    let mut rotated = 0;
    let mut reused = 0;
    for t in tasks {
        match t.await.expect("join").expect("db") {
            Rotation::Rotated(_) => rotated += 1,
            Rotation::Reused(s) => {
                assert!(s.revoked_at.is_some());
                reused += 1;
            }
            Rotation::Invalid => {}
        }
    }
    assert_eq!(rotated, 1, "exactly one refresh wins");
    assert!(reused >= 1, "the second use is detected as reuse");
    let s = store
        .session(session.id)
        .await
        .expect("db")
        .expect("session");
    assert!(!s.is_active(11), "reuse revoked the session");
}

pub async fn concurrent_wrong_codes_are_all_counted(store: Arc<dyn Store>) {
    let u = user(&store, "c@example.com").await;
    let code = NewCode {
        user_id: u.id,
        purpose: CodePurpose::ConfirmSignUp,
        code_hash: b"right".to_vec(),
        expires_at: 1000,
        password_hash: None,
    };
    let limits = tasksync_store::CodeLimits::default();
    assert!(store.put_code(&code, &limits, 0).await.expect("put"));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .check_code(
                        u.id,
                        CodePurpose::ConfirmSignUp,
                        b"wrong",
                        PasswordProof::Absent,
                        &limits,
                        1,
                    )
                    .await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.expect("join").expect("db"));
    }
    assert_eq!(
        outcomes.iter().filter(|o| **o == CodeCheck::Wrong).count(),
        5,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == CodeCheck::TooManyAttempts)
            .count(),
        5,
        "{outcomes:?}"
    );
    let right = store
        .check_code(
            u.id,
            CodePurpose::ConfirmSignUp,
            b"right",
            PasswordProof::Absent,
            &limits,
            1,
        )
        .await
        .expect("db");
    assert_eq!(
        right,
        CodeCheck::TooManyAttempts,
        "no more tries, even with the right code"
    );
    let other_purpose = store
        .check_code(
            u.id,
            CodePurpose::ResetPassword,
            b"right",
            PasswordProof::Absent,
            &limits,
            1,
        )
        .await
        .expect("db");
    assert_eq!(other_purpose, CodeCheck::Missing, "purposes are separate");
}

pub async fn only_the_first_signing_key_is_kept_when_nodes_race(store: Arc<dyn Store>) {
    let keys: Vec<_> = (0..4)
        .map(|i| tasksync_store::SigningKeyRecord {
            kid: format!("kid-{i}"),
            private_der: vec![i],
            public_key: vec![i],
            created_at: i64::from(i),
        })
        .collect();
    let tasks: Vec<_> = keys
        .into_iter()
        .map(|k| {
            let store = store.clone();
            tokio::spawn(async move { store.init_signing_key(&k).await })
        })
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        let keys = t.await.expect("join").expect("db");
        assert_eq!(keys.len(), 1, "one key in the end");
        seen.push(keys[0].kid.clone());
    }
    seen.dedup();
    assert_eq!(seen.len(), 1, "every node sees the same key: {seen:?}");
}

pub async fn password_change_keeps_one_session_and_revokes_the_rest(store: Arc<dyn Store>) {
    let u = user(&store, "p@example.com").await;
    let ids: Vec<SessionId> = (0..3).map(|_| SessionId::new()).collect();
    for (i, id) in ids.iter().enumerate() {
        let s = SessionRecord {
            id: *id,
            user_id: u.id,
            created_at: 0,
            expires_at: i64::MAX,
            revoked_at: None,
        };
        store
            .create_session(&s, format!("t{i}").as_bytes(), 100)
            .await
            .expect("session");
    }
    let revoked = store
        .set_password(u.id, "new-hash", Some(ids[0]), 5)
        .await
        .expect("set");
    assert_eq!(revoked.len(), 2);
    assert!(!revoked.contains(&ids[0]));
    assert!(
        store
            .session(ids[0])
            .await
            .expect("db")
            .expect("s")
            .is_active(6)
    );
    assert_eq!(
        store
            .user_by_id(u.id)
            .await
            .expect("db")
            .expect("u")
            .password_hash,
        "new-hash"
    );
    let unknown = store.set_password(UserId::new(), "x", None, 5).await;
    assert!(matches!(
        unknown,
        Err(tasksync_store::StoreError::NotFound(_))
    ));
}

pub async fn failed_sign_ins_lock_from_the_fifth_and_are_forgotten_after_an_hour(
    store: Arc<dyn Store>,
) {
    use tasksync_core::lockout::Attempt;
    let email = Email::parse("t@example.com").expect("email");
    let mut last = None;
    for i in 0..5 {
        match store
            .reserve_login_attempt(&email, 1_000 + i)
            .await
            .expect("db")
        {
            Attempt::Allowed(t) => last = Some(t),
            locked => panic!("attempt {i} refused: {locked:?}"),
        }
    }
    assert_eq!(
        last.map(|t| (t.failures, t.locked_until)),
        Some((5, 1_004 + 1_000)),
        "the fifth attempt locks for 1 s"
    );
    assert_eq!(
        store
            .reserve_login_attempt(&email, 1_500)
            .await
            .expect("db"),
        Attempt::Locked { until: 2_004 },
        "the sixth waits"
    );
    let hour = tasksync_core::lockout::FORGET_AFTER_MS;
    let later = store
        .reserve_login_attempt(&email, 1_004 + hour + 1)
        .await
        .expect("db");
    assert!(
        matches!(later, Attempt::Allowed(t) if t.failures == 1),
        "an hour later the count starts again: {later:?}"
    );
    store.clear_login_failures(&email).await.expect("db");
    assert_eq!(
        store.throttle(&email).await.expect("db"),
        tasksync_store::Throttle::default()
    );

    // The purge keeps a count the rules still use, and drops it once they
    // have forgotten it.
    let t0 = 10 * hour;
    for i in 0..3 {
        store
            .reserve_login_attempt(&email, t0 + i)
            .await
            .expect("db");
    }
    store.purge_expired(t0 + 10, 1).await.expect("db");
    assert_eq!(
        store.throttle(&email).await.expect("db").failures,
        3,
        "kept"
    );
    store.purge_expired(t0 + 3 + hour, 1).await.expect("db");
    assert_eq!(
        store.throttle(&email).await.expect("db").failures,
        0,
        "purged"
    );
}

/// 40 attempts of one address at the same moment: exactly five are let
/// through to a password check; the others are told to wait.
pub async fn concurrent_sign_in_attempts_are_counted_one_by_one(store: Arc<dyn Store>) {
    use tasksync_core::lockout::Attempt;
    let email = Email::parse("burst@example.com").expect("email");
    let attempts = (0..40).map(|_| {
        let (store, email) = (store.clone(), email.clone());
        tokio::spawn(async move { store.reserve_login_attempt(&email, 50_000).await })
    });
    let mut allowed = 0;
    for a in futures_util::future::join_all(attempts).await {
        if matches!(a.expect("task").expect("db"), Attempt::Allowed(_)) {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 5, "of 40 concurrent attempts, 5 are checked");
}

/// A user at the session cap who signs in again ends their oldest session.
pub async fn sessions_beyond_the_cap_end_the_oldest(store: Arc<dyn Store>) {
    let u = user(&store, "cap@example.com").await;
    let mut ids = Vec::new();
    let mut ended = Vec::new();
    for i in 0..5i64 {
        let s = SessionRecord {
            id: SessionId::new(),
            user_id: u.id,
            created_at: 1_000 + i,
            expires_at: i64::MAX,
            revoked_at: None,
        };
        ids.push(s.id);
        ended.push(
            store
                .create_session(&s, format!("cap{i}").as_bytes(), 3)
                .await
                .expect("session"),
        );
    }
    assert_eq!(ended[..3], [vec![], vec![], vec![]], "under the cap");
    assert_eq!(
        (ended[3].clone(), ended[4].clone()),
        (vec![ids[0]], vec![ids[1]])
    );
    for (i, id) in ids.iter().enumerate() {
        let active = store
            .session(*id)
            .await
            .expect("db")
            .expect("s")
            .is_active(2_000);
        assert_eq!(active, i >= 2, "session {i}");
    }
}

/// An account gets at most `issued_per_window` codes an hour, and its codes
/// at most `wrong_per_window` wrong tries an hour, fresh codes or not; both
/// start again with the next window.
pub async fn codes_are_limited_per_account_and_hour(store: Arc<dyn Store>) {
    let u = user(&store, "budget@example.com").await;
    let limits = tasksync_store::CodeLimits {
        tries_per_code: 5,
        issued_per_window: 3,
        wrong_per_window: 4,
        window_ms: 1_000,
    };
    let code = |hash: &[u8]| NewCode {
        user_id: u.id,
        purpose: CodePurpose::ResetPassword,
        code_hash: hash.to_vec(),
        expires_at: i64::MAX,
        password_hash: None,
    };
    let issued: Vec<bool> = {
        let mut v = Vec::new();
        for i in 0..5 {
            v.push(
                store
                    .put_code(&code(b"c"), &limits, 10 + i)
                    .await
                    .expect("put"),
            );
        }
        v
    };
    assert_eq!(
        issued,
        [true, true, true, false, false],
        "three codes an hour"
    );
    // Wrong tries spread over fresh codes are counted together.
    let mut outcomes = Vec::new();
    for i in 0..3 {
        outcomes.push(
            store
                .check_code(
                    u.id,
                    CodePurpose::ResetPassword,
                    b"x",
                    PasswordProof::Absent,
                    &limits,
                    20 + i,
                )
                .await
                .expect("db"),
        );
    }
    assert!(
        store
            .put_code(&code(b"d"), &limits, 1_100)
            .await
            .expect("put"),
        "a new window"
    );
    for i in 0..3 {
        outcomes.push(
            store
                .check_code(
                    u.id,
                    CodePurpose::ResetPassword,
                    b"x",
                    PasswordProof::Absent,
                    &limits,
                    1_110 + i,
                )
                .await
                .expect("db"),
        );
    }
    assert_eq!(
        outcomes,
        [
            CodeCheck::Wrong,
            CodeCheck::Wrong,
            CodeCheck::Wrong,
            CodeCheck::Wrong,
            CodeCheck::Wrong,
            CodeCheck::Wrong,
        ],
        "three wrong tries per window here"
    );
    store
        .put_code(&code(b"e"), &limits, 1_200)
        .await
        .expect("put");
    assert_eq!(
        store
            .check_code(
                u.id,
                CodePurpose::ResetPassword,
                b"x",
                PasswordProof::Absent,
                &limits,
                1_210
            )
            .await
            .expect("db"),
        CodeCheck::Wrong,
        "the fourth of the window"
    );
    assert_eq!(
        store
            .check_code(
                u.id,
                CodePurpose::ResetPassword,
                b"e",
                PasswordProof::Absent,
                &limits,
                1_220
            )
            .await
            .expect("db"),
        CodeCheck::TooManyAttempts,
        "after four wrong tries in the window even the right code is refused"
    );
    assert_eq!(
        store
            .check_code(
                u.id,
                CodePurpose::ResetPassword,
                b"e",
                PasswordProof::Absent,
                &limits,
                2_200
            )
            .await
            .expect("db"),
        CodeCheck::Accepted,
        "the next window"
    );
}

/// A sign-up code confirms the password chosen with it: each sign-up's code
/// sets the unconfirmed account's password, the accepted code confirms the
/// account in the same step, and once it is confirmed a late sign-up's code
/// changes nothing (so signing an address up before its owner, or racing
/// the owner's confirmation, leaves no password of the attacker's).
pub async fn a_sign_up_code_confirms_the_password_chosen_with_it(store: Arc<dyn Store>) {
    let u = UserRecord {
        id: UserId::new(),
        email: Email::parse("pre-unconfirmed@example.com").expect("email"),
        password_hash: "attacker".into(),
        confirmed: false,
        disabled: false,
        created_at: 1,
    };
    store.create_user(&u).await.expect("create");
    let limits = tasksync_store::CodeLimits::default();
    let code = |digits: &[u8], password: Option<&str>| NewCode {
        user_id: u.id,
        purpose: CodePurpose::ConfirmSignUp,
        code_hash: digits.to_vec(),
        expires_at: i64::MAX,
        password_hash: password.map(str::to_owned),
    };
    let stored = |store: Arc<dyn Store>| async move {
        store
            .user_by_email(&Email::parse("pre-unconfirmed@example.com").expect("email"))
            .await
            .expect("db")
            .expect("user")
    };
    // The attacker's sign-up, then the owner's: the owner's password stands.
    assert!(
        store
            .put_code(&code(b"a", Some("attacker")), &limits, 1)
            .await
            .expect("put")
    );
    assert!(
        store
            .put_code(&code(b"o", Some("owner")), &limits, 2)
            .await
            .expect("put")
    );
    assert_eq!(stored(store.clone()).await.password_hash, "owner");
    // A resent code keeps it.
    assert!(
        store
            .put_code(&code(b"r", None), &limits, 3)
            .await
            .expect("put")
    );
    assert_eq!(stored(store.clone()).await.password_hash, "owner");
    assert!(!stored(store.clone()).await.confirmed);
    assert_eq!(
        store
            .check_code(
                u.id,
                CodePurpose::ConfirmSignUp,
                b"a",
                PasswordProof::Absent,
                &limits,
                4
            )
            .await
            .expect("db"),
        CodeCheck::Wrong,
        "an earlier sign-up's code no longer works"
    );
    // Two sign-ups chose two passwords: the right code alone, or with a
    // password that is not the latest sign-up's, confirms nothing and is
    // kept.
    for (proof, refused) in [
        (PasswordProof::Absent, CodeCheck::PasswordRequired),
        (PasswordProof::Wrong, CodeCheck::PasswordMismatch),
        (
            PasswordProof::Matches("attacker"),
            CodeCheck::PasswordMismatch,
        ),
    ] {
        assert_eq!(
            store
                .check_code(u.id, CodePurpose::ConfirmSignUp, b"r", proof, &limits, 5)
                .await
                .expect("db"),
            refused,
            "{proof:?}"
        );
        assert!(!stored(store.clone()).await.confirmed, "{proof:?}");
    }
    assert_eq!(
        store
            .check_code(
                u.id,
                CodePurpose::ConfirmSignUp,
                b"r",
                PasswordProof::Matches("owner"),
                &limits,
                5
            )
            .await
            .expect("db"),
        CodeCheck::Accepted
    );
    let confirmed = stored(store.clone()).await;
    assert!(
        confirmed.confirmed,
        "the accepted code confirmed the account"
    );
    assert_eq!(confirmed.password_hash, "owner");
    // A sign-up that raced the confirmation changes no password.
    assert!(
        store
            .put_code(&code(b"late", Some("attacker")), &limits, 6)
            .await
            .expect("put")
    );
    assert_eq!(stored(store.clone()).await.password_hash, "owner");
    // A reset code never confirms, nor sets a password.
    let other = user(&store, "reset-only@example.com").await;
    let reset = NewCode {
        user_id: other.id,
        purpose: CodePurpose::ResetPassword,
        code_hash: b"x".to_vec(),
        expires_at: i64::MAX,
        password_hash: None,
    };
    assert!(store.put_code(&reset, &limits, 7).await.expect("put"));
    assert_eq!(
        store
            .check_code(
                other.id,
                CodePurpose::ResetPassword,
                b"x",
                PasswordProof::Absent,
                &limits,
                8
            )
            .await
            .expect("db"),
        CodeCheck::Accepted
    );
}

/// An address signed up once, or again with the same password hash, is not
/// contested: its code confirms it without a password.
pub async fn a_code_alone_confirms_an_address_signed_up_once(store: Arc<dyn Store>) {
    let limits = tasksync_store::CodeLimits::default();
    for (n, again) in [(0, false), (1, true)] {
        let u = UserRecord {
            id: UserId::new(),
            email: Email::parse(&format!("once-{n}@example.com")).expect("email"),
            password_hash: "mine".into(),
            confirmed: false,
            disabled: false,
            created_at: 1,
        };
        store.create_user(&u).await.expect("create");
        let mut code = NewCode {
            user_id: u.id,
            purpose: CodePurpose::ConfirmSignUp,
            code_hash: b"c".to_vec(),
            expires_at: i64::MAX,
            password_hash: Some(u.password_hash.clone()),
        };
        assert!(store.put_code(&code, &limits, 1).await.expect("put"));
        if again {
            code.password_hash = None;
            assert!(store.put_code(&code, &limits, 2).await.expect("resend"));
        }
        assert_eq!(
            store
                .check_code(
                    u.id,
                    CodePurpose::ConfirmSignUp,
                    b"c",
                    PasswordProof::Absent,
                    &limits,
                    3
                )
                .await
                .expect("db"),
            CodeCheck::Accepted,
            "resent: {again}"
        );
        let confirmed = store.user_by_id(u.id).await.expect("db").expect("user");
        assert!(confirmed.confirmed, "resent: {again}");
    }
}

/// A migrated store answers a ping (the readiness check).
pub async fn a_migrated_store_answers_a_ping(store: Arc<dyn Store>) {
    store.ping().await.expect("the store answers");
    store.ping().await.expect("and again");
}

/// Confirming marks that account, and only it, as confirmed; confirming it
/// again is harmless; an unknown account is `NotFound`.
pub async fn confirming_marks_one_account_and_an_unknown_one_is_not_found(store: Arc<dyn Store>) {
    let unconfirmed = |email: &str| UserRecord {
        id: UserId::new(),
        email: Email::parse(email).expect("email"),
        password_hash: "hash".into(),
        confirmed: false,
        disabled: false,
        created_at: 1,
    };
    let (u, other) = (
        unconfirmed("confirm-me@example.com"),
        unconfirmed("not-me@example.com"),
    );
    for record in [&u, &other] {
        store.create_user(record).await.expect("create");
    }
    store.confirm_user(u.id, 5).await.expect("confirm");
    store.confirm_user(u.id, 6).await.expect("confirming again");
    let confirmed = store.user_by_id(u.id).await.expect("db").expect("user");
    assert_eq!(
        confirmed,
        UserRecord {
            confirmed: true,
            ..u.clone()
        },
        "confirmed, and nothing else changed"
    );
    assert_eq!(
        store.user_by_id(other.id).await.expect("db").as_ref(),
        Some(&other),
        "another account is untouched"
    );
    let unknown = store.confirm_user(UserId::new(), 7).await;
    assert!(
        matches!(unknown, Err(tasksync_store::StoreError::NotFound(_))),
        "{unknown:?}"
    );
}

/// There are no signing keys before the first is made; afterwards the list
/// holds it exactly as stored (the private key included), and a later
/// `init_signing_key` keeps it.
pub async fn signing_keys_are_listed_as_they_were_stored(store: Arc<dyn Store>) {
    assert_eq!(
        store.signing_keys().await.expect("db"),
        Vec::new(),
        "no key before the first start"
    );
    let key = |kid: &str, at: i64| tasksync_store::SigningKeyRecord {
        kid: kid.into(),
        private_der: vec![0, 1, 2, 255],
        public_key: [7; 32].to_vec(),
        created_at: at,
    };
    let first = key("first", 10);
    let after_init = store.init_signing_key(&first).await.expect("init");
    assert_eq!(after_init, std::slice::from_ref(&first));
    let listed = store.signing_keys().await.expect("db");
    assert_eq!(listed, after_init, "the list is what init returned");
    assert_eq!(
        listed[0].private_der, first.private_der,
        "the private key round-trips"
    );
    store
        .init_signing_key(&key("second", 20))
        .await
        .expect("init again");
    assert_eq!(
        store.signing_keys().await.expect("db"),
        [first],
        "a second start keeps the first key"
    );
}

/// `extend_lockout` only moves an address's wait later, never earlier, and
/// makes no throttle row for an address that has none.
pub async fn a_lockout_is_only_ever_extended(store: Arc<dyn Store>) {
    use tasksync_core::lockout::Attempt;
    let email = Email::parse("extend@example.com").expect("email");
    // Five attempts: the fifth locks the address until 1_004 + 1_000.
    for i in 0..5 {
        let attempt = store
            .reserve_login_attempt(&email, 1_000 + i)
            .await
            .expect("db");
        assert!(matches!(attempt, Attempt::Allowed(_)), "{i}: {attempt:?}");
    }
    let counted = store.throttle(&email).await.expect("db");
    assert_eq!(counted.locked_until, 2_004);
    for (until, want, case) in [
        (5_000, 5_000, "a later end moves the wait"),
        (3_000, 5_000, "an earlier end leaves it"),
        (5_000, 5_000, "the same end leaves it"),
        (9_000, 9_000, "and a later one moves it again"),
    ] {
        store.extend_lockout(&email, until).await.expect("db");
        let throttle = store.throttle(&email).await.expect("db");
        assert_eq!(
            throttle,
            tasksync_store::Throttle {
                locked_until: want,
                ..counted
            },
            "{case}: only the end of the wait changes"
        );
    }
    assert_eq!(
        store
            .reserve_login_attempt(&email, 8_000)
            .await
            .expect("db"),
        Attempt::Locked { until: 9_000 },
        "attempts wait for the extended end"
    );
    let fresh = Email::parse("never-tried@example.com").expect("email");
    store.extend_lockout(&fresh, 9_000).await.expect("db");
    assert_eq!(
        store.throttle(&fresh).await.expect("db"),
        tasksync_store::Throttle::default(),
        "no row is made for an address without failures"
    );
    assert!(
        matches!(
            store.reserve_login_attempt(&fresh, 1_000).await.expect("db"),
            Attempt::Allowed(t) if t.failures == 1
        ),
        "so it is not locked"
    );
}
