//! The Redis backend: any number of replicas share it. Expiry is Redis's own (`SET … PX`);
//! `take` is `GETDEL` and `set_add` one Lua script, each atomic across replicas.

use std::time::Duration;

use async_trait::async_trait;
use redis::{AsyncCommands, Script, Value, aio::ConnectionManager};

use super::{MAX_SET_MEMBERS, Store, StoreError, check_key, check_member, check_value, set_full, ttl_millis};

/// Prefix of every key, so one Redis can serve several tenants without collisions.
const KEY_PREFIX: &str = "mcp-tenant:";

/// `set_add` in one step: a value under the key is replaced, a full set refuses a new member
/// (-1), and the TTL only grows. `PEXPIRE … GT` would do nothing to a key without a TTL (a set
/// SADD just created), so the script compares `PTTL` itself: -1 (no TTL) is always extended.
const SET_ADD: &str = r"
local key = KEYS[1]
local kind = redis.call('TYPE', key)['ok']
if kind ~= 'set' and kind ~= 'none' then redis.call('DEL', key) end
if redis.call('SISMEMBER', key, ARGV[1]) == 0 and redis.call('SCARD', key) >= tonumber(ARGV[3]) then
  return -1
end
redis.call('SADD', key, ARGV[1])
local ttl = tonumber(ARGV[2])
local left = redis.call('PTTL', key)
if left < ttl then redis.call('PEXPIRE', key, ttl) end
return 1
";

pub struct RedisStore {
    connection: ConnectionManager,
    prefix: String,
    set_add: Script,
}

fn io(e: redis::RedisError) -> StoreError {
    // Redis errors never contain the URL's password; they name the failing command at most.
    StoreError::Io(e.to_string())
}

/// A command on a key of the other kind (`GET` of a set): the key holds nothing of that kind.
fn wrong_type(e: &redis::RedisError) -> bool {
    e.code() == Some("WRONGTYPE")
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
            set_add: Script::new(SET_ADD),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), StoreError> {
        check_value(key, &value)?;
        let mut c = self.connection.clone();
        redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(ttl_millis(ttl))
            .query_async::<()>(&mut c)
            .await
            .map_err(io)
    }

    async fn put_new(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<bool, StoreError> {
        check_value(key, &value)?;
        let mut c = self.connection.clone();
        let reply = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ttl_millis(ttl))
            .query_async::<Value>(&mut c)
            .await
            .map_err(io)?;
        Ok(!matches!(reply, Value::Nil))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_key(key)?;
        let mut c = self.connection.clone();
        match c.get(self.key(key)).await {
            Err(e) if wrong_type(&e) => Ok(None),
            other => other.map_err(io),
        }
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_key(key)?;
        let mut c = self.connection.clone();
        match redis::cmd("GETDEL").arg(self.key(key)).query_async(&mut c).await {
            Err(e) if wrong_type(&e) => Ok(None),
            other => other.map_err(io),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        check_key(key)?;
        let mut c = self.connection.clone();
        c.del::<_, ()>(self.key(key)).await.map_err(io)
    }

    async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> Result<(), StoreError> {
        check_member(key, member)?;
        let mut c = self.connection.clone();
        let added: i64 = self
            .set_add
            .key(self.key(key))
            .arg(member)
            .arg(ttl_millis(ttl))
            .arg(MAX_SET_MEMBERS)
            .invoke_async(&mut c)
            .await
            .map_err(io)?;
        if added < 0 {
            return Err(set_full());
        }
        Ok(())
    }

    async fn set_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        check_member(key, member)?;
        let mut c = self.connection.clone();
        match c.srem::<_, _, ()>(self.key(key), member).await {
            Err(e) if wrong_type(&e) => Ok(()),
            other => other.map_err(io),
        }
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        check_key(key)?;
        let mut c = self.connection.clone();
        match c.smembers(self.key(key)).await {
            Err(e) if wrong_type(&e) => Ok(Vec::new()),
            other => other.map_err(io),
        }
    }

    /// A short-lived write, not `PING`: a read-only replica or a Redis out of memory answers
    /// `PING` but refuses writes.
    async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.connection.clone();
        redis::cmd("SET")
            .arg(self.key("store/ping"))
            .arg(1)
            .arg("PX")
            .arg(10_000)
            .query_async::<()>(&mut c)
            .await
            .map_err(io)
    }
}
