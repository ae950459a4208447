//! Signed tokens: Ed25519 JWTs (`EdDSA`, the only algorithm accepted) whose
//! keys live in the database, so every node and every restart shares them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tasksync_store::{SigningKeyRecord, Store, UserRecord};
use tokio::sync::{Mutex, RwLock};
use uuid::Uuid;

/// What a JWT is for. Only `Access` opens the API; `Id` describes the user
/// to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenUse {
    Access,
    Id,
}

/// Claims of access and ID tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: String,
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
    /// The session id.
    pub sid: String,
    pub token_use: TokenUse,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

/// Why a token was refused. Callers answer every variant the same way; the
/// distinction is for logs and tests.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token or header")]
    Malformed,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("token has expired")]
    Expired,
    #[error("token is a {0:?} token")]
    WrongUse(TokenUse),
}

/// Access and ID token of one sign-in or refresh.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub id_token: String,
    /// Seconds until both expire.
    pub expires_in: u64,
}

struct KeyRing {
    kid: String,
    signing: EncodingKey,
    verifying: HashMap<String, DecodingKey>,
    jwks: serde_json::Value,
}

impl KeyRing {
    fn from_records(records: &[SigningKeyRecord]) -> anyhow::Result<Self> {
        let newest = records
            .first()
            .ok_or_else(|| anyhow::anyhow!("no signing key in the database"))?;
        let mut verifying = HashMap::new();
        let mut jwks = Vec::new();
        for r in records {
            let x = URL_SAFE_NO_PAD.encode(&r.public_key);
            verifying.insert(r.kid.clone(), DecodingKey::from_ed_components(&x)?);
            jwks.push(serde_json::json!({
                "kty": "OKP", "crv": "Ed25519", "x": x,
                "kid": r.kid, "alg": "EdDSA", "use": "sig",
            }));
        }
        Ok(Self {
            kid: newest.kid.clone(),
            signing: EncodingKey::from_ed_der(&newest.private_der),
            verifying,
            jwks: serde_json::json!({ "keys": jwks }),
        })
    }
}

/// Issues and verifies tokens.
pub struct TokenService {
    store: Arc<dyn Store>,
    issuer: String,
    audience: String,
    ttl: Duration,
    /// Seconds after `exp` a token is still accepted.
    leeway: u64,
    keys: RwLock<KeyRing>,
    last_reload: Mutex<Instant>,
    /// Claims of tokens whose signature was verified, by SHA-256 of the token.
    verified: std::sync::Mutex<HashMap<[u8; 32], Claims>>,
}

/// Verified tokens remembered at most (the map is emptied when full).
const VERIFIED_CACHE: usize = 10_000;

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// An unknown `kid` reloads the keys from the database at most this often,
/// so a key made by another node is found without letting junk tokens hammer
/// the database.
const RELOAD_INTERVAL: Duration = Duration::from_secs(5);

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A fresh Ed25519 key pair, with its `kid` derived from the public key.
pub fn generate_key(created_at: i64) -> anyhow::Result<SigningKeyRecord> {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let public = key.verifying_key().to_bytes();
    let der = key
        .to_pkcs8_der()
        .map_err(|e| anyhow::anyhow!("encoding a new signing key: {e}"))?;
    let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(public)[..12]);
    Ok(SigningKeyRecord {
        kid,
        private_der: der.as_bytes().to_vec(),
        public_key: public.to_vec(),
        created_at,
    })
}

impl TokenService {
    /// Loads the signing keys, creating the first one if the database has none.
    pub async fn load(
        store: Arc<dyn Store>,
        issuer: String,
        audience: String,
        ttl: Duration,
    ) -> anyhow::Result<Self> {
        let mut records = store.signing_keys().await?;
        if records.is_empty() {
            let fresh = generate_key(crate::clock::now_ms())?;
            records = store.init_signing_key(&fresh).await?;
            tracing::info!(kid = %records.first().map_or("", |k| k.kid.as_str()), "signing key ready");
        }
        let keys = KeyRing::from_records(&records)?;
        Ok(Self {
            store,
            issuer,
            audience,
            ttl,
            leeway: 1,
            keys: RwLock::new(keys),
            last_reload: Mutex::new(Instant::now()),
            verified: std::sync::Mutex::default(),
        })
    }

    /// Accepts tokens `leeway` (whole seconds) after their expiry.
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.as_secs();
        self
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Mints the access and ID token of a session.
    pub async fn issue(&self, user: &UserRecord, session: Uuid) -> anyhow::Result<TokenPair> {
        let iat = now_secs();
        let exp = iat + self.ttl.as_secs();
        let base = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user.id.to_string(),
            exp,
            iat,
            jti: Uuid::new_v4().to_string(),
            sid: session.to_string(),
            token_use: TokenUse::Access,
            email: None,
            email_verified: None,
        };
        let id = Claims {
            jti: Uuid::new_v4().to_string(),
            token_use: TokenUse::Id,
            email: Some(user.email.to_string()),
            email_verified: Some(user.confirmed),
            ..base.clone()
        };
        let keys = self.keys.read().await;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(keys.kid.clone());
        Ok(TokenPair {
            access_token: jsonwebtoken::encode(&header, &base, &keys.signing)?,
            id_token: jsonwebtoken::encode(&header, &id, &keys.signing)?,
            expires_in: self.ttl.as_secs(),
        })
    }

    /// Verifies signature, algorithm, issuer, audience, expiry and use.
    pub async fn verify(&self, token: &str, expected: TokenUse) -> Result<Claims, TokenError> {
        // A token already verified needs no second signature check (the
        // string is the same, so is the signature); only time and use are
        // checked again. Revocation is checked by the caller every time.
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let cached = self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&digest)
            .cloned();
        if let Some(claims) = cached {
            if claims.exp.saturating_add(self.leeway) < now_secs() {
                return Err(TokenError::Expired);
            }
            if claims.token_use != expected {
                return Err(TokenError::WrongUse(claims.token_use));
            }
            return Ok(claims);
        }
        let claims = self.verify_signature(token).await?;
        {
            let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            if verified.len() >= VERIFIED_CACHE {
                verified.clear();
            }
            verified.insert(digest, claims.clone());
        }
        if claims.token_use != expected {
            return Err(TokenError::WrongUse(claims.token_use));
        }
        Ok(claims)
    }

    async fn verify_signature(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Malformed);
        }
        let kid = header.kid.ok_or(TokenError::Malformed)?;
        let key = match self.keys.read().await.verifying.get(&kid) {
            Some(k) => k.clone(),
            None => self.reload_for(&kid).await.ok_or(TokenError::UnknownKey)?,
        };
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.leeway;
        Ok(jsonwebtoken::decode::<Claims>(token, &key, &validation)?.claims)
    }

    async fn reload_for(&self, kid: &str) -> Option<DecodingKey> {
        {
            let mut last = self.last_reload.lock().await;
            if last.elapsed() < RELOAD_INTERVAL {
                return None;
            }
            *last = Instant::now();
        }
        let records = match self.store.signing_keys().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "reloading signing keys");
                return None;
            }
        };
        let ring = KeyRing::from_records(&records).ok()?;
        let key = ring.verifying.get(kid).cloned();
        *self.keys.write().await = ring;
        key
    }

    /// The public keys as a JWK set.
    pub async fn jwks(&self) -> serde_json::Value {
        self.keys.read().await.jwks.clone()
    }
}
