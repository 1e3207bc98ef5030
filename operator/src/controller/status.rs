//! The tenant's status: computed from what the pass observed, written with server-side apply to
//! the status subresource, and only when it changed.

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
};
use mcp_tenancy_config::IdentityMode;
use serde_json::{Value, json};

use super::conditions::{self as c, reason};
use crate::{
    api::{IdentityStatus, KeyStatus, McpTenant, McpTenantStatus, Phase},
    build::{FIELD_MANAGER, public_url},
};

/// The server workload as observed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkloadState {
    pub desired: i32,
    pub ready: i32,
    pub updated: i32,
    /// The workload controller has seen the latest spec.
    pub observed_latest: bool,
}

impl WorkloadState {
    /// Reads a Deployment or StatefulSet as JSON.
    pub fn from_object(object: &Value, generation: Option<i64>) -> Self {
        let int = |ptr: &str| {
            object
                .pointer(ptr)
                .and_then(Value::as_i64)
                .and_then(|v| i32::try_from(v).ok())
        };
        let observed = object
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64);
        Self {
            desired: int("/spec/replicas").unwrap_or(1),
            ready: int("/status/readyReplicas").unwrap_or(0),
            updated: int("/status/updatedReplicas").unwrap_or(0),
            observed_latest: generation.is_none() || observed >= generation,
        }
    }

    fn rolled_out(&self) -> bool {
        self.observed_latest && self.ready >= self.desired && self.updated >= self.desired
    }
}

/// How the tenant is reachable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExposureState {
    /// A parent Gateway accepted the HTTPRoute.
    Accepted,
    /// A parent Gateway refused it: (reason, message) from the Gateway's condition.
    NotAccepted(String, String),
    /// No Gateway has reported yet.
    RoutePending,
    /// The Ingress controller assigned an address.
    Address(String),
    /// No address yet.
    AddressPending,
    /// The route's API (this apiVersion) is not served: its CRDs are not installed.
    CrdNotInstalled(String),
}

impl ExposureState {
    pub fn from_http_route(object: &Value) -> Self {
        let parents = object
            .pointer("/status/parents")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let accepted: Vec<&Value> = parents
            .iter()
            .filter_map(|p| {
                p.get("conditions")?
                    .as_array()?
                    .iter()
                    .find(|c| c["type"] == "Accepted")
            })
            .collect();
        if accepted.iter().any(|c| c["status"] == "True") {
            return Self::Accepted;
        }
        match accepted.first() {
            Some(cond) => Self::NotAccepted(
                cond["reason"].as_str().unwrap_or("NotAccepted").to_string(),
                cond["message"].as_str().unwrap_or_default().to_string(),
            ),
            None => Self::RoutePending,
        }
    }

    pub fn from_ingress(object: &Value) -> Self {
        let first = object.pointer("/status/loadBalancer/ingress/0");
        match first
            .and_then(|i| i.get("hostname").or_else(|| i.get("ip")))
            .and_then(Value::as_str)
        {
            Some(address) => Self::Address(address.to_string()),
            None => Self::AddressPending,
        }
    }
}

/// Prometheus objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MonitoringState {
    /// Neither a ServiceMonitor nor alerts are wanted.
    Disabled,
    /// Wanted, but the monitoring.coreos.com CRDs are not installed.
    CrdNotInstalled,
    Applied,
}

