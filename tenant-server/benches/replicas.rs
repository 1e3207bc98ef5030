//! Benchmark (not a test): MCP calls in sessions whose state is in Redis, on one replica alone
//! and on two behind a round-robin proxy (every other request of a session lands on the other
//! replica, which serves it from the shared record), plus one replica behind the proxy to show
//! what the proxy itself costs. Each run: 8 sessions, each sending `tools/call whoami` in turn;
//! throughput, p50/p99 and the Redis commands per call (from `INFO stats`). A real redis-server
//! on 127.0.0.1; skipped when it is not installed. On demand:
//! `cargo bench -p mcp-tenant-server --bench replicas`; prints numbers, asserts nothing about speed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)]

#[path = "../tests/support/mod.rs"]
#[allow(dead_code)] // a bench uses a part of the tests' fixtures
mod support;

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::json;
use support::{
    LocalIssuer,
    redis::RedisServer,
    replicas::{Endpoint, HttpClient, Replica, RoundRobin},
};

const SESSIONS: usize = 8;
const CALLS_PER_SESSION: usize = 500;

/// Redis's count of commands processed so far, and of scripts run (each script's commands count
/// too, but it is one round trip).
async fn redis_commands(url: &str) -> (u64, u64) {
    let mut connection = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let info: String = redis::cmd("INFO")
        .arg("all")
        .query_async(&mut connection)
        .await
        .unwrap();
    let total = info
        .lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // cmdstat_evalsha:calls=12,usec=...
    let scripts = info
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |calls| calls.parse().unwrap());
    (total, scripts)
}

async fn run(name: &str, redis: &str, issuer: &LocalIssuer, to: &(impl Endpoint + Sync)) {
    // Distinct users: the per-user limit is not what is measured.
    let mut clients = Vec::new();
    for s in 0..SESSIONS {
        let mut client = HttpClient::new(&issuer.token(&format!("bench-{name}-{s}"), json!({})));
        client.initialize(to, to).await;
        clients.push(client);
    }
    let before = redis_commands(redis).await;
    let started = Instant::now();
    let sessions = clients.iter().map(|client| async move {
        let mut times = Vec::with_capacity(CALLS_PER_SESSION);
        for i in 0..CALLS_PER_SESSION {
            let t = Instant::now();
            let id = i64::try_from(i).unwrap() + 1;
            let reply = client.call(to, id, "tools/call", json!({"name": "whoami"})).await;
            assert_eq!(reply.result()["isError"], false, "{}", reply.text);
            times.push(t.elapsed());
        }
        times
    });
    let mut times: Vec<Duration> = join_all(sessions).await.into_iter().flatten().collect();
    let wall = started.elapsed();
    let after = redis_commands(redis).await;
    // The first INFO call itself is one command.
    let commands = after.0 - before.0 - 1;
    let scripts = after.1 - before.1;
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "{name:<30} {:>5} calls {:>6.0} calls/s  p50 {:>5.2} ms  p99 {:>5.2} ms  Redis per call: {:>4.1} commands, {:>4.1} round trips",
        times.len(),
        times.len() as f64 / wall.as_secs_f64(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        commands as f64 / times.len() as f64,
        // A script's commands inside it are TIME, GET and SET: 3 of its 4 commands are not trips.
        (commands - 3 * scripts) as f64 / times.len() as f64,
    );
}

#[tokio::main]
async fn main() {
    let Some(redis) = RedisServer::start().await else {
        println!("replicas: SKIPPED, redis-server is not installed");
        return;
    };
    let issuer = LocalIssuer::start().await;
    let config = || {
        let mut config = issuer.config("", "");
        config.limits.per_user = mcp_tenancy_config::RateLimit::new(1_000_000, 60);
        config.limits.per_ip = mcp_tenancy_config::RateLimit::new(1_000_000, 60);
        config.server.max_sessions_per_user = 100;
        config
    };
    let alone = Replica::with_store(None, config(), Vec::new());
    run("one replica, embedded store", &redis.url(), &issuer, &alone).await;
    drop(alone);
    let one = Replica::start(&redis.url(), config(), Vec::new());
    let two = Replica::start(&redis.url(), config(), Vec::new());
    run("one replica, Redis", &redis.url(), &issuer, &one).await;
    let proxied_one = RoundRobin::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        vec![one.addr],
    );
    run("proxy, one replica, Redis", &redis.url(), &issuer, &proxied_one).await;
    let proxied_two = RoundRobin::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        vec![one.addr, two.addr],
    );
    run("proxy, two replicas, Redis", &redis.url(), &issuer, &proxied_two).await;
    println!("proxy hits (two replicas): {:?}", proxied_two.hits());
}
