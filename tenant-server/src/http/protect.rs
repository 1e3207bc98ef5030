//! The layer in front of `/mcp`: per-IP rate limit, bearer token verification (every request),
//! per-user rate limit. The verified [`Caller`](crate::caller::Caller) goes into the request
//! extensions, where rmcp hands it to the MCP handler.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;

use axum::{
    extract::{ConnectInfo, Request, State},
    middleware::Next,
    response::Response,
};

use super::{
    errors::{rate_limited, unauthorized},
    guards::RequestId,
    resource_metadata_url,
};
use crate::{app::AppState, audit, auth::bearer_token, ratelimit::retry_after_secs};

/// The client address for the per-IP limit. Behind the tenant's gateway or ingress every
/// connection comes from the proxy, so when the peer is an in-cluster (private or loopback)
/// address the last `X-Forwarded-For` entry, the one that proxy appended, is the client. A peer
/// with a public address is the client itself and cannot choose its key by sending the header.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap) -> String {
    let Some(peer) = peer else {
        return "unknown".to_owned();
    };
    let behind_proxy = match peer {
        IpAddr::V4(ip) => ip.is_private() || ip.is_loopback() || ip.is_link_local(),
        IpAddr::V6(ip) => ip.is_loopback() || ip.is_unique_local() || ip.is_unicast_link_local(),
    };
    // Only the last entry: earlier ones are whatever the client sent.
    let last = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()
        .and_then(|entry| entry.trim().parse::<IpAddr>().ok());
    if behind_proxy && let Some(forwarded) = last {
        return forwarded.to_string();
    }
    peer.to_string()
}

pub async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let client_ip = client_ip(peer, request.headers());
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();

    if let Err(wait) = state.limits.per_ip.check(&client_ip) {
        state.metrics.rate_limited.with_label_values(&["ip"]).inc();
        return rate_limited(retry_after_secs(wait));
    }

    let verified = match bearer_token(request.headers()) {
        Ok(token) => state.auth.authenticate(token).await,
        Err(failure) => Err(failure),
    };
    let caller = match verified {
        Ok(caller) => caller,
        Err(failure) => {
            state
                .metrics
                .auth_failures
                .with_label_values(&[failure.reason()])
                .inc();
            audit::auth_failure(&state.config.tenant.name, failure, &client_ip, &request_id);
            return unauthorized(&resource_metadata_url(&state.config), failure);
        }
    };

    if let Err(wait) = state.limits.per_user.check(&caller.user_key()) {
        state.metrics.rate_limited.with_label_values(&["user"]).inc();
        return rate_limited(retry_after_secs(wait));
    }

    request.extensions_mut().insert(caller);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", value.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_for_counts_only_behind_an_in_cluster_proxy() {
        let proxy: IpAddr = "10.0.3.7".parse().unwrap();
        let public: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(
            client_ip(Some(proxy), &xff("1.1.1.1, 198.51.100.4")),
            "198.51.100.4"
        );
        assert_eq!(client_ip(Some(proxy), &HeaderMap::new()), "10.0.3.7");
        assert_eq!(client_ip(Some(public), &xff("198.51.100.4")), "203.0.113.9");
        assert_eq!(client_ip(None, &xff("198.51.100.4")), "unknown");
    }
}
