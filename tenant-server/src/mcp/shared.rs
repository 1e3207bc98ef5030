//! MCP sessions that every replica serves (the Redis store). A session is one record in the store,
//! `mcp-session/<id>`: its owner and the client's `initialize` (protocol version, capabilities,
//! client info). Every use reads it and renews its TTL in one step (`GETEX`), so it expires after
//! the idle timeout without use, idleness needs no timer, and the time it has left says when it was
//! last used. A replica that has not seen the session yet lets rmcp restore it from the
//! record ([`SessionStore`]: rmcp replays the `initialize` on a session worker of its own).
//! Replicas tell each other, over the store's messages, to cancel a request (the client's
//! `notifications/cancelled` may reach any replica) and that a session has ended.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use rmcp::transport::streamable_http_server::session::store::{
    SessionState, SessionStore, SessionStoreError,
};
use serde::{Deserialize, Serialize};

use crate::store::{Shared, Store, StoreError};

/// The channel replicas tell each other on.
pub const CHANNEL: &str = "mcp-sessions";
/// How long a user's session index lives after their last new session; members whose record is
/// gone are dropped whenever it is read.
const INDEX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

fn record_key(id: &str) -> String {
    format!("mcp-session/{id}")
}

fn index_key(user: &str) -> String {
    format!("mcp-sessions/{user}")
}

/// What the store holds of one session.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionRecord {
    pub owner: String,
    /// The client's `initialize` parameters, replayed where the session is restored.
    pub initialize: rmcp::model::InitializeRequestParams,
}

/// What one replica tells the others.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Notice {
    /// The client cancelled request `request` (its id as JSON text) of `session`.
    Cancel { session: String, request: String },
    /// The session has ended (deleted, evicted): replicas that hold it let it go.
    End { session: String },
}

/// The sessions in the store, and the messages between replicas.
pub struct SharedSessions {
    store: Arc<dyn Store>,
    bus: Arc<dyn Shared>,
    idle_timeout: Duration,
    /// `initialize` parameters rmcp handed over ([`SessionStore::store`]) for sessions not yet
    /// recorded: the record is written with the owner, once the endpoint knows the session id.
    pending: Mutex<HashMap<String, rmcp::model::InitializeRequestParams>>,
}

impl SharedSessions {
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn Shared>, idle_timeout: Duration) -> Self {
        Self {
            store,
            bus,
            idle_timeout,
            pending: Mutex::default(),
        }
    }

    fn take_pending(&self, id: &str) -> Option<rmcp::model::InitializeRequestParams> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id)
    }

    /// Records the new session `id` of `owner`; false when rmcp handed over no `initialize` for
    /// it (then only this replica can serve it).
    pub async fn create(&self, id: &str, owner: &str) -> Result<bool, StoreError> {
        let Some(initialize) = self.take_pending(id) else {
            return Ok(false);
        };
        let record = SessionRecord {
            owner: owner.to_owned(),
            initialize,
        };
        self.store
            .put(&record_key(id), encode(&record)?, self.idle_timeout)
            .await?;
        self.store.set_add(&index_key(owner), id, INDEX_TTL).await?;
        Ok(true)
    }

    /// The record of `id`, if the session lives.
    pub async fn get(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        decode(self.store.get(&record_key(id)).await?)
    }

    /// The record of `id`, counting a use: its idle timeout starts again.
    pub async fn touch(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        decode(self.store.touch(&record_key(id), self.idle_timeout).await?)
    }

    /// The live sessions of `user`, with how long ago each was last used (to the millisecond);
    /// drops the ended ones from the index.
    pub async fn of_user(&self, user: &str) -> Result<Vec<(String, Duration)>, StoreError> {
        let index = index_key(user);
        let mut live = Vec::new();
        for id in self.store.set_members(&index).await? {
            let owned = self.get(&id).await?.is_some_and(|r| r.owner == user);
            match self.store.expires_in(&record_key(&id)).await? {
                Some(left) if owned => live.push((id, self.idle_timeout.saturating_sub(left))),
                _ => self.store.set_remove(&index, &id).await?,
            }
        }
        Ok(live)
    }

    /// Ends the session everywhere: its record, its index entry, and the replicas that hold it.
    pub async fn end(&self, id: &str, owner: &str) -> Result<(), StoreError> {
        self.store.delete(&record_key(id)).await?;
        self.store.set_remove(&index_key(owner), id).await?;
        self.tell(&Notice::End {
            session: id.to_owned(),
        })
        .await
    }

    pub async fn tell(&self, notice: &Notice) -> Result<(), StoreError> {
        let text = serde_json::to_string(notice).map_err(|e| StoreError::Io(e.to_string()))?;
        self.bus.publish(CHANNEL, &text).await
    }

    /// The notices of every replica (this one's too), from now on.
    pub fn notices(&self) -> tokio::sync::mpsc::Receiver<String> {
        self.bus.subscribe(CHANNEL)
    }
}

fn encode(record: &SessionRecord) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(record).map_err(|e| StoreError::Io(e.to_string()))
}

fn decode(bytes: Option<Vec<u8>>) -> Result<Option<SessionRecord>, StoreError> {
    bytes
        .map(|bytes| serde_json::from_slice(&bytes))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("session record: {e}")))
}

/// rmcp's view: it hands over the `initialize` of a new session and restores a session it does
/// not hold from the record. Deletion is the endpoint's (it ends sessions itself).
#[async_trait]
impl SessionStore for SharedSessions {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        Ok(self
            .get(session_id)
            .await?
            .map(|record| SessionState::new(record.initialize)))
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(session_id.to_owned(), state.initialize_params.clone());
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        self.take_pending(session_id);
        Ok(())
    }
}
