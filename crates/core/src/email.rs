//! E-mail addresses.

use std::fmt;

use email_address::{EmailAddress, Options};
use unicode_normalization::UnicodeNormalization as _;

/// The longest address SMTP can carry (RFC 5321 path limit minus the brackets).
pub const MAX_EMAIL_LEN: usize = 254;

/// A syntactically valid e-mail address, trimmed, NFKC-normalised and
/// lower-cased.
///
/// Lower-casing the whole address (not only the domain) is what users expect
/// of a sign-in name: `Alice@Example.com` and `alice@example.com` are one
/// account. NFKC makes the same of look-alike forms (a fullwidth
/// `ｅｘａｍｐｌｅ.com` is `example.com`), and characters that do not show
/// (a zero-width space, a soft hyphen) are refused, as are quoted local
/// parts (`"a"@b`), display names (`Alice <a@b>`) and domain literals: each
/// would give one mailbox a second account.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Email(String);

/// Why a string is not an [`Email`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("e-mail address is empty")]
    Empty,
    #[error("e-mail address is longer than {MAX_EMAIL_LEN} characters")]
    TooLong,
    #[error("e-mail address is not valid")]
    Invalid,
}

impl Email {
    /// Parses user input into an address.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > MAX_EMAIL_LEN {
            return Err(EmailError::TooLong);
        }
        if trimmed
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || invisible(c))
        {
            return Err(EmailError::Invalid);
        }
        let normal: String = trimmed.nfkc().collect();
        if normal.len() > MAX_EMAIL_LEN {
            return Err(EmailError::TooLong);
        }
        if normal.starts_with('"')
            || normal
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || invisible(c))
        {
            return Err(EmailError::Invalid);
        }
        let options = Options::default()
            .without_display_text()
            .without_domain_literal();
        let parsed =
            EmailAddress::parse_with_options(&normal, options).map_err(|_| EmailError::Invalid)?;
        Ok(Self(parsed.as_str().to_lowercase()))
    }

    /// The address as stored, compared and mailed to.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters that take no visible space (format characters, fillers,
/// variation selectors, tags): an address with one looks like another.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
        | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}'
        | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn look_alike_forms_are_one_address_and_hidden_characters_are_refused() {
        let plain = Email::parse("alice@example.com").expect("plain");
        for same in [
            "ａｌｉｃｅ@ｅｘａｍｐｌｅ.ｃｏｍ",
            "alice@EXAMPLE.com",
            "\u{FF21}lice@example.com",
        ] {
            assert_eq!(Email::parse(same).as_ref(), Ok(&plain), "{same:?}");
        }
        for hidden in [
            "al\u{200B}ice@example.com",
            "alice\u{00AD}@example.com",
            "alice@exa\u{FEFF}mple.com",
            "alice@example.com\u{E0041}",
            "\"alice\"@example.com",
            "\"al ice\"@example.com",
        ] {
            assert_eq!(Email::parse(hidden), Err(EmailError::Invalid), "{hidden:?}");
        }
    }

    #[test]
    fn valid_addresses_are_trimmed_and_lowercased() {
        let cases = [
            ("alice@example.com", "alice@example.com"),
            ("  Alice@Example.COM ", "alice@example.com"),
            ("a.b+tag@sub.example.org", "a.b+tag@sub.example.org"),
            ("user@localhost", "user@localhost"),
        ];
        for (input, want) in cases {
            let got = Email::parse(input).unwrap_or_else(|e| panic!("{input:?} refused: {e}"));
            assert_eq!(got.as_str(), want, "parsing {input:?}");
        }
    }

    #[test]
    fn invalid_addresses_are_refused_with_a_reason() {
        let long = format!("{}@example.com", "a".repeat(250));
        let cases: [(&str, EmailError); 10] = [
            ("", EmailError::Empty),
            ("   ", EmailError::Empty),
            ("plainaddress", EmailError::Invalid),
            ("@example.com", EmailError::Invalid),
            ("alice@", EmailError::Invalid),
            ("a b@example.com", EmailError::Invalid),
            ("alice@exa\u{0}mple.com", EmailError::Invalid),
            ("Alice <alice@example.com>", EmailError::Invalid),
            ("alice@[127.0.0.1]", EmailError::Invalid),
            (&long, EmailError::TooLong),
        ];
        for (input, want) in cases {
            assert_eq!(Email::parse(input), Err(want), "parsing {input:?}");
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_is_idempotent(s in "\\PC{0,300}") {
            if let Ok(email) = Email::parse(&s) {
                prop_assert!(email.as_str().len() <= MAX_EMAIL_LEN);
                prop_assert_eq!(Email::parse(email.as_str()), Ok(email.clone()));
                prop_assert_eq!(email.as_str(), email.as_str().to_lowercase());
            }
        }

        #[test]
        fn simple_addresses_always_parse(local in "[a-z0-9]{1,20}", domain in "[a-z]{1,20}\\.[a-z]{2,6}") {
            let input = format!("{local}@{domain}");
            prop_assert_eq!(Email::parse(&input).map(|e| e.as_str().to_owned()), Ok(input));
        }
    }
}
