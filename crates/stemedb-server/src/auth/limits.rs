//! Token-bucket rate limits per API key and per client IP (`[limits]`),
//! with `governor`'s keyed limiters. A refused request is 429
//! `rate_limited` with `Retry-After` (whole seconds, rounded up, from the
//! limiter's own wait time) and counted in
//! `stemedb_throttled_requests_total{by="key"|"ip"}`.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// Forget idle buckets every this many checks (bounds memory under many IPs).
const SWEEP_EVERY: u64 = 4096;

/// Per-key and per-IP limiters (each `None` = unlimited).
#[derive(Default)]
pub struct RateLimits {
    per_key: Option<DefaultKeyedRateLimiter<String>>,
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    checks: AtomicU64,
}

fn quota(rps: u32, burst: Option<u32>) -> Option<Quota> {
    let rps = NonZeroU32::new(rps)?;
    let burst = burst.and_then(NonZeroU32::new).unwrap_or(rps);
    Some(Quota::per_second(rps).allow_burst(burst))
}

impl RateLimits {
    /// Limits of `per_key_rps` / `per_ip_rps` requests per second with
    /// bursts of `burst` (default: one second's worth).
    pub fn new(per_key_rps: Option<u32>, per_ip_rps: Option<u32>, burst: Option<u32>) -> Self {
        RateLimits {
            per_key: per_key_rps
                .and_then(|r| quota(r, burst))
                .map(RateLimiter::keyed),
            per_ip: per_ip_rps
                .and_then(|r| quota(r, burst))
                .map(RateLimiter::keyed),
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one token from the bucket of API key `name`.
    pub fn check_key(&self, name: &str) -> Result<(), ApiError> {
        match &self.per_key {
            Some(l) => self.check(l, &name.to_owned(), "key"),
            None => Ok(()),
        }
    }

    /// Takes one token from the bucket of client address `ip`.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        match &self.per_ip {
            Some(l) => self.check(l, &ip, "ip"),
            None => Ok(()),
        }
    }

    fn check<K: Hash + Eq + Clone>(
        &self,
        limiter: &DefaultKeyedRateLimiter<K>,
        key: &K,
        by: &'static str,
    ) -> Result<(), ApiError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
        }
        match limiter.check_key(key) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let secs = u32::try_from(wait.as_millis().div_ceil(1000))
                    .unwrap_or(u32::MAX)
                    .max(1);
                metrics::counter!("stemedb_throttled_requests_total", "by" => by).increment(1);
                let mut e = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!(
                        "too many requests for this {}; retry after {secs} s (limits.per_{by}_rps)",
                        if by == "ip" {
                            "client address"
                        } else {
                            "API key"
                        }
                    ),
                );
                e.retry_after = Some(secs);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refuses_past_burst_with_retry_after() {
        let l = RateLimits::new(Some(1), None, Some(3));
        for _ in 0..3 {
            l.check_key("a").expect("within burst");
        }
        let e = l.check_key("a").expect_err("over burst");
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.retry_after, Some(1));
        l.check_key("b").expect("other key has its own bucket");
        l.check_ip("127.0.0.1".parse().expect("ip"))
            .expect("no per-ip limit configured");
    }
}
