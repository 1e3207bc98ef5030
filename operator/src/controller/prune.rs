//! Deletes the optional children a tenant no longer wants (a disabled feature, an exposure or
//! workload kind it switched away from). Only objects that carry the tenant's label and the
//! operator's applied-hash annotation, in the tenant namespace, are candidates: nothing the
//! operator did not create is ever deleted.

use kube::{Api, Client, api::DeleteParams, core::DynamicObject};

use super::index::{ChildIndex, ChildKey};
use crate::build::{Child, prunable_resources};

/// Deletes what is not in `desired`; returns `kind/name` of each deleted child.
pub async fn prune(
    client: &Client,
    index: &ChildIndex,
    tenant: &str,
    namespace: &str,
    desired: &[ChildKey],
) -> Result<Vec<String>, kube::Error> {
    let mut pruned = Vec::new();
    for resource in prunable_resources() {
        for object in index.of_tenant(&resource, tenant, namespace) {
            let name: &str = &object.name;
            let key = ChildKey::new(&resource, Some(namespace), name);
            if object.applied_hash.is_none() || desired.contains(&key) || object.deleting {
                continue;
            }
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
            match api.delete(name, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => return Err(e),
            }
            index.forget(&key);
            pruned.push(format!("{}/{name}", resource.kind));
        }
    }
    Ok(pruned)
}

/// The keys of the desired children, for [`prune`].
pub fn desired_keys(children: &[Child]) -> Vec<ChildKey> {
    children
        .iter()
        .map(|c| {
            ChildKey::new(
                &c.resource,
                c.object.metadata.namespace.as_deref(),
                c.object.metadata.name.as_deref().unwrap_or_default(),
            )
        })
        .collect()
}
