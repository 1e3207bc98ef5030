//! Which user owns which MCP session, how many each user has, and which JSON-RPC request ids
//! are in flight in each. rmcp keeps the sessions themselves; this registry binds them to users
//! and refuses what rmcp would mishandle (a second in-flight request with the same id).

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard},
    time::Instant,
};

use rmcp::transport::streamable_http_server::{SessionManager, session::local::LocalSessionManager};

use crate::metrics::Metrics;

struct SessionInfo {
    owner: String,
    last_used: Instant,
    in_flight: HashSet<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum SessionRefusal {
    /// Unknown, ended, or owned by someone else: all answered 404.
    NotFound,
    /// A request with this id is still running in the session.
    DuplicateRequestId,
}

pub struct SessionRegistry {
    sessions: Mutex<HashMap<String, SessionInfo>>,
    manager: Arc<LocalSessionManager>,
    max_per_user: usize,
    metrics: Metrics,
}

/// Releases a request id when the response (or its stream) is dropped.
pub struct RequestIdGuard {
    registry: Arc<SessionRegistry>,
    session: String,
    id: String,
}

impl Drop for RequestIdGuard {
    fn drop(&mut self) {
        if let Some(info) = self.registry.lock().get_mut(&self.session) {
            info.in_flight.remove(&self.id);
        }
    }
}

impl SessionRegistry {
    pub fn new(manager: Arc<LocalSessionManager>, max_per_user: usize, metrics: Metrics) -> Self {
        Self {
            sessions: Mutex::new(HashMap::new()),
            manager,
            max_per_user,
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, SessionInfo>> {
        // A panic while holding the lock cannot leave the map inconsistent; keep serving.
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update_gauge(&self, count: usize) {
        self.metrics
            .active_sessions
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Whether rmcp still has the session (it ends idle ones by itself).
    async fn alive(&self, id: &str) -> bool {
        self.manager.has_session(&Arc::from(id)).await.unwrap_or(false)
    }

    /// Checks that `user` owns the live session `id`.
    pub async fn check_owner(&self, id: &str, user: &str) -> Result<(), SessionRefusal> {
        let owned = self.lock().get(id).is_some_and(|info| info.owner == user);
        if !owned {
            return Err(SessionRefusal::NotFound);
        }
        if !self.alive(id).await {
            self.forget(id);
            return Err(SessionRefusal::NotFound);
        }
        Ok(())
    }

    /// Marks a request id in flight in a session (after [`Self::check_owner`]).
    pub fn begin_request(
        self: &Arc<Self>,
        session: &str,
        id: String,
    ) -> Result<RequestIdGuard, SessionRefusal> {
        let mut sessions = self.lock();
        let info = sessions.get_mut(session).ok_or(SessionRefusal::NotFound)?;
        info.last_used = Instant::now();
        if !info.in_flight.insert(id.clone()) {
            return Err(SessionRefusal::DuplicateRequestId);
        }
        Ok(RequestIdGuard {
            registry: self.clone(),
            session: session.to_owned(),
            id,
        })
    }

    pub fn touch(&self, session: &str) {
        if let Some(info) = self.lock().get_mut(session) {
            info.last_used = Instant::now();
        }
    }

    /// Makes room for one more session of `user`: ends their least recently used sessions
    /// beyond the limit.
    pub async fn make_room(&self, user: &str) {
        let victims: Vec<String> = {
            let sessions = self.lock();
            let mut own: Vec<(&String, Instant)> = sessions
                .iter()
                .filter(|(_, i)| i.owner == user)
                .map(|(id, i)| (id, i.last_used))
                .collect();
            own.sort_by_key(|(_, used)| *used);
            let excess = (own.len() + 1).saturating_sub(self.max_per_user);
            own.into_iter().take(excess).map(|(id, _)| id.clone()).collect()
        };
        for id in victims {
            tracing::info!(session = %id, "ending the least recently used session of a user at the session limit");
            if let Err(error) = self.manager.close_session(&Arc::from(id.as_str())).await {
                tracing::warn!(%error, "could not close a session");
            }
            self.forget(&id);
        }
    }

    pub fn register(&self, id: String, owner: String) {
        let mut sessions = self.lock();
        sessions.insert(
            id,
            SessionInfo {
                owner,
                last_used: Instant::now(),
                in_flight: HashSet::new(),
            },
        );
        self.update_gauge(sessions.len());
    }

    pub fn forget(&self, id: &str) {
        let mut sessions = self.lock();
        sessions.remove(id);
        self.update_gauge(sessions.len());
    }

    /// Drops sessions rmcp has ended (idle timeout, shutdown).
    pub async fn sweep(&self) {
        let ids: Vec<String> = self.lock().keys().cloned().collect();
        for id in ids {
            if !self.alive(&id).await {
                self.forget(&id);
            }
        }
    }

    pub fn count_for(&self, user: &str) -> usize {
        self.lock().values().filter(|i| i.owner == user).count()
    }
}
