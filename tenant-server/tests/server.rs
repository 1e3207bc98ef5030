//! The server through `app(state)` with tokens from a local ES256 issuer: every token defect,
//! HTTP hardening, sessions, JSON-RPC edge cases, progress and cancellation, metrics.

// A test crate: helpers fail loudly like the tests themselves.

use std::time::Duration;

use axum::body::Body;
use http::StatusCode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::*;

use crate::support;

async fn setup(rest: &str) -> (LocalIssuer, axum::Router, mcp_tenant_server::app::AppState) {
    let issuer = LocalIssuer::start().await;
    let state = state(issuer.config("", rest), vec![]);
    (issuer, router(state.clone()), state)
}

fn challenge(reply: &Reply) -> String {
    reply
        .header("www-authenticate")
        .unwrap_or_else(|| panic!("no challenge: {reply:?}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_session_and_session_less() {
    let (issuer, router, state) = setup("").await;
    let mut client = Client::new(
        router,
        &issuer.token("alice", json!({"name": "Alice", "roles": ["Mail.Reader"]})),
    );
    let init = client.initialize().await;
    assert!(
        init.content_type().starts_with("text/event-stream"),
        "{}",
        init.content_type()
    );
    assert_eq!(init.result()["protocolVersion"], "2025-11-25");
    assert!(init.result()["capabilities"]["tools"].is_object());

    let names = client.tool_names().await;
    assert_eq!(names, vec!["whoami", "server_info"]);
    let list = client.call(2, "tools/list", json!({})).await;
    // resultType is 2026-07-28's; a 2025-11-25 client gets the results it knows.
    assert!(list.result().get("resultType").is_none(), "{}", list.text);
    for tool in list.result()["tools"].as_array().unwrap() {
        assert!(tool["outputSchema"].is_object(), "{tool}");
        assert_eq!(tool["annotations"]["readOnlyHint"], true, "{tool}");
    }

    let who = client
        .call(3, "tools/call", json!({"name": "whoami", "arguments": {}}))
        .await;
    let result = who.result();
    assert!(result.get("resultType").is_none(), "{}", who.text);
    assert_eq!(result["structuredContent"]["subject"], "alice");
    assert_eq!(result["structuredContent"]["tenantId"], TENANT);
    assert_eq!(result["structuredContent"]["roles"], json!(["Mail.Reader"]));
    assert!(result["content"][0]["text"].as_str().unwrap().contains("Alice"));
    // In a session, requests are answered on a response stream, one message, no event id.
    assert!(
        who.content_type().starts_with("text/event-stream"),
        "{}",
        who.content_type()
    );
    assert!(who.text.starts_with("data: {"), "{}", who.text);
    assert_eq!(who.messages.len(), 1, "{}", who.text);
    // A session's POST must accept both JSON and SSE and carry JSON, whoever answers it.
    for (name, value, status) in [
        ("accept", "application/json", StatusCode::NOT_ACCEPTABLE),
        ("content-type", "text/plain", StatusCode::UNSUPPORTED_MEDIA_TYPE),
    ] {
        let mut request = client.request(
            "POST",
            Body::from(
                json!({"jsonrpc": "2.0", "id": 30, "method": "tools/call", "params": {"name": "whoami"}})
                    .to_string(),
            ),
            &[],
        );
        request.headers_mut().insert(name, value.parse().unwrap());
        assert_eq!(client.send(request).await.status, status, "{name}: {value}");
    }

    let ping = client.call(4, "ping", json!({})).await;
    assert_eq!(ping.result(), &json!({}));
    let level = client
        .call(5, "logging/setLevel", json!({"level": "warning"}))
        .await;
    assert_eq!(level.result(), &json!({}));

    // No initialize, no session: answered as plain JSON.
    let mut plain = client.clone();
    plain.session = None;
    let reply = plain.call(7, "tools/call", json!({"name": "server_info"})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(
        reply.content_type().starts_with("application/json"),
        "{}",
        reply.content_type()
    );
    assert_eq!(reply.result()["structuredContent"]["tenant"], "contoso");
    assert!(reply.header("mcp-session-id").is_none());
    // Even for a caller that accepts only JSON.
    let reply = plain
        .post(
            json!({"jsonrpc": "2.0", "id": 8, "method": "tools/list"}),
            &[("accept", "application/json")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

    for (name, value) in [("x-content-type-options", "nosniff"), ("x-frame-options", "DENY")] {
        assert_eq!(reply.header(name), Some(value));
    }
    assert!(reply.header("strict-transport-security").is_some());
    assert!(reply.header("content-security-policy").is_some());

    let metrics = state.metrics.render().unwrap();
    assert!(
        metrics.contains(r#"mcp_tool_invocations_total{status="ok",tier="default",tool="whoami"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("mcp_active_sessions 1"), "{metrics}");
    assert!(
        metrics.contains(r#"http_requests_total{method="POST",route="/mcp",status="200"}"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_token_defect_is_a_401_with_a_challenge() {
    let (issuer, router, state) = setup("").await;
    let other = mcp_tenant_server::dev::DevIssuer::generate(ISSUER).unwrap();
    let now = jsonwebtoken::get_current_timestamp();
    let claims = |extra: Value| issuer.claims("mallory", extra);

    // A foreign key that claims the trusted key's kid: a bad signature.
    let mut forged_header = other.header();
    forged_header.kid = Some(issuer.issuer.kid().to_owned());
    let hs256 = {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(issuer.issuer.kid().to_owned());
        jsonwebtoken::encode(&h, &claims(json!({})), &EncodingKey::from_secret(b"secret")).unwrap()
    };
    let unsigned = {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        let h = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": issuer.issuer.kid()}).to_string());
        let c = URL_SAFE_NO_PAD.encode(claims(json!({})).to_string());
        format!("{h}.{c}.")
    };
    let mut wrong_typ = issuer.issuer.header();
    wrong_typ.typ = Some("id+jwt".into());

    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing", None, "missing"),
        ("malformed", Some("not-a-jwt".into()), "malformed"),
        (
            "expired",
            Some(issuer.token("m", json!({"exp": now - 120, "iat": now - 600, "nbf": now - 600}))),
            "expired",
        ),
        (
            "not yet valid",
            Some(issuer.token("m", json!({"nbf": now + 600}))),
            "not_yet_valid",
        ),
        (
            "wrong issuer",
            Some(issuer.token("m", json!({"iss": "https://evil.test"}))),
            "wrong_issuer",
        ),
        (
            "wrong audience",
            Some(issuer.token("m", json!({"aud": "https://other.test/mcp"}))),
            "wrong_audience",
        ),
        (
            "no audience",
            Some(issuer.token("m", json!({"aud": null}))),
            "malformed",
        ),
        (
            "bad signature",
            Some(other.sign(&forged_header, &claims(json!({}))).unwrap()),
            "bad_signature",
        ),
        (
            "unknown key",
            Some(other.sign(&other.header(), &claims(json!({}))).unwrap()),
            "unknown_key",
        ),
        ("HS256", Some(hs256), "unsupported_algorithm"),
        ("alg none", Some(unsigned), "unsupported_algorithm"),
        (
            "id token typ",
            Some(issuer.issuer.sign(&wrong_typ, &claims(json!({}))).unwrap()),
            "malformed",
        ),
        (
            "id token with a plain JWT typ (nonce)",
            Some(issuer.token("m", json!({"nonce": "n-0S6_WzA2Mj"}))),
            "malformed",
        ),
    ];
    for (name, token, reason) in cases {
        let client = Client {
            token,
            ..Client::new(router.clone(), "")
        };
        let reply = client.call(1, "tools/list", json!({})).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{name}: {}", reply.text);
        let www = challenge(&reply);
        assert!(
            www.starts_with(&format!(
                "Bearer resource_metadata=\"{PUBLIC}/.well-known/oauth-protected-resource/mcp\""
            )),
            "{name}: {www}"
        );
        if reason == "missing" {
            assert!(!www.contains("error="), "{name}: {www}");
        } else {
            assert!(
                www.contains("error=\"invalid_token\", error_description=\""),
                "{name}: {www}"
            );
        }
        let metrics = state.metrics.render().unwrap();
        assert!(
            metrics.contains(&format!("mcp_auth_failures_total{{reason=\"{reason}\"}}")),
            "{name}: {metrics}"
        );
    }

    // Tokens only count in the Authorization header.
    let good = issuer.token("m", json!({}));
    let mut client = Client::new(router.clone(), "");
    client.token = None;
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("/mcp?access_token={good}"))
        .header("host", HOST)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(Body::from(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string(),
        ))
        .unwrap();
    assert_eq!(client.send(request).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_allow_list() {
    let issuer = LocalIssuer::start().await;
    let config = issuer.config(&format!("  allowedTenantIds: [{TENANT}]\n"), "");
    let router = router(state(config, vec![]));
    let ok = Client::new(router.clone(), &issuer.token("a", json!({})));
    assert_eq!(ok.call(1, "tools/list", json!({})).await.status, StatusCode::OK);
    for tid in [json!("22222222-2222-2222-2222-222222222222"), Value::Null] {
        let other = Client::new(router.clone(), &issuer.token("b", json!({"tid": tid})));
        let reply = other.call(1, "tools/list", json!({})).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert!(challenge(&reply).contains("tenant"), "{}", challenge(&reply));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_filter_tools_and_hide_the_rest() {
    let issuer = LocalIssuer::start().await;
    let slow = SlowTool::new(Duration::from_millis(10));
    let state = state(issuer.config("", TIERS), vec![slow]);
    let router = router(state.clone());

    let nobody = Client::new(router.clone(), &issuer.token("n", json!({})));
    assert_eq!(nobody.tool_names().await, vec!["whoami"]);
    let reader = Client::new(
        router.clone(),
        &issuer.token("r", json!({"roles": ["Mail.Reader"]})),
    );
    assert_eq!(reader.tool_names().await, vec!["whoami", "server_info"]);

    // A tool that exists but is not allowed reads exactly like one that does not exist.
    let denied = nobody.call(2, "tools/call", json!({"name": "server_info"})).await;
    let missing = nobody
        .call(2, "tools/call", json!({"name": "no_such_tool"}))
        .await;
    assert_eq!(denied.status, missing.status);
    assert_eq!(denied.error_code(), -32602);
    assert_eq!(missing.error_code(), -32602);
    assert_eq!(
        denied.response()["error"]["message"]
            .as_str()
            .unwrap()
            .replace("server_info", "X"),
        missing.response()["error"]["message"]
            .as_str()
            .unwrap()
            .replace("no_such_tool", "X")
    );

    // MFA tier: listed only with MFA; without it a call asks for step-up.
    let sender = Client::new(
        router.clone(),
        &issuer.token("s", json!({"roles": ["Mail.Sender"], "amr": ["pwd"]})),
    );
    assert_eq!(sender.tool_names().await, vec!["whoami"]);
    let step_up = sender
        .call(3, "tools/call", json!({"name": "meeting_brief"}))
        .await;
    assert_eq!(step_up.status, StatusCode::FORBIDDEN);
    assert!(
        challenge(&step_up).contains("error=\"insufficient_scope\""),
        "{}",
        challenge(&step_up)
    );
    let mfa = Client::new(
        router.clone(),
        &issuer.token("s2", json!({"roles": ["Mail.Sender"], "amr": ["pwd", "mfa"]})),
    );
    assert_eq!(
        mfa.tool_names().await,
        vec!["whoami", "server_info", "meeting_brief"]
    );
    let done = mfa.call(4, "tools/call", json!({"name": "meeting_brief"})).await;
    assert_eq!(done.result()["structuredContent"]["done"], true);

    // A service account (app-only token of a configured client) gets its tools only.
    let robot = Client::new(
        router.clone(),
        &issuer.token(
            "robot",
            json!({"azp": "robot", "idtyp": "app", "roles": ["Mail.Sender"], "oid": null}),
        ),
    );
    assert_eq!(robot.tool_names().await, vec!["server_info"]);

    let metrics = state.metrics.render().unwrap();
    assert!(
        metrics.contains(r#"mcp_tool_invocations_total{status="denied",tier="none",tool="unknown"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"tool="server_info"} 1"#), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_user_rate_limit_answers_429_with_retry_after() {
    let (issuer, router, state) = setup("limits:\n  perUser: {requests: 3, period: 1m}\n").await;
    let client = Client::new(router.clone(), &issuer.token("busy", json!({})));
    for i in 0..3 {
        assert_eq!(
            client.call(i, "tools/list", json!({})).await.status,
            StatusCode::OK
        );
    }
    let limited = client.call(9, "tools/list", json!({})).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    assert_eq!(limited.response()["jsonrpc"], "2.0");
    assert!(
        limited.response()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rate limit")
    );
    // Another user is not affected.
    let other = Client::new(router, &issuer.token("calm", json!({})));
    assert_eq!(
        other.call(1, "tools/list", json!({})).await.status,
        StatusCode::OK
    );
    assert!(
        state
            .metrics
            .render()
            .unwrap()
            .contains(r#"mcp_rate_limited_total{scope="user"} 1"#)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_ip_rate_limit_applies_before_authentication() {
    let (_issuer, router, _) = setup("limits:\n  perIp: {requests: 2, period: 1m}\n").await;
    let client = Client::new(router, "garbage");
    assert_eq!(
        client.call(1, "tools/list", json!({})).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        client.call(1, "tools/list", json!({})).await.status,
        StatusCode::UNAUTHORIZED
    );
    let limited = client.call(1, "tools/list", json!({})).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.header("retry-after").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_hardening() {
    let (issuer, router, _) = setup("").await;
    let client = Client::new(router.clone(), &issuer.token("h", json!({})));

    let big = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"pad": "x".repeat(5000)}});
    let reply = client.post(big, &[]).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", reply.text);

    let foreign = list_with(&client, &[("origin", "https://evil.example.com")]).await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    let allowed = list_with(&client, &[("origin", "https://app.example.com")]).await;
    assert_eq!(allowed.status, StatusCode::OK);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );

    let mut wrong_host = client.clone();
    wrong_host.host = "attacker.example.com".into();
    assert_eq!(
        wrong_host.call(1, "tools/list", json!({})).await.status,
        StatusCode::FORBIDDEN
    );

    let preflight = http::Request::builder()
        .method("OPTIONS")
        .uri("/mcp")
        .header("host", HOST)
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, mcp-session-id",
        )
        .body(Body::empty())
        .unwrap();
    let reply = client.send(preflight).await;
    assert!(reply.status.is_success(), "{reply:?}");
    assert!(
        reply
            .header("access-control-allow-headers")
            .unwrap()
            .contains("mcp-session-id")
    );
}

async fn list_with(client: &Client, extra: &[(&str, &str)]) -> Reply {
    client
        .post(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}), extra)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_resource_metadata() {
    let (_issuer, router, _) = setup("").await;
    for (path, resource) in [
        ("/.well-known/oauth-protected-resource", PUBLIC.to_owned()),
        (
            "/.well-known/oauth-protected-resource/mcp",
            format!("{PUBLIC}/mcp"),
        ),
    ] {
        let client = Client::new(router.clone(), "");
        let request = http::Request::builder()
            .uri(path)
            .header("host", HOST)
            .body(Body::empty())
            .unwrap();
        let reply = client.send(request).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        let doc = &reply.messages[0];
        assert_eq!(doc["resource"], resource.as_str());
        assert_eq!(doc["authorization_servers"], json!([ISSUER]));
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_bound_to_their_user_and_end() {
    let (issuer, router, _) = setup("").await;
    let mut alice = Client::new(router.clone(), &issuer.token("alice", json!({})));
    alice.initialize().await;

    let mut bob = Client::new(router.clone(), &issuer.token("bob", json!({})));
    bob.session = alice.session.clone();
    let stolen = bob.call(1, "tools/list", json!({})).await;
    assert_eq!(stolen.status, StatusCode::NOT_FOUND, "{}", stolen.text);
    let stolen_get = bob
        .send(bob.request("GET", Body::empty(), &[("accept", "text/event-stream")]))
        .await;
    assert_eq!(stolen_get.status, StatusCode::NOT_FOUND);

    // A valid token is still required on every request of a session.
    let mut anonymous = alice.clone();
    anonymous.token = None;
    assert_eq!(
        anonymous.call(1, "tools/list", json!({})).await.status,
        StatusCode::UNAUTHORIZED
    );

    assert_eq!(
        alice.call(2, "tools/list", json!({})).await.status,
        StatusCode::OK
    );
    let ended = alice.send(alice.request("DELETE", Body::empty(), &[])).await;
    assert!(ended.status.is_success(), "{ended:?}");
    let after = alice.call(3, "tools/list", json!({})).await;
    assert_eq!(after.status, StatusCode::NOT_FOUND);
    let unknown = Client {
        session: Some("no-such-session".into()),
        ..alice.clone()
    };
    assert_eq!(
        unknown.call(4, "tools/list", json!({})).await.status,
        StatusCode::NOT_FOUND
    );

    // Notifications need a session.
    let mut fresh = alice.clone();
    fresh.session = None;
    let orphan = fresh
        .post(
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            &[],
        )
        .await;
    assert_eq!(orphan.status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_per_user_are_bounded() {
    let (issuer, router, state) = setup("").await;
    let token = issuer.token("many", json!({}));
    let mut first = Client::new(router.clone(), &token);
    first.initialize().await;
    let mut second = Client::new(router.clone(), &token);
    second.initialize().await;
    let mut third = Client::new(router.clone(), &token);
    third.initialize().await;
    // The limit is 2: the least recently used session was ended.
    assert_eq!(
        state
            .mcp
            .sessions
            .count_for("11111111-1111-1111-1111-111111111111/oid-many"),
        2
    );
    assert_eq!(
        first.call(1, "tools/list", json!({})).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        third.call(1, "tools/list", json!({})).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_in_flight_request_ids_are_refused_not_hung() {
    let issuer = LocalIssuer::start().await;
    let slow = SlowTool::new(Duration::from_millis(600));
    let router = router(state(issuer.config("", ""), vec![slow]));
    let mut client = Client::new(router, &issuer.token("dup", json!({})));
    client.initialize().await;

    let first = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .call(42, "tools/call", json!({"name": "meeting_brief"}))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let started = std::time::Instant::now();
    let duplicate = client.call(42, "tools/call", json!({"name": "whoami"})).await;
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "the duplicate was answered at once"
    );
    assert_eq!(duplicate.status, StatusCode::BAD_REQUEST);
    assert_eq!(duplicate.error_code(), -32600);
    let first = first.await.unwrap();
    assert_eq!(first.result()["structuredContent"]["done"], true);
    // The id is free again once its response is done.
    let again = client.call(42, "tools/call", json!({"name": "whoami"})).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_and_cancellation() {
    let issuer = LocalIssuer::start().await;
    let slow = SlowTool::new(Duration::from_secs(30));
    let (started, cancelled) = (slow.started.clone(), slow.cancelled.clone());
    let quick = SlowTool::new(Duration::from_millis(50));
    let router_slow = router(state(issuer.config("", ""), vec![slow]));
    let router_quick = router(state(issuer.config("", ""), vec![quick]));

    let mut client = Client::new(router_quick, &issuer.token("p", json!({})));
    client.initialize().await;
    let reply = client
        .call(
            5,
            "tools/call",
            json!({"name": "meeting_brief", "_meta": {"progressToken": "tok-1"}}),
        )
        .await;
    let progress: Vec<&Value> = reply
        .messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 2, "{}", reply.text);
    assert_eq!(progress[0]["params"]["progressToken"], "tok-1");
    assert_eq!(progress[0]["params"]["total"], 2.0);
    assert_eq!(reply.result()["structuredContent"]["done"], true);

    let mut client = Client::new(router_slow, &issuer.token("c", json!({})));
    client.initialize().await;
    let call = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .call(6, "tools/call", json!({"name": "meeting_brief"}))
                .await
        })
    };
    started.subscribe().wait_for(|&n| n > 0).await.unwrap();
    client.cancel(6).await;
    tokio::time::timeout(Duration::from_secs(5), cancelled.notified())
        .await
        .expect("the tool saw the cancellation");
    // A cancelled request gets no response message, and its id is free again.
    let cancelled_reply = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .expect("the cancelled call's stream ended")
        .unwrap();
    assert_eq!(cancelled_reply.status, StatusCode::OK);
    assert!(cancelled_reply.messages.is_empty(), "{}", cancelled_reply.text);
    let reply = client.call(6, "ping", json!({})).await;
    assert_eq!(reply.result(), &json!({}), "{}", reply.text);
    // A client that drops the response stream has not cancelled (rmcp's client drops it just
    // before it sends `notifications/cancelled`): the call runs on, holding its id, until then.
    client.call_and_leave(7, &started).await;
    let busy = client.call(7, "ping", json!({})).await;
    assert_eq!(busy.status, StatusCode::BAD_REQUEST, "{}", busy.text);
    assert!(busy.text.contains("already in progress"), "{}", busy.text);
    client.cancel(7).await;
    tokio::time::timeout(Duration::from_secs(5), cancelled.notified())
        .await
        .expect("the tool saw the cancellation after its stream was dropped");
    let mut free = client.call(7, "ping", json!({})).await;
    for _ in 0..50 {
        if free.status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        free = client.call(7, "ping", json!({})).await;
    }
    assert_eq!(free.result(), &json!({}), "{}", free.text);
    // Cancelling a request that is not in flight is harmless.
    client.cancel(99).await;
    // Nor does such a call outlive its session: ending the session cancels it.
    client.call_and_leave(8, &started).await;
    let ended = client.send(client.request("DELETE", Body::empty(), &[])).await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT, "{}", ended.text);
    tokio::time::timeout(Duration::from_secs(5), cancelled.notified())
        .await
        .expect("ending the session cancelled the call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_rpc_edge_cases() {
    let (issuer, router, _) = setup("").await;
    let mut client = Client::new(router.clone(), &issuer.token("j", json!({})));

    let parse = client
        .send(client.request("POST", Body::from("{not json"), &[]))
        .await;
    assert_eq!(parse.status, StatusCode::BAD_REQUEST);
    assert_eq!(parse.error_code(), -32700);
    let batch = client.send(client.request("POST", Body::from("[]"), &[])).await;
    assert_eq!(batch.status, StatusCode::BAD_REQUEST);
    assert_eq!(batch.error_code(), -32600);
    let not_rpc = client.post(json!({"id": 1, "method": "tools/list"}), &[]).await;
    assert_eq!(not_rpc.error_code(), -32600);
    let bad_id = client
        .post(
            json!({"jsonrpc": "2.0", "id": {"x": 1}, "method": "tools/list"}),
            &[],
        )
        .await;
    assert_eq!(bad_id.error_code(), -32600);

    client.initialize().await;
    let unknown = client.call(1, "no/such/method", json!({})).await;
    assert_eq!(unknown.error_code(), -32601, "{}", unknown.text);

    let mut request = client.request(
        "POST",
        Body::from(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string()),
        &[],
    );
    request
        .headers_mut()
        .insert("mcp-protocol-version", "1999-01-01".parse().unwrap());
    let reply = client.send(request).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);

    let put = client.send(client.request("PUT", Body::empty(), &[])).await;
    assert_eq!(put.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_protocol_versions_are_negotiated() {
    let (issuer, router, _) = setup("").await;
    let client = Client::new(router, &issuer.token("old", json!({})));
    for version in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] {
        let reply = client
            .call(
                0,
                "initialize",
                json!({"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{version}: {}", reply.text);
        assert_eq!(reply.result()["protocolVersion"], version);
        assert!(reply.header("mcp-session-id").is_some(), "{version}");
    }
}
