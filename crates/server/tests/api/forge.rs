//! Forging tokens: the server's own key read from the database, an
//! attacker's key, any header signed with any algorithm, and the list of
//! tampered, forged and misused tokens that every way in must refuse
//! (`tokens.rs` presents them to `/auth/me`, `matrix.rs` to every
//! transport).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tasksync_server::auth::tokens::{generate_key, now_secs};
use tasksync_store::SigningKeyRecord;

use crate::helpers::{TestApp, Tokens};

/// The JSON of part `index` (0 header, 1 claims) of a JWT.
pub fn decode_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("json")
}

/// A JSON value as a JWT part.
pub fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"))
}

/// The server's newest signing key, read from its database.
pub async fn server_key(app: &TestApp) -> (String, EncodingKey) {
    let keys = app.state.store.signing_keys().await.expect("keys");
    let k = keys.first().expect("a signing key");
    (k.kid.clone(), EncodingKey::from_ed_der(&k.private_der))
}

/// An EdDSA token with `kid`, as the server makes them.
pub fn sign(kid: &str, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).expect("encode")
}

/// A token with exactly `header` (any fields), signed with `key` by `alg`
/// whatever the header says.
pub fn sign_raw(header: &Value, claims: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    let message = format!("{}.{}", b64(header), b64(claims));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).expect("sign");
    format!("{message}.{signature}")
}

/// A key the server has never seen, as an attacker would make one.
pub struct Attacker {
    pub record: SigningKeyRecord,
    pub key: EncodingKey,
}

impl Attacker {
    pub fn new() -> Self {
        let record = generate_key(0).expect("key");
        let key = EncodingKey::from_ed_der(&record.private_der);
        Self { record, key }
    }

    pub fn kid(&self) -> &str {
        &self.record.kid
    }

    /// The attacker's public key as a JWK.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
            "kid": self.record.kid,
            "x": URL_SAFE_NO_PAD.encode(&self.record.public_key),
        })
    }

    /// An EdDSA token with exactly `header`, signed with the attacker's key.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        sign_raw(header, claims, &self.key, Algorithm::EdDSA)
    }
}

/// An Ed25519 public key as PEM (SubjectPublicKeyInfo), the form an
/// HS256-confusion attack keys its MAC with.
pub fn public_key_pem(public: &[u8]) -> String {
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend_from_slice(public);
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(der)
    )
}

/// Tokens made from a genuine access token: one control (well-formed,
/// signed with the server's key) that must be accepted, and cases that
/// must each be refused, every one for its single flaw.
pub struct Forged {
    pub control: String,
    pub cases: Vec<(String, String)>,
}

/// The tampered, forged and misused variants of `victim`'s access token
/// (`other` is a second user, whose id and session they borrow).
pub async fn forged_tokens(app: &TestApp, victim: &Tokens, other: &Tokens) -> Forged {
    let t = victim;
    let (kid, key) = server_key(app).await;
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
    // server's key is accepted, so each refusal is about its one flaw.
    let control = sign(&kid, &key, &with(json!({ "jti": "control" })));

    let stranger = Attacker::new();
    let none_header = json!({ "alg": "none", "typ": "JWT", "kid": kid });
    let hs_header = json!({ "alg": "HS256", "typ": "JWT", "kid": kid });
    let hs_token = {
        let jwks = app.get("/.well-known/jwks.json").await.body;
        let x = jwks["keys"][0]["x"].as_str().expect("x").to_owned();
        sign_raw(
            &hs_header,
            &claims,
            &EncodingKey::from_secret(x.as_bytes()),
            Algorithm::HS256,
        )
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
            sign(&kid, &stranger.key, &claims),
        ),
        (
            "signed with an unknown kid",
            sign(stranger.kid(), &stranger.key, &claims),
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
    Forged {
        control,
        cases: cases
            .into_iter()
            .map(|(name, token)| (name.to_owned(), token))
            .collect(),
    }
}
