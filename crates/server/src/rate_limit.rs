//! Rate limits with `governor` (GCRA, in memory per node): [`IpRateLimit`]
//! per address for `/auth/*` (the middleware in `http` answers 429
//! `TooManyRequests` with `Retry-After`), and [`ApiRateLimit`] for the data
//! API (`/graphql` and the operations of WebSockets) per caller, counting
//! root fields. Below `graphql` and `http` so that both use them.
//!
//! The client is the TCP peer, unless the peer is a trusted proxy
//! (`TASKSYNC_TRUSTED_PROXIES`): then it is the rightmost address of
//! `X-Forwarded-For` that is not itself a trusted proxy. Only the part of
//! the header that trusted proxies appended is believed; anything a client
//! wrote there itself is to the left of it and never used.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use ipnet::IpNet;

/// The address a request from `peer` is counted against: `peer` itself,
/// unless it is one of the `trusted` proxies; then the rightmost address
/// of `X-Forwarded-For` that is not itself trusted.
pub fn client_ip(trusted: &[IpNet], peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let is_trusted = |ip: IpAddr| {
        let ip = ip.to_canonical();
        trusted.iter().any(|net| net.contains(&ip))
    };
    if !is_trusted(peer) {
        return peer;
    }
    // Hops in the order they were appended; several header lines count as
    // one list.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            // Garbage appended by a trusted proxy: stop at the last address
            // known to be good.
            Err(_) => break,
        }
    }
    client
}

/// A keyed limiter shared by the middleware and its cleanup task.
#[derive(Debug, Clone)]
pub struct IpRateLimit {
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    trusted: Arc<[IpNet]>,
}

impl IpRateLimit {
    pub fn per_minute(rate: u32, burst: u32, trusted_proxies: &[IpNet]) -> Self {
        let rate = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: Arc::new(DefaultKeyedRateLimiter::keyed(
                Quota::per_minute(rate).allow_burst(burst),
            )),
            trusted: trusted_proxies.into(),
        }
    }

    /// The address a request is counted against ([`client_ip`]).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        client_ip(&self.trusted, peer, headers)
    }

    /// `Err(wait)` when `ip` is over its limit.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        self.limiter
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets addresses whose budget is full again, so memory stays bounded.
    pub fn retain_recent(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// Who a data-API request is counted against: the signed-in user, or the
/// address of an anonymous caller (who can run nothing but `__typename`,
/// but still costs parsing and validation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Caller {
    User(tasksync_core::UserId),
    Anonymous(IpAddr),
}

/// The data API's rate limit: each caller may run `per_second` root fields
/// a second (each a resolver that reads or writes the database), in bursts
/// of up to `burst`. In memory, per node.
#[derive(Debug, Clone)]
pub struct ApiRateLimit {
    limiter: Arc<DefaultKeyedRateLimiter<Caller>>,
    /// The most one check costs: a larger cost could never be paid.
    burst: NonZeroU32,
    trusted: Arc<[IpNet]>,
}

