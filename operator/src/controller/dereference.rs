//! The dereference step: everything one pass reads from the API server before it decides
//! anything (the tenant namespace, the key Secret, the Secrets and ConfigMaps the spec references).
//! The steps after it (validate, build) are pure and work from what it returns.
//!
//! Ownership is checked as it reads: an existing namespace or key Secret is used only when it
//! carries this tenant's label, so that a spec can never take over (or, on deletion, delete)
//! someone else's objects.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::{Api, ResourceExt, core::ObjectMeta};

use super::{
    Context, Error, api_err,
    conditions::reason,
    references::{Referenced, read_referenced},
};
use crate::{
    api::McpTenant,
    build::{KEYS_SECRET_NAME, TENANT_LABEL},
};

/// What the pass read about a tenant whose namespace and key Secret are its own.
pub struct Dereferenced {
    /// The key Secret, when it exists.
    pub key_secret: Option<Secret>,
    /// Every Secret and ConfigMap the spec references, present or not.
    pub referenced: Vec<Referenced>,
}

/// The namespace or the key Secret belongs to someone else: nothing may be applied.
pub struct Conflict {
    pub reason: &'static str,
    pub message: String,
}

/// The outcome of [`dereference`].
pub enum Dereference {
    Owned(Dereferenced),
    Conflict(Conflict),
}

/// Reads, in this order, the namespace's metadata, the key Secret and the referenced objects;
/// stops at the first object that belongs to someone else.
pub async fn dereference(tenant: &McpTenant, ctx: &Context, namespace: &str) -> Result<Dereference, Error> {
    let name = tenant.name_any();
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    let current = namespaces
        .get_metadata_opt(namespace)
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
        return Ok(Dereference::Conflict(Conflict {
            reason: reason::NAMESPACE_CONFLICT,
            message,
        }));
    }

    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let key_secret = secrets
        .get_opt(KEYS_SECRET_NAME)
        .await
        .map_err(api_err(format!("read Secret {namespace}/{KEYS_SECRET_NAME}")))?;
    if let Some(secret) = &key_secret
        && !labelled_for(&secret.metadata, &name)
    {
        let message = format!(
            "Secret {namespace}/{KEYS_SECRET_NAME} exists without the label {TENANT_LABEL}={name}, so the operator \
             neither uses nor replaces it; delete it to generate new keys, or label it {TENANT_LABEL}={name} to \
             adopt it deliberately"
        );
        return Ok(Dereference::Conflict(Conflict {
            reason: reason::KEY_SECRET_CONFLICT,
            message,
        }));
    }

    let config_maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), namespace);
    let referenced = read_referenced(&secrets, &config_maps, &tenant.spec)
        .await
        .map_err(api_err(format!(
            "read referenced Secrets and ConfigMaps in {namespace}"
        )))?;
    Ok(Dereference::Owned(Dereferenced {
        key_secret,
        referenced,
    }))
}

/// The value of the tenant label on an object.
fn tenant_label(meta: &ObjectMeta) -> Option<&str> {
    meta.labels.as_ref()?.get(TENANT_LABEL).map(String::as_str)
}

/// Whether an object carries the label of tenant `name`, i.e. was made for (or deliberately
/// given to) that tenant.
pub fn labelled_for(meta: &ObjectMeta, name: &str) -> bool {
    tenant_label(meta) == Some(name)
}
