//! One reconcile pass: keys → referenced Secrets → build (validates) → apply → prune → observe →
//! status → events. Cleanup honours `deletionPolicy`.

use std::{sync::Arc, time::Duration};

use jiff::Timestamp;
use k8s_openapi::api::{
    apps::v1::StatefulSet,
    core::v1::{ConfigMap, Namespace, Secret},
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions},
    core::{DynamicObject, ObjectMeta, PartialObjectMeta},
    runtime::{
        controller::Action,
        finalizer::{Event as Finalizer, finalizer},
    },
};
use serde_json::json;
use tracing::{Instrument, info, info_span};

use super::{
    Context, Error, FINALIZER, api_err,
    apply::{Applied, apply_child, child_api},
    conditions::reason,
    events,
    keys::{KeyAction, KeyError, plan_keys},
    prune::{desired_keys, prune},
    references::{problems, read_referenced, secrets_checksum},
    status::{ExposureState, MonitoringState, Observations, WorkloadState, desired_status, write_status},
};
use crate::{
    api::{DeletionPolicy, McpTenant, McpTenantStatus, Phase},
    build::{
        BuildInput, Child, ChildRole, ExposureKind, FIELD_MANAGER, KEYS_SECRET_NAME, SERVER_NAME,
        TENANT_LABEL, build_children, public_url, tenant_namespace,
    },
    validate::{is_reserved_namespace, validate},
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
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut obs = Observations {
        namespace: namespace.clone(),
        url: format!("{}/mcp", public_url(tenant)),
        suspended: tenant.spec.suspend,
        ..Observations::default()
    };

    // Ownership: an existing namespace is used only when it carries this tenant's label, so that
    // a spec can never take over (or, on deletion, delete) someone else's namespace.
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    let current = namespaces
        .get_metadata_opt(&namespace)
        .await
        .map_err(api_err(format!("read Namespace {namespace}")))?;
    if let Some(meta) = &current
        && !labelled_for(&meta.metadata, &name)
    {
        let owner = match tenant_label(&meta.metadata) {
            Some(other) => format!("belongs to McpTenant {other:?}"),
            None => format!("exists without the label {TENANT_LABEL}={name}"),
        };
        let message = format!(
            "namespace {namespace} {owner}, so the operator leaves it alone; choose another \
             spec.namespace, or label the namespace {TENANT_LABEL}={name} to adopt it deliberately"
        );
        return conflict(tenant, ctx, obs, reason::NAMESPACE_CONFLICT, message).await;
    }

    // Keys: read; plan creation, rotation or retirement. Written after the Namespace exists.
    let existing = secrets
        .get_opt(KEYS_SECRET_NAME)
        .await
        .map_err(api_err(format!("read Secret {namespace}/{KEYS_SECRET_NAME}")))?;
    if let Some(secret) = &existing
        && !labelled_for(&secret.metadata, &name)
    {
        let message = format!(
            "Secret {namespace}/{KEYS_SECRET_NAME} exists without the label {TENANT_LABEL}={name}, so the operator \
             neither uses nor replaces it; delete it to generate new keys, or label it {TENANT_LABEL}={name} to \
             adopt it deliberately"
        );
        return conflict(tenant, ctx, obs, reason::KEY_SECRET_CONFLICT, message).await;
    }
    let (key_plan, key_source) = match plan_keys(tenant, &namespace, existing.clone(), Timestamp::now()) {
        Ok(plan) => {
            obs.keys = Some(Ok(plan.status.clone()));
            let source = plan.secret.clone();
            (Some(plan), source)
        }
        Err(e @ KeyError::Unreadable { .. }) => {
            obs.keys = Some(Err(e.to_string()));
            (None, existing.unwrap_or_default())
        }
        Err(e) => return Err(e.into()),
    };

    // Referenced Secrets and ConfigMaps: present? Their digest rolls the pods when they change.
    let config_maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &namespace);
    let referenced = read_referenced(&secrets, &config_maps, &tenant.spec)
        .await
        .map_err(api_err(format!(
            "read referenced Secrets and ConfigMaps in {namespace}"
        )))?;
    obs.reference_problems = problems(&tenant.spec, &referenced, &namespace);
    let checksum = secrets_checksum(&key_source, &referenced);

    // Build (validates the spec). An invalid spec waits for a change instead of retrying.
    let built = validate(tenant).map_err(|e| e.to_string()).and_then(|validated| {
        let input = BuildInput {
            tenant: validated,
            defaults: &ctx.defaults,
            secrets_checksum: &checksum,
            monitoring_crds_installed: ctx.monitoring_crds_installed,
        };
        build_children(&input).map_err(|e| e.to_string())
    });
    let children = match built {
        Ok(children) => children,
        Err(e) => {
            obs.invalid_spec = Some(e);
            finish(tenant, ctx, &obs, None).await?;
            return Ok(Action::await_change());
        }
    };
    let desired = desired_keys(&children);
    let wants_monitoring = tenant.spec.monitoring.service_monitor || tenant.spec.monitoring.alerts.enabled;
    obs.monitoring = Some(match (wants_monitoring, ctx.monitoring_crds_installed) {
        (false, _) => MonitoringState::Disabled,
        (true, false) => MonitoringState::CrdNotInstalled,
        (true, true) => MonitoringState::Applied,
    });

    // Apply, in the builders' order; the key Secret right after the Namespace.
    let next_retirement = key_plan.as_ref().and_then(|p| p.next_retirement);
    let mut key_plan = key_plan;
    let mut key_action = None;
    let mut workload = None;
    let mut exposure = None;
    for child in &children {
        if !ctx.index.watches(&child.resource) {
            // Its CRD is not installed. Only the HTTPRoute gets here: the builders leave the
            // monitoring children out themselves when those CRDs are missing.
            if let ChildRole::Exposure(_) = child.role {
                obs.exposure = Some(ExposureState::CrdNotInstalled(child.resource.api_version.clone()));
            }
            continue;
        }
        let outcome = apply_child(&ctx.client, &ctx.index, &name, child)
            .await
            .map_err(api_err(format!(
                "apply {} {}",
                child.resource.kind,
                describe(child)
            )))?;
        match child.role {
            ChildRole::Workload => workload = Some((child, outcome)),
            ChildRole::Exposure(_) => exposure = Some((child, outcome)),
            _ => {}
        }
        if child.role == ChildRole::Namespace
            && let Some(plan) = key_plan.take()
        {
            key_action = Some(write_keys(&secrets, plan.action, plan.secret, &namespace).await?);
        }
    }
    if let Some(plan) = key_plan.take() {
        key_action = Some(write_keys(&secrets, plan.action, plan.secret, &namespace).await?);
    }

    let pruned = prune(&ctx.client, &ctx.index, &name, &namespace, &desired)
        .await
        .map_err(api_err(format!("prune children in {namespace}")))?;
    if !pruned.is_empty() {
        info!(pruned = ?pruned, "deleted children the spec no longer wants");
    }

    // Observe what the status reports.
    if let Some((child, outcome)) = workload {
        let object = observed_object(ctx, child, outcome).await?;
        let value = serde_json::to_value(&object).unwrap_or_default();
        obs.workload = Some(WorkloadState::from_object(&value, object.metadata.generation));
    }
    if let Some((child, outcome)) = exposure {
        let is_route = child.role == ChildRole::Exposure(ExposureKind::HttpRoute);
        let object = observed_object(ctx, child, outcome).await?;
        let value = serde_json::to_value(&object).unwrap_or_default();
        obs.exposure = Some(if is_route {
            ExposureState::from_http_route(&value)
        } else {
            ExposureState::from_ingress(&value)
        });
    }

    let status = finish(tenant, ctx, &obs, key_action.as_ref()).await?;
    Ok(
        if !obs.reference_problems.is_empty() || matches!(obs.keys, Some(Err(_))) {
            // A person must act; the Secret watches bring us back when they do.
            Action::await_change()
        } else {
            let ready = status.phase == Some(Phase::Ready);
            let resync = if ready { RESYNC } else { NOT_READY_RESYNC };
            // Come back when the oldest retired key may be dropped, if that is sooner.
            let until_retirement = next_retirement
                .and_then(|t| Duration::try_from(t.duration_since(Timestamp::now())).ok())
                .map(|d| d.max(Duration::from_secs(1)));
            Action::requeue(until_retirement.map_or(resync, |d| d.min(resync)))
        },
    )
}

