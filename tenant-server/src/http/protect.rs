//! The layer in front of `/mcp`: per-IP rate limit, bearer token verification (every request),
//! per-user rate limit. The verified [`Caller`](crate::caller::Caller) goes into the request
//! extensions, where rmcp hands it to the MCP handler.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    middleware::Next,
    response::Response,
};
use http::{HeaderMap, HeaderName};
use mcp_tenancy_config::{Cidr, TenantConfig};

use super::errors::{rate_limited, unauthorized};
use crate::{
    audit,
    auth::{Authenticator, bearer_token},
    metrics::Metrics,
    ratelimit::{RateLimiters, Refusal, retry_after_secs},
    request_id::RequestId,
};

/// What the layer needs.
pub struct Gate {
    pub config: Arc<TenantConfig>,
    pub auth: Arc<Authenticator>,
    pub limits: RateLimiters,
    pub metrics: Metrics,
    /// `server.trustedProxies`, parsed once.
    pub trusted_proxies: Vec<Cidr>,
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// Most `X-Forwarded-For` entries looked at, so that a padded header costs next to nothing. Real
/// chains are a few hops long.
const MAX_FORWARDED_ENTRIES: usize = 32;
/// Longer than any address (an IPv6 address with an embedded IPv4 one and a port): not parsed.
const MAX_FORWARDED_ENTRY_LEN: usize = 64;

/// The client address for the per-IP limit. `X-Forwarded-For` counts only when the TCP peer is one
/// of `trusted_proxies` (`server.trustedProxies`): then its entries are walked from the right (the
/// hop nearest the server first), skipping those that are trusted proxies themselves, and the first
/// one that is not is the client. Entries to its left are whatever the client sent. A malformed
/// entry stops the walk at the last trusted hop, so garbage never becomes a key. Several header
/// lines read as one list, in order.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted_proxies: &[Cidr]) -> String {
    let Some(peer) = peer else {
        return "unknown".to_owned();
    };
    let peer = peer.to_canonical();
    if trusted_proxies.is_empty() || !headers.contains_key(X_FORWARDED_FOR) {
        return peer.to_string();
    }
    let is_trusted = |ip: IpAddr| trusted_proxies.iter().any(|cidr| cidr.contains(ip));
    let mut client = peer;
    if !is_trusted(client) {
        return client.to_string();
    }
    let entries = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .rev()
        .flat_map(|line| line.as_bytes().rsplit(|&b| b == b','))
        .take(MAX_FORWARDED_ENTRIES);
    for entry in entries {
        let Some(hop) = forwarded_address(entry) else {
            break;
        };
        client = hop;
        if !is_trusted(hop) {
            break;
        }
    }
    client.to_string()
}

