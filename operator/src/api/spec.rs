use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::ResourceRequirements,
    apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::LabelSelector},
};
use kube::{CustomResource, KubeSchema};
use mcp_tenancy_config::{
    AccessTier, CIDR_PATTERN, DNS_LABEL, IdentityMode, MAX_TRUSTED_PROXIES, RateLimits, TOOL_PATTERN,
    TokenLifetimes, ToolSets, catalog,
    rules::{cidr_or_address, known_tool_pattern, with_item_rules, with_rules},
};
use serde::{Deserialize, Serialize};

use super::{McpTenantStatus, rules};

/// Hostname pattern (RFC 1123, lower case, at least two labels).
const HOSTNAME: &str = "^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\.)+[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";
/// An https URL without query or fragment.
const HTTPS_URL: &str = "^https://[^\\s?#]+$";
/// A UUID (Entra ID tenant ids).
const UUID: &str = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/// A Secret or ConfigMap data key.
const SECRET_KEY: &str = "^[-._a-zA-Z0-9]{1,253}$";

/// A tenant: one isolated remote MCP server for Microsoft 365, in its own namespace.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "mcptenancy.dev",
    version = "v1alpha1",
    kind = "McpTenant",
    plural = "mcptenants",
    shortname = "mcpt",
    category = "mcp",
    status = "McpTenantStatus",
    derive = "PartialEq",
    doc = "McpTenant gives one tenant its own isolated remote MCP server for Microsoft 365.",
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Host", type_ = "string", json_path = ".spec.network.host"),
    printcolumn(name = "Replicas", type_ = "integer", json_path = ".status.readyReplicas"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("self.metadata.name.size() <= 58").message("metadata.name: at most 58 characters, so that mcp-<name> is a valid namespace")
)]
#[schemars(transform = with_rules(rules::spec()))]
#[serde(rename_all = "camelCase")]
pub struct McpTenantSpec {
    /// Human name of the tenant, shown by the server and in its sign-in pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub display_name: Option<String>,
    /// Namespace the tenant lives in; defaults to `mcp-<name>`. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = DNS_LABEL),
        transform = with_rules(rules::namespace())
    )]
    pub namespace: Option<String>,
    /// What deleting the McpTenant does: `Retain` (default) keeps the namespace, keys and store
    /// so that re-applying the same tenant adopts them; `Delete` removes the namespace.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Scale the server to zero and keep everything else.
    #[serde(default)]
    pub suspend: bool,
    /// The tenant server workload.
    #[serde(default)]
    pub server: ServerSpec,
    /// How users and clients authenticate.
    pub identity: IdentitySpec,
    /// Role-based tool access.
    #[serde(default)]
    pub access: AccessSpec,
    /// Which tools the server offers.
    #[serde(default)]
    pub tools: ToolSets,
    /// Rate limits.
    #[serde(default)]
    pub limits: RateLimits,
    /// Host name, exposure and who may connect.
    pub network: NetworkSpec,
    /// Prometheus scraping and alerts.
    #[serde(default)]
    pub monitoring: MonitoringSpec,
    /// ResourceQuota of the tenant namespace.
    #[serde(default)]
    pub quota: QuotaSpec,
    /// Signing key rotation.
    #[serde(default)]
    pub keys: KeysSpec,
}

/// What happens to the tenant namespace when the McpTenant is deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum DeletionPolicy {
    /// Keep the namespace, keys and store; re-applying the tenant adopts them.
    #[default]
    Retain,
    /// Delete the namespace and everything in it.
    Delete,
}

/// The tenant server workload.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(transform = with_rules(rules::server()))]
#[serde(rename_all = "camelCase")]
pub struct ServerSpec {
    /// Container image of `mcp-tenant-server`; defaults to the operator's `--server-image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,
    /// Fixed number of server pods (default 1). A PodDisruptionBudget is added above 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 50))]
    pub replicas: Option<i32>,
    /// Scale on CPU with a HorizontalPodAutoscaler instead of a fixed replica count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<AutoscalingSpec>,
    /// Container resources; defaults to 50m/64Mi requests and 1 CPU/256Mi limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = bounded_resources)]
    pub resources: Option<ResourceRequirements>,
    /// Where sessions, tokens and Graph refresh tokens are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSpec>,
}

