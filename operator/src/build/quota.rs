//! ResourceQuota and LimitRange: one tenant cannot starve the others, and pods without explicit
//! resources still fit the quota.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::{LimitRange, LimitRangeItem, LimitRangeSpec, ResourceQuota, ResourceQuotaSpec},
    apimachinery::pkg::api::resource::Quantity,
};

use super::{
    BuildError, Child, ChildRole,
    meta::{Context, ISOLATION, typed_child},
};
use crate::defaults;

const QUOTA_NAME: &str = "mcp-tenant-quota";
const LIMIT_RANGE_NAME: &str = "mcp-tenant-limits";

fn quantity(value: Option<&Quantity>, default: &str) -> Quantity {
    value.cloned().unwrap_or_else(|| Quantity(default.into()))
}

pub(crate) fn build_resource_quota(ctx: &Context) -> Result<Child, BuildError> {
    let quota = &ctx.tenant.spec.quota;
    let cpu = quantity(quota.cpu.as_ref(), defaults::QUOTA_CPU);
    let memory = quantity(quota.memory.as_ref(), defaults::QUOTA_MEMORY);
    let hard = BTreeMap::from([
        ("limits.cpu".to_string(), cpu.clone()),
        ("limits.memory".to_string(), memory.clone()),
        ("requests.cpu".to_string(), cpu),
        ("requests.memory".to_string(), memory),
        (
            "requests.storage".to_string(),
            quantity(quota.storage.as_ref(), defaults::QUOTA_STORAGE),
        ),
        (
            "pods".to_string(),
            Quantity(quota.pods.unwrap_or(defaults::QUOTA_PODS).to_string()),
        ),
        // A tenant is reached only through the platform's Gateway or Ingress, never directly.
        ("services.loadbalancers".to_string(), Quantity("0".into())),
        ("services.nodeports".to_string(), Quantity("0".into())),
    ]);
    typed_child(
        ChildRole::Isolation,
        &ResourceQuota {
            metadata: ctx.meta(QUOTA_NAME, ISOLATION),
            spec: Some(ResourceQuotaSpec {
                hard: Some(hard),
                ..ResourceQuotaSpec::default()
            }),
            ..ResourceQuota::default()
        },
    )
}

/// Defaults for containers that state no resources, so that they are admitted under the quota.
pub(crate) fn build_limit_range(ctx: &Context) -> Result<Child, BuildError> {
    let resources = |cpu: &str, memory: &str| {
        BTreeMap::from([
            ("cpu".to_string(), Quantity(cpu.into())),
            ("memory".to_string(), Quantity(memory.into())),
        ])
    };
    typed_child(
        ChildRole::Isolation,
        &LimitRange {
            metadata: ctx.meta(LIMIT_RANGE_NAME, ISOLATION),
            spec: Some(LimitRangeSpec {
                limits: vec![LimitRangeItem {
                    type_: "Container".into(),
                    default: Some(resources(defaults::CPU_LIMIT, defaults::MEMORY_LIMIT)),
                    default_request: Some(resources(defaults::CPU_REQUEST, defaults::MEMORY_REQUEST)),
                    ..LimitRangeItem::default()
                }],
            }),
        },
    )
}
