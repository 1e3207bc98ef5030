//! The tenant configuration contract.
//!
//! The operator writes a [`TenantConfig`] into each tenant's ConfigMap and the key material in
//! [`keys`] formats into its Secret; the tenant server reads both. Keeping one definition here means
//! the two sides cannot drift, and the operator does not compile the server.

pub mod ca;
pub mod catalog;
mod cidr;
mod duration;
pub mod keys;
mod policy;
pub mod rules;
mod tenant;

pub use cidr::{CIDR_PATTERN, Cidr, CidrError, DEFAULT_TRUSTED_PROXIES, MAX_TRUSTED_PROXIES};
pub use duration::{DURATION_PATTERN, DurationError, HumanDuration};
pub use policy::{
    AccessTier, DNS_LABEL, IdentityMode, RateLimit, RateLimits, TOOL_PATTERN, TokenLifetimes, ToolSets,
};
pub use tenant::{
    AccessConfig, CONFIG_API_VERSION, CONFIG_FILE, ConfigError, Environment, GraphConfig, HEALTH_PATH,
    HTTP_PORT, IdentityConfig, KeysConfig, MAX_CONFIG_BYTES, METRICS_PORT, READY_PATH, ServerConfig,
    ServiceAccountConfig, StorageConfig, TenantConfig, TenantInfo, UpstreamConfig, default_trusted_proxies,
};
