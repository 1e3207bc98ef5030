//! An in-memory Kubernetes API server for the operator's tests and benchmark, just enough for the
//! operator: list and watch (with label selectors and metadata-only clients), get, create,
//! replace (resourceVersion-checked), server-side apply (create or update; a no-op apply changes
//! nothing, as on a real server), merge and JSON patches, delete, the status subresource, and discovery of the optional groups.
//! It counts every request so the benchmark can report API load.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard},
    time::Instant,
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderMap, Method, StatusCode, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};
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

fn wants_metadata_only(headers: &HeaderMap) -> bool {
    headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=PartialObjectMetadata"))
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

/// A parsed resource path.
struct Target {
    collection: String,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn parse(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (prefix, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => (format!("/{version}"), rest),
        ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
        _ => return None,
    };
    let own = |s: &&str| Some(s.to_string());
    let (namespace, plural, name, subresource) = match rest {
        ["namespaces", ns, plural, tail @ ..] => (
            own(ns),
            plural.to_string(),
            tail.first().and_then(own),
            tail.get(1).and_then(own),
        ),
        [plural, tail @ ..] => (
            None,
            plural.to_string(),
            tail.first().and_then(own),
            tail.get(1).and_then(own),
        ),
        [] => return None,
    };
    Some(Target {
        collection: format!("{prefix}/{plural}"),
        namespace,
        name,
        subresource,
    })
}

fn status(code: u16, reason: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": reason, "code": code});
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response()
}

fn label_matches(object: &Value, selector: Option<&str>) -> bool {
    let Some(selector) = selector else { return true };
    let labels = &object["metadata"]["labels"];
    selector.split(',').all(|term| match term.split_once('=') {
        Some((k, v)) => labels[k].as_str() == Some(v),
        None => labels.get(term).is_some(),
    })
}

/// JSON merge patch (RFC 7386).
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// The subset of JSON patch the finalizer helper uses.
fn json_patch(target: &mut Value, ops: &[Value]) -> bool {
    for op in ops {
        let path = op["path"].as_str().unwrap_or_default();
        let (parent, last) = path.rsplit_once('/').unwrap_or(("", path));
        match op["op"].as_str() {
            Some("test") => {
                let current = target.pointer(path).cloned().unwrap_or(Value::Null);
                if current != op["value"] {
                    return false;
                }
            }
            Some("add") => {
                let Some(container) = ensure(target, parent) else {
                    return false;
                };
                match container {
                    Value::Array(items) if last == "-" => items.push(op["value"].clone()),
                    Value::Object(map) => {
                        map.insert(last.to_string(), op["value"].clone());
                    }
                    _ => return false,
                }
            }
            Some("remove") => match target.pointer_mut(parent) {
                Some(Value::Array(items)) => {
                    let Ok(i) = last.parse::<usize>() else {
                        return false;
                    };
                    if i < items.len() {
                        items.remove(i);
                    }
                }
                Some(Value::Object(map)) => {
                    map.remove(last);
                }
                _ => return false,
            },
            _ => return false,
        }
    }
    true
}

fn ensure<'a>(target: &'a mut Value, pointer: &str) -> Option<&'a mut Value> {
    let mut current = target;
    for part in pointer.split('/').skip(1) {
        if current.is_null() {
            *current = Value::Object(Map::new());
        }
        current = current
            .as_object_mut()?
            .entry(part.to_string())
            .or_insert(Value::Null);
    }
    if current.is_null() {
        *current = Value::Object(Map::new());
    }
    Some(current)
}

/// The object without server-maintained fields, to decide whether an update changes anything.
fn content(object: &Value) -> Value {
    let mut c = object.clone();
    if let Some(meta) = c.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "resourceVersion",
            "generation",
            "uid",
            "creationTimestamp",
            "managedFields",
        ] {
            meta.remove(field);
        }
    }
    c
}

fn spec_of(object: &Value) -> Value {
    let mut c = content(object);
    if let Some(map) = c.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
    }
    c
}

impl FakeApiServer {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn router(&self) -> Router {
        Router::new().fallback(handle).with_state(self.clone())
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

fn query(uri: &axum::http::Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            (
                k.to_string(),
                v.replace("%2F", "/").replace("%3D", "=").replace("%2C", ","),
            )
        })
        .collect()
}

