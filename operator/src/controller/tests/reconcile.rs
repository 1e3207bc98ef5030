//! Reconcile scenarios against the scripted API server.

use std::sync::Arc;

use http::Method;
use jiff::Timestamp;
use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::{
    fixtures::{finalized, mk_client_secret, mk_tenant},
    mock::{Call, Step, TestEnv, child_path, echo, error, expect, not_found, ok},
};
use crate::{
    api::{CaBundleRef, ConfigMapKeyRef, DeletionPolicy, McpTenant, McpTenantStatus},
    build::{BuildInput, Child, build_children},
    controller::{
        FINALIZER,
        conditions::{self as c, reason},
        error_policy, reconcile,
    },
    validate::validate,
};

const NAMESPACE: &str = "/api/v1/namespaces/mcp-contoso";
const SECRETS: &str = "/api/v1/namespaces/mcp-contoso/secrets";
const KEYS: &str = "/api/v1/namespaces/mcp-contoso/secrets/mcp-tenant-keys";
const CLIENT_SECRET: &str = "/api/v1/namespaces/mcp-contoso/secrets/entra-client";
const TENANT: &str = "/apis/mcptenancy.dev/v1alpha1/mcptenants/contoso";
const STATUS: &str = "/apis/mcptenancy.dev/v1alpha1/mcptenants/contoso/status";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/default/events";
const REDIS_SECRET: &str = "/api/v1/namespaces/mcp-contoso/secrets/redis";
const PEM: &str = "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";

/// The tenant namespace as the API server has it, with `labels`.
fn namespace_with(labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mcp-contoso", "resourceVersion": "7",
        "uid": "99999999-2222-4333-8444-555555555555", "labels": labels}})
}

/// The tenant namespace as the operator made it: labelled for `contoso`.
fn own_namespace() -> Value {
    namespace_with(json!({"mcptenancy.dev/tenant": "contoso"}))
}

fn children(env: &TestEnv, tenant: &McpTenant) -> Vec<Child> {
    let defaults = &env.ctx.defaults;
    let input = BuildInput {
        tenant: validate(tenant).unwrap(),
        defaults,
        secrets_checksum: "any",
        monitoring_crds_installed: env.ctx.monitoring_crds_installed,
    };
    build_children(&input).unwrap()
}

fn event(reason: &'static str) -> Step {
    expect(Method::POST, EVENTS, move |call: &Call| {
        assert_eq!(call.body["reason"], reason, "event reason");
        (200, call.body.clone())
    })
}

/// What the API server answers to a status apply: the tenant with the new status.
fn with_status(tenant: &McpTenant) -> impl Fn(&Call) -> (u16, Value) + Send + 'static {
    let tenant = serde_json::to_value(tenant).unwrap();
    move |call: &Call| {
        let mut t = tenant.clone();
        t["status"] = call.body["status"].clone();
        (200, t)
    }
}

fn status_of(call: &Call) -> McpTenantStatus {
    serde_json::from_value(call.body["status"].clone()).unwrap()
}

fn condition<'a>(
    status: &'a McpTenantStatus,
    type_: &str,
) -> &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} condition"))
}

