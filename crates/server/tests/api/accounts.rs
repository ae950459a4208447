//! The account flows of `/auth/*`, success and failure paths.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tasksync_core::Email;

use crate::helpers::{
    NEW_PASSWORD, PASSWORD, email, extract_code, spawn_app, spawn_with, wrong_code,
};

#[tokio::test]
async fn a_new_user_signs_up_confirms_signs_in_and_reads_their_account() {
    let app = spawn_app().await;
    let addr = email("alice");
    let up = app.sign_up(&addr.to_uppercase(), PASSWORD).await;
    assert_eq!(up.status, StatusCode::CREATED, "{:?}", up.body);
    assert_eq!(up.body["confirmed"], false);
    let user_id = up.str("userId");

    let mail = app.wait_for_mail(&addr, 1).await;
    assert_eq!(mail["subject"], "Your tasksync verification code");
    assert!(
        mail["sentAt"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{mail}"
    );
    let code = extract_code(mail["text"].as_str().unwrap_or("")).expect("code in mail");

    let confirmed = app.confirm(&addr, &code).await;
    assert_eq!(
        (confirmed.status, &confirmed.body),
        (StatusCode::OK, &json!({ "confirmed": true }))
    );

    let signed_in = app.sign_in(&addr, PASSWORD).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{:?}", signed_in.body);
    assert_eq!(signed_in.body["tokenType"], "Bearer");
    assert_eq!(signed_in.body["expiresIn"], 900);
    for field in ["accessToken", "idToken", "refreshToken"] {
        assert!(!signed_in.str(field).is_empty(), "{field} missing");
    }

    let me = app.me(&signed_in.str("accessToken")).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(
        me.body,
        json!({ "userId": user_id, "email": addr, "emailVerified": true })
    );
}

#[tokio::test]
async fn bad_sign_up_input_is_refused_with_a_typed_error_and_changes_nothing() {
    let app = spawn_app().await;
    let long_password = "x".repeat(257);
    let cases = [
        (
            "an address without @",
            json!({ "email": "alice.example.com", "password": PASSWORD }),
            400,
            "InvalidParameter",
        ),
        (
            "an empty address",
            json!({ "email": "  ", "password": PASSWORD }),
            400,
            "InvalidParameter",
        ),
        (
            "an address with a display name",
            json!({ "email": "A <a@example.com>", "password": PASSWORD }),
            400,
            "InvalidParameter",
        ),
        (
            "a short password",
            json!({ "email": "a@example.com", "password": "Xy7!q" }),
            400,
            "InvalidPassword",
        ),
        (
            "a common password",
            json!({ "email": "a@example.com", "password": "password123" }),
            400,
            "InvalidPassword",
        ),
        (
            "a password built from the address",
            json!({ "email": "zebulon@example.com", "password": "zebulon2024" }),
            400,
            "InvalidPassword",
        ),
        (
            "a password over 256 characters",
            json!({ "email": "a@example.com", "password": long_password }),
            400,
            "InvalidPassword",
        ),
        (
            "a missing password",
            json!({ "email": "a@example.com" }),
            400,
            "InvalidParameter",
        ),
        (
            "a number as the address",
            json!({ "email": 42, "password": PASSWORD }),
            400,
            "InvalidParameter",
        ),
    ];
    for (name, body, status, code) in cases {
        let a = app.post("/auth/sign-up", body).await;
        assert_eq!(
            (a.status.as_u16(), a.code()),
            (status, code),
            "{name}: {:?}",
            a.body
        );
        assert!(
            a.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{name}: message"
        );
    }

    let not_json = app
        .client
        .post(app.url("/auth/sign-up"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    let no_type = app
        .client
        .post(app.url("/auth/sign-up"))
        .body("{}")
        .send()
        .await
        .expect("request");
    assert_eq!(no_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    assert!(
        app.state.store.list_users().await.expect("list").is_empty(),
        "no account may exist"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        app.get("/dev/mailbox").await.body,
        json!([]),
        "no mail may be sent"
    );
}

#[tokio::test]
async fn signing_up_with_a_registered_address_answers_like_a_new_sign_up_and_mails_a_notice() {
    let app = spawn_app().await;
    let addr = email("taken");
    app.register(&addr).await;
    let first_id = app
        .state
        .store
        .user_by_email(&Email::parse(&addr).expect("email"))
        .await
        .expect("db")
        .expect("user")
        .id;

    let again = app.sign_up(&addr, NEW_PASSWORD).await;
    assert_eq!(again.status, StatusCode::CREATED, "{:?}", again.body);
    assert_eq!(again.body["confirmed"], false);
    assert_ne!(
        again.str("userId"),
        first_id.to_string(),
        "must not reveal the real id"
    );
    let fresh = app.sign_up(&email("fresh"), NEW_PASSWORD).await;
    let keys = |v: &serde_json::Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
    assert_eq!(
        keys(&again.body),
        keys(&fresh.body),
        "same shape as a new sign-up"
    );

    let notice = app.wait_for_mail(&addr, 2).await;
    assert!(
        extract_code(notice["text"].as_str().unwrap_or("")).is_none(),
        "a notice carries no code: {notice}"
    );
    assert_eq!(
        app.sign_in(&addr, PASSWORD).await.status,
        StatusCode::OK,
        "old password still works"
    );
    assert_eq!(
        app.sign_in(&addr, NEW_PASSWORD).await.status,
        StatusCode::UNAUTHORIZED,
        "password not replaced"
    );
}

/// Pre-account hijacking: an attacker signs the victim's address up first,
/// then the victim signs up and confirms with the code mailed to them. The
/// victim's password stands, the attacker's does not sign in, and the
/// attacker's code (mailed to the victim) no longer works.
async fn pre_account_hijacking_is_undone_by_the_owners_sign_up(app: &crate::helpers::TestApp) {
    let addr = email("victim");
    let attacker = "attacker chose this 1";
    assert_eq!(
        app.sign_up(&addr, attacker).await.status,
        StatusCode::CREATED
    );
    let attackers_code = app.code_from_mail(&addr, 1).await;
    assert_eq!(
        app.sign_in(&addr, attacker).await.code(),
        "UserNotConfirmed",
        "an unconfirmed account does not sign in"
    );
    assert_eq!(
        app.sign_up(&addr, PASSWORD).await.status,
        StatusCode::CREATED
    );
    let victims_code = app.code_from_mail(&addr, 2).await;
    if attackers_code != victims_code {
        assert_eq!(
            app.confirm(&addr, &attackers_code).await.code(),
            "CodeMismatch",
            "a replaced code no longer works"
        );
    }
    // Signed up twice: the code alone confirms nothing (the owner may hold
    // a code that confirms somebody else's password), with the password
    // chosen with it, it does.
    assert_eq!(
        app.confirm(&addr, &victims_code).await.code(),
        "PasswordRequired"
    );
    assert_eq!(
        app.confirm_with(&addr, &victims_code, PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(app.sign_in(&addr, PASSWORD).await.status, StatusCode::OK);
    let refused = app.sign_in(&addr, attacker).await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "{:?}",
        refused.body
    );
    // Confirmed now: a later sign-up changes nothing and mails a notice.
    assert_eq!(
        app.sign_up(&addr, attacker).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.sign_in(&addr, attacker).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.sign_in(&addr, PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn signing_up_again_before_confirming_makes_the_latest_password_stand() {
    pre_account_hijacking_is_undone_by_the_owners_sign_up(&spawn_app().await).await;
}

#[tokio::test]
async fn signing_up_again_before_confirming_makes_the_latest_password_stand_on_postgres() {
    let Some(db) = tasksync_store::testing::TestDatabase::create().await else {
        return;
    };
    let url = db.url().to_owned();
    let app = crate::helpers::spawn_with(move |s| s.database.database_url = url).await;
    pre_account_hijacking_is_undone_by_the_owners_sign_up(&app).await;
}

/// A code resent after the victim's sign-up confirms the victim's password
/// too (a resend keeps the latest sign-up's password), and only with it.
#[tokio::test]
async fn a_resent_code_confirms_the_latest_sign_ups_password() {
    let app = spawn_app().await;
    let addr = email("resent");
    let attacker = "attacker chose this 2";
    app.sign_up(&addr, attacker).await;
    app.sign_up(&addr, PASSWORD).await;
    let resent = app
        .post("/auth/resend-code", json!({ "email": addr }))
        .await;
    assert_eq!(resent.status, StatusCode::OK);
    let code = app.code_from_mail(&addr, 3).await;
    assert_eq!(app.confirm(&addr, &code).await.code(), "PasswordRequired");
    assert_eq!(
        app.confirm_with(&addr, &code, attacker).await.code(),
        "PasswordMismatch"
    );
    assert_eq!(
        app.confirm_with(&addr, &code, PASSWORD).await.status,
        StatusCode::OK
    );
    assert_eq!(app.sign_in(&addr, PASSWORD).await.status, StatusCode::OK);
    assert_eq!(
        app.sign_in(&addr, attacker).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn confirmation_failures_are_typed() {
    let app = spawn_app().await;
    let addr = email("codes");
    assert_eq!(
        app.sign_up(&addr, PASSWORD).await.status,
        StatusCode::CREATED
    );
    let code = app.code_from_mail(&addr, 1).await;
    let wrong = wrong_code(&code);
    let cases = [
        (
            "a wrong code",
            json!({ "email": addr, "code": wrong }),
            400,
            "CodeMismatch",
        ),
        (
            "an unknown address",
            json!({ "email": email("nobody"), "code": code }),
            400,
            "CodeMismatch",
        ),
        (
            "a code that is not six digits",
            json!({ "email": addr, "code": "12ab56" }),
            400,
            "InvalidParameter",
        ),
        (
            "a bad address",
            json!({ "email": "nope", "code": code }),
            400,
            "InvalidParameter",
        ),
    ];
    for (name, body, status, want) in cases {
        let a = app.post("/auth/confirm-sign-up", body).await;
        assert_eq!(
            (a.status.as_u16(), a.code()),
            (status, want),
            "{name}: {:?}",
            a.body
        );
    }
    let ok = app.confirm(&addr, &code).await;
    assert_eq!(
        ok.status,
        StatusCode::OK,
        "one wrong try leaves the code usable: {:?}",
        ok.body
    );
    let reused = app.confirm(&addr, &code).await;
    assert_eq!(reused.code(), "CodeMismatch", "codes are single use");
}

#[tokio::test]
async fn the_sixth_try_after_five_wrong_codes_is_refused_even_with_the_right_code() {
    let app = spawn_app().await;
    let addr = email("tries");
    app.sign_up(&addr, PASSWORD).await;
    let code = app.code_from_mail(&addr, 1).await;
    let wrong = wrong_code(&code);
    for i in 1..=5 {
        let a = app.confirm(&addr, wrong).await;
        assert_eq!(a.code(), "CodeMismatch", "wrong try {i}");
    }
    let sixth = app.confirm(&addr, &code).await;
    assert_eq!(
        (sixth.status, sixth.code()),
        (StatusCode::BAD_REQUEST, "CodeMismatch"),
        "after five wrong tries even the right code is refused, in the same words as a wrong one"
    );
    let unknown = app.confirm(&email("nobody"), &code).await;
    assert_eq!(
        sixth.body, unknown.body,
        "used-up codes look like unknown addresses"
    );

    assert_eq!(
        app.post("/auth/resend-code", json!({ "email": addr }))
            .await
            .status,
        StatusCode::OK
    );
    let fresh = app.code_from_mail(&addr, 2).await;
    let ok = app.confirm(&addr, &fresh).await;
    assert_eq!(ok.status, StatusCode::OK, "a new code works: {:?}", ok.body);
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let app = spawn_with(|s| s.code_ttl = Duration::from_millis(1)).await;
    let addr = email("late");
    app.sign_up(&addr, PASSWORD).await;
    let code = app.code_from_mail(&addr, 1).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let a = app.confirm(&addr, &code).await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::BAD_REQUEST, "CodeMismatch"),
        "expired codes are refused in the same words as wrong ones"
    );
    assert_eq!(
        app.sign_in(&addr, PASSWORD).await.code(),
        "UserNotConfirmed",
        "nothing was confirmed"
    );
}

#[tokio::test]
async fn resend_code_answers_the_same_for_every_address_and_mails_only_the_unconfirmed() {
    let app = spawn_app().await;
    let (pending, done, nobody) = (email("pending"), email("done"), email("nobody"));
    app.sign_up(&pending, PASSWORD).await;
    let first = app.code_from_mail(&pending, 1).await;
    app.register(&done).await;

    let answers = [
        app.post("/auth/resend-code", json!({ "email": pending }))
            .await,
        app.post("/auth/resend-code", json!({ "email": done }))
            .await,
        app.post("/auth/resend-code", json!({ "email": nobody }))
            .await,
    ];
    for a in &answers {
        assert_eq!(
            (a.status, &a.body),
            (StatusCode::OK, &answers[0].body),
            "identical answers"
        );
    }
    let second = app.code_from_mail(&pending, 2).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        app.mails_to(&done).await.len(),
        1,
        "a confirmed account gets no code"
    );
    assert!(
        app.mails_to(&nobody).await.is_empty(),
        "an unknown address gets nothing"
    );
    if first != second {
        let old = app.confirm(&pending, &first).await;
        assert_eq!(old.code(), "CodeMismatch", "resending replaces the code");
    }
    let ok = app.confirm(&pending, &second).await;
    assert_eq!(ok.status, StatusCode::OK);
}

#[tokio::test]
async fn sign_in_failures_do_not_reveal_whether_an_account_exists() {
    let app = spawn_app().await;
    let (known, pending) = (email("known"), email("pending"));
    app.register(&known).await;
    app.sign_up(&pending, PASSWORD).await;

    let wrong_password = app.sign_in(&known, NEW_PASSWORD).await;
    let unknown_email = app.sign_in(&email("ghost"), PASSWORD).await;
    assert_eq!(wrong_password.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password.code(), "NotAuthorized");
    assert_eq!(
        (unknown_email.status, &unknown_email.body),
        (wrong_password.status, &wrong_password.body),
        "wrong password and unknown address answer identically"
    );

    let cases = [
        (
            "an unconfirmed account with its password",
            pending.as_str(),
            PASSWORD,
            403,
            "UserNotConfirmed",
        ),
        (
            "an unconfirmed account with a wrong password",
            pending.as_str(),
            NEW_PASSWORD,
            401,
            "NotAuthorized",
        ),
        (
            "a malformed address",
            "not-an-address",
            PASSWORD,
            400,
            "InvalidParameter",
        ),
        (
            "a too short password",
            known.as_str(),
            "short",
            401,
            "NotAuthorized",
        ),
    ];
    for (name, addr, password, status, code) in cases {
        let a = app.sign_in(addr, password).await;
        assert_eq!(
            (a.status.as_u16(), a.code()),
            (status, code),
            "{name}: {:?}",
            a.body
        );
    }
}

#[tokio::test]
async fn refresh_rotates_and_reusing_a_spent_token_revokes_the_session() {
    let app = spawn_app().await;
    let addr = email("rotate");
    let t = app.signed_in(&addr).await;

    let r1 = app
        .post("/auth/refresh", json!({ "refreshToken": t.refresh }))
        .await;
    assert_eq!(r1.status, StatusCode::OK, "{:?}", r1.body);
    let refresh2 = r1.str("refreshToken");
    assert_ne!(refresh2, t.refresh, "refresh rotates the token");
    assert_eq!(app.me(&r1.str("accessToken")).await.status, StatusCode::OK);

    let reuse = app
        .post("/auth/refresh", json!({ "refreshToken": t.refresh }))
        .await;
    assert_eq!(
        (reuse.status, reuse.code()),
        (StatusCode::UNAUTHORIZED, "NotAuthorized")
    );
    let after = app
        .post("/auth/refresh", json!({ "refreshToken": refresh2 }))
        .await;
    assert_eq!(
        after.status,
        StatusCode::UNAUTHORIZED,
        "reuse revoked the whole session"
    );
    assert_eq!(
        app.me(&r1.str("accessToken")).await.status,
        StatusCode::UNAUTHORIZED,
        "its access tokens fail at once"
    );
    assert_eq!(app.me(&t.access).await.status, StatusCode::UNAUTHORIZED);

    let junk = app
        .post("/auth/refresh", json!({ "refreshToken": "not-a-token" }))
        .await;
    assert_eq!(junk.code(), "NotAuthorized");
    let other = app.tokens(&addr, PASSWORD).await;
    assert_eq!(
        app.me(&other.access).await.status,
        StatusCode::OK,
        "a new sign-in still works"
    );
}

#[tokio::test]
async fn sign_out_ends_one_session_and_global_sign_out_ends_all() {
    let app = spawn_app().await;
    let addr = email("out");
    let a = app.signed_in(&addr).await;
    let b = app.tokens(&addr, PASSWORD).await;
    let c = app.tokens(&addr, PASSWORD).await;

    let out = app
        .post("/auth/sign-out", json!({ "refreshToken": a.refresh }))
        .await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(
        app.me(&a.access).await.status,
        StatusCode::UNAUTHORIZED,
        "signed-out access token fails"
    );
    assert_eq!(
        app.post("/auth/refresh", json!({ "refreshToken": a.refresh }))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.me(&b.access).await.status,
        StatusCode::OK,
        "other sessions live on"
    );

    let global = app
        .post(
            "/auth/sign-out",
            json!({ "refreshToken": b.refresh, "global": true }),
        )
        .await;
    assert_eq!(global.status, StatusCode::OK);
    for t in [&b, &c] {
        assert_eq!(app.me(&t.access).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            app.post("/auth/refresh", json!({ "refreshToken": t.refresh }))
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    let unknown = app
        .post("/auth/sign-out", json!({ "refreshToken": "unknown" }))
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::OK,
        "signing out an unknown token is not an error"
    );
    let missing = app.post("/auth/sign-out", json!({})).await;
    assert_eq!(missing.code(), "InvalidParameter");
}

#[tokio::test]
async fn a_password_reset_ends_every_session() {
    let app = spawn_app().await;
    let addr = email("reset");
    let t = app.signed_in(&addr).await;

    let nobody = app
        .post("/auth/forgot-password", json!({ "email": email("nobody") }))
        .await;
    let known = app
        .post("/auth/forgot-password", json!({ "email": addr }))
        .await;
    assert_eq!(
        (known.status, &known.body),
        (nobody.status, &nobody.body),
        "same answer for unknown addresses"
    );
    let code = app.code_from_mail(&addr, 2).await;

    let weak = app
        .post(
            "/auth/confirm-forgot-password",
            json!({ "email": addr, "code": code, "newPassword": "password1" }),
        )
        .await;
    assert_eq!(
        weak.code(),
        "InvalidPassword",
        "a weak password is refused before the code is spent"
    );
    let wrong = wrong_code(&code);
    let bad = app
        .post(
            "/auth/confirm-forgot-password",
            json!({ "email": addr, "code": wrong, "newPassword": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(bad.code(), "CodeMismatch");
    let confirm_code = app.confirm(&addr, &code).await;
    assert_eq!(
        confirm_code.code(),
        "CodeMismatch",
        "a reset code does not confirm a sign-up"
    );

    let ok = app
        .post(
            "/auth/confirm-forgot-password",
            json!({ "email": addr, "code": code, "newPassword": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(
        app.me(&t.access).await.status,
        StatusCode::UNAUTHORIZED,
        "old sessions end"
    );
    assert_eq!(
        app.post("/auth/refresh", json!({ "refreshToken": t.refresh }))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.sign_in(&addr, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.sign_in(&addr, NEW_PASSWORD).await.status,
        StatusCode::OK
    );
    let again = app
        .post(
            "/auth/confirm-forgot-password",
            json!({ "email": addr, "code": code, "newPassword": PASSWORD }),
        )
        .await;
    assert_eq!(again.code(), "CodeMismatch", "reset codes are single use");
}

#[tokio::test]
async fn changing_the_password_keeps_this_session_and_ends_the_others() {
    let app = spawn_app().await;
    let addr = email("change");
    let mine = app.signed_in(&addr).await;
    let other = app.tokens(&addr, PASSWORD).await;

    let cases = [
        (
            "a wrong current password",
            json!({ "oldPassword": NEW_PASSWORD, "newPassword": NEW_PASSWORD }),
            400,
            "IncorrectPassword",
        ),
        (
            "a weak new password",
            json!({ "oldPassword": PASSWORD, "newPassword": "12345678" }),
            400,
            "InvalidPassword",
        ),
        (
            "a missing field",
            json!({ "oldPassword": PASSWORD }),
            400,
            "InvalidParameter",
        ),
    ];
    for (name, body, status, code) in cases {
        let a = app
            .post_bearer("/auth/change-password", &mine.access, body)
            .await;
        assert_eq!(
            (a.status.as_u16(), a.code()),
            (status, code),
            "{name}: {:?}",
            a.body
        );
    }
    let anonymous = app
        .post(
            "/auth/change-password",
            json!({ "oldPassword": PASSWORD, "newPassword": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let with_id_token = app
        .post_bearer(
            "/auth/change-password",
            &mine.id,
            json!({ "oldPassword": PASSWORD, "newPassword": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(
        with_id_token.status,
        StatusCode::UNAUTHORIZED,
        "an ID token does not authorize"
    );

    let ok = app
        .post_bearer(
            "/auth/change-password",
            &mine.access,
            json!({ "oldPassword": PASSWORD, "newPassword": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(
        app.me(&mine.access).await.status,
        StatusCode::OK,
        "this session stays"
    );
    assert_eq!(
        app.me(&other.access).await.status,
        StatusCode::UNAUTHORIZED,
        "other sessions end"
    );
    assert_eq!(
        app.sign_in(&addr, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.sign_in(&addr, NEW_PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn me_needs_a_valid_bearer_access_token() {
    let app = spawn_app().await;
    let t = app.signed_in(&email("me")).await;
    let no_header = app.get("/auth/me").await;
    assert_eq!(
        (no_header.status, no_header.code()),
        (StatusCode::UNAUTHORIZED, "NotAuthorized")
    );
    assert_eq!(
        no_header
            .headers
            .get("www-authenticate")
            .map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
    let basic = app
        .client
        .get(app.url("/auth/me"))
        .header("authorization", format!("Basic {}", t.access))
        .send()
        .await
        .expect("request");
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.me("garbage").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.me(&t.id).await.status,
        StatusCode::UNAUTHORIZED,
        "ID tokens do not open the API"
    );
    assert_eq!(app.me(&t.access).await.status, StatusCode::OK);
}

#[tokio::test]
async fn admin_commands_confirm_disable_and_enable_accounts() {
    use tasksync_server::admin;
    use tasksync_server::config::UsersCommand;

    let app = spawn_app().await;
    let db = app.state.settings.database.clone();
    let (pending, active) = (email("pending"), email("active"));
    app.sign_up(&pending, PASSWORD).await;
    let t = app.signed_in(&active).await;

    admin::users(&db, &UsersCommand::List).await.expect("list");
    admin::users(
        &db,
        &UsersCommand::Confirm {
            email: pending.clone(),
        },
    )
    .await
    .expect("confirm");
    assert_eq!(
        app.sign_in(&pending, PASSWORD).await.status,
        StatusCode::OK,
        "confirmed by the admin"
    );

    admin::users(
        &db,
        &UsersCommand::Disable {
            email: active.clone(),
        },
    )
    .await
    .expect("disable");
    assert_eq!(
        app.me(&t.access).await.status,
        StatusCode::UNAUTHORIZED,
        "disabling ends sessions at once"
    );
    assert_eq!(
        app.post("/auth/refresh", json!({ "refreshToken": t.refresh }))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let refused = app.sign_in(&active, PASSWORD).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::FORBIDDEN, "UserDisabled")
    );
    let wrong = app.sign_in(&active, NEW_PASSWORD).await;
    assert_eq!(
        wrong.code(),
        "NotAuthorized",
        "without the password nothing is revealed"
    );

    admin::users(
        &db,
        &UsersCommand::Enable {
            email: active.clone(),
        },
    )
    .await
    .expect("enable");
    assert_eq!(app.sign_in(&active, PASSWORD).await.status, StatusCode::OK);
    let missing = admin::users(
        &db,
        &UsersCommand::Disable {
            email: email("ghost"),
        },
    )
    .await;
    assert!(
        missing.is_err_and(|e| e.to_string().contains("no account")),
        "unknown address is an error"
    );
    admin::migrate(&db).await.expect("migrate is idempotent");
}