/// Everything a pass learned; the status is a pure function of it.
#[derive(Clone, Debug, Default)]
pub struct Observations {
    pub namespace: String,
    pub url: String,
    pub suspended: bool,
    /// `Err(message)` when the key Secret cannot be used.
    pub keys: Option<Result<KeyStatus, String>>,
    /// Why the spec cannot be built.
    pub invalid_spec: Option<String>,
    /// The namespace or key Secret belongs to someone else: (reason, message). Nothing was applied.
    pub conflict: Option<(&'static str, String)>,
    /// Missing Secrets or keys, one sentence each.
    pub reference_problems: Vec<String>,
    pub workload: Option<WorkloadState>,
    pub exposure: Option<ExposureState>,
    pub monitoring: Option<MonitoringState>,
}

/// The status the tenant should have: one function per condition, then the phase. Conditions
/// whose status did not change keep their `lastTransitionTime`.
pub fn desired_status(tenant: &McpTenant, obs: &Observations, now: Timestamp) -> McpTenantStatus {
    let generation = tenant.metadata.generation;
    let old = tenant.status.clone().unwrap_or_default();
    let keys = keys_ready(obs);
    let exposure = exposure_ready(obs);
    let monitoring = monitoring_ready(obs);
    let degradation = degradation(obs);
    let degraded = degraded(degradation.as_ref());
    let rollout = Rollout::of(obs);
    let progressing = progressing(obs, degradation.is_some(), &rollout);
    let children_ready = keys.ok && exposure.ok && monitoring.ok;
    let ready = ready(obs, degradation.as_ref(), children_ready, &rollout);
    let phase = if obs.suspended {
        Phase::Suspended
    } else if degradation.is_some() {
        Phase::Degraded
    } else if ready.ok {
        Phase::Ready
    } else {
        Phase::Provisioning
    };
    let conditions = [keys, exposure, monitoring, degraded, progressing, ready]
        .into_iter()
        .map(|v| v.into_condition(&old.conditions, generation, now))
        .collect();
    McpTenantStatus {
        phase: Some(phase),
        conditions,
        observed_generation: generation,
        namespace: Some(obs.namespace.clone()),
        url: Some(obs.url.clone()),
        ready_replicas: obs.workload.as_ref().map(|w| w.ready),
        keys: match &obs.keys {
            Some(Ok(k)) => Some(k.clone()),
            _ => old.keys.clone(),
        },
        identity: identity(tenant),
        graph_scopes: tenant.spec.graph_scopes(),
    }
}

/// In Builtin mode the server is the authorization server at the public URL, and users come back
/// from the upstream sign-in to its callback.
fn identity(tenant: &McpTenant) -> Option<IdentityStatus> {
    match tenant.spec.identity.mode {
        IdentityMode::Builtin => {
            let issuer = public_url(tenant);
            Some(IdentityStatus {
                redirect_uri: format!("{issuer}/oauth/callback"),
                issuer,
            })
        }
        IdentityMode::External => None,
    }
}

/// One condition as computed, before its transition time is settled.
struct Verdict {
    type_: &'static str,
    ok: bool,
    reason: &'static str,
    message: String,
}

impl Verdict {
    fn new(type_: &'static str, ok: bool, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            type_,
            ok,
            reason,
            message: message.into(),
        }
    }

    /// The condition, keeping the old `lastTransitionTime` when its status did not change.
    fn into_condition(self, old: &[Condition], generation: Option<i64>, now: Timestamp) -> Condition {
        let status = if self.ok { "True" } else { "False" }.to_string();
        let since = old
            .iter()
            .find(|c| c.type_ == self.type_ && c.status == status)
            .map_or_else(|| Time(now), |c| c.last_transition_time.clone());
        Condition {
            type_: self.type_.into(),
            status,
            reason: self.reason.into(),
            message: self.message,
            observed_generation: generation,
            last_transition_time: since,
        }
    }
}

fn keys_ready(obs: &Observations) -> Verdict {
    match &obs.keys {
        Some(Ok(k)) => Verdict::new(
            c::KEYS_READY,
            true,
            reason::KEYS_AVAILABLE,
            format!("signing key {} is active", k.active_kid),
        ),
        Some(Err(m)) => Verdict::new(c::KEYS_READY, false, reason::KEYS_UNREADABLE, m.clone()),
        None => Verdict::new(
            c::KEYS_READY,
            false,
            reason::PENDING,
            "keys are not generated yet",
        ),
    }
}

fn exposure_ready(obs: &Observations) -> Verdict {
    let verdict = |ok, reason, message: String| Verdict::new(c::EXPOSURE_READY, ok, reason, message);
    match &obs.exposure {
        Some(ExposureState::Accepted) => verdict(
            true,
            reason::ACCEPTED,
            format!("the Gateway accepted the HTTPRoute for {}", obs.url),
        ),
        Some(ExposureState::NotAccepted(r, m)) => verdict(
            false,
            reason::NOT_ACCEPTED,
            format!(
                "the Gateway refused the HTTPRoute ({r}): {m}; check spec.network.gateway.parentRefs and that the \
                 listener allows routes from namespace {}",
                obs.namespace
            ),
        ),
        Some(ExposureState::RoutePending) => verdict(
            false,
            reason::PENDING,
            "no Gateway has accepted the HTTPRoute yet; check that spec.network.gateway.parentRefs names an \
             existing Gateway"
                .into(),
        ),
        Some(ExposureState::Address(a)) => verdict(
            true,
            reason::ADDRESS_ASSIGNED,
            format!("the Ingress has address {a}"),
        ),
        Some(ExposureState::AddressPending) => verdict(
            false,
            reason::ADDRESS_PENDING,
            "the Ingress has no address yet; check that an Ingress controller serves its class".into(),
        ),
        Some(ExposureState::CrdNotInstalled(api_version)) => verdict(
            false,
            reason::CRD_NOT_INSTALLED,
            format!(
                "the Gateway API CRDs ({api_version} HTTPRoute) are not installed; install them and restart the \
                 operator, or expose the tenant with spec.network.ingress"
            ),
        ),
        None => verdict(
            false,
            reason::PENDING,
            "the HTTPRoute or Ingress is not applied yet".into(),
        ),
    }
}

