//! The apply step: server-side apply of the children, in the builders' order and under one
//! field manager, skipping children that are already as wanted (see [`ChildIndex`]); the key
//! Secret is written right after the Namespace it lives in.

use aws_lc_rs::digest::{SHA256, digest};
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Client, ResourceExt,
    api::{Patch, PatchParams, PostParams},
    core::DynamicObject,
};
use tracing::info;

use super::{
    Context, Error, api_err,
    index::{APPLIED_HASH_ANNOTATION, ChildIndex, ChildKey, version_marker},
    keys::{KeyAction, KeyPlan},
};
use crate::build::{Child, ChildRole, ExposureKind, FIELD_MANAGER, KEYS_SECRET_NAME};

/// The result of applying one child.
#[derive(Debug)]
pub enum Applied {
    /// Already as wanted; no request was made.
    Unchanged,
    /// Applied; the object as the API server returned it.
    Written(Box<DynamicObject>),
}

/// The API of the child's kind, in its namespace when it has one.
pub fn child_api(client: &Client, child: &Child) -> Api<DynamicObject> {
    match (child.namespaced, child.object.metadata.namespace.as_deref()) {
        (true, Some(ns)) => Api::namespaced_with(client.clone(), ns, &child.resource),
        _ => Api::all_with(client.clone(), &child.resource),
    }
}

/// Digest of the desired object, before the annotation carrying it is added.
fn desired_hash(object: &DynamicObject) -> String {
    // Serialization of a DynamicObject is deterministic for the same builder output.
    let bytes = serde_json::to_vec(object).unwrap_or_default();
    hex::encode(&digest(&SHA256, &bytes).as_ref()[..16])
}

/// Applies `child` unless the watch shows it exactly as the operator last applied it.
///
/// `force` (taking over fields another manager set) is used only on objects that already carry
/// this tenant's label, i.e. that the operator created; an object it would adopt (e.g. a
/// namespace someone made by hand) is applied without force, so a real conflict is reported
/// instead of silently overwritten.
pub async fn apply_child(
    client: &Client,
    index: &ChildIndex,
    tenant: &str,
    child: &Child,
) -> Result<Applied, kube::Error> {
    let hash = desired_hash(&child.object);
    let name = child.object.metadata.name.clone().unwrap_or_default();
    let key = ChildKey::new(&child.resource, child.object.metadata.namespace.as_deref(), &name);
    let mut object = child.object.clone();
    object
        .metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(APPLIED_HASH_ANNOTATION.into(), hash.clone());

    let observed = index.observed(&key);
    if let Some(o) = &observed {
        let carries = o.applied_hash.as_deref() == Some(hash.as_str());
        let same_version = index
            .last_applied(&key)
            .is_some_and(|(h, v)| h == hash && Some(v.as_str()) == o.version.as_deref());
        if carries && same_version && !o.deleting {
            return Ok(Applied::Unchanged);
        }
    }
    let ours = observed
        .as_ref()
        .is_some_and(|o| o.tenant.as_deref() == Some(tenant));
    let mut params = PatchParams::apply(FIELD_MANAGER);
    if ours {
        params = params.force();
    }
    let written = child_api(client, child)
        .patch(&name, &params, &Patch::Apply(&object))
        .await?;
    match version_marker(&written.metadata) {
        Some(version) => index.remember(key, hash, version),
        None => index.forget(&key),
    }
    Ok(Applied::Written(Box::new(written)))
}

/// What applying a tenant's children did, for the observe step.
pub struct AppliedChildren<'c> {
    /// The workload child and its outcome.
    pub workload: Option<(&'c Child, Applied)>,
    /// The exposure child, its kind and its outcome.
    pub exposure: Option<(ExposureKind, &'c Child, Applied)>,
    /// The apiVersion of an exposure child whose kind the cluster does not serve (CRDs missing).
    pub exposure_not_served: Option<String>,
    /// What was done to the key Secret, when there was a plan for it.
    pub key_action: Option<KeyAction>,
}

/// Applies `children` in order, and the key Secret of `key_plan` after the Namespace.
pub async fn apply_children<'c>(
    ctx: &Context,
    tenant: &str,
    namespace: &str,
    children: &'c [Child],
    mut key_plan: Option<KeyPlan>,
) -> Result<AppliedChildren<'c>, Error> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let mut applied = AppliedChildren {
        workload: None,
        exposure: None,
        exposure_not_served: None,
        key_action: None,
    };
    for child in children {
        if !ctx.index.watches(&child.resource) {
            // Its CRD is not installed. Only the HTTPRoute gets here: the builders leave the
            // monitoring children out themselves when those CRDs are missing.
            if let ChildRole::Exposure(_) = child.role {
                applied.exposure_not_served = Some(child.resource.api_version.clone());
            }
            continue;
        }
        let outcome = apply_child(&ctx.client, &ctx.index, tenant, child)
            .await
            .map_err(api_err(format!(
                "apply {} {}",
                child.resource.kind,
                describe(child)
            )))?;
        match child.role {
            ChildRole::Workload => applied.workload = Some((child, outcome)),
            ChildRole::Exposure(kind) => applied.exposure = Some((kind, child, outcome)),
            _ => {}
        }
        if child.role == ChildRole::Namespace
            && let Some(plan) = key_plan.take()
        {
            applied.key_action = Some(write_keys(&secrets, plan, namespace).await?);
        }
    }
    if let Some(plan) = key_plan.take() {
        applied.key_action = Some(write_keys(&secrets, plan, namespace).await?);
    }
    Ok(applied)
}

/// `namespace/name` (or `name`) of a child, for messages.
fn describe(child: &Child) -> String {
    match &child.object.metadata.namespace {
        Some(ns) => format!("{ns}/{}", child.object.name_any()),
        None => child.object.name_any(),
    }
}

/// Creates the key Secret (never replacing one that appeared meanwhile) or replaces it guarded
/// by its resourceVersion.
async fn write_keys(secrets: &Api<Secret>, plan: KeyPlan, namespace: &str) -> Result<KeyAction, Error> {
    let KeyPlan { action, secret, .. } = plan;
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
