//! Verification codes.

use std::fmt;

/// Number of digits in a mailed code.
pub const CODE_DIGITS: usize = 6;

/// A six-digit code as typed by a user. It is compared, never trusted: the
/// server checks it against the stored hash.
#[derive(Clone, PartialEq, Eq)]
pub struct VerificationCode(String);

impl VerificationCode {
    /// Accepts exactly six ASCII digits, ignoring surrounding white space.
    pub fn parse(input: &str) -> Option<Self> {
        let s = input.trim();
        (s.len() == CODE_DIGITS && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Self(s.to_owned()))
    }

    /// Formats a number below 10^6 as a zero-padded code.
    pub fn from_number(n: u32) -> Self {
        Self(format!("{:06}", n % 1_000_000))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for VerificationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerificationCode(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_six_digits_parse() {
        for ok in ["123456", " 000000 ", "999999"] {
            assert!(VerificationCode::parse(ok).is_some(), "{ok:?} should parse");
        }
        for bad in ["", "12345", "1234567", "12345a", "١٢٣٤٥٦", "12 456"] {
            assert!(
                VerificationCode::parse(bad).is_none(),
                "{bad:?} should not parse"
            );
        }
    }

    proptest! {
        #[test]
        fn numbers_round_trip(n in 0u32..1_000_000) {
            let code = VerificationCode::from_number(n);
            prop_assert_eq!(VerificationCode::parse(code.as_str()), Some(code.clone()));
            prop_assert_eq!(code.as_str().parse::<u32>().ok(), Some(n));
        }
    }
}
