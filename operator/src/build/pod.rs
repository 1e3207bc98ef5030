//! The server pod: one hardened container, its probes, resources and volumes (config, keys, the
//! referenced Secrets and ConfigMaps, /tmp, and the embedded store's volume).

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::{
        Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, HTTPGetAction,
        KeyToPath, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile,
        SecretVolumeSource, SecurityContext, TopologySpreadConstraint, Volume, VolumeMount,
    },
    apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::ObjectMeta, util::intstr::IntOrString},
};
use mcp_tenancy_config::{
    CONFIG_FILE, HEALTH_PATH, HTTP_PORT, METRICS_PORT, READY_PATH,
    keys::{ENCRYPTION_KEY_FILE, SIGNING_KEYS_FILE},
};

use super::{
    CONFIG_CHECKSUM_ANNOTATION, CONFIG_MAP_NAME, KEYS_SECRET_NAME, OperatorDefaults,
    SECRETS_CHECKSUM_ANNOTATION,
    config::{
        CA_MOUNT_DIR, CONFIG_MOUNT_DIR, DATA_MOUNT_DIR, KEYS_MOUNT_DIR, SECRETS_MOUNT_DIR,
        referenced_config_maps, referenced_secrets,
    },
    meta::{CONTAINER_NAME, Context, HTTP_PORT_NAME, METRICS_PORT_NAME, SERVER, SERVER_NAME},
};
use crate::{api::McpTenantSpec, defaults, validate::uses_redis};

/// Digests on the pod template: a change to either rolls the pods.
pub(crate) struct Checksums<'a> {
    pub config: &'a str,
    pub secrets: &'a str,
}

/// More than one pod can be running: worth a disruption budget and spreading.
pub(crate) fn runs_several(spec: &McpTenantSpec) -> bool {
    spec.server.replicas.is_some_and(|r| r > 1) || spec.server.autoscaling.is_some()
}

/// The nonroot user and group of distroless images.
const NONROOT_ID: i64 = 65532;
/// The embedded store's volume (a volumeClaimTemplate of the StatefulSet).
pub(crate) const DATA_VOLUME: &str = "data";

fn default_resources() -> ResourceRequirements {
    let pair = |cpu: &str, memory: &str| {
        BTreeMap::from([
            ("cpu".to_string(), Quantity(cpu.into())),
            ("memory".to_string(), Quantity(memory.into())),
        ])
    };
    ResourceRequirements {
        requests: Some(pair(defaults::CPU_REQUEST, defaults::MEMORY_REQUEST)),
        limits: Some(pair(defaults::CPU_LIMIT, defaults::MEMORY_LIMIT)),
        ..ResourceRequirements::default()
    }
}

/// A probe of the server's operations port, which serves [`HEALTH_PATH`] and [`READY_PATH`]
/// without the Host check of the public port (the kubelet sends the pod IP as Host). The kubelet
/// probes from the node, which NetworkPolicies never block.
fn probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String(METRICS_PORT_NAME.into()),
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
    // One volume per referenced object, mounted in a directory named after it, so that two
    // references to one object share its volume. Volume names are DNS labels and object names
    // may be longer subdomains: number them instead.
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
    // CA bundles in ConfigMaps (one in a Secret is mounted above with the other Secrets).
    for (i, (config_map, keys)) in referenced_config_maps(spec).iter().enumerate() {
        let name = format!("ca-bundle-{i}");
        volumes.push(Volume {
            name: name.clone(),
            config_map: Some(ConfigMapVolumeSource {
                name: config_map.clone(),
                items: Some(items(&mut keys.iter().map(String::as_str))),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        });
        mounts.push(mount(&name, &format!("{CA_MOUNT_DIR}/{config_map}")));
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

pub(crate) fn pod_template(
    ctx: &Context,
    defaults: &OperatorDefaults,
    checksums: &Checksums,
) -> PodTemplateSpec {
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
        startup_probe: Some(probe(HEALTH_PATH, 2, 30)),
        liveness_probe: Some(probe(HEALTH_PATH, 10, 3)),
        readiness_probe: Some(probe(READY_PATH, 5, 3)),
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
                label_selector: Some(ctx.label_selector()),
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
