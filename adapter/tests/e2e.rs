//! `mcp-tenant` as a user runs it, on 127.0.0.1: a Builtin-mode tenant server whose sign-in is a
//! real OpenID provider (npm `oidc-provider`), the device flow approved headlessly, then `tools`,
//! `call`, and the bridge under raw JSON-RPC, the PyPI `mcp` SDK and the MCP Inspector CLI, in a
//! 2025-11-25 session and stateless on 2026-07-28 (progress, cancellation, elicitation as
//! server requests and as multi round-trip requests); token renewal mid-session, logout's
//! revocation, and every fault a user meets.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tenant-server/tests/support/elicit.rs"]
mod elicit;
#[path = "../../tenant-server/tests/support/oidc.rs"]
#[allow(dead_code)] // the adapter uses the provider and its sign-in, not its tokens
mod oidc;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use mcp_tenancy_config::{HumanDuration, RateLimit, TenantConfig};
use mcp_tenant_server::{
    app::{AppState, Extras, app},
    dev,
    metrics::Metrics,
    oauth::{
        AuthServer, clients::ClientRegistry, grants::Grants, keys::KeyRing, upstream::OidcUpstream,
        vault::Vault,
    },
    ratelimit::Limiter,
    store::{EmbeddedStore, Store},
    tools::{Tool, ToolContext, ToolDefinition, ToolError, ToolOutput, ToolResult, core},
    trust::IssuerTrust,
};
use oidc::{Provider, TENANT_SERVER_CLIENT, TENANT_SERVER_SECRET};
use rmcp::model::ToolAnnotations;
use serde_json::{Map, Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    process::{Child, Command},
};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-tenant");

fn schema(value: Value) -> Arc<Map<String, Value>> {
    Arc::new(value.as_object().unwrap().clone())
}

/// `meeting_brief` stand-in (a catalog name): reports progress, then waits `seconds` or to be
/// cancelled, counting the calls started and cancelled.
struct Slow {
    definition: ToolDefinition,
    calls: Arc<SlowCalls>,
}

/// What `meeting_brief` has seen so far.
#[derive(Default)]
struct SlowCalls {
    started: AtomicUsize,
    cancelled: AtomicUsize,
}

impl Slow {
    fn new(calls: Arc<SlowCalls>) -> Arc<Self> {
        Arc::new(Self {
            calls,
            definition: ToolDefinition {
                name: "meeting_brief",
                title: "Slow",
                description: "Reports progress, then takes `seconds`.",
                input_schema: schema(
                    json!({"type": "object", "properties": {"seconds": {"type": "number"}}}),
                ),
                output_schema: schema(json!({"type": "object", "properties": {"done": {"type": "boolean"}}})),
                annotations: ToolAnnotations::new().read_only(true),
            },
        })
    }
}

#[async_trait]
impl Tool for Slow {
    fn definition(&self) -> &ToolDefinition {
        &self.definition
    }

    async fn call(&self, ctx: &ToolContext, arguments: Map<String, Value>) -> ToolResult {
        let seconds = arguments.get("seconds").and_then(Value::as_f64).unwrap_or(0.0);
        self.calls.started.fetch_add(1, Ordering::SeqCst);
        ctx.report_progress(1.0, Some(2.0), "halfway").await;
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs_f64(seconds)) => {}
            () = ctx.cancel.cancelled() => {
                self.calls.cancelled.fetch_add(1, Ordering::SeqCst);
                return Err(ToolError::Cancelled);
            }
        }
        ctx.report_progress(2.0, Some(2.0), "done").await;
        Ok(ToolOutput {
            structured: json!({"done": true}),
            text: "done".into(),
            links: Vec::new(),
        })
    }
}

/// A Builtin-mode tenant server on its own runtime (so a test can take it away), signing users
/// in at `provider`; access tokens live `access` long.
struct Tenant {
    url: String,
    base: String,
    /// The calls of `meeting_brief`.
    slow: Arc<SlowCalls>,
    runtime: Option<tokio::runtime::Runtime>,
    _secret: tempfile::NamedTempFile,
}

