//! The tenant's NetworkPolicy: deny by default, in both directions, for every pod in the namespace.
//!
//! Ingress: the `http` port only from `network.ingressFrom`, or by default from the namespaces of
//! the parent Gateways (HTTPRoute) or the operator's ingress controller namespace (Ingress); the
//! `metrics` port only from `monitoring.scrapeFrom`, or by default the monitoring namespace.
//! Gateway implementations that run their proxies elsewhere than the Gateway's namespace need
//! `ingressFrom`.
//!
//! Egress: DNS to kube-dns, and HTTPS to addresses outside the private, shared, link-local and
//! loopback ranges, which is where Entra ID, Microsoft Graph and public identity providers are.
//! Excluding link-local also blocks the cloud instance-metadata endpoint (169.254.169.254).
//! Identity provider URLs with an explicit port open that port the same way.
//! With a Redis store, TCP 6379 and 6380 (TLS on Azure Cache for Redis) are open to any address,
//! private ranges included: the Redis host is inside a Secret the operator does not read, and is
//! usually in the cluster. A NetworkPolicy cannot name a host, so a port is the finest rule here.

use std::collections::BTreeSet;

use k8s_openapi::{
    api::networking::v1::{
        IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
        NetworkPolicyPort, NetworkPolicySpec,
    },
    apimachinery::pkg::{
        apis::meta::v1::{LabelSelector, LabelSelectorRequirement},
        util::intstr::IntOrString,
    },
};
use url::Url;

use super::{
    BuildError, Child, ChildRole, OperatorDefaults,
    meta::{Context, ISOLATION, typed_child},
    meta::{HTTP_PORT_NAME, METRICS_PORT_NAME},
};
use crate::{
    api::{McpTenantSpec, NetworkPeer},
    validate::uses_redis,
};

const NAME: &str = "mcp-tenant-default-deny";
/// Set by the API server on every namespace.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// IPv4 and IPv6 ranges that are never "the internet".
const NON_PUBLIC_V4: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "127.0.0.0/8",
];
const NON_PUBLIC_V6: &[&str] = &["fc00::/7", "fe80::/10", "::1/128"];
const REDIS_PORTS: &[i32] = &[6379, 6380];

pub(crate) fn build_network_policy(ctx: &Context, defaults: &OperatorDefaults) -> Result<Child, BuildError> {
    let spec = &ctx.tenant.spec;
    let http_from = if spec.network.ingress_from.is_empty() {
        default_http_peers(spec, defaults)
    } else {
        spec.network.ingress_from.iter().map(peer).collect()
    };
    let metrics_from = if spec.monitoring.scrape_from.is_empty() {
        vec![namespaces_peer([defaults.monitoring_namespace.clone()])]
    } else {
        spec.monitoring.scrape_from.iter().map(peer).collect()
    };
    let ingress = vec![
        NetworkPolicyIngressRule {
            from: Some(http_from),
            ports: Some(vec![named_port(HTTP_PORT_NAME)]),
        },
        NetworkPolicyIngressRule {
            from: Some(metrics_from),
            ports: Some(vec![named_port(METRICS_PORT_NAME)]),
        },
    ];

    let mut egress = vec![NetworkPolicyEgressRule {
        to: Some(vec![NetworkPolicyPeer {
            namespace_selector: Some(match_name("kube-system")),
            pod_selector: Some(LabelSelector {
                match_labels: Some([("k8s-app".to_string(), "kube-dns".to_string())].into()),
                ..LabelSelector::default()
            }),
            ..NetworkPolicyPeer::default()
        }]),
        ports: Some(vec![port("UDP", 53), port("TCP", 53)]),
    }];
    egress.push(NetworkPolicyEgressRule {
        to: Some(vec![
            public_block("0.0.0.0/0", NON_PUBLIC_V4),
            public_block("::/0", NON_PUBLIC_V6),
        ]),
        ports: Some(https_ports(spec).into_iter().map(|p| port("TCP", p)).collect()),
    });
    if uses_redis(spec.server.storage.as_ref()) {
        egress.push(NetworkPolicyEgressRule {
            to: None,
            ports: Some(REDIS_PORTS.iter().map(|p| port("TCP", *p)).collect()),
        });
    }

    typed_child(
        ChildRole::Isolation,
        &NetworkPolicy {
            metadata: ctx.meta(NAME, ISOLATION),
            spec: Some(NetworkPolicySpec {
                // Every pod in the namespace: nothing a tenant adds is reachable by accident.
                pod_selector: Some(LabelSelector::default()),
                policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
                ingress: Some(ingress),
                egress: Some(egress),
            }),
        },
    )
}

