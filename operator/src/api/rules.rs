//! The CEL rules of the `McpTenant` schema that need more than a pattern. Each mirrors a check of
//! `validate` (which stays as the second line) with the same message, so that a GitOps user sees
//! the refusal at apply time instead of as a Degraded condition after sync. Every string, list and
//! map a rule reads has a declared bound: the API server estimates each rule's cost from them.

use mcp_tenancy_config::rules::rule;
use serde_json::Value;

/// Namespaces a tenant must never live in: sharing them would void its isolation.
pub const RESERVED_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];
/// Annotations the operator sets on the Ingress from `tls.issuerRef`.
pub const ISSUER_ANNOTATIONS: &[&str] = &["cert-manager.io/cluster-issuer", "cert-manager.io/issuer"];

/// A dotted-decimal IPv4 address, the only numeric host form a URL keeps as written.
const IPV4: &str =
    "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}";
/// A host whose last label is a number (or `0x…`), which URL parsers read as an IPv4 address.
const NUMERIC_LAST_LABEL: &str = "(^|\\\\.)(0[xX][0-9a-fA-F]*|[0-9]+)$";

fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("'{i}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `spec.namespace`: immutable, and never a system namespace.
pub fn namespace() -> Vec<Value> {
    vec![
        rule("self == oldSelf", "spec.namespace is immutable", None),
        rule(
            &format!(
                "!(self in [{}]) && !self.startsWith('kube-')",
                list(RESERVED_NAMESPACES)
            ),
            "is a system namespace",
            None,
        ),
    ]
}

/// `spec.network.host`: a DNS name, not an IP address (HTTPRoute and Ingress hosts cannot be).
pub fn host() -> Vec<Value> {
    vec![rule(
        &format!("!self.matches('{NUMERIC_LAST_LABEL}')"),
        "must be a DNS name, not an IP address (its last label must not be a number)",
        None,
    )]
}

/// A `spec.network.trustedProxies` entry: no IPv4 part with a leading zero. The operator refuses
/// one (as do the API server's `isCIDR` and `isIP`), but the CEL library `render` checks with
/// offline accepts it.
pub fn no_leading_zero_octet() -> Value {
    rule(
        "!self.matches('(^|[.:])0[0-9]+[.]|[.]0[0-9]+(/|$)')",
        "is not an IPv4 or IPv6 address: an IPv4 part has a leading zero (write 10.0.0.0/8, not 010.0.0.0/8)",
        None,
    )
}

/// The scheme-and-authority part of a URL as the WHATWG parser keeps it unchanged: a lower-case
/// DNS name or a dotted-decimal IPv4 address, and a port without leading zeros.
const AUTHORITY: &str =
    "[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*(:[1-9][0-9]{0,4})?";

/// Rules on the host and port of the URL in `self` (after `scheme://`): a numeric last label must
/// be a whole IPv4 address and a port at most 65535.
fn authority_rules(scheme_len: &str, what: &str) -> Vec<Value> {
    let authority = format!("self.substring({scheme_len}).split('/')[0]");
    let host = format!("{authority}.split(':')[0]");
    vec![
        rule(
            &format!("!{host}.matches('{NUMERIC_LAST_LABEL}') || {host}.matches('^{IPV4}$')"),
            &format!("{what}: a numeric host must be a dotted-decimal IPv4 address"),
            None,
        ),
        rule(
            &format!("!{authority}.contains(':') || int({authority}.split(':')[1]) <= 65535"),
            &format!("{what}: the port must be at most 65535"),
            None,
        ),
    ]
}

/// An https URL (issuers, JWKS): `https://host[:port][/path]`, no query or fragment.
pub fn https_url() -> Vec<Value> {
    let mut rules = vec![rule(
        &format!("self.matches('^https://{AUTHORITY}(/[-a-zA-Z0-9._~!$&\\'()*+,;=:@%/]*)?$')"),
        "must be an https URL with a lower-case host name: https://host[:port][/path], without query or fragment",
        None,
    )];
    rules.extend(authority_rules("8", "the URL"));
    rules
}

/// A browser origin: `scheme://host[:port]`, exactly as browsers send it in `Origin`.
pub fn origin() -> Vec<Value> {
    let mut rules = vec![
        rule(
            &format!("self.matches('^https?://{AUTHORITY}$')"),
            "is not an origin (scheme://host[:port], lower case, no path)",
            None,
        ),
        rule(
            "!(self.startsWith('https://') && self.endsWith(':443')) && !(self.startsWith('http://') && self.endsWith(':80'))",
            "is not an origin: browsers leave the scheme's default port out",
            None,
        ),
    ];
    rules.extend(authority_rules("self.indexOf('//') + 2", "is not an origin"));
    rules
}

/// `spec.identity.allowedTenantIds`: each id once, in any letter case.
pub fn unique_tenant_ids() -> Vec<Value> {
    vec![rule(
        "self.all(x, self.exists_one(y, y.lowerAscii() == x.lowerAscii()))",
        "lists a tenant id twice",
        None,
    )]
}

/// `spec.network.gateway.parentRefs`: each Gateway listener once.
pub fn unique_parent_refs() -> Vec<Value> {
    vec![rule(
        // Lists compare in one step; `&&` of comparisons in a nested comprehension is estimated
        // over the API server's budget.
        "self.all(a, self.exists_one(b, [b.__namespace__, b.name, has(b.sectionName) ? b.sectionName : ''] == \
         [a.__namespace__, a.name, has(a.sectionName) ? a.sectionName : '']))",
        "lists a Gateway listener twice",
        None,
    )]
}

/// `spec.network.ingress`: no raw-configuration snippets for a shared controller, and no issuer
/// annotation beside `tls.issuerRef`.
pub fn ingress() -> Vec<Value> {
    vec![
        rule(
            "!has(self.annotations) || !self.annotations.exists(k, k.endsWith('-snippet'))",
            "snippet annotations inject raw configuration into a shared Ingress controller and are not allowed",
            Some(".annotations"),
        ),
        rule(
            &format!(
                "!has(self.tls.issuerRef) || !has(self.annotations) || !self.annotations.exists(k, k in [{}])",
                list(ISSUER_ANNOTATIONS)
            ),
            "an issuer annotation conflicts with tls.issuerRef, which sets it; remove one of them",
            Some(".annotations"),
        ),
    ]
}

/// The whole spec: rules across fields.
pub fn spec() -> Vec<Value> {
    let mut rules = vec![
        // A transition rule on `namespace` itself cannot see it being added or removed. CEL
        // reserves `namespace`: Kubernetes names the property `__namespace__` in rules.
        rule(
            "has(self.__namespace__) == has(oldSelf.__namespace__)",
            "spec.namespace is immutable",
            Some(".namespace"),
        ),
        rule(
            "!has(self.access) || !has(self.access.serviceAccounts) || self.access.serviceAccounts.all(a, \
             has(self.identity.mode) && self.identity.mode == 'External' ? has(a.clientId) : has(a.clientSecretRef))",
            "every service account needs clientSecretRef in Builtin mode (the server issues its tokens) \
             and clientId in External mode (the external issuer's client id)",
            Some(".access.serviceAccounts"),
        ),
    ];
    rules.extend(quota());
    rules
}

/// `spec.server`: the embedded store (also the default, when `storage` is absent) runs one replica.
pub fn server() -> Vec<Value> {
    vec![
        rule(
            "(has(self.storage) && has(self.storage.redis)) || ((!has(self.replicas) || self.replicas <= 1) && !has(self.autoscaling))",
            "the embedded store (the default) runs exactly one replica; set storage.redis for more replicas or autoscaling",
            None,
        ),
        rule(
            "!(has(self.replicas) && has(self.autoscaling))",
            "set either replicas or autoscaling, not both",
            None,
        ),
    ]
}

/// CEL: the `int-or-string` value `expr` is a Kubernetes quantity that is not negative.
fn non_negative_quantity(expr: &str) -> String {
    format!("isQuantity(string({expr})) && !quantity(string({expr})).isLessThan(quantity('0'))")
}

/// A quantity field (`int-or-string`): a Kubernetes quantity that is not negative.
pub fn quantity() -> Vec<Value> {
    vec![rule(
        &non_negative_quantity("self"),
        "must be a non-negative Kubernetes quantity (e.g. 500m, 2, 256Mi)",
        None,
    )]
}

/// `spec.server.resources.limits` and `.requests`: every value a non-negative quantity.
pub fn quantity_map() -> Vec<Value> {
    vec![rule(
        &format!("self.all(k, {})", non_negative_quantity("self[k]")),
        "every value must be a non-negative Kubernetes quantity (e.g. 500m, 2, 256Mi)",
        None,
    )]
}

/// The server container's limit of `resource`, or `default`.
fn server_limit(resource: &str, default: &str) -> String {
    format!(
        "quantity(has(self.server.resources) && has(self.server.resources.limits) && \
         '{resource}' in self.server.resources.limits ? string(self.server.resources.limits['{resource}']) : '{default}')"
    )
}

fn quota_value(field: &str, default: &str) -> String {
    format!("quantity(has(self.quota.{field}) ? string(self.quota.{field}) : '{default}')")
}

/// The quota must admit the server at its largest (the most replicas, plus the surge pod of a
/// Deployment rollout with Redis), or pods silently fail to be created. Comparisons of limits
/// allow a relative error of 1e-12; `validate` allows 1e-9, so what passes here passes there.
pub fn quota() -> Vec<Value> {
    use crate::defaults::{
        CPU_LIMIT, MEMORY_LIMIT, QUOTA_CPU, QUOTA_MEMORY, QUOTA_PODS, QUOTA_STORAGE, STORE_SIZE,
    };

    let redis = "(has(self.server.storage) && has(self.server.storage.redis))";
    let peak = format!(
        "((has(self.server.autoscaling) ? self.server.autoscaling.maxReplicas : \
         has(self.server.replicas) ? self.server.replicas : 1) + ({redis} ? 1 : 0))"
    );
    let mut rules = vec![rule(
        &format!("(has(self.quota.pods) ? self.quota.pods : {QUOTA_PODS}) >= {peak}"),
        "is fewer than the server pods that can run at once (replicas or autoscaling.maxReplicas, \
         plus one during a rollout with Redis storage)",
        Some(".quota.pods"),
    )];
    // The quota field is named like the resource.
    for (resource, limit, quota) in [
        ("cpu", CPU_LIMIT, QUOTA_CPU),
        ("memory", MEMORY_LIMIT, QUOTA_MEMORY),
    ] {
        let limit_value = server_limit(resource, limit);
        rules.push(rule(
            &format!(
                "{limit_value}.asApproximateFloat() * double({peak}) <= {}.asApproximateFloat() * 1.000000000001",
                quota_value(resource, quota)
            ),
            &format!(
                "is less than the server pods' {resource} limits at the most pods that can run at once"
            ),
            Some(&format!(".quota.{resource}")),
        ));
        rules.push(rule(
            &format!(
                "!has(self.server.resources) || !has(self.server.resources.requests) || \
                 !('{resource}' in self.server.resources.requests) || \
                 quantity(string(self.server.resources.requests['{resource}'])).compareTo({limit_value}) <= 0"
            ),
            &format!("the {resource} request must not exceed the {resource} limit"),
            Some(".server.resources"),
        ));
    }
    rules.push(rule(
        &format!(
            "{redis} || quantity(has(self.server.storage) && has(self.server.storage.embedded) && \
             has(self.server.storage.embedded.size) ? string(self.server.storage.embedded.size) : '{STORE_SIZE}')\
             .compareTo({}) <= 0",
            quota_value("storage", QUOTA_STORAGE)
        ),
        "is less than the embedded store's volume",
        Some(".quota.storage"),
    ));
    rules
}
