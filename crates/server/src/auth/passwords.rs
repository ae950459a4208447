//! Argon2id hashing, always off the async runtime and with bounded
//! concurrency, so sign-in storms cannot starve the server of threads or memory.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use tokio::sync::Semaphore;

/// Hashes and verifies passwords (Argon2id, OWASP's default parameters).
#[derive(Debug, Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified against when an account does
    /// not exist so that "no such user" takes as long as "wrong password".
    dummy_hash: Arc<str>,
}

impl Hasher {
    pub async fn new() -> anyhow::Result<Self> {
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
        let permits = Arc::new(Semaphore::new(parallel * 2));
        let mut seed = [0u8; 24];
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut seed);
        let hasher = Self {
            permits,
            dummy_hash: Arc::from(""),
        };
        let dummy = hasher.hash(base64_of(&seed)).await?;
        Ok(Self {
            dummy_hash: Arc::from(dummy),
            ..hasher
        })
    }

    /// The PHC string of a new password.
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await?;
        tokio::task::spawn_blocking(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
        })
        .await?
    }

    /// Whether `password` matches `hash`; with `None`, spends the same time
    /// on the dummy hash and answers false.
    pub async fn verify(&self, password: String, hash: Option<String>) -> anyhow::Result<bool> {
        let _permit = self.permits.acquire().await?;
        let exists = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = tokio::task::spawn_blocking(move || {
            Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await?;
        Ok(exists && matches)
    }
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_argon2id() {
        let hasher = Hasher::new().await.expect("hasher");
        let hash = hasher
            .hash("correct horse battery staple".into())
            .await
            .expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(
            hasher
                .verify("correct horse battery staple".into(), Some(hash.clone()))
                .await
                .expect("verify")
        );
        assert!(
            !hasher
                .verify("wrong horse battery staple".into(), Some(hash))
                .await
                .expect("verify")
        );
        assert!(
            !hasher
                .verify("anything at all".into(), None)
                .await
                .expect("verify")
        );
    }
}
