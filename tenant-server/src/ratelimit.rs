//! Token-bucket rate limits per client IP (before authentication), per user (after) and on the
//! authorization endpoints. With one replica (the embedded store) the buckets live in memory;
//! with Redis they live there, so that the replicas together allow the configured rate, not one
//! rate each.

use std::{
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use mcp_tenancy_config::{RateLimit, RateLimits};

use crate::{metrics::Metrics, store::Shared};

/// How often, at most, a limiter logs that its shared buckets are unreachable.
const OUTAGE_LOG_EVERY_SECS: u64 = 10;

/// What a shared limit does while the store cannot answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outage {
    /// Counts in this replica's own bucket instead: the MCP endpoint, where an outage of the
    /// shared state must not stop users' work (each replica then allows the configured rate).
    FallBack,
    /// Refuses: the authorization endpoints, where an outage must not make guessing easier (and
    /// which need the store anyway).
    Refuse,
}

/// Why a request may not proceed.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Over the limit; it may in this long.
    Wait(Duration),
    /// The shared buckets are unreachable and the limit refuses then ([`Outage::Refuse`]).
    Unavailable,
}

/// Buckets in the store the replicas share.
struct SharedBuckets {
    store: Arc<dyn Shared>,
    /// The bucket keys' namespace, and the metric label: `ip`, `user`, `auth`.
    scope: &'static str,
    outage: Outage,
    metrics: Metrics,
    /// When the last outage was logged (Unix seconds).
    logged: AtomicU64,
}

/// One keyed token bucket: `requests` at once, refilled at `requests` per `period`.
pub struct Limiter {
    local: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
    limit: RateLimit,
    shared: Option<SharedBuckets>,
}

impl Limiter {
    /// Buckets in this replica's memory.
    pub fn new(limit: RateLimit) -> Self {
        let burst = NonZeroU32::new(limit.requests).unwrap_or(NonZeroU32::MIN);
        let period = limit.period.as_duration().max(Duration::from_millis(1));
        let per_request = period / burst.get();
        let quota = Quota::with_period(per_request.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(burst))
            .allow_burst(burst);
        Self {
            local: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
            limit,
            shared: None,
        }
    }

    /// Buckets in `store`, shared by every replica; `scope` names them (and labels the metric).
    pub fn shared(
        limit: RateLimit,
        store: Arc<dyn Shared>,
        scope: &'static str,
        outage: Outage,
        metrics: Metrics,
    ) -> Self {
        Self {
            shared: Some(SharedBuckets {
                store,
                scope,
                outage,
                metrics,
                logged: AtomicU64::new(0),
            }),
            ..Self::new(limit)
        }
    }

    /// `limits.auth`: shared when the store is, and refusing while it is unreachable.
    pub fn auth(limit: RateLimit, shared: Option<Arc<dyn Shared>>, metrics: &Metrics) -> Self {
        match shared {
            Some(store) => Self::shared(limit, store, "auth", Outage::Refuse, metrics.clone()),
            None => Self::new(limit),
        }
    }

    /// `Ok` when the request may proceed.
    pub async fn check(&self, key: &str) -> Result<(), Refusal> {
        let Some(shared) = &self.shared else {
            return self.check_local(key);
        };
        // The limit is part of the name: a changed limit (the replicas restart with it) starts
        // new buckets instead of waiting out the old rate.
        let (requests, period) = (self.limit.requests, self.limit.period.as_duration().as_secs());
        let bucket = format!("rate/{}/{requests}per{period}s/{key}", shared.scope);
        match shared.store.acquire(&bucket, self.limit).await {
            Ok(answer) => answer.map_err(Refusal::Wait),
            Err(error) => {
                shared
                    .metrics
                    .shared_state_errors
                    .with_label_values(&["rate_limit"])
                    .inc();
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let last = shared.logged.load(Ordering::Relaxed);
                if now >= last + OUTAGE_LOG_EVERY_SECS
                    && shared
                        .logged
                        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    let fallback = match shared.outage {
                        Outage::FallBack => "counting in this replica's own buckets",
                        Outage::Refuse => "refusing requests",
                    };
                    tracing::warn!(%error, scope = shared.scope, "shared rate limit unavailable: {fallback}");
                }
                match shared.outage {
                    Outage::FallBack => self.check_local(key),
                    Outage::Refuse => Err(Refusal::Unavailable),
                }
            }
        }
    }

    fn check_local(&self, key: &str) -> Result<(), Refusal> {
        self.local
            .check_key(&key.to_owned())
            .map_err(|not_until| Refusal::Wait(not_until.wait_time_from(self.clock.now())))
    }

    /// Forgets in-memory buckets that are full again, so idle keys do not pile up (shared ones
    /// expire in the store).
    pub fn sweep(&self) {
        self.local.retain_recent();
        self.local.shrink_to_fit();
    }
}

/// The limits in front of `/mcp`.
pub struct RateLimiters {
    pub per_ip: Limiter,
    pub per_user: Limiter,
}

