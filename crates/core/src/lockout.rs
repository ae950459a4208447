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

/// An address's throttle as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Throttle {
    /// Attempts counted since the last success (or since they were forgotten).
    pub failures: u32,
    /// No attempt is evaluated before this time (epoch ms).
    pub locked_until: i64,
    /// When the last attempt was counted (epoch ms).
    pub last_failure_at: i64,
}

/// What becomes of a sign-in attempt, decided before its password is
/// checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The address waits until then; the password is not checked.
    Locked { until: i64 },
    /// The password may be checked. The attempt already counts as a
    /// failure in `throttle` (to be stored); a success clears it.
    Allowed(Throttle),
}

/// Decides an attempt at `now` on the stored throttle. Counting the attempt
/// as a failure *before* its password is checked, under the same lock that
/// reads the throttle, is what makes the limit hold for attempts sent at
/// once: of 40 concurrent guesses, 5 are checked and the rest wait.
pub fn reserve(stored: Option<Throttle>, now: i64) -> Attempt {
    if let Some(t) = stored
        && t.locked_until > now
    {
        return Attempt::Locked {
            until: t.locked_until,
        };
    }
    let failures = match stored {
        Some(t) if t.last_failure_at >= now.saturating_sub(FORGET_AFTER_MS) => {
            t.failures.saturating_add(1)
        }
        _ => 1,
    };
    let delay_ms = i64::try_from(delay_secs(failures).saturating_mul(1000)).unwrap_or(i64::MAX);
    Attempt::Allowed(Throttle {
        failures,
        locked_until: if delay_ms > 0 {
            now.saturating_add(delay_ms)
        } else {
            0
        },
        last_failure_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_counted_before_they_are_checked_and_lock_from_the_fifth() {
        let mut stored = None;
        for i in 0..5 {
            match reserve(stored, 1_000 + i) {
                Attempt::Allowed(t) => stored = Some(t),
                locked => panic!("attempt {i} refused: {locked:?}"),
            }
        }
        assert_eq!(
            stored.map(|t| (t.failures, t.locked_until)),
            Some((5, 2_004))
        );
        assert_eq!(reserve(stored, 1_005), Attempt::Locked { until: 2_004 });
        let Attempt::Allowed(sixth) = reserve(stored, 2_004) else {
            panic!("the wait is over at 2,004");
        };
        assert_eq!((sixth.failures, sixth.locked_until), (6, 4_004));
        let Attempt::Allowed(later) = reserve(Some(sixth), 4_004 + FORGET_AFTER_MS + 1) else {
            panic!("an hour later");
        };
        assert_eq!(later.failures, 1, "an hour later the count starts again");
    }

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
