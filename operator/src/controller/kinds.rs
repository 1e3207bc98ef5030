//! Every kind of child the controller applies and watches.

use k8s_openapi::api::{
    core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota, Service, ServiceAccount},
    networking::v1::NetworkPolicy,
};
use kube::core::ApiResource;

use crate::build::prunable_resources;

/// API groups whose kinds exist only when their CRDs are installed.
pub const OPTIONAL_GROUPS: [&str; 2] = ["gateway.networking.k8s.io", "monitoring.coreos.com"];

/// Every child kind: those every tenant has, then the optional ones the builders may leave out.
pub fn child_resources() -> Vec<ApiResource> {
    let mut kinds = vec![
        ApiResource::erase::<Namespace>(&()),
        ApiResource::erase::<ResourceQuota>(&()),
        ApiResource::erase::<LimitRange>(&()),
        ApiResource::erase::<NetworkPolicy>(&()),
        ApiResource::erase::<ServiceAccount>(&()),
        ApiResource::erase::<ConfigMap>(&()),
        ApiResource::erase::<Service>(&()),
    ];
    kinds.extend(prunable_resources());
    kinds
}