/// HorizontalPodAutoscaler settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[x_kube(validation = Rule::new("self.minReplicas <= self.maxReplicas").message("minReplicas must not exceed maxReplicas"))]
#[serde(rename_all = "camelCase")]
pub struct AutoscalingSpec {
    #[schemars(range(min = 1, max = 50))]
    pub min_replicas: i32,
    #[schemars(range(min = 1, max = 100))]
    pub max_replicas: i32,
    /// Average CPU utilization (percent of requests) to aim for.
    #[serde(default = "default_cpu_target")]
    #[schemars(range(min = 10, max = 100))]
    pub target_cpu_utilization_percent: i32,
}

fn default_cpu_target() -> i32 {
    70
}

/// Exactly one store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.embedded) != has(self.redis)").message("set exactly one of embedded or redis"))]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// A file on a PersistentVolume (StatefulSet, one replica). The default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedded: Option<EmbeddedStorage>,
    /// A Redis server shared by any number of replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisStorage>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[x_kube(validation = Rule::new("self == oldSelf")
    .message("embedded storage is immutable: a StatefulSet's volume cannot be resized or moved in place"))]
#[serde(rename_all = "camelCase")]
pub struct EmbeddedStorage {
    /// Size of the volume (default 1Gi).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxLength" = 64), transform = with_rules(rules::quantity()))]
    pub size: Option<Quantity>,
    /// StorageClass of the volume; the cluster default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub storage_class_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedisStorage {
    /// Secret key holding the Redis URL (`redis://` or `rediss://`, with credentials).
    pub url_secret_ref: SecretKeyRef,
    /// PEM bundle of CAs trusted for `rediss://` besides the system roots, for a Redis behind a
    /// private CA. The server reads it at start; the operator rolls the pods when it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<CaBundleRef>,
}

/// A key of a Secret in the tenant namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Secret name, in the tenant namespace.
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN))]
    pub name: String,
    /// Key within the Secret.
    #[schemars(length(max = 253), regex(pattern = SECRET_KEY))]
    pub key: String,
}

/// A key of a ConfigMap in the tenant namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapKeyRef {
    /// ConfigMap name, in the tenant namespace.
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN))]
    pub name: String,
    /// Key within the ConfigMap (`data` or `binaryData`).
    #[schemars(length(max = 253), regex(pattern = SECRET_KEY))]
    pub key: String,
}

/// PEM certificates of private CAs (those that signed an issuer's or Redis's TLS certificate),
/// trusted besides the system roots. Exactly one source; a ConfigMap is where trust-manager or
/// OpenShift's CA injection put bundles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.configMapKeyRef) != has(self.secretKeyRef)")
    .message("set exactly one of configMapKeyRef or secretKeyRef"))]
#[serde(rename_all = "camelCase")]
pub struct CaBundleRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<ConfigMapKeyRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeyRef>,
}

/// RFC 1123 subdomain (object names).
const DNS_SUBDOMAIN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// How users and clients authenticate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[x_kube(validation = Rule::new("(self.mode == 'External') == has(self.external)")
    .message("external is required in External mode and not allowed in Builtin mode"))]
