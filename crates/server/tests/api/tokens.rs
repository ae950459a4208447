//! Tokens: claims, JWKS, discovery, and every kind of tampering refused.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tasksync_server::auth::tokens::{Claims, TokenUse, generate_key, now_secs};

use crate::helpers::{TestApp, email, spawn_app};

fn decode_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("json")
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"))
}

async fn server_key(app: &TestApp) -> (String, EncodingKey) {
    let keys = app.state.store.signing_keys().await.expect("keys");
    let k = keys.first().expect("a signing key");
    (k.kid.clone(), EncodingKey::from_ed_der(&k.private_der))
}

fn sign(kid: &str, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).expect("encode")
}

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
    let (kid, key) = server_key(&app).await;
    let claims = decode_part(&t.access, 1);
    let header = decode_part(&t.access, 0);
    let signature = t.access.split('.').nth(2).expect("sig").to_owned();
    let now = now_secs();
    let with = |changes: Value| {
        let mut c = claims.clone();
        for (k, v) in changes.as_object().expect("object") {
            c[k] = v.clone();
        }
        c
    };

    // The forging method itself works: a well-formed token signed with the
    // server's key is accepted, so each refusal below is about its one flaw.
    let control = sign(&kid, &key, &with(json!({ "jti": "control" })));
    assert_eq!(
        app.me(&control).await.status,
        StatusCode::OK,
        "control token must pass"
    );

    let stranger = generate_key(0).expect("key");
    let stranger_key = EncodingKey::from_ed_der(&stranger.private_der);
    let none_header = json!({ "alg": "none", "typ": "JWT", "kid": kid });
    let hs_header = json!({ "alg": "HS256", "typ": "JWT", "kid": kid });
    let hs_token = {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(kid.clone());
        let jwks = app.get("/.well-known/jwks.json").await.body;
        let x = jwks["keys"][0]["x"].as_str().expect("x").to_owned();
        jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(x.as_bytes())).expect("hs256")
    };
    let other_sub = decode_part(&other.access, 1)["sub"].clone();

    let cases: Vec<(&str, String)> = vec![
        (
            "alg none without a signature",
            format!("{}.{}.", b64(&none_header), b64(&claims)),
        ),
        (
            "alg none with the original signature",
            format!("{}.{}.{signature}", b64(&none_header), b64(&claims)),
        ),
        ("HS256 keyed with the public key", hs_token),
        (
            "an HS256 header on the EdDSA signature",
            format!("{}.{}.{signature}", b64(&hs_header), b64(&claims)),
        ),
        (
            "signed with another key under the server's kid",
            sign(&kid, &stranger_key, &claims),
        ),
        (
            "signed with an unknown kid",
            sign(&stranger.kid, &stranger_key, &claims),
        ),
        (
            "a payload changed to another user",
            format!(
                "{}.{}.{signature}",
                b64(&header),
                b64(&with(json!({ "sub": other_sub })))
            ),
        ),
        (
            "a payload with a later expiry",
            format!(
                "{}.{}.{signature}",
                b64(&header),
                b64(&with(json!({ "exp": now + 86400 })))
            ),
        ),
        (
            "expired",
            sign(
                &kid,
                &key,
                &with(json!({ "iat": now - 1000, "exp": now - 120 })),
            ),
        ),
        ("an ID token", t.id.clone()),
        (
            "access claims relabelled as id",
            sign(&kid, &key, &with(json!({ "token_use": "id" }))),
        ),
        (
            "a wrong issuer",
            sign(
                &kid,
                &key,
                &with(json!({ "iss": "https://evil.example.net" })),
            ),
        ),
        (
            "a wrong audience",
            sign(&kid, &key, &with(json!({ "aud": "someone-else" }))),
        ),
        (
            "no expiry",
            sign(&kid, &key, &{
                let mut c = claims.clone();
                c.as_object_mut().expect("obj").remove("exp");
                c
            }),
        ),
        (
            "an unknown session",
            sign(
                &kid,
                &key,
                &with(json!({ "sid": uuid::Uuid::now_v7().to_string() })),
            ),
        ),
        (
            "a session of another user",
            sign(&kid, &key, &with(json!({ "sub": other_sub }))),
        ),
        (
            "a truncated signature",
            t.access[..t.access.len() - 4].to_owned(),
        ),
        ("not a JWT", "definitely.not.a-jwt".to_owned()),
    ];
    for (name, token) in cases {
        let a = app.me(&token).await;
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
