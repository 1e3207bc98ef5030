//! A bounded cache of verified tokens, keyed by the SHA-256 of the token and kept until the
//! token's `exp`. The token itself is compared in constant time on a hit, so a digest collision
//! can never stand in for a token.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use crate::{
    caller::Caller,
    clock::now_secs,
    crypto::{constant_time_eq, sha256},
};

type Digest = [u8; 32];

struct Entry {
    caller: Arc<Caller>,
    expires_at: u64,
}

pub struct TokenCache {
    capacity: usize,
    entries: Mutex<HashMap<Digest, Entry>>,
}

impl TokenCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, token: &str) -> Option<Arc<Caller>> {
        let key = sha256(token.as_bytes());
        let now = now_secs();
        let caller = {
            let mut entries = self.entries.lock().ok()?;
            let entry = entries.get(&key)?;
            if entry.expires_at <= now {
                entries.remove(&key);
                return None;
            }
            entry.caller.clone()
        };
        let stored = caller.assertion.as_ref()?;
        constant_time_eq(stored.expose().as_bytes(), token.as_bytes()).then_some(caller)
    }

    pub fn insert(&self, token: &str, caller: Arc<Caller>, expires_at: u64) {
        if self.capacity == 0 {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= self.capacity {
            let now = now_secs();
            entries.retain(|_, e| e.expires_at > now);
            // Still full: drop an arbitrary entry; its token is simply verified again.
            if entries.len() >= self.capacity
                && let Some(victim) = entries.keys().next().copied()
            {
                entries.remove(&victim);
            }
        }
        entries.insert(sha256(token.as_bytes()), Entry { caller, expires_at });
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caller::Secret;

    fn caller(token: &str) -> Arc<Caller> {
        Arc::new(Caller {
            assertion: Some(Secret::new(token)),
            grant_id: None,
            ..crate::testing::caller("s")
        })
    }

    #[test]
    fn keeps_entries_until_exp_and_stays_bounded() {
        let cache = TokenCache::new(2);
        let now = now_secs();
        cache.insert("a", caller("a"), now + 60);
        cache.insert("b", caller("b"), now - 1);
        assert!(cache.get("a").is_some());
        assert!(cache.get("b").is_none(), "expired entries are not served");
        cache.insert("c", caller("c"), now + 60);
        cache.insert("d", caller("d"), now + 60);
        assert!(cache.len() <= 2);
        assert!(cache.get("zzz").is_none());
    }
}
