//! The validate step of the pipeline: what the CRD schema cannot express, and the metadata the
//! children need. Pure: runs in the controller before build, in `render` and in tests; the
//! builders take only a [`ValidatedTenant`]. Each error names the field at fault, e.g.
//! `spec.access.tiers[1].tools[0]: "mial_*" names no known tool`.

mod quota;

use std::collections::BTreeSet;

use mcp_tenancy_config::{
    Cidr, ConfigError, IdentityMode,
    catalog::{ADMIN_NOT_FOR_SERVICE_ACCOUNTS, ADMIN_TIER_NEEDS_MFA, admin_pattern, pattern_is_known},
};
use url::Url;

use crate::api::{
    GatewayExposure, IdentitySpec, IngressExposure, IssuerRef, McpTenant, McpTenantSpec, NetworkSpec,
    StorageSpec,
    rules::{ISSUER_ANNOTATIONS, RESERVED_NAMESPACES},
};

/// One thing wrong with a spec, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// Path of the field, e.g. `spec.access.tiers[1].tools[0]`.
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A tenant that passed [`validate`]: the builders' only input about the tenant, so nothing is
/// built from a spec that was not checked, and what the builders would otherwise have to parse
/// or choose (URLs, the exposure) is already decided.
#[derive(Clone, Debug)]
pub struct ValidatedTenant<'a> {
    pub tenant: &'a McpTenant,
    /// `metadata.name`.
    pub name: &'a str,
    /// `metadata.uid`, for the children's owner references.
    pub uid: &'a str,
    pub urls: TenantUrls,
    pub exposure: Exposure<'a>,
}

/// The URLs of the tenant config, parsed.
#[derive(Clone, Debug)]
pub struct TenantUrls {
    /// `https://<spec.network.host>`.
    pub public: Url,
    /// `spec.identity.upstream.issuer`.
    pub upstream_issuer: Url,
    /// In External identity mode: `spec.identity.external.issuer` and `jwksUri`.
    pub external: Option<(Url, Option<Url>)>,
}

/// How users reach the tenant: the HTTPRoute's Gateway or the Ingress (the CRD requires one).
#[derive(Clone, Copy, Debug)]
pub enum Exposure<'a> {
    Gateway(&'a GatewayExposure),
    Ingress(&'a IngressExposure, IngressCertificate<'a>),
}

/// Where the Ingress's certificate comes from.
#[derive(Clone, Copy, Debug)]
pub enum IngressCertificate<'a> {
    /// An existing `kubernetes.io/tls` Secret.
    Secret(&'a str),
    /// A cert-manager issuer.
    Issuer(&'a IssuerRef),
}

/// Why a tenant cannot be built; the spec needs a change, retrying does not help.
#[derive(Debug, thiserror::Error)]
pub enum InvalidTenant {
    #[error("invalid McpTenant: {0}")]
    Spec(#[from] ValidationError),
    #[error("McpTenant has no metadata.name")]
    MissingName,
    #[error("McpTenant has no metadata.uid (it must come from the API server)")]
    MissingUid,
}

/// Checks the spec ([`validate_tenant`]) and the metadata the children's owner references need,
/// parses the URLs and decides the exposure.
pub fn validate(tenant: &McpTenant) -> Result<ValidatedTenant<'_>, InvalidTenant> {
    validate_tenant(tenant)?;
    let name = tenant
        .metadata
        .name
        .as_deref()
        .ok_or(InvalidTenant::MissingName)?;
    let uid = tenant.metadata.uid.as_deref().ok_or(InvalidTenant::MissingUid)?;
    let urls = tenant_urls(&tenant.spec)?;
    let exposure = exposure(&tenant.spec.network)?;
    Ok(ValidatedTenant {
        tenant,
        name,
        uid,
        urls,
        exposure,
    })
}

fn parse_url(field: &str, value: &str) -> Result<Url, ValidationError> {
    Url::parse(value).map_err(|e| ValidationError::new(field, format!("{value:?} is not a valid URL: {e}")))
}

fn tenant_urls(spec: &McpTenantSpec) -> Result<TenantUrls, ValidationError> {
    let public = parse_url("spec.network.host", &format!("https://{}", spec.network.host))?;
    let identity = &spec.identity;
    let external = match (&identity.mode, &identity.external) {
        (IdentityMode::External, Some(external)) => Some((
            parse_url("spec.identity.external.issuer", &external.issuer)?,
            external
                .jwks_uri
                .as_deref()
                .map(|u| parse_url("spec.identity.external.jwksUri", u))
                .transpose()?,
        )),
        _ => None,
    };
    let upstream_issuer = parse_url("spec.identity.upstream.issuer", &identity.upstream.issuer)?;
    Ok(TenantUrls {
        public,
        upstream_issuer,
        external,
    })
}

fn exposure(network: &NetworkSpec) -> Result<Exposure<'_>, ValidationError> {
    match (&network.gateway, &network.ingress) {
        (Some(gateway), _) => Ok(Exposure::Gateway(gateway)),
        (None, Some(ingress)) => {
            let certificate = match (&ingress.tls.issuer_ref, &ingress.tls.secret_name) {
                (_, Some(secret)) => IngressCertificate::Secret(secret),
                (Some(issuer), None) => IngressCertificate::Issuer(issuer),
                (None, None) => {
                    return Err(ValidationError::new(
                        "spec.network.ingress.tls",
                        "set exactly one of issuerRef or secretName",
                    ));
                }
            };
            Ok(Exposure::Ingress(ingress, certificate))
        }
        (None, None) => Err(ValidationError::new(
            "spec.network",
            "set exactly one of gateway or ingress",
        )),
    }
}