async fn handle(State(server): State<FakeApiServer>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return status(400, "BadRequest");
    };
    let path = parts.uri.path().to_string();
    server.lock().last_request = Some(Instant::now());
    if let Some(response) = discovery(&path) {
        return response;
    }
    let Some(target) = parse(&path) else {
        return status(404, "NotFound");
    };
    let params = query(&parts.uri);
    let body: Value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    match (parts.method.clone(), target.name.is_some()) {
        (Method::GET, false) if params.get("watch").is_some_and(|w| w == "true" || w == "1") => {
            watch(&server, target, &params, wants_metadata_only(&parts.headers))
        }
        (Method::GET, false) => list(&server, &target, &params, wants_metadata_only(&parts.headers)),
        (Method::GET, true) => get(&server, &target),
        (Method::POST, false) => create(&server, &target, body),
        (Method::PUT, true) => replace(&server, &target, body),
        (Method::PATCH, true) => patch(&server, &target, &parts.headers, body),
        (Method::DELETE, true) => delete(&server, &target),
        _ => status(405, "MethodNotAllowed"),
    }
}

fn discovery(path: &str) -> Option<Response> {
    let group = |name: &str| {
        json!({"name": name, "versions": [{"groupVersion": format!("{name}/v1"), "version": "v1"}],
        "preferredVersion": {"groupVersion": format!("{name}/v1"), "version": "v1"}})
    };
    let resource = |name: &str, kind: &str| {
        json!({"name": name, "singularName": "", "namespaced": true, "kind": kind,
        "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]})
    };
    let body = match path {
        "/apis" => json!({"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [group("gateway.networking.k8s.io"), group("monitoring.coreos.com")]}),
        "/api" => json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
        "/apis/gateway.networking.k8s.io/v1" => json!({"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": "gateway.networking.k8s.io/v1", "resources": [resource("httproutes", "HTTPRoute")]}),
        "/apis/monitoring.coreos.com/v1" => json!({"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": "monitoring.coreos.com/v1",
            "resources": [resource("servicemonitors", "ServiceMonitor"), resource("prometheusrules", "PrometheusRule")]}),
        _ => return None,
    };
    Some(axum::Json(body).into_response())
}

fn list(
    server: &FakeApiServer,
    target: &Target,
    params: &HashMap<String, String>,
    meta_only: bool,
) -> Response {
    let mut inner = server.lock();
    inner.counts.lists += 1;
    let selector = params.get("labelSelector").map(String::as_str);
    let items: Vec<Value> = inner
        .collections
        .get(&target.collection)
        .map(|c| {
            c.values()
                .filter(|o| {
                    target
                        .namespace
                        .as_deref()
                        .is_none_or(|ns| o["metadata"]["namespace"].as_str() == Some(ns))
                })
                .filter(|o| label_matches(o, selector))
                .map(|o| if meta_only { metadata_only(o) } else { o.clone() })
                .collect()
        })
        .unwrap_or_default();
    axum::Json(json!({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": inner.rv.to_string()}, "items": items}))
        .into_response()
}

fn watch(
    server: &FakeApiServer,
    target: Target,
    params: &HashMap<String, String>,
    metadata_only: bool,
) -> Response {
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    {
        let mut inner = server.lock();
        inner.counts.watches += 1;
        inner.watchers.push(Watcher {
            collection: target.collection,
            namespace: target.namespace,
            selector: params.get("labelSelector").cloned(),
            metadata_only,
            tx,
        });
    }
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|b| b.map(Ok::<_, std::io::Error>)));
    Response::builder()
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| status(500, "InternalError"))
}

fn key_of(target: &Target) -> Key {
    (
        target.namespace.clone().unwrap_or_default(),
        target.name.clone().unwrap_or_default(),
    )
}

fn get(server: &FakeApiServer, target: &Target) -> Response {
    let mut inner = server.lock();
    inner.counts.reads += 1;
    if target.collection == "/v1/secrets" && target.name.as_deref() == Some("mcp-tenant-keys") {
        inner.key_secret_reads += 1;
    }
    match inner
        .collections
        .get(&target.collection)
        .and_then(|c| c.get(&key_of(target)))
    {
        Some(object) => axum::Json(object.clone()).into_response(),
        None => status(404, "NotFound"),
    }
}

fn create(server: &FakeApiServer, target: &Target, mut object: Value) -> Response {
    let mut inner = server.lock();
    if target.collection == "events.k8s.io/v1/events" {
        inner.counts.events += 1;
        inner.events.push(object.clone());
        return axum::Json(object).into_response();
    }
    inner.write();
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let key = (target.namespace.clone().unwrap_or_default(), name);
    if inner
        .collections
        .get(&target.collection)
        .is_some_and(|c| c.contains_key(&key))
    {
        return status(409, "AlreadyExists");
    }
    inner.uid += 1;
    let uid = inner.uid;
    let rv = inner.next_rv();
    let meta = &mut object["metadata"];
    meta["uid"] = json!(format!("00000000-0000-4000-8000-{uid:012}"));
    meta["resourceVersion"] = json!(rv);
    meta["generation"] = json!(1);
    if let Some(ns) = &target.namespace {
        meta["namespace"] = json!(ns);
    }
    inner
        .collections
        .entry(target.collection.clone())
        .or_default()
        .insert(key, object.clone());
    inner.notify(&target.collection, "ADDED", &object);
    (StatusCode::CREATED, axum::Json(object)).into_response()
}

/// Stores `next` in place of `old` (if any), bumping resourceVersion and, on a spec change,
/// generation; a change-less write changes nothing, as on a real API server.
fn store(inner: &mut Inner, target: &Target, old: Option<&Value>, mut next: Value) -> Value {
    if let Some(old) = old {
        if content(old) == content(&next) {
            return old.clone();
        }
        let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
        let bump = i64::from(spec_of(old) != spec_of(&next));
        next["metadata"]["generation"] = json!(generation + bump);
        next["metadata"]["uid"] = old["metadata"]["uid"].clone();
    } else {
        inner.uid += 1;
        next["metadata"]["uid"] = json!(format!("00000000-0000-4000-8000-{:012}", inner.uid));
        next["metadata"]["generation"] = json!(1);
    }
    if let Some(ns) = &target.namespace {
        next["metadata"]["namespace"] = json!(ns);
    }
    next["metadata"]["resourceVersion"] = json!(inner.next_rv());
    let event = if old.is_some() { "MODIFIED" } else { "ADDED" };
    inner
        .collections
        .entry(target.collection.clone())
        .or_default()
        .insert(key_of(target), next.clone());
    inner.notify(&target.collection, event, &next);
    next
}

fn replace(server: &FakeApiServer, target: &Target, object: Value) -> Response {
    let mut inner = server.lock();
    inner.write();
    let old = inner
        .collections
        .get(&target.collection)
        .and_then(|c| c.get(&key_of(target)))
        .cloned();
    let Some(old) = old else {
        return status(404, "NotFound");
    };
    let expected = object["metadata"]["resourceVersion"].as_str();
    if expected.is_some() && expected != old["metadata"]["resourceVersion"].as_str() {
        return status(409, "Conflict");
    }
    axum::Json(store(&mut inner, target, Some(&old), object)).into_response()
}

fn patch(server: &FakeApiServer, target: &Target, headers: &HeaderMap, body: Value) -> Response {
    let mut inner = server.lock();
    inner.write();
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let old = inner
        .collections
        .get(&target.collection)
        .and_then(|c| c.get(&key_of(target)))
        .cloned();
    let next = match (content_type.as_str(), target.subresource.as_deref(), &old) {
        ("application/apply-patch+yaml", Some("status"), Some(old)) => {
            let mut next = old.clone();
            next["status"] = body["status"].clone();
            next
        }
        ("application/apply-patch+yaml", None, old) => {
            // The applied configuration becomes the object; server fields and status are kept.
            let mut next = body;
            if let Some(old) = old {
                next["status"] = old.get("status").cloned().unwrap_or(Value::Null);
                next["metadata"]["creationTimestamp"] = old["metadata"]["creationTimestamp"].clone();
            }
            if let Some(map) = next.as_object_mut() {
                map.retain(|_, v| !v.is_null());
            }
            next
        }
        ("application/merge-patch+json", _, Some(old)) => {
            let mut next = old.clone();
            let expected = body["metadata"]["resourceVersion"].as_str();
            if expected.is_some() && expected != old["metadata"]["resourceVersion"].as_str() {
                return status(409, "Conflict");
            }
            merge(&mut next, &body);
            next
        }
        ("application/json-patch+json", _, Some(old)) => {
            let mut next = old.clone();
            if !json_patch(&mut next, body.as_array().map(Vec::as_slice).unwrap_or_default()) {
                return status(422, "Invalid");
            }
            next
        }
        _ => return status(404, "NotFound"),
    };
    axum::Json(store(&mut inner, target, old.as_ref(), next)).into_response()
}

fn delete(server: &FakeApiServer, target: &Target) -> Response {
    let mut inner = server.lock();
    inner.write();
    let removed = inner
        .collections
        .get_mut(&target.collection)
        .and_then(|c| c.remove(&key_of(target)));
    match removed {
        Some(object) => {
            inner.notify(&target.collection, "DELETED", &object);
            axum::Json(object).into_response()
        }
        None => status(404, "NotFound"),
    }
}
