//! Checks every request passes before routing: a known Host (DNS-rebinding defence) and, when a
//! browser sends one, an allowed Origin. Both are refused with 403.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use http::{HeaderMap, header};
use mcp_tenancy_config::{Environment, TenantConfig};

use super::errors::forbidden;

/// `host` or `host:port` from the Host header (or the URI authority for HTTP/2).
fn request_authority(headers: &HeaderMap, uri: &http::Uri) -> Option<String> {
    match headers.get(header::HOST) {
        Some(value) => value.to_str().ok().map(str::to_ascii_lowercase),
        None => uri.authority().map(|a| a.as_str().to_ascii_lowercase()),
    }
}

/// An allowed entry without a port matches the host on any port; with a port, only that port.
pub fn host_allowed(authority: &str, allowed: &[String]) -> bool {
    let authority = authority.to_ascii_lowercase();
    let Ok(parsed) = authority.parse::<http::uri::Authority>() else {
        return false;
    };
    let host = parsed.host().trim_start_matches('[').trim_end_matches(']');
    allowed.iter().any(|entry| {
        let entry = entry.to_ascii_lowercase();
        if entry.contains(':') && !entry.starts_with('[') && entry.matches(':').count() == 1 {
            entry == authority
        } else {
            entry.trim_start_matches('[').trim_end_matches(']') == host
        }
    })
}

/// Allowed origins: the configured list plus the server's own origin; in development also any
/// loopback origin (local tools and proxies on other ports).
pub fn origin_allowed(origin: &str, config: &TenantConfig) -> bool {
    let origin = origin.trim_end_matches('/');
    let own = config.server.public_url.origin().ascii_serialization();
    origin.eq_ignore_ascii_case(&own)
        || config
            .server
            .allowed_origins
            .iter()
            .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
        || (config.environment == Environment::Development && is_loopback_origin(origin))
}

fn is_loopback_origin(origin: &str) -> bool {
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    url.scheme() == "http"
        && match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name == "localhost",
            None => false,
        }
}

pub async fn check_host_and_origin(
    State(config): State<Arc<TenantConfig>>,
    request: Request,
    next: Next,
) -> Response {
    let host_ok = request_authority(request.headers(), request.uri())
        .is_some_and(|authority| host_allowed(&authority, &config.server.allowed_hosts));
    if !host_ok {
        return forbidden("Host header is not allowed");
    }
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let ok = origin.to_str().is_ok_and(|o| origin_allowed(o, &config));
        if !ok {
            return forbidden("Origin is not allowed");
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_with_or_without_port() {
        let allowed = vec!["mcp.example.com".to_owned(), "svc.ns:8080".to_owned()];
        assert!(host_allowed("mcp.example.com", &allowed));
        assert!(host_allowed(
            "MCP.example.com:443",
            &allowed.iter().map(|s| s.to_uppercase()).collect::<Vec<_>>()
        ));
        assert!(host_allowed("svc.ns:8080", &allowed));
        assert!(!host_allowed("svc.ns:9090", &allowed));
        assert!(!host_allowed("evil.example.com", &allowed));
        assert!(!host_allowed("mcp.example.com.evil.com", &allowed));
    }

    #[test]
    fn loopback_origins_only_in_development() {
        let mut config = crate::testing::config_yaml("https://mcp.example.com", "https://i.example.com", "");
        assert!(origin_allowed("https://mcp.example.com", &config));
        assert!(origin_allowed("http://127.0.0.1:5173", &config));
        assert!(origin_allowed("http://localhost:3000", &config));
        assert!(!origin_allowed("http://evil.example.com", &config));
        assert!(!origin_allowed("http://127.0.0.1.evil.com", &config));
        config.environment = Environment::Production;
        assert!(!origin_allowed("http://127.0.0.1:5173", &config));
        assert!(origin_allowed("https://mcp.example.com", &config));
    }
}