/// Whether the tenant keeps its store in Redis (any replica count) rather than on a volume.
pub fn uses_redis(storage: Option<&StorageSpec>) -> bool {
    storage.is_some_and(|s| s.redis.is_some())
}

/// Whether `namespace` is a system namespace no tenant may live in (or the operator delete).
pub fn is_reserved_namespace(namespace: &str) -> bool {
    RESERVED_NAMESPACES.contains(&namespace) || namespace.starts_with("kube-")
}

/// Checks what the schema and its CEL rules cannot.
pub fn validate_tenant(tenant: &McpTenant) -> Result<(), ValidationError> {
    let spec = &tenant.spec;
    if let Some(ns) = &spec.namespace
        && is_reserved_namespace(ns)
    {
        return Err(ValidationError::new(
            "spec.namespace",
            format!("{ns:?} is a system namespace"),
        ));
    }
    check_server(spec)?;
    quota::check_quota(spec)?;
    check_access(spec)?;
    check_identity(&spec.identity)?;
    check_patterns("spec.tools.disabled", &spec.tools.disabled)?;
    for (field, limit) in [
        ("spec.limits.perUser", spec.limits.per_user),
        ("spec.limits.perIp", spec.limits.per_ip),
        ("spec.limits.auth", spec.limits.auth),
    ] {
        if limit.period.as_secs() == 0 {
            return Err(ValidationError::new(
                format!("{field}.period"),
                "must be longer than 0s",
            ));
        }
    }
    check_network(spec)?;
    Ok(())
}

fn check_server(spec: &McpTenantSpec) -> Result<(), ValidationError> {
    // The CEL rule covers an explicit embedded store; this covers the default one.
    let server = &spec.server;
    if !uses_redis(server.storage.as_ref()) {
        if server.replicas.is_some_and(|r| r > 1) {
            return Err(ValidationError::new(
                "spec.server.replicas",
                "the embedded store (the default) runs exactly one replica; set storage.redis for more",
            ));
        }
        if server.autoscaling.is_some() {
            return Err(ValidationError::new(
                "spec.server.autoscaling",
                "the embedded store (the default) runs exactly one replica; set storage.redis to autoscale",
            ));
        }
    }
    Ok(())
}

