//! Benchmark (not a test): latency and throughput of the store backends — the embedded journal
//! (in a temporary directory: every write is fsync'd, concurrent writers share fsyncs) and Redis
//! (a redis-server started on a free loopback port; skipped when not installed).
//! `cargo bench -p mcp-tenant-server --bench store`. Each operation runs for a fixed time at
//! concurrency 1 and 32; the whole run takes a few seconds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use mcp_tenant_server::store::{EmbeddedStore, RedisOptions, RedisStore, Store};
#[path = "../tests/support/redis.rs"]
#[allow(dead_code)] // a bench uses a part of the tests' fixtures
mod redis_server;
use redis_server::RedisServer;

/// How long each operation runs at each concurrency.
const PHASE: Duration = Duration::from_millis(300);
const TTL: Duration = Duration::from_secs(600);
const VALUE_BYTES: usize = 256;

#[derive(Clone, Copy, Debug)]
enum Op {
    Put,
    Get,
    Take,
    SetAdd,
}

/// Runs `op` from `concurrency` tasks for `PHASE`: worker `w`'s keys are `bench/{c}/{w}/{i}`, so
/// `get` and `take` find what `put` wrote at the same concurrency (`take` stops when it has taken
/// them all).
async fn phase(store: &Arc<dyn Store>, op: Op, concurrency: usize, written: &[usize]) -> Phase {
    let started = Instant::now();
    let deadline = started + PHASE;
    let workers = (0..concurrency)
        .map(|worker| {
            let store = Arc::clone(store);
            let available = written.get(worker).copied().unwrap_or(0);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut i = 0;
                while Instant::now() < deadline {
                    let key = format!("bench/{concurrency}/{worker}/{i}");
                    let begun = Instant::now();
                    match op {
                        Op::Put => store.put(&key, vec![7; VALUE_BYTES], TTL).await.unwrap(),
                        Op::Get => {
                            let key = format!("bench/{concurrency}/{worker}/{}", i % available);
                            assert!(store.get(&key).await.unwrap().is_some());
                        }
                        Op::Take => {
                            if i == available {
                                break;
                            }
                            assert!(store.take(&key).await.unwrap().is_some());
                        }
                        Op::SetAdd => {
                            let set = format!("bench-set/{concurrency}/{worker}");
                            let member = format!("family-{}", i % 1000);
                            store.set_add(&set, &member, TTL).await.unwrap();
                        }
                    }
                    latencies.push(begun.elapsed());
                    i += 1;
                }
                latencies
            })
        })
        .collect::<Vec<_>>();
    let mut all = Vec::new();
    for worker in workers {
        all.push(worker.await.unwrap());
    }
    let wall = started.elapsed();
    let per_worker = all.iter().map(Vec::len).collect();
    let mut latencies = all.concat();
    latencies.sort();
    Phase {
        latencies,
        wall,
        per_worker,
    }
}

struct Phase {
    /// Every operation's latency, sorted.
    latencies: Vec<Duration>,
    wall: Duration,
    /// Operations per worker (after `put`: the keys each worker wrote).
    per_worker: Vec<usize>,
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

async fn bench(name: &str, store: Arc<dyn Store>) {
    for concurrency in [1, 32] {
        let mut written = Vec::new();
        for op in [Op::Put, Op::Get, Op::Take, Op::SetAdd] {
            let Phase {
                latencies,
                wall,
                per_worker,
            } = phase(&store, op, concurrency, &written).await;
            if matches!(op, Op::Put) {
                written = per_worker;
            }
            println!(
                "{name:<9} {:<8} {concurrency:>3} {:>8} {:>10.0} {:>12} {:>12}",
                format!("{op:?}"),
                latencies.len(),
                latencies.len() as f64 / wall.as_secs_f64(),
                micros(percentile(&latencies, 50)),
                micros(percentile(&latencies, 99)),
            );
        }
    }
}

/// A redis-server of its own and a store on it; None when redis-server is not installed.
async fn redis() -> Option<(RedisServer, RedisStore)> {
    let server = RedisServer::start().await?;
    let store = RedisStore::open(&server.url(), "bench", RedisOptions::default()).unwrap();
    store.ping().await.unwrap();
    Some((server, store))
}

#[tokio::main]
async fn main() {
    println!(
        "{:<9} {:<8} {:>3} {:>8} {:>10} {:>12} {:>12}",
        "backend", "op", "c", "ops", "ops/s", "p50", "p99"
    );
    let dir = tempfile::tempdir().unwrap();
    let embedded = EmbeddedStore::open(&dir.path().join("store")).await.unwrap();
    bench("embedded", Arc::new(embedded)).await;
    if let Some((_server, store)) = redis().await {
        bench("redis", Arc::new(store)).await;
    }
}
