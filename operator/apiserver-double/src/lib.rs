//! An in-memory Kubernetes API server for the operator's tests and benchmark, just enough for the
//! operator: list and watch (with label selectors and metadata-only clients), get, create,
//! replace (resourceVersion-checked), server-side apply (create or update; a no-op apply changes
//! nothing, as on a real server), merge and JSON patches, delete, the status subresource, and
//! discovery of the optional groups. It counts every request so the benchmark can report API load.
//!
//! The store and the test-facing API are here; `requests` serves the HTTP requests, `patch`
//! holds the JSON merge/patch helpers.

mod patch;
mod requests;

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard},
    time::Instant,
};

use axum::{Router, body::Bytes};
use serde_json::{Value, json};
use tokio::sync::mpsc;

type Key = (String, String);

struct Watcher {
    collection: String,
    namespace: Option<String>,
    selector: Option<String>,
    metadata_only: bool,
    tx: mpsc::UnboundedSender<Bytes>,
}

/// What a real API server sends a client that asked for `PartialObjectMetadata`.
fn metadata_only(object: &Value) -> Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": object["metadata"]})
}

/// Request counts, by kind of request.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub reads: u64,
    pub lists: u64,
    pub watches: u64,
    pub writes: u64,
    pub events: u64,
}

#[derive(Default)]
struct Inner {
    rv: u64,
    uid: u64,
    collections: HashMap<String, BTreeMap<Key, Value>>,
    watchers: Vec<Watcher>,
    counts: Counts,
    last_write: Option<Instant>,
    last_request: Option<Instant>,
    key_secret_reads: u64,
    events: Vec<Value>,
}

#[derive(Clone, Default)]
pub struct FakeApiServer {
    inner: Arc<Mutex<Inner>>,
}

fn label_matches(object: &Value, selector: Option<&str>) -> bool {
    let Some(selector) = selector else { return true };
    let labels = &object["metadata"]["labels"];
    selector.split(',').all(|term| match term.split_once('=') {
        Some((k, v)) => labels[k].as_str() == Some(v),
        None => labels.get(term).is_some(),
    })
}

impl FakeApiServer {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn router(&self) -> Router {
        Router::new().fallback(requests::handle).with_state(self.clone())
    }

    pub fn counts(&self) -> Counts {
        self.lock().counts
    }

    pub fn reset_counts(&self) {
        let mut inner = self.lock();
        inner.counts = Counts::default();
        inner.key_secret_reads = 0;
    }

    pub fn last_write(&self) -> Option<Instant> {
        self.lock().last_write
    }

    pub fn last_request(&self) -> Option<Instant> {
        self.lock().last_request
    }

    pub fn key_secret_reads(&self) -> u64 {
        self.lock().key_secret_reads
    }

    /// The Events the operator published (kept apart from the collections: nothing watches them).
    pub fn events(&self) -> Vec<Value> {
        self.lock().events.clone()
    }

    /// Objects of a collection, e.g. `mcptenancy.dev/v1alpha1/mcptenants`.
    pub fn objects(&self, collection: &str) -> Vec<Value> {
        self.lock()
            .collections
            .get(collection)
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Stores an object as if created by someone else (no request counted).
    pub fn insert(&self, collection: &str, mut object: Value) {
        let mut inner = self.lock();
        inner.rv += 1;
        inner.uid += 1;
        let (rv, uid) = (inner.rv, inner.uid);
        let meta = &mut object["metadata"];
        meta["resourceVersion"] = json!(rv.to_string());
        meta["uid"] = json!(format!("00000000-0000-4000-8000-{uid:012}"));
        meta["generation"] = json!(1);
        let key = (
            meta["namespace"].as_str().unwrap_or_default().to_string(),
            meta["name"].as_str().unwrap_or_default().to_string(),
        );
        inner
            .collections
            .entry(collection.into())
            .or_default()
            .insert(key, object.clone());
        inner.notify(collection, "ADDED", &object);
    }

    /// One object of a collection.
    pub fn get(&self, collection: &str, namespace: &str, name: &str) -> Option<Value> {
        let key = (namespace.to_string(), name.to_string());
        self.lock()
            .collections
            .get(collection)
            .and_then(|c| c.get(&key))
            .cloned()
    }

    /// Deletes an object as someone else would (no request counted); watchers see DELETED.
    pub fn remove(&self, collection: &str, namespace: &str, name: &str) -> Option<Value> {
        let mut inner = self.lock();
        let key = (namespace.to_string(), name.to_string());
        let removed = inner
            .collections
            .get_mut(collection)
            .and_then(|c| c.remove(&key))?;
        inner.notify(collection, "DELETED", &removed);
        Some(removed)
    }

    /// Edits an object's spec as a user would: generation and resourceVersion move on.
    pub fn edit_spec(&self, collection: &str, namespace: &str, name: &str, edit: impl FnOnce(&mut Value)) {
        let mut inner = self.lock();
        let key = (namespace.to_string(), name.to_string());
        let rv = inner.next_rv();
        let Some(object) = inner
            .collections
            .get_mut(collection)
            .and_then(|c| c.get_mut(&key))
        else {
            return;
        };
        edit(&mut object["spec"]);
        let generation = object["metadata"]["generation"].as_i64().unwrap_or(1);
        object["metadata"]["generation"] = json!(generation + 1);
        object["metadata"]["resourceVersion"] = json!(rv);
        let object = object.clone();
        inner.notify(collection, "MODIFIED", &object);
    }

    /// Bumps the resourceVersion of every object of a collection without changing it, as a
    /// relist or an unrelated metadata write would: the operator sees MODIFIED events.
    pub fn touch_all(&self, collection: &str) {
        let mut inner = self.lock();
        let keys: Vec<Key> = inner
            .collections
            .get(collection)
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default();
        for key in keys {
            inner.rv += 1;
            let rv = inner.rv;
            let Some(object) = inner
                .collections
                .get_mut(collection)
                .and_then(|c| c.get_mut(&key))
            else {
                continue;
            };
            object["metadata"]["resourceVersion"] = json!(rv.to_string());
            let object = object.clone();
            inner.notify(collection, "MODIFIED", &object);
        }
    }
}

impl Inner {
    fn notify(&mut self, collection: &str, kind: &str, object: &Value) {
        let encode = |object: &Value| match serde_json::to_vec(&json!({"type": kind, "object": object})) {
            Ok(mut bytes) => {
                bytes.push(b'\n');
                Some(Bytes::from(bytes))
            }
            Err(_) => None,
        };
        let (Some(full), Some(meta)) = (encode(object), encode(&metadata_only(object))) else {
            return;
        };
        let namespace = object["metadata"]["namespace"].as_str();
        self.watchers.retain(|w| {
            if w.collection != collection
                || w.namespace.as_deref().is_some_and(|ns| Some(ns) != namespace)
                || !label_matches(object, w.selector.as_deref())
            {
                return !w.tx.is_closed();
            }
            w.tx.send(if w.metadata_only {
                meta.clone()
            } else {
                full.clone()
            })
            .is_ok()
        });
    }

    fn write(&mut self) {
        self.counts.writes += 1;
        self.last_write = Some(Instant::now());
    }

    fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }
}