/// The value of the tenant label on an object.
fn tenant_label(meta: &ObjectMeta) -> Option<&str> {
    meta.labels.as_ref()?.get(TENANT_LABEL).map(String::as_str)
}

/// Whether an object carries the label of tenant `name`, i.e. was made for (or deliberately
/// given to) that tenant.
fn labelled_for(meta: &ObjectMeta, name: &str) -> bool {
    tenant_label(meta) == Some(name)
}

/// Reports that the namespace or key Secret belongs to someone else: nothing is applied, the
/// status says why (an Event comes with the Degraded transition) and the pass waits for a change.
async fn conflict(
    tenant: &McpTenant,
    ctx: &Context,
    mut obs: Observations,
    reason: &'static str,
    message: String,
) -> Result<Action, Error> {
    // An invalid spec (e.g. a system namespace) is the clearer report.
    if let Err(e) = validate(tenant) {
        obs.invalid_spec = Some(e.to_string());
    }
    obs.conflict = Some((reason, message));
    finish(tenant, ctx, &obs, None).await?;
    Ok(Action::await_change())
}

/// `namespace/name` (or `name`) of a child, for messages.
fn describe(child: &Child) -> String {
    match &child.object.metadata.namespace {
        Some(ns) => format!("{ns}/{}", child.object.name_any()),
        None => child.object.name_any(),
    }
}