impl Tenant {
    async fn start(provider: &Provider, access: Duration) -> Self {
        mcp_tenant_server::crypto::install_provider();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let base = format!("http://127.0.0.1:{port}");
        provider
            .set_redirect_uris(&[&format!("{base}/oauth/callback")])
            .await;
        let mut secret = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut secret, TENANT_SERVER_SECRET.as_bytes()).unwrap();
        let mut config: TenantConfig = dev::localize(dev::default_config(port).unwrap(), port).unwrap();
        let upstream = &mut config.identity.upstream;
        upstream.issuer = provider.issuer.parse().unwrap();
        upstream.client_id = TENANT_SERVER_CLIENT.into();
        upstream.client_secret_file = secret.path().into();
        config.limits.auth = RateLimit::new(10_000, 900);
        // Shorter than validation allows, so a session outlives its first token.
        config.identity.token_lifetimes.access = HumanDuration::from_secs(access.as_secs());
        let config = Arc::new(config);
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::in_memory());
        let upstream = Arc::new(OidcUpstream::new(&config.identity, IssuerTrust::default()).unwrap());
        let auth = Arc::new(AuthServer {
            clients: ClientRegistry::new(config.clone(), store.clone()).unwrap(),
            grants: Grants::new(
                store.clone(),
                Arc::new(Vault::from_keys(&[[7u8; 32]]).unwrap()),
                &config.tenant.name,
                config.identity.token_lifetimes.refresh.as_duration(),
            ),
            limiter: Limiter::new(config.limits.auth),
            keys: Arc::new(KeyRing::ephemeral().unwrap()),
            upstream,
            trusted_proxies: Vec::new(),
            config: config.clone(),
        });
        let slow = Arc::<SlowCalls>::default();
        let mut tools = core::tools(&config);
        tools.push(Slow::new(slow.clone()));
        tools.push(elicit::pick_colours());
        let state = AppState::build(
            (*config).clone(),
            auth.verifier(),
            tools,
            store,
            Metrics::new().unwrap(),
            Extras {
                oauth: Some(auth.clone()),
                ..Extras::default()
            },
        )
        .unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.spawn(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            axum::serve(
                listener,
                app(state).into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        Self {
            url: format!("{base}/mcp"),
            base,
            slow,
            runtime: Some(runtime),
            _secret: secret,
        }
    }

    /// Takes the server away: its listener and every connection close at once.
    fn stop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for Tenant {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A user's machine: a home for the sign-in files, and `mcp-tenant` run there.
struct Device {
    home: tempfile::TempDir,
}

impl Device {
    fn new() -> Self {
        Self {
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env("MCP_TENANT_HOME", self.home.path())
            .env("MCP_TENANT_STORE", "file")
            .env_remove("MCP_TENANT_URL")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Runs `mcp-tenant args` to its end (at most a minute): exit code, stdout, stderr.
    async fn run(&self, args: &[&str]) -> (i32, String, String) {
        let output = tokio::time::timeout(Duration::from_secs(60), self.command(args).output())
            .await
            .unwrap_or_else(|_| panic!("mcp-tenant {args:?} did not finish within a minute"))
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    fn sign_in_file(&self) -> PathBuf {
        let dir = self.home.path().join("sign-ins");
        let entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(entries.len(), 1, "{entries:?}");
        entries[0].clone()
    }

    fn sign_in(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.sign_in_file()).unwrap()).unwrap()
    }

    /// `mcp-tenant login URL` by the device flow, answered `decision` (approve or deny) as
    /// `user` at the provider: its exit code and stderr.
    async fn login(&self, tenant: &Tenant, user: &str, decision: &str) -> (i32, String) {
        self.login_with(tenant, &[], user, decision).await
    }

    /// `login` with more arguments (`extra`).
    async fn login_with(&self, tenant: &Tenant, extra: &[&str], user: &str, decision: &str) -> (i32, String) {
        let mut args = vec!["login", &tenant.url, "--no-open"];
        args.extend_from_slice(extra);
        let mut child = self.command(&args).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let mut shown = String::new();
        let verification = loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .expect("login prints where to sign in")
                .unwrap()
                .unwrap_or_else(|| panic!("login ended first: {shown}"));
            shown.push_str(&line);
            shown.push('\n');
            if let Some(url) = line.strip_prefix("(or open ") {
                break url.trim_end_matches(')').to_owned();
            }
        };
        assert!(shown.contains("enter the code"), "{shown}");
        approve(tenant, &verification, user, decision).await;
        let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
            .await
            .expect("login ends after the approval")
            .unwrap();
        while let Ok(Some(line)) = lines.next_line().await {
            shown.push_str(&line);
            shown.push('\n');
        }
        (status.code().unwrap_or(-1), shown)
    }
}

/// A person at a browser: enters the code at the tenant, signs in at the provider, answers the
/// consent page. Cookies are kept by hand; redirects are followed one at a time.
async fn approve(tenant: &Tenant, verification: &str, user: &str, decision: &str) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut cookies = BTreeMap::<String, String>::new();
    let user_code = url::Url::parse(verification)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "user_code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let entered = send(
        &http,
        &mut cookies,
        http.post(format!("{}/device", tenant.base))
            .form(&[("user_code", &user_code)]),
    )
    .await;
    assert_eq!(entered.status(), 303, "{}", entered.text().await.unwrap());
    let to_provider = location(&entered);
    let callback = oidc::sign_in(&http, &to_provider, user).await;
    let consent = send(&http, &mut cookies, http.get(callback)).await;
    let html = consent.text().await.unwrap();
    let marker = "name=consent value=\"";
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no consent form: {html}"))
        + marker.len();
    let id = &html[start..start + html[start..].find('"').unwrap()];
    let answered = send(
        &http,
        &mut cookies,
        http.post(format!("{}/oauth/consent", tenant.base))
            .form(&[("consent", id), ("decision", decision)]),
    )
    .await;
    assert!(answered.status().is_success(), "{}", answered.status());
}

