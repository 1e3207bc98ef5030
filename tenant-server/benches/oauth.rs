//! The token endpoint under load, in-process on 127.0.0.1 (embedded in-memory store, development
//! upstream): grants per second and latency of code exchange, refresh (rotation included) and
//! client_credentials at 8 concurrent clients, and authenticated MCP calls (`whoami`), each of
//! which checks that its grant still exists. On demand:
//! `cargo bench -p mcp-tenant-server --bench oauth`; prints numbers, asserts nothing about speed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/mod.rs"]
#[allow(dead_code)] // a bench uses a part of the tests' fixtures
mod support;

use std::time::{Duration, Instant};

use futures::future::join_all;
use mcp_tenancy_config::ServiceAccountConfig;

use crate::support::oauth as server_support;

const CONCURRENCY: usize = 8;
const CODES: usize = 400;

fn report(name: &str, unit: &str, mut latencies: Vec<Duration>, wall: Duration) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "{name:<20} {:>6} {unit}  {:>8.0} {unit}/s  p50 {:>7.2} ms  p99 {:>7.2} ms",
        latencies.len(),
        latencies.len() as f64 / wall.as_secs_f64(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
    );
}

/// Runs `jobs` with [`CONCURRENCY`] workers, timing each.
async fn run<F, Fut>(jobs: usize, job: F) -> (Vec<Duration>, Duration)
where
    F: Fn(usize) -> Fut + Clone,
    Fut: std::future::Future<Output = ()>,
{
    let started = Instant::now();
    let workers = (0..CONCURRENCY).map(|w| {
        let job = job.clone();
        async move {
            let mut times = Vec::new();
            for i in (w..jobs).step_by(CONCURRENCY) {
                let t = Instant::now();
                job(i).await;
                times.push(t.elapsed());
            }
            times
        }
    });
    let times = join_all(workers).await.into_iter().flatten().collect();
    (times, started.elapsed())
}

#[tokio::main]
async fn main() {
    mcp_tenant_server::crypto::install_provider();
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("robot-secret");
    std::fs::write(&secret_file, "robot-secret-value").unwrap();
    let server = server_support::start(|config| {
        config.access.service_accounts.push(ServiceAccountConfig {
            name: "robot".into(),
            client_id: None,
            client_secret_file: Some(secret_file.clone()),
            tools: vec!["server_info".into()],
        });
    })
    .await;
    let client = server.register().await;

    // Codes from the whole browser flow (sign-in, consent), then exchanged under load.
    let mut codes = Vec::with_capacity(CODES);
    for _ in 0..CODES {
        codes.push(server.code_for(&client).await);
    }
    let refresh = std::sync::Mutex::new(Vec::with_capacity(CODES));
    let (times, wall) = run(CODES, |i| {
        let (server, client, code, refresh) = (&server, &client, &codes[i], &refresh);
        async move {
            let body = server
                .token_ok(&[
                    ("grant_type", "authorization_code"),
                    ("client_id", client),
                    ("code", code),
                    ("redirect_uri", server_support::REDIRECT),
                    ("code_verifier", server_support::VERIFIER),
                ])
                .await;
            let token = body["refresh_token"].as_str().unwrap().to_owned();
            refresh.lock().unwrap().push(token);
        }
    })
    .await;
    report("authorization_code", "grants", times, wall);

    // Each grant refreshed twice: every refresh rotates, so a chain is sequential.
    let chains = refresh.into_inner().unwrap();
    let (times, wall) = run(chains.len(), |i| {
        let (server, client, first) = (&server, &client, chains[i].clone());
        async move {
            let mut token = first;
            for _ in 0..2 {
                let body = server
                    .token_ok(&[
                        ("grant_type", "refresh_token"),
                        ("client_id", client),
                        ("refresh_token", &token),
                    ])
                    .await;
                token = body["refresh_token"].as_str().unwrap().to_owned();
            }
        }
    })
    .await;
    // Each job was two refreshes.
    let per_refresh = times.iter().map(|t| *t / 2).flat_map(|t| [t, t]).collect();
    report("refresh_token", "grants", per_refresh, wall);

    let (times, wall) = run(2_000, |_| {
        let server = &server;
        async move {
            server
                .token_ok(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "robot"),
                    ("client_secret", "robot-secret-value"),
                ])
                .await;
        }
    })
    .await;
    report("client_credentials", "grants", times, wall);

    // A user's MCP calls: token from the cache, then the grant check (one store read).
    let access = server.tokens_for(&client).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = server.initialize(&access).await;
    let (times, wall) = run(4_000, |i| {
        let (server, access, session) = (&server, &access, &session);
        async move {
            let response = server
                .mcp(
                    access,
                    Some(session),
                    serde_json::json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                                       "params": {"name": "whoami", "arguments": {}}}),
                )
                .await;
            assert_eq!(response.status(), reqwest::StatusCode::OK);
            response.bytes().await.unwrap();
        }
    })
    .await;
    report("mcp tools/call", "calls", times, wall);
}
