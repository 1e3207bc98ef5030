//! Shared test fixtures: configs, a local ES256 issuer with its JWKS on a mock server, an MCP
//! client over `app(state)` (no socket), a slow tool, and the real OpenID provider.
// Fixtures are test code: failing loudly (unwrap/expect/panic) is what they should do.

pub mod elicit;
pub mod m365;
pub mod oauth;
pub mod oidc;
pub mod redis;
pub mod replicas;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use axum::{Router, body::Body};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use mcp_tenancy_config::TenantConfig;
use mcp_tenant_server::{
    app::{AppState, app},
    auth::jwks::{JwksOptions, JwksVerifier, KeySource},
    dev::DevIssuer,
    store::EmbeddedStore,
    tools::{Tool, ToolContext, ToolDefinition, ToolError, ToolOutput, ToolResult, core},
};
use rmcp::model::ToolAnnotations;
use serde_json::{Map, Value, json};
use tower::ServiceExt;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

pub const PUBLIC: &str = "http://mcp.test";
pub const HOST: &str = "mcp.test";
pub const ISSUER: &str = "https://issuer.test";
pub const TENANT: &str = "11111111-1111-1111-1111-111111111111";

/// A config document; `identity_extra` lines go inside `identity:` (indent 2), `rest` is appended
/// at top level.
pub fn config(public: &str, issuer: &str, jwks: &str, identity_extra: &str, rest: &str) -> TenantConfig {
    let host = url::Url::parse(public).unwrap().host_str().unwrap().to_owned();
    let yaml = format!(
        "apiVersion: mcptenancy.dev/config/v1
tenant: {{name: contoso, displayName: Contoso}}
environment: development
server:
  publicUrl: {public}
  allowedHosts: [{host}]
  allowedOrigins: [https://app.example.com]
  maxRequestBodyBytes: 4096
  maxSessionsPerUser: 2
identity:
  mode: External
  issuer: {issuer}
  jwksUri: {jwks}
  audiences: [{public}/mcp]
{identity_extra}  upstream:
    issuer: {issuer}
    clientId: c
    clientSecretFile: /dev/null
    scopes: [User.Read]
storage:
  embedded: {{path: /tmp/unused}}
graph: {{baseUrl: 'http://127.0.0.1:1', apiVersion: v1.0}}
keys: {{signingKeysFile: /dev/null, encryptionKeyFile: /dev/null}}
{rest}"
    );
    TenantConfig::from_yaml(&yaml).unwrap()
}

pub const TIERS: &str = "access:
  tiers:
    - {name: everyone, roles: ['*'], tools: [whoami]}
    - {name: readers, roles: [Mail.Reader], tools: [server_info]}
    - {name: senders, roles: [Mail.Sender], tools: [meeting_brief, server_info], requireMfa: true}
  serviceAccounts:
    - {name: robot, clientId: robot, tools: [server_info]}
";

pub fn verifier(config: &TenantConfig) -> Arc<JwksVerifier> {
    let options = JwksOptions {
        min_refresh_interval: Duration::from_millis(100),
        ..JwksOptions::default()
    };
    let source = KeySource::Jwks(config.identity.jwks_uri.clone().unwrap());
    Arc::new(
        JwksVerifier::new(
            source,
            &config.identity.issuer,
            config.accepted_audiences(),
            options,
        )
        .unwrap(),
    )
}

pub fn state(config: TenantConfig, extra_tools: Vec<Arc<dyn Tool>>) -> AppState {
    mcp_tenant_server::crypto::install_provider();
    let verifier = verifier(&config);
    let mut tools = core::tools(&config);
    tools.extend(extra_tools);
    AppState::new(config, verifier, tools, Arc::new(EmbeddedStore::in_memory())).unwrap()
}

/// A local issuer whose JWKS a mock server publishes.
pub struct LocalIssuer {
    pub issuer: DevIssuer,
    pub jwks: MockServer,
}

impl LocalIssuer {
    pub async fn start() -> Self {
        let issuer = DevIssuer::generate(ISSUER).unwrap();
        let jwks = MockServer::start().await;
        Mock::given(matchers::method("GET"))
            .and(matchers::path("/jwks"))
            .respond_with(ResponseTemplate::new(200).set_body_json(issuer.jwks().clone()))
            .mount(&jwks)
            .await;
        Self { issuer, jwks }
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.jwks.uri())
    }

    pub fn config(&self, identity_extra: &str, rest: &str) -> TenantConfig {
        config(PUBLIC, ISSUER, &self.jwks_url(), identity_extra, rest)
    }

    /// Standard valid claims for a user; override fields with `extra`.
    pub fn claims(&self, sub: &str, extra: Value) -> Value {
        let now = jsonwebtoken::get_current_timestamp();
        let mut claims = json!({
            "iss": ISSUER, "aud": format!("{PUBLIC}/mcp"), "sub": sub, "oid": format!("oid-{sub}"),
            "tid": TENANT, "iat": now, "nbf": now, "exp": now + 300, "azp": "client-app",
        });
        if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                if v.is_null() {
                    c.remove(k);
                } else {
                    c.insert(k.clone(), v.clone());
                }
            }
        }
        claims
    }

    pub fn token(&self, sub: &str, extra: Value) -> String {
        self.issuer
            .sign(&self.issuer.header(), &self.claims(sub, extra))
            .unwrap()
    }
}

/// What came back: status, headers, and the JSON-RPC messages (from a JSON or SSE body).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub text: String,
    pub messages: Vec<Value>,
}

