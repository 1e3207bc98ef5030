//! Several replicas on one real redis-server (started here on 127.0.0.1; skipped with a message
//! when it is not installed): any replica serves any request of a session, a cancellation sent to
//! one stops the call on another, a killed replica leaves the session usable, and the limits
//! (requests per user, sessions per user, the idle timeout) hold for the replicas together.

// A test crate: helpers fail loudly like the tests themselves.

use std::{sync::Arc, time::Duration};

use http::StatusCode;
use mcp_tenant_server::tools::Tool;
use serde_json::{Value, json};
use support::{
    LocalIssuer, SlowTool,
    redis::RedisServer,
    replicas::{HttpClient, Replica, RoundRobin},
};

use crate::support;

/// `n` replicas of one tenant (`rest` added to its config) with `tools`.
fn replicas(
    redis: &RedisServer,
    issuer: &LocalIssuer,
    rest: &str,
    n: usize,
    tools: &[Arc<dyn Tool>],
) -> Vec<Replica> {
    (0..n)
        .map(|_| Replica::start(&redis.url(), issuer.config("", rest), tools.to_vec()))
        .collect()
}

fn progress_of(reply: &support::Reply) -> Vec<&Value> {
    reply
        .messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_is_served_by_whichever_replica_a_request_reaches() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let issuer = LocalIssuer::start().await;
    let slow: Arc<dyn Tool> = SlowTool::new(Duration::from_millis(300));
    let r = replicas(&redis, &issuer, "", 3, &[slow]);
    let mut client = HttpClient::new(&issuer.token("alice", json!({})));
    client.initialize(&r[0], &r[1]).await;

    // Requests answered by the endpoint itself, on every replica in turn.
    for (i, replica) in r.iter().enumerate() {
        let id = i64::try_from(i).unwrap() + 1;
        let list = client.call(replica, id, "tools/list", json!({})).await;
        assert_eq!(list.status, StatusCode::OK, "replica {i}: {}", list.text);
        let names: Vec<&str> = list.result()["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"meeting_brief"), "replica {i}: {names:?}");
        let whoami = client
            .call(replica, id + 10, "tools/call", json!({"name": "whoami"}))
            .await;
        assert_eq!(whoami.result()["isError"], false, "replica {i}: {}", whoami.text);
    }
    // A call with progress rides rmcp's session, which the replicas that never saw the
    // initialize restore from the shared record; the progress reaches the client.
    for (i, replica) in r.iter().enumerate().rev() {
        let id = 100 + i64::try_from(i).unwrap();
        let params = json!({"name": "meeting_brief", "_meta": {"progressToken": format!("p{i}")}});
        let reply = client.call(replica, id, "tools/call", params).await;
        assert_eq!(reply.status, StatusCode::OK, "replica {i}: {}", reply.text);
        let progress = progress_of(&reply);
        assert_eq!(progress.len(), 2, "replica {i}: {}", reply.text);
        assert_eq!(progress[0]["params"]["progressToken"], format!("p{i}"));
        assert_eq!(reply.result()["structuredContent"]["done"], true, "replica {i}");
    }
    // The GET stream opens on any replica.
    for replica in &r {
        let (status, content_type) = client.open_stream(replica).await;
        assert_eq!(status, StatusCode::OK);
        assert!(content_type.starts_with("text/event-stream"), "{content_type}");
    }

    // Another user cannot use the session on any replica, nor end it.
    let mut mallory = HttpClient::new(&issuer.token("mallory", json!({})));
    mallory.session = client.session.clone();
    for replica in &r {
        let reply = mallory.call(replica, 1, "tools/list", json!({})).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
    }
    assert_eq!(mallory.delete(&r[2]).await.status, StatusCode::NOT_FOUND);

    // Ended on one replica, it is gone on all of them.
    assert_eq!(client.delete(&r[2]).await.status, StatusCode::NO_CONTENT);
    for (i, replica) in r.iter().enumerate() {
        let reply = client.call(replica, 7, "tools/list", json!({})).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "replica {i}: {}", reply.text);
        let params = json!({"name": "meeting_brief", "_meta": {"progressToken": 1}});
        let reply = client.call(replica, 8, "tools/call", params).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "replica {i}: {}", reply.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_sent_to_another_replica_stops_the_call() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let issuer = LocalIssuer::start().await;
    let slow = SlowTool::new(Duration::from_secs(30));
    let cancelled = slow.cancelled.clone();
    let tool: Arc<dyn Tool> = slow;
    let r = Arc::new(replicas(&redis, &issuer, "", 2, &[tool]));
    let mut client = HttpClient::new(&issuer.token("bob", json!({})));
    client.initialize(&r[0], &r[1]).await;

    // Once answered by the endpoint, once (with a progress token) by rmcp's session worker.
    let cases = [
        (21, json!({"name": "meeting_brief"})),
        (
            22,
            json!({"name": "meeting_brief", "_meta": {"progressToken": "t"}}),
        ),
    ];
    for (id, params) in cases {
        let call = {
            let (client, r) = (client.clone(), r.clone());
            tokio::spawn(async move { client.call(&r[0], id, "tools/call", params).await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let notice =
            json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": id}});
        assert_eq!(client.post(&r[1], notice).await.status, StatusCode::ACCEPTED);
        tokio::time::timeout(Duration::from_secs(5), cancelled.notified())
            .await
            .unwrap_or_else(|_| panic!("request {id}: the tool on replica 0 saw the cancellation"));
        let reply = tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .expect("the cancelled call's stream ended")
            .unwrap();
        assert!(
            reply.messages.iter().all(|m| m.get("result").is_none()),
            "request {id}: a cancelled call gets no result: {}",
            reply.text
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_call_leaves_the_session_usable_on_the_others() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let issuer = LocalIssuer::start().await;
    let tool: Arc<dyn Tool> = SlowTool::new(Duration::from_secs(30));
    let mut r = replicas(&redis, &issuer, "", 3, &[tool]);
    let mut client = HttpClient::new(&issuer.token("carol", json!({})));
    client.initialize(&r[0], &r[0]).await;

    let mut victim = r.remove(0);
    let call = {
        let client = client.clone();
        let addr = victim.addr;
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            http.post(format!("http://{addr}/mcp"))
                .header("host", support::HOST)
                .header("accept", "application/json, text/event-stream")
                .header("content-type", "application/json")
                .header("mcp-session-id", client.session.clone().unwrap())
                .header("mcp-protocol-version", "2025-11-25")
                .bearer_auth(&client.token)
                .body(json!({"jsonrpc": "2.0", "id": 31, "method": "tools/call", "params": {"name": "meeting_brief"}}).to_string())
                .send()
                .await?
                .text()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    victim.kill();
    let lost = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .unwrap()
        .unwrap();
    assert!(
        lost.is_err() || !lost.as_ref().unwrap().contains("\"result\""),
        "{lost:?}"
    );

    for (i, replica) in r.iter().enumerate() {
        let reply = client
            .call(replica, 40, "tools/call", json!({"name": "whoami"}))
            .await;
        assert_eq!(reply.result()["isError"], false, "replica {i}: {}", reply.text);
        // The id of the lost call is free again on the others.
        let ping = client.call(replica, 31, "ping", json!({})).await;
        assert_eq!(ping.result(), &json!({}), "replica {i}: {}", ping.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_user_limit_is_the_configured_rate_over_all_replicas() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let issuer = LocalIssuer::start().await;
    let limits = "limits:\n  perUser: {requests: 10, period: 60s}\n  perIp: {requests: 1000, period: 60s}\n";
    let r = replicas(&redis, &issuer, limits, 3, &[]);
    let client = HttpClient::new(&issuer.token("dave", json!({})));
    let mut statuses = Vec::new();
    for i in 0..30 {
        let reply = client
            .call(
                &r[i % 3],
                i64::try_from(i).unwrap(),
                "tools/call",
                json!({"name": "whoami"}),
            )
            .await;
        statuses.push(reply.status);
    }
    let allowed = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(
        (allowed, limited),
        (10, 20),
        "10 per minute for the three replicas together, not 10 each: {statuses:?}"
    );
    // Another user has a bucket of their own.
    let erin = HttpClient::new(&issuer.token("erin", json!({})));
    let reply = erin.call(&r[1], 1, "tools/call", json!({"name": "whoami"})).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_limit_and_the_idle_timeout_hold_across_replicas() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let issuer = LocalIssuer::start().await;
    // maxSessionsPerUser is 2 in the test config.
    let r = replicas(&redis, &issuer, "", 3, &[]);
    let token = issuer.token("frank", json!({}));
    let mut sessions = Vec::new();
    for i in 0..3 {
        let mut client = HttpClient::new(&token);
        client.initialize(&r[i], &r[(i + 1) % 3]).await;
        sessions.push(client);
    }
    for (i, replica) in r.iter().enumerate() {
        let oldest = sessions[0].call(replica, 1, "ping", json!({})).await;
        assert_eq!(
            oldest.status,
            StatusCode::NOT_FOUND,
            "replica {i}: the oldest session ended"
        );
        for client in &sessions[1..] {
            let reply = client.call(replica, 1, "ping", json!({})).await;
            assert_eq!(reply.status, StatusCode::OK, "replica {i}: {}", reply.text);
        }
    }

    drop(r);
    let config = || {
        let mut config = issuer.config("", "");
        config.server.session_idle_timeout = "2s".parse().unwrap();
        config
    };
    let r: Vec<Replica> = (0..2)
        .map(|_| Replica::start(&redis.url(), config(), Vec::new()))
        .collect();
    let mut client = HttpClient::new(&issuer.token("grace", json!({})));
    client.initialize(&r[0], &r[1]).await;
    // Used on one replica, it stays alive on the other.
    for i in 0..4 {
        tokio::time::sleep(Duration::from_millis(800)).await;
        let reply = client.call(&r[i % 2], 1, "ping", json!({})).await;
        assert_eq!(reply.status, StatusCode::OK, "use {i}: {}", reply.text);
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for replica in &r {
        let reply = client.call(replica, 1, "ping", json!({})).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "idle past the timeout: {}",
            reply.text
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_keeps_tool_calls_working_and_sessions_say_retry() {
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let issuer = LocalIssuer::start().await;
    let r = replicas(&redis, &issuer, "", 2, &[]);
    let mut client = HttpClient::new(&issuer.token("heidi", json!({})));
    client.initialize(&r[0], &r[1]).await;
    let ready = |replica: &Replica| {
        let url = format!("http://{}/readyz", replica.ops);
        async move {
            let response = reqwest::get(url).await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    assert_eq!(ready(&r[0]).await.0, 200);
    redis.stop().await;
    let (status, body) = ready(&r[0]).await;
    assert_eq!((status, &body["store"]), (503, &json!(false)), "{body}");

    // Session-less calls go on; the rate limits count in each replica meanwhile.
    let plain = HttpClient::new(&client.token);
    let reply = plain
        .call(&r[1], 1, "tools/call", json!({"name": "whoami"}))
        .await;
    assert_eq!(reply.result()["isError"], false, "{}", reply.text);
    let metrics = r[1].metrics().await;
    assert!(
        metrics.lines().any(
            |l| l.starts_with("mcp_shared_state_errors_total{operation=\"rate_limit\"}")
                && !l.ends_with(" 0")
        ),
        "{metrics}"
    );
    // Whose session it is cannot be checked: 503 with Retry-After, not 404 (the session may be
    // fine).
    let reply = client.call(&r[0], 2, "ping", json!({})).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{}", reply.text);
    assert_eq!(reply.header("retry-after"), Some("5"));
    assert!(
        reply.text.contains("session store is unreachable"),
        "{}",
        reply.text
    );

    // Back (empty: this Redis saves nothing), the lost session is 404 and a new one works.
    redis.restart().await;
    let mut gone = None;
    for _ in 0..50 {
        let reply = client.call(&r[0], 3, "ping", json!({})).await;
        if reply.status != StatusCode::SERVICE_UNAVAILABLE {
            gone = Some(reply.status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(gone, Some(StatusCode::NOT_FOUND));
    assert_eq!(ready(&r[0]).await.0, 200, "ready again without a restart");
    client.initialize(&r[1], &r[0]).await;
    assert_eq!(
        client.call(&r[0], 4, "ping", json!({})).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_client_through_a_round_robin_proxy() {
    use rmcp::{
        ServiceExt,
        model::CallToolRequestParams,
        transport::{
            StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
        },
    };
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let issuer = LocalIssuer::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let tool: Arc<dyn Tool> = SlowTool::new(Duration::from_millis(200));
    let r: Vec<Replica> = (0..3)
        .map(|_| {
            let config = support::config(&public, support::ISSUER, &issuer.jwks_url(), "", "");
            Replica::start(&redis.url(), config, vec![tool.clone()])
        })
        .collect();
    let proxy = RoundRobin::start(listener, r.iter().map(|r| r.addr).collect());
    let token = issuer.token("ivan", json!({"aud": format!("{public}/mcp")}));
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{public}/mcp")).auth_header(token),
    );
    let client = ().serve(transport).await.expect("initialized through the proxy");
    for _ in 0..3 {
        let tools = client.list_all_tools().await.unwrap();
        assert!(tools.iter().any(|t| t.name == "meeting_brief"));
        let result = client
            .call_tool(CallToolRequestParams::new("meeting_brief"))
            .await
            .unwrap();
        assert_eq!(result.structured_content, Some(json!({"done": true})));
        let whoami = client
            .call_tool(CallToolRequestParams::new("whoami"))
            .await
            .unwrap();
        assert_eq!(whoami.is_error, Some(false));
    }
    client.cancel().await.unwrap();
    let hits = proxy.hits();
    assert!(
        hits.iter().all(|h| *h >= 3),
        "every replica served the session: {hits:?}"
    );
}
