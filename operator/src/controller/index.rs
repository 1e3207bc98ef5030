//! What the operator knows about the children it applied, without asking the API server: per
//! child kind, a compact map fed by a metadata-only, label-selected watch, and the version each
//! child had right after the operator's own last apply. Together they let a no-op pass make zero
//! writes.
//!
//! kube's reflector `Store` would keep a whole `PartialObjectMeta` per child, keyed by an
//! `ObjectRef` that repeats the kind's `ApiResource`: about 2 KiB per child. This keeps the few
//! fields the controller reads (about 200 bytes), which is what keeps a thousand tenants within
//! the operator's memory budget.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, RwLock},
};

use kube::{
    core::{ApiResource, DynamicObject, ObjectMeta, PartialObjectMeta},
    runtime::watcher::Event,
};
use tokio::sync::watch;

use crate::build::TENANT_LABEL;

/// Annotation on every applied child: a digest of what the operator applied. A child whose
/// digest and version match the operator's last apply is left alone.
pub const APPLIED_HASH_ANNOTATION: &str = "mcptenancy.dev/applied-hash";

/// A watched child, metadata only, as the watch delivers it.
pub type ChildMeta = PartialObjectMeta<DynamicObject>;

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

/// What the controller reads of a watched child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedChild {
    pub name: Box<str>,
    /// The value of the tenant label.
    pub tenant: Option<Box<str>>,
    /// The operator's applied-hash annotation.
    pub applied_hash: Option<Box<str>>,
    pub version: Option<Box<str>>,
    pub deleting: bool,
}

impl ObservedChild {
    pub fn from_meta(meta: &ObjectMeta) -> Self {
        let label = meta.labels.as_ref().and_then(|l| l.get(TENANT_LABEL));
        let hash = meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(APPLIED_HASH_ANNOTATION));
        Self {
            name: meta.name.as_deref().unwrap_or_default().into(),
            tenant: label.map(|l| l.as_str().into()),
            applied_hash: hash.map(|h| h.as_str().into()),
            version: version_marker(meta).map(Into::into),
            deleting: meta.deletion_timestamp.is_some(),
        }
    }
}

type Children = HashMap<(Option<Box<str>>, Box<str>), ObservedChild>;

