//! One reconcile pass, as a pipeline: dereference (read the namespace, the key Secret and the
//! referenced objects) → validate → build (pure) → apply → prune → observe → status → events.
//! Cleanup ([`super::cleanup`]) honours `deletionPolicy`.

use std::{sync::Arc, time::Duration};

use jiff::Timestamp;
use kube::{
    Api, ResourceExt,
    runtime::{
        controller::Action,
        finalizer::{Event as Finalizer, finalizer},
    },
};
use tracing::{Instrument, info, info_span};

use super::{
    Context, Error, FINALIZER, api_err,
    apply::apply_children,
    cleanup::cleanup,
    dereference::{Conflict, Dereference, Dereferenced, dereference},
    events,
    keys::{KeyAction, KeyError, plan_keys},
    observe::observe,
    prune::{desired_keys, prune},
    references::{problems, secrets_checksum},
    status::{MonitoringState, Observations, desired_status, write_status},
};
use crate::{
    api::{McpTenant, McpTenantStatus, Phase},
    build::{BuildInput, Child, build_children, public_url, tenant_namespace},
    validate::validate,
};

/// How often a healthy tenant is looked at even without a watch event.
pub const RESYNC: Duration = Duration::from_secs(3600);
/// How often a tenant that is not ready yet is looked at without a watch event.
pub const NOT_READY_RESYNC: Duration = Duration::from_secs(300);

/// The reconciler the [`kube::runtime::Controller`] runs: the finalizer, then apply or cleanup.
pub async fn reconcile(tenant: Arc<McpTenant>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = tenant.name_any();
    let span = info_span!("reconcile", tenant = %name);
    async move {
        let timer = ctx.metrics.start();
        let api: Api<McpTenant> = Api::all(ctx.client.clone());
        let result = finalizer(&api, FINALIZER, tenant, |event| async {
            match event {
                Finalizer::Apply(t) => apply(&t, &ctx).await,
                Finalizer::Cleanup(t) => cleanup(&t, &ctx).await,
            }
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e)));
        match &result {
            Ok(_) => {
                ctx.backoff.reset(&name);
                timer.finish(Ok(()));
            }
            Err(e) => timer.finish(Err(e.category())),
        }
        result
    }
    .instrument(span)
    .await
}

/// Brings the children and status of `tenant` to what its spec asks for.
async fn apply(tenant: &McpTenant, ctx: &Context) -> Result<Action, Error> {
    let name = tenant.name_any();
    let namespace = tenant_namespace(tenant);
    let mut obs = Observations {
        namespace: namespace.clone(),
        url: format!("{}/mcp", public_url(tenant)),
        suspended: tenant.spec.suspend,
        ..Observations::default()
    };

    // Dereference: what this pass needs from the API server, owned by this tenant.
    let Dereferenced {
        key_secret,
        referenced,
    } = match dereference(tenant, ctx, &namespace).await? {
        Dereference::Owned(read) => read,
        Dereference::Conflict(conflict) => return report_conflict(tenant, ctx, obs, conflict).await,
    };
    // Keys: plan creation, rotation or retirement (written after the Namespace exists).
    let (key_plan, key_source) = match plan_keys(tenant, &namespace, key_secret.clone(), Timestamp::now()) {
        Ok(plan) => {
            obs.keys = Some(Ok(plan.status.clone()));
            let source = plan.secret.clone();
            (Some(plan), source)
        }
        Err(e @ KeyError::Unreadable { .. }) => {
            obs.keys = Some(Err(e.to_string()));
            (None, key_secret.unwrap_or_default())
        }
        Err(e) => return Err(e.into()),
    };
    obs.reference_problems = problems(&tenant.spec, &referenced, &namespace);
    // The referenced objects' digest rolls the pods when they change.
    let checksum = secrets_checksum(&key_source, &referenced);

    // Validate, then build. An invalid spec waits for a change instead of retrying.
    let children = match validated_children(tenant, ctx, &checksum) {
        Ok(children) => children,
        Err(message) => {
            obs.invalid_spec = Some(message);
            finish(tenant, ctx, &obs, None).await?;
            return Ok(Action::await_change());
        }
    };
    obs.monitoring = Some(monitoring_state(tenant, ctx));

    let next_retirement = key_plan.as_ref().and_then(|p| p.next_retirement);
    let mut applied = apply_children(ctx, &name, &namespace, &children, key_plan).await?;
    let key_action = applied.key_action.take();
    let pruned = prune(
        &ctx.client,
        &ctx.index,
        &name,
        &namespace,
        &desired_keys(&children),
    )
    .await
    .map_err(api_err(format!("prune children in {namespace}")))?;
    if !pruned.is_empty() {
        info!(pruned = ?pruned, "deleted children the spec no longer wants");
    }
    let observed = observe(ctx, applied).await?;
    obs.workload = observed.workload;
    obs.exposure = observed.exposure;

    let status = finish(tenant, ctx, &obs, key_action.as_ref()).await?;
    Ok(next_action(&obs, &status, next_retirement))
}

