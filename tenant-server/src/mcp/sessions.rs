//! Which user owns which MCP session, when each was last used, and which JSON-RPC requests are
//! in flight in each. rmcp keeps the sessions themselves; this registry binds them to users,
//! ends idle ones (requests answered outside rmcp's session worker count as use too), refuses
//! what rmcp would mishandle (a second in-flight request with the same id) and cancels the
//! requests in flight when the client sends `notifications/cancelled`.
//!
//! With one replica all of it is in memory. With several ([`SharedSessions`], Redis) the owner,
//! the idle timeout and the per-user limit are the store's, so that any replica serves any
//! session; this registry then keeps what is this replica's own: the sessions its rmcp holds and
//! the requests it runs, which a cancellation sent to another replica reaches as a notice.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use rmcp::transport::streamable_http_server::{SessionManager, session::local::LocalSessionManager};
use tokio_util::sync::CancellationToken;

use super::shared::{Notice, SharedSessions};
use crate::{metrics::Metrics, store::StoreError};

struct SessionInfo {
    owner: String,
    last_used: Instant,
    /// Request id (its JSON text) -> cancelled by `notifications/cancelled`.
    in_flight: HashMap<String, CancellationToken>,
}

impl SessionInfo {
    /// A session of `owner`, used now, with nothing in flight.
    fn new(owner: String) -> Self {
        Self {
            owner,
            last_used: Instant::now(),
            in_flight: HashMap::new(),
        }
    }

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
    /// The shared store is unreachable: who owns the session cannot be checked.
    Unavailable,
}

/// What [`SessionRegistry::admit`] decided.
enum Admission {
    Admitted(Option<RequestIdGuard>),
    Refused(SessionRefusal),
    /// Owned by the user but idle past the timeout: to be ended.
    Idle,
}

pub struct SessionRegistry {
    /// The sessions this replica's rmcp holds (all of them, with one replica).
    sessions: Mutex<HashMap<String, SessionInfo>>,
    manager: Arc<LocalSessionManager>,
    max_per_user: usize,
    idle_timeout: Duration,
    metrics: Metrics,
    /// Several replicas: the sessions in the shared store.
    shared: Option<Arc<SharedSessions>>,
}

