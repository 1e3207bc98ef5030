//! Scale benchmark: the real `mcp-tenancy-operator run` binary against an in-memory API server
//! (the mcp-apiserver-double crate) holding N tenants. Reports the time to converge, API requests per
//! tenant, writes during a no-op resync (target: zero) and the operator's memory.
//!
//! `cargo bench -p mcp-tenancy-operator --bench operator_scale [-- 100 1000]`

use std::{
    error::Error,
    io::Write,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use mcp_apiserver_double::{Counts, FakeApiServer};
use serde_json::{Value, json};

const TENANTS: &str = "mcptenancy.dev/v1alpha1/mcptenants";
const QUIET: Duration = Duration::from_secs(3);
const TIMEOUT: Duration = Duration::from_secs(600);

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn main() -> Result<()> {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![100, 1000] } else { sizes };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    println!(
        "| tenants | converge (s) | requests/tenant (reads, lists+watches, writes, events) | no-op resync: reads/tenant, writes | RSS (MiB) | peak RSS (MiB) |"
    );
    println!("|---|---|---|---|---|---|");
    for n in sizes {
        let report = runtime.block_on(measure(n))?;
        println!("{report}");
    }
    Ok(())
}

fn tenant(i: usize) -> Value {
    let name = format!("tenant-{i:04}");
    json!({
        "apiVersion": "mcptenancy.dev/v1alpha1", "kind": "McpTenant",
        "metadata": {"name": name},
        "spec": {
            "identity": {"upstream": {
                "issuer": "https://login.microsoftonline.com/8f3c2a1e-4b5d-4c6e-9f70-1a2b3c4d5e6f/v2.0",
                "clientId": "3b9d7e21-5c4a-4f8b-a1d2-6e7f8091a2b3",
                "clientSecretRef": {"name": "entra-app", "key": "client-secret"}}},
            "network": {"host": format!("{name}.mcp.example.com"),
                "gateway": {"parentRefs": [{"name": "public", "namespace": "gateway-system", "sectionName": "https"}]}}
        }
    })
}

fn kubeconfig(dir: &Path, port: u16) -> Result<std::path::PathBuf> {
    let path = dir.join("kubeconfig");
    let mut file = std::fs::File::create(&path)?;
    write!(
        file,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{server: 'http://127.0.0.1:{port}'}}\n\
         users:\n- name: fake\n  user: {{}}\ncontexts:\n- name: fake\n  context: {{cluster: fake, user: fake}}\n\
         current-context: fake\n"
    )?;
    Ok(path)
}

/// VmRSS and VmHWM of a process, in MiB.
fn memory(pid: u32) -> Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> f64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    Ok((field("VmRSS:"), field("VmHWM:")))
}

/// Waits until `done` holds and no request came for [`QUIET`]; returns when the last write was.
async fn settle(server: &FakeApiServer, started: Instant, done: impl Fn() -> bool) -> Result<Instant> {
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if started.elapsed() > TIMEOUT {
            return Err("the operator did not converge in time".into());
        }
        let quiet = server.last_request().is_none_or(|t| t.elapsed() >= QUIET);
        if done() && quiet {
            return Ok(server.last_write().unwrap_or(started));
        }
    }
}

fn per_tenant(v: u64, n: usize) -> f64 {
    v as f64 / n as f64
}

struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        // SIGTERM for a graceful stop, then make sure it is gone.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        std::thread::sleep(Duration::from_millis(500));
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn measure(n: usize) -> Result<String> {
    let server = FakeApiServer::default();
    for i in 0..n {
        let t = tenant(i);
        let name = t["metadata"]["name"].as_str().unwrap_or_default().to_string();
        server.insert(TENANTS, t);
        server.insert(
            "/v1/secrets",
            json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "entra-app", "namespace": format!("mcp-{name}")},
                "data": {"client-secret": "c2VjcmV0"}}),
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let app = server.router();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir()?;
    let config = kubeconfig(dir.path(), port)?;

    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_mcp-tenancy-operator"))
        .args([
            "run",
            "--metrics-addr",
            "127.0.0.1:0",
            "--health-addr",
            "127.0.0.1:0",
            "--log-format",
            "text",
        ])
        .env("KUBECONFIG", &config)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .spawn()?;
    let operator = Operator(child);
    let pid = operator.0.id();

    let all_reconciled = || {
        let tenants = server.objects(TENANTS);
        tenants.len() == n
            && tenants.iter().all(|t| {
                t["status"]["keys"]["activeKid"].is_string()
                    && t["status"]["observedGeneration"] == t["metadata"]["generation"]
            })
    };
    let last = settle(&server, started, all_reconciled).await?;
    let converge = last.duration_since(started);
    let first: Counts = server.counts();
    let (rss_converged, _) = memory(pid)?;

    // No-op resync: every tenant gets a MODIFIED event with nothing changed.
    server.reset_counts();
    let resync_started = Instant::now();
    server.touch_all(TENANTS);
    let key_reads_done = || server.key_secret_reads() >= n as u64;
    settle(&server, resync_started, key_reads_done).await?;
    let resync = server.counts();
    let (rss, peak) = memory(pid)?;
    drop(operator);

    Ok(format!(
        "| {n} | {:.1} | {:.1} ({:.1}, {:.2}, {:.1}, {:.1}) | {:.1}, {} | {:.1} (after converging: {:.1}) | {:.1} |",
        converge.as_secs_f64(),
        per_tenant(
            first.reads + first.lists + first.watches + first.writes + first.events,
            n
        ),
        per_tenant(first.reads, n),
        per_tenant(first.lists + first.watches, n),
        per_tenant(first.writes, n),
        per_tenant(first.events, n),
        per_tenant(resync.reads, n),
        resync.writes,
        rss,
        rss_converged,
        peak,
    ))
}
