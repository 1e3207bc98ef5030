//! The server workload and what scales or protects it: a Deployment (Redis store, any number of
//! replicas) or a StatefulSet with a volume (embedded store, one replica), PodDisruptionBudget and
//! HorizontalPodAutoscaler.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{
            Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment, StatefulSet,
            StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
        },
        autoscaling::v2::{
            CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
            MetricTarget, ResourceMetricSource,
        },
        core::v1::{PersistentVolumeClaim, PersistentVolumeClaimSpec, VolumeResourceRequirements},
        policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec},
    },
    apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::ObjectMeta, util::intstr::IntOrString},
};
use kube::core::ApiResource;

use super::{
    BuildError, Child, ChildRole, OperatorDefaults,
    meta::{Context, SERVER, SERVER_NAME, typed_child},
    pod::{self, Checksums, runs_several},
};
use crate::defaults;
use crate::{
    api::{DeletionPolicy, McpTenantSpec},
    validate::uses_redis,
};

/// Fixed replica count; `None` when a HorizontalPodAutoscaler owns it, `0` when suspended.
fn replicas(spec: &McpTenantSpec) -> Option<i32> {
    if spec.suspend {
        Some(0)
    } else if spec.server.autoscaling.is_some() {
        None
    } else {
        Some(spec.server.replicas.unwrap_or(defaults::REPLICAS))
    }
}

pub(crate) fn wants_disruption_budget(spec: &McpTenantSpec) -> bool {
    runs_several(spec)
}

pub(crate) fn deployment_resource() -> ApiResource {
    ApiResource::erase::<Deployment>(&())
}
pub(crate) fn stateful_set_resource() -> ApiResource {
    ApiResource::erase::<StatefulSet>(&())
}
pub(crate) fn pdb_resource() -> ApiResource {
    ApiResource::erase::<PodDisruptionBudget>(&())
}
pub(crate) fn hpa_resource() -> ApiResource {
    ApiResource::erase::<HorizontalPodAutoscaler>(&())
}

pub(crate) fn build_workload(
    ctx: &Context,
    defaults: &OperatorDefaults,
    checksums: &Checksums,
) -> Result<Child, BuildError> {
    let spec = &ctx.tenant.spec;
    let template = pod::pod_template(ctx, defaults, checksums);
    if uses_redis(spec.server.storage.as_ref()) {
        return typed_child(
            ChildRole::Workload,
            &Deployment {
                metadata: ctx.meta(SERVER_NAME, SERVER),
                spec: DeploymentSpec {
                    replicas: replicas(spec),
                    selector: ctx.label_selector(),
                    revision_history_limit: Some(3),
                    // Never below the wanted count during a rollout: a new pod is ready before an old one goes.
                    strategy: Some(DeploymentStrategy {
                        type_: Some("RollingUpdate".into()),
                        rolling_update: Some(RollingUpdateDeployment {
                            max_surge: Some(IntOrString::Int(1)),
                            max_unavailable: Some(IntOrString::Int(0)),
                        }),
                    }),
                    template,
                    ..DeploymentSpec::default()
                },
                ..Deployment::default()
            },
        );
    }
    let embedded = spec
        .server
        .storage
        .as_ref()
        .and_then(|s| s.embedded.clone())
        .unwrap_or_default();
    // The volume follows the tenant's deletion policy, like the namespace.
    let claim_policy = match spec.deletion_policy {
        DeletionPolicy::Retain => "Retain",
        DeletionPolicy::Delete => "Delete",
    };
    typed_child(
        ChildRole::Workload,
        &StatefulSet {
            metadata: ctx.meta(SERVER_NAME, SERVER),
            spec: StatefulSetSpec {
                replicas: replicas(spec),
                selector: ctx.label_selector(),
                // Per-pod DNS names are not used; the Service is the governing name only.
                service_name: Some(SERVER_NAME.into()),
                revision_history_limit: Some(3),
                persistent_volume_claim_retention_policy: Some(
                    StatefulSetPersistentVolumeClaimRetentionPolicy {
                        when_deleted: Some(claim_policy.into()),
                        when_scaled: Some("Retain".into()),
                    },
                ),
                volume_claim_templates: Some(vec![PersistentVolumeClaim {
                    metadata: ObjectMeta {
                        name: Some(pod::DATA_VOLUME.into()),
                        labels: Some(ctx.selector()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(PersistentVolumeClaimSpec {
                        access_modes: Some(vec!["ReadWriteOnce".into()]),
                        storage_class_name: embedded.storage_class_name.clone(),
                        resources: Some(VolumeResourceRequirements {
                            requests: Some(BTreeMap::from([(
                                "storage".to_string(),
                                embedded
                                    .size
                                    .clone()
                                    .unwrap_or_else(|| Quantity(defaults::STORE_SIZE.into())),
                            )])),
                            ..VolumeResourceRequirements::default()
                        }),
                        ..PersistentVolumeClaimSpec::default()
                    }),
                    ..PersistentVolumeClaim::default()
                }]),
                template,
                ..StatefulSetSpec::default()
            },
            ..StatefulSet::default()
        },
    )
}

/// Keeps at least all but one pod up during voluntary disruptions (node drains).
pub(crate) fn build_pod_disruption_budget(ctx: &Context) -> Result<Child, BuildError> {
    typed_child(
        ChildRole::DisruptionBudget,
        &PodDisruptionBudget {
            metadata: ctx.meta(SERVER_NAME, SERVER),
            spec: Some(PodDisruptionBudgetSpec {
                max_unavailable: Some(IntOrString::Int(1)),
                selector: Some(ctx.label_selector()),
                // Evicting a pod that is not ready never makes things worse.
                unhealthy_pod_eviction_policy: Some("AlwaysAllow".into()),
                ..PodDisruptionBudgetSpec::default()
            }),
            ..PodDisruptionBudget::default()
        },
    )
}

/// The HorizontalPodAutoscaler, when autoscaling is on and the tenant is not suspended (an HPA
/// cannot scale up from zero, and suspension must win).
pub(crate) fn build_autoscaler(ctx: &Context) -> Result<Option<Child>, BuildError> {
    let spec = &ctx.tenant.spec;
    let Some(autoscaling) = spec.server.autoscaling.as_ref().filter(|_| !spec.suspend) else {
        return Ok(None);
    };
    let kind = if uses_redis(spec.server.storage.as_ref()) {
        "Deployment"
    } else {
        "StatefulSet"
    };
    typed_child(
        ChildRole::Autoscaler,
        &HorizontalPodAutoscaler {
            metadata: ctx.meta(SERVER_NAME, SERVER),
            spec: HorizontalPodAutoscalerSpec {
                scale_target_ref: CrossVersionObjectReference {
                    api_version: Some("apps/v1".into()),
                    kind: kind.into(),
                    name: SERVER_NAME.into(),
                },
                min_replicas: Some(autoscaling.min_replicas),
                max_replicas: autoscaling.max_replicas,
                metrics: Some(vec![MetricSpec {
                    type_: "Resource".into(),
                    resource: Some(ResourceMetricSource {
                        name: "cpu".into(),
                        target: MetricTarget {
                            type_: "Utilization".into(),
                            average_utilization: Some(autoscaling.target_cpu_utilization_percent),
                            ..MetricTarget::default()
                        },
                    }),
                    ..MetricSpec::default()
                }]),
                ..HorizontalPodAutoscalerSpec::default()
            },
            ..HorizontalPodAutoscaler::default()
        },
    )
    .map(Some)
}
