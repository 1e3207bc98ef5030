//! Benchmark (not a test): a meeting brief and a triage of 500 unread messages against the
//! Graph double on loopback — wall time and the number of Graph HTTP requests per call.
//! `cargo bench -p mcp-tenant-server --bench m365`; results go into docs/performance-m365.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use mcp_graph_double::{GraphDouble, Seed};
use mcp_tenancy_config::{Environment, GraphConfig};
use mcp_tenant_server::{
    caller::Caller,
    graph::DevTokenProvider,
    tools::{
        Tool, ToolContext,
        m365::{M365Deps, m365_tools},
    },
};
use prometheus::Registry;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn ctx(user: &str) -> ToolContext {
    ToolContext {
        caller: Arc::new(Caller {
            subject: user.into(),
            object_id: Some(user.into()),
            tenant_id: Some("bench".into()),
            name: None,
            client_id: None,
            roles: vec![],
            mfa: false,
            service_account: None,
            tiers: vec![],
            assertion: None,
            grant_id: None,
        }),
        request_id: "bench".into(),
        cancel: CancellationToken::new(),
        progress: None,
    }
}

struct Sample {
    wall: Duration,
    http: usize,
    batched: usize,
}

async fn run(tool: &Arc<dyn Tool>, double: &GraphDouble, user: &str, args: &Value) -> Sample {
    double.clear_requests();
    let Value::Object(args) = args.clone() else {
        unreachable!()
    };
    let started = Instant::now();
    tool.call(&ctx(user), args).await.expect("the tool succeeds");
    let wall = started.elapsed();
    let reqs = double.requests();
    Sample {
        wall,
        http: reqs.iter().filter(|r| !r.in_batch).count(),
        batched: reqs.iter().filter(|r| r.in_batch).count(),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn row(name: &str, samples: &mut [Sample]) {
    samples.sort_by_key(|s| s.wall);
    let n = samples.len();
    let p50 = samples[n / 2].wall;
    let p95 = samples[(n * 95 / 100).min(n - 1)].wall;
    let s = &samples[0];
    println!(
        "| {name} | {n} | {:.1} | {:.1} | {} | {} |",
        ms(p50),
        ms(p95),
        s.http,
        s.batched
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let double = GraphDouble::new(&Seed {
            inbox_messages: 640,
            ..Seed::default()
        });
        let (addr, _) = double.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let graph = GraphConfig {
            base_url: format!("http://{addr}").parse().unwrap(),
            api_version: "v1.0".into(),
        };
        let tokens = Arc::new(DevTokenProvider::new(Environment::Development).unwrap());
        let deps = M365Deps::new(&graph, tokens, &Registry::new()).unwrap();
        let tools = m365_tools(deps);
        let tool = |name: &str| {
            tools
                .iter()
                .find(|t| t.definition().name == name)
                .unwrap()
                .clone()
        };
        let (brief, triage) = (tool("meeting_brief"), tool("inbox_triage"));
        let brief_args = json!({});
        let triage_args = json!({"scan": 500, "count": 10});
        // Warm-up (connections, allocator).
        run(&brief, &double, "warm", &brief_args).await;
        run(&triage, &double, "warm", &triage_args).await;

        println!("| call | runs | p50 ms | p95 ms | Graph HTTP requests | requests inside $batch |");
        println!("|---|---|---|---|---|---|");
        let mut cold = Vec::new();
        let mut warm = Vec::new();
        for i in 0..30 {
            cold.push(run(&brief, &double, &format!("brief-{i}"), &brief_args).await);
            warm.push(run(&brief, &double, &format!("brief-{i}"), &brief_args).await);
        }
        row("meeting_brief, cold cache", &mut cold);
        row("meeting_brief, warm cache", &mut warm);
        let mut cold = Vec::new();
        let mut warm = Vec::new();
        for i in 0..20 {
            cold.push(run(&triage, &double, &format!("triage-{i}"), &triage_args).await);
            warm.push(run(&triage, &double, &format!("triage-{i}"), &triage_args).await);
        }
        row("inbox_triage of 500 unread, cold cache", &mut cold);
        row("inbox_triage of 500 unread, warm cache", &mut warm);
    });
}
