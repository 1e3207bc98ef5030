//! Benchmark (not a test): a meeting brief, a triage of 500 unread messages, "catch me up",
//! reading a 5 MB Word file and reading a chat against the Graph double on loopback — wall time,
//! the number of Graph HTTP requests per call, and the peak memory of the process.
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
    let p99 = samples[(n * 99 / 100).min(n - 1)].wall;
    let s = &samples[0];
    println!(
        "| {name} | {n} | {:.1} | {:.1} | {} | {} |",
        ms(p50),
        ms(p99),
        s.http,
        s.batched
    );
}

/// The process's peak resident memory so far (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// A Word document of about `bytes` compressed: paragraphs of varied words and numbers (a
/// xorshift generator, so the text does not compress to nothing) and a table.
fn big_docx(bytes: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "budget", "forecast", "quarter", "revenue", "team", "project", "meeting", "review", "plan", "cost",
        "growth", "customer", "report", "risk", "target", "margin", "hiring", "travel", "license", "cloud",
    ];
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut body = String::new();
    let mut paragraphs = 0;
    loop {
        let words: Vec<String> = (0..40)
            .map(|_| {
                let n = next();
                format!(
                    "{} {}",
                    WORDS[(n % WORDS.len() as u64) as usize],
                    (n >> 20) % 100_000
                )
            })
            .collect();
        body.push_str(&mcp_graph_double::documents::p(&[&words.join(" ")]));
        paragraphs += 1;
        // This text deflates to about 28 % of its size.
        if paragraphs % 500 == 0 && body.len() / 100 * 28 > bytes {
            break;
        }
    }
    body.push_str(&mcp_graph_double::documents::table(&[
        &["Region", "Owner"],
        &["North", "Megan"],
    ]));
    mcp_graph_double::documents::mk_docx(&body)
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

        println!("| call | runs | p50 ms | p99 ms | Graph HTTP requests | requests inside $batch |");
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

        let catch_up = tool("catch_me_up");
        let since = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(6)).to_string();
        let catch_up_args = json!({ "since": since });
        run(&catch_up, &double, "warm", &catch_up_args).await;
        let mut cold = Vec::new();
        let mut warm = Vec::new();
        for i in 0..30 {
            cold.push(run(&catch_up, &double, &format!("catch-up-{i}"), &catch_up_args).await);
            warm.push(run(&catch_up, &double, &format!("catch-up-{i}"), &catch_up_args).await);
        }
        row("catch_me_up (4 sources), cold cache", &mut cold);
        row("catch_me_up (4 sources), warm cache", &mut warm);

        // A chat of 50 messages, read whole.
        double.with_data(|d| {
            let template = d.chat_messages[0].1.clone();
            for i in 0..47 {
                let mut m = template.clone();
                m["id"] = json!(format!("bench-{i}"));
                m["body"]["content"] = json!(format!("<p>Message {i}: the <b>numbers</b> for region {i} are in.</p>"));
                d.chat_messages.push(("19:megan-adele@unq.gbl.spaces".into(), m));
            }
        });
        let chat = tool("teams_read_chat");
        let chat_args = json!({"chat_id": "19:megan-adele@unq.gbl.spaces", "count": 50});
        run(&chat, &double, "warm", &chat_args).await;
        let mut samples = Vec::new();
        for i in 0..50 {
            samples.push(run(&chat, &double, &format!("chat-{i}"), &chat_args).await);
        }
        row("teams_read_chat, 50 messages", &mut samples);

        // A 5 MB Word document, downloaded and read to its first 100,000 characters.
        let docx = big_docx(5 * 1024 * 1024);
        let size = docx.len();
        double.with_data(|d| {
            let mut meta = d.drive[0].0.clone();
            meta["id"] = json!("file-5mb");
            meta["name"] = json!("Annual report.docx");
            meta["size"] = json!(size);
            meta["file"] = json!({"mimeType": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"});
            d.drive.push((meta, docx));
        });
        let read = tool("files_read_text");
        let read_args = json!({"id": "file-5mb"});
        let before = peak_rss_mib();
        run(&read, &double, "warm", &read_args).await;
        let mut samples = Vec::new();
        for i in 0..20 {
            samples.push(run(&read, &double, &format!("read-{i}"), &read_args).await);
        }
        row(&format!("files_read_text, {:.1} MB Word document", size as f64 / 1e6), &mut samples);
        println!();
        println!(
            "peak RSS (the double holds the file too): {before:.0} MiB before the Word reads, {:.0} MiB after",
            peak_rss_mib()
        );
    });
}