/// The children of one kind.
struct KindIndex {
    children: RwLock<Children>,
    /// A relist in progress (the watch's Init … InitDone).
    relist: Mutex<Option<Children>>,
    synced: watch::Sender<bool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn key_of(meta: &ObjectMeta) -> (Option<Box<str>>, Box<str>) {
    (
        meta.namespace.as_deref().map(Into::into),
        meta.name.as_deref().unwrap_or_default().into(),
    )
}

impl KindIndex {
    fn apply(&self, event: &Event<ChildMeta>) {
        match event {
            Event::Apply(o) => {
                let child = ObservedChild::from_meta(&o.metadata);
                self.write().insert(key_of(&o.metadata), child);
            }
            Event::Delete(o) => {
                self.write().remove(&key_of(&o.metadata));
            }
            Event::Init => *lock(&self.relist) = Some(Children::new()),
            Event::InitApply(o) => {
                if let Some(relist) = lock(&self.relist).as_mut() {
                    relist.insert(key_of(&o.metadata), ObservedChild::from_meta(&o.metadata));
                }
            }
            Event::InitDone => {
                if let Some(relist) = lock(&self.relist).take() {
                    *self.write() = relist;
                }
                self.synced.send_replace(true);
            }
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Children> {
        self.children
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Children> {
        self.children
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Shared by the reconciler (reads) and the watches (which fill it).
#[derive(Clone, Default)]
pub struct ChildIndex {
    kinds: Arc<HashMap<String, KindIndex>>,
    /// Child → (hash of what was applied, version marker the apply returned).
    applied: Arc<Mutex<HashMap<ChildKey, (String, String)>>>,
}

impl ChildIndex {
    /// An empty index of the given (watched) kinds.
    pub fn new<'a>(resources: impl IntoIterator<Item = &'a ApiResource>) -> Self {
        let kinds = resources
            .into_iter()
            .map(|ar| {
                let kind = KindIndex {
                    children: RwLock::default(),
                    relist: Mutex::default(),
                    synced: watch::channel(false).0,
                };
                (group_kind(ar), kind)
            })
            .collect();
        Self {
            kinds: Arc::new(kinds),
            applied: Arc::default(),
        }
    }

    /// Records a watch event of a child of kind `resource`.
    pub fn apply_event(&self, resource: &ApiResource, event: &Event<ChildMeta>) {
        if let Some(kind) = self.kinds.get(&group_kind(resource)) {
            kind.apply(event);
        }
    }

    /// Waits until every kind's watch listed once.
    pub async fn wait_synced(&self) {
        for kind in self.kinds.values() {
            let mut rx = kind.synced.subscribe();
            // Err only if the sender is gone, which cannot happen while `self` lives.
            let _ = rx.wait_for(|synced| *synced).await;
        }
    }

    /// Whether the kind is watched (its CRD exists).
    pub fn watches(&self, resource: &ApiResource) -> bool {
        self.kinds.contains_key(&group_kind(resource))
    }

    /// The child as last seen by the watch, if it is watched and exists.
    pub fn observed(&self, key: &ChildKey) -> Option<ObservedChild> {
        let kind = self.kinds.get(&key.group_kind)?;
        let lookup = (key.namespace.as_deref().map(Into::into), key.name.as_str().into());
        kind.read().get(&lookup).cloned()
    }

    /// Children of one kind carrying the tenant label of `tenant` in `namespace`.
    pub fn of_tenant(&self, resource: &ApiResource, tenant: &str, namespace: &str) -> Vec<ObservedChild> {
        let Some(kind) = self.kinds.get(&group_kind(resource)) else {
            return Vec::new();
        };
        kind.read()
            .iter()
            .filter(|((ns, _), c)| ns.as_deref() == Some(namespace) && c.tenant.as_deref() == Some(tenant))
            .map(|(_, c)| c.clone())
            .collect()
    }

    /// What the operator's own last apply of `key` wrote and got back.
    pub fn last_applied(&self, key: &ChildKey) -> Option<(String, String)> {
        lock(&self.applied).get(key).cloned()
    }

    pub fn remember(&self, key: ChildKey, hash: String, version: String) {
        lock(&self.applied).insert(key, (hash, version));
    }

    pub fn forget(&self, key: &ChildKey) {
        lock(&self.applied).remove(key);
    }

    /// Forgets everything applied into `namespace` (and the namespace itself).
    pub fn forget_namespace(&self, namespace: &str) {
        lock(&self.applied).retain(|k, _| {
            let is_namespace = k.namespace.is_none() && k.group_kind == "/Namespace" && k.name == namespace;
            k.namespace.as_deref() != Some(namespace) && !is_namespace
        });
    }
}

#[cfg(test)]
mod tests {
    use kube::core::TypeMeta;

    use super::*;

    fn child(name: &str, tenant: &str) -> ChildMeta {
        PartialObjectMeta {
            types: Some(TypeMeta {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
            }),
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("mcp-contoso".into()),
                labels: Some([(TENANT_LABEL.to_string(), tenant.to_string())].into()),
                resource_version: Some("7".into()),
                ..ObjectMeta::default()
            },
            _phantom: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_relist_replaces_the_children_and_marks_the_kind_synced() {
        let ar = ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&());
        let index = ChildIndex::new([&ar]);
        index.apply_event(&ar, &Event::Apply(child("stale", "contoso")));
        index.apply_event(&ar, &Event::Init);
        index.apply_event(&ar, &Event::InitApply(child("a", "contoso")));
        index.apply_event(&ar, &Event::InitApply(child("b", "fabrikam")));
        index.apply_event(&ar, &Event::InitDone);
        tokio::time::timeout(std::time::Duration::from_secs(1), index.wait_synced())
            .await
            .unwrap();
        let key = |n: &str| ChildKey::new(&ar, Some("mcp-contoso"), n);
        assert!(index.observed(&key("stale")).is_none());
        assert_eq!(index.observed(&key("a")).unwrap().version.as_deref(), Some("r7"));
        let names: Vec<_> = index
            .of_tenant(&ar, "contoso", "mcp-contoso")
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, vec!["a".into()]);
        index.apply_event(&ar, &Event::Delete(child("a", "contoso")));
        assert!(index.observed(&key("a")).is_none());
    }
}