/// One `X-Forwarded-For` entry: an address, or an address with a port as some load balancers
/// write it (`192.0.2.7:41234`, `[2001:db8::7]:41234`).
fn forwarded_address(entry: &[u8]) -> Option<IpAddr> {
    if entry.len() > MAX_FORWARDED_ENTRY_LEN {
        return None;
    }
    let text = std::str::from_utf8(entry).ok()?.trim();
    let ip = text
        .parse::<IpAddr>()
        .or_else(|_| text.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()?;
    Some(ip.to_canonical())
}

pub async fn authenticate(State(state): State<Arc<Gate>>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let client_ip = client_ip(peer, request.headers(), &state.trusted_proxies);
    let request_id = RequestId::of(request.extensions());

    if let Err(Refusal::Wait(wait)) = state.limits.per_ip.check(&client_ip).await {
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
            return unauthorized(&state.config.resource_metadata_url(), failure);
        }
    };

    if let Err(Refusal::Wait(wait)) = state.limits.per_user.check(&caller.user_key()).await {
        state.metrics.rate_limited.with_label_values(&["user"]).inc();
        return rate_limited(retry_after_secs(wait));
    }

    request.extensions_mut().insert(caller);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use mcp_tenancy_config::DEFAULT_TRUSTED_PROXIES;

    use super::*;

    fn xff(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for line in lines {
            h.append(X_FORWARDED_FOR, line.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    /// The contract's default: the private, loopback and link-local ranges.
    fn default_trusted() -> Vec<Cidr> {
        cidrs(&DEFAULT_TRUSTED_PROXIES)
    }

    #[test]
    fn forwarded_for_from_an_untrusted_peer_is_ignored() {
        let ingress = cidrs(&["10.0.3.0/24"]);
        // A public client, and an in-cluster pod outside the ingress controller's range: neither
        // chooses its key by sending the header.
        assert_eq!(
            client_ip(ip("203.0.113.9"), &xff(&["198.51.100.4"]), &ingress),
            "203.0.113.9"
        );
        assert_eq!(
            client_ip(ip("10.0.9.9"), &xff(&["198.51.100.4"]), &ingress),
            "10.0.9.9"
        );
        assert_eq!(client_ip(None, &xff(&["198.51.100.4"]), &ingress), "unknown");
    }

    #[test]
    fn forwarded_for_from_a_trusted_peer_names_the_client() {
        let ingress = cidrs(&["10.0.3.0/24"]);
        // Entries left of the first untrusted one are the client's own claims.
        assert_eq!(
            client_ip(ip("10.0.3.7"), &xff(&["1.1.1.1, 198.51.100.4"]), &ingress),
            "198.51.100.4"
        );
        assert_eq!(client_ip(ip("10.0.3.7"), &HeaderMap::new(), &ingress), "10.0.3.7");
        // A trusted proxy with a public address (a load balancer that connects to the pods).
        assert_eq!(
            client_ip(
                ip("35.191.8.1"),
                &xff(&["198.51.100.4"]),
                &cidrs(&["35.191.0.0/16"])
            ),
            "198.51.100.4"
        );
        // The defaults trust in-cluster peers, as the server did before trustedProxies existed.
        assert_eq!(
            client_ip(ip("10.0.3.7"), &xff(&["198.51.100.4"]), &default_trusted()),
            "198.51.100.4"
        );
    }

    #[test]
    fn forwarded_for_through_two_hops_skips_the_trusted_load_balancer() {
        // Cloud load balancer (public range 35.191.0.0/16) -> ingress controller (10.0.3.0/24).
        let proxies = cidrs(&["10.0.3.0/24", "35.191.0.0/16"]);
        let headers = xff(&["6.6.6.6, 198.51.100.4, 35.191.8.1"]);
        assert_eq!(client_ip(ip("10.0.3.7"), &headers, &proxies), "198.51.100.4");
        // The old rule took the last entry: the load balancer, one key for every user.
        assert_ne!(client_ip(ip("10.0.3.7"), &headers, &proxies), "35.191.8.1");
        // An internal load balancer with a private address is skipped by the defaults.
        assert_eq!(
            client_ip(
                ip("10.0.3.7"),
                &xff(&["198.51.100.4, 10.128.0.5"]),
                &default_trusted()
            ),
            "198.51.100.4"
        );
    }

    #[test]
    fn forwarded_for_lines_are_concatenated_in_order() {
        let proxies = cidrs(&["10.0.0.0/8"]);
        let headers = xff(&["6.6.6.6, 198.51.100.4", "10.1.1.1"]);
        assert_eq!(client_ip(ip("10.0.3.7"), &headers, &proxies), "198.51.100.4");
        let headers = xff(&["198.51.100.4", "6.6.6.6"]);
        assert_eq!(client_ip(ip("10.0.3.7"), &headers, &proxies), "6.6.6.6");
    }

    #[test]
    fn forwarded_for_of_only_trusted_hops_names_the_farthest() {
        // An in-cluster client calling through the ingress: every hop is trusted.
        let proxies = cidrs(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("10.0.3.7"), &xff(&["10.2.0.9, 10.1.0.1"]), &proxies),
            "10.2.0.9"
        );
    }

    #[test]
    fn a_malformed_forwarded_entry_stops_at_the_last_trusted_hop() {
        let proxies = cidrs(&["10.0.0.0/8"]);
        for header in [
            "198.51.100.4, garbage",
            "198.51.100.4, ",
            "198.51.100.4,unknown",
            "198.51.100.4, 999.1.1.1",
            "198.51.100.4, fe80::1%eth0",
        ] {
            assert_eq!(
                client_ip(ip("10.0.3.7"), &xff(&[header]), &proxies),
                "10.0.3.7",
                "{header}"
            );
        }
        assert_eq!(
            client_ip(
                ip("10.0.3.7"),
                &xff(&["6.6.6.6, junk, 10.1.0.1, 10.2.0.2"]),
                &proxies
            ),
            "10.1.0.1"
        );
        let mut binary = HeaderMap::new();
        binary.insert(
            X_FORWARDED_FOR,
            http::HeaderValue::from_bytes(b"198.51.100.4, \xff").unwrap(),
        );
        assert_eq!(client_ip(ip("10.0.3.7"), &binary, &proxies), "10.0.3.7");
    }

    #[test]
    fn forwarded_entries_with_ports_name_the_address() {
        let proxies = cidrs(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("10.0.3.7"), &xff(&["198.51.100.4:41234"]), &proxies),
            "198.51.100.4"
        );
        assert_eq!(
            client_ip(ip("10.0.3.7"), &xff(&["[2001:db8::7]:41234"]), &proxies),
            "2001:db8::7"
        );
    }

    #[test]
    fn forwarded_for_over_ipv6() {
        let proxies = cidrs(&["fd00:10::/64", "2001:db8:ffff::/48"]);
        let headers = xff(&["2001:db8:1::9, 2001:db8:ffff::1"]);
        assert_eq!(client_ip(ip("fd00:10::7"), &headers, &proxies), "2001:db8:1::9");
        assert_eq!(client_ip(ip("fd00:11::7"), &headers, &proxies), "fd00:11::7");
        // A dual-stack socket reports an IPv4 peer as IPv4-mapped; it matches IPv4 ranges.
        let v4 = cidrs(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("::ffff:10.0.3.7"), &xff(&["::ffff:198.51.100.4"]), &v4),
            "198.51.100.4"
        );
        assert_eq!(
            client_ip(ip("::ffff:203.0.113.9"), &HeaderMap::new(), &v4),
            "203.0.113.9"
        );
    }

    #[test]
    fn an_empty_trusted_list_never_believes_forwarded_for() {
        for peer in ["10.0.3.7", "127.0.0.1", "::1"] {
            assert_eq!(client_ip(ip(peer), &xff(&["198.51.100.4"]), &[]), peer, "{peer}");
        }
    }

    #[test]
    fn an_oversized_forwarded_header_is_read_only_so_far() {
        let proxies = cidrs(&["10.0.0.0/8"]);
        // The client hides behind more trusted-looking hops than are looked at: the walk ends at
        // the last one looked at, never at the client's own claim on the far left.
        let padded = format!("6.6.6.6, {}, 10.1.1.1", vec!["10.9.9.9"; 10_000].join(", "));
        assert_eq!(client_ip(ip("10.0.3.7"), &xff(&[&padded]), &proxies), "10.9.9.9");
        let mut lines = vec!["6.6.6.6"];
        lines.extend(["10.9.9.9"; 100]);
        lines.push("10.1.1.1");
        assert_eq!(client_ip(ip("10.0.3.7"), &xff(&lines), &proxies), "10.9.9.9");
        let long = format!("198.51.100.4, {}1", " ".repeat(100_000));
        assert_eq!(client_ip(ip("10.0.3.7"), &xff(&[&long]), &proxies), "10.0.3.7");
    }
}