async fn send(
    _http: &reqwest::Client,
    cookies: &mut BTreeMap<String, String>,
    request: reqwest::RequestBuilder,
) -> reqwest::Response {
    let header: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let response = request.header("cookie", header.join("; ")).send().await.unwrap();
    for value in response.headers().get_all("set-cookie") {
        let pair = value.to_str().unwrap().split(';').next().unwrap();
        let (name, value) = pair.split_once('=').unwrap();
        cookies.insert(name.to_owned(), value.to_owned());
    }
    response
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// The Python SDK's venv (scripts/setup makes it).
fn python_sdk() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/work/venv-mcp/bin/python");
    let ok = std::process::Command::new(&python)
        .args(["-c", "import mcp"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "no {} with `mcp`: run scripts/setup", python.display());
    python
}

/// A JSON-RPC conversation with `mcp-tenant bridge` over its stdin and stdout.
struct Bridge {
    child: Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Bridge {
    fn start(device: &Device, tenant: &Tenant) -> Self {
        let mut command = device.command(&["bridge", &tenant.url]);
        command.stdin(Stdio::piped());
        let mut child = command.spawn().unwrap();
        Self {
            stdin: child.stdin.take().unwrap(),
            stdout: BufReader::new(child.stdout.take().unwrap()).lines(),
            child,
        }
    }

    async fn send(&mut self, message: Value) {
        let line = format!("{message}\n");
        self.stdin.write_all(line.as_bytes()).await.unwrap();
    }

    /// The next message from the bridge (within 30 s: the bridge never leaves a client waiting).
    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(30), self.stdout.next_line())
            .await
            .expect("the bridge answers within 30 s")
            .unwrap()
            .expect("the bridge's stdout is open");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("stdout carries only JSON-RPC ({e}): {line}"))
    }

    /// Messages up to the answer to `id`, that answer last.
    async fn until(&mut self, id: i64) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let message = self.next().await;
            let done = message["id"] == json!(id) && message.get("method").is_none();
            seen.push(message);
            if done {
                return seen;
            }
        }
    }

    /// A 2025-11-25 session, whose client can answer elicitations.
    async fn initialize(&mut self) -> Value {
        self.send(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {"elicitation": {}},
            "clientInfo": {"name": "e2e", "version": "1"}}}),
        )
        .await;
        let answer = self.until(1).await.pop().unwrap();
        self.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        answer
    }

    async fn call(&mut self, id: i64, tool: &str, arguments: Value) -> Vec<Value> {
        self.send(
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": tool, "arguments": arguments, "_meta": {"progressToken": id}}}),
        )
        .await;
        self.until(id).await
    }

    /// A stateless 2026-07-28 request: the version and the client's capabilities ride in `_meta`.
    async fn stateless(&mut self, id: i64, method: &str, mut params: Value) -> Vec<Value> {
        self.send_stateless(id, method, &mut params).await;
        self.until(id).await
    }

    async fn send_stateless(&mut self, id: i64, method: &str, params: &mut Value) {
        params["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2026-07-28");
        params["_meta"]["io.modelcontextprotocol/clientCapabilities"] = json!({"elicitation": {}});
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
    }
}

