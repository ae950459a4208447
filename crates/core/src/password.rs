//! The password policy.

use std::fmt;

use zxcvbn::{Score, zxcvbn};

/// Fewest characters (Unicode scalar values) a password may have.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Most characters a password may have; long enough for passphrases, short
/// enough that hashing it is bounded.
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Only this many leading characters are given to the strength estimator:
/// its cost grows quickly with length, and anything this long that starts
/// unguessably stays unguessable.
const STRENGTH_PREFIX_CHARS: usize = 64;

/// A new password that satisfies the policy: 8–256 characters, no
/// composition rules, and not guessable (zxcvbn score of at least 3, which
/// also refuses common passwords, dictionary words with substitutions,
/// keyboard walks and variations of the user's own e-mail address).
///
/// Its `Debug` output never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

/// Why a password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("password must be at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
    #[error("password is too common or too easy to guess; try a longer phrase")]
    TooWeak,
}

impl Password {
    /// Checks a new password against the policy. `user_inputs` are words
    /// the password must not be built from (the e-mail address).
    pub fn parse(input: &str, user_inputs: &[&str]) -> Result<Self, PasswordError> {
        check_length(input)?;
        let prefix_end = input
            .char_indices()
            .nth(STRENGTH_PREFIX_CHARS)
            .map_or(input.len(), |(i, _)| i);
        let entropy = zxcvbn(&input[..prefix_end], user_inputs);
        if entropy.score() < Score::Three {
            return Err(PasswordError::TooWeak);
        }
        Ok(Self(input.to_owned()))
    }

    /// The secret itself, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Checks only the length bounds. Used for passwords given at sign-in, which
/// are compared, not accepted, and must not be hashed when absurdly long.
pub fn check_length(input: &str) -> Result<(), PasswordError> {
    let chars = input.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        Err(PasswordError::TooShort)
    } else if chars > MAX_PASSWORD_CHARS {
        Err(PasswordError::TooLong)
    } else {
        Ok(())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn policy_decides_as_documented() {
        let long = "x".repeat(257);
        let cases: [(&str, &[&str], Result<(), PasswordError>); 10] = [
            ("short", &[], Err(PasswordError::TooShort)),
            ("1234567", &[], Err(PasswordError::TooShort)),
            ("password", &[], Err(PasswordError::TooWeak)),
            ("password1", &[], Err(PasswordError::TooWeak)),
            ("P@ssw0rd!", &[], Err(PasswordError::TooWeak)),
            ("qwertyuiop", &[], Err(PasswordError::TooWeak)),
            (
                "alice2024!",
                &["alice@example.com"],
                Err(PasswordError::TooWeak),
            ),
            (&long, &[], Err(PasswordError::TooLong)),
            ("correct horse battery staple", &[], Ok(())),
            ("väter-Ünsere-Kätzchen-✓", &[], Ok(())),
        ];
        for (input, user_inputs, want) in cases {
            assert_eq!(
                Password::parse(input, user_inputs).map(|_| ()),
                want,
                "policy on {input:?}"
            );
        }
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        // Eight four-byte characters: 32 bytes but exactly the minimum.
        assert_eq!(check_length("😀😀😀😀😀😀😀😀"), Ok(()));
        assert_eq!(check_length("😀😀😀😀😀😀😀"), Err(PasswordError::TooShort));
        let max = "é".repeat(MAX_PASSWORD_CHARS);
        assert_eq!(check_length(&max), Ok(()));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let p = Password::parse("correct horse battery staple", &[]).expect("strong");
        assert!(!format!("{p:?}").contains("horse"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn accepted_passwords_are_within_bounds(s in "\\PC{0,300}") {
            if let Ok(p) = Password::parse(&s, &[]) {
                let n = p.expose().chars().count();
                prop_assert!((MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n));
                prop_assert_eq!(p.expose(), s.as_str());
            }
        }

        #[test]
        fn long_random_passphrases_are_accepted(words in proptest::collection::vec("[a-z]{5,9}", 5)) {
            // Five random lower-case words are far beyond 10^10 guesses.
            let phrase = words.join("-");
            prop_assert!(Password::parse(&phrase, &[]).is_ok(), "{phrase}");
        }
    }
}
