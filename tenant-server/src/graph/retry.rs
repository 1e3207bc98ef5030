//! How throttling, outages and transport errors are retried: one budget of attempts and waiting
//! per request (or per `$batch` chunk), shared by every kind of retry.

use std::time::Duration;

/// How throttling and outages are retried.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, including the first.
    pub max_attempts: u32,
    /// The most time spent waiting between attempts of one request; a Retry-After beyond what
    /// is left fails at once (the tool tells the model when to try again).
    pub max_total_wait: Duration,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            max_total_wait: Duration::from_secs(20),
            base_delay: Duration::from_millis(400),
            max_delay: Duration::from_secs(8),
        }
    }
}

/// The attempts and waiting left to one request under a [`RetryPolicy`].
pub(super) struct RetryBudget<'a> {
    policy: &'a RetryPolicy,
    attempt: u32,
    waited: Duration,
}

impl<'a> RetryBudget<'a> {
    pub(super) fn new(policy: &'a RetryPolicy) -> Self {
        Self {
            policy,
            attempt: 0,
            waited: Duration::ZERO,
        }
    }

    /// Counts one more attempt (the first call counts the first attempt).
    pub(super) fn start_attempt(&mut self) {
        self.attempt += 1;
    }

    /// Whether another attempt may follow the current one.
    pub(super) fn has_attempts_left(&self) -> bool {
        self.attempt < self.policy.max_attempts
    }

    /// Exponential backoff for the current attempt, capped, with "equal jitter" (half fixed, half
    /// random) so concurrent callers spread out.
    pub(super) fn backoff(&self) -> Duration {
        let p = self.policy;
        let exp = p
            .base_delay
            .saturating_mul(1 << self.attempt.saturating_sub(1).min(16));
        let capped = exp.min(p.max_delay);
        capped / 2 + capped.mul_f64(fastrand::f64() / 2.0)
    }

    /// Spends `delay` (a Retry-After; the backoff when `None`) on one more attempt: the time to
    /// wait before it, or `None` when no attempt is left or the wait would exceed the total.
    pub(super) fn retry_after(&mut self, delay: Option<Duration>) -> Option<Duration> {
        if !self.has_attempts_left() {
            return None;
        }
        let delay = delay.unwrap_or_else(|| self.backoff());
        if self.waited + delay > self.policy.max_total_wait {
            return None;
        }
        self.waited += delay;
        Some(delay)
    }
}

/// Longest Retry-After taken at its word; a larger value (Graph never sends one) is clamped so that
/// adding it to the time already waited cannot overflow.
const MAX_RETRY_AFTER_SECS: u64 = 24 * 3_600;

/// A Retry-After of `secs` seconds.
pub(super) fn retry_after_delay(secs: u64) -> Duration {
    Duration::from_secs(secs.min(MAX_RETRY_AFTER_SECS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_retry_after_values_are_clamped_not_overflowed() {
        let delay = retry_after_delay(u64::MAX);
        assert_eq!(delay, Duration::from_secs(MAX_RETRY_AFTER_SECS));
        assert!(Duration::from_secs(20).checked_add(delay).is_some());
        assert_eq!(retry_after_delay(7), Duration::from_secs(7));
    }

    #[test]
    fn the_budget_bounds_attempts_and_total_wait() {
        let policy = RetryPolicy {
            max_attempts: 3,
            max_total_wait: Duration::from_secs(5),
            ..RetryPolicy::default()
        };
        let mut budget = RetryBudget::new(&policy);
        budget.start_attempt();
        assert_eq!(budget.retry_after(Some(Duration::from_secs(6))), None);
        assert_eq!(
            budget.retry_after(Some(Duration::from_secs(3))),
            Some(Duration::from_secs(3))
        );
        budget.start_attempt();
        assert_eq!(budget.retry_after(Some(Duration::from_secs(3))), None);
        let backoff = budget.retry_after(None).unwrap();
        assert!(backoff <= policy.base_delay * 2, "{backoff:?}");
        budget.start_attempt();
        assert!(!budget.has_attempts_left());
        assert_eq!(budget.retry_after(Some(Duration::ZERO)), None);
    }
}
