//! Every default in one place. What a tenant gets where its spec says nothing (the builders apply
//! these, `validate` and the CRD's quota rule reason with them, the spec's doc comments name
//! them), and what tenants inherit from the operator installation ([`OperatorDefaults`], set by
//! the `run` and `render` flags, whose defaults are here too).

/// Server replicas (`spec.server.replicas`).
pub const REPLICAS: i32 = 1;

/// CPU request of the server container (`spec.server.resources`); the LimitRange uses the same.
pub const CPU_REQUEST: &str = "50m";
/// Memory request of the server container.
pub const MEMORY_REQUEST: &str = "64Mi";
/// CPU limit of the server container.
pub const CPU_LIMIT: &str = "1";
/// Memory limit of the server container.
pub const MEMORY_LIMIT: &str = "256Mi";
/// Size of the embedded store's volume (`spec.server.storage.embedded.size`).
pub const STORE_SIZE: &str = "1Gi";

/// Total CPU limits in the namespace (`spec.quota.cpu`).
pub const QUOTA_CPU: &str = "4";
/// Total memory limits in the namespace (`spec.quota.memory`).
pub const QUOTA_MEMORY: &str = "4Gi";
/// Total storage requests in the namespace (`spec.quota.storage`).
pub const QUOTA_STORAGE: &str = "10Gi";
/// Pods in the namespace (`spec.quota.pods`).
pub const QUOTA_PODS: i32 = 20;

/// Image of mcp-tenant-server for tenants that name none (`--server-image`): this release's.
pub const SERVER_IMAGE: &str = concat!(
    "ghcr.io/mcp-tenancy/mcp-tenant-server:",
    env!("CARGO_PKG_VERSION")
);
/// Namespace of the Ingress controller (`--ingress-controller-namespace`).
pub const INGRESS_CONTROLLER_NAMESPACE: &str = "ingress-nginx";
/// Namespace of Prometheus (`--monitoring-namespace`).
pub const MONITORING_NAMESPACE: &str = "monitoring";

/// Settings of the operator installation that tenants inherit unless their spec says otherwise.
#[derive(Clone, Debug)]
pub struct OperatorDefaults {
    /// Image of `mcp-tenant-server` when `spec.server.image` is absent.
    pub server_image: String,
    /// Namespace of the Ingress controller pods, allowed to reach tenants exposed by Ingress.
    pub ingress_controller_namespace: String,
    /// Namespace of Prometheus, allowed to scrape the metrics port.
    pub monitoring_namespace: String,
    /// `server.trustedProxies` when `spec.network.trustedProxies` is unset.
    pub trusted_proxies: Vec<String>,
}
