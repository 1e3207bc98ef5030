//! Server state that must outlive a request: authorization codes, refresh-token families, device
//! codes, registered clients, upstream tokens, per-user grant indexes — each with a TTL. One
//! interface, two backends: embedded (an in-memory map with a crash-safe journal on the pod's
//! volume, one replica) and Redis (any number of replicas).
//!
//! Values and sets share one key space: a key holds either a value or a set. `put` over a set
//! replaces it and `set_add` over a value replaces it; `get`/`take` of a set and `set_members` of a
//! value answer nothing, and `set_remove` of a value does nothing.

mod embedded;
mod redis;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use mcp_tenancy_config::RateLimit;
use tokio::sync::mpsc;

pub use self::{
    embedded::EmbeddedStore,
    redis::{RedisOptions, RedisStore},
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store I/O failed: {0}")]
    Io(String),
    #[error("store data is corrupt: {0}")]
    Corrupt(String),
    /// A key or set member longer than [`MAX_KEY_BYTES`], a value larger than
    /// [`MAX_VALUE_BYTES`], or a set already holding [`MAX_SET_MEMBERS`].
    #[error("{0}")]
    TooLarge(String),
}

/// The longest key, and the longest set member, in bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// The largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// The most members a set holds; `set_add` of one more answers [`StoreError::TooLarge`].
pub const MAX_SET_MEMBERS: usize = 1024;

/// A key-value store with expiry. Keys are namespaced by the caller (`code/…`, `client/…`).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores `value` under `key` for `ttl`, replacing any previous value (or set).
    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), StoreError>;
    /// Stores `value` only if `key` holds nothing (unexpired); true when it stored. Atomic
    /// (Redis `SET NX PX`): of two concurrent callers, one stores.
    async fn put_new(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<bool, StoreError>;
    /// The value, its TTL renewed to `ttl` in the same step (Redis `GETEX … PX`); nothing, and
    /// no change, when absent or expired.
    async fn touch(&self, key: &str, ttl: Duration) -> Result<Option<Vec<u8>>, StoreError>;
    /// How long the value or set at `key` has left; `None` when absent or expired.
    async fn expires_in(&self, key: &str) -> Result<Option<Duration>, StoreError>;
    /// The value, unless absent or expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Reads and deletes in one atomic step (`GETDEL`): single-use values cannot be redeemed
    /// twice, even by two replicas at once.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Deletes the value or set at `key`, if any.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Adds `member` to the set at `key`; the set expires `ttl` from now unless it already lives
    /// longer. A set of [`MAX_SET_MEMBERS`] takes no new member ([`StoreError::TooLarge`]).
    async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> Result<(), StoreError>;
    /// Removes `member` from the set at `key`; the last member's removal deletes the set.
    async fn set_remove(&self, key: &str, member: &str) -> Result<(), StoreError>;
    /// The members (any order; empty when absent or expired).
    async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError>;
    /// Whether the backend is reachable and writable, for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;
    /// What replicas share besides keys, when the backend serves several: none for the embedded
    /// store (one replica keeps that state in memory).
    fn shared(self: Arc<Self>) -> Option<Arc<dyn Shared>> {
        None
    }
}

/// What several replicas of one tenant share besides keys and sets.
#[async_trait]
pub trait Shared: Send + Sync + 'static {
    /// Takes one request from the bucket `key` of `limit` (GCRA on the backend's clock, so the
    /// replicas' clocks do not matter): `Ok(Ok(()))` when it may proceed, `Ok(Err(wait))` when
    /// it may in `wait`.
    async fn acquire(&self, key: &str, limit: RateLimit) -> Result<Result<(), Duration>, StoreError>;
    /// Sends `message` to every replica subscribed to `channel` (this one included).
    async fn publish(&self, channel: &str, message: &str) -> Result<(), StoreError>;
    /// The messages published to `channel` from now on, while the server runs; the subscription
    /// is renewed after a lost connection (messages published meanwhile are not delivered).
    fn subscribe(&self, channel: &str) -> mpsc::Receiver<String>;
}

/// Refuses a key longer than [`MAX_KEY_BYTES`]. The key itself is not quoted: keys embed codes.
fn check_key(key: &str) -> Result<(), StoreError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(StoreError::TooLarge(format!(
            "store key of {} bytes is longer than MAX_KEY_BYTES ({MAX_KEY_BYTES})",
            key.len()
        )));
    }
    Ok(())
}

fn check_value(key: &str, value: &[u8]) -> Result<(), StoreError> {
    check_key(key)?;
    if value.len() > MAX_VALUE_BYTES {
        return Err(StoreError::TooLarge(format!(
            "store value of {} bytes is larger than MAX_VALUE_BYTES ({MAX_VALUE_BYTES})",
            value.len()
        )));
    }
    Ok(())
}

fn check_member(key: &str, member: &str) -> Result<(), StoreError> {
    check_key(key)?;
    if member.len() > MAX_KEY_BYTES {
        return Err(StoreError::TooLarge(format!(
            "store set member of {} bytes is longer than MAX_KEY_BYTES ({MAX_KEY_BYTES})",
            member.len()
        )));
    }
    Ok(())
}

fn set_full() -> StoreError {
    StoreError::TooLarge(format!(
        "store set already holds MAX_SET_MEMBERS ({MAX_SET_MEMBERS}) members"
    ))
}

/// A TTL in whole milliseconds, at least one (a zero TTL would mean "never" to Redis).
fn ttl_millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}
