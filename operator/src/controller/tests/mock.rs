//! A scripted API server on `tower_test::mock::pair`: each test lists the exact requests it
//! expects, in order, with the response to each; any other request fails the test, and so does a
//! missing one (the scenario times out).

use std::{collections::HashMap, sync::Arc, time::Duration};

use http::{Method, Request, Response};
use kube::{
    Client,
    client::Body,
    core::{ApiResource, DynamicObject},
    runtime::{
        events::{Recorder, Reporter},
        watcher,
    },
};
use serde_json::{Value, json};
use tokio::{sync::oneshot, task::JoinHandle};

use crate::{
    build::{Child, OperatorDefaults},
    controller::{
        ChildIndex, Context, ErrorBackoff, Metrics, apply::child_api, index::ChildMeta,
        kinds::child_resources,
    },
};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// One request as the mock server saw it.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub body: Value,
}

type Respond = Box<dyn FnOnce(&Call) -> (u16, Value) + Send>;

/// An expected request and its response.
pub struct Step {
    method: Method,
    path: String,
    respond: Respond,
}

pub fn expect(
    method: Method,
    path: impl Into<String>,
    respond: impl FnOnce(&Call) -> (u16, Value) + Send + 'static,
) -> Step {
    Step {
        method,
        path: path.into(),
        respond: Box::new(respond),
    }
}

/// What the API server returns for a create or apply: the object with server-set fields.
pub fn echo(call: &Call) -> (u16, Value) {
    let mut object = call.body.clone();
    let meta = &mut object["metadata"];
    meta["uid"] = json!("11111111-2222-4333-8444-555555555555");
    meta["resourceVersion"] = json!("100");
    meta["generation"] = json!(1);
    (200, object)
}

pub fn ok(object: Value) -> impl FnOnce(&Call) -> (u16, Value) + Send + 'static {
    move |_| (200, object)
}

pub fn error(code: u16, reason: &str) -> impl FnOnce(&Call) -> (u16, Value) + Send + 'static {
    let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
        "message": format!("mock {reason}"), "code": code});
    move |_| (code, body)
}

pub fn not_found(_: &Call) -> (u16, Value) {
    error(404, "NotFound")(&Call {
        method: Method::GET,
        path: String::new(),
        query: String::new(),
        body: Value::Null,
    })
}

type ServerResult = (Handle, Vec<Call>, Vec<String>);

/// A test context on a mock client, with a child index the test fills itself.
pub struct TestEnv {
    pub ctx: Arc<Context>,
    kinds: HashMap<(String, String), ApiResource>,
    handle: Option<Handle>,
    server: Option<(JoinHandle<ServerResult>, oneshot::Sender<()>)>,
}

pub fn mk_defaults() -> OperatorDefaults {
    OperatorDefaults {
        server_image: "ghcr.io/mcp-tenancy/mcp-tenant-server:test".into(),
        ingress_controller_namespace: "ingress-system".into(),
        monitoring_namespace: "monitoring".into(),
        trusted_proxies: mcp_tenancy_config::default_trusted_proxies(),
    }
}