/// The object as the API server has it: the apply response, or a read when nothing was written.
async fn observed_object(ctx: &Context, child: &Child, outcome: Applied) -> Result<DynamicObject, Error> {
    match outcome {
        Applied::Written(object) => Ok(*object),
        Applied::Unchanged => {
            let name = child.object.name_any();
            child_api(&ctx.client, child)
                .get(&name)
                .await
                .map_err(api_err(format!("read {} {name}", child.resource.kind)))
        }
    }
}

/// Creates the key Secret (never replacing one that appeared meanwhile) or replaces it guarded
/// by its resourceVersion.
async fn write_keys(
    secrets: &Api<Secret>,
    action: KeyAction,
    secret: Secret,
    namespace: &str,
) -> Result<KeyAction, Error> {
    let params = PostParams {
        dry_run: false,
        field_manager: Some(FIELD_MANAGER.into()),
    };
    let what = format!("Secret {namespace}/{KEYS_SECRET_NAME}");
    match action {
        KeyAction::Keep => {}
        KeyAction::Create => {
            secrets
                .create(&params, &secret)
                .await
                .map_err(api_err(format!("create {what}")))?;
            info!(secret = %what, "generated tenant keys");
        }
        KeyAction::Update | KeyAction::Rotate => {
            secrets
                .replace(KEYS_SECRET_NAME, &params, &secret)
                .await
                .map_err(api_err(format!("update {what}")))?;
            info!(secret = %what, rotated = (action == KeyAction::Rotate), "updated tenant keys");
        }
    }
    Ok(action)
}

/// Computes and writes the status, publishes transition events and updates the phase gauge.
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

