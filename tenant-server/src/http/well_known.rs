//! RFC 9728 protected resource metadata: where clients learn which authorization server issues
//! tokens for this server.

use std::sync::Arc;

use axum::{Json, extract::State};
use mcp_tenancy_config::TenantConfig;
use serde_json::{Value, json};

fn metadata(config: &TenantConfig, resource: String) -> Json<Value> {
    let issuer = config.identity.issuer.as_str().trim_end_matches('/').to_owned();
    Json(json!({
        "resource": resource,
        "authorization_servers": [issuer],
        "bearer_methods_supported": ["header"],
        "resource_name": config.tenant.display_name.clone().unwrap_or_else(|| config.tenant.name.clone()),
    }))
}

/// `/.well-known/oauth-protected-resource`: the server as a whole.
pub async fn root(State(config): State<Arc<TenantConfig>>) -> Json<Value> {
    metadata(&config, config.public_base().to_owned())
}

/// `/.well-known/oauth-protected-resource/mcp`: the MCP endpoint (RFC 9728 §3.1 inserts the
/// well-known segment before the resource's path).
pub async fn mcp(State(config): State<Arc<TenantConfig>>) -> Json<Value> {
    metadata(&config, config.mcp_url())
}
