//! The HTTP side: parses each request's resource path and serves discovery, list, watch, get,
//! create, replace, patch and delete against the store.

use std::{collections::HashMap, time::Instant};

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderMap, Method, StatusCode, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{
    FakeApiServer, Inner, Key, Watcher, label_matches, metadata_only,
    patch::{content, json_patch, merge, spec_of},
};

fn wants_metadata_only(headers: &HeaderMap) -> bool {
    headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=PartialObjectMetadata"))
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

pub(crate) async fn handle(State(server): State<FakeApiServer>, request: Request) -> Response {
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
