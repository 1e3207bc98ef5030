//! Leader election with a `coordination.k8s.io/v1` Lease: only the holder runs the controller.
//! kube-runtime 5 has no helper for this, so acquire, renew and release are done here with
//! resourceVersion-checked replaces (a lost race is a 409, never two leaders).

use std::{sync::Arc, time::Duration};

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
    jiff::{SignedDuration, Timestamp},
};
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::build::FIELD_MANAGER;

/// How long a lease is valid without renewal; a crashed leader is replaced after at most this
/// plus one [`RETRY_PERIOD`].
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How often the leader renews.
pub const RENEW_PERIOD: Duration = Duration::from_secs(5);
/// A leader that could not renew for this long stops, before anyone else may take over.
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// How often a candidate tries to acquire.
pub const RETRY_PERIOD: Duration = Duration::from_secs(2);

/// One Lease and who this process is.
pub struct LeaseLock {
    api: Api<Lease>,
    name: String,
    identity: String,
}

impl LeaseLock {
    pub fn new(client: Client, namespace: &str, name: &str, identity: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.into(),
            identity: identity.into(),
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Takes the lease if it is free, expired or already ours; renews it if ours. `Ok(false)`:
    /// someone else holds it (or won a race for it).
    pub async fn try_acquire_or_renew(&self, now: Timestamp) -> Result<bool, kube::Error> {
        let params = PostParams {
            dry_run: false,
            field_manager: Some(FIELD_MANAGER.into()),
        };
        let seconds = i32::try_from(LEASE_DURATION.as_secs()).unwrap_or(i32::MAX);
        let Some(lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(seconds),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&params, &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let ours = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        let held = spec.holder_identity.as_deref().is_some_and(|h| !h.is_empty());
        let valid_for = SignedDuration::from_secs(spec.lease_duration_seconds.unwrap_or(seconds).into());
        let expired = spec
            .renew_time
            .as_ref()
            .is_none_or(|t| t.0.checked_add(valid_for).is_ok_and(|end| end < now));
        if !ours && held && !expired {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0);
        let next = Lease {
            metadata: lease.metadata,
            spec: Some(LeaseSpec {
                holder_identity: Some(self.identity.clone()),
                lease_duration_seconds: Some(seconds),
                acquire_time: if ours {
                    spec.acquire_time
                } else {
                    Some(MicroTime(now))
                },
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(if ours {
                    transitions
                } else {
                    transitions.saturating_add(1)
                }),
                ..spec
            }),
        };
        match self.api.replace(&self.name, &params, &next).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the lease up (if still ours) so a successor need not wait for it to expire.
    pub async fn release(&self) -> Result<(), kube::Error> {
        let Some(lease) = self.api.get_opt(&self.name).await? else {
            return Ok(());
        };
        let spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        let released = Lease {
            metadata: lease.metadata,
            spec: Some(LeaseSpec {
                holder_identity: None,
                lease_duration_seconds: Some(1),
                renew_time: None,
                ..spec
            }),
        };
        let params = PostParams {
            dry_run: false,
            field_manager: Some(FIELD_MANAGER.into()),
        };
        match self.api.replace(&self.name, &params, &released).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Waits until this process holds the lease. `false`: shutdown came first.
pub async fn acquire(lock: &LeaseLock, shutdown: &CancellationToken) -> bool {
    let mut announced = false;
    loop {
        match lock.try_acquire_or_renew(Timestamp::now()).await {
            Ok(true) => {
                info!(identity = lock.identity(), "acquired the leader lease");
                return true;
            }
            Ok(false) if !announced => {
                info!(identity = lock.identity(), "another replica leads; standing by");
                announced = true;
            }
            Ok(false) => {}
            Err(e) => warn!(error = %e, "cannot read or take the leader lease"),
        }
        tokio::select! {
            () = tokio::time::sleep(RETRY_PERIOD) => {}
            () = shutdown.cancelled() => return false,
        }
    }
}

/// Renews the lease until shutdown; cancels `lost` when it is taken or cannot be renewed within
/// [`RENEW_DEADLINE`], so the controller stops before another replica may start.
pub async fn keep_renewing(lock: Arc<LeaseLock>, lost: CancellationToken, shutdown: CancellationToken) {
    let mut last_renewal = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep(RENEW_PERIOD) => {}
            () = shutdown.cancelled() => return,
        }
        match lock.try_acquire_or_renew(Timestamp::now()).await {
            Ok(true) => last_renewal = tokio::time::Instant::now(),
            Ok(false) => {
                warn!(identity = lock.identity(), "the leader lease was taken over");
                lost.cancel();
                return;
            }
            Err(e) if last_renewal.elapsed() >= RENEW_DEADLINE => {
                warn!(error = %e, "could not renew the leader lease in time; stepping down");
                lost.cancel();
                return;
            }
            Err(e) => warn!(error = %e, "leader lease renewal failed; retrying"),
        }
    }
}