impl ApiRateLimit {
    pub fn per_second(per_second: u32, burst: u32, trusted_proxies: &[IpNet]) -> Self {
        let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: Arc::new(DefaultKeyedRateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            )),
            burst,
            trusted: trusted_proxies.into(),
        }
    }

    /// An anonymous caller: its address ([`client_ip`]).
    pub fn anonymous(&self, peer: IpAddr, headers: &HeaderMap) -> Caller {
        Caller::Anonymous(client_ip(&self.trusted, peer, headers))
    }

    /// Takes `cost` (at least 1, at most the burst: any request can be
    /// paid for by waiting) from `caller`'s budget, or `Err(wait)` when it
    /// does not hold that much now (nothing is taken then).
    pub fn check(&self, caller: Caller, cost: usize) -> Result<(), Duration> {
        let cost = u32::try_from(cost.max(1))
            .ok()
            .and_then(NonZeroU32::new)
            .unwrap_or(NonZeroU32::MAX)
            .min(self.burst);
        let refused = match self.limiter.check_key_n(&caller, cost) {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(not_until)) => not_until.wait_time_from(DefaultClock::default().now()),
            Err(_insufficient) => Duration::from_secs(1),
        };
        metrics::counter!("tasksync_api_rate_limited_total").increment(1);
        Err(refused)
    }

    /// The most one check can cost (the burst).
    pub fn max_cost(&self) -> u32 {
        self.burst.get()
    }

    /// Forgets callers whose budget is full again.
    pub fn retain_recent(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// The mail budget of list invitations ("a list was shared with you"): at
/// most `per_recipient` notices an hour to one address and `per_sender` an
/// hour from one user, in memory, per node. A share beyond either still
/// happens and answers as ever; only its notice is not sent, so neither a
/// list owner nor a script can make the server mail an address without end.
#[derive(Debug, Clone)]
pub struct ShareNotices {
    recipients: Arc<DefaultKeyedRateLimiter<String>>,
    senders: Arc<DefaultKeyedRateLimiter<tasksync_core::UserId>>,
}

impl ShareNotices {
    pub fn per_hour(per_recipient: u32, per_sender: u32) -> Self {
        let quota = |n: u32| {
            let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
            Quota::per_hour(n).allow_burst(n)
        };
        Self {
            recipients: Arc::new(DefaultKeyedRateLimiter::keyed(quota(per_recipient))),
            senders: Arc::new(DefaultKeyedRateLimiter::keyed(quota(per_sender))),
        }
    }

    /// Whether `sender` may mail one more notice to `recipient` now (and
    /// if so, it is counted).
    pub fn allow(&self, sender: tasksync_core::UserId, recipient: &str) -> bool {
        let allowed = self.senders.check_key(&sender).is_ok()
            && self.recipients.check_key(&recipient.to_owned()).is_ok();
        if !allowed {
            metrics::counter!("tasksync_share_notices_dropped_total").increment(1);
        }
        allowed
    }

    /// Forgets addresses and senders whose budget is full again.
    pub fn retain_recent(&self) {
        self.recipients.retain_recent();
        self.recipients.shrink_to_fit();
        self.senders.retain_recent();
        self.senders.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_limit_counts_root_fields_per_caller() {
        let limit = ApiRateLimit::per_second(1, 10, &[]);
        let a = Caller::User(tasksync_core::UserId::new());
        let b = Caller::Anonymous(ip("198.51.100.1"));
        assert_eq!(limit.check(a, 6), Ok(()));
        assert_eq!(limit.check(a, 4), Ok(()), "the burst is 10 in all");
        let wait = limit.check(a, 1).expect_err("spent");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert_eq!(limit.check(b, 10), Ok(()), "callers are counted apart");
        assert!(limit.check(b, 0).is_err(), "a cost of 0 still costs 1");
        let fresh = ApiRateLimit::per_second(1, 10, &[]);
        assert_eq!(
            fresh.check(a, 11),
            Ok(()),
            "a cost beyond the burst costs the burst, so it can be paid"
        );
        assert!(fresh.check(a, 1).is_err(), "and it took the whole burst");
    }

    #[test]
    fn share_notices_are_budgeted_per_recipient_and_per_sender() {
        let notices = ShareNotices::per_hour(2, 3);
        let (alice, bob) = (tasksync_core::UserId::new(), tasksync_core::UserId::new());
        assert!(notices.allow(alice, "x@example.com"));
        assert!(notices.allow(bob, "x@example.com"));
        assert!(
            !notices.allow(alice, "x@example.com"),
            "two notices an hour to one address, whoever sends them"
        );
        assert!(notices.allow(alice, "y@example.com"));
        assert!(
            !notices.allow(alice, "z@example.com"),
            "alice sent her three (the refused one counts)"
        );
        assert!(
            notices.allow(bob, "z@example.com"),
            "bob has his own budget"
        );
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().expect("header"));
        }
        h
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_forwarded_address_behind_trusted_proxies() {
        let trusted: Vec<IpNet> = vec![
            "10.0.0.0/8".parse().expect("net"),
            "127.0.0.1/32".parse().expect("net"),
        ];
        let limit = IpRateLimit::per_minute(60, 20, &trusted);
        let proxy = ip("127.0.0.1");
        let cases: &[(&str, IpAddr, &[&str], &str)] = &[
            (
                "an untrusted peer is the client",
                ip("203.0.113.9"),
                &["198.51.100.1"],
                "203.0.113.9",
            ),
            (
                "trusted peer, one hop",
                proxy,
                &["198.51.100.1"],
                "198.51.100.1",
            ),
            (
                "a client's own forged entry is left of the real one",
                proxy,
                &["1.2.3.4, 198.51.100.1"],
                "198.51.100.1",
            ),
            (
                "trusted hops are skipped",
                proxy,
                &["198.51.100.1, 10.1.2.3"],
                "198.51.100.1",
            ),
            (
                "several header lines are one list",
                proxy,
                &["198.51.100.1", "10.1.2.3"],
                "198.51.100.1",
            ),
            ("no header: the proxy itself", proxy, &[], "127.0.0.1"),
            (
                "garbage stops the walk",
                proxy,
                &["198.51.100.1, nonsense"],
                "127.0.0.1",
            ),
            (
                "all hops trusted: the leftmost",
                proxy,
                &["10.0.0.7, 10.0.0.8"],
                "10.0.0.7",
            ),
            (
                "IPv4-mapped peer is trusted",
                ip("::ffff:127.0.0.1"),
                &["198.51.100.1"],
                "198.51.100.1",
            ),
        ];
        for (name, peer, header, want) in cases {
            assert_eq!(
                limit.client_ip(*peer, &forwarded(header)),
                ip(want),
                "{name}"
            );
        }
        let untrusting = IpRateLimit::per_minute(60, 20, &[]);
        assert_eq!(
            untrusting.client_ip(proxy, &forwarded(&["198.51.100.1"])),
            proxy
        );
    }
}
