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
        core::v1::{
            Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource,
            HTTPGetAction, KeyToPath, PersistentVolumeClaim, PersistentVolumeClaimSpec, PodSecurityContext,
            PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, SecretVolumeSource,
            SecurityContext, TopologySpreadConstraint, Volume, VolumeMount, VolumeResourceRequirements,
        },
        policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec},
    },
    apimachinery::pkg::{
        api::resource::Quantity,
        apis::meta::v1::{LabelSelector, ObjectMeta},
        util::intstr::IntOrString,
    },
};
use kube::core::ApiResource;
use mcp_tenancy_config::{
    CONFIG_FILE, HTTP_PORT, METRICS_PORT,
    keys::{ENCRYPTION_KEY_FILE, SIGNING_KEYS_FILE},
};

use super::{
    BuildError, CONFIG_CHECKSUM_ANNOTATION, CONFIG_MAP_NAME, Child, KEYS_SECRET_NAME, OperatorDefaults,
    SECRETS_CHECKSUM_ANNOTATION,
    config::{CONFIG_MOUNT_DIR, DATA_MOUNT_DIR, KEYS_MOUNT_DIR, SECRETS_MOUNT_DIR, referenced_secrets},
    meta::{Context, SERVER, typed_child},
    uses_redis,
};
use crate::api::{DeletionPolicy, McpTenantSpec};

/// Name of the workload, its Service and its ServiceAccount.
pub const SERVER_NAME: &str = "mcp-tenant-server";
/// Name of the server container.
pub const CONTAINER_NAME: &str = "server";
pub(crate) const HTTP_PORT_NAME: &str = "http";
pub(crate) const METRICS_PORT_NAME: &str = "metrics";

// Defaults documented on `ServerSpec::resources`; the LimitRange uses the same.
pub(crate) const DEFAULT_CPU_REQUEST: &str = "50m";
pub(crate) const DEFAULT_MEMORY_REQUEST: &str = "64Mi";
pub(crate) const DEFAULT_CPU_LIMIT: &str = "1";
pub(crate) const DEFAULT_MEMORY_LIMIT: &str = "256Mi";
pub(crate) const DEFAULT_STORE_SIZE: &str = "1Gi";

/// The nonroot user and group of distroless images.
const NONROOT_ID: i64 = 65532;
const DATA_VOLUME: &str = "data";

/// Digests on the pod template: a change to either rolls the pods.
pub(crate) struct Checksums<'a> {
    pub config: &'a str,
    pub secrets: &'a str,
}

/// Fixed replica count; `None` when a HorizontalPodAutoscaler owns it, `0` when suspended.
fn replicas(spec: &McpTenantSpec) -> Option<i32> {
    if spec.suspend {
        Some(0)
    } else if spec.server.autoscaling.is_some() {
        None
    } else {
        Some(spec.server.replicas.unwrap_or(1))
    }
}

