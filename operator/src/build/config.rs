//! The tenant config (the contract the server reads) and the ConfigMap that carries it.
//!
//! Secrets never enter the config: it names the files where the workload mounts them.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
};

use aws_lc_rs::digest;
use k8s_openapi::api::core::v1::ConfigMap;
use mcp_tenancy_config::{
    AccessConfig, CONFIG_API_VERSION, CONFIG_FILE, Environment, GraphConfig, IdentityConfig, KeysConfig,
    ServerConfig, ServiceAccountConfig, StorageConfig, TenantConfig, TenantInfo, UpstreamConfig,
    keys::{ENCRYPTION_KEY_FILE, SIGNING_KEYS_FILE},
};
use url::Url;

use super::{
    BuildError, CONFIG_MAP_NAME, Child, ChildRole, OperatorDefaults,
    meta::{Context, SERVER, SERVER_NAME, typed_child},
    tenant_namespace,
};
use crate::{
    api::{CaBundleRef, ConfigMapKeyRef, McpTenantSpec, SecretKeyRef},
    validate::ValidatedTenant,
};

/// Where the ConfigMap is mounted; the server reads `<dir>/tenant.yaml`.
pub const CONFIG_MOUNT_DIR: &str = "/etc/mcp-tenant/config";
/// Where the key Secret is mounted.
pub const KEYS_MOUNT_DIR: &str = "/etc/mcp-tenant/keys";
/// Where each referenced Secret is mounted, one directory per Secret.
pub const SECRETS_MOUNT_DIR: &str = "/etc/mcp-tenant/secrets";
/// Where each referenced ConfigMap (a CA bundle's) is mounted, one directory per ConfigMap.
pub const CA_MOUNT_DIR: &str = "/etc/mcp-tenant/ca";
/// The embedded store's volume.
pub const DATA_MOUNT_DIR: &str = "/var/lib/mcp-tenant";

const GRAPH_BASE_URL: &str = "https://graph.microsoft.com";
const GRAPH_API_VERSION: &str = "v1.0";

/// The file in which the server finds a referenced Secret key.
pub fn secret_file_path(secret: &SecretKeyRef) -> PathBuf {
    PathBuf::from(SECRETS_MOUNT_DIR)
        .join(&secret.name)
        .join(&secret.key)
}

/// The file in which the server finds a referenced ConfigMap key.
pub fn config_map_file_path(config_map: &ConfigMapKeyRef) -> PathBuf {
    PathBuf::from(CA_MOUNT_DIR)
        .join(&config_map.name)
        .join(&config_map.key)
}

/// The file in which the server finds a CA bundle: a Secret key is mounted with the other
/// Secrets, a ConfigMap key with the other ConfigMaps. `None` for a bundle without a source,
/// which the CRD refuses.
pub fn ca_bundle_file(bundle: &CaBundleRef) -> Option<PathBuf> {
    match (&bundle.config_map_key_ref, &bundle.secret_key_ref) {
        (Some(config_map), _) => Some(config_map_file_path(config_map)),
        (None, Some(secret)) => Some(secret_file_path(secret)),
        (None, None) => None,
    }
}

/// Every CA bundle the spec names, with the field that names it (for messages).
pub fn ca_bundles(spec: &McpTenantSpec) -> impl Iterator<Item = (&'static str, &CaBundleRef)> {
    let redis = spec
        .server
        .storage
        .as_ref()
        .and_then(|s| s.redis.as_ref())
        .and_then(|r| r.ca_bundle.as_ref());
    [
        ("spec.identity.caBundle", spec.identity.ca_bundle.as_ref()),
        ("spec.server.storage.redis.caBundle", redis),
    ]
    .into_iter()
    .filter_map(|(field, bundle)| Some((field, bundle?)))
}

/// Hex SHA-256 of the config document; on the pod template so that a config change rolls the pods.
pub fn config_checksum(config_yaml: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, config_yaml.as_bytes()))
}

