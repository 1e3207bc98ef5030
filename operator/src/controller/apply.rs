//! Server-side apply of the children, under one field manager, skipping children that are
//! already as wanted (see [`ChildIndex`]).

use aws_lc_rs::digest::{SHA256, digest};
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
    core::DynamicObject,
};

use super::index::{ChildIndex, ChildKey, version_marker};
use crate::build::{Child, FIELD_MANAGER};

/// Annotation on every applied child: a digest of what the operator applied. A child whose
/// digest and version match the operator's last apply is left alone.
pub const APPLIED_HASH_ANNOTATION: &str = "mcptenancy.dev/applied-hash";

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