/// The requests of a first pass over a new tenant: reads (the namespace does not exist yet), one
/// apply per child with the key Secret created right after the Namespace, the status, then
/// `events`.
fn first_pass(env: &TestEnv, tenant: &McpTenant, client_secret: bool, events: &[&'static str]) -> Vec<Step> {
    let mut steps = vec![
        expect(Method::GET, NAMESPACE, not_found),
        expect(Method::GET, KEYS, not_found),
        if client_secret {
            expect(Method::GET, CLIENT_SECRET, ok(mk_client_secret()))
        } else {
            expect(Method::GET, CLIENT_SECRET, not_found)
        },
    ];
    for child in children(env, tenant) {
        let path = child_path(&env.ctx, &child);
        steps.push(expect(Method::PATCH, path, |call: &Call| {
            assert!(
                call.query.contains("fieldManager=mcp-tenancy-operator"),
                "{}",
                call.query
            );
            assert!(call.body["metadata"]["annotations"]["mcptenancy.dev/applied-hash"].is_string());
            echo(call)
        }));
        if child.resource.kind == "Namespace" {
            steps.push(expect(Method::POST, SECRETS, |call: &Call| {
                assert!(call.body["data"]["signing-keys.json"].is_string());
                assert!(
                    call.body["metadata"]["ownerReferences"].is_null(),
                    "keys must not be garbage collected"
                );
                echo(call)
            }));
        }
    }
    let answer = with_status(tenant);
    steps.push(expect(Method::PATCH, STATUS, move |call: &Call| {
        assert!(
            call.query.contains("fieldManager=mcp-tenancy-operator") && call.query.contains("force=true")
        );
        answer(call)
    }));
    steps.extend(events.iter().map(|r| event(r)));
    steps
}

/// Runs a first pass; returns the environment (whose stores then hold what the watch would
/// show), the tenant as it is afterwards, and every call.
async fn provisioned(monitoring: bool) -> (TestEnv, McpTenant, Vec<Call>) {
    provisioned_with(finalized(mk_tenant("contoso")), monitoring, Vec::new()).await
}

/// [`provisioned`] for `tenant`, whose other referenced objects `reads` answers (read right after
/// the upstream client Secret).
async fn provisioned_with(
    mut tenant: McpTenant,
    monitoring: bool,
    reads: Vec<Step>,
) -> (TestEnv, McpTenant, Vec<Call>) {
    let mut env = TestEnv::new(monitoring);
    let mut steps = first_pass(&env, &tenant, true, &["KeysGenerated"]);
    steps.splice(3..3, reads);
    env.script(steps);
    reconcile(Arc::new(tenant.clone()), env.ctx.clone())
        .await
        .unwrap();
    let calls = env.checkpoint().await;
    tenant.status = calls.iter().find(|c| c.path == STATUS).map(status_of);
    for call in calls
        .iter()
        .filter(|c| c.method == Method::PATCH && c.path != STATUS)
    {
        env.observe(&echo(call).1);
    }
    (env, tenant, calls)
}

/// The key Secret as the first pass created it.
fn created_keys(calls: &[Call]) -> Value {
    let call = calls
        .iter()
        .find(|c| c.method == Method::POST && c.path == SECRETS)
        .expect("keys were created");
    echo(call).1
}

/// The no-op pass: reads only (namespace, keys, referenced Secret, workload and exposure state).
fn noop_reads(env: &TestEnv, tenant: &McpTenant, calls: &[Call]) -> Vec<Step> {
    let mut steps = vec![
        expect(Method::GET, NAMESPACE, ok(own_namespace())),
        expect(Method::GET, KEYS, ok(created_keys(calls))),
        expect(Method::GET, CLIENT_SECRET, ok(mk_client_secret())),
    ];
    for child in children(env, tenant) {
        if matches!(
            child.resource.kind.as_str(),
            "StatefulSet" | "Deployment" | "HTTPRoute" | "Ingress"
        ) {
            let path = child_path(&env.ctx, &child);
            let applied = calls.iter().find(|c| c.path == path).map(|c| echo(c).1).unwrap();
            steps.push(expect(Method::GET, path, ok(applied)));
        }
    }
    steps
}

#[tokio::test]
async fn a_tenant_without_finalizer_only_gets_the_finalizer() {
    let tenant = mk_tenant("contoso");
    let mut env = TestEnv::new(true);
    env.script(vec![expect(Method::PATCH, TENANT, |call: &Call| {
        assert_eq!(call.body[1]["value"], json!([FINALIZER]));
        let mut t = serde_json::to_value(mk_tenant("contoso")).unwrap();
        t["metadata"]["finalizers"] = json!([FINALIZER]);
        (200, t)
    })]);
    let action = reconcile(Arc::new(tenant), env.ctx.clone()).await.unwrap();
    assert_eq!(action, Action::await_change());
    env.checkpoint().await;
}

#[tokio::test]
async fn first_reconcile_applies_each_child_once_creates_keys_and_writes_status() {
    let (env, tenant, calls) = provisioned(true).await;
    let expected_children = children(&env, &tenant).len();
    let applies = calls
        .iter()
        .filter(|c| c.method == Method::PATCH && c.path != STATUS)
        .count();
    assert_eq!(applies, expected_children, "one apply per child, no more");
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.method == Method::POST && c.path == SECRETS)
            .count(),
        1
    );

    let status = tenant.status.unwrap();
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(status.url.as_deref(), Some("https://contoso.mcp.example.com/mcp"));
    assert_eq!(status.namespace.as_deref(), Some("mcp-contoso"));
    let keys = status.keys.as_ref().unwrap();
    assert!(!keys.active_kid.is_empty());
    assert_eq!(condition(&status, c::KEYS_READY).status, "True");
    assert_eq!(condition(&status, c::READY).status, "False");
    assert_eq!(condition(&status, c::READY).reason, reason::WAITING_FOR_PODS);
    assert_eq!(condition(&status, c::EXPOSURE_READY).reason, reason::PENDING);
    assert_eq!(condition(&status, c::DEGRADED).status, "False");
    assert_eq!(condition(&status, c::MONITORING_READY).reason, reason::APPLIED);
    // No key material in status.
    let key_secret = created_keys(&calls);
    let printed = serde_json::to_string(&status).unwrap();
    let data = key_secret["data"]["signing-keys.json"].as_str().unwrap();
    assert!(!printed.contains(data));
}

