use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Coarse state of a tenant, for people and printer columns; conditions carry the detail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Phase {
    /// Children are being created or rolled out.
    Provisioning,
    /// Every child exists and the server has its ready replicas.
    Ready,
    /// `spec.suspend` is true: scaled to zero, everything kept.
    Suspended,
    /// Something needs a person: see the `Degraded` condition.
    Degraded,
    /// Deletion in progress.
    Terminating,
}

/// Observed state of an McpTenant.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct McpTenantStatus {
    /// Coarse state; see conditions for the reasons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// `Ready`, `Progressing`, `Degraded`, `KeysReady`, `ExposureReady`, `MonitoringReady`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The generation the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The tenant namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The MCP endpoint users connect their clients to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Ready server pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Which signing key is active; never key material.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<KeyStatus>,
    /// What to register at the upstream OpenID provider (Builtin mode only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityStatus>,
    /// The delegated Microsoft Graph permissions the server requests for its users (both modes):
    /// add these to the upstream application and grant admin consent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub graph_scopes: Vec<String>,
}

/// The tenant server as an OAuth authorization server: the facts the upstream application
/// registration (Entra ID) and MCP clients need.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentityStatus {
    /// The redirect URI to register (platform Web) at the upstream application.
    pub redirect_uri: String,
    /// Issuer of the tokens the server signs; its metadata is at
    /// `<issuer>/.well-known/oauth-authorization-server`.
    pub issuer: String,
}

/// Public facts about the tenant's signing keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyStatus {
    /// Key id (JWK thumbprint) of the key signing new tokens.
    pub active_kid: String,
    /// When the active key was created (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<String>,
    /// Retired keys still accepted for verification.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_kids: Vec<String>,
    /// The `spec.keys.rotationRequest` value last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_rotation_request: Option<String>,
}