impl Tenant {
    /// Waits (up to 10 s) until `n` calls of `meeting_brief` have started at the tenant.
    async fn started_calls(&self, n: usize) {
        Self::until(&self.slow.started, n, "started").await;
    }

    /// Waits (up to 10 s) until `n` calls of `meeting_brief` have been cancelled at the tenant.
    async fn cancelled_calls(&self, n: usize) {
        Self::until(&self.slow.cancelled, n, "cancelled").await;
    }

    async fn until(count: &AtomicUsize, n: usize, what: &str) {
        for _ in 0..100 {
            if count.load(Ordering::SeqCst) == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{} calls {what} at the tenant, not {n}",
            count.load(Ordering::SeqCst)
        );
    }
}

/// The MCP Inspector CLI (npm, installed by scripts/setup, on Node 22) starting the bridge to
/// `tenant` itself, with a bare environment (-e passes where the sign-in is), running `args`.
async fn inspector(device: &Device, tenant: &Tenant, args: &[&str]) -> std::process::Output {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tenant-server/tests/support/conformance/node_modules/.bin");
    let inspector = bin.join("mcp-inspector");
    assert!(
        inspector.exists(),
        "no {}: run scripts/setup",
        inspector.display()
    );
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let home = format!("MCP_TENANT_HOME={}", device.home.path().display());
    tokio::time::timeout(
        Duration::from_secs(120),
        Command::new(&inspector)
            .args([
                "--cli",
                "-e",
                &home,
                "-e",
                "MCP_TENANT_STORE=file",
                BIN,
                "bridge",
                &tenant.url,
            ])
            .args(args)
            .env("PATH", &path)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the Inspector finishes")
    .unwrap()
}

/// A Builtin tenant whose access tokens live `access`, upstream of the OpenID provider, and a
/// device signed in to it as alice by the device flow; `None` where the provider cannot run.
async fn signed_in(access: Duration) -> Option<(Provider, Tenant, Device)> {
    let provider = Provider::start().await?;
    let tenant = Tenant::start(&provider, access).await;
    let device = Device::new();
    let (code, said) = device.login(&tenant, "alice", "approve").await;
    assert_eq!(code, 0, "{said}");
    assert!(said.contains(&format!("Signed in to {}", tenant.url)), "{said}");
    Some((provider, tenant, device))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_login_tools_call_bridge_refresh_and_logout() {
    let Some((_provider, tenant, device)) = signed_in(Duration::from_secs(8)).await else {
        return;
    };
    let first = device.sign_in();
    assert_eq!(first["resource"], json!(tenant.url));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(device.sign_in_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // From a shell: the last tenant logged in to is the default.
    let (code, out, err) = device.run(&["tools"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("whoami") && out.contains("meeting_brief"), "{out}");
    let (code, out, err) = device.run(&["call", "whoami", "--output", "json"]).await;
    assert_eq!(code, 0, "{err}");
    let result: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(result["structuredContent"]["subject"], "alice", "{out}");
    let (code, _, err) = device.run(&["call", "no_such_tool"]).await;
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("no_such_tool"), "{err}");

    // The bridge: progress passes through, a cancelled call ends, the session goes on.
    let mut bridge = Bridge::start(&device, &tenant);
    let init = bridge.initialize().await;
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25", "{init}");
    let seen = bridge.call(2, "meeting_brief", json!({"seconds": 0.2})).await;
    let progress: Vec<&Value> = seen
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 2, "{seen:?}");
    assert_eq!(progress[0]["params"]["progressToken"], 2);
    assert_eq!(
        seen.last().unwrap()["result"]["structuredContent"]["done"],
        true,
        "{seen:?}"
    );
    bridge
        .send(
            json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "meeting_brief", "arguments": {"seconds": 60}, "_meta": {"progressToken": 3}}}),
        )
        .await;
    let halfway = bridge.next().await;
    assert_eq!(halfway["method"], "notifications/progress", "{halfway}");
    bridge.send(json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3, "reason": "user"}})).await;
    tenant.cancelled_calls(1).await;
    // Without a progress token the tenant answers the call itself (no rmcp stream): the bridge's
    // client drops the call's response before it sends the cancellation, and the tool must
    // still see it (a disconnection is not a cancellation).
    let started = tenant.slow.started.load(Ordering::SeqCst);
    bridge
        .send(
            json!({"jsonrpc": "2.0", "id": 30, "method": "tools/call", "params": {
        "name": "meeting_brief", "arguments": {"seconds": 60}}}),
        )
        .await;
    tenant.started_calls(started + 1).await;
    bridge.send(json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 30, "reason": "user"}})).await;
    tenant.cancelled_calls(2).await;
    // The access token expires mid-session (8 s, renewed 5 s before): the next call renews it.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let seen = bridge.call(4, "whoami", json!({})).await;
    assert_eq!(
        seen.last().unwrap()["result"]["structuredContent"]["subject"],
        "alice",
        "{seen:?}"
    );
    assert!(
        seen.iter().all(|m| m["id"] != 3),
        "a cancelled request is not answered: {seen:?}"
    );
    let renewed = device.sign_in();
    assert_ne!(renewed["access_token"], first["access_token"]);
    assert_ne!(renewed["refresh_token"], first["refresh_token"], "rotated");
    // Elicitation: the tenant's requests reach the client, its answers reach the tenant.
    bridge
        .send(json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "pick_colours"}}))
        .await;
    for (field, value) in [("name", "Grace"), ("colour", "amber")] {
        let asked = bridge.next().await;
        assert_eq!(asked["method"], "elicitation/create", "{asked}");
        assert!(
            asked["params"]["requestedSchema"]["properties"][field].is_object(),
            "{asked}"
        );
        bridge
            .send(json!({"jsonrpc": "2.0", "id": asked["id"], "result": {"action": "accept", "content": {field: value}}}))
            .await;
    }
    let picked = bridge.until(5).await.pop().unwrap();
    assert_eq!(
        picked["result"]["content"][0]["text"], "Grace likes amber",
        "{picked}"
    );
    drop(bridge);

    // 2026-07-28 through the bridge: discovery, then stateless requests; elicitation in rounds
    // whose sealed state the client carries; progress and cancellation as in a session.
    let mut bridge = Bridge::start(&device, &tenant);
    let discovered = bridge
        .stateless(1, "server/discover", json!({}))
        .await
        .pop()
        .unwrap();
    assert!(
        discovered["result"]["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28")),
        "{discovered}"
    );
    let listed = bridge.stateless(2, "tools/list", json!({})).await.pop().unwrap();
    assert!(
        listed["result"]["ttlMs"].is_number(),
        "a 2026-07-28 answer: {listed}"
    );
    let mut round = json!({"name": "pick_colours", "arguments": {}});
    for (id, field, value) in [(3, "name", "Ada"), (4, "colour", "teal")] {
        let answer = bridge
            .stateless(id, "tools/call", round.clone())
            .await
            .pop()
            .unwrap();
        let result = &answer["result"];
        assert_eq!(result["resultType"], "input_required", "{answer}");
        assert_eq!(
            result["inputRequests"][field]["method"], "elicitation/create",
            "{answer}"
        );
        round["inputResponses"] = json!({field: {"action": "accept", "content": {field: value}}});
        round["requestState"] = result["requestState"].clone();
    }
    let done = bridge.stateless(5, "tools/call", round).await.pop().unwrap();
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    assert_eq!(done["result"]["content"][0]["text"], "Ada likes teal", "{done}");
    let seen = bridge
        .stateless(
            6,
            "tools/call",
            json!({"name": "meeting_brief", "arguments": {"seconds": 0.2}, "_meta": {"progressToken": 6}}),
        )
        .await;
    assert_eq!(
        seen.iter()
            .filter(|m| m["method"] == "notifications/progress")
            .count(),
        2,
        "{seen:?}"
    );
    let mut slow =
        json!({"name": "meeting_brief", "arguments": {"seconds": 60}, "_meta": {"progressToken": 7}});
    bridge.send_stateless(7, "tools/call", &mut slow).await;
    assert_eq!(bridge.next().await["method"], "notifications/progress");
    bridge.send(json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7, "reason": "user"}})).await;
    tenant.cancelled_calls(3).await;
    let who = bridge.stateless(8, "tools/call", json!({"name": "whoami"})).await;
    assert_eq!(
        who.last().unwrap()["result"]["structuredContent"]["subject"],
        "alice",
        "{who:?}"
    );
    drop(bridge);

    // The PyPI `mcp` SDK through the bridge, in both eras: tools/list, a call with progress, one
    // that asks twice, one that times out (and is cancelled at the tenant, once per era).
    {
        let python = python_sdk();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/python_bridge.py");
        let output = tokio::time::timeout(
            Duration::from_secs(60),
            Command::new(python)
                .arg(script)
                .args([BIN, &tenant.url])
                .env("MCP_TENANT_HOME", device.home.path())
                .env("MCP_TENANT_STORE", "file")
                .output(),
        )
        .await
        .expect("the Python client finishes")
        .unwrap();
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{said}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("python sdk: ok"),
            "{said}"
        );
        tenant.cancelled_calls(5).await;
    }

    // The MCP Inspector CLI starts the bridge itself: tools/list, then a call.
    for (args, expect) in [
        (&["--method", "tools/list"][..], "\"name\": \"pick_colours\""),
        (
            &[
                "--method",
                "tools/call",
                "--tool-name",
                "meeting_brief",
                "--tool-arg",
                "seconds=0.1",
            ][..],
            "\"done\": true",
        ),
    ] {
        let output = inspector(&device, &tenant, args).await;
        let out = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && out.contains(expect),
            "Inspector {args:?}: {out}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    // Logout revokes at the server: the old refresh token is refused there.
    let before_logout = device.sign_in();
    let (code, _, err) = device.run(&["logout"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("revoked and deleted"), "{err}");
    assert!(
        std::fs::read_dir(device.home.path().join("sign-ins"))
            .unwrap()
            .next()
            .is_none()
    );
    let refused = reqwest::Client::new()
        .post(format!("{}/oauth/token", tenant.base))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", before_logout["refresh_token"].as_str().unwrap()),
            ("client_id", before_logout["client_id"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let (code, _, err) = device.run(&["tools"]).await;
    assert_eq!(code, 2, "no default tenant after logout: {err}");
    let (code, _, err) = device.run(&["tools", "--url", &tenant.url]).await;
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains(&format!("run `mcp-tenant login {}`", tenant.url)),
        "{err}"
    );
}

/// The Inspector cancels a call it gave up on: its SDK's request timeout (60 s, which the CLI
/// cannot shorten) sends `notifications/cancelled`, which the bridge passes to the tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inspector_cancels_a_call_through_the_bridge() {
    let Some((_provider, tenant, device)) = signed_in(Duration::from_secs(300)).await else {
        return;
    };

    let args = [
        "--method",
        "tools/call",
        "--tool-name",
        "meeting_brief",
        "--tool-arg",
        "seconds=100",
    ];
    let output = inspector(&device, &tenant, &args).await;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !output.status.success() && said.contains("Request timed out"),
        "{said}"
    );
    tenant.cancelled_calls(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_revoked_corrupted_not_mcp_and_a_server_that_goes_away() {
    let Some(provider) = Provider::start().await else {
        return;
    };
    let mut tenant = Tenant::start(&provider, Duration::from_secs(300)).await;
    let device = Device::new();

    // Not an MCP server: the tenant's health page, and a port where nothing listens.
    let (code, _, err) = device
        .run(&["login", &format!("{}/healthz", tenant.base), "--no-open"])
        .await;
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("is not an MCP server"), "{err}");
    let (code, _, err) = device
        .run(&["login", "http://127.0.0.1:9/mcp", "--no-open"])
        .await;
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("cannot reach http://127.0.0.1:9/mcp"), "{err}");
    let (code, _, err) = device.run(&["login", "http://tenant.example.com/mcp"]).await;
    assert_eq!(code, 2, "{err}");

    // A denied approval.
    let (code, said) = device.login(&tenant, "alice", "deny").await;
    assert_eq!(code, 3, "{said}");
    assert!(said.contains("the sign-in was denied"), "{said}");

    // A corrupted sign-in file is named, and says what to do.
    let (code, said) = device.login(&tenant, "alice", "approve").await;
    assert_eq!(code, 0, "{said}");
    let file = device.sign_in_file();
    let good = std::fs::read(&file).unwrap();
    std::fs::write(&file, &good[..good.len() / 2]).unwrap();
    let (code, _, err) = device.run(&["tools"]).await;
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains(&file.display().to_string()) && err.contains("logout"),
        "{err}"
    );
    assert!(!err.contains("eyJ"), "no token in the message: {err}");
    std::fs::write(&file, &good).unwrap();

    // A sign-in revoked at the server (the user's account page, an admin): refresh fails, the
    // user is told to log in again.
    let signed_in = device.sign_in();
    let revoked = reqwest::Client::new()
        .post(format!("{}/oauth/revoke", tenant.base))
        .form(&[
            ("token", signed_in["refresh_token"].as_str().unwrap()),
            ("client_id", signed_in["client_id"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success());
    let (code, _, err) = device.run(&["call", "whoami"]).await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("run `mcp-tenant login"), "{err}");

    // The server goes away in the middle of a call: the call is answered with an error; nothing
    // hangs.
    let (code, said) = device.login(&tenant, "alice", "approve").await;
    assert_eq!(code, 0, "{said}");
    let mut bridge = Bridge::start(&device, &tenant);
    bridge.initialize().await;
    bridge
        .send(
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "meeting_brief", "arguments": {"seconds": 60}, "_meta": {"progressToken": 2}}}),
        )
        .await;
    assert_eq!(bridge.next().await["method"], "notifications/progress");
    tenant.stop();
    let answer = bridge.until(2).await.pop().unwrap();
    // rmcp's transport answers the cut-off request itself.
    assert_eq!(answer["error"]["code"], -32603, "{answer}");
    assert!(
        answer["error"]["message"].as_str().unwrap().contains("closed"),
        "{answer}"
    );
    // While the tenant is away (a restart, say) each request is answered with an error, at once;
    // the bridge stays for when it is back, and ends when the local client closes its end.
    bridge
        .send(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}))
        .await;
    let answer = bridge.until(3).await.pop().unwrap();
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not reach"),
        "{answer}"
    );
    drop(bridge.stdin);
    let status = tokio::time::timeout(Duration::from_secs(30), bridge.child.wait())
        .await
        .expect("the bridge ends with its client")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