fn default_http_peers(spec: &McpTenantSpec, defaults: &OperatorDefaults) -> Vec<NetworkPolicyPeer> {
    match &spec.network.gateway {
        Some(gateway) => {
            let namespaces: BTreeSet<String> =
                gateway.parent_refs.iter().map(|p| p.namespace.clone()).collect();
            vec![namespaces_peer(namespaces)]
        }
        None => vec![namespaces_peer([defaults.ingress_controller_namespace.clone()])],
    }
}

/// 443, plus the explicit ports of identity provider URLs (an IdP on `https://idp:8443`).
fn https_ports(spec: &McpTenantSpec) -> BTreeSet<i32> {
    let identity = &spec.identity;
    let external = identity
        .external
        .iter()
        .flat_map(|e| std::iter::once(&e.issuer).chain(e.jwks_uri.as_ref()));
    std::iter::once(&identity.upstream.issuer)
        .chain(external)
        .filter_map(|u| Url::parse(u).ok()?.port_or_known_default())
        .map(i32::from)
        .chain([443])
        .collect()
}

fn match_name(namespace: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some([(NAMESPACE_NAME_LABEL.to_string(), namespace.to_string())].into()),
        ..LabelSelector::default()
    }
}

fn namespaces_peer(namespaces: impl IntoIterator<Item = String>) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: NAMESPACE_NAME_LABEL.into(),
                operator: "In".into(),
                values: Some(namespaces.into_iter().collect()),
            }]),
            ..LabelSelector::default()
        }),
        ..NetworkPolicyPeer::default()
    }
}

fn peer(p: &NetworkPeer) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: p.namespace_selector.clone(),
        pod_selector: p.pod_selector.clone(),
        ..NetworkPolicyPeer::default()
    }
}

fn public_block(cidr: &str, except: &[&str]) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: cidr.into(),
            except: Some(except.iter().map(|s| s.to_string()).collect()),
        }),
        ..NetworkPolicyPeer::default()
    }
}

fn port(protocol: &str, number: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        protocol: Some(protocol.into()),
        port: Some(IntOrString::Int(number)),
        ..NetworkPolicyPort::default()
    }
}

fn named_port(name: &str) -> NetworkPolicyPort {
    NetworkPolicyPort {
        protocol: Some("TCP".into()),
        port: Some(IntOrString::String(name.into())),
        ..NetworkPolicyPort::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_provider_ports_other_than_443_are_opened() {
        let mut spec: McpTenantSpec = serde_saphyr::from_str(
            "identity:\n  mode: External\n  upstream: {issuer: 'https://idp.example.com:8443/realms/x', clientId: a, \
             clientSecretRef: {name: s, key: k}}\n  external: {issuer: 'https://idp.example.com', jwksUri: \
             'https://keys.example.com:9443/jwks', audiences: [a]}\nnetwork:\n  host: a.example.com\n  gateway: \
             {parentRefs: [{name: g, namespace: n}]}\n",
        )
        .unwrap();
        assert_eq!(https_ports(&spec), [443, 8443, 9443].into());
        spec.identity.external = None;
        spec.identity.upstream.issuer = "https://login.microsoftonline.com/t/v2.0".into();
        assert_eq!(https_ports(&spec), [443].into());
    }
}