#[tokio::test]
async fn a_noop_resync_writes_nothing() {
    let (mut env, tenant, calls) = provisioned(true).await;
    env.script(noop_reads(&env, &tenant, &calls));
    let action = reconcile(Arc::new(tenant.clone()), env.ctx.clone())
        .await
        .unwrap();
    assert!(action != Action::await_change());
    let calls = env.checkpoint().await;
    assert!(
        calls.iter().all(|c| c.method == Method::GET),
        "only reads: {calls:#?}"
    );
}

#[tokio::test]
async fn a_deleted_child_is_applied_again_and_nothing_else() {
    let (mut env, tenant, calls) = provisioned(true).await;
    let config_map = children(&env, &tenant)
        .into_iter()
        .find(|c| c.resource.kind == "ConfigMap")
        .unwrap();
    env.forget(
        &config_map.resource,
        Some("mcp-contoso"),
        config_map.object.metadata.name.as_deref().unwrap(),
    );
    let mut steps = noop_reads(&env, &tenant, &calls);
    let path = child_path(&env.ctx, &config_map);
    // The ConfigMap comes after the namespace and two Secret reads and before the workload read.
    steps.insert(3, expect(Method::PATCH, path, echo));
    env.script(steps);
    reconcile(Arc::new(tenant), env.ctx.clone()).await.unwrap();
    let calls = env.checkpoint().await;
    assert_eq!(calls.iter().filter(|c| c.method != Method::GET).count(), 1);
}

#[tokio::test]
async fn a_spec_change_applies_only_what_changed_and_updates_status() {
    let (mut env, mut tenant, calls) = provisioned(true).await;
    let before: Vec<Value> = children(&env, &tenant)
        .iter()
        .map(|c| serde_json::to_value(&c.object).unwrap())
        .collect();
    tenant.spec.display_name = Some("Contoso Ltd.".into());
    tenant.metadata.generation = Some(2);
    let after = children(&env, &tenant);
    let mut steps = vec![
        expect(Method::GET, NAMESPACE, ok(own_namespace())),
        expect(Method::GET, KEYS, ok(created_keys(&calls))),
        expect(Method::GET, CLIENT_SECRET, ok(mk_client_secret())),
    ];
    let mut changed = Vec::new();
    for (child, old) in after.iter().zip(&before) {
        let path = child_path(&env.ctx, child);
        if serde_json::to_value(&child.object).unwrap() != *old {
            changed.push(child.resource.kind.clone());
            steps.push(expect(Method::PATCH, path, echo));
        } else if matches!(
            child.resource.kind.as_str(),
            "StatefulSet" | "Deployment" | "HTTPRoute"
        ) {
            let applied = calls.iter().find(|c| c.path == path).map(|c| echo(c).1).unwrap();
            steps.push(expect(Method::GET, path, ok(applied)));
        }
    }
    assert!(changed.contains(&"ConfigMap".to_string()), "{changed:?}");
    assert!(
        changed.iter().any(|k| k == "StatefulSet" || k == "Deployment"),
        "the pods roll: {changed:?}"
    );
    let answer = with_status(&tenant);
    steps.push(expect(Method::PATCH, STATUS, move |call: &Call| {
        assert_eq!(status_of(call).observed_generation, Some(2));
        answer(call)
    }));
    env.script(steps);
    reconcile(Arc::new(tenant), env.ctx.clone()).await.unwrap();
    env.checkpoint().await;
}

