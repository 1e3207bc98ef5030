//! A short-lived per-user cache of read-only Graph answers that the combined tools repeat
//! (profile, manager, people, sent items). Entries are keyed by the caller's user key, so one
//! user's data is never served to another; the cache is bounded in entries and time.

use std::{sync::Arc, time::Duration};

use moka::future::Cache;
use prometheus::{IntCounterVec, Opts, Registry};
use serde_json::Value;

use crate::caller::Caller;

/// What is cached; also the `kind` metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CacheKind {
    Profile,
    Manager,
    People,
    SentItems,
}

impl CacheKind {
    pub const fn label(self) -> &'static str {
        match self {
            Self::Profile => "profile",
            Self::Manager => "manager",
            Self::People => "people",
            Self::SentItems => "sent_items",
        }
    }
}

/// Per-user cache with hit/miss metrics (`graph_cache_lookups_total{kind,result}`).
pub struct UserCache {
    entries: Cache<(String, CacheKind), Arc<Value>>,
    lookups: IntCounterVec,
}

impl UserCache {
    pub fn new(ttl: Duration, max_entries: u64, registry: &Registry) -> Result<Self, prometheus::Error> {
        let lookups = IntCounterVec::new(
            Opts::new(
                "graph_cache_lookups_total",
                "Per-user Graph cache lookups by kind and result",
            ),
            &["kind", "result"],
        )?;
        registry.register(Box::new(lookups.clone()))?;
        let entries = Cache::builder()
            .max_capacity(max_entries)
            .time_to_live(ttl)
            .build();
        Ok(Self { entries, lookups })
    }

    pub async fn get(&self, caller: &Caller, kind: CacheKind) -> Option<Arc<Value>> {
        let hit = self.entries.get(&(caller.user_key(), kind)).await;
        let result = if hit.is_some() { "hit" } else { "miss" };
        self.lookups.with_label_values(&[kind.label(), result]).inc();
        hit
    }

    pub async fn insert(&self, caller: &Caller, kind: CacheKind, value: Value) -> Arc<Value> {
        let value = Arc::new(value);
        self.entries
            .insert((caller.user_key(), kind), value.clone())
            .await;
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caller::Caller;

    pub(crate) fn caller(oid: &str) -> Caller {
        Caller {
            object_id: Some(oid.into()),
            tenant_id: Some("t1".into()),
            ..crate::testing::caller(&format!("sub-{oid}"))
        }
    }

    #[tokio::test]
    async fn entries_are_per_user_and_counted() {
        let registry = Registry::new();
        let cache = UserCache::new(Duration::from_secs(60), 100, &registry).unwrap();
        let (a, b) = (caller("a"), caller("b"));
        cache
            .insert(&a, CacheKind::Manager, serde_json::json!({"id": "m"}))
            .await;
        assert!(cache.get(&a, CacheKind::Manager).await.is_some());
        assert!(cache.get(&b, CacheKind::Manager).await.is_none());
        assert!(cache.get(&a, CacheKind::People).await.is_none());
        let hits = cache.lookups.with_label_values(&["manager", "hit"]).get();
        let misses = cache.lookups.with_label_values(&["manager", "miss"]).get();
        assert_eq!((hits, misses), (1, 1));
    }

    #[tokio::test]
    async fn entries_expire() {
        let cache = UserCache::new(Duration::from_millis(50), 100, &Registry::new()).unwrap();
        let a = caller("a");
        cache.insert(&a, CacheKind::Profile, serde_json::json!({})).await;
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(cache.get(&a, CacheKind::Profile).await.is_none());
    }
}
