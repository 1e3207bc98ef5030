//! The `mcp-tenant-server` binary itself: development mode starts on loopback with its banner,
//! serves authenticated calls, and on SIGTERM exits cleanly with every audit line written (the
//! log writer is asynchronous; nothing queued may be lost).

// A test crate: helpers fail loudly like the tests themselves.

use std::{process::Stdio, time::Duration};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, BufReader},
    process::Command,
};

const CALLS: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_mode_serves_and_flushes_every_audit_line_on_sigterm() {
    mcp_tenant_server::crypto::install_provider();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-tenant-server"))
        .args(["dev", "--port", "0"])
        .env("RUST_LOG", "info,rmcp=warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    // The banner names the endpoint and a demo token.
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut url, mut token) = (None, None);
    let mut token_next = false;
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            if token_next {
                token = Some(line.trim().to_owned());
                token_next = false;
            } else if let Some(u) = line.strip_prefix("MCP endpoint : ") {
                url = Some(u.trim().to_owned());
            } else if line.starts_with("Demo token") {
                token_next = true;
            }
            if url.is_some() && token.is_some() {
                break;
            }
        }
    })
    .await
    .expect("the banner within 30 s");
    let (url, token) = (url.expect("an endpoint"), token.expect("a token"));
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    // Keep draining stderr so the child never blocks on it.
    tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
    // Stdout (the JSON logs) is read concurrently, as a log collector would.
    let mut stdout = child.stdout.take().unwrap();
    let logs = tokio::spawn(async move {
        let mut text = String::new();
        stdout.read_to_string(&mut text).await.unwrap();
        text
    });

    let http = reqwest::Client::new();
    let calls = (0..CALLS).map(|i| {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        async move {
            let reply: Value = http
                .post(&url)
                .bearer_auth(&token)
                .header("accept", "application/json, text/event-stream")
                .json(&json!({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": "server_info"}}))
                .send()
                .await
                .unwrap()
                .error_for_status()
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(reply["result"]["isError"], false, "{reply}");
        }
    });
    futures::future::join_all(calls).await;
    // A request without a token is audited as an authentication failure.
    let refused = http.post(&url).body("{}").send().await.unwrap();
    assert_eq!(refused.status(), 401);

    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits within 20 s of SIGTERM")
        .unwrap();
    assert!(exit.success(), "{exit}");

    let logs = logs.await.unwrap();
    let audit: Vec<Value> = logs
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .filter(|line| line["target"] == "audit")
        .collect();
    let calls = audit
        .iter()
        .filter(|l| l["fields"]["event"] == "tool_call" && l["fields"]["tool"] == "server_info")
        .count();
    assert_eq!(calls, CALLS, "one audit line per call, none lost");
    assert!(
        audit
            .iter()
            .any(|l| l["fields"]["event"] == "auth_failure" && l["fields"]["reason"] == "missing")
    );
    assert!(!logs.contains(&token), "the token never reaches the logs");
    // The last line, logged just before the process exits, is there too.
    let last: Value = serde_json::from_str(logs.lines().last().unwrap()).unwrap();
    assert_eq!(last["fields"]["message"], "stopped", "{last}");
}

#[tokio::test]
async fn an_unusable_ca_bundle_stops_the_server_at_start_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("corporate-ca.crt");
    std::fs::write(&bundle, "not a certificate\n").unwrap();
    let mut config = mcp_tenant_server::dev::default_config(0).unwrap();
    config.identity.ca_bundle_file = Some(bundle.clone());
    let path = dir.path().join("tenant.yaml");
    std::fs::write(&path, config.to_yaml().unwrap()).unwrap();

    let output = tokio::time::timeout(
        Duration::from_secs(30),
        Command::new(env!("CARGO_BIN_EXE_mcp-tenant-server"))
            .arg("--config")
            .arg(&path)
            .args(["dev", "--port", "0"])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("exits within 30 s")
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "CA bundle {}: holds no PEM certificate",
            bundle.display()
        )),
        "{stderr}"
    );
}
