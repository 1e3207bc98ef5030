//! The Microsoft 365 tools wired as the server wires them, against the Graph double, with Graph
//! tokens from an on-behalf-of exchange at a mock IdP.

use std::{sync::Arc, time::Duration};

use mcp_graph_double::{GraphDouble, Seed};
use mcp_tenant_server::{
    caller::Secret,
    graph::{
        GraphClient, GraphClientConfig, GraphMetrics, OboSettings, OboTokenProvider, RetryPolicy, UserCache,
    },
    tools::{
        Tool,
        m365::{M365Deps, m365_tools},
    },
};
use prometheus::Registry;
use serde_json::json;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

/// The Graph token the mock IdP hands out; the double accepts only it.
pub const GRAPH_TOKEN: &str = "graph-obo-mcp";

pub struct GraphSetup {
    pub double: GraphDouble,
    pub tools: Vec<Arc<dyn Tool>>,
    _idp: MockServer,
}

/// The Graph double seeded with `seed`, an IdP that exchanges exactly `client_token` for
/// [`GRAPH_TOKEN`] (on-behalf-of), and the Microsoft 365 tools built as the server builds them.
pub async fn graph_setup(seed: &Seed, client_token: &str) -> GraphSetup {
    let double = GraphDouble::new(seed);
    let (addr, _) = double.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    double.set_tokens(&[GRAPH_TOKEN]);
    let idp = MockServer::start().await;
    Mock::given(matchers::path("/.well-known/openid-configuration"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"issuer": idp.uri(), "token_endpoint": format!("{}/token", idp.uri())}),
            ),
        )
        .mount(&idp)
        .await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/token"))
        .and(matchers::body_string_contains(format!(
            "assertion={client_token}"
        )))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"token_type": "Bearer", "access_token": GRAPH_TOKEN, "expires_in": 3600}),
            ),
        )
        .mount(&idp)
        .await;
    let provider = OboTokenProvider::new(OboSettings {
        issuer: idp.uri().parse().unwrap(),
        client_id: "server-app".into(),
        client_secret: Secret::new("s"),
        scopes: vec!["Mail.Read".into()],
        expiry_margin: Duration::from_secs(60),
        max_users: 10,
        timeout: Duration::from_secs(5),
        trust: Default::default(),
    })
    .unwrap();
    let registry = Registry::new();
    let graph = GraphClient::new(
        GraphClientConfig {
            base_url: format!("http://{addr}").parse().unwrap(),
            api_version: "v1.0".into(),
            request_timeout: Duration::from_secs(10),
            retry: RetryPolicy {
                max_total_wait: Duration::from_secs(2),
                ..RetryPolicy::default()
            },
            max_pages: 10,
        },
        Arc::new(provider),
        GraphMetrics::register(&registry).unwrap(),
    )
    .unwrap();
    let cache = UserCache::new(Duration::from_secs(60), 100, &registry).unwrap();
    let tools = m365_tools(M365Deps::from_parts(Arc::new(graph), Arc::new(cache)));
    GraphSetup {
        double,
        tools,
        _idp: idp,
    }
}
