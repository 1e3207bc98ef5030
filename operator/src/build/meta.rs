//! Names, labels and owner references shared by every child.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kube::{
    Resource,
    core::{ApiResource, DynamicObject},
};
use serde::Serialize;

use super::{BuildError, Child, ChildRole, TENANT_LABEL, tenant_namespace};
use crate::{
    api::{DeletionPolicy, McpTenant},
    validate::ValidatedTenant,
};

/// `app.kubernetes.io/component` of a child: which part of the tenant it belongs to.
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";

/// The component of the server pods and what directly serves them.
pub(crate) const SERVER: &str = "server";
/// Namespace, quota, limits and network policy: what keeps the tenant apart.
pub(crate) const ISOLATION: &str = "isolation";
/// HTTPRoute or Ingress.
pub(crate) const EXPOSURE: &str = "exposure";
/// ServiceMonitor and PrometheusRule.
pub(crate) const MONITORING: &str = "monitoring";

const APP_NAME: &str = "mcp-tenant-server";

/// Name of the workload, its Service and its ServiceAccount.
pub const SERVER_NAME: &str = "mcp-tenant-server";
/// Name of the server container.
pub const CONTAINER_NAME: &str = "server";
/// Name of the server's public port.
pub(crate) const HTTP_PORT_NAME: &str = "http";
/// Name of the server's operations port (metrics and probes).
pub(crate) const METRICS_PORT_NAME: &str = "metrics";

/// Labels on every child of `tenant`, with its component.
pub fn tenant_labels(tenant: &str, component: &str) -> BTreeMap<String, String> {
    let mut labels = selector_labels(tenant);
    labels.insert(COMPONENT_LABEL.into(), component.into());
    labels.insert("app.kubernetes.io/part-of".into(), "mcp-tenancy".into());
    labels.insert("app.kubernetes.io/managed-by".into(), super::FIELD_MANAGER.into());
    labels.insert(TENANT_LABEL.into(), tenant.into());
    labels
}

/// Labels that select the tenant's server pods. Never changed: a workload's selector is immutable.
pub fn selector_labels(tenant: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), APP_NAME.into()),
        ("app.kubernetes.io/instance".into(), tenant.into()),
    ])
}

/// What every builder needs to know about the tenant it builds for.
pub(crate) struct Context<'a> {
    pub tenant: &'a McpTenant,
    pub name: String,
    pub namespace: String,
    owner: OwnerReference,
}

impl<'a> Context<'a> {
    pub fn new(validated: &ValidatedTenant<'a>) -> Self {
        let ValidatedTenant {
            tenant, name, uid, ..
        } = *validated;
        let owner = OwnerReference {
            api_version: McpTenant::api_version(&()).into_owned(),
            kind: McpTenant::kind(&()).into_owned(),
            name: name.into(),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        Self {
            tenant,
            namespace: tenant_namespace(tenant),
            name: name.into(),
            owner,
        }
    }

    /// Metadata of a namespaced child.
    pub fn meta(&self, name: &str, component: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some(self.namespace.clone()),
            labels: Some(tenant_labels(&self.name, component)),
            owner_references: Some(vec![self.owner.clone()]),
            ..ObjectMeta::default()
        }
    }

    /// Metadata of the Namespace. With `deletionPolicy: Retain` it has no owner reference: the
    /// garbage collector would otherwise delete the namespace, keys and store with the McpTenant.
    pub fn namespace_meta(&self) -> ObjectMeta {
        let owned = self.tenant.spec.deletion_policy == DeletionPolicy::Delete;
        ObjectMeta {
            name: Some(self.namespace.clone()),
            labels: Some(tenant_labels(&self.name, ISOLATION)),
            owner_references: owned.then(|| vec![self.owner.clone()]),
            ..ObjectMeta::default()
        }
    }

    pub fn selector(&self) -> BTreeMap<String, String> {
        selector_labels(&self.name)
    }

    pub fn label_selector(&self) -> LabelSelector {
        LabelSelector {
            match_labels: Some(self.selector()),
            ..LabelSelector::default()
        }
    }
}

/// A typed Kubernetes object as a [`Child`] of `role`.
pub(crate) fn typed_child<K>(role: ChildRole, object: &K) -> Result<Child, BuildError>
where
    K: Resource<DynamicType = ()> + Serialize,
{
    dynamic_child(role, ApiResource::erase::<K>(&()), object)
}

/// Any object that serializes with apiVersion, kind and metadata as a [`Child`] of `role`.
pub(crate) fn dynamic_child(
    role: ChildRole,
    resource: ApiResource,
    object: &impl Serialize,
) -> Result<Child, BuildError> {
    let convert = |source| BuildError::Convert {
        kind: resource.kind.clone(),
        source,
    };
    let object: DynamicObject = serde_json::to_value(object)
        .and_then(serde_json::from_value)
        .map_err(convert)?;
    Ok(Child {
        role,
        namespaced: object.metadata.namespace.is_some(),
        resource,
        object,
    })
}
