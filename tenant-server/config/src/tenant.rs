//! The tenant configuration: what the operator writes into the tenant's ConfigMap and the tenant
//! server reads at start-up. Secrets are never inside it, only the paths of mounted files.

use std::{net::SocketAddr, path::PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::{
    AccessTier, Cidr, DEFAULT_TRUSTED_PROXIES, HumanDuration, IdentityMode, MAX_TRUSTED_PROXIES, RateLimits,
    TokenLifetimes, ToolSets,
    catalog::{ADMIN_NOT_FOR_SERVICE_ACCOUNTS, ADMIN_TIER_NEEDS_MFA, admin_pattern, pattern_is_known},
};

/// The only config version this build reads; a newer operator that changes the contract bumps it.
pub const CONFIG_API_VERSION: &str = "mcptenancy.dev/config/v1";
/// Key of the config document in the tenant ConfigMap, and its file name when mounted.
pub const CONFIG_FILE: &str = "tenant.yaml";
/// Largest config document accepted (the ConfigMap limit is 1 MiB; real configs are a few KiB).
pub const MAX_CONFIG_BYTES: usize = 256 * 1024;

/// Where the server runs: production refuses every development shortcut.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Environment {
    #[default]
    Production,
    /// Local development: a local signing key may mint tokens and Graph may be a local double.
    Development,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantConfig {
    /// Always [`CONFIG_API_VERSION`].
    pub api_version: String,
    pub tenant: TenantInfo,
    #[serde(default)]
    pub environment: Environment,
    pub server: ServerConfig,
    pub identity: IdentityConfig,
    #[serde(default)]
    pub access: AccessConfig,
    #[serde(default)]
    pub tools: ToolSets,
    #[serde(default)]
    pub limits: RateLimits,
    pub storage: StorageConfig,
    pub graph: GraphConfig,
    pub keys: KeysConfig,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantInfo {
    /// The McpTenant name.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerConfig {
    /// The URL clients use, e.g. `https://contoso.mcp.example.com`; the MCP endpoint is `<url>/mcp`
    /// and it is the audience of every access token.
    pub public_url: Url,
    /// Host header values accepted (the public host and in-cluster Service names).
    pub allowed_hosts: Vec<String>,
    /// Origins allowed for browser clients (CORS and Origin validation).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    #[serde(default = "default_metrics_listen")]
    pub metrics_listen: SocketAddr,
    #[serde(default = "default_max_sessions")]
    pub max_sessions_per_user: u32,
    #[serde(default = "default_idle")]
    pub session_idle_timeout: HumanDuration,
    #[serde(default = "default_request_timeout")]
    pub request_timeout: HumanDuration,
    #[serde(default = "default_max_body")]
    pub max_request_body_bytes: usize,
    /// Proxies (CIDRs or single addresses) whose `X-Forwarded-For` the per-IP rate limit
    /// believes: the load balancer and the Gateway or Ingress controller in front of the server.
    /// The client is the rightmost address that is not one of them. Absent: the private,
    /// loopback and link-local ranges ([`DEFAULT_TRUSTED_PROXIES`], what the server trusted before
    /// the field existed). Empty: never believe `X-Forwarded-For`; the TCP peer is the client.
    #[serde(default = "default_trusted_proxies")]
    pub trusted_proxies: Vec<String>,
}

impl ServerConfig {
    /// A server config with the contract's defaults for everything but the URL and hosts.
    pub fn new(public_url: Url, allowed_hosts: Vec<String>) -> Self {
        Self {
            public_url,
            allowed_hosts,
            allowed_origins: Vec::new(),
            listen: default_listen(),
            metrics_listen: default_metrics_listen(),
            max_sessions_per_user: default_max_sessions(),
            session_idle_timeout: default_idle(),
            request_timeout: default_request_timeout(),
            max_request_body_bytes: default_max_body(),
            trusted_proxies: default_trusted_proxies(),
        }
    }
}

/// Port of the MCP and OAuth endpoints inside the pod.
pub const HTTP_PORT: u16 = 8080;
/// Port of the operations endpoints inside the pod: `/metrics`, [`HEALTH_PATH`] and
/// [`READY_PATH`]. It has no Host check, so the kubelet's probes (Host: the pod IP) reach it.
pub const METRICS_PORT: u16 = 9090;
/// Liveness on the operations port: the process serves requests.
pub const HEALTH_PATH: &str = "/healthz";
/// Readiness on the operations port: keys verify tokens and the store answers.
pub const READY_PATH: &str = "/readyz";

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], HTTP_PORT))
}
fn default_metrics_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], METRICS_PORT))
}
fn default_max_sessions() -> u32 {
    16
}
fn default_idle() -> HumanDuration {
    HumanDuration::from_secs(30 * 60)
}
fn default_request_timeout() -> HumanDuration {
    HumanDuration::from_secs(120)
}
fn default_max_body() -> usize {
    1024 * 1024
}
/// [`DEFAULT_TRUSTED_PROXIES`], the value of `server.trustedProxies` when it is absent.
pub fn default_trusted_proxies() -> Vec<String> {
    DEFAULT_TRUSTED_PROXIES.map(String::from).to_vec()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityConfig {
    pub mode: IdentityMode,
    /// Issuer of the access tokens the server accepts: its own public URL in builtin mode, the
    /// external authorization server in external mode.
    pub issuer: Url,
    /// JWKS of the issuer (external mode); discovered from the issuer when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<Url>,
    /// Accepted `aud` values; the public URL is always one of them.
    pub audiences: Vec<String>,
    /// PEM bundle of CAs trusted besides the system roots for calls to the issuers (external and
    /// upstream): discovery, JWKS and token endpoints. For issuers behind a private CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle_file: Option<PathBuf>,
    /// Allowed Entra ID tenant ids (`tid`); empty allows any tenant the issuer signs for.
    #[serde(default)]
    pub allowed_tenant_ids: Vec<String>,
    /// Claim holding the user's roles.
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    #[serde(default)]
    pub token_lifetimes: TokenLifetimes,
    /// The Microsoft 365 application: signs users in (builtin) and obtains Graph tokens.
    pub upstream: UpstreamConfig,
}

fn default_role_claim() -> String {
    "roles".into()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpstreamConfig {
    pub issuer: Url,
    pub client_id: String,
    /// File holding the client secret (a mounted Secret key).
    pub client_secret_file: PathBuf,
    pub scopes: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessConfig {
    #[serde(default)]
    pub tiers: Vec<AccessTier>,
    #[serde(default)]
    pub service_accounts: Vec<ServiceAccountConfig>,
}

/// A machine client using the client_credentials grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceAccountConfig {
    pub name: String,
    /// External mode: the client id the external issuer puts in `azp`/`appid`/`client_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Builtin mode: file holding the client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<PathBuf>,
    pub tools: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum StorageConfig {
    /// A file on the pod's volume; one replica.
    Embedded { path: PathBuf },
    /// Redis; any number of replicas.
    #[serde(rename_all = "camelCase")]
    Redis {
        /// The file holding the URL (`redis://` or `rediss://`, with the password).
        url_file: PathBuf,
        /// PEM bundle of CAs trusted for `rediss://` besides the system roots (a Redis behind a
        /// private CA).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ca_bundle_file: Option<PathBuf>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GraphConfig {
    /// `https://graph.microsoft.com` in production; a local double in tests and development.
    pub base_url: Url,
    /// `v1.0`.
    pub api_version: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeysConfig {
    /// JSON [`crate::SigningKeySet`].
    pub signing_keys_file: PathBuf,
    /// Base64 AES-256 key.
    pub encryption_key_file: PathBuf,
}

/// A config that cannot be used, with the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config is {0} bytes, larger than the {MAX_CONFIG_BYTES} byte limit")]
    TooLarge(usize),
    #[error("config is not valid YAML for this version: {0}")]
    Parse(String),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// The URLs the server is known by, all derived from `server.publicUrl`.
impl TenantConfig {
    /// The public URL without a trailing slash, e.g. `https://contoso.mcp.example.com`.
    pub fn public_base(&self) -> &str {
        self.server.public_url.as_str().trim_end_matches('/')
    }

    /// The MCP endpoint clients connect to: `<public URL>/mcp`.
    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.public_base())
    }

    /// RFC 9728 metadata URL of the MCP endpoint, named in `WWW-Authenticate`.
    pub fn resource_metadata_url(&self) -> String {
        format!("{}/.well-known/oauth-protected-resource/mcp", self.public_base())
    }

    /// Audiences a token may carry: the configured ones, the public URL and the MCP endpoint URL
    /// (clients send either as their RFC 8707 `resource`).
    pub fn accepted_audiences(&self) -> Vec<String> {
        let mut audiences = self.identity.audiences.clone();
        let base = self.public_base();
        for extra in [base.to_owned(), format!("{base}/"), self.mcp_url()] {
            if !audiences.contains(&extra) {
                audiences.push(extra);
            }
        }
        audiences
    }
}

impl TenantConfig {
    /// Parses and validates a config document.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        if text.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge(text.len()));
        }
        let config: Self = serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Serializes the config as the YAML document the ConfigMap holds.
    pub fn to_yaml(&self) -> Result<String, ConfigError> {
        serde_saphyr::to_string(self).map_err(|e| ConfigError::Parse(e.to_string()))
    }

    /// Checks what the types cannot say.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.api_version != CONFIG_API_VERSION {
            return Err(invalid(
                "apiVersion",
                format!(
                    "this server reads {CONFIG_API_VERSION}, got {:?}",
                    self.api_version
                ),
            ));
        }
        if self.tenant.name.is_empty() {
            return Err(invalid("tenant.name", "must not be empty"));
        }
        let url = &self.server.public_url;
        if url.scheme() != "https"
            && !(self.environment == Environment::Development && url.scheme() == "http")
        {
            return Err(invalid(
                "server.publicUrl",
                "must be https (http only in development)",
            ));
        }
        if url.host_str().is_none() || url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(
                "server.publicUrl",
                "must be an absolute URL without query or fragment",
            ));
        }
        if self.server.allowed_hosts.is_empty() {
            return Err(invalid(
                "server.allowedHosts",
                "must list at least the public host",
            ));
        }
        if self.server.max_sessions_per_user == 0 {
            return Err(invalid("server.maxSessionsPerUser", "must be at least 1"));
        }
        if self.server.max_request_body_bytes < 1024 {
            return Err(invalid("server.maxRequestBodyBytes", "must be at least 1024"));
        }
        for (i, origin) in self.server.allowed_origins.iter().enumerate() {
            let parsed = Url::parse(origin)
                .map_err(|e| invalid(format!("server.allowedOrigins[{i}]"), e.to_string()))?;
            if parsed.origin().ascii_serialization() != origin.trim_end_matches('/') {
                return Err(invalid(
                    format!("server.allowedOrigins[{i}]"),
                    "must be an origin: scheme://host[:port]",
                ));
            }
        }
        if self.server.trusted_proxies.len() > MAX_TRUSTED_PROXIES {
            return Err(invalid(
                "server.trustedProxies",
                format!("at most {MAX_TRUSTED_PROXIES} entries"),
            ));
        }
        for (i, proxy) in self.server.trusted_proxies.iter().enumerate() {
            proxy
                .parse::<Cidr>()
                .map_err(|e| invalid(format!("server.trustedProxies[{i}]"), e.to_string()))?;
        }
        let id = &self.identity;
        if id.audiences.is_empty() {
            return Err(invalid("identity.audiences", "must not be empty"));
        }
        if id.role_claim.is_empty() {
            return Err(invalid("identity.roleClaim", "must not be empty"));
        }
        if id.token_lifetimes.access.as_secs() < 60 || id.token_lifetimes.access > id.token_lifetimes.refresh
        {
            return Err(invalid(
                "identity.tokenLifetimes",
                "access must be at least 1m and not longer than refresh",
            ));
        }
        if id.upstream.client_id.is_empty() {
            return Err(invalid("identity.upstream.clientId", "must not be empty"));
        }
        for (i, tier) in self.access.tiers.iter().enumerate() {
            check_patterns(&format!("access.tiers[{i}].tools"), &tier.tools)?;
            if let Some(j) = admin_pattern(&tier.tools)
                && !tier.require_mfa
            {
                return Err(invalid(
                    format!("access.tiers[{i}].tools[{j}]"),
                    ADMIN_TIER_NEEDS_MFA,
                ));
            }
        }
        for (i, sa) in self.access.service_accounts.iter().enumerate() {
            check_patterns(&format!("access.serviceAccounts[{i}].tools"), &sa.tools)?;
            if let Some(j) = admin_pattern(&sa.tools) {
                return Err(invalid(
                    format!("access.serviceAccounts[{i}].tools[{j}]"),
                    ADMIN_NOT_FOR_SERVICE_ACCOUNTS,
                ));
            }
            let field = format!("access.serviceAccounts[{i}]");
            match id.mode {
                IdentityMode::Builtin if sa.client_secret_file.is_none() => {
                    return Err(invalid(field, "builtin mode needs clientSecretFile"));
                }
                IdentityMode::External if sa.client_id.is_none() => {
                    return Err(invalid(field, "external mode needs clientId"));
                }
                _ => {}
            }
        }
        check_patterns("tools.disabled", &self.tools.disabled)?;
        for (field, limit) in [
            ("limits.perUser", self.limits.per_user),
            ("limits.perIp", self.limits.per_ip),
            ("limits.auth", self.limits.auth),
        ] {
            if limit.requests == 0 || limit.period.as_secs() == 0 {
                return Err(invalid(field, "requests and period must be positive"));
            }
        }
        Ok(())
    }
}

fn check_patterns(field: &str, patterns: &[String]) -> Result<(), ConfigError> {
    for (i, p) in patterns.iter().enumerate() {
        if !pattern_is_known(p) {
            return Err(invalid(
                format!("{field}[{i}]"),
                format!("{p:?} names no known tool"),
            ));
        }
    }
    Ok(())
}