#[serde(rename_all = "camelCase")]
pub struct IdentitySpec {
    /// `Builtin` (default): the server is the OAuth authorization server for MCP clients and signs
    /// users in upstream. `External`: tokens come from an external authorization server.
    #[serde(default)]
    pub mode: IdentityMode,
    /// The Microsoft 365 application (Entra ID app registration or any OpenID provider): signs users
    /// in (Builtin) and obtains their Graph tokens (both modes; on-behalf-of in External).
    pub upstream: UpstreamIdentity,
    /// The external authorization server (External mode only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalIdentity>,
    /// Entra ID tenant ids (`tid` claim) allowed to sign in; empty allows every tenant the
    /// issuer signs for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 64),
        inner(length(max = 36), regex(pattern = UUID)),
        transform = with_rules(rules::unique_tenant_ids())
    )]
    pub allowed_tenant_ids: Vec<String>,
    /// Token claim holding the user's roles (default `roles`).
    #[serde(default = "default_role_claim")]
    #[schemars(length(min = 1, max = 128))]
    pub role_claim: String,
    /// Lifetimes of tokens the built-in authorization server issues.
    #[serde(default)]
    pub token_lifetimes: TokenLifetimes,
    /// CA bundle for issuers (upstream and external) whose certificates a private CA signed.
    /// The server reads it at start; the operator rolls the pods when it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<CaBundleRef>,
}

fn default_role_claim() -> String {
    "roles".into()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamIdentity {
    /// OpenID issuer, e.g. `https://login.microsoftonline.com/<tenant-id>/v2.0`.
    #[schemars(length(max = 512), regex(pattern = HTTPS_URL), transform = with_rules(rules::https_url()))]
    pub issuer: String,
    /// Application (client) id.
    #[schemars(length(min = 1, max = 256))]
    pub client_id: String,
    /// Secret key holding the client secret.
    pub client_secret_ref: SecretKeyRef,
    /// Delegated Microsoft Graph scopes to request. Unset (recommended): the scopes of the tools
    /// the tenant offers, computed by the operator: `openid profile offline_access User.Read` and
    /// each offered tool's permissions (docs/tools.md lists them), so a switched-off group or
    /// `tools.readOnly` requests less; `status.graphScopes` shows the result. Set: exactly
    /// these; a tool whose permission is missing fails for every user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), inner(length(min = 1, max = 256)))]
    pub scopes: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalIdentity {
    /// Issuer (`iss`) of the access tokens.
    #[schemars(length(max = 512), regex(pattern = HTTPS_URL), transform = with_rules(rules::https_url()))]
    pub issuer: String,
    /// JWKS URL; discovered from the issuer's metadata when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512), regex(pattern = HTTPS_URL), transform = with_rules(rules::https_url()))]
    pub jwks_uri: Option<String>,
    /// Accepted `aud` values besides the server's own URL (e.g. `api://<app-id>`).
    #[schemars(length(min = 1, max = 16), inner(length(min = 1, max = 512)))]
    pub audiences: Vec<String>,
}

/// Role-based tool access.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessSpec {
    /// Tiers that map roles to tools. Without tiers, every signed-in user of an allowed tenant may
    /// call every offered tool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub tiers: Vec<AccessTier>,
    /// Machine clients using the client_credentials grant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub service_accounts: Vec<ServiceAccountSpec>,
}

/// A machine client and the tools it may call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.clientId) || has(self.clientSecretRef)")
    .message("set clientId (External mode) or clientSecretRef (Builtin mode)"))]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountSpec {
    /// Name; in Builtin mode also the client_id.
    #[schemars(length(min = 1, max = 63), regex(pattern = DNS_LABEL))]
    pub name: String,
    /// External mode: the client id the external issuer puts in `azp`, `appid` or `client_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub client_id: Option<String>,
    /// Builtin mode: Secret key holding the client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_ref: Option<SecretKeyRef>,
    /// Tools it may call: exact names, prefixes such as `mail_*`, or `*`.
    #[schemars(
        length(min = 1, max = 64),
        inner(length(max = 65), regex(pattern = TOOL_PATTERN)),
        transform = with_item_rules(vec![known_tool_pattern()])
    )]
    pub tools: Vec<String>,
}

