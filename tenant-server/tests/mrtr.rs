//! Multi round-trip requests (MCP 2026-07-28, SEP-2322) over a socket: a tool that asks the user
//! twice ends each stateless round with an input-required result and a sealed `requestState`, and
//! completes with both answers; the state resumes only the same user's same call, unaltered. The
//! same tool asks over real server-to-client requests in a 2025-11-25 session, and rmcp's own
//! 2026-07-28 client drives the rounds by itself.

// A test crate: helpers fail loudly like the tests themselves.

use rmcp::{
    ClientHandler, ClientLifecycleMode, ClientServiceExt, RoleClient, ServiceExt,
    model::{CallToolRequestParams, ClientCapabilities, ElicitRequestParams, ElicitResult, ProtocolVersion},
    service::RequestContext,
    transport::{StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig},
};
use serde_json::{Value, json};
use support::{
    LocalIssuer,
    elicit::{PICK_COLOURS as TOOL, pick_colours},
    router, state,
};

use crate::support;

struct Server {
    url: String,
    issuer: LocalIssuer,
    http: reqwest::Client,
}

async fn start() -> Server {
    let issuer = LocalIssuer::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public = format!("http://{}", listener.local_addr().unwrap());
    let mut config = support::config(&public, support::ISSUER, &issuer.jwks_url(), "", "");
    for tier in &mut config.access.tiers {
        tier.tools.push(TOOL.into());
    }
    let app = router(state(config, vec![pick_colours()]));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server {
        url: format!("{public}/mcp"),
        issuer,
        http: reqwest::Client::new(),
    }
}

impl Server {
    fn token(&self, user: &str) -> String {
        self.issuer.token(user, json!({"aud": self.url}))
    }

    /// A stateless 2026-07-28 `tools/call` of `user`: (HTTP status, JSON-RPC response).
    async fn call(&self, user: &str, params: Value, capabilities: Value) -> (u16, Value) {
        let mut params = params;
        params["name"] = json!(TOOL);
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": capabilities,
        });
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(self.token(user))
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", "2026-07-28")
            .header("Mcp-Method", "tools/call")
            .header("Mcp-Name", TOOL)
            .json(&json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        // One JSON body, or SSE whose last data line is the response.
        let body = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .next_back()
            .unwrap_or(&text)
            .trim()
            .to_owned();
        (
            status,
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {text}")),
        )
    }
}

fn elicitation() -> Value {
    json!({"elicitation": {}})
}

fn accept(field: &str, value: &str) -> Value {
    json!({"action": "accept", "content": {field: value}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_call_asks_in_rounds_and_resumes_only_its_own_sealed_state() {
    let server = start().await;

    // Round 1: the first question, and a state.
    let (status, first) = server.call("ada", json!({"arguments": {}}), elicitation()).await;
    assert_eq!(status, 200, "{first}");
    let result = &first["result"];
    assert_eq!(result["resultType"], "input_required", "{first}");
    assert_eq!(result["inputRequests"]["name"]["method"], "elicitation/create");
    assert_eq!(result["inputRequests"]["name"]["params"]["message"], "Your name?");
    let state1 = result["requestState"].as_str().unwrap().to_owned();

    // Round 2: the name answered; the second question, and a new state that carries the name.
    let round2 =
        json!({"arguments": {}, "inputResponses": {"name": accept("name", "Ada")}, "requestState": state1});
    let (_, second) = server.call("ada", round2.clone(), elicitation()).await;
    let result = &second["result"];
    assert_eq!(result["resultType"], "input_required", "{second}");
    let asked: Vec<&String> = result["inputRequests"].as_object().unwrap().keys().collect();
    assert_eq!(asked, ["colour"]);
    let state2 = result["requestState"].as_str().unwrap().to_owned();
    assert_ne!(state1, state2);
    assert!(
        !state2.contains("Ada"),
        "the state is sealed, not readable: {state2}"
    );

    // Round 3: only the colour is sent; the name comes from the state.
    let round3 = json!({"arguments": {}, "inputResponses": {"colour": accept("colour", "teal")}, "requestState": state2});
    let (_, done) = server.call("ada", round3.clone(), elicitation()).await;
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    assert_eq!(done["result"]["content"][0]["text"], "Ada likes teal");

    // Another user, other arguments or an altered state do not resume it.
    let refused = |response: &Value| {
        assert_eq!(response["error"]["code"], -32602, "{response}");
        let message = response["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("requestState: "), "{message}");
        assert!(!message.contains("Ada"), "{message}");
    };
    refused(&server.call("bob", round3.clone(), elicitation()).await.1);
    let mut other_arguments = round3.clone();
    other_arguments["arguments"] = json!({"for": "someone else"});
    refused(&server.call("ada", other_arguments, elicitation()).await.1);
    let mut tampered = round3.clone();
    tampered["requestState"] = json!(format!("{}-TAMPERED", round3["requestState"].as_str().unwrap()));
    refused(&server.call("ada", tampered, elicitation()).await.1);
    let mut garbage = round3;
    garbage["requestState"] = json!("x".repeat(3000));
    refused(&server.call("ada", garbage, elicitation()).await.1);

    // An answer of the wrong shape is asked again; an undeclared capability is -32021, HTTP 400.
    let malformed = json!({"arguments": {}, "inputResponses": {"name": 12345}});
    let (_, again) = server.call("ada", malformed, elicitation()).await;
    assert_eq!(again["result"]["resultType"], "input_required", "{again}");
    assert!(again["result"]["inputRequests"]["name"].is_object());
    let (status, missing) = server.call("ada", json!({"arguments": {}}), json!({})).await;
    assert_eq!(status, 400, "{missing}");
    assert_eq!(missing["error"]["code"], -32021);
    assert!(missing["error"]["data"]["requiredCapabilities"]["elicitation"].is_object());
}

/// Answers every elicitation with a value per field name.
#[derive(Clone)]
struct User;

impl ClientHandler for User {
    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, rmcp::ErrorData> {
        let message = match &request {
            ElicitRequestParams::FormElicitationParams { message, .. } => message.clone(),
            _ => String::new(),
        };
        let content = if message.contains("name") {
            json!({"name": "Grace"})
        } else {
            json!({"colour": "amber"})
        };
        Ok(serde_json::from_value(json!({"action": "accept", "content": content})).unwrap())
    }

    fn get_info(&self) -> rmcp::model::ClientConfig {
        let mut info = rmcp::model::ClientConfig::default();
        info.capabilities = ClientCapabilities::builder().enable_elicitation().build();
        info
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_asks_with_requests_and_rmcps_stateless_client_drives_the_rounds() {
    let server = start().await;
    let transport = || {
        StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(server.url.clone())
                .auth_header(server.token("grace")),
        )
    };
    let session = User.serve(transport()).await.unwrap();
    assert_eq!(
        session.peer_info().unwrap().protocol_version,
        ProtocolVersion::V_2025_11_25
    );
    let result = session.call_tool(CallToolRequestParams::new(TOOL)).await.unwrap();
    assert_eq!(result.content[0].as_text().unwrap().text, "Grace likes amber");
    session.cancel().await.unwrap();

    let stateless = User
        .serve_with_lifecycle(
            transport(),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .unwrap();
    let result = stateless
        .call_tool(CallToolRequestParams::new(TOOL))
        .await
        .unwrap();
    assert_eq!(result.content[0].as_text().unwrap().text, "Grace likes amber");
    stateless.cancel().await.unwrap();
}