fn monitoring_ready(obs: &Observations) -> Verdict {
    match obs.monitoring {
        Some(MonitoringState::Disabled) => Verdict::new(
            c::MONITORING_READY,
            true,
            reason::DISABLED,
            "monitoring is switched off in spec.monitoring",
        ),
        Some(MonitoringState::CrdNotInstalled) => Verdict::new(
            c::MONITORING_READY,
            false,
            reason::CRD_NOT_INSTALLED,
            "the Prometheus operator CRDs (monitoring.coreos.com ServiceMonitor, PrometheusRule) are not installed; \
             install them and restart the operator, or set spec.monitoring.serviceMonitor and \
             spec.monitoring.alerts.enabled to false",
        ),
        Some(MonitoringState::Applied) => Verdict::new(
            c::MONITORING_READY,
            true,
            reason::APPLIED,
            "ServiceMonitor and alerting rules are applied",
        ),
        None => Verdict::new(c::MONITORING_READY, false, reason::PENDING, "not applied yet"),
    }
}

/// What needs a person, most important first: (reason, message).
fn degradation(obs: &Observations) -> Option<(&'static str, String)> {
    if let Some(m) = &obs.invalid_spec {
        Some((reason::INVALID_SPEC, format!("{m}; fix the McpTenant spec")))
    } else if let Some((r, m)) = &obs.conflict {
        Some((*r, m.clone()))
    } else if !obs.reference_problems.is_empty() {
        Some((reason::INVALID_REFERENCE, obs.reference_problems.join("; ")))
    } else if let Some(Err(m)) = &obs.keys {
        Some((reason::KEYS_UNREADABLE, m.clone()))
    } else {
        None
    }
}

