//! The audit log through the real app: one JSON line per tool call and per authentication
//! failure, with who/what/outcome and a hash of the arguments, and never the token, the argument
//! values or the result.

// A test crate: helpers fail loudly like the tests themselves.

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use axum::body::Body;
use http::StatusCode;
use serde_json::{Value, json};
use support::*;

use crate::support;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_lines_say_who_did_what_and_never_carry_secrets() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter("audit=info")
        .with_writer(move || writer.clone())
        .init();

    let issuer = LocalIssuer::start().await;
    let router = router(state(issuer.config("", TIERS), vec![]));
    let token = issuer.token("auditee", json!({"azp": "the-client", "roles": ["Mail.Reader"]}));
    let client = Client::new(router.clone(), &token);
    let reply = client
        .call(
            1,
            "tools/call",
            json!({"name": "whoami", "arguments": {"secret": "ARGUMENT-VALUE-42"}}),
        )
        .await;
    // whoami takes no arguments: a tool error, audited as such.
    assert_eq!(reply.result()["isError"], true);
    client.call(2, "tools/call", json!({"name": "server_info"})).await;
    let sender = Client::new(
        router.clone(),
        &issuer.token("sender", json!({"roles": ["Mail.Sender"]})),
    );
    let step_up = sender
        .call(
            4,
            "tools/call",
            json!({"name": "server_info", "arguments": {"x": "ARGUMENT-VALUE-42"}}),
        )
        .await;
    assert_eq!(step_up.status, StatusCode::FORBIDDEN);
    let bad = Client::new(
        router,
        &issuer.token("auditee", json!({"aud": "https://elsewhere.test"})),
    );
    bad.call(3, "tools/list", json!({})).await;

    let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let calls: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["event"] == "tool_call")
        .collect();
    assert_eq!(calls.len(), 3, "{text}");
    let first = &calls[0]["fields"];
    assert_eq!(first["tenant"], "contoso");
    assert_eq!(first["sub"], "auditee");
    assert_eq!(first["oid"], "oid-auditee");
    assert_eq!(first["client_id"], "the-client");
    assert_eq!(first["tool"], "whoami");
    assert_eq!(first["outcome"], "error");
    assert_eq!(first["arguments_sha256"].as_str().unwrap().len(), 64);
    assert!(first["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(first["duration_ms"].is_u64());
    assert!(calls[0]["timestamp"].is_string());
    assert_eq!(calls[1]["fields"]["outcome"], "ok");
    assert_eq!(calls[2]["fields"]["sub"], "sender");
    assert_eq!(calls[2]["fields"]["outcome"], "denied");

    let failures: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["event"] == "auth_failure")
        .collect();
    assert_eq!(failures.len(), 1, "{text}");
    assert_eq!(failures[0]["fields"]["reason"], "wrong_audience");

    // A call whose client goes away is audited as cancelled: at once without a session (nothing
    // could cancel it later), and when its session ends within one (there a disconnection is not
    // a cancellation: `notifications/cancelled` may still come).
    let slow = SlowTool::new(std::time::Duration::from_secs(30));
    let started = slow.started.clone();
    let slow_router = support::router(state(issuer.config("", ""), vec![slow]));
    for (leaver, in_session) in [("leaver", false), ("session-leaver", true)] {
        let mut client = Client::new(slow_router.clone(), &issuer.token(leaver, json!({})));
        if in_session {
            client.initialize().await;
        }
        client.call_and_leave(5, &started).await;
        if in_session {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            assert!(calls_of(&capture, leaver).is_empty(), "the call runs on");
            let ended = client.send(client.request("DELETE", Body::empty(), &[])).await;
            assert_eq!(ended.status, StatusCode::NO_CONTENT, "{}", ended.text);
        }
        let mut left = calls_of(&capture, leaver);
        for _ in 0..100 {
            if !left.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            left = calls_of(&capture, leaver);
        }
        assert_eq!(left.len(), 1, "{leaver}: {left:?}");
        assert_eq!(left[0]["fields"]["tool"], "meeting_brief");
        assert_eq!(left[0]["fields"]["outcome"], "cancelled");
    }
    let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();

    for secret in [
        token.as_str(),
        "ARGUMENT-VALUE-42",
        "Signed in as",
        "contoso (version",
    ] {
        assert!(!text.contains(secret), "the audit log contains {secret:?}");
    }
}

/// The audit lines of `sub`'s tool calls captured so far.
fn calls_of(capture: &Capture, sub: &str) -> Vec<Value> {
    String::from_utf8(capture.0.lock().unwrap().clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["fields"]["sub"] == sub && l["fields"]["event"] == "tool_call")
        .collect()
}
