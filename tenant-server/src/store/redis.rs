//! The Redis backend: any number of replicas share it. Expiry is Redis's own (`SET … PX`);
//! `take` is `GETDEL`, `set_add` and the rate limit are Lua scripts, each atomic across
//! replicas. The connection is made lazily and remade with backoff after a failure, so the server
//! starts, and says on `/readyz` that it is not ready, while Redis is down.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use futures::StreamExt;
use mcp_tenancy_config::RateLimit;
use redis::{
    AsyncCommands, Script, TlsCertificates, Value,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use tokio::sync::mpsc;

use super::{
    MAX_SET_MEMBERS, Shared, Store, StoreError, check_key, check_member, check_value, set_full, ttl_millis,
};

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

/// One request from a GCRA bucket, on Redis's clock (microseconds). ARGV: the interval between
/// requests and the burst tolerance (interval × (burst − 1)). Answers 0 when the request may
/// proceed, else how many microseconds until it may. The key holds the theoretical arrival time
/// and expires when the bucket is full again.
const ACQUIRE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait > 0 then return wait end
local next = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', math.ceil((next - now) / 1000))
return 0
";

/// Messages a subscription holds for its reader before it drops new ones.
const SUBSCRIPTION_BUFFER: usize = 1024;
/// The waits between attempts to renew a lost subscription.
const RESUBSCRIBE_MIN: Duration = Duration::from_millis(100);
const RESUBSCRIBE_MAX: Duration = Duration::from_secs(5);
/// The longest wait between reconnection attempts of the command connection. Each attempt is
/// made once (a command fails fast while Redis is down; the next command tries again).
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// How to reach Redis besides its URL.
#[derive(Clone, Debug, Default)]
pub struct RedisOptions {
    /// PEM certificates of the CAs trusted for `rediss://`, besides the system roots.
    pub ca_pem: Option<Vec<u8>>,
}

pub struct RedisStore {
    client: redis::Client,
    connection: ConnectionManager,
    prefix: String,
    set_add: Script,
    acquire: Script,
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
    /// The store at `url` (`redis://` or `rediss://`, credentials included); keys are
    /// namespaced by `tenant`. Connects on first use, not here: only a malformed URL or CA
    /// bundle fails.
    pub fn open(url: &str, tenant: &str, options: RedisOptions) -> Result<Self, StoreError> {
        // The URL is never quoted: it holds the password.
        let invalid = |e: redis::RedisError| StoreError::Io(format!("invalid Redis URL ({:?})", e.kind()));
        let client = match options.ca_pem {
            None => redis::Client::open(url).map_err(invalid)?,
            Some(root_cert) => {
                let certificates = TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                };
                redis::Client::build_with_tls(url, certificates).map_err(invalid)?
            }
        };
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_max_delay(RECONNECT_MAX);
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(io)?;
        Ok(Self {
            client,
            connection,
            prefix: format!("{KEY_PREFIX}{tenant}:"),
            set_add: Script::new(SET_ADD),
            acquire: Script::new(ACQUIRE),
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

    async fn touch(&self, key: &str, ttl: Duration) -> Result<Option<Vec<u8>>, StoreError> {
        check_key(key)?;
        let mut c = self.connection.clone();
        let touched = redis::cmd("GETEX")
            .arg(self.key(key))
            .arg("PX")
            .arg(ttl_millis(ttl))
            .query_async(&mut c)
            .await;
        match touched {
            Err(e) if wrong_type(&e) => Ok(None),
            other => other.map_err(io),
        }
    }

    async fn expires_in(&self, key: &str) -> Result<Option<Duration>, StoreError> {
        check_key(key)?;
        let mut c = self.connection.clone();
        let left: i64 = c.pttl(self.key(key)).await.map_err(io)?;
        // -2: no such key; -1: no expiry (never set by this store).
        Ok(u64::try_from(left).ok().map(Duration::from_millis))
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

    fn shared(self: Arc<Self>) -> Option<Arc<dyn Shared>> {
        Some(self)
    }
}

/// Microseconds, saturating.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[async_trait]
impl Shared for RedisStore {
    async fn acquire(&self, key: &str, limit: RateLimit) -> Result<Result<(), Duration>, StoreError> {
        check_key(key)?;
        let burst = u64::from(limit.requests.max(1));
        let interval = micros(limit.period.as_duration()).div_ceil(burst).max(1);
        let mut c = self.connection.clone();
        let wait: u64 = self
            .acquire
            .key(self.key(key))
            .arg(interval)
            .arg(interval.saturating_mul(burst - 1))
            .invoke_async(&mut c)
            .await
            .map_err(io)?;
        Ok(match wait {
            0 => Ok(()),
            micros => Err(Duration::from_micros(micros)),
        })
    }

    async fn publish(&self, channel: &str, message: &str) -> Result<(), StoreError> {
        let mut c = self.connection.clone();
        c.publish::<_, _, ()>(self.key(channel), message)
            .await
            .map_err(io)
    }

    fn subscribe(&self, channel: &str) -> mpsc::Receiver<String> {
        let (sender, receiver) = mpsc::channel(SUBSCRIPTION_BUFFER);
        tokio::spawn(relay(self.client.clone(), self.key(channel), sender));
        receiver
    }
}

/// Relays the messages of `channel` to `sender` until its receiver is dropped, subscribing again
/// with backoff whenever the connection is lost.
async fn relay(client: redis::Client, channel: String, sender: mpsc::Sender<String>) {
    let mut backoff = RESUBSCRIBE_MIN;
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                Ok(()) => {
                    backoff = RESUBSCRIBE_MIN;
                    let mut messages = pubsub.into_on_message();
                    loop {
                        tokio::select! {
                            message = messages.next() => match message {
                                Some(message) => match message.get_payload::<String>() {
                                    Ok(payload) => {
                                        if sender.try_send(payload).is_err() {
                                            tracing::warn!("dropped a message between replicas: its reader is behind");
                                        }
                                    }
                                    Err(error) => tracing::warn!(%error, "ignored a message between replicas that is not text"),
                                },
                                None => break,
                            },
                            () = sender.closed() => return,
                        }
                    }
                    tracing::warn!("lost the Redis subscription; renewing it");
                }
                Err(error) => tracing::warn!(%error, "could not subscribe to Redis"),
            },
            Err(error) => tracing::warn!(%error, "could not connect to Redis to subscribe"),
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = sender.closed() => return,
        }
        backoff = (backoff * 2).min(RESUBSCRIBE_MAX);
    }
}
