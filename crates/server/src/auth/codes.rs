//! One-time codes and refresh tokens: random, and stored only as hashes.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;
use sha2::{Digest, Sha256};
use tasksync_core::{UserId, VerificationCode};
use tasksync_store::CodePurpose;

/// Wrong tries a code survives; the next one needs a new code.
pub const MAX_CODE_ATTEMPTS: u32 = 5;

/// A uniformly random six-digit code from the OS generator.
pub fn new_code() -> VerificationCode {
    VerificationCode::from_number(rand::rngs::OsRng.gen_range(0..1_000_000))
}

/// The stored form of a code: bound to its user and purpose, so a hash
/// copied between rows or purposes is worthless.
pub fn code_hash(user: UserId, purpose: CodePurpose, code: &VerificationCode) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(purpose.as_str().as_bytes());
    h.update([0]);
    h.update(user.as_uuid().as_bytes());
    h.update(code.as_str().as_bytes());
    h.finalize().to_vec()
}

/// A new opaque refresh token (256 random bits).
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a refresh token.
pub fn refresh_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: std::collections::HashSet<String> =
            (0..50).map(|_| new_code().as_str().to_owned()).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
        );
        assert!(codes.len() > 40, "50 random codes should rarely collide");
    }

    #[test]
    fn hashes_bind_user_and_purpose() {
        let code = VerificationCode::from_number(123456);
        let (a, b) = (UserId::new(), UserId::new());
        let base = code_hash(a, CodePurpose::ConfirmSignUp, &code);
        assert_ne!(base, code_hash(b, CodePurpose::ConfirmSignUp, &code));
        assert_ne!(base, code_hash(a, CodePurpose::ResetPassword, &code));
        assert_eq!(base, code_hash(a, CodePurpose::ConfirmSignUp, &code));
    }

    #[test]
    fn refresh_tokens_are_long_and_unique() {
        let (a, b) = (new_refresh_token(), new_refresh_token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_ne!(refresh_hash(&a), refresh_hash(&b));
    }
}