/// A client ID metadata document, served on 127.0.0.1 (a development tenant fetches documents
/// from loopback; production ones only over https): the tenant reads it, and the sign-in is that
/// client's, with no registration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_a_client_id_metadata_document() {
    let Some(provider) = Provider::start().await else {
        return;
    };
    let tenant = Tenant::start(&provider, Duration::from_secs(300)).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client_id = format!("http://{}/mcp-tenant.json", listener.local_addr().unwrap());
    let document = json!({
        "client_id": client_id,
        "client_name": "mcp-tenant",
        "application_type": "native",
        "redirect_uris": ["http://127.0.0.1/callback"],
        "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    });
    let fetched = Arc::new(AtomicUsize::new(0));
    let counter = fetched.clone();
    let app = axum::Router::new().route(
        "/mcp-tenant.json",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let document = document.clone();
            async move { axum::Json(document) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let device = Device::new();

    let (code, said) = device
        .login_with(&tenant, &["--client-id", &client_id], "alice", "approve")
        .await;
    assert_eq!(code, 0, "{said}");
    assert!(
        fetched.load(Ordering::SeqCst) >= 1,
        "the tenant read the document"
    );
    assert_eq!(device.sign_in()["client_id"], json!(client_id));
    let (code, out, err) = device.run(&["call", "whoami", "--output", "json"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"subject\": \"alice\""), "{out}");

    // A document the tenant cannot use (its client_id is another URL) ends the login, named.
    let elsewhere = client_id.replace("mcp-tenant.json", "elsewhere.json");
    let (code, _, err) = device
        .run(&["login", &tenant.url, "--no-open", "--client-id", &elsewhere])
        .await;
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("elsewhere.json"), "{err}");
}
