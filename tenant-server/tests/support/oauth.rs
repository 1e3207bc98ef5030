//! Builtin mode in-process: the tenant server as its own authorization server on a loopback
//! socket, signing users in at the development upstream, with the Microsoft 365 tools reaching
//! the Graph double through the grants' stored (development) Graph tokens; and a headless
//! browser that follows the sign-in and consent pages with the flow cookie.

use std::{net::SocketAddr, sync::Arc};

use mcp_graph_double::{GraphDouble, Seed};
use mcp_tenancy_config::{RateLimit, TenantConfig};
use mcp_tenant_server::{
    app::{AppState, Extras, app},
    dev::{self, DevUpstream},
    graph::DEV_GRAPH_TOKEN,
    metrics::Metrics,
    oauth::{
        AuthServer, clients::ClientRegistry, grants::Grants, graph_tokens::StoredGrantProvider,
        keys::KeyRing, pkce_s256, vault::Vault,
    },
    ratelimit::Limiter,
    store::{EmbeddedStore, Store},
    tools::{
        admin, core,
        m365::{M365Deps, m365_tools},
    },
};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use url::Url;

/// The PKCE verifier the tests use (43..128 characters).
pub const VERIFIER: &str = "test-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";
/// The loopback redirect URI registered by [`TestServer::register`].
pub const REDIRECT: &str = "http://127.0.0.1:7777/callback";
pub const CLIENT_NAME: &str = "Test Native Client";

pub struct TestServer {
    pub base: String,
    pub auth: Arc<AuthServer>,
    pub graph: GraphDouble,
    pub http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A client without redirects or cookies: every hop is the test's to look at.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The development config on a free port with a generous `limits.auth` (each test signs in a
/// few times), changed by `tweak`.
pub async fn start(tweak: impl FnOnce(&mut TenantConfig)) -> TestServer {
    mcp_tenant_server::crypto::install_provider();
    let graph = GraphDouble::new(&Seed::default());
    let (graph_addr, _) = graph.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    graph.set_tokens(&[DEV_GRAPH_TOKEN]);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut config = dev::localize(dev::default_config(port).unwrap(), port).unwrap();
    config.graph.base_url = format!("http://{graph_addr}").parse().unwrap();
    config.limits.auth = RateLimit::new(10_000, 900);
    tweak(&mut config);
    let config = Arc::new(config);
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::in_memory());
    let upstream = Arc::new(DevUpstream::new(config.public_base()));
    let keys = Arc::new(KeyRing::ephemeral().unwrap());
    let auth = Arc::new(AuthServer {
        clients: ClientRegistry::new(config.clone(), store.clone()).unwrap(),
        grants: Grants::new(
            store.clone(),
            Arc::new(Vault::from_keys(&[[7u8; 32]]).unwrap()),
            &config.tenant.name,
            config.identity.token_lifetimes.refresh.as_duration(),
        ),
        limiter: Limiter::new(config.limits.auth),
        keys,
        upstream: upstream.clone(),
        trusted_proxies: Vec::new(),
        config: config.clone(),
    });
    let verifier = auth.verifier();
    let metrics = Metrics::new().unwrap();
    let mut tools = core::tools(&config);
    tools.extend(admin::tools(&auth));
    tools.extend(m365_tools(
        M365Deps::new(
            &config.graph,
            Arc::new(StoredGrantProvider::new(auth.clone())),
            metrics.registry(),
        )
        .unwrap(),
    ));
    let state = AppState::build(
        (*config).clone(),
        verifier,
        tools,
        store,
        metrics,
        Extras {
            oauth: Some(auth.clone()),
            dev_sign_in: Some(upstream),
            ..Extras::default()
        },
    )
    .unwrap();
    let router = app(state);
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    TestServer {
        base: format!("http://127.0.0.1:{port}"),
        auth,
        graph,
        http: http_client(),
        task,
    }
}