/// More than one pod can be running: worth a disruption budget and spreading.
fn runs_several(spec: &McpTenantSpec) -> bool {
    spec.server.replicas.is_some_and(|r| r > 1) || spec.server.autoscaling.is_some()
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

fn label_selector(ctx: &Context) -> LabelSelector {
    LabelSelector {
        match_labels: Some(ctx.selector()),
        ..LabelSelector::default()
    }
}

pub(crate) fn build_workload(
    ctx: &Context,
    defaults: &OperatorDefaults,
    checksums: &Checksums,
) -> Result<Child, BuildError> {
    let spec = &ctx.tenant.spec;
    let template = pod_template(ctx, defaults, checksums);
    if uses_redis(spec.server.storage.as_ref()) {
        return typed_child(&Deployment {
            metadata: ctx.meta(SERVER_NAME, SERVER),
            spec: DeploymentSpec {
                replicas: replicas(spec),
                selector: label_selector(ctx),
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
        });
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
    typed_child(&StatefulSet {
        metadata: ctx.meta(SERVER_NAME, SERVER),
        spec: StatefulSetSpec {
            replicas: replicas(spec),
            selector: label_selector(ctx),
            // Per-pod DNS names are not used; the Service is the governing name only.
            service_name: Some(SERVER_NAME.into()),
            revision_history_limit: Some(3),
            persistent_volume_claim_retention_policy: Some(StatefulSetPersistentVolumeClaimRetentionPolicy {
                when_deleted: Some(claim_policy.into()),
                when_scaled: Some("Retain".into()),
            }),
            volume_claim_templates: Some(vec![PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(DATA_VOLUME.into()),
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
                                .unwrap_or_else(|| Quantity(DEFAULT_STORE_SIZE.into())),
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
    })
}

fn default_resources() -> ResourceRequirements {
    let pair = |cpu: &str, memory: &str| {
        BTreeMap::from([
            ("cpu".to_string(), Quantity(cpu.into())),
            ("memory".to_string(), Quantity(memory.into())),
        ])
    };
    ResourceRequirements {
        requests: Some(pair(DEFAULT_CPU_REQUEST, DEFAULT_MEMORY_REQUEST)),
        limits: Some(pair(DEFAULT_CPU_LIMIT, DEFAULT_MEMORY_LIMIT)),
        ..ResourceRequirements::default()
    }
}

fn probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String(HTTP_PORT_NAME.into()),
            scheme: Some("HTTP".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: Some(true),
        ..VolumeMount::default()
    }
}

/// Secret files are readable by the pod's group (fsGroup) only.
const SECRET_FILE_MODE: i32 = 0o440;

fn volumes_and_mounts(ctx: &Context) -> (Vec<Volume>, Vec<VolumeMount>) {
    let spec = &ctx.tenant.spec;
    let items = |keys: &mut dyn Iterator<Item = &str>| {
        keys.map(|k| KeyToPath {
            key: k.into(),
            path: k.into(),
            ..KeyToPath::default()
        })
        .collect::<Vec<_>>()
    };
    let mut volumes = vec![
        Volume {
            name: "tmp".into(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: Some(Quantity("64Mi".into())),
                ..EmptyDirVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: CONFIG_MAP_NAME.into(),
                items: Some(items(&mut [CONFIG_FILE].into_iter())),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: "keys".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(KEYS_SECRET_NAME.into()),
                items: Some(items(&mut [SIGNING_KEYS_FILE, ENCRYPTION_KEY_FILE].into_iter())),
                default_mode: Some(SECRET_FILE_MODE),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        },
    ];
    let mut mounts = vec![
        VolumeMount {
            name: "tmp".into(),
            mount_path: "/tmp".into(),
            ..VolumeMount::default()
        },
        mount("config", CONFIG_MOUNT_DIR),
        mount("keys", KEYS_MOUNT_DIR),
    ];
    // Volume names are DNS labels and Secret names may be longer subdomains: number them instead.
    for (i, (secret, keys)) in referenced_secrets(spec).iter().enumerate() {
        let name = format!("secret-{i}");
        volumes.push(Volume {
            name: name.clone(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.clone()),
                items: Some(items(&mut keys.iter().map(String::as_str))),
                default_mode: Some(SECRET_FILE_MODE),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
        mounts.push(mount(&name, &format!("{SECRETS_MOUNT_DIR}/{secret}")));
    }
    if !uses_redis(spec.server.storage.as_ref()) {
        mounts.push(VolumeMount {
            name: DATA_VOLUME.into(),
            mount_path: DATA_MOUNT_DIR.into(),
            ..VolumeMount::default()
        });
    }
    (volumes, mounts)
}

fn pod_template(ctx: &Context, defaults: &OperatorDefaults, checksums: &Checksums) -> PodTemplateSpec {
    let spec = &ctx.tenant.spec;
    let (volumes, volume_mounts) = volumes_and_mounts(ctx);
    let container = Container {
        name: CONTAINER_NAME.into(),
        image: Some(
            spec.server
                .image
                .clone()
                .unwrap_or_else(|| defaults.server_image.clone()),
        ),
        image_pull_policy: Some("IfNotPresent".into()),
        args: Some(vec![
            "--config".into(),
            format!("{CONFIG_MOUNT_DIR}/{CONFIG_FILE}"),
        ]),
        ports: Some(vec![
            ContainerPort {
                name: Some(HTTP_PORT_NAME.into()),
                container_port: i32::from(HTTP_PORT),
                protocol: Some("TCP".into()),
                ..ContainerPort::default()
            },
            ContainerPort {
                name: Some(METRICS_PORT_NAME.into()),
                container_port: i32::from(METRICS_PORT),
                protocol: Some("TCP".into()),
                ..ContainerPort::default()
            },
        ]),
        // Startup allows a minute for the first store and key load before liveness applies.
        startup_probe: Some(probe("/healthz", 2, 30)),
        liveness_probe: Some(probe("/healthz", 10, 3)),
        readiness_probe: Some(probe("/readyz", 5, 3)),
        resources: Some(spec.server.resources.clone().unwrap_or_else(default_resources)),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            privileged: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            run_as_user: Some(NONROOT_ID),
            run_as_group: Some(NONROOT_ID),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            seccomp_profile: Some(runtime_default_seccomp()),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(volume_mounts),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    };
    let topology_spread_constraints = runs_several(spec).then(|| {
        ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
            .into_iter()
            .map(|key| TopologySpreadConstraint {
                max_skew: 1,
                topology_key: key.into(),
                // Prefer spreading; a single-node or single-zone cluster must still run the tenant.
                when_unsatisfiable: "ScheduleAnyway".into(),
                label_selector: Some(label_selector(ctx)),
                ..TopologySpreadConstraint::default()
            })
            .collect()
    });
    let mut labels = ctx.meta(SERVER_NAME, SERVER).labels.unwrap_or_default();
    labels.extend(ctx.selector());
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            annotations: Some(BTreeMap::from([
                (
                    CONFIG_CHECKSUM_ANNOTATION.to_string(),
                    checksums.config.to_string(),
                ),
                (
                    SECRETS_CHECKSUM_ANNOTATION.to_string(),
                    checksums.secrets.to_string(),
                ),
                (
                    "kubectl.kubernetes.io/default-container".to_string(),
                    CONTAINER_NAME.to_string(),
                ),
            ])),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            service_account_name: Some(SERVER_NAME.into()),
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(NONROOT_ID),
                run_as_group: Some(NONROOT_ID),
                fs_group: Some(NONROOT_ID),
                fs_group_change_policy: Some("OnRootMismatch".into()),
                seccomp_profile: Some(runtime_default_seccomp()),
                ..PodSecurityContext::default()
            }),
            containers: vec![container],
            volumes: Some(volumes),
            topology_spread_constraints,
            termination_grace_period_seconds: Some(30),
            ..PodSpec::default()
        }),
    }
}

fn runtime_default_seccomp() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".into(),
        ..SeccompProfile::default()
    }
}

/// Keeps at least all but one pod up during voluntary disruptions (node drains).
pub(crate) fn build_pod_disruption_budget(ctx: &Context) -> Result<Child, BuildError> {
    typed_child(&PodDisruptionBudget {
        metadata: ctx.meta(SERVER_NAME, SERVER),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(label_selector(ctx)),
            // Evicting a pod that is not ready never makes things worse.
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".into()),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    })
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
    typed_child(&HorizontalPodAutoscaler {
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
    })
    .map(Some)
}
