//! Which user owns which MCP session, when each was last used, and which JSON-RPC requests are
//! in flight in each. rmcp keeps the sessions themselves; this registry binds them to users,
//! ends idle ones (requests answered outside rmcp's session worker count as use too), refuses
//! what rmcp would mishandle (a second in-flight request with the same id) and cancels the
//! requests it answers itself when the client sends `notifications/cancelled`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use rmcp::transport::streamable_http_server::{SessionManager, session::local::LocalSessionManager};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

struct SessionInfo {
    owner: String,
    last_used: Instant,
    /// Request id (its JSON text) -> cancelled by `notifications/cancelled`.
    in_flight: HashMap<String, CancellationToken>,
}

impl SessionInfo {
    fn idle_for(&self, timeout: Duration, now: Instant) -> bool {
        self.in_flight.is_empty() && now.duration_since(self.last_used) >= timeout
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum SessionRefusal {
    /// Unknown, ended, idle too long, or owned by someone else: all answered 404.
    NotFound,
    /// A request with this id is still running in the session.
    DuplicateRequestId,
}

/// What [`SessionRegistry::admit`] decided.
enum Admission {
    Admitted(Option<RequestIdGuard>),
    Refused(SessionRefusal),
    /// Owned by the user but idle past the timeout: to be ended.
    Idle,
}

pub struct SessionRegistry {
    sessions: Mutex<HashMap<String, SessionInfo>>,
    manager: Arc<LocalSessionManager>,
    max_per_user: usize,
    idle_timeout: Duration,
    metrics: Metrics,
}

/// A request in flight in a session: releases its id (and counts as use of the session) when
/// the response, or its stream, is dropped.
pub struct RequestIdGuard {
    registry: Arc<SessionRegistry>,
    session: String,
    id: String,
    /// Cancelled when the client cancels this request.
    pub cancel: CancellationToken,
}

impl Drop for RequestIdGuard {
    fn drop(&mut self) {
        if let Some(info) = self.registry.lock().get_mut(&self.session) {
            info.in_flight.remove(&self.id);
            info.last_used = Instant::now();
        }
    }
}

impl SessionRegistry {
    pub fn new(
        manager: Arc<LocalSessionManager>,
        max_per_user: usize,
        idle_timeout: Duration,
        metrics: Metrics,
    ) -> Self {
        Self {
            sessions: Mutex::new(HashMap::new()),
            manager,
            max_per_user,
            idle_timeout,
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

    /// Whether rmcp still has the session (its worker ends on shutdown or failure).
    async fn alive(&self, id: &str) -> bool {
        self.manager.has_session(&Arc::from(id)).await.unwrap_or(false)
    }

    /// Ends a session in rmcp and here.
    async fn end(&self, id: &str) {
        if let Err(error) = self.manager.close_session(&Arc::from(id)).await {
            tracing::warn!(%error, "could not close a session");
        }
        self.forget(id);
    }

    /// Admits a message of `user` to the live session `id` and counts it as use; with a request
    /// id, marks that request in flight until the returned guard is dropped.
    pub async fn enter(
        self: &Arc<Self>,
        id: &str,
        user: &str,
        request: Option<String>,
    ) -> Result<Option<RequestIdGuard>, SessionRefusal> {
        let guard = match self.admit(id, user, request) {
            Admission::Admitted(guard) => guard,
            Admission::Refused(refusal) => return Err(refusal),
            Admission::Idle => {
                tracing::debug!(session = %id, "session ended after its idle timeout");
                self.end(id).await;
                return Err(SessionRefusal::NotFound);
            }
        };
        if !self.alive(id).await {
            drop(guard);
            self.forget(id);
            return Err(SessionRefusal::NotFound);
        }
        Ok(guard)
    }

    /// The registry's part of [`Self::enter`], under the lock.
    fn admit(self: &Arc<Self>, id: &str, user: &str, request: Option<String>) -> Admission {
        let now = Instant::now();
        let mut sessions = self.lock();
        let Some(info) = sessions.get_mut(id).filter(|info| info.owner == user) else {
            return Admission::Refused(SessionRefusal::NotFound);
        };
        if info.idle_for(self.idle_timeout, now) {
            return Admission::Idle;
        }
        info.last_used = now;
        let Some(key) = request else {
            return Admission::Admitted(None);
        };
        if info.in_flight.contains_key(&key) {
            return Admission::Refused(SessionRefusal::DuplicateRequestId);
        }
        let cancel = CancellationToken::new();
        info.in_flight.insert(key.clone(), cancel.clone());
        Admission::Admitted(Some(RequestIdGuard {
            registry: self.clone(),
            session: id.to_owned(),
            id: key,
            cancel,
        }))
    }

    /// Cancels a request in flight in a session (`notifications/cancelled`); `request` is the
    /// JSON text of its id.
    pub fn cancel(&self, session: &str, request: &str) {
        if let Some(cancel) = self
            .lock()
            .get(session)
            .and_then(|info| info.in_flight.get(request))
        {
            cancel.cancel();
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
            self.end(&id).await;
        }
    }

    pub fn register(&self, id: String, owner: String) {
        let mut sessions = self.lock();
        sessions.insert(
            id,
            SessionInfo {
                owner,
                last_used: Instant::now(),
                in_flight: HashMap::new(),
            },
        );
        self.update_gauge(sessions.len());
    }

    pub fn forget(&self, id: &str) {
        let mut sessions = self.lock();
        sessions.remove(id);
        self.update_gauge(sessions.len());
    }

    /// Ends idle sessions and drops the ones rmcp has ended (shutdown, failure).
    pub async fn sweep(&self) {
        let now = Instant::now();
        let (idle, rest): (Vec<String>, Vec<String>) = {
            let sessions = self.lock();
            let (idle, rest): (Vec<_>, Vec<_>) = sessions
                .iter()
                .partition(|(_, info)| info.idle_for(self.idle_timeout, now));
            (
                idle.into_iter().map(|(id, _)| id.clone()).collect(),
                rest.into_iter().map(|(id, _)| id.clone()).collect(),
            )
        };
        for id in idle {
            self.end(&id).await;
        }
        for id in rest {
            if !self.alive(&id).await {
                self.forget(&id);
            }
        }
    }

    pub fn count_for(&self, user: &str) -> usize {
        self.lock().values().filter(|i| i.owner == user).count()
    }
}
