//! Condition types and reasons of `McpTenant.status.conditions`, in one place so that code, tests
//! and documentation agree on the spelling.

/// Every child is applied, keys exist, the server has its ready replicas and it is exposed.
pub const READY: &str = "Ready";
/// The operator is still converging: a rollout is under way or a child is not ready yet.
pub const PROGRESSING: &str = "Progressing";
/// Something needs a person: an invalid spec, a missing Secret, or a namespace or key Secret that
/// belongs to someone else.
pub const DEGRADED: &str = "Degraded";
/// The signing and encryption keys exist.
pub const KEYS_READY: &str = "KeysReady";
/// The HTTPRoute is accepted by its Gateway, or the Ingress has an address.
pub const EXPOSURE_READY: &str = "ExposureReady";
/// The ServiceMonitor and PrometheusRule exist (or monitoring is switched off).
pub const MONITORING_READY: &str = "MonitoringReady";

/// Reasons. Each is CamelCase, as the API conventions require.
pub mod reason {
    pub const RECONCILED: &str = "Reconciled";
    pub const SUSPENDED: &str = "Suspended";
    pub const ROLLING_OUT: &str = "RollingOut";
    pub const WAITING_FOR_PODS: &str = "WaitingForPods";
    pub const AS_EXPECTED: &str = "AsExpected";
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const INVALID_REFERENCE: &str = "InvalidReference";
    pub const KEYS_AVAILABLE: &str = "KeysAvailable";
    pub const KEYS_UNREADABLE: &str = "KeysUnreadable";
    /// `spec.namespace` names an existing namespace without this tenant's label.
    pub const NAMESPACE_CONFLICT: &str = "NamespaceConflict";
    /// The namespace holds a key Secret without this tenant's label.
    pub const KEY_SECRET_CONFLICT: &str = "KeySecretConflict";
    pub const ACCEPTED: &str = "Accepted";
    pub const NOT_ACCEPTED: &str = "NotAccepted";
    pub const PENDING: &str = "Pending";
    pub const ADDRESS_ASSIGNED: &str = "AddressAssigned";
    pub const ADDRESS_PENDING: &str = "AddressPending";
    pub const CRD_NOT_INSTALLED: &str = "CRDNotInstalled";
    pub const DISABLED: &str = "Disabled";
    pub const APPLIED: &str = "Applied";
    pub const NOT_READY: &str = "NotReady";
}
