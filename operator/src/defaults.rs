//! What a tenant gets where its spec says nothing: the builders apply these, `validate` and the
//! CRD's quota rule reason with them, and the spec's doc comments name them.

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