/// Deletion: `Delete` removes the namespace (and with it keys and store); `Retain` detaches the
/// namespace and the store from the McpTenant so that re-applying it adopts them. Either acts only
/// on a namespace that carries this tenant's label, and `Delete` never deletes a system namespace.
async fn cleanup(tenant: &McpTenant, ctx: &Context) -> Result<Action, Error> {
    let name = tenant.name_any();
    let namespace = tenant_namespace(tenant);
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    let current = namespaces
        .get_metadata_opt(&namespace)
        .await
        .map_err(api_err(format!("read Namespace {namespace}")))?;
    let ours = current.as_ref().filter(|m| labelled_for(&m.metadata, &name));
    let deletes = ours.is_some()
        && tenant.spec.deletion_policy == DeletionPolicy::Delete
        && !is_reserved_namespace(&namespace);
    if let Some(meta) = &current
        && !deletes
    {
        // A namespace that stays must not keep an owner reference that lets the garbage
        // collector delete it with the McpTenant.
        detach_namespace(&namespaces, meta, tenant.uid().as_deref()).await?;
    }
    let note = match (ours, tenant.spec.deletion_policy) {
        (None, _) if current.is_none() => {
            format!("namespace {namespace} does not exist; nothing to clean up")
        }
        (None, _) => format!(
            "kept namespace {namespace}: it does not carry the label {TENANT_LABEL}={name}, so it is not this tenant's"
        ),
        (Some(_), DeletionPolicy::Delete) if is_reserved_namespace(&namespace) => {
            format!("kept namespace {namespace}: it is a system namespace")
        }
        (Some(meta), DeletionPolicy::Delete) => {
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: meta.metadata.uid.clone(),
                    resource_version: None,
                }),
                ..DeleteParams::background()
            };
            match namespaces.delete(&namespace, &params).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(api_err(format!("delete Namespace {namespace}"))(e)),
            }
            format!("deletionPolicy Delete: deleting namespace {namespace} with its keys and store")
        }
        (Some(_), DeletionPolicy::Retain) => {
            retain_store(ctx, &namespace).await?;
            format!(
                "deletionPolicy Retain: kept namespace {namespace}, its keys and store; re-apply the McpTenant to adopt them"
            )
        }
    };
    info!(%namespace, policy = ?tenant.spec.deletion_policy, "tenant deleted");
    let event = kube::runtime::events::Event {
        type_: kube::runtime::events::EventType::Normal,
        reason: "Deleted".into(),
        note: Some(note),
        action: "Cleanup".into(),
        secondary: None,
    };
    events::publish(&ctx.recorder, tenant, &[event]).await;
    ctx.index.forget_namespace(&namespace);
    ctx.metrics.set_phase(&name, None);
    ctx.backoff.reset(&name);
    Ok(Action::await_change())
}

/// Removes owner references to the tenant from the namespace, guarded by its resourceVersion.
async fn detach_namespace(
    namespaces: &Api<Namespace>,
    meta: &PartialObjectMeta<Namespace>,
    uid: Option<&str>,
) -> Result<(), Error> {
    let namespace = meta.metadata.name.as_deref().unwrap_or_default();
    let owners = meta.metadata.owner_references.clone().unwrap_or_default();
    let kept: Vec<_> = owners
        .iter()
        .filter(|o| Some(o.uid.as_str()) != uid)
        .cloned()
        .collect();
    if kept.len() == owners.len() {
        return Ok(());
    }
    let patch =
        json!({"metadata": {"resourceVersion": meta.metadata.resource_version, "ownerReferences": kept}});
    namespaces
        .patch(namespace, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api_err(format!("detach Namespace {namespace}")))?;
    Ok(())
}

/// Makes sure the embedded store's volume outlives the StatefulSet the garbage collector is
/// about to delete (it may still say `whenDeleted: Delete` from an earlier `Delete` policy).
async fn retain_store(ctx: &Context, namespace: &str) -> Result<(), Error> {
    let sets: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), namespace);
    let Some(set) = sets
        .get_opt(SERVER_NAME)
        .await
        .map_err(api_err(format!("read StatefulSet {namespace}/{SERVER_NAME}")))?
    else {
        return Ok(());
    };
    let deletes = set
        .spec
        .persistent_volume_claim_retention_policy
        .as_ref()
        .and_then(|p| p.when_deleted.as_deref())
        == Some("Delete");
    if deletes {
        let patch = json!({"spec": {"persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain"}}});
        sets.patch(SERVER_NAME, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(api_err(format!(
                "retain the store of StatefulSet {namespace}/{SERVER_NAME}"
            )))?;
    }
    Ok(())
}