fn degraded(degradation: Option<&(&'static str, String)>) -> Verdict {
    match degradation {
        Some((r, m)) => Verdict::new(c::DEGRADED, true, r, m.clone()),
        None => Verdict::new(c::DEGRADED, false, reason::AS_EXPECTED, "nothing needs attention"),
    }
}

/// The server workload as far as rollouts go.
struct Rollout {
    workload: WorkloadState,
    done: bool,
}

impl Rollout {
    fn of(obs: &Observations) -> Self {
        let workload = obs.workload.clone().unwrap_or_default();
        let done = obs.workload.is_some() && workload.rolled_out();
        Self { workload, done }
    }
}

const SUSPENDED_MESSAGE: &str = "spec.suspend is true: the server is scaled to zero";

fn progressing(obs: &Observations, degraded: bool, rollout: &Rollout) -> Verdict {
    let w = &rollout.workload;
    if obs.suspended {
        Verdict::new(c::PROGRESSING, false, reason::SUSPENDED, SUSPENDED_MESSAGE)
    } else if !degraded && !rollout.done {
        Verdict::new(
            c::PROGRESSING,
            true,
            reason::ROLLING_OUT,
            format!(
                "{} of {} server pods ready and up to date",
                w.ready.min(w.updated),
                w.desired
            ),
        )
    } else {
        Verdict::new(
            c::PROGRESSING,
            false,
            reason::RECONCILED,
            "every child is applied",
        )
    }
}

/// Ready: nothing degraded, keys, exposure and monitoring ready, rolled out and not suspended.
fn ready(
    obs: &Observations,
    degradation: Option<&(&'static str, String)>,
    children_ready: bool,
    rollout: &Rollout,
) -> Verdict {
    let ok = degradation.is_none() && children_ready && rollout.done && !obs.suspended;
    let (reason, message) = if ok {
        (reason::RECONCILED, format!("serving at {}", obs.url))
    } else if obs.suspended {
        (reason::SUSPENDED, SUSPENDED_MESSAGE.to_string())
    } else if let Some((r, m)) = degradation {
        (*r, m.clone())
    } else if !rollout.done {
        let w = &rollout.workload;
        (
            reason::WAITING_FOR_PODS,
            format!("{} of {} server pods ready", w.ready, w.desired),
        )
    } else {
        (
            reason::NOT_READY,
            "see the ExposureReady and MonitoringReady conditions".to_string(),
        )
    };
    Verdict::new(c::READY, ok, reason, message)
}

/// Writes `status` with server-side apply when it differs from what the tenant has. Returns
/// whether it wrote.
pub async fn write_status(
    api: &Api<McpTenant>,
    tenant: &McpTenant,
    status: &McpTenantStatus,
) -> Result<bool, kube::Error> {
    if tenant.status.as_ref() == Some(status) {
        return Ok(false);
    }
    let patch = json!({
        "apiVersion": McpTenant::api_version(&()),
        "kind": McpTenant::kind(&()),
        "status": status,
    });
    api.patch_status(
        &tenant.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(true)
}

/// The condition of `type_`, if present.
pub fn condition<'a>(status: Option<&'a McpTenantStatus>, type_: &str) -> Option<&'a Condition> {
    status?.conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::controller::tests::fixtures::mk_tenant;

    fn healthy() -> Observations {
        Observations {
            namespace: "mcp-contoso".into(),
            url: "https://contoso.mcp.example.com/mcp".into(),
            keys: Some(Ok(KeyStatus {
                active_kid: "kid-1".into(),
                ..KeyStatus::default()
            })),
            workload: Some(WorkloadState {
                desired: 2,
                ready: 2,
                updated: 2,
                observed_latest: true,
            }),
            exposure: Some(ExposureState::Accepted),
            monitoring: Some(MonitoringState::Applied),
            ..Observations::default()
        }
    }

    fn get<'a>(s: &'a McpTenantStatus, t: &str) -> (&'a str, &'a str) {
        let c = condition(Some(s), t).unwrap();
        (c.status.as_str(), c.reason.as_str())
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn everything_in_place_is_ready() {
        let status = desired_status(&mk_tenant("contoso"), &healthy(), t("2026-01-01T00:00:00Z"));
        assert_eq!(status.phase, Some(Phase::Ready));
        assert_eq!(get(&status, c::READY), ("True", reason::RECONCILED));
        assert_eq!(get(&status, c::PROGRESSING), ("False", reason::RECONCILED));
        assert_eq!(get(&status, c::DEGRADED), ("False", reason::AS_EXPECTED));
        assert_eq!(status.ready_replicas, Some(2));
        assert_eq!(status.observed_generation, Some(1));
    }

    #[test]
    fn graph_scopes_follow_the_offered_tools_unless_set() {
        let mut tenant = mk_tenant("contoso");
        let scopes = |t: &McpTenant| desired_status(t, &healthy(), Timestamp::now()).graph_scopes;
        let all = scopes(&tenant);
        assert_eq!(all[..4], ["openid", "profile", "offline_access", "User.Read"]);
        for s in [
            "Mail.ReadWrite",
            "Mail.Send",
            "Chat.Read",
            "ChatMessage.Send",
            "Tasks.ReadWrite",
            "Presence.Read.All",
        ] {
            assert!(all.iter().any(|x| x == s), "{s} in {all:?}");
        }
        assert!(
            !all.iter().any(|x| x == "Mail.Read"),
            "Mail.ReadWrite grants it: {all:?}"
        );

        // Read-only: no write permission, reads instead.
        tenant.spec.tools.read_only = true;
        let read_only = scopes(&tenant);
        for s in [
            "Mail.ReadWrite",
            "Mail.Send",
            "ChatMessage.Send",
            "Tasks.ReadWrite",
            "OnlineMeetings.ReadWrite",
        ] {
            assert!(!read_only.iter().any(|x| x == s), "{s} in {read_only:?}");
        }
        for s in ["Mail.Read", "Calendars.Read", "Tasks.Read", "Chat.Read"] {
            assert!(read_only.iter().any(|x| x == s), "{s} in {read_only:?}");
        }

        // A group switched off requests nothing of its own.
        tenant.spec.tools.read_only = false;
        tenant.spec.tools.teams = false;
        tenant.spec.tools.tasks = false;
        let fewer = scopes(&tenant);
        assert!(
            !fewer
                .iter()
                .any(|x| x.starts_with("Chat") || x.starts_with("Tasks.") || x.starts_with("Presence"))
        );

        // Set: exactly these.
        tenant.spec.identity.upstream.scopes = Some(vec!["openid".into(), "Mail.Read".into()]);
        assert_eq!(scopes(&tenant), ["openid", "Mail.Read"]);
    }

    #[test]
    fn builtin_mode_tells_what_to_register_upstream_and_external_mode_does_not() {
        let mut tenant = mk_tenant("contoso");
        let status = desired_status(&tenant, &healthy(), Timestamp::now());
        assert_eq!(
            status.identity,
            Some(IdentityStatus {
                redirect_uri: "https://contoso.mcp.example.com/oauth/callback".into(),
                issuer: "https://contoso.mcp.example.com".into(),
            })
        );

        tenant.spec.identity.mode = IdentityMode::External;
        tenant.spec.identity.external = Some(crate::api::ExternalIdentity {
            issuer: "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0".into(),
            jwks_uri: None,
            audiences: vec!["api://app-id".into()],
        });
        tenant.status = Some(status);
        let status = desired_status(&tenant, &healthy(), Timestamp::now());
        assert_eq!(
            status.identity, None,
            "an External tenant registers nothing upstream here"
        );
    }

    #[test]
    fn a_rollout_in_progress_is_progressing_and_not_ready() {
        let mut obs = healthy();
        obs.workload = Some(WorkloadState {
            desired: 2,
            ready: 2,
            updated: 1,
            observed_latest: true,
        });
        let status = desired_status(&mk_tenant("contoso"), &obs, Timestamp::now());
        assert_eq!(status.phase, Some(Phase::Provisioning));
        assert_eq!(get(&status, c::PROGRESSING), ("True", reason::ROLLING_OUT));
        assert_eq!(get(&status, c::READY), ("False", reason::WAITING_FOR_PODS));
    }

    #[test]
    fn suspended_and_degraded_win_over_ready() {
        let mut tenant = mk_tenant("contoso");
        tenant.spec.suspend = true;
        let mut obs = healthy();
        obs.suspended = true;
        obs.workload = Some(WorkloadState {
            desired: 0,
            ready: 0,
            updated: 0,
            observed_latest: true,
        });
        let status = desired_status(&tenant, &obs, Timestamp::now());
        assert_eq!(status.phase, Some(Phase::Suspended));
        assert_eq!(get(&status, c::READY), ("False", reason::SUSPENDED));

        let mut obs = healthy();
        obs.invalid_spec = Some("spec.tools: unknown tool".into());
        let status = desired_status(&mk_tenant("contoso"), &obs, Timestamp::now());
        assert_eq!(status.phase, Some(Phase::Degraded));
        assert_eq!(get(&status, c::DEGRADED), ("True", reason::INVALID_SPEC));
        assert_eq!(get(&status, c::READY), ("False", reason::INVALID_SPEC));
    }

    #[test]
    fn transition_times_move_only_when_the_status_changes() {
        let mut tenant = mk_tenant("contoso");
        let first = desired_status(&tenant, &healthy(), t("2026-01-01T00:00:00Z"));
        tenant.status = Some(first.clone());
        let same = desired_status(&tenant, &healthy(), t("2026-01-02T00:00:00Z"));
        assert_eq!(same, first, "an unchanged status is equal, so it is not written");
        let mut obs = healthy();
        obs.exposure = Some(ExposureState::RoutePending);
        let changed = desired_status(&tenant, &obs, t("2026-01-03T00:00:00Z"));
        let time = |s: &McpTenantStatus, ty| condition(Some(s), ty).unwrap().last_transition_time.0;
        assert_eq!(time(&changed, c::EXPOSURE_READY), t("2026-01-03T00:00:00Z"));
        assert_eq!(time(&changed, c::KEYS_READY), t("2026-01-01T00:00:00Z"));
    }

    #[test]
    fn exposure_is_read_from_route_parents_and_ingress_addresses() {
        let route = |status: &str, reason: &str| json!({"status": {"parents": [{"conditions": [{"type": "Accepted", "status": status, "reason": reason, "message": "m"}]}]}});
        assert_eq!(
            ExposureState::from_http_route(&route("True", "Accepted")),
            ExposureState::Accepted
        );
        assert_eq!(
            ExposureState::from_http_route(&route("False", "NotAllowedByListeners")),
            ExposureState::NotAccepted("NotAllowedByListeners".into(), "m".into())
        );
        assert_eq!(
            ExposureState::from_http_route(&json!({})),
            ExposureState::RoutePending
        );
        let ingress = json!({"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}});
        assert_eq!(
            ExposureState::from_ingress(&ingress),
            ExposureState::Address("203.0.113.7".into())
        );
        assert_eq!(
            ExposureState::from_ingress(&json!({"status": {}})),
            ExposureState::AddressPending
        );
        let workload = json!({"metadata": {"generation": 3}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "readyReplicas": 2, "updatedReplicas": 2}});
        assert!(!WorkloadState::from_object(&workload, Some(3)).observed_latest);
    }
}