#[tokio::test]
async fn without_monitoring_crds_no_monitoring_children_and_a_condition_says_why() {
    let tenant = finalized(mk_tenant("contoso"));
    let mut env = TestEnv::new(false);
    let kinds: Vec<String> = children(&env, &tenant)
        .iter()
        .map(|c| c.resource.kind.clone())
        .collect();
    assert!(
        !kinds
            .iter()
            .any(|k| k == "ServiceMonitor" || k == "PrometheusRule"),
        "{kinds:?}"
    );
    env.script(first_pass(
        &env,
        &tenant,
        true,
        &["KeysGenerated", reason::CRD_NOT_INSTALLED],
    ));
    reconcile(Arc::new(tenant), env.ctx.clone()).await.unwrap();
    let calls = env.checkpoint().await;
    let status = status_of(calls.iter().find(|c| c.path == STATUS).unwrap());
    let monitoring = condition(&status, c::MONITORING_READY);
    assert_eq!(
        (monitoring.status.as_str(), monitoring.reason.as_str()),
        ("False", reason::CRD_NOT_INSTALLED)
    );
    assert!(monitoring.message.contains("monitoring.coreos.com"));
}

#[tokio::test]
async fn a_missing_referenced_secret_is_reported_and_waits_for_a_change() {
    let tenant = finalized(mk_tenant("contoso"));
    let mut env = TestEnv::new(true);
    env.script(first_pass(
        &env,
        &tenant,
        false,
        &["KeysGenerated", reason::INVALID_REFERENCE],
    ));
    let action = reconcile(Arc::new(tenant), env.ctx.clone()).await.unwrap();
    assert_eq!(action, Action::await_change(), "no hot requeue");
    let calls = env.checkpoint().await;
    let status = status_of(calls.iter().find(|c| c.path == STATUS).unwrap());
    let degraded = condition(&status, c::DEGRADED);
    assert_eq!(
        (degraded.status.as_str(), degraded.reason.as_str()),
        ("True", reason::INVALID_REFERENCE)
    );
    assert!(
        degraded.message.contains("mcp-contoso/entra-client"),
        "{}",
        degraded.message
    );
    assert!(degraded.message.contains("client-secret"), "{}", degraded.message);
    assert_eq!(condition(&status, c::READY).status, "False");
}

fn config_map_bundle(name: &str) -> Option<CaBundleRef> {
    Some(CaBundleRef {
        config_map_key_ref: Some(ConfigMapKeyRef {
            name: name.into(),
            key: "ca.crt".into(),
        }),
        secret_key_ref: None,
    })
}

/// The message of the Degraded condition after a first pass over `tenant` in which `reads`
/// answer the referenced objects after the upstream client Secret.
async fn invalid_reference_after_first_pass(tenant: McpTenant, reads: Vec<Step>) -> String {
    let mut env = TestEnv::new(true);
    let mut steps = first_pass(&env, &tenant, true, &["KeysGenerated", reason::INVALID_REFERENCE]);
    steps.splice(3..3, reads);
    env.script(steps);
    reconcile(Arc::new(tenant), env.ctx.clone()).await.unwrap();
    let calls = env.checkpoint().await;
    let status = status_of(calls.iter().find(|c| c.path == STATUS).unwrap());
    let degraded = condition(&status, c::DEGRADED);
    assert_eq!(degraded.reason, reason::INVALID_REFERENCE);
    degraded.message.clone()
}

/// A GET of ConfigMap `name` in the tenant namespace, answered with `data`.
fn config_map_read(name: &str, data: Value) -> Step {
    let mut config_map = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "mcp-contoso"},
    });
    config_map
        .as_object_mut()
        .unwrap()
        .extend(data.as_object().unwrap().clone());
    expect(
        Method::GET,
        format!("/api/v1/namespaces/mcp-contoso/configmaps/{name}"),
        ok(config_map),
    )
}

#[tokio::test]
async fn a_ca_bundle_that_is_not_pem_is_reported_naming_the_configmap_and_field() {
    let mut tenant = finalized(mk_tenant("contoso"));
    tenant.spec.identity.ca_bundle = config_map_bundle("corporate-ca");
    // Read after the referenced Secrets: a ConfigMap someone filled with a DER file.
    let reads = vec![config_map_read(
        "corporate-ca",
        json!({"binaryData": {"ca.crt": "MAMCAQE="}}),
    )];
    assert_eq!(
        invalid_reference_after_first_pass(tenant, reads).await,
        "ConfigMap mcp-contoso/corporate-ca key ca.crt (spec.identity.caBundle): holds no PEM certificate \
         (-----BEGIN CERTIFICATE-----)"
    );
}

