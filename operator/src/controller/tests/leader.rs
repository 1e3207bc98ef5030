//! Leader election against the scripted API server, and the health endpoints.

use std::sync::Arc;

use axum::body::Body as AxumBody;
use http::{Method, Request, StatusCode};
use jiff::Timestamp;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::mock::{Call, TestEnv, echo, expect, not_found, ok};
use crate::controller::{
    leader::LeaseLock,
    runtime::{Health, health_router},
};

const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/mcp-tenancy-system/leases/mcp-tenancy-operator";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/mcp-tenancy-system/leases";

fn lock(env: &TestEnv) -> LeaseLock {
    LeaseLock::new(
        env.ctx.client.clone(),
        "mcp-tenancy-system",
        "mcp-tenancy-operator",
        "me",
    )
}

fn lease(holder: &str, renewed: &str, transitions: i32) -> Value {
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "mcp-tenancy-operator", "namespace": "mcp-tenancy-system", "resourceVersion": "42"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15, "renewTime": renewed,
                 "acquireTime": "2026-01-01T00:00:00.000000Z", "leaseTransitions": transitions}})
}

fn now() -> Timestamp {
    "2026-01-01T00:01:00Z".parse().unwrap()
}

#[tokio::test]
async fn a_missing_lease_is_created_with_this_replica_as_holder() {
    let mut env = TestEnv::new(true);
    env.script(vec![
        expect(Method::GET, LEASE, not_found),
        expect(Method::POST, LEASES, |call: &Call| {
            assert_eq!(call.body["spec"]["holderIdentity"], "me");
            assert_eq!(call.body["spec"]["leaseDurationSeconds"], 15);
            echo(call)
        }),
    ]);
    assert!(lock(&env).try_acquire_or_renew(now()).await.unwrap());
    env.checkpoint().await;
}

#[tokio::test]
async fn a_lease_held_and_renewed_by_another_replica_is_left_alone() {
    let mut env = TestEnv::new(true);
    env.script(vec![expect(
        Method::GET,
        LEASE,
        ok(lease("other", "2026-01-01T00:00:50.000000Z", 3)),
    )]);
    assert!(!lock(&env).try_acquire_or_renew(now()).await.unwrap());
    env.checkpoint().await;
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_guarded_by_resource_version() {
    let mut env = TestEnv::new(true);
    env.script(vec![
        expect(
            Method::GET,
            LEASE,
            ok(lease("other", "2026-01-01T00:00:40.000000Z", 3)),
        ),
        expect(Method::PUT, LEASE, |call: &Call| {
            assert_eq!(call.body["metadata"]["resourceVersion"], "42");
            assert_eq!(call.body["spec"]["holderIdentity"], "me");
            assert_eq!(call.body["spec"]["leaseTransitions"], 4);
            echo(call)
        }),
    ]);
    assert!(lock(&env).try_acquire_or_renew(now()).await.unwrap());
    env.checkpoint().await;
}

#[tokio::test]
async fn losing_the_race_for_a_lease_is_not_leading() {
    let mut env = TestEnv::new(true);
    env.script(vec![
        expect(
            Method::GET,
            LEASE,
            ok(lease("other", "2026-01-01T00:00:00.000000Z", 3)),
        ),
        expect(Method::PUT, LEASE, super::mock::error(409, "Conflict")),
    ]);
    assert!(!lock(&env).try_acquire_or_renew(now()).await.unwrap());
    env.checkpoint().await;
}

#[tokio::test]
async fn the_holder_renews_and_releases() {
    let mut env = TestEnv::new(true);
    env.script(vec![
        expect(
            Method::GET,
            LEASE,
            ok(lease("me", "2026-01-01T00:00:55.000000Z", 3)),
        ),
        expect(Method::PUT, LEASE, |call: &Call| {
            assert_eq!(
                call.body["spec"]["leaseTransitions"], 3,
                "a renewal is no transition"
            );
            assert_eq!(call.body["spec"]["renewTime"], "2026-01-01T00:01:00.000000Z");
            echo(call)
        }),
        expect(
            Method::GET,
            LEASE,
            ok(lease("me", "2026-01-01T00:01:00.000000Z", 3)),
        ),
        expect(Method::PUT, LEASE, |call: &Call| {
            assert!(call.body["spec"]["holderIdentity"].is_null());
            echo(call)
        }),
    ]);
    let lock = lock(&env);
    assert!(lock.try_acquire_or_renew(now()).await.unwrap());
    lock.release().await.unwrap();
    env.checkpoint().await;
}

#[tokio::test]
async fn readyz_is_unavailable_until_ready_and_livez_always_answers() {
    let health = Arc::new(Health::default());
    let get = |path: &'static str| Request::builder().uri(path).body(AxumBody::empty()).unwrap();
    let app = health_router(health.clone());
    assert_eq!(
        app.clone().oneshot(get("/livez")).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        app.clone().oneshot(get("/readyz")).await.unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    health.set_ready(true);
    assert_eq!(
        app.oneshot(get("/readyz")).await.unwrap().status(),
        StatusCode::OK
    );
}