impl Step {
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl TestEnv {
    pub fn new(monitoring_crds_installed: bool) -> Self {
        let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(service, "default");
        let resources = child_resources();
        let index = ChildIndex::new(&resources);
        let kinds = resources
            .into_iter()
            .map(|ar| ((ar.group.clone(), ar.kind.clone()), ar))
            .collect();
        let ctx = Context {
            recorder: Recorder::new(
                client.clone(),
                Reporter {
                    controller: "mcp-tenancy-operator".into(),
                    instance: None,
                },
            ),
            client,
            defaults: mk_defaults(),
            monitoring_crds_installed,
            index,
            metrics: Arc::new(Metrics::new().unwrap()),
            backoff: ErrorBackoff::default(),
        };
        Self {
            ctx: Arc::new(ctx),
            kinds,
            handle: Some(handle),
            server: None,
        }
    }

    /// Serves `steps` in order; anything after them is answered with a 500 and fails the test
    /// at the next [`TestEnv::checkpoint`].
    pub fn script(&mut self, steps: Vec<Step>) {
        let mut handle = self.handle.take().expect("checkpoint before the next script");
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut calls = Vec::new();
            for (i, step) in steps.into_iter().enumerate() {
                let next = tokio::select! {
                    next = handle.next_request() => next,
                    _ = &mut stopped => None,
                };
                let Some((request, send)) = next else {
                    panic!(
                        "request {i} never came: expected {} {}; got {:#?}",
                        step.method,
                        step.path,
                        describe(&calls)
                    );
                };
                let call = read(request).await;
                assert_eq!(
                    (&call.method, call.path.as_str()),
                    (&step.method, step.path.as_str()),
                    "request {i} was not the expected one; calls before it: {:#?}",
                    describe(&calls)
                );
                let (code, response) = (step.respond)(&call);
                send.send_response(respond(code, &response));
                calls.push(call);
            }
            let mut unexpected = Vec::new();
            loop {
                tokio::select! {
                    next = handle.next_request() => {
                        let Some((request, send)) = next else { break };
                        let call = read(request).await;
                        unexpected.push(format!("{} {}", call.method, call.path));
                        send.send_response(respond(500, &json!({"kind": "Status", "code": 500})));
                    }
                    _ = &mut stopped => break,
                }
            }
            (handle, calls, unexpected)
        });
        self.server = Some((task, stop));
    }

    /// Ends the current script: every expected request came, no other did.
    pub async fn checkpoint(&mut self) -> Vec<Call> {
        let (task, stop) = self.server.take().expect("a script was started");
        let _ = stop.send(());
        let (handle, calls, unexpected) = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the mock server did not stop")
            .expect("scenario failed");
        assert!(unexpected.is_empty(), "unexpected requests: {unexpected:#?}");
        self.handle = Some(handle);
        calls
    }

    /// Puts an object into the watch store of its kind, as the watch would after an apply.
    pub fn observe(&mut self, object: &Value) {
        let object: DynamicObject = serde_json::from_value(object.clone()).unwrap();
        let types = object.types.clone().unwrap();
        let (group, _) = types
            .api_version
            .rsplit_once('/')
            .unwrap_or(("", &types.api_version));
        let ar = self.kinds[&(group.to_string(), types.kind.clone())].clone();
        let meta = ChildMeta {
            types: Some(types),
            metadata: object.metadata,
            _phantom: Default::default(),
        };
        self.ctx.index.apply_event(&ar, &watcher::Event::Apply(meta));
    }

    /// Removes an object from its watch store, as the watch would after a delete.
    pub fn forget(&mut self, ar: &ApiResource, namespace: Option<&str>, name: &str) {
        let meta = ChildMeta {
            types: Some(kube::core::TypeMeta {
                api_version: ar.api_version.clone(),
                kind: ar.kind.clone(),
            }),
            metadata: kube::core::ObjectMeta {
                name: Some(name.into()),
                namespace: namespace.map(Into::into),
                ..Default::default()
            },
            _phantom: Default::default(),
        };
        self.ctx.index.apply_event(ar, &watcher::Event::Delete(meta));
    }
}

/// The URL path of a child.
pub fn child_path(ctx: &Context, child: &Child) -> String {
    format!(
        "{}/{}",
        child_api(&ctx.client, child).resource_url(),
        child.object.metadata.name.as_deref().unwrap()
    )
}

fn describe(calls: &[Call]) -> Vec<String> {
    calls.iter().map(|c| format!("{} {}", c.method, c.path)).collect()
}

async fn read(request: Request<Body>) -> Call {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or_default().to_string();
    let bytes = request.into_body().collect_bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    Call {
        method,
        path,
        query,
        body,
    }
}

fn respond(code: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}