/// contoso on Redis, trusting the CA bundle of ConfigMap `redis-ca` for `rediss://`.
fn mk_redis_ca_tenant() -> McpTenant {
    let mut tenant = finalized(mk_tenant("contoso"));
    tenant.spec.server.storage = serde_json::from_value(json!({"redis": {
        "urlSecretRef": {"name": "redis", "key": "url"},
        "caBundle": {"configMapKeyRef": {"name": "redis-ca", "key": "ca.crt"}},
    }}))
    .unwrap();
    tenant
}

/// The reads of the Redis URL Secret and of the CA ConfigMap, whose `ca.crt` holds `ca`.
fn redis_ca_reads(ca: &str) -> Vec<Step> {
    vec![
        expect(
            Method::GET,
            REDIS_SECRET,
            ok(json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "redis", "namespace": "mcp-contoso"},
                "data": {"url": "cmVkaXNzOi8vcmVkaXM6NjM4MA=="},
            })),
        ),
        config_map_read("redis-ca", json!({"data": {"ca.crt": ca}})),
    ]
}

#[tokio::test]
async fn a_redis_ca_bundle_that_is_not_pem_is_reported_naming_the_configmap_and_field() {
    assert_eq!(
        invalid_reference_after_first_pass(mk_redis_ca_tenant(), redis_ca_reads("not a certificate")).await,
        "ConfigMap mcp-contoso/redis-ca key ca.crt (spec.server.storage.redis.caBundle): holds no PEM \
         certificate (-----BEGIN CERTIFICATE-----)"
    );
}

#[tokio::test]
async fn a_changed_redis_ca_bundle_rolls_the_pods() {
    let (mut env, tenant, calls) = provisioned_with(mk_redis_ca_tenant(), true, redis_ca_reads(PEM)).await;
    let workload = children(&env, &tenant)
        .into_iter()
        .find(|c| c.resource.kind == "Deployment")
        .unwrap();
    let workload_path = child_path(&env.ctx, &workload);
    let checksum = |call: &Call| {
        call.body["spec"]["template"]["metadata"]["annotations"]["mcptenancy.dev/secrets-checksum"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let before = checksum(calls.iter().find(|c| c.path == workload_path).unwrap());
    // The same pass with another bundle: only the workload is applied again.
    let mut steps = noop_reads(&env, &tenant, &calls);
    steps.splice(3..3, redis_ca_reads(&PEM.repeat(2)));
    let position = steps.iter().position(|s| s.path() == workload_path).unwrap();
    steps[position] = expect(Method::PATCH, workload_path.clone(), echo);
    env.script(steps);
    reconcile(Arc::new(tenant), env.ctx.clone()).await.unwrap();
    let calls = env.checkpoint().await;
    let after = checksum(calls.iter().find(|c| c.path == workload_path).unwrap());
    assert_ne!(
        before, after,
        "the pod template's secrets checksum follows the bundle"
    );
}

#[tokio::test]
async fn an_api_conflict_fails_the_pass_and_backs_off_exponentially() {
    let tenant = finalized(mk_tenant("contoso"));
    let mut env = TestEnv::new(true);
    let first = children(&env, &tenant).into_iter().next().unwrap();
    env.script(vec![
        expect(Method::GET, NAMESPACE, not_found),
        expect(Method::GET, KEYS, not_found),
        expect(Method::GET, CLIENT_SECRET, ok(mk_client_secret())),
        expect(
            Method::PATCH,
            child_path(&env.ctx, &first),
            error(409, "Conflict"),
        ),
    ]);
    let tenant = Arc::new(tenant);
    let err = reconcile(tenant.clone(), env.ctx.clone()).await.unwrap_err();
    assert_eq!(err.category(), "conflict");
    assert!(err.to_string().contains("apply Namespace mcp-contoso"), "{err}");
    let delays: Vec<Action> = (0..3)
        .map(|_| error_policy(tenant.clone(), &err, env.ctx.clone()))
        .collect();
    assert_eq!(
        delays,
        vec![
            Action::requeue(std::time::Duration::from_secs(2)),
            Action::requeue(std::time::Duration::from_secs(4)),
            Action::requeue(std::time::Duration::from_secs(8)),
        ]
    );
    for _ in 0..20 {
        error_policy(tenant.clone(), &err, env.ctx.clone());
    }
    assert_eq!(
        error_policy(tenant, &err, env.ctx.clone()),
        Action::requeue(std::time::Duration::from_secs(300))
    );
    assert_eq!(env.ctx.metrics.reconciles("error"), 1);
    env.checkpoint().await;
}

#[tokio::test]
async fn a_server_error_fails_the_pass_without_further_requests() {
    let tenant = finalized(mk_tenant("contoso"));
    let mut env = TestEnv::new(true);
    env.script(vec![expect(
        Method::GET,
        NAMESPACE,
        error(503, "ServiceUnavailable"),
    )]);
    let err = reconcile(Arc::new(tenant), env.ctx.clone()).await.unwrap_err();
    assert_eq!(err.category(), "server_error");
    env.checkpoint().await;
}

fn deleting(policy: DeletionPolicy) -> McpTenant {
    let mut tenant = finalized(mk_tenant("contoso"));
    tenant.spec.deletion_policy = policy;
    tenant.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        Timestamp::now(),
    ));
    tenant
}