/// A request in flight in a session: releases its id (and counts as use of the session) when
/// dropped: when rmcp's response stream is, or when a request answered here ends.
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
        shared: Option<Arc<SharedSessions>>,
    ) -> Self {
        Self {
            sessions: Mutex::new(HashMap::new()),
            manager,
            max_per_user,
            idle_timeout,
            metrics,
            shared,
        }
    }

    /// Whether the sessions are shared with other replicas.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    fn shared_error(&self, error: &StoreError) {
        self.metrics
            .shared_state_errors
            .with_label_values(&["session"])
            .inc();
        tracing::warn!(%error, "the shared session store is unreachable");
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

    /// Ends a session in rmcp (if it holds it: requests answered here never reach it) and here.
    async fn end(&self, id: &str) {
        if self.alive(id).await
            && let Err(error) = self.manager.close_session(&Arc::from(id)).await
        {
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
        if let Some(shared) = &self.shared {
            return self.enter_shared(shared, id, user, request).await;
        }
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

    /// [`Self::enter`] of a shared session: the store says whether it lives, whose it is and
    /// counts the use; rmcp restores it here if it has not seen it yet.
    async fn enter_shared(
        self: &Arc<Self>,
        shared: &SharedSessions,
        id: &str,
        user: &str,
        request: Option<String>,
    ) -> Result<Option<RequestIdGuard>, SessionRefusal> {
        let unavailable = |error: StoreError| {
            self.shared_error(&error);
            SessionRefusal::Unavailable
        };
        // Renewing another user's session's TTL gives them nothing: it only delays its end.
        let record = shared.touch(id).await.map_err(unavailable)?;
        if record.is_none_or(|r| r.owner != user) {
            return Err(SessionRefusal::NotFound);
        }
        {
            // The store's TTL decides idleness: here, the session was just used.
            let mut sessions = self.lock();
            let info = sessions
                .entry(id.to_owned())
                .or_insert_with(|| SessionInfo::new(user.to_owned()));
            info.last_used = Instant::now();
            self.update_gauge(sessions.len());
        }
        match self.admit(id, user, request) {
            Admission::Admitted(guard) => Ok(guard),
            Admission::Refused(refusal) => Err(refusal),
            Admission::Idle => Err(SessionRefusal::NotFound),
        }
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
    /// JSON text of its id. With shared sessions, on whichever replica runs it.
    pub async fn cancel(&self, session: &str, request: &str) {
        self.cancel_here(session, request);
        if let Some(shared) = &self.shared {
            let notice = Notice::Cancel {
                session: session.to_owned(),
                request: request.to_owned(),
            };
            if let Err(error) = shared.tell(&notice).await {
                self.shared_error(&error);
            }
        }
    }

    fn cancel_here(&self, session: &str, request: &str) {
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
        // Each session with how long ago it was last used.
        let mut own: Vec<(String, Duration)> = match &self.shared {
            Some(shared) => match shared.of_user(user).await {
                Ok(own) => own,
                Err(error) => return self.shared_error(&error),
            },
            None => {
                let now = Instant::now();
                self.lock()
                    .iter()
                    .filter(|(_, i)| i.owner == user)
                    .map(|(id, i)| (id.clone(), now.duration_since(i.last_used)))
                    .collect()
            }
        };
        // Least recently used first.
        own.sort_by_key(|(_, since)| std::cmp::Reverse(*since));
        let excess = (own.len() + 1).saturating_sub(self.max_per_user);
        for (id, _) in own.into_iter().take(excess) {
            tracing::info!(session = %id, "ending the least recently used session of a user at the session limit");
            self.end_everywhere(&id, user).await;
        }
    }

    /// Ends a session on every replica: the shared record (the others let it go on the notice),
    /// and here.
    async fn end_everywhere(&self, id: &str, owner: &str) {
        if let Some(shared) = &self.shared
            && let Err(error) = shared.end(id, owner).await
        {
            self.shared_error(&error);
        }
        self.end(id).await;
    }

    /// Ends the shared session `id` of `user` everywhere (the client's DELETE, which rmcp could
    /// only do on the replica that holds it).
    pub async fn delete(&self, id: &str, user: &str) -> Result<(), SessionRefusal> {
        let Some(shared) = &self.shared else {
            return Err(SessionRefusal::NotFound);
        };
        match shared.get(id).await {
            Ok(Some(record)) if record.owner == user => {
                self.end_everywhere(id, user).await;
                Ok(())
            }
            Ok(_) => Err(SessionRefusal::NotFound),
            Err(error) => {
                self.shared_error(&error);
                Err(SessionRefusal::Unavailable)
            }
        }
    }

    /// Records a new session of `owner`: in the shared store too, where there is one.
    pub async fn register(&self, id: String, owner: String) {
        if let Some(shared) = &self.shared {
            match shared.create(&id, &owner).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(session = %id, "rmcp handed over no initialize: only this replica serves the session")
                }
                Err(error) => self.shared_error(&error),
            }
        }
        let mut sessions = self.lock();
        sessions.insert(id, SessionInfo::new(owner));
        self.update_gauge(sessions.len());
    }

    /// Lets go of a session that ended, cancelling the requests it still has running here (a
    /// request answered here outlives its client's connection, not its session).
    pub fn forget(&self, id: &str) {
        let mut sessions = self.lock();
        if let Some(ended) = sessions.remove(id) {
            ended.in_flight.values().for_each(CancellationToken::cancel);
        }
        self.update_gauge(sessions.len());
    }

    /// Ends idle sessions and drops the ones rmcp has ended (shutdown, failure). With shared
    /// sessions: lets go of the ones that ended elsewhere or idled out in the store, and keeps
    /// the ones with requests running here alive there.
    pub async fn sweep(&self) {
        if let Some(shared) = &self.shared {
            return self.sweep_shared(shared).await;
        }
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

    async fn sweep_shared(&self, shared: &SharedSessions) {
        let held: Vec<(String, bool)> = self
            .lock()
            .iter()
            .map(|(id, info)| (id.clone(), !info.in_flight.is_empty()))
            .collect();
        for (id, busy) in held {
            let live = if busy {
                shared.touch(&id).await
            } else {
                shared.get(&id).await
            };
            match live.map(|record| record.is_some()) {
                Ok(true) => {}
                Ok(false) => self.end(&id).await,
                // Unknown: keep it until the store answers.
                Err(error) => self.shared_error(&error),
            }
        }
    }

    /// Acts on the other replicas' notices until the server stops (shared sessions only).
    pub async fn follow(&self, stop: CancellationToken) {
        let Some(shared) = &self.shared else {
            return;
        };
        let mut notices = shared.notices();
        loop {
            let text = tokio::select! {
                text = notices.recv() => text,
                () = stop.cancelled() => return,
            };
            let Some(text) = text else {
                return;
            };
            match serde_json::from_str::<Notice>(&text) {
                Ok(Notice::Cancel { session, request }) => self.cancel_here(&session, &request),
                Ok(Notice::End { session }) => {
                    let held = self.lock().contains_key(&session);
                    if held {
                        self.end(&session).await;
                    }
                }
                Err(error) => tracing::warn!(%error, "ignored a notice between replicas that is not one"),
            }
        }
    }

    /// This replica's sessions of `user`.
    pub fn count_for(&self, user: &str) -> usize {
        self.lock().values().filter(|i| i.owner == user).count()
    }
}