/// An OAuth error response: status, `error`, `error_description`.
pub async fn oauth_error(response: reqwest::Response) -> (StatusCode, String, String) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
        body["error_description"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Asserts an OAuth error with `code` whose description names `names`.
pub async fn assert_error(response: reqwest::Response, status: StatusCode, code: &str, names: &str) {
    let (got_status, got_code, description) = oauth_error(response).await;
    assert_eq!((got_status, got_code.as_str()), (status, code), "{description}");
    assert!(
        description.contains(names),
        "the description of {code} should name {names:?}: {description}"
    );
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(header::LOCATION)
        .unwrap_or_else(|| panic!("no Location in {}", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The query parameters of a URL.
pub fn query(url: &str) -> Vec<(String, String)> {
    Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    query(url).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn mcp_url(&self) -> String {
        self.url("/mcp")
    }

    /// Dynamic client registration of `metadata`; the registration response.
    pub async fn register_raw(&self, metadata: &Value) -> reqwest::Response {
        self.http
            .post(self.url("/oauth/register"))
            .json(metadata)
            .send()
            .await
            .unwrap()
    }

    /// A public native client with [`REDIRECT`] for code + refresh; its client_id.
    pub async fn register(&self) -> String {
        self.register_with(json!({
            "client_name": CLIENT_NAME,
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        }))
        .await
    }

    pub async fn register_with(&self, metadata: Value) -> String {
        let response = self.register_raw(&metadata).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["client_id"].as_str().unwrap().to_owned()
    }

    /// The authorization URL for `client_id` with S256 PKCE of [`VERIFIER`]; `extra` pairs are
    /// added, and a pair with an empty value removes that parameter.
    pub fn authorize_url(&self, client_id: &str, extra: &[(&str, &str)]) -> String {
        let challenge = pkce_s256(VERIFIER);
        let mut pairs: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "st-123"),
        ];
        let mcp = self.mcp_url();
        pairs.push(("resource", &mcp));
        for (k, v) in extra {
            pairs.retain(|(name, _)| name != k);
            if !v.is_empty() {
                pairs.push((k, v));
            }
        }
        let mut url = Url::parse(&self.url("/oauth/authorize")).unwrap();
        url.query_pairs_mut().extend_pairs(pairs);
        url.to_string()
    }

    /// POST /oauth/token with `form`.
    pub async fn token(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url("/oauth/token"))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// A successful token response's JSON (asserting `Cache-Control: no-store`).
    pub async fn token_ok(&self, form: &[(&str, &str)]) -> Value {
        let response = self.token(form).await;
        let status = response.status();
        let cache = response
            .headers()
            .get(header::CACHE_CONTROL)
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(cache.as_deref(), Some("no-store"));
        body
    }

    /// The code for `client_id` after sign-in and approval (the whole browser flow).
    pub async fn code_for(&self, client_id: &str) -> String {
        let mut browser = Browser::new(self);
        let redirect = browser.authorize(&self.authorize_url(client_id, &[])).await;
        let consent = browser.consent_id(&redirect).await;
        let back = browser.answer(&consent, "approve").await;
        let location = location(&back);
        query_param(&location, "code").unwrap()
    }

    /// Access and refresh token of a fresh grant for `client_id`.
    pub async fn tokens_for(&self, client_id: &str) -> Value {
        let code = self.code_for(client_id).await;
        self.token_ok(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .await
    }

    /// A JSON-RPC request to /mcp with `token` (and `session` when given).
    pub async fn mcp(&self, token: &str, session: Option<&str>, message: Value) -> reqwest::Response {
        let mut request = self
            .http
            .post(self.mcp_url())
            .bearer_auth(token)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream");
        if let Some(session) = session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-11-25");
        }
        request.body(message.to_string()).send().await.unwrap()
    }

    /// initialize + notifications/initialized with `token`; the session id.
    pub async fn initialize(&self, token: &str) -> String {
        let response = self
            .mcp(
                token,
                None,
                json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                    "protocolVersion": "2025-11-25", "capabilities": {},
                    "clientInfo": {"name": "oauth-test", "version": "1"}}}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let session = response
            .headers()
            .get("mcp-session-id")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let ack = self
            .mcp(
                token,
                Some(&session),
                json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            )
            .await;
        assert_eq!(ack.status(), StatusCode::ACCEPTED);
        session
    }

    /// `tools/call` of `tool` in a new session with `token`: the JSON-RPC response.
    pub async fn call_tool(&self, token: &str, tool: &str) -> Value {
        self.call_tool_with(token, tool, json!({})).await
    }

    /// `tools/call` of `tool` with `arguments` in a new session with `token`.
    pub async fn call_tool_with(&self, token: &str, tool: &str, arguments: Value) -> Value {
        let session = self.initialize(token).await;
        let response = self
            .mcp(
                token,
                Some(&session),
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": tool, "arguments": arguments}}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let text = response.text().await.unwrap();
        super::parse_messages(&text)
            .into_iter()
            .find(|m| m.get("result").is_some() || m.get("error").is_some())
            .unwrap_or_else(|| panic!("no JSON-RPC response: {text}"))
    }
}

/// A headless browser: no automatic redirects, cookies (`mcp_flow`, `mcp_account`) kept by hand.
pub struct Browser<'a> {
    server: &'a TestServer,
    pub cookies: std::collections::BTreeMap<String, String>,
}

impl<'a> Browser<'a> {
    pub fn new(server: &'a TestServer) -> Self {
        Self {
            server,
            cookies: Default::default(),
        }
    }

    fn keep_cookie(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(header::SET_COOKIE) {
            let value = value.to_str().unwrap();
            let pair = value.split(';').next().unwrap();
            let (name, cookie) = pair.split_once('=').unwrap();
            if value.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), cookie.to_owned());
            }
        }
    }

    fn with_cookie(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if self.cookies.is_empty() {
            return request;
        }
        let header: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        request.header(header::COOKIE, header.join("; "))
    }

    pub async fn get(&mut self, url: &str) -> reqwest::Response {
        let request = self.with_cookie(self.server.http.get(url));
        let response = request.send().await.unwrap();
        self.keep_cookie(&response);
        response
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let request = self.with_cookie(self.server.http.post(self.server.url(path)).form(form));
        let response = request.send().await.unwrap();
        self.keep_cookie(&response);
        response
    }

    /// GET `authorize_url`, expecting the redirect to the development sign-in; its URL.
    pub async fn authorize(&mut self, authorize_url: &str) -> String {
        let response = self.get(authorize_url).await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "{}",
            response.text().await.unwrap()
        );
        location(&response)
    }

    /// From the sign-in URL: the page, its form, the callback; the consent page's HTML.
    pub async fn sign_in(&mut self, sign_in_url: &str) -> String {
        assert!(
            sign_in_url.starts_with(&self.server.url("/dev/sign-in?")),
            "{sign_in_url}"
        );
        let page = self.get(sign_in_url).await;
        assert_eq!(page.status(), StatusCode::OK);
        let state = query_param(sign_in_url, "state").unwrap();
        let signed_in = self.post("/dev/sign-in", &[("state", &state)]).await;
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
        let callback = location(&signed_in);
        assert!(
            callback.starts_with(&self.server.url("/oauth/callback?")),
            "{callback}"
        );
        let consent = self.get(&callback).await;
        let status = consent.status();
        let html = consent.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{html}");
        html
    }

    /// Signs in from `sign_in_url`; the consent id of the consent page.
    pub async fn consent_id(&mut self, sign_in_url: &str) -> String {
        consent_id_of(&self.sign_in(sign_in_url).await)
    }

    /// POST /oauth/consent with `decision` (approve or deny).
    pub async fn answer(&mut self, consent: &str, decision: &str) -> reqwest::Response {
        self.post("/oauth/consent", &[("consent", consent), ("decision", decision)])
            .await
    }
}

/// The hidden consent id in a consent page.
pub fn consent_id_of(html: &str) -> String {
    let marker = "name=consent value=\"";
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no consent form in {html}"))
        + marker.len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end].to_owned()
}
