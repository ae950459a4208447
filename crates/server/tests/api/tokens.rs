//! Tokens: claims, JWKS, discovery, and every kind of tampering refused.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::Value;
use tasksync_server::auth::tokens::{Claims, TokenUse};

use crate::forge::{decode_part, forged_tokens};
use crate::helpers::{email, spawn_app};

#[tokio::test]
async fn tokens_carry_the_documented_claims_and_verify_against_the_jwks() {
    let app = spawn_app().await;
    let addr = email("claims");
    let t = app.signed_in(&addr).await;
    let header = decode_part(&t.access, 0);
    let access = decode_part(&t.access, 1);
    let id = decode_part(&t.id, 1);
    assert_eq!(header["alg"], "EdDSA");
    let kid = header["kid"].as_str().expect("kid").to_owned();

    assert_eq!(access["token_use"], "access");
    assert_eq!(id["token_use"], "id");
    assert_eq!(id["email"], addr.as_str());
    assert_eq!(id["email_verified"], true);
    assert!(
        access.get("email").is_none(),
        "access tokens carry no e-mail"
    );
    assert_eq!(access["sid"], id["sid"]);
    assert_eq!(access["sub"], app.me(&t.access).await.body["userId"]);
    assert_eq!(access["iss"], app.base.as_str());
    assert_eq!(access["aud"], "tasksync");
    assert_ne!(access["jti"], id["jti"]);
    let ttl = access["exp"].as_u64().expect("exp") - access["iat"].as_u64().expect("iat");
    assert_eq!(ttl, 900, "access tokens live 15 minutes by default");

    let discovery = app.get("/.well-known/openid-configuration").await;
    assert_eq!(discovery.body["issuer"], app.base.as_str());
    let jwks_uri = discovery.str("jwks_uri");
    assert_eq!(jwks_uri, app.url("/.well-known/jwks.json"));
    let jwks = app
        .client
        .get(&jwks_uri)
        .send()
        .await
        .expect("jwks")
        .json::<Value>()
        .await
        .expect("json");
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("the token's kid is published");
    assert_eq!(
        (
            jwk["kty"].as_str(),
            jwk["crv"].as_str(),
            jwk["alg"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    assert!(
        jwk.get("d").is_none(),
        "the private part is never published"
    );

    // A third party verifies the token with nothing but the JWKS.
    let key = DecodingKey::from_ed_components(jwk["x"].as_str().expect("x")).expect("key");
    let mut v = Validation::new(Algorithm::EdDSA);
    v.set_issuer(&[app.base.as_str()]);
    v.set_audience(&["tasksync"]);
    let claims = jsonwebtoken::decode::<Claims>(&t.access, &key, &v)
        .expect("verifies with the JWKS key")
        .claims;
    assert_eq!(claims.token_use, TokenUse::Access);
}

#[tokio::test]
async fn tampered_forged_expired_and_misused_tokens_are_refused() {
    let app = spawn_app().await;
    let t = app.signed_in(&email("tamper")).await;
    let other = app.signed_in(&email("victim")).await;
    let forged = forged_tokens(&app, &t, &other).await;
    assert_eq!(
        app.me(&forged.control).await.status,
        StatusCode::OK,
        "control token must pass"
    );
    for (name, token) in &forged.cases {
        let a = app.me(token).await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::UNAUTHORIZED, "NotAuthorized"),
            "{name} must be refused"
        );
    }
    assert_eq!(
        app.me(&t.access).await.status,
        StatusCode::OK,
        "the genuine token still works"
    );
}
