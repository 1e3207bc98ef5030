//! Clients of three protocol versions against one server over a socket, with rmcp's client: a
//! 2025-06-18 and a 2025-11-25 client open sessions (`initialize`), a 2026-07-28 client is
//! stateless (`server/discover`, then self-contained requests). Each lists the tools and calls
//! one, and gets what its version defines.

// A test crate: helpers fail loudly like the tests themselves.

use rmcp::{
    ClientLifecycleMode, ClientServiceExt, ServiceExt,
    model::{CallToolRequestParams, ClientConfig, ProtocolVersion},
    transport::{StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig},
};
use serde_json::json;
use support::{LocalIssuer, router, state};

use crate::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_of_three_protocol_versions_share_one_server() {
    let issuer = LocalIssuer::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public = format!("http://{}", listener.local_addr().unwrap());
    let config = support::config(&public, support::ISSUER, &issuer.jwks_url(), "", "");
    let app = router(state(config, Vec::new()));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let token = issuer.token("ada", json!({"aud": format!("{public}/mcp")}));
    let transport = || {
        StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(format!("{public}/mcp")).auth_header(token.clone()),
        )
    };

    for version in [ProtocolVersion::V_2025_06_18, ProtocolVersion::V_2025_11_25] {
        let client = ClientConfig::default()
            .with_protocol_version(version.clone())
            .serve(transport())
            .await
            .unwrap_or_else(|e| panic!("{version}: initialize: {e}"));
        assert_eq!(client.peer_info().unwrap().protocol_version, version);
        exercise(&client, &version.to_string()).await;
        client.cancel().await.unwrap();
    }

    let stateless = ClientConfig::default()
        .serve_with_lifecycle(
            transport(),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("2026-07-28: server/discover");
    assert_eq!(
        stateless.peer_info().unwrap().protocol_version,
        ProtocolVersion::V_2026_07_28
    );
    exercise(&stateless, "2026-07-28").await;
    stateless.cancel().await.unwrap();
}

async fn exercise(client: &rmcp::service::RunningService<rmcp::RoleClient, ClientConfig>, version: &str) {
    // Caching hints are 2026-07-28 fields: earlier versions get none.
    let stateless = version == "2026-07-28";
    let tools = client.list_tools(None).await.unwrap();
    assert_eq!(tools.ttl_ms.is_some(), stateless, "{version}: tools/list ttlMs");
    assert_eq!(
        tools.cache_scope.is_some(),
        stateless,
        "{version}: tools/list cacheScope"
    );
    let prompts = client.list_prompts(None).await.unwrap();
    assert_eq!(
        prompts.ttl_ms.is_some(),
        stateless,
        "{version}: prompts/list ttlMs"
    );
    let templates = client.list_resource_templates(None).await.unwrap();
    assert_eq!(
        templates.ttl_ms.is_some(),
        stateless,
        "{version}: templates ttlMs"
    );
    assert!(
        templates.resource_templates.is_empty(),
        "{version}: no mail tool, no template"
    );
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, ["whoami", "server_info"], "{version}");
    let who = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .unwrap_or_else(|e| panic!("{version}: whoami: {e}"));
    assert_eq!(who.is_error, Some(false), "{version}");
    assert_eq!(who.structured_content.unwrap()["subject"], "ada", "{version}");
    let unknown = client.call_tool(CallToolRequestParams::new("no_such_tool")).await;
    let refused = match unknown {
        Ok(result) => result.is_error == Some(true),
        Err(_) => true,
    };
    assert!(refused, "{version}: an unknown tool is refused");
}
