//! The Redis backend: any number of replicas share it. Expiry is Redis's own (`SET … PX`);
//! `take` is `GETDEL`, atomic across replicas.

use std::time::Duration;

use async_trait::async_trait;
use redis::{AsyncCommands, aio::ConnectionManager};

use super::{Store, StoreError};

/// Prefix of every key, so one Redis can serve several tenants without collisions.
const KEY_PREFIX: &str = "mcp-tenant:";

pub struct RedisStore {
    connection: ConnectionManager,
    prefix: String,
}

fn io(e: redis::RedisError) -> StoreError {
    // Redis errors never contain the URL's password; they name the failing command at most.
    StoreError::Io(e.to_string())
}

impl RedisStore {
    /// Connects to `url` (`redis://` or `rediss://`); keys are namespaced by `tenant`.
    pub async fn connect(url: &str, tenant: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::Io(format!("invalid Redis URL ({:?})", e.kind())))?;
        let connection = client.get_connection_manager().await.map_err(io)?;
        Ok(Self {
            connection,
            prefix: format!("{KEY_PREFIX}{tenant}:"),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), StoreError> {
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut c = self.connection.clone();
        redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(millis)
            .query_async::<()>(&mut c)
            .await
            .map_err(io)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.connection.clone();
        c.get(self.key(key)).await.map_err(io)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.connection.clone();
        redis::cmd("GETDEL")
            .arg(self.key(key))
            .query_async(&mut c)
            .await
            .map_err(io)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let mut c = self.connection.clone();
        c.del::<_, ()>(self.key(key)).await.map_err(io)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.connection.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .map(|_| ())
            .map_err(io)
    }
}
