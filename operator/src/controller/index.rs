//! What the operator knows about the children it applied, without asking the API server: a
//! metadata-only, label-selected reflector store per child kind, and the version each child had
//! right after the operator's own last apply. Together they let a no-op pass make zero writes.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use kube::{
    core::{ApiResource, DynamicObject, ObjectMeta, PartialObjectMeta},
    runtime::reflector::{ObjectRef, Store},
};

use crate::build::TENANT_LABEL;

/// A watched child, metadata only.
pub type ChildMeta = PartialObjectMeta<DynamicObject>;
/// The reflector store of one child kind.
pub type ChildStore = Store<ChildMeta>;

/// Identifies a child across kinds: `group/kind`, namespace, name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChildKey {
    pub group_kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ChildKey {
    pub fn new(resource: &ApiResource, namespace: Option<&str>, name: &str) -> Self {
        Self {
            group_kind: group_kind(resource),
            namespace: namespace.map(Into::into),
            name: name.into(),
        }
    }
}

fn group_kind(resource: &ApiResource) -> String {
    format!("{}/{}", resource.group, resource.kind)
}

/// The version marker of an object: its `generation` when the kind has one (so status updates by
/// other controllers do not count as drift), else its `resourceVersion`.
pub fn version_marker(meta: &ObjectMeta) -> Option<String> {
    meta.generation
        .map(|g| format!("g{g}"))
        .or_else(|| meta.resource_version.as_ref().map(|v| format!("r{v}")))
}

/// Shared by the reconciler (reads) and the watches (which fill the stores).
#[derive(Clone, Default)]
pub struct ChildIndex {
    stores: Arc<HashMap<String, (ApiResource, ChildStore)>>,
    /// Child → (hash of what was applied, version marker the apply returned).
    applied: Arc<Mutex<HashMap<ChildKey, (String, String)>>>,
}

impl ChildIndex {
    pub fn new(stores: impl IntoIterator<Item = (ApiResource, ChildStore)>) -> Self {
        let stores = stores
            .into_iter()
            .map(|(ar, store)| (group_kind(&ar), (ar, store)))
            .collect();
        Self {
            stores: Arc::new(stores),
            applied: Arc::default(),
        }
    }

    /// Whether the kind is watched (its CRD exists).
    pub fn watches(&self, resource: &ApiResource) -> bool {
        self.stores.contains_key(&group_kind(resource))
    }

    /// Every store, to wait for their first sync.
    pub fn stores(&self) -> impl Iterator<Item = &ChildStore> {
        self.stores.values().map(|(_, s)| s)
    }

    /// The child as last seen by the watch, if it is watched and exists.
    pub fn observed(&self, key: &ChildKey) -> Option<Arc<ChildMeta>> {
        let (ar, store) = self.stores.get(&key.group_kind)?;
        let mut oref = ObjectRef::new_with(&key.name, ar.clone());
        if let Some(ns) = &key.namespace {
            oref = oref.within(ns);
        }
        store.get(&oref)
    }

    /// Children of one kind carrying the tenant label of `tenant` in `namespace`.
    pub fn of_tenant(&self, resource: &ApiResource, tenant: &str, namespace: &str) -> Vec<Arc<ChildMeta>> {
        let Some((_, store)) = self.stores.get(&group_kind(resource)) else {
            return Vec::new();
        };
        store.state_filter(|o| {
            o.metadata.namespace.as_deref() == Some(namespace)
                && o.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(TENANT_LABEL))
                    .map(String::as_str)
                    == Some(tenant)
        })
    }

    /// What the operator's own last apply of `key` wrote and got back.
    pub fn last_applied(&self, key: &ChildKey) -> Option<(String, String)> {
        self.applied.lock().ok()?.get(key).cloned()
    }

    pub fn remember(&self, key: ChildKey, hash: String, version: String) {
        if let Ok(mut applied) = self.applied.lock() {
            applied.insert(key, (hash, version));
        }
    }

    pub fn forget(&self, key: &ChildKey) {
        if let Ok(mut applied) = self.applied.lock() {
            applied.remove(key);
        }
    }

    /// Forgets everything applied into `namespace` (and the namespace itself).
    pub fn forget_namespace(&self, namespace: &str) {
        if let Ok(mut applied) = self.applied.lock() {
            applied.retain(|k, _| {
                let is_namespace =
                    k.namespace.is_none() && k.group_kind == "/Namespace" && k.name == namespace;
                k.namespace.as_deref() != Some(namespace) && !is_namespace
            });
        }
    }
}
