//! What `mcp-tenant bridge` adds to a tool call (a benchmark, not a test): rmcp's client calls
//! `whoami` on a running tenant server, directly over Streamable HTTP with a token, then over
//! stdio through the bridge, which holds the same token as its sign-in. The client, the server
//! and the call are the same both ways, so the difference is the bridge: one more process, a
//! stdio hop each way, and its own HTTP client. Prints p50 and p99 per call for each, the
//! difference, and the bridge's RSS after the run.
//!
//! `scripts/bench-adapter` starts the server and the sign-in and runs this with `BENCH_URL`,
//! `BENCH_TOKEN`, `BENCH_CALLS` and `MCP_TENANT_HOME`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use rmcp::{
    RoleClient, ServiceExt,
    model::{CallToolRequestParams, ClientConfig},
    service::RunningService,
    transport::{StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig},
};

const WARM_UP: usize = 50;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/bench-adapter"))
}

/// Per-call times of `calls` calls of `whoami`, sorted, after a warm-up.
async fn measure(client: &RunningService<RoleClient, ClientConfig>, calls: usize) -> Vec<Duration> {
    let call = || client.call_tool(CallToolRequestParams::new("whoami"));
    for _ in 0..WARM_UP {
        call().await.expect("whoami");
    }
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let start = Instant::now();
        let result = call().await.expect("whoami");
        times.push(start.elapsed());
        assert_eq!(result.is_error, Some(false), "{result:?}");
    }
    times.sort();
    times
}

/// p50 and p99 of sorted `times`, in milliseconds.
fn percentiles(times: &[Duration]) -> (f64, f64) {
    let at = |q: f64| {
        let index = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1;
        times[index].as_secs_f64() * 1000.0
    };
    (at(0.50), at(0.99))
}

fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .expect("the only crypto provider");
    let url = env("BENCH_URL");
    let token = env("BENCH_TOKEN");
    let calls: usize = env("BENCH_CALLS").parse().expect("BENCH_CALLS is a number");

    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.clone()).auth_header(token),
    );
    let direct = ClientConfig::default()
        .serve(transport)
        .await
        .expect("initialize");
    let direct_times = measure(&direct, calls).await;
    direct.cancel().await.expect("close");

    let mut bridge = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-tenant"))
        .args(["bridge", &url, "--log-level", "error"])
        .env("MCP_TENANT_STORE", "file")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("mcp-tenant bridge");
    let pid = bridge.id().expect("a running bridge");
    let stdio = (bridge.stdout.take().unwrap(), bridge.stdin.take().unwrap());
    let bridged = ClientConfig::default().serve(stdio).await.expect("initialize");
    let bridged_times = measure(&bridged, calls).await;
    let rss = rss_mib(pid);
    bridged.cancel().await.expect("close");
    bridge.wait().await.expect("the bridge ends with its client");

    let (d50, d99) = percentiles(&direct_times);
    let (b50, b99) = percentiles(&bridged_times);
    println!("| rmcp client, {calls} whoami calls | p50 | p99 |");
    println!("|---|---|---|");
    println!("| direct (Streamable HTTP) | {d50:.3} ms | {d99:.3} ms |");
    println!("| through mcp-tenant bridge (stdio) | {b50:.3} ms | {b99:.3} ms |");
    println!(
        "| added by the bridge | {:.3} ms | {:.3} ms |",
        b50 - d50,
        b99 - d99
    );
    match rss {
        Some(mib) => println!("\nbridge RSS after the run: {mib:.1} MiB"),
        None => println!("\nbridge RSS after the run: unknown (no /proc)"),
    }
}