impl RateLimiters {
    /// In this replica's memory (the embedded store), or in `shared` (Redis), falling back to
    /// memory while it is unreachable.
    pub fn new(limits: &RateLimits, shared: Option<Arc<dyn Shared>>, metrics: &Metrics) -> Self {
        match shared {
            None => Self {
                per_ip: Limiter::new(limits.per_ip),
                per_user: Limiter::new(limits.per_user),
            },
            Some(store) => Self {
                per_ip: Limiter::shared(
                    limits.per_ip,
                    store.clone(),
                    "ip",
                    Outage::FallBack,
                    metrics.clone(),
                ),
                per_user: Limiter::shared(limits.per_user, store, "user", Outage::FallBack, metrics.clone()),
            },
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
    use async_trait::async_trait;
    use tokio::sync::mpsc;

    use super::*;
    use crate::store::StoreError;

    /// A shared store that is down.
    struct Down;

    #[async_trait]
    impl Shared for Down {
        async fn acquire(&self, _: &str, _: RateLimit) -> Result<Result<(), Duration>, StoreError> {
            Err(StoreError::Io("connection refused".into()))
        }
        async fn publish(&self, _: &str, _: &str) -> Result<(), StoreError> {
            Err(StoreError::Io("connection refused".into()))
        }
        fn subscribe(&self, _: &str) -> mpsc::Receiver<String> {
            mpsc::channel(1).1
        }
    }

    #[tokio::test]
    async fn refuses_after_the_burst_and_says_when_to_retry() {
        let limiter = Limiter::new(RateLimit::new(3, 60));
        for _ in 0..3 {
            assert!(limiter.check("u").await.is_ok());
        }
        let Err(Refusal::Wait(wait)) = limiter.check("u").await else {
            panic!("the fourth request passed");
        };
        assert!(
            wait > Duration::from_secs(10) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(limiter.check("other").await.is_ok(), "buckets are per key");
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
    }

    /// A shared store that answers from the bucket names it was asked for: the first request of a
    /// bucket passes, the next waits.
    #[derive(Default)]
    struct Named(std::sync::Mutex<Vec<String>>);

    #[async_trait]
    impl Shared for Named {
        async fn acquire(&self, key: &str, _: RateLimit) -> Result<Result<(), Duration>, StoreError> {
            let mut seen = self.0.lock().unwrap();
            let first = !seen.iter().any(|k| k == key);
            seen.push(key.to_owned());
            Ok(if first {
                Ok(())
            } else {
                Err(Duration::from_secs(1))
            })
        }
        async fn publish(&self, _: &str, _: &str) -> Result<(), StoreError> {
            Ok(())
        }
        fn subscribe(&self, _: &str) -> mpsc::Receiver<String> {
            mpsc::channel(1).1
        }
    }

    #[tokio::test]
    async fn shared_buckets_are_per_scope_key_and_limit() {
        let metrics = Metrics::new().unwrap();
        let store = Arc::new(Named::default());
        let limiter =
            |limit, scope| Limiter::shared(limit, store.clone(), scope, Outage::FallBack, metrics.clone());
        let strict = limiter(RateLimit::new(1, 900), "user");
        assert!(strict.check("u").await.is_ok());
        assert!(matches!(strict.check("u").await, Err(Refusal::Wait(_))));
        // Raised (the replicas restart with it): a new bucket, not the old one's wait.
        assert!(limiter(RateLimit::new(1000, 60), "user").check("u").await.is_ok());
        assert!(limiter(RateLimit::new(1, 900), "ip").check("u").await.is_ok());
        let names = store.0.lock().unwrap().clone();
        assert_eq!(
            names,
            [
                "rate/user/1per900s/u",
                "rate/user/1per900s/u",
                "rate/user/1000per60s/u",
                "rate/ip/1per900s/u"
            ]
        );
    }

    #[tokio::test]
    async fn an_outage_falls_back_to_local_buckets_or_refuses_and_is_counted() {
        let metrics = Metrics::new().unwrap();
        let down = || Arc::new(Down) as Arc<dyn Shared>;
        let fallback = Limiter::shared(
            RateLimit::new(2, 60),
            down(),
            "user",
            Outage::FallBack,
            metrics.clone(),
        );
        assert!(fallback.check("u").await.is_ok());
        assert!(fallback.check("u").await.is_ok());
        assert!(
            matches!(fallback.check("u").await, Err(Refusal::Wait(_))),
            "the local bucket still limits"
        );
        let refuse = Limiter::shared(
            RateLimit::new(2, 60),
            down(),
            "auth",
            Outage::Refuse,
            metrics.clone(),
        );
        assert_eq!(refuse.check("192.0.2.1").await, Err(Refusal::Unavailable));
        let errors = metrics
            .shared_state_errors
            .with_label_values(&["rate_limit"])
            .get();
        assert_eq!(errors, 4);
    }
}
