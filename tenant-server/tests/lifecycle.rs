//! Session idle timeout, the standalone GET stream, readiness, and a graceful shutdown that lets
//! a tool call in progress finish, on a real socket.

// A test crate: helpers fail loudly like the tests themselves.

use std::time::Duration;

use axum::body::Body;
use http::StatusCode;
use mcp_tenant_server::app::ops_app;
use serde_json::json;
use support::*;
use tower::ServiceExt;

use crate::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_end_and_the_get_stream_opens() {
    let issuer = LocalIssuer::start().await;
    let mut config = issuer.config("", "");
    config.server.session_idle_timeout = "1s".parse().unwrap();
    let router = router(state(config, vec![]));
    let mut client = Client::new(router.clone(), &issuer.token("idle", json!({})));
    client.initialize().await;

    let get = client.request("GET", Body::empty(), &[("accept", "text/event-stream")]);
    let response = tokio::time::timeout(Duration::from_secs(5), router.clone().oneshot(get))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    drop(response);

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after = client.call(1, "tools/list", json!({})).await;
    assert_eq!(after.status, StatusCode::NOT_FOUND, "{}", after.text);

    // Session-less requests check the protocol version header too.
    let mut plain = client.clone();
    plain.session = None;
    let mut request = plain.request(
        "POST",
        Body::from(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string()),
        &[],
    );
    request
        .headers_mut()
        .insert("mcp-protocol-version", "1999-01-01".parse().unwrap());
    assert_eq!(plain.send(request).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_counts_as_use_and_calls_in_flight_keep_a_session() {
    let issuer = LocalIssuer::start().await;
    let mut config = issuer.config("", "");
    config.server.session_idle_timeout = "1s".parse().unwrap();
    let slow = SlowTool::new(Duration::from_millis(1500));
    let mut client = Client::new(
        router(state(config, vec![slow])),
        &issuer.token("busy", json!({})),
    );
    client.initialize().await;

    // Calls every 300 ms for twice the idle timeout: the session stays.
    for id in 1..=6 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let reply = client.call(id, "tools/call", json!({"name": "whoami"})).await;
        assert_eq!(reply.status, StatusCode::OK, "call {id}: {}", reply.text);
    }
    // A call longer than the idle timeout is not cut off, and it counts as use when it ends.
    let reply = client
        .call(7, "tools/call", json!({"name": "meeting_brief"}))
        .await;
    assert_eq!(
        reply.result()["structuredContent"]["done"],
        true,
        "{}",
        reply.text
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reply = client.call(8, "ping", json!({})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

    // Then idle: ended.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let reply = client.call(9, "ping", json!({})).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_needs_the_issuer_keys() {
    let issuer = LocalIssuer::start().await;
    let ready = ops_app(state(issuer.config("", ""), vec![]));
    let request = || {
        http::Request::builder()
            .uri("/readyz")
            .body(Body::empty())
            .unwrap()
    };
    let reply = read(ready.oneshot(request()).await.unwrap()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.messages[0],
        json!({"config": true, "keys": true, "store": true})
    );

    let unreachable = config(PUBLIC, ISSUER, "http://127.0.0.1:9/jwks", "", "");
    let not_ready = ops_app(state(unreachable, vec![]));
    let reply = read(not_ready.oneshot(request()).await.unwrap()).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.messages[0]["keys"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_calls_in_progress_finish() {
    let issuer = LocalIssuer::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ops = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let config = config(&public, ISSUER, &issuer.jwks_url(), "", "");
    let state = state(config, vec![SlowTool::new(Duration::from_millis(800))]);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(mcp_tenant_server::server::serve(
        state,
        listener,
        ops,
        async move {
            let _ = stopped.await;
        },
    ));

    let token = issuer.token("late", json!({"aud": format!("{public}/mcp")}));
    let call = {
        let url = format!("{public}/mcp");
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .header("accept", "application/json, text/event-stream")
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "meeting_brief"}}))
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(()).unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer["result"]["structuredContent"]["done"], true, "{answer}");
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
    // New connections are refused once it has stopped.
    assert!(
        reqwest::Client::new()
            .get(format!("{public}/mcp"))
            .send()
            .await
            .is_err()
    );
}
