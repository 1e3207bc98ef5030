//! Deletion of an McpTenant (the finalizer's cleanup): honours `deletionPolicy`.

use k8s_openapi::api::{apps::v1::StatefulSet, core::v1::Namespace};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, Preconditions},
    core::PartialObjectMeta,
    runtime::{
        controller::Action,
        events::{Event, EventType},
    },
};
use serde_json::json;
use tracing::info;

use super::{Context, Error, api_err, dereference::labelled_for, events};
use crate::{
    api::{DeletionPolicy, McpTenant},
    build::{SERVER_NAME, TENANT_LABEL, tenant_namespace},
    validate::is_reserved_namespace,
};

/// Deletion: `Delete` removes the namespace (and with it keys and store); `Retain` detaches the
/// namespace and the store from the McpTenant so that re-applying it adopts them. Either acts only
/// on a namespace that carries this tenant's label, and `Delete` never deletes a system namespace.
pub async fn cleanup(tenant: &McpTenant, ctx: &Context) -> Result<Action, Error> {
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
    let event = Event {
        type_: EventType::Normal,
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