fn check_access(spec: &McpTenantSpec) -> Result<(), ValidationError> {
    let mut tiers = BTreeSet::new();
    for (i, tier) in spec.access.tiers.iter().enumerate() {
        let field = format!("spec.access.tiers[{i}]");
        if !tiers.insert(tier.name.as_str()) {
            return Err(ValidationError::new(
                format!("{field}.name"),
                format!("tier {:?} is defined twice", tier.name),
            ));
        }
        check_patterns(&format!("{field}.tools"), &tier.tools)?;
        if let Some(j) = admin_pattern(&tier.tools)
            && !tier.require_mfa
        {
            return Err(ValidationError::new(
                format!("{field}.tools[{j}]"),
                ADMIN_TIER_NEEDS_MFA,
            ));
        }
    }
    let mut accounts = BTreeSet::new();
    for (i, sa) in spec.access.service_accounts.iter().enumerate() {
        let field = format!("spec.access.serviceAccounts[{i}]");
        if !accounts.insert(sa.name.as_str()) {
            return Err(ValidationError::new(
                format!("{field}.name"),
                format!("service account {:?} is defined twice", sa.name),
            ));
        }
        check_patterns(&format!("{field}.tools"), &sa.tools)?;
        if let Some(j) = admin_pattern(&sa.tools) {
            return Err(ValidationError::new(
                format!("{field}.tools[{j}]"),
                ADMIN_NOT_FOR_SERVICE_ACCOUNTS,
            ));
        }
        match spec.identity.mode {
            IdentityMode::Builtin if sa.client_secret_ref.is_none() => {
                return Err(ValidationError::new(
                    format!("{field}.clientSecretRef"),
                    "required in Builtin mode (the server issues the service account's tokens)",
                ));
            }
            IdentityMode::External if sa.client_id.is_none() => {
                return Err(ValidationError::new(
                    format!("{field}.clientId"),
                    "required in External mode (the external issuer's client id of the account)",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_identity(identity: &IdentitySpec) -> Result<(), ValidationError> {
    let lifetimes = identity.token_lifetimes;
    if lifetimes.access.as_secs() < 60 {
        return Err(ValidationError::new(
            "spec.identity.tokenLifetimes.access",
            "must be at least 1m",
        ));
    }
    if lifetimes.access > lifetimes.refresh {
        return Err(ValidationError::new(
            "spec.identity.tokenLifetimes.access",
            "must not be longer than tokenLifetimes.refresh",
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, tid) in identity.allowed_tenant_ids.iter().enumerate() {
        if !seen.insert(tid.to_ascii_lowercase()) {
            return Err(ValidationError::new(
                format!("spec.identity.allowedTenantIds[{i}]"),
                format!("{tid:?} is listed twice"),
            ));
        }
    }
    Ok(())
}

fn check_network(spec: &McpTenantSpec) -> Result<(), ValidationError> {
    let network = &spec.network;
    for (i, origin) in network.allowed_origins.iter().enumerate() {
        let field = format!("spec.network.allowedOrigins[{i}]");
        let parsed =
            url::Url::parse(origin).map_err(|e| ValidationError::new(&field, format!("{origin:?}: {e}")))?;
        if parsed.origin().ascii_serialization() != origin.trim_end_matches('/') {
            return Err(ValidationError::new(
                field,
                format!("{origin:?} is not an origin (scheme://host[:port])"),
            ));
        }
    }
    for (i, proxy) in network.trusted_proxies.iter().flatten().enumerate() {
        proxy
            .parse::<Cidr>()
            .map_err(|e| ValidationError::new(format!("spec.network.trustedProxies[{i}]"), e.to_string()))?;
    }
    if let Some(gateway) = &network.gateway {
        let mut seen = BTreeSet::new();
        for (i, p) in gateway.parent_refs.iter().enumerate() {
            if !seen.insert((&p.namespace, &p.name, &p.section_name)) {
                return Err(ValidationError::new(
                    format!("spec.network.gateway.parentRefs[{i}]"),
                    format!("Gateway {}/{} is listed twice", p.namespace, p.name),
                ));
            }
        }
    }
    // Snippet annotations (ingress-nginx `*-snippet`) inject raw proxy configuration into an
    // Ingress controller that other tenants share; a tenant manifest must not carry them.
    if let Some(key) = network
        .ingress
        .iter()
        .flat_map(|i| i.annotations.keys())
        .find(|k| {
            k.rsplit('/')
                .next()
                .is_some_and(|name| name.ends_with("-snippet"))
        })
    {
        return Err(ValidationError::new(
            format!("spec.network.ingress.annotations[{key:?}]"),
            "snippet annotations inject raw configuration into a shared Ingress controller and are not allowed",
        ));
    }
    if let Some(ingress) = &network.ingress
        && ingress.tls.issuer_ref.is_some()
        && let Some(key) = ingress
            .annotations
            .keys()
            .find(|k| ISSUER_ANNOTATIONS.contains(&k.as_str()))
    {
        return Err(ValidationError::new(
            format!("spec.network.ingress.annotations[{key:?}]"),
            "conflicts with tls.issuerRef, which sets it; remove one of them",
        ));
    }
    Ok(())
}

fn check_patterns(field: &str, patterns: &[String]) -> Result<(), ValidationError> {
    for (i, p) in patterns.iter().enumerate() {
        if !pattern_is_known(p) {
            return Err(ValidationError::new(
                format!("{field}[{i}]"),
                format!("{p:?} names no known tool"),
            ));
        }
    }
    Ok(())
}

/// A config the tenant server would refuse, reported against the generated config's field.
impl From<ConfigError> for ValidationError {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::Invalid { field, message } => Self::new(format!("config.{field}"), message),
            other => Self::new("config", other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{quota::quantity, *};

    fn mk_tenant(spec_yaml: &str) -> McpTenant {
        let base = "
identity:
  upstream:
    issuer: https://login.microsoftonline.com/8f3c2a1e-4b5d-4c6e-9f70-1a2b3c4d5e6f/v2.0
    clientId: app
    clientSecretRef: {name: entra-app, key: client-secret}
network:
  host: contoso.mcp.example.com
  gateway:
    parentRefs: [{name: public, namespace: gateway-system}]
";
        let spec: McpTenantSpec = serde_saphyr::from_str(&format!("{base}{spec_yaml}")).unwrap();
        McpTenant::new("contoso", spec)
    }

    fn error(spec_yaml: &str) -> String {
        validate_tenant(&mk_tenant(spec_yaml)).unwrap_err().to_string()
    }

    #[test]
    fn a_plain_tenant_is_valid() {
        validate_tenant(&mk_tenant("")).unwrap();
    }

    #[test]
    fn tool_patterns_must_name_known_tools() {
        let tiers = "access:\n  tiers:\n    - {name: a, roles: ['*'], tools: ['*']}\n    - {name: b, roles: [x], tools: [whoami, 'mial_*']}\n";
        assert_eq!(
            error(tiers),
            r#"spec.access.tiers[1].tools[1]: "mial_*" names no known tool"#
        );
        let accounts = "access:\n  serviceAccounts:\n    - {name: bot, clientSecretRef: {name: s, key: k}, tools: [mail_delete]}\n";
        assert_eq!(
            error(accounts),
            r#"spec.access.serviceAccounts[0].tools[0]: "mail_delete" names no known tool"#
        );
        assert_eq!(
            error("access:\n  tiers:\n    - {name: ops, roles: [Ops], tools: [whoami, 'admin_*']}\n"),
            "spec.access.tiers[0].tools[1]: names admin tools, so the tier must set requireMfa: true"
        );
        let mfa =
            "access:\n  tiers:\n    - {name: ops, roles: [Ops], tools: ['admin_*'], requireMfa: true}\n";
        validate_tenant(&mk_tenant(mfa)).unwrap();
        let bot = "access:\n  serviceAccounts:\n    - {name: bot, clientSecretRef: {name: s, key: k}, tools: [admin_list_grants]}\n";
        assert!(error(bot).starts_with("spec.access.serviceAccounts[0].tools[0]: names admin tools"));
        assert_eq!(
            error("tools:\n  disabled: [teams_]\n"),
            r#"spec.tools.disabled[0]: "teams_" names no known tool"#
        );
    }

    #[test]
    fn names_must_be_unique() {
        let tiers = "access:\n  tiers:\n    - {name: a, roles: ['*'], tools: ['*']}\n    - {name: a, roles: [x], tools: [whoami]}\n";
        assert_eq!(
            error(tiers),
            r#"spec.access.tiers[1].name: tier "a" is defined twice"#
        );
        let accounts = "access:\n  serviceAccounts:\n    - {name: bot, clientSecretRef: {name: s, key: k}, tools: ['*']}\n    - {name: bot, clientSecretRef: {name: s, key: k}, tools: ['*']}\n";
        assert!(error(accounts).starts_with("spec.access.serviceAccounts[1].name:"));
        let gateways = "network:\n  host: a.example.com\n  gateway:\n    parentRefs: [{name: g, namespace: n}, {name: g, namespace: n}]\n";
        let tenant: McpTenantSpec = serde_saphyr::from_str(&format!(
            "identity:\n  upstream: {{issuer: 'https://idp.example.com', clientId: a, clientSecretRef: {{name: s, key: k}}}}\n{gateways}"
        ))
        .unwrap();
        let err = validate_tenant(&McpTenant::new("c", tenant)).unwrap_err();
        assert_eq!(err.field, "spec.network.gateway.parentRefs[1]");
    }

    #[test]
    fn service_accounts_need_the_credential_of_the_identity_mode() {
        let builtin = "access:\n  serviceAccounts:\n    - {name: bot, clientId: bot, tools: ['*']}\n";
        assert!(
            error(builtin)
                .starts_with("spec.access.serviceAccounts[0].clientSecretRef: required in Builtin mode")
        );
    }

    #[test]
    fn the_default_embedded_store_holds_one_replica() {
        assert!(error("server: {replicas: 2}\n").starts_with("spec.server.replicas: the embedded store"));
        assert!(
            error("server: {autoscaling: {minReplicas: 1, maxReplicas: 3}}\n")
                .starts_with("spec.server.autoscaling:")
        );
        let redis = "server:\n  replicas: 2\n  storage: {redis: {urlSecretRef: {name: r, key: url}}}\n";
        validate_tenant(&mk_tenant(redis)).unwrap();
    }

    #[test]
    fn system_namespaces_and_bad_lifetimes_and_origins_are_refused() {
        assert_eq!(
            error("namespace: default\n"),
            r#"spec.namespace: "default" is a system namespace"#
        );
        assert!(error("namespace: kube-flannel\n").starts_with("spec.namespace:"));
        let lifetimes = "identity:\n  upstream: {issuer: 'https://idp.example.com', clientId: a, clientSecretRef: {name: s, key: k}}\n  tokenLifetimes: {access: 30s, refresh: 1h}\n";
        let spec = format!(
            "{lifetimes}network:\n  host: a.example.com\n  gateway: {{parentRefs: [{{name: g, namespace: n}}]}}\n"
        );
        let err = validate_tenant(&McpTenant::new("c", serde_saphyr::from_str(&spec).unwrap())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "spec.identity.tokenLifetimes.access: must be at least 1m"
        );
        let origins = "network:\n  host: a.example.com\n  gateway: {parentRefs: [{name: g, namespace: n}]}\n  allowedOrigins: ['https://claude.ai', 'https://x.example.com/path']\n";
        let spec = format!(
            "identity:\n  upstream: {{issuer: 'https://idp.example.com', clientId: a, clientSecretRef: {{name: s, key: k}}}}\n{origins}"
        );
        let err = validate_tenant(&McpTenant::new("c", serde_saphyr::from_str(&spec).unwrap())).unwrap_err();
        assert_eq!(err.field, "spec.network.allowedOrigins[1]");
    }

    #[test]
    fn quantities_parse_like_kubernetes() {
        for (text, value) in [
            ("500m", 0.5),
            ("2", 2.0),
            ("1.5", 1.5),
            ("256Mi", 268_435_456.0),
            ("1G", 1e9),
            ("1e3", 1e3),
        ] {
            assert_eq!(quantity("f", text).unwrap(), value, "{text}");
        }
        for bad in ["", "abc", "1Xi", "-1", "1e"] {
            assert!(quantity("f", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_quota_must_admit_the_server_at_its_largest() {
        let redis = "  storage: {redis: {urlSecretRef: {name: r, key: url}}}\n";
        // 4 replicas + 1 surge, 1 CPU each by default, against the default quota of 4.
        let err = error(&format!("server:\n  replicas: 4\n{redis}"));
        assert_eq!(
            err,
            "spec.quota.cpu: 4 is less than the 5 × 1 the server pods can use at once"
        );
        validate_tenant(&mk_tenant(&format!("server:\n  replicas: 3\n{redis}"))).unwrap();
        let err = error(&format!(
            "server:\n  autoscaling: {{minReplicas: 2, maxReplicas: 30}}\n{redis}quota: {{cpu: '100', memory: 100Gi}}\n"
        ));
        assert_eq!(
            err,
            "spec.quota.pods: 20 is fewer than the 31 server pods that can run at once"
        );
        let err = error("quota: {memory: 200Mi}\n");
        assert!(err.starts_with("spec.quota.memory: 200Mi is less than"), "{err}");
        let err = error("server:\n  storage: {embedded: {size: 20Gi}}\n");
        assert_eq!(
            err,
            "spec.quota.storage: 10Gi is less than the embedded store's 20Gi volume"
        );
        let err = error("server:\n  resources: {requests: {cpu: '2'}, limits: {cpu: '1'}}\n");
        assert_eq!(
            err,
            "spec.server.resources.requests.cpu: must not exceed the limit 1"
        );
        let err = error("quota: {cpu: lots}\n");
        assert!(
            err.starts_with("spec.quota.cpu: \"lots\" is not a Kubernetes quantity"),
            "{err}"
        );
    }

    #[test]
    fn trusted_proxies_must_be_networks() {
        let proxies = |list: &str| {
            format!(
                "network:\n  host: a.example.com\n  gateway: {{parentRefs: [{{name: g, namespace: n}}]}}\n  trustedProxies: {list}\n"
            )
        };
        let spec = |list: &str| -> McpTenantSpec {
            serde_saphyr::from_str(&format!(
                "identity:\n  upstream: {{issuer: 'https://idp.example.com', clientId: a, clientSecretRef: {{name: s, key: k}}}}\n{}",
                proxies(list)
            ))
            .unwrap()
        };
        for good in [
            "[]",
            "[10.244.0.0/16, 35.191.0.0/16, 192.0.2.7, 'fd00::/8', '2001:db8::7']",
        ] {
            validate_tenant(&McpTenant::new("c", spec(good))).unwrap();
        }
        for (bad, field, reason) in [
            (
                "[10.0.0.0/8, 10.0.0.0/33]",
                "spec.network.trustedProxies[1]",
                "prefix length",
            ),
            (
                "[10.244.1.0/16]",
                "spec.network.trustedProxies[0]",
                "the network is 10.244.0.0/16",
            ),
            (
                "['fd00::1/8']",
                "spec.network.trustedProxies[0]",
                "the network is fd00::/8",
            ),
            (
                "[10.0.0.300]",
                "spec.network.trustedProxies[0]",
                "not an IPv4 or IPv6 address",
            ),
        ] {
            let err = validate_tenant(&McpTenant::new("c", spec(bad))).unwrap_err();
            assert_eq!(err.field, field, "{bad}");
            assert!(err.message.contains(reason), "{bad}: {err}");
        }
    }

    #[test]
    fn limits_need_a_period() {
        assert_eq!(
            error("limits:\n  perUser: {requests: 10, period: 0s}\n"),
            "spec.limits.perUser.period: must be longer than 0s"
        );
    }
}
