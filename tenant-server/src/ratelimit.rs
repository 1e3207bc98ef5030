//! Token-bucket rate limits per client IP (before authentication) and per user (after).

use std::{num::NonZeroU32, time::Duration};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use mcp_tenancy_config::{RateLimit, RateLimits};

/// One keyed token bucket.
pub struct Limiter {
    inner: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl Limiter {
    pub fn new(limit: RateLimit) -> Self {
        let burst = NonZeroU32::new(limit.requests).unwrap_or(NonZeroU32::MIN);
        let period = limit.period.as_duration().max(Duration::from_millis(1));
        let per_request = period / burst.get();
        let quota = Quota::with_period(per_request.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(burst))
            .allow_burst(burst);
        Self {
            inner: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }

    /// `Ok` when the request may proceed, else how long until it would.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.inner
            .check_key(&key.to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets buckets that are full again, so idle keys do not pile up.
    pub fn sweep(&self) {
        self.inner.retain_recent();
        self.inner.shrink_to_fit();
    }
}

pub struct RateLimiters {
    pub per_ip: Limiter,
    pub per_user: Limiter,
}

impl RateLimiters {
    pub fn new(limits: &RateLimits) -> Self {
        Self {
            per_ip: Limiter::new(limits.per_ip),
            per_user: Limiter::new(limits.per_user),
        }
    }

    pub fn sweep(&self) {
        self.per_ip.sweep();
        self.per_user.sweep();
    }
}

/// `Retry-After` in whole seconds, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_the_burst_and_says_when_to_retry() {
        let limiter = Limiter::new(RateLimit::new(3, 60));
        for _ in 0..3 {
            assert!(limiter.check("u").is_ok());
        }
        let wait = limiter.check("u").unwrap_err();
        assert!(
            wait > Duration::from_secs(10) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(limiter.check("other").is_ok(), "buckets are per key");
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
    }
}