/// The validate and build steps: every child, or why the spec cannot be built.
fn validated_children(
    tenant: &McpTenant,
    ctx: &Context,
    secrets_checksum: &str,
) -> Result<Vec<Child>, String> {
    let validated = validate(tenant).map_err(|e| e.to_string())?;
    let input = BuildInput {
        tenant: validated,
        defaults: &ctx.defaults,
        secrets_checksum,
        monitoring_crds_installed: ctx.monitoring_crds_installed,
    };
    build_children(&input).map_err(|e| e.to_string())
}

/// Whether monitoring is wanted, and possible with the CRDs the cluster has.
fn monitoring_state(tenant: &McpTenant, ctx: &Context) -> MonitoringState {
    let wants_monitoring = tenant.spec.monitoring.service_monitor || tenant.spec.monitoring.alerts.enabled;
    match (wants_monitoring, ctx.monitoring_crds_installed) {
        (false, _) => MonitoringState::Disabled,
        (true, false) => MonitoringState::CrdNotInstalled,
        (true, true) => MonitoringState::Applied,
    }
}

/// When to look at the tenant again without a watch event.
fn next_action(obs: &Observations, status: &McpTenantStatus, next_retirement: Option<Timestamp>) -> Action {
    if !obs.reference_problems.is_empty() || matches!(obs.keys, Some(Err(_))) {
        // A person must act; the Secret watches bring us back when they do.
        return Action::await_change();
    }
    let ready = status.phase == Some(Phase::Ready);
    let resync = if ready { RESYNC } else { NOT_READY_RESYNC };
    // Come back when the oldest retired key may be dropped, if that is sooner.
    let until_retirement = next_retirement
        .and_then(|t| Duration::try_from(t.duration_since(Timestamp::now())).ok())
        .map(|d| d.max(Duration::from_secs(1)));
    Action::requeue(until_retirement.map_or(resync, |d| d.min(resync)))
}

/// Reports that the namespace or key Secret belongs to someone else: nothing is applied, the
/// status says why (an Event comes with the Degraded transition) and the pass waits for a change.
async fn report_conflict(
    tenant: &McpTenant,
    ctx: &Context,
    mut obs: Observations,
    conflict: Conflict,
) -> Result<Action, Error> {
    // An invalid spec (e.g. a system namespace) is the clearer report.
    if let Err(e) = validate(tenant) {
        obs.invalid_spec = Some(e.to_string());
    }
    obs.conflict = Some((conflict.reason, conflict.message));
    finish(tenant, ctx, &obs, None).await?;
    Ok(Action::await_change())
}

/// The status step: computes and writes the status, publishes transition events and updates the
/// phase gauge.
async fn finish(
    tenant: &McpTenant,
    ctx: &Context,
    obs: &Observations,
    keys: Option<&KeyAction>,
) -> Result<McpTenantStatus, Error> {
    let status = desired_status(tenant, obs, Timestamp::now());
    let api: Api<McpTenant> = Api::all(ctx.client.clone());
    if write_status(&api, tenant, &status)
        .await
        .map_err(api_err("write status"))?
    {
        info!(phase = ?status.phase, "status updated");
    }
    ctx.metrics.set_phase(&tenant.name_any(), status.phase);
    let events = events::transitions(tenant.status.as_ref(), &status, keys);
    events::publish(&ctx.recorder, tenant, &events).await;
    Ok(status)
}