/// Host name, exposure and network access.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.gateway) != has(self.ingress)").message("set exactly one of gateway or ingress"))]
#[serde(rename_all = "camelCase")]
pub struct NetworkSpec {
    /// Public host name; users connect to `https://<host>/mcp`.
    #[schemars(length(min = 3, max = 253), regex(pattern = HOSTNAME), transform = with_rules(rules::host()))]
    pub host: String,
    /// Expose through a Gateway API HTTPRoute attached to the platform's Gateway (TLS at its
    /// listener). Preferred.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayExposure>,
    /// Expose through a classic Ingress with TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressExposure>,
    /// Browser origins allowed to call the server (CORS), e.g. `https://claude.ai`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 32),
        inner(length(max = 256), regex(pattern = "^https?://[^/\\s]+$")),
        transform = with_item_rules(rules::origin())
    )]
    pub allowed_origins: Vec<String>,
    /// Who may reach the server pods. Default: the namespaces of the parent Gateways, or the
    /// operator's ingress controller namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub ingress_from: Vec<NetworkPeer>,
    /// Proxies whose `X-Forwarded-For` header the server believes when it keys its per-IP rate
    /// limit: CIDRs or single addresses of the load balancer and the Gateway or Ingress
    /// controller pods in front of it, e.g. `[10.244.0.0/16, 35.191.0.0/16]`. The client is the
    /// rightmost forwarded address that is not one of them. Unset: the operator's default (the
    /// chart's `tenantDefaults.trustedProxies`, by default the private, loopback and link-local
    /// ranges). Empty: never believe the header; every connection is keyed by its own address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = MAX_TRUSTED_PROXIES),
        inner(length(min = 2, max = 49), regex(pattern = CIDR_PATTERN)),
        transform = with_item_rules(vec![cidr_or_address(), rules::no_leading_zero_octet()])
    )]
    pub trusted_proxies: Option<Vec<String>>,
}

/// Gateway API exposure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayExposure {
    /// Gateways (and listeners) the HTTPRoute attaches to.
    #[schemars(length(min = 1, max = 8), transform = with_rules(rules::unique_parent_refs()))]
    pub parent_refs: Vec<GatewayParentRef>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayParentRef {
    /// Gateway name.
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN))]
    pub name: String,
    /// Gateway namespace. Its listeners must allow routes from the tenant namespace.
    #[schemars(length(min = 1, max = 63), regex(pattern = DNS_LABEL))]
    pub namespace: String,
    /// Listener name, e.g. `https`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN))]
    pub section_name: Option<String>,
}

/// Classic Ingress exposure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(transform = with_rules(rules::ingress()))]
#[serde(rename_all = "camelCase")]
pub struct IngressExposure {
    /// IngressClass; the cluster default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub class_name: Option<String>,
    /// TLS for the host.
    pub tls: IngressTls,
    /// Extra annotations for the Ingress controller (at most 32; values at most 4096 bytes).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 32, "additionalProperties" = {"type": "string", "maxLength": 4096}))]
    pub annotations: BTreeMap<String, String>,
}

/// Exactly one TLS source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.issuerRef) != has(self.secretName)").message("set exactly one of issuerRef or secretName"))]
#[serde(rename_all = "camelCase")]
pub struct IngressTls {
    /// A cert-manager issuer that issues the certificate (Issuer in the tenant namespace, or
    /// ClusterIssuer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_ref: Option<IssuerRef>,
    /// An existing `kubernetes.io/tls` Secret in the tenant namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN))]
    pub secret_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuerRef {
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN))]
    pub name: String,
    #[serde(default)]
    pub kind: IssuerKind,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum IssuerKind {
    #[default]
    ClusterIssuer,
    Issuer,
}

/// A source of traffic allowed to reach the server pods.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.namespaceSelector) || has(self.podSelector)").message("set namespaceSelector, podSelector or both"))]
#[serde(rename_all = "camelCase")]
pub struct NetworkPeer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
}

/// Prometheus scraping and alerting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringSpec {
    /// Create a ServiceMonitor (needs the Prometheus operator CRDs).
    #[serde(default = "yes")]
    pub service_monitor: bool,
    /// Alerting rules (a PrometheusRule).
    #[serde(default)]
    pub alerts: AlertsSpec,
    /// Who may scrape the metrics port. Default: the operator's monitoring namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub scrape_from: Vec<NetworkPeer>,
}

fn yes() -> bool {
    true
}