fn finalizer_removed(call: &Call) -> (u16, Value) {
    assert_eq!(call.body[1]["op"], "remove");
    let mut t = serde_json::to_value(mk_tenant("contoso")).unwrap();
    t["metadata"]["finalizers"] = json!([]);
    (200, t)
}

#[tokio::test]
async fn deletion_with_policy_delete_removes_the_namespace() {
    let tenant = deleting(DeletionPolicy::Delete);
    let mut env = TestEnv::new(true);
    env.script(vec![
        expect(Method::GET, NAMESPACE, ok(own_namespace())),
        expect(Method::DELETE, NAMESPACE, |call: &Call| {
            assert_eq!(
                call.body["preconditions"]["uid"],
                own_namespace()["metadata"]["uid"],
                "guarded by the uid of the namespace that was read"
            );
            (200, own_namespace())
        }),
        event("Deleted"),
        expect(Method::PATCH, TENANT, finalizer_removed),
    ]);
    reconcile(Arc::new(tenant), env.ctx.clone()).await.unwrap();
    env.checkpoint().await;
}

/// Deletion with `Delete` of a namespace that is not the tenant's: only the finalizer goes.
async fn deletion_keeps(tenant: McpTenant, path: &str, namespace: Value) -> Vec<Call> {
    let mut env = TestEnv::new(true);
    env.script(vec![
        expect(Method::GET, path, ok(namespace)),
        expect(Method::POST, EVENTS, |call: &Call| {
            assert_eq!(call.body["reason"], "Deleted");
            assert!(
                call.body["note"].as_str().unwrap().starts_with("kept namespace"),
                "{}",
                call.body["note"]
            );
            (200, call.body.clone())
        }),
        expect(Method::PATCH, TENANT, finalizer_removed),
    ]);
    reconcile(Arc::new(tenant), env.ctx.clone()).await.unwrap();
    let calls = env.checkpoint().await;
    assert!(
        calls.iter().all(|c| c.method != Method::DELETE),
        "the namespace is not deleted: {calls:#?}"
    );
    calls
}

#[tokio::test]
async fn deletion_with_policy_delete_keeps_a_namespace_without_the_tenant_label() {
    deletion_keeps(
        deleting(DeletionPolicy::Delete),
        NAMESPACE,
        namespace_with(json!({"team": "payments"})),
    )
    .await;
    deletion_keeps(
        deleting(DeletionPolicy::Delete),
        NAMESPACE,
        namespace_with(json!({"mcptenancy.dev/tenant": "fabrikam"})),
    )
    .await;
}

#[tokio::test]
async fn deletion_with_policy_delete_never_deletes_a_system_namespace() {
    let mut tenant = deleting(DeletionPolicy::Delete);
    tenant.spec.namespace = Some("kube-flannel".into());
    let mut namespace = own_namespace();
    namespace["metadata"]["name"] = json!("kube-flannel");
    deletion_keeps(tenant, "/api/v1/namespaces/kube-flannel", namespace).await;
}

#[tokio::test]
async fn deletion_of_a_namespace_that_is_gone_only_removes_the_finalizer() {
    let mut env = TestEnv::new(true);
    env.script(vec![
        expect(Method::GET, NAMESPACE, not_found),
        event("Deleted"),
        expect(Method::PATCH, TENANT, finalizer_removed),
    ]);
    reconcile(Arc::new(deleting(DeletionPolicy::Delete)), env.ctx.clone())
        .await
        .unwrap();
    env.checkpoint().await;
}

