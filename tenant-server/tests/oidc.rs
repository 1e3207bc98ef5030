//! Against a real OpenID provider (npm `oidc-provider` on 127.0.0.1): RS256 and ES256 JWT access
//! tokens (`typ: at+jwt`) from client_credentials with a resource indicator, keys found by OpenID
//! discovery, key rotation at the provider, the tenant allow-list, role filtering, MFA, service
//! accounts, app-only tokens (generic and Entra-shaped), and the server on a real socket.

// A test crate: helpers fail loudly like the tests themselves.

use std::{sync::Arc, time::Duration};

use http::StatusCode;
use mcp_tenancy_config::TenantConfig;
use mcp_tenant_server::{
    app::AppState,
    auth::jwks::{JwksOptions, JwksVerifier, KeySource},
    store::EmbeddedStore,
    tools::core,
};
use serde_json::json;
use support::{oidc::Provider, *};

use crate::support;

fn provider_state(provider: &Provider, identity_extra: &str, rest: &str, discovery: bool) -> AppState {
    mcp_tenant_server::crypto::install_provider();
    let config: TenantConfig = config(
        PUBLIC,
        &provider.issuer,
        &provider.jwks_url(),
        identity_extra,
        rest,
    );
    let source = if discovery {
        KeySource::Discovery(config.identity.issuer.clone())
    } else {
        KeySource::Jwks(config.identity.jwks_uri.clone().unwrap())
    };
    let options = JwksOptions {
        min_refresh_interval: Duration::from_millis(100),
        ..JwksOptions::default()
    };
    let verifier = Arc::new(
        JwksVerifier::new(
            source,
            &config.identity.issuer,
            config.accepted_audiences(),
            options,
        )
        .unwrap(),
    );
    let tools = core::tools(&config);
    AppState::new(config, verifier, tools, Arc::new(EmbeddedStore::in_memory())).unwrap()
}

