//! The build step of the pipeline, pure: a [`ValidatedTenant`] plus the operator's defaults in, the complete list of
//! the tenant's child objects out. No client here; the controller applies what this returns with
//! server-side apply under [`FIELD_MANAGER`] and prunes the [`prunable_resources`] it did not get.

mod config;
mod exposure;
mod meta;
mod monitoring;
mod namespace;
mod network_policy;
mod pod;
pub(crate) mod quota;
mod service;
pub(crate) mod workload;

use kube::core::{ApiResource, DynamicObject};

pub use config::{
    CA_MOUNT_DIR, CONFIG_MOUNT_DIR, DATA_MOUNT_DIR, KEYS_MOUNT_DIR, SECRETS_MOUNT_DIR, build_tenant_config,
    ca_bundle_file, ca_bundles, config_checksum, config_map_file_path, referenced_config_maps,
    referenced_secrets, secret_file_path,
};
pub use meta::{COMPONENT_LABEL, CONTAINER_NAME, SERVER_NAME, selector_labels, tenant_labels};
pub use monitoring::{ALERT_NAMES, RUNBOOK_BASE_URL};

pub use crate::defaults::OperatorDefaults;
use crate::{api::McpTenant, validate::ValidatedTenant};

/// The one field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "mcp-tenancy-operator";
/// Label on every child; its value is the McpTenant name.
pub const TENANT_LABEL: &str = "mcptenancy.dev/tenant";
/// Secret with the tenant's signing and encryption keys; the controller creates it, the workload
/// mounts it.
pub const KEYS_SECRET_NAME: &str = "mcp-tenant-keys";
/// ConfigMap holding [`mcp_tenancy_config::CONFIG_FILE`].
pub const CONFIG_MAP_NAME: &str = "mcp-tenant-config";
/// Pod template annotation: digest of the Secrets the server reads, so a change rolls the pods.
pub const SECRETS_CHECKSUM_ANNOTATION: &str = "mcptenancy.dev/secrets-checksum";
/// Pod template annotation: SHA-256 of the config document, so a change rolls the pods.
pub const CONFIG_CHECKSUM_ANNOTATION: &str = "mcptenancy.dev/config-checksum";

/// Everything the builders need; none of it comes from the API server except what the controller
/// already read.
pub struct BuildInput<'a> {
    pub tenant: ValidatedTenant<'a>,
    pub defaults: &'a OperatorDefaults,
    /// Digest the controller computed from the key Secret and the referenced Secrets.
    pub secrets_checksum: &'a str,
    /// Whether the ServiceMonitor and PrometheusRule CRDs exist; the children are made only then.
    pub monitoring_crds_installed: bool,
}

/// What a child is to the tenant: how the controller tells its children apart (which one to
/// observe for status, after which one the key Secret is written), never by kind strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildRole {
    /// The tenant namespace; everything else lives in it.
    Namespace,
    /// ResourceQuota, LimitRange and NetworkPolicy: what keeps the tenant apart.
    Isolation,
    /// The server's ServiceAccount.
    ServiceAccount,
    /// The ConfigMap with the tenant config.
    Config,
    /// The Service in front of the server pods.
    Service,
    /// The Deployment or StatefulSet running the server.
    Workload,
    /// The PodDisruptionBudget.
    DisruptionBudget,
    /// The HorizontalPodAutoscaler.
    Autoscaler,
    /// How users reach the tenant.
    Exposure(ExposureKind),
    /// ServiceMonitor and PrometheusRule.
    Monitoring,
}

/// The exposure child's kind, which decides how its status is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExposureKind {
    HttpRoute,
    Ingress,
}

/// One object to apply.
pub struct Child {
    pub role: ChildRole,
    pub resource: ApiResource,
    pub namespaced: bool,
    /// apiVersion, kind, metadata.name/namespace/labels/ownerReferences are set.
    pub object: DynamicObject,
}

/// Why the children of a validated tenant cannot be built: the tenant config's own checks
/// refuse it (the spec needs a change), or a builder's object does not convert.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("the tenant config is invalid: {0}")]
    Config(#[from] mcp_tenancy_config::ConfigError),
    #[error("the Graph base URL does not parse: {0}")]
    GraphUrl(url::ParseError),
    #[error("cannot convert {kind} to a dynamic object: {source}")]
    Convert { kind: String, source: serde_json::Error },
}

/// Every child of the tenant, ordered so that applying in order works: the Namespace first, its
/// quota and network policy before any pod, the workload after its config, exposure last.
pub fn build_children(input: &BuildInput) -> Result<Vec<Child>, BuildError> {
    let ctx = meta::Context::new(&input.tenant);
    let config = build_tenant_config(&input.tenant, input.defaults)?;
    let config_yaml = config.to_yaml()?;
    let spec = &input.tenant.tenant.spec;

    let mut children = vec![
        namespace::build_namespace(&ctx)?,
        quota::build_resource_quota(&ctx)?,
        quota::build_limit_range(&ctx)?,
        network_policy::build_network_policy(&ctx, input.defaults)?,
        namespace::build_service_account(&ctx)?,
        config::build_config_map(&ctx, &config_yaml)?,
        service::build_service(&ctx)?,
    ];
    let checksums = pod::Checksums {
        config: &config_checksum(&config_yaml),
        secrets: input.secrets_checksum,
    };
    children.push(workload::build_workload(&ctx, input.defaults, &checksums)?);
    if workload::wants_disruption_budget(spec) {
        children.push(workload::build_pod_disruption_budget(&ctx)?);
    }
    if let Some(hpa) = workload::build_autoscaler(&ctx)? {
        children.push(hpa);
    }
    children.push(exposure::build_exposure(&ctx, input.tenant.exposure)?);
    if input.monitoring_crds_installed {
        if spec.monitoring.service_monitor {
            children.push(monitoring::build_service_monitor(&ctx)?);
        }
        if spec.monitoring.alerts.enabled {
            children.push(monitoring::build_prometheus_rule(&ctx)?);
        }
    }
    Ok(children)
}

/// The tenant namespace: `spec.namespace`, or `mcp-<name>`.
pub fn tenant_namespace(tenant: &McpTenant) -> String {
    match &tenant.spec.namespace {
        Some(ns) => ns.clone(),
        None => format!("mcp-{}", tenant.metadata.name.as_deref().unwrap_or_default()),
    }
}

/// The URL users connect to (the MCP endpoint is `<url>/mcp`).
pub fn public_url(tenant: &McpTenant) -> String {
    format!("https://{}", tenant.spec.network.host)
}

/// Kinds that some specs have and others not. The controller deletes, by [`TENANT_LABEL`], those
/// of a tenant that the latest build did not return.
pub fn prunable_resources() -> Vec<ApiResource> {
    vec![
        workload::deployment_resource(),
        workload::stateful_set_resource(),
        workload::pdb_resource(),
        workload::hpa_resource(),
        exposure::http_route_resource(),
        exposure::ingress_resource(),
        monitoring::service_monitor_resource(),
        monitoring::prometheus_rule_resource(),
    ]
}