/// A pass that finds the namespace or key Secret belonging to someone else: `reads`, then only
/// the status and the Degraded event; nothing is applied and the pass waits for a change.
async fn refused(reads: Vec<Step>, reason: &'static str) -> (McpTenantStatus, Vec<Call>) {
    let tenant = finalized(mk_tenant("contoso"));
    let mut env = TestEnv::new(true);
    let mut steps = reads;
    steps.push(expect(Method::PATCH, STATUS, with_status(&tenant)));
    steps.push(event(reason));
    env.script(steps);
    let action = reconcile(Arc::new(tenant), env.ctx.clone()).await.unwrap();
    assert_eq!(action, Action::await_change(), "no hot requeue");
    let calls = env.checkpoint().await;
    assert!(
        calls
            .iter()
            .all(|c| c.method == Method::GET || c.path == STATUS || c.path == EVENTS),
        "nothing applied: {calls:#?}"
    );
    let status = status_of(calls.iter().find(|c| c.path == STATUS).unwrap());
    let degraded = condition(&status, c::DEGRADED);
    assert_eq!(
        (degraded.status.as_str(), degraded.reason.as_str()),
        ("True", reason)
    );
    assert_eq!(
        (
            condition(&status, c::READY).status.as_str(),
            condition(&status, c::READY).reason.as_str()
        ),
        ("False", reason)
    );
    (status, calls)
}

#[tokio::test]
async fn an_existing_namespace_without_the_tenant_label_is_not_taken_over() {
    let (status, _) = refused(
        vec![expect(
            Method::GET,
            NAMESPACE,
            ok(namespace_with(json!({"team": "payments"}))),
        )],
        reason::NAMESPACE_CONFLICT,
    )
    .await;
    let message = &condition(&status, c::DEGRADED).message;
    assert!(message.contains("namespace mcp-contoso"), "{message}");
    assert!(message.contains("spec.namespace"), "{message}");
    assert!(message.contains("mcptenancy.dev/tenant=contoso"), "{message}");
}

#[tokio::test]
async fn another_tenants_namespace_is_not_taken_over() {
    let (status, _) = refused(
        vec![expect(
            Method::GET,
            NAMESPACE,
            ok(namespace_with(json!({"mcptenancy.dev/tenant": "fabrikam"}))),
        )],
        reason::NAMESPACE_CONFLICT,
    )
    .await;
    let message = &condition(&status, c::DEGRADED).message;
    assert!(message.contains("McpTenant \"fabrikam\""), "{message}");
}

#[tokio::test]
async fn a_key_secret_without_the_tenant_label_is_neither_used_nor_replaced() {
    let foreign = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "mcp-tenant-keys", "namespace": "mcp-contoso", "resourceVersion": "3",
            "labels": {"mcptenancy.dev/tenant": "fabrikam"}},
        "data": {"signing-keys.json": "e30="}});
    let (status, _) = refused(
        vec![
            expect(Method::GET, NAMESPACE, ok(own_namespace())),
            expect(Method::GET, KEYS, ok(foreign)),
        ],
        reason::KEY_SECRET_CONFLICT,
    )
    .await;
    let message = &condition(&status, c::DEGRADED).message;
    assert!(message.contains("mcp-contoso/mcp-tenant-keys"), "{message}");
}

#[tokio::test]
async fn a_namespace_with_the_tenant_label_is_adopted() {
    // E.g. kept by deletionPolicy Retain, or labelled by hand to adopt it deliberately.
    let tenant = finalized(mk_tenant("contoso"));
    let mut env = TestEnv::new(true);
    let mut steps = first_pass(&env, &tenant, true, &["KeysGenerated"]);
    steps[0] = expect(Method::GET, NAMESPACE, ok(own_namespace()));
    env.script(steps);
    let action = reconcile(Arc::new(tenant), env.ctx.clone()).await.unwrap();
    assert!(action != Action::await_change());
    let calls = env.checkpoint().await;
    let status = status_of(calls.iter().find(|c| c.path == STATUS).unwrap());
    assert_eq!(condition(&status, c::DEGRADED).status, "False");
}