impl McpTenantSpec {
    /// The delegated Graph scopes the tenant requests: `identity.upstream.scopes` when set,
    /// otherwise those of the tools it offers.
    pub fn graph_scopes(&self) -> Vec<String> {
        match &self.identity.upstream.scopes {
            Some(scopes) => scopes.clone(),
            None => catalog::required_scopes(self.tools.offered())
                .into_iter()
                .map(String::from)
                .collect(),
        }
    }
}

impl Default for MonitoringSpec {
    fn default() -> Self {
        Self {
            service_monitor: true,
            alerts: AlertsSpec::default(),
            scrape_from: Vec::new(),
        }
    }
}

/// Alert thresholds. Each alert fires after its condition holds for 5 to 10 minutes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertsSpec {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Fraction of tool calls that fail (0 to 1).
    #[serde(default = "default_error_ratio")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub error_ratio: f64,
    /// 95th percentile tool call latency, in seconds.
    #[serde(default = "default_p95")]
    #[schemars(range(min = 0.01, max = 600.0))]
    pub p95_latency_seconds: f64,
    /// Authentication failures per second.
    #[serde(default = "default_auth_failures")]
    #[schemars(range(min = 0.0, max = 100000.0))]
    pub auth_failures_per_second: f64,
    /// Rate-limited requests per second.
    #[serde(default = "default_rate_limited")]
    #[schemars(range(min = 0.0, max = 100000.0))]
    pub rate_limited_per_second: f64,
    /// Microsoft Graph throttled (429) or failed (5xx) requests per second.
    #[serde(default = "default_graph_errors")]
    #[schemars(range(min = 0.0, max = 100000.0))]
    pub graph_errors_per_second: f64,
}

fn default_error_ratio() -> f64 {
    0.05
}
fn default_p95() -> f64 {
    5.0
}
fn default_auth_failures() -> f64 {
    1.0
}
fn default_rate_limited() -> f64 {
    5.0
}
fn default_graph_errors() -> f64 {
    1.0
}

impl Default for AlertsSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            error_ratio: default_error_ratio(),
            p95_latency_seconds: default_p95(),
            auth_failures_per_second: default_auth_failures(),
            rate_limited_per_second: default_rate_limited(),
            graph_errors_per_second: default_graph_errors(),
        }
    }
}

/// Namespace ResourceQuota (and the LimitRange defaults that make it usable).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaSpec {
    /// Total CPU limits in the namespace (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxLength" = 64), transform = with_rules(rules::quantity()))]
    pub cpu: Option<Quantity>,
    /// Total memory limits in the namespace (default 4Gi).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxLength" = 64), transform = with_rules(rules::quantity()))]
    pub memory: Option<Quantity>,
    /// Total storage requests (default 10Gi).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxLength" = 64), transform = with_rules(rules::quantity()))]
    pub storage: Option<Quantity>,
    /// Maximum pods (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub pods: Option<i32>,
}

/// Signing key rotation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeysSpec {
    /// Change this value (e.g. to today's date) to rotate the signing key. The previous key keeps
    /// verifying tokens until the longest token lifetime has passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub rotation_request: Option<String>,
}

/// `ResourceRequirements` with the bounds the quota rule's cost estimate needs: at most 16
/// resources per map, quantities of at most 64 characters, at most 8 claims.
fn bounded_resources(schema: &mut schemars::Schema) {
    for map in ["limits", "requests"] {
        if let Some(node) = schema
            .pointer_mut(&format!("/properties/{map}"))
            .and_then(|n| n.as_object_mut())
        {
            node.insert("maxProperties".into(), 16.into());
            if let Some(values) = node
                .get_mut("additionalProperties")
                .and_then(|v| v.as_object_mut())
            {
                values.insert("maxLength".into(), 64.into());
            }
            node.insert("x-kubernetes-validations".into(), rules::quantity_map().into());
        }
    }
    if let Some(claims) = schema
        .pointer_mut("/properties/claims")
        .and_then(|n| n.as_object_mut())
    {
        claims.insert("maxItems".into(), 8.into());
    }
}