fn resource() -> String {
    format!("{PUBLIC}/mcp")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_and_es256_tokens_from_the_provider() {
    let Some(provider) = Provider::start().await else {
        return;
    };
    let state = provider_state(&provider, "", TIERS, true);
    let router = router(state);
    for client in ["es-reader", "rs-reader"] {
        let token = provider.token(client, &resource()).await;
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        let mut mcp = Client::new(router.clone(), &token);
        mcp.initialize().await;
        assert_eq!(mcp.tool_names().await, vec!["whoami", "server_info"], "{client}");
        let who = mcp.call(2, "tools/call", json!({"name": "whoami"})).await;
        assert_eq!(who.result()["structuredContent"]["subject"], client);
        assert_eq!(
            who.result()["structuredContent"]["tiers"],
            json!(["everyone", "readers"])
        );
    }
    // A token for another resource is refused.
    let elsewhere = provider.token("es-reader", "https://other.example.com/mcp").await;
    let reply = Client::new(router, &elsewhere)
        .call(1, "tools/list", json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(
        reply
            .header("www-authenticate")
            .unwrap()
            .contains("not issued for this server")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotated_at_the_provider_are_picked_up() {
    let Some(provider) = Provider::start().await else {
        return;
    };
    let router = router(provider_state(&provider, "", "", false));
    let before = provider.token("es-reader", &resource()).await;
    assert_eq!(
        Client::new(router.clone(), &before)
            .call(1, "tools/list", json!({}))
            .await
            .status,
        StatusCode::OK
    );
    provider.rotate_keys().await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    for client in ["es-reader", "rs-reader"] {
        let after = provider.token(client, &resource()).await;
        assert_ne!(
            jsonwebtoken::decode_header(&after).unwrap().kid,
            jsonwebtoken::decode_header(&before).unwrap().kid
        );
        let reply = Client::new(router.clone(), &after)
            .call(1, "tools/list", json!({}))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{client}: {}", reply.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_allow_list_roles_mfa_and_service_accounts() {
    let Some(provider) = Provider::start().await else {
        return;
    };
    let extra = format!("  allowedTenantIds: [{TENANT}]\n");
    let router = router(provider_state(&provider, &extra, TIERS, true));
    let token = |c: &'static str| {
        let provider = &provider;
        async move { provider.token(c, &resource()).await }
    };

    let other = Client::new(router.clone(), &token("es-other-tenant").await)
        .call(1, "tools/list", json!({}))
        .await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED);

    let sender = Client::new(router.clone(), &token("es-sender").await);
    assert_eq!(sender.tool_names().await, vec!["whoami"]);
    let step_up = sender.call(2, "tools/call", json!({"name": "server_info"})).await;
    assert_eq!(step_up.status, StatusCode::FORBIDDEN);
    assert!(
        step_up
            .header("www-authenticate")
            .unwrap()
            .contains("insufficient_scope")
    );

    let sender_mfa = Client::new(router.clone(), &token("es-sender-mfa").await);
    assert_eq!(sender_mfa.tool_names().await, vec!["whoami", "server_info"]);
    let ok = sender_mfa
        .call(3, "tools/call", json!({"name": "server_info"}))
        .await;
    assert_eq!(ok.result()["structuredContent"]["tenant"], "contoso");

    let robot = Client::new(router.clone(), &token("robot").await);
    assert_eq!(robot.tool_names().await, vec!["server_info"]);
    let who = robot.call(4, "tools/call", json!({"name": "whoami"})).await;
    assert_eq!(who.error_code(), -32602);
}

/// Two service accounts: `robot` (its tokens say `idtyp: app`) and `entra-robot` (they do not).
const APP_ACCESS: &str = "access:
  tiers:
    - {name: everyone, roles: ['*'], tools: [whoami]}
    - {name: readers, roles: [Mail.Reader], tools: [server_info]}
  serviceAccounts:
    - {name: robot, clientId: robot, tools: [server_info]}
    - {name: entra-robot, clientId: entra-robot, tools: [server_info]}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_only_tokens_are_service_accounts_or_refused() {
    let Some(provider) = Provider::start().await else {
        return;
    };
    let state = provider_state(&provider, "", APP_ACCESS, true);
    let router = router(state.clone());

    // App-only tokens of clients that are no service account, with the Mail.Reader role and no
    // `idtyp`: generic (RFC 9068, `sub` is the client) and Entra-shaped (no `scp`).
    for client in ["rogue-app", "entra-rogue"] {
        let reply = Client::new(router.clone(), &provider.token(client, &resource()).await)
            .call(1, "tools/list", json!({}))
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{client}: {}", reply.text);
        let challenge = reply.header("www-authenticate").unwrap();
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "{client}: {challenge}"
        );
        assert!(
            challenge.contains("not a service account"),
            "{client}: {challenge}"
        );
    }
    let metrics = state.metrics.render().unwrap();
    assert!(
        metrics.contains(r#"mcp_auth_failures_total{reason="unknown_client"} 2"#),
        "{metrics}"
    );

    // An Entra-shaped app-only token of a service account, without `idtyp`: its tools only.
    let robot = Client::new(router.clone(), &provider.token("entra-robot", &resource()).await);
    assert_eq!(robot.tool_names().await, vec!["server_info"]);

    // Delegated tokens are users: Entra's with `scp`, generic ones with `scope`.
    for (client, subject) in [("entra-user", "pairwise-entra-user"), ("es-reader", "es-reader")] {
        let user = Client::new(router.clone(), &provider.token(client, &resource()).await);
        assert_eq!(user.tool_names().await, vec!["whoami", "server_info"], "{client}");
        let who = user.call(2, "tools/call", json!({"name": "whoami"})).await;
        assert_eq!(who.result()["structuredContent"]["subject"], subject);
        assert_eq!(
            who.result()["structuredContent"]["tiers"],
            json!(["everyone", "readers"])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_socket_with_ops_port_and_graceful_shutdown() {
    let Some(provider) = Provider::start().await else {
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ops = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let ops_url = format!("http://{}", ops.local_addr().unwrap());
    mcp_tenant_server::crypto::install_provider();
    let config = config(&public, &provider.issuer, &provider.jwks_url(), "", "");
    let verifier = Arc::new(
        JwksVerifier::new(
            KeySource::Discovery(config.identity.issuer.clone()),
            &config.identity.issuer,
            config.accepted_audiences(),
            JwksOptions::default(),
        )
        .unwrap(),
    );
    let endpoint = config.mcp_url();
    let tools = core::tools(&config);
    let state = AppState::new(config, verifier, tools, Arc::new(EmbeddedStore::in_memory())).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(mcp_tenant_server::server::serve(
        state,
        listener,
        ops,
        async move {
            let _ = stopped.await;
        },
    ));

    let http = reqwest::Client::new();
    let token = provider.token("es-reader", &endpoint).await;
    let reply = http
        .post(&endpoint)
        .bearer_auth(&token)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "whoami"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(body["result"]["structuredContent"]["subject"], "es-reader");

    let ready = http.get(format!("{ops_url}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(
        http.get(format!("{ops_url}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let metrics = http
        .get(format!("{ops_url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("mcp_tool_invocations_total"), "{metrics}");
    // The MCP port does not serve metrics.
    let none = http.get(format!("{public}/metrics")).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::NOT_FOUND);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
}