#[tokio::test]
async fn deletion_with_policy_retain_detaches_namespace_and_store() {
    let tenant = deleting(DeletionPolicy::Retain);
    let uid = tenant.metadata.uid.clone().unwrap();
    let mut env = TestEnv::new(true);
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mcp-contoso", "resourceVersion": "7",
        "labels": {"mcptenancy.dev/tenant": "contoso"},
        "ownerReferences": [{"apiVersion": "mcptenancy.dev/v1alpha1", "kind": "McpTenant", "name": "contoso", "uid": uid}]}});
    let stateful_set = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "mcp-tenant-server", "namespace": "mcp-contoso"},
        "spec": {"selector": {}, "template": {}, "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"}}});
    env.script(vec![
        expect(
            Method::GET,
            "/api/v1/namespaces/mcp-contoso",
            ok(namespace.clone()),
        ),
        expect(
            Method::PATCH,
            "/api/v1/namespaces/mcp-contoso",
            move |call: &Call| {
                assert_eq!(call.body["metadata"]["ownerReferences"], json!([]));
                assert_eq!(
                    call.body["metadata"]["resourceVersion"], "7",
                    "guarded by resourceVersion"
                );
                (200, namespace)
            },
        ),
        expect(
            Method::GET,
            "/apis/apps/v1/namespaces/mcp-contoso/statefulsets/mcp-tenant-server",
            ok(stateful_set.clone()),
        ),
        expect(
            Method::PATCH,
            "/apis/apps/v1/namespaces/mcp-contoso/statefulsets/mcp-tenant-server",
            move |call: &Call| {
                assert_eq!(
                    call.body["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"],
                    "Retain"
                );
                (200, stateful_set)
            },
        ),
        event("Deleted"),
        expect(Method::PATCH, TENANT, finalizer_removed),
    ]);
    reconcile(Arc::new(tenant), env.ctx.clone()).await.unwrap();
    let calls = env.checkpoint().await;
    assert!(
        calls.iter().all(|c| c.method != Method::DELETE),
        "Retain deletes nothing"
    );
}

#[tokio::test]
async fn keys_are_generated_once_and_rotation_replaces_them_guarded_by_resource_version() {
    let (mut env, mut tenant, calls) = provisioned(true).await;
    tenant.spec.keys.rotation_request = Some("2026-11".into());
    let mut steps = noop_reads(&env, &tenant, &calls);
    // The pod template's secrets checksum changes with the keys: the workload is applied again.
    let workload = children(&env, &tenant)
        .into_iter()
        .find(|c| c.resource.group == "apps")
        .unwrap();
    let workload_path = child_path(&env.ctx, &workload);
    steps.retain(|s| s.path() != workload_path);
    let namespace_index = 3;
    let old_kid = tenant
        .status
        .as_ref()
        .unwrap()
        .keys
        .as_ref()
        .unwrap()
        .active_kid
        .clone();
    steps.insert(
        namespace_index,
        expect(
            Method::PUT,
            format!("{SECRETS}/mcp-tenant-keys"),
            move |call: &Call| {
                assert_eq!(call.body["metadata"]["resourceVersion"], "100");
                assert_eq!(
                    call.body["metadata"]["annotations"]["mcptenancy.dev/rotation-request"],
                    "2026-11"
                );
                echo(call)
            },
        ),
    );
    let position = steps
        .iter()
        .position(|s| s.path().contains("httproutes"))
        .unwrap();
    steps.insert(position, expect(Method::PATCH, workload_path, echo));
    let answer = with_status(&tenant);
    steps.push(expect(Method::PATCH, STATUS, move |call: &Call| {
        let keys = status_of(call).keys.unwrap();
        assert_ne!(keys.active_kid, old_kid);
        assert_eq!(keys.previous_kids, vec![old_kid.clone()]);
        answer(call)
    }));
    steps.push(event("KeysRotated"));
    env.script(steps);
    reconcile(Arc::new(tenant), env.ctx.clone()).await.unwrap();
    let calls = env.checkpoint().await;
    assert!(
        calls.iter().all(|c| c.method != Method::POST || c.path == EVENTS),
        "never a second create"
    );
}

#[tokio::test]
async fn a_key_secret_that_appears_meanwhile_is_never_overwritten() {
    let tenant = finalized(mk_tenant("contoso"));
    let mut env = TestEnv::new(true);
    let namespace = children(&env, &tenant).into_iter().next().unwrap();
    env.script(vec![
        expect(Method::GET, NAMESPACE, not_found),
        expect(Method::GET, KEYS, not_found),
        expect(Method::GET, CLIENT_SECRET, ok(mk_client_secret())),
        expect(Method::PATCH, child_path(&env.ctx, &namespace), echo),
        expect(Method::POST, SECRETS, error(409, "AlreadyExists")),
    ]);
    let err = reconcile(Arc::new(tenant), env.ctx.clone()).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("create Secret mcp-contoso/mcp-tenant-keys"),
        "{err}"
    );
    // No replace follows: the next pass reads the Secret that won and keeps it.
    env.checkpoint().await;
}