impl Reply {
    /// The JSON-RPC response (the message with `result` or `error`).
    pub fn response(&self) -> &Value {
        self.messages
            .iter()
            .find(|m| m.get("result").is_some() || m.get("error").is_some())
            .unwrap_or_else(|| panic!("no JSON-RPC response in {:?}: {}", self.status, self.text))
    }

    pub fn result(&self) -> &Value {
        let r = self.response();
        r.get("result")
            .unwrap_or_else(|| panic!("expected a result, got {r}"))
    }

    pub fn error_code(&self) -> i64 {
        self.response()["error"]["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("expected an error: {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }
}

pub async fn read(response: Response<Body>) -> Reply {
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let messages = parse_messages(&text);
    Reply {
        status: parts.status,
        headers: parts.headers,
        text,
        messages,
    }
}

pub fn parse_messages(text: &str) -> Vec<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return vec![v];
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .collect()
}

/// An MCP client over the router, without a socket.
#[derive(Clone)]
pub struct Client {
    pub router: Router,
    pub token: Option<String>,
    pub session: Option<String>,
    pub host: String,
}

impl Client {
    pub fn new(router: Router, token: &str) -> Self {
        Self {
            router,
            token: Some(token.to_owned()),
            session: None,
            host: HOST.into(),
        }
    }

    pub fn request(&self, method: &str, body: Body, extra: &[(&str, &str)]) -> Request<Body> {
        let mut b = Request::builder()
            .method(method)
            .uri("/mcp")
            .header("host", &self.host)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(t) = &self.token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        if let Some(s) = &self.session {
            b = b.header("mcp-session-id", s);
            b = b.header("mcp-protocol-version", "2025-11-25");
        }
        for (k, v) in extra {
            b = b.header(*k, *v);
        }
        b.body(body).unwrap()
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = tokio::time::timeout(Duration::from_secs(10), self.router.clone().oneshot(request))
            .await
            .expect("the server answered within 10 s")
            .unwrap();
        read(response).await
    }

    pub async fn post(&self, message: Value, extra: &[(&str, &str)]) -> Reply {
        self.send(self.request("POST", Body::from(message.to_string()), extra))
            .await
    }

    pub async fn call(&self, id: i64, method: &str, params: Value) -> Reply {
        self.post(
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
            &[],
        )
        .await
    }

    /// initialize + notifications/initialized; keeps the session id.
    pub async fn initialize(&mut self) -> Reply {
        let reply = self
            .call(
                0,
                "initialize",
                json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        self.session = Some(reply.header("mcp-session-id").expect("a session id").to_owned());
        let ack = self
            .post(
                json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
                &[],
            )
            .await;
        assert_eq!(ack.status, StatusCode::ACCEPTED, "{}", ack.text);
        reply
    }

    /// Sends `notifications/cancelled` for request `id`, which the server accepts.
    pub async fn cancel(&self, id: i64) {
        let ack = self
            .post(
                json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": id}}),
                &[],
            )
            .await;
        assert_eq!(ack.status, StatusCode::ACCEPTED, "{}", ack.text);
    }

    /// Calls `meeting_brief` and goes away once it has begun (`started` is its
    /// [`SlowTool::started`]): the response is dropped unread.
    pub async fn call_and_leave(&self, id: i64, started: &tokio::sync::watch::Sender<usize>) {
        let before = *started.borrow();
        let call = {
            let client = self.clone();
            tokio::spawn(async move {
                client
                    .call(id, "tools/call", json!({"name": "meeting_brief"}))
                    .await
            })
        };
        started.subscribe().wait_for(|&n| n > before).await.unwrap();
        call.abort();
        assert!(
            call.await.unwrap_err().is_cancelled(),
            "the call was still running"
        );
    }

    pub async fn tool_names(&self) -> Vec<String> {
        let reply = self.call(1, "tools/list", json!({})).await;
        reply.result()["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }
}

pub fn router(state: AppState) -> Router {
    app(state)
}

/// `meeting_brief` stand-in: reports progress, then waits for cancellation or `hold` to pass.
pub struct SlowTool {
    definition: ToolDefinition,
    hold: Duration,
    /// The calls started so far.
    pub started: Arc<tokio::sync::watch::Sender<usize>>,
    pub cancelled: Arc<tokio::sync::Notify>,
}

impl SlowTool {
    pub fn new(hold: Duration) -> Arc<Self> {
        let schema = |v: Value| Arc::new(v.as_object().unwrap().clone());
        Arc::new(Self {
            definition: ToolDefinition {
                name: "meeting_brief",
                title: "Slow test tool",
                description: "Test stand-in that takes a while.",
                input_schema: schema(json!({"type": "object"})),
                output_schema: schema(json!({"type": "object", "properties": {"done": {"type": "boolean"}}})),
                annotations: ToolAnnotations::new().read_only(true),
            },
            hold,
            started: Arc::new(tokio::sync::watch::Sender::new(0)),
            cancelled: Arc::new(tokio::sync::Notify::new()),
        })
    }
}

#[async_trait]
impl Tool for SlowTool {
    fn definition(&self) -> &ToolDefinition {
        &self.definition
    }

    async fn call(&self, ctx: &ToolContext, _arguments: Map<String, Value>) -> ToolResult {
        self.started.send_modify(|started| *started += 1);
        ctx.report_progress(1.0, Some(2.0), "halfway").await;
        tokio::select! {
            () = tokio::time::sleep(self.hold) => {}
            () = ctx.cancel.cancelled() => {
                self.cancelled.notify_one();
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