/// The config the tenant server reads, valid per [`TenantConfig::validate`].
pub fn build_tenant_config(
    validated: &ValidatedTenant,
    defaults: &OperatorDefaults,
) -> Result<TenantConfig, BuildError> {
    let tenant = validated.tenant;
    let spec = &tenant.spec;
    let name = validated.name.to_owned();
    let url = validated.urls.public.clone();
    let namespace = tenant_namespace(tenant);
    let identity = &spec.identity;

    let (issuer, jwks_uri, mut audiences) = match (&validated.urls.external, &identity.external) {
        (Some((issuer, jwks_uri)), Some(external)) => {
            (issuer.clone(), jwks_uri.clone(), external.audiences.clone())
        }
        _ => (url.clone(), None, Vec::new()),
    };
    // The server's own URL and its MCP endpoint are always accepted audiences: clients send
    // either as the RFC 8707 resource indicator.
    let base = url.as_str().trim_end_matches('/');
    audiences.splice(0..0, [base.to_string(), format!("{base}/mcp")]);
    let mut seen = BTreeSet::new();
    audiences.retain(|a| seen.insert(a.clone()));

    let config = TenantConfig {
        api_version: CONFIG_API_VERSION.into(),
        tenant: TenantInfo {
            name,
            display_name: spec.display_name.clone(),
        },
        environment: Environment::Production,
        server: ServerConfig {
            allowed_origins: spec.network.allowed_origins.clone(),
            trusted_proxies: spec
                .network
                .trusted_proxies
                .clone()
                .unwrap_or_else(|| defaults.trusted_proxies.clone()),
            ..ServerConfig::new(
                url,
                vec![
                    spec.network.host.clone(),
                    // In-cluster callers (other pods, port-forward tests) use the Service name.
                    SERVER_NAME.to_string(),
                    format!("{SERVER_NAME}.{namespace}.svc"),
                    format!("{SERVER_NAME}.{namespace}.svc.cluster.local"),
                ],
            )
        },
        identity: IdentityConfig {
            mode: identity.mode,
            issuer,
            jwks_uri,
            audiences,
            allowed_tenant_ids: identity.allowed_tenant_ids.clone(),
            role_claim: identity.role_claim.clone(),
            token_lifetimes: identity.token_lifetimes,
            ca_bundle_file: identity.ca_bundle.as_ref().and_then(ca_bundle_file),
            upstream: UpstreamConfig {
                issuer: validated.urls.upstream_issuer.clone(),
                client_id: identity.upstream.client_id.clone(),
                client_secret_file: secret_file_path(&identity.upstream.client_secret_ref),
                scopes: spec.graph_scopes(),
            },
        },
        access: AccessConfig {
            tiers: spec.access.tiers.clone(),
            service_accounts: spec
                .access
                .service_accounts
                .iter()
                .map(|sa| ServiceAccountConfig {
                    name: sa.name.clone(),
                    client_id: sa.client_id.clone(),
                    client_secret_file: sa.client_secret_ref.as_ref().map(secret_file_path),
                    tools: sa.tools.clone(),
                })
                .collect(),
        },
        tools: spec.tools.clone(),
        limits: spec.limits,
        storage: match spec.server.storage.as_ref().and_then(|s| s.redis.as_ref()) {
            Some(redis) => StorageConfig::Redis {
                url_file: secret_file_path(&redis.url_secret_ref),
                ca_bundle_file: redis.ca_bundle.as_ref().and_then(ca_bundle_file),
            },
            None => StorageConfig::Embedded {
                path: PathBuf::from(DATA_MOUNT_DIR).join("store"),
            },
        },
        graph: GraphConfig {
            base_url: Url::parse(GRAPH_BASE_URL).map_err(BuildError::GraphUrl)?,
            api_version: GRAPH_API_VERSION.into(),
        },
        keys: KeysConfig {
            signing_keys_file: PathBuf::from(KEYS_MOUNT_DIR).join(SIGNING_KEYS_FILE),
            encryption_key_file: PathBuf::from(KEYS_MOUNT_DIR).join(ENCRYPTION_KEY_FILE),
        },
    };
    config.validate()?;
    Ok(config)
}

pub(crate) fn build_config_map(ctx: &Context, config_yaml: &str) -> Result<Child, BuildError> {
    typed_child(
        ChildRole::Config,
        &ConfigMap {
            metadata: ctx.meta(CONFIG_MAP_NAME, SERVER),
            data: Some(BTreeMap::from([(
                CONFIG_FILE.to_string(),
                config_yaml.to_string(),
            )])),
            ..ConfigMap::default()
        },
    )
}

/// Every Secret the spec references, with the keys the server reads from it, sorted by name.
pub fn referenced_secrets(spec: &McpTenantSpec) -> BTreeMap<String, BTreeSet<String>> {
    let refs = std::iter::once(&spec.identity.upstream.client_secret_ref)
        .chain(
            spec.access
                .service_accounts
                .iter()
                .filter_map(|sa| sa.client_secret_ref.as_ref()),
        )
        .chain(
            spec.server
                .storage
                .iter()
                .filter_map(|s| s.redis.as_ref())
                .map(|r| &r.url_secret_ref),
        )
        .chain(ca_bundles(spec).filter_map(|(_, b)| b.secret_key_ref.as_ref()))
        .map(|r| (&r.name, &r.key));
    keys_by_name(refs)
}

/// Every ConfigMap the spec references (the CA bundles'), with the keys the server reads, sorted
/// by name. Bundles naming one ConfigMap share its entry.
pub fn referenced_config_maps(spec: &McpTenantSpec) -> BTreeMap<String, BTreeSet<String>> {
    keys_by_name(
        ca_bundles(spec)
            .filter_map(|(_, b)| b.config_map_key_ref.as_ref())
            .map(|r| (&r.name, &r.key)),
    )
}

/// `(object, key)` pairs grouped by object, each key once.
fn keys_by_name<'a>(
    refs: impl Iterator<Item = (&'a String, &'a String)>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut objects: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, key) in refs {
        objects.entry(name.clone()).or_default().insert(key.clone());
    }
    objects
}
