//! Brute-force protection for sign-in.

/// Failed sign-ins allowed before an address has to wait between tries.
pub const FREE_FAILURES: u32 = 5;
/// The longest wait, in seconds (15 minutes).
pub const MAX_DELAY_SECS: u64 = 15 * 60;
/// Failures older than this (one hour) are forgotten: the count starts again.
pub const FORGET_AFTER_MS: i64 = 60 * 60 * 1000;

/// How long, in seconds, an address waits after its `failures`-th
/// consecutive failed sign-in: nothing before the fifth, then 2^(n-5)
/// seconds (1, 2, 4, …) up to 15 minutes.
pub fn delay_secs(failures: u32) -> u64 {
    if failures < FREE_FAILURES {
        return 0;
    }
    let exp = failures - FREE_FAILURES;
    if exp >= 10 {
        MAX_DELAY_SECS
    } else {
        (1u64 << exp).min(MAX_DELAY_SECS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_from_the_fifth_failure_and_caps_at_fifteen_minutes() {
        let cases = [
            (0, 0),
            (4, 0),
            (5, 1),
            (6, 2),
            (7, 4),
            (14, 512),
            (15, 900),
            (u32::MAX, 900),
        ];
        for (failures, want) in cases {
            assert_eq!(delay_secs(failures), want, "after {failures} failures");
        }
    }
}
