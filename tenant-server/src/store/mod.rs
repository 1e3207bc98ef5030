//! Server state that must outlive a request: sessions, authorization codes, tokens, each with a
//! TTL. One interface, two backends: embedded (a file on the pod's volume, one replica) and Redis.

mod embedded;
mod redis;

use std::time::Duration;

use async_trait::async_trait;

pub use self::{embedded::EmbeddedStore, redis::RedisStore};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store I/O failed: {0}")]
    Io(String),
    #[error("store data is corrupt: {0}")]
    Corrupt(String),
}

/// A key-value store with expiry. Keys are namespaced by the caller (`session/…`, `code/…`).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores `value` under `key` for `ttl`, replacing any previous value.
    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), StoreError>;
    /// The value, unless absent or expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Reads and deletes in one step: single-use values (codes, refresh tokens) cannot be
    /// redeemed twice.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Whether the backend is reachable and writable, for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;
}
