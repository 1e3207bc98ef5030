//! HTTP concerns shared by every route: URLs derived from config, Host and Origin checks,
//! security headers and CORS, error responses.

pub mod errors;
pub mod guards;
pub mod headers;
pub mod protect;
pub mod well_known;

use mcp_tenancy_config::TenantConfig;

/// The public URL without a trailing slash, e.g. `https://contoso.mcp.example.com`.
pub fn public_base(config: &TenantConfig) -> String {
    config.server.public_url.as_str().trim_end_matches('/').to_owned()
}

/// The MCP endpoint clients connect to: `<public URL>/mcp`.
pub fn mcp_url(config: &TenantConfig) -> String {
    format!("{}/mcp", public_base(config))
}

/// RFC 9728 metadata URL of the MCP endpoint, named in `WWW-Authenticate`.
pub fn resource_metadata_url(config: &TenantConfig) -> String {
    format!("{}/.well-known/oauth-protected-resource/mcp", public_base(config))
}

/// Audiences a token may carry: the configured ones, the public URL and the MCP endpoint URL
/// (clients send either as their RFC 8707 `resource`).
pub fn accepted_audiences(config: &TenantConfig) -> Vec<String> {
    let mut audiences = config.identity.audiences.clone();
    for extra in [
        public_base(config),
        format!("{}/", public_base(config)),
        mcp_url(config),
    ] {
        if !audiences.contains(&extra) {
            audiences.push(extra);
        }
    }
    audiences
}
