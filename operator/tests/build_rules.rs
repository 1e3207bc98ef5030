//! One test per rule of the builders.

#[cfg(test)]
mod build_support;

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use build_support::{SECRETS_CHECKSUM, build, kinds, mk_defaults, mk_tenant, object, validated};
use mcp_tenancy_config::{CONFIG_FILE, StorageConfig, TenantConfig};
use mcp_tenancy_operator::{
    api::{CaBundleRef, ConfigMapKeyRef, DeletionPolicy, McpTenant, RedisStorage, SecretKeyRef, StorageSpec},
    build::{
        BuildInput, CONFIG_CHECKSUM_ANNOTATION, SECRETS_CHECKSUM_ANNOTATION, TENANT_LABEL, build_children,
        build_tenant_config, prunable_resources, public_url, tenant_namespace,
    },
    validate::{InvalidTenant, validate},
};
use serde_json::{Value, json};

fn with_redis(mut tenant: McpTenant) -> McpTenant {
    tenant.spec.server.storage = Some(StorageSpec {
        embedded: None,
        redis: Some(RedisStorage {
            url_secret_ref: SecretKeyRef {
                name: "redis".into(),
                key: "url".into(),
            },
            ca_bundle: None,
        }),
    });
    tenant
}

fn workload(children: &[mcp_tenancy_operator::build::Child]) -> Value {
    let kinds = kinds(children);
    let kind = if kinds.contains(&"Deployment".to_string()) {
        "Deployment"
    } else {
        "StatefulSet"
    };
    object(children, kind)
}

fn has(children: &[mcp_tenancy_operator::build::Child], kind: &str) -> bool {
    kinds(children).iter().any(|k| k == kind)
}

#[test]
fn the_namespace_comes_first_and_every_other_child_lives_in_it() {
    for example in [
        "minimal.yaml",
        "production.yaml",
        "ingress-cert-manager.yaml",
        "external-idp.yaml",
    ] {
        let tenant = mk_tenant(example);
        let children = build(&tenant, true);
        assert_eq!(children[0].resource.kind, "Namespace");
        assert!(!children[0].namespaced);
        for child in &children[1..] {
            assert!(child.namespaced, "{}", child.resource.kind);
            assert_eq!(
                child.object.metadata.namespace.as_deref(),
                Some(tenant_namespace(&tenant).as_str())
            );
        }
        let config = children
            .iter()
            .position(|c| c.resource.kind == "ConfigMap")
            .unwrap();
        let policy = children
            .iter()
            .position(|c| c.resource.kind == "NetworkPolicy")
            .unwrap();
        let pods = children
            .iter()
            .position(|c| ["Deployment", "StatefulSet"].contains(&c.resource.kind.as_str()));
        assert!(
            config < pods.unwrap() && policy < pods.unwrap(),
            "{example}: pods before their config or policy"
        );
    }
}

#[test]
fn names_and_url_follow_the_spec() {
    let tenant = mk_tenant("minimal.yaml");
    assert_eq!(tenant_namespace(&tenant), "mcp-contoso");
    assert_eq!(public_url(&tenant), "https://contoso.mcp.example.com");
    assert_eq!(tenant_namespace(&mk_tenant("production.yaml")), "mcp-fabrikam");
}

#[test]
fn every_child_has_the_labels_and_an_owner_reference() {
    let mut tenant = mk_tenant("production.yaml");
    tenant.spec.deletion_policy = DeletionPolicy::Delete;
    for child in build(&tenant, true) {
        let meta = &child.object.metadata;
        let labels = meta.labels.clone().unwrap();
        for (key, value) in [
            ("app.kubernetes.io/name", "mcp-tenant-server"),
            ("app.kubernetes.io/instance", "fabrikam"),
            ("app.kubernetes.io/part-of", "mcp-tenancy"),
            ("app.kubernetes.io/managed-by", "mcp-tenancy-operator"),
            (TENANT_LABEL, "fabrikam"),
        ] {
            assert_eq!(
                labels.get(key).map(String::as_str),
                Some(value),
                "{} {key}",
                child.resource.kind
            );
        }
        assert!(labels.contains_key("app.kubernetes.io/component"));
        let types = child.object.types.clone().unwrap();
        assert_eq!(types.kind, child.resource.kind);
        assert_eq!(types.api_version, child.resource.api_version);
        let owners = meta.owner_references.clone().unwrap_or_default();
        assert_eq!(owners.len(), 1, "{}", child.resource.kind);
        let owner = &owners[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("McpTenant", "fabrikam")
        );
        assert_eq!(owner.api_version, "mcptenancy.dev/v1alpha1");
        assert_eq!(Some(owner.uid.as_str()), tenant.metadata.uid.as_deref());
        assert_eq!(
            (owner.controller, owner.block_owner_deletion),
            (Some(true), Some(true))
        );
    }
}

#[test]
fn a_retained_namespace_has_no_owner_so_deleting_the_tenant_keeps_it() {
    let tenant = mk_tenant("minimal.yaml");
    assert_eq!(tenant.spec.deletion_policy, DeletionPolicy::Retain);
    let children = build(&tenant, true);
    assert!(children[0].object.metadata.owner_references.is_none());
    assert!(
        children[1..]
            .iter()
            .all(|c| c.object.metadata.owner_references.is_some())
    );
    let set = object(&children, "StatefulSet");
    assert_eq!(
        set["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"],
        "Retain"
    );
}

#[test]
fn the_namespace_enforces_the_restricted_pod_security_standard() {
    let ns = object(&build(&mk_tenant("minimal.yaml"), true), "Namespace");
    for mode in ["enforce", "audit", "warn"] {
        assert_eq!(
            ns["metadata"]["labels"][format!("pod-security.kubernetes.io/{mode}")],
            "restricted"
        );
    }
}

#[test]
fn embedded_storage_runs_one_stateful_pod_with_a_volume() {
    let children = build(&mk_tenant("minimal.yaml"), true);
    assert!(has(&children, "StatefulSet") && !has(&children, "Deployment"));
    let set = object(&children, "StatefulSet");
    assert_eq!(set["spec"]["replicas"], 1);
    let claim = &set["spec"]["volumeClaimTemplates"][0];
    assert_eq!(claim["metadata"]["name"], "data");
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "1Gi");
    let mounts = &set["spec"]["template"]["spec"]["containers"][0]["volumeMounts"];
    assert!(mounts.as_array().unwrap().iter().any(|m| m["name"] == "data"));
    assert!(
        !has(&children, "PodDisruptionBudget"),
        "one pod needs no disruption budget"
    );
}

#[test]
fn redis_storage_runs_a_deployment_without_a_volume() {
    let mut tenant = with_redis(mk_tenant("minimal.yaml"));
    tenant.spec.server.replicas = Some(1);
    let children = build(&tenant, true);
    assert!(has(&children, "Deployment") && !has(&children, "StatefulSet"));
    let deployment = object(&children, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert!(deployment["spec"].get("volumeClaimTemplates").is_none());
    let text = deployment.to_string();
    assert!(!text.contains("/var/lib/mcp-tenant"));
    let config = build_tenant_config(&validated(&tenant), &mk_defaults()).unwrap();
    assert_eq!(
        config.storage,
        mcp_tenancy_config::StorageConfig::Redis {
            url_file: "/etc/mcp-tenant/secrets/redis/url".into(),
            ca_bundle_file: None,
        }
    );
}

#[test]
fn more_than_one_replica_adds_a_disruption_budget_and_spreads_the_pods() {
    let mut tenant = with_redis(mk_tenant("minimal.yaml"));
    tenant.spec.server.replicas = Some(3);
    let children = build(&tenant, true);
    let pdb = object(&children, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"],
        "contoso"
    );
    let deployment = object(&children, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let spread = &deployment["spec"]["template"]["spec"]["topologySpreadConstraints"];
    assert_eq!(spread.as_array().unwrap().len(), 2);

    tenant.spec.server.replicas = Some(1);
    let children = build(&tenant, true);
    assert!(!has(&children, "PodDisruptionBudget"));
    assert!(
        object(&children, "Deployment")["spec"]["template"]["spec"]
            .get("topologySpreadConstraints")
            .is_none()
    );
}

#[test]
fn autoscaling_adds_an_autoscaler_that_owns_the_replica_count() {
    let children = build(&mk_tenant("production.yaml"), true);
    let hpa = object(&children, "HorizontalPodAutoscaler");
    assert_eq!(hpa["apiVersion"], "autoscaling/v2");
    assert_eq!(
        hpa["spec"]["scaleTargetRef"],
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "mcp-tenant-server"})
    );
    assert_eq!(
        (
            hpa["spec"]["minReplicas"].clone(),
            hpa["spec"]["maxReplicas"].clone()
        ),
        (json!(3), json!(10))
    );
    assert_eq!(
        hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
        65
    );
    let deployment = object(&children, "Deployment");
    assert!(
        deployment["spec"].get("replicas").is_none(),
        "the HPA owns replicas"
    );
    assert!(has(&children, "PodDisruptionBudget"));
}

#[test]
fn suspend_scales_to_zero_and_drops_the_autoscaler_and_the_down_alert() {
    let mut tenant = mk_tenant("production.yaml");
    tenant.spec.suspend = true;
    let children = build(&tenant, true);
    assert_eq!(object(&children, "Deployment")["spec"]["replicas"], 0);
    assert!(!has(&children, "HorizontalPodAutoscaler"));
    let rule = object(&children, "PrometheusRule").to_string();
    assert!(!rule.contains("McpTenantServerDown"));

    let mut tenant = mk_tenant("minimal.yaml");
    tenant.spec.suspend = true;
    assert_eq!(
        object(&build(&tenant, true), "StatefulSet")["spec"]["replicas"],
        0
    );
}

#[test]
fn monitoring_objects_need_both_the_crds_and_the_spec() {
    let tenant = mk_tenant("minimal.yaml");
    let children = build(&tenant, true);
    assert!(has(&children, "ServiceMonitor") && has(&children, "PrometheusRule"));
    let children = build(&tenant, false);
    assert!(!has(&children, "ServiceMonitor") && !has(&children, "PrometheusRule"));

    let mut tenant = mk_tenant("minimal.yaml");
    tenant.spec.monitoring.service_monitor = false;
    tenant.spec.monitoring.alerts.enabled = false;
    let children = build(&tenant, true);
    assert!(!has(&children, "ServiceMonitor") && !has(&children, "PrometheusRule"));

    // ingress-cert-manager.yaml turns alerts off but keeps scraping.
    let children = build(&mk_tenant("ingress-cert-manager.yaml"), true);
    assert!(has(&children, "ServiceMonitor") && !has(&children, "PrometheusRule"));
}

#[test]
fn the_deny_by_default_network_policy_is_always_there() {
    for example in [
        "minimal.yaml",
        "production.yaml",
        "ingress-cert-manager.yaml",
        "external-idp.yaml",
    ] {
        let policy = object(&build(&mk_tenant(example), false), "NetworkPolicy");
        assert_eq!(
            policy["spec"]["podSelector"],
            json!({}),
            "{example}: must select every pod"
        );
        assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        // Ingress only to the two named ports.
        let ports: BTreeSet<String> = policy["spec"]["ingress"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| {
                r["ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["port"].as_str().unwrap().to_string())
            })
            .collect();
        assert_eq!(ports, ["http", "metrics"].map(String::from).into());
        for rule in policy["spec"]["ingress"].as_array().unwrap() {
            assert!(
                !rule["from"].as_array().unwrap().is_empty(),
                "{example}: an ingress rule open to all"
            );
        }
    }
}

#[test]
fn the_network_policy_lets_https_out_but_not_into_the_cluster_or_the_metadata_endpoint() {
    let policy = object(&build(&mk_tenant("minimal.yaml"), false), "NetworkPolicy");
    let egress = policy["spec"]["egress"].as_array().unwrap();
    assert_eq!(egress.len(), 2, "DNS and HTTPS only: {egress:#?}");
    assert_eq!(
        egress[0]["to"][0]["podSelector"]["matchLabels"]["k8s-app"],
        "kube-dns"
    );
    assert_eq!(
        egress[0]["ports"],
        json!([{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}])
    );
    assert_eq!(egress[1]["ports"], json!([{"port": 443, "protocol": "TCP"}]));
    let v4 = &egress[1]["to"][0]["ipBlock"];
    assert_eq!(v4["cidr"], "0.0.0.0/0");
    for private in ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"] {
        assert!(
            v4["except"].as_array().unwrap().contains(&json!(private)),
            "{private}"
        );
    }
    // Gateway exposure: the Gateway's namespace; metrics: the monitoring namespace.
    assert_eq!(
        policy["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"],
        json!(["gateway-system"])
    );
    assert_eq!(
        policy["spec"]["ingress"][1]["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"],
        json!(["monitoring"])
    );

    // Ingress exposure defaults to the operator's ingress controller namespace.
    let policy = object(
        &build(&mk_tenant("ingress-cert-manager.yaml"), false),
        "NetworkPolicy",
    );
    let from = &policy["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"];
    assert_eq!(from, &json!([mk_defaults().ingress_controller_namespace]));
}

#[test]
fn redis_opens_its_ports_and_explicit_peers_replace_the_defaults() {
    let children = build(&mk_tenant("production.yaml"), false);
    let policy = object(&children, "NetworkPolicy");
    let egress = policy["spec"]["egress"].as_array().unwrap();
    assert_eq!(egress.len(), 3);
    assert_eq!(
        egress[2]["ports"],
        json!([{"port": 6379, "protocol": "TCP"}, {"port": 6380, "protocol": "TCP"}])
    );
    assert_eq!(
        policy["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "envoy-gateway-system"
    );
    assert_eq!(
        policy["spec"]["ingress"][1]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"],
        "prometheus"
    );
}

#[test]
fn pods_are_hardened() {
    for example in ["minimal.yaml", "production.yaml"] {
        let children = build(&mk_tenant(example), false);
        let pod = workload(&children)["spec"]["template"]["spec"].clone();
        assert_eq!(pod["automountServiceAccountToken"], false);
        assert_eq!(pod["serviceAccountName"], "mcp-tenant-server");
        let psc = &pod["securityContext"];
        assert_eq!(psc["runAsNonRoot"], true);
        assert_eq!(
            (
                psc["runAsUser"].clone(),
                psc["runAsGroup"].clone(),
                psc["fsGroup"].clone()
            ),
            (json!(65532), json!(65532), json!(65532))
        );
        assert_eq!(psc["seccompProfile"]["type"], "RuntimeDefault");
        let containers = pod["containers"].as_array().unwrap();
        assert_eq!(containers.len(), 1);
        let c = &containers[0];
        let sc = &c["securityContext"];
        assert_eq!(sc["allowPrivilegeEscalation"], false);
        assert_eq!(sc["readOnlyRootFilesystem"], true);
        assert_eq!(sc["runAsNonRoot"], true);
        assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
        assert!(sc["capabilities"].get("add").is_none());
        // The operations port: the public one answers the kubelet's Host (the pod IP) with 403.
        for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
            assert_eq!(c[probe]["httpGet"]["port"], "metrics", "{probe}");
        }
        assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
        assert_eq!(
            c["ports"],
            json!([
                {"containerPort": 8080, "name": "http", "protocol": "TCP"},
                {"containerPort": 9090, "name": "metrics", "protocol": "TCP"}
            ])
        );
        assert!(
            c["resources"]["limits"]["memory"].is_string() && c["resources"]["requests"]["cpu"].is_string()
        );
        let tmp = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["mountPath"] == "/tmp")
            .cloned();
        assert!(tmp.is_some(), "a read-only root needs a writable /tmp");
        for m in c["volumeMounts"].as_array().unwrap() {
            if m["name"] != "tmp" && m["name"] != "data" {
                assert_eq!(m["readOnly"], true, "{m}");
            }
        }
        let sa = object(&children, "ServiceAccount");
        assert_eq!(sa["automountServiceAccountToken"], false);
    }
}

#[test]
fn default_resources_match_the_documented_defaults_and_the_spec_overrides_them() {
    let c = &workload(&build(&mk_tenant("minimal.yaml"), false))["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        c["resources"],
        json!({"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}})
    );
    assert_eq!(c["image"], mk_defaults().server_image);
    let c =
        &workload(&build(&mk_tenant("production.yaml"), false))["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["resources"]["limits"]["memory"], "512Mi");
    assert_eq!(c["image"], "ghcr.io/mcp-tenancy/mcp-tenant-server:0.1.0");
}

#[test]
fn the_config_map_holds_a_config_the_server_accepts() {
    for example in [
        "minimal.yaml",
        "production.yaml",
        "ingress-cert-manager.yaml",
        "external-idp.yaml",
    ] {
        let tenant = mk_tenant(example);
        let children = build(&tenant, false);
        let map = object(&children, "ConfigMap");
        let text = map["data"][CONFIG_FILE].as_str().unwrap();
        let parsed = TenantConfig::from_yaml(text).unwrap();
        assert_eq!(
            parsed,
            build_tenant_config(&validated(&tenant), &mk_defaults()).unwrap(),
            "{example}"
        );
        assert_eq!(
            parsed.server.public_url.as_str(),
            format!("{}/", public_url(&tenant))
        );
        assert!(parsed.identity.audiences.contains(&public_url(&tenant)));
        assert!(parsed.server.allowed_hosts.contains(&tenant.spec.network.host));
    }
}

#[test]
fn every_file_the_config_names_is_mounted_from_the_right_secret() {
    let tenant = mk_tenant("production.yaml");
    let children = build(&tenant, false);
    let config = build_tenant_config(&validated(&tenant), &mk_defaults()).unwrap();
    let pod = &workload(&children)["spec"]["template"]["spec"];
    let mut files = vec![
        config.identity.upstream.client_secret_file.clone(),
        config.keys.signing_keys_file.clone(),
        config.keys.encryption_key_file.clone(),
    ];
    files.extend(
        config
            .access
            .service_accounts
            .iter()
            .filter_map(|sa| sa.client_secret_file.clone()),
    );
    if let mcp_tenancy_config::StorageConfig::Redis { url_file, .. } = &config.storage {
        files.push(url_file.clone());
    }
    assert_eq!(files.len(), 5);
    for file in files {
        let (volume, key) = volume_of(pod, &file);
        assert_eq!(key, file.file_name().unwrap().to_str().unwrap());
        let dir = file.parent().unwrap().to_str().unwrap();
        assert_eq!(volume["secret"]["defaultMode"], 0o440);
        if dir.starts_with("/etc/mcp-tenant/secrets/") {
            assert_eq!(
                volume["secret"]["secretName"].as_str().unwrap(),
                dir.rsplit('/').next().unwrap()
            );
        } else {
            assert_eq!(volume["secret"]["secretName"], "mcp-tenant-keys");
        }
    }
}

/// The volume (and item key) that the pod mounts at `file`, or a panic naming the file.
#[cfg(test)]
fn volume_of<'a>(pod: &'a Value, file: &std::path::Path) -> (&'a Value, String) {
    let dir = file.parent().unwrap().to_str().unwrap();
    let name = file.file_name().unwrap().to_str().unwrap();
    let mount = pod["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == dir)
        .unwrap_or_else(|| panic!("{} is not mounted", file.display()));
    assert_eq!(mount["readOnly"], true);
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    let source = if volume["secret"].is_object() {
        &volume["secret"]
    } else {
        &volume["configMap"]
    };
    let item = source["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["path"] == name)
        .unwrap_or_else(|| panic!("{} is not an item of {volume}", file.display()));
    (volume, item["key"].as_str().unwrap().to_owned())
}

#[test]
fn a_ca_bundle_is_mounted_where_the_config_says_from_its_configmap_or_secret() {
    let tenant = mk_tenant("private-ca.yaml");
    let (_, file, pod) = build_with_bundle(&tenant, identity_bundle);
    let (volume, key) = volume_of(&pod, &file);
    assert_eq!(volume["configMap"]["name"], "corporate-roots");
    assert_eq!(key, "ca-certificates.crt");

    let mut tenant = tenant;
    tenant.spec.identity.ca_bundle = Some(secret_bundle("corporate-roots", "ca.pem"));
    let (_, file, pod) = build_with_bundle(&tenant, identity_bundle);
    let (volume, key) = volume_of(&pod, &file);
    assert_eq!(volume["secret"]["secretName"], "corporate-roots");
    assert_eq!(key, "ca.pem");
    assert_eq!(
        config_map_volumes(&pod),
        ["mcp-tenant-config"],
        "a Secret bundle needs no ConfigMap volume"
    );

    tenant.spec.identity.ca_bundle = None;
    assert_eq!(
        build_tenant_config(&validated(&tenant), &mk_defaults())
            .unwrap()
            .identity
            .ca_bundle_file,
        None
    );
}

/// Builds `tenant`: its config, the CA bundle file that `file_of` finds in it, and the pod spec.
#[cfg(test)]
fn build_with_bundle(
    tenant: &McpTenant,
    file_of: fn(&TenantConfig) -> Option<&PathBuf>,
) -> (TenantConfig, PathBuf, Value) {
    let config = build_tenant_config(&validated(tenant), &mk_defaults()).unwrap();
    let file = file_of(&config).cloned().expect("a CA bundle file");
    let pod = workload(&build(tenant, false))["spec"]["template"]["spec"].clone();
    (config, file, pod)
}

fn identity_bundle(config: &TenantConfig) -> Option<&PathBuf> {
    config.identity.ca_bundle_file.as_ref()
}

fn redis_bundle(config: &TenantConfig) -> Option<&PathBuf> {
    match &config.storage {
        StorageConfig::Redis { ca_bundle_file, .. } => ca_bundle_file.as_ref(),
        StorageConfig::Embedded { .. } => None,
    }
}

/// The names of the ConfigMaps the pod mounts.
#[cfg(test)]
fn config_map_volumes(pod: &Value) -> Vec<&str> {
    pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["configMap"]["name"].as_str())
        .collect()
}

/// `tenant` on Redis, trusting `bundle` for `rediss://`.
fn with_redis_ca_bundle(tenant: McpTenant, bundle: CaBundleRef) -> McpTenant {
    let mut tenant = with_redis(tenant);
    if let Some(redis) = tenant.spec.server.storage.as_mut().and_then(|s| s.redis.as_mut()) {
        redis.ca_bundle = Some(bundle);
    }
    tenant
}

fn config_map_bundle(name: &str, key: &str) -> CaBundleRef {
    CaBundleRef {
        config_map_key_ref: Some(ConfigMapKeyRef {
            name: name.into(),
            key: key.into(),
        }),
        secret_key_ref: None,
    }
}

fn secret_bundle(name: &str, key: &str) -> CaBundleRef {
    CaBundleRef {
        config_map_key_ref: None,
        secret_key_ref: Some(SecretKeyRef {
            name: name.into(),
            key: key.into(),
        }),
    }
}

#[test]
fn a_redis_ca_bundle_is_mounted_where_the_config_says_sharing_a_configmap_with_identity() {
    // The same ConfigMap key as spec.identity.caBundle: one volume, one item, one mount.
    let tenant = with_redis_ca_bundle(
        mk_tenant("private-ca.yaml"),
        config_map_bundle("corporate-roots", "ca-certificates.crt"),
    );
    let (config, file, pod) = build_with_bundle(&tenant, redis_bundle);
    assert_eq!(
        file,
        Path::new("/etc/mcp-tenant/ca/corporate-roots/ca-certificates.crt")
    );
    assert_eq!(identity_bundle(&config), Some(&file));
    let (volume, key) = volume_of(&pod, &file);
    assert_eq!(volume["configMap"]["name"], "corporate-roots");
    assert_eq!(key, "ca-certificates.crt");
    assert_eq!(volume["configMap"]["items"].as_array().unwrap().len(), 1);
    assert_eq!(config_map_volumes(&pod), ["mcp-tenant-config", "corporate-roots"]);
    let mounts: Vec<&Value> = pod["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["mountPath"])
        .collect();
    let unique: BTreeSet<String> = mounts.iter().map(|m| m.to_string()).collect();
    assert_eq!(unique.len(), mounts.len(), "a path mounted twice: {mounts:?}");

    // Another key of that ConfigMap: still one volume, with both keys.
    let tenant = with_redis_ca_bundle(
        mk_tenant("private-ca.yaml"),
        config_map_bundle("corporate-roots", "redis-ca.crt"),
    );
    let (config, file, pod) = build_with_bundle(&tenant, redis_bundle);
    let (volume, key) = volume_of(&pod, &file);
    assert_eq!(key, "redis-ca.crt");
    assert_eq!(volume["configMap"]["items"].as_array().unwrap().len(), 2);
    let identity_file = identity_bundle(&config).unwrap();
    assert_eq!(volume_of(&pod, identity_file).1, "ca-certificates.crt");
    assert_eq!(config_map_volumes(&pod), ["mcp-tenant-config", "corporate-roots"]);

    // A Secret key, mounted with the Secret holding the URL.
    let tenant = with_redis_ca_bundle(mk_tenant("minimal.yaml"), secret_bundle("redis", "ca.pem"));
    let (_, file, pod) = build_with_bundle(&tenant, redis_bundle);
    assert_eq!(file, Path::new("/etc/mcp-tenant/secrets/redis/ca.pem"));
    let (volume, key) = volume_of(&pod, &file);
    assert_eq!(volume["secret"]["secretName"], "redis");
    assert_eq!(key, "ca.pem");
    assert_eq!(
        volume["secret"]["items"].as_array().unwrap().len(),
        2,
        "url and ca.pem"
    );
    assert_eq!(config_map_volumes(&pod), ["mcp-tenant-config"]);
}

#[test]
fn the_pod_template_carries_both_checksums_and_the_config_one_follows_the_config() {
    let tenant = mk_tenant("minimal.yaml");
    let annotations =
        |t: &McpTenant| workload(&build(t, false))["spec"]["template"]["metadata"]["annotations"].clone();
    let before = annotations(&tenant);
    assert_eq!(before[SECRETS_CHECKSUM_ANNOTATION], SECRETS_CHECKSUM);
    let checksum = before[CONFIG_CHECKSUM_ANNOTATION].as_str().unwrap().to_string();
    assert_eq!(checksum.len(), 64);
    assert_eq!(
        annotations(&tenant)[CONFIG_CHECKSUM_ANNOTATION],
        checksum.as_str(),
        "stable for one spec"
    );

    let mut changed = tenant.clone();
    changed.spec.display_name = Some("Contoso Ltd.".into());
    assert_ne!(
        annotations(&changed)[CONFIG_CHECKSUM_ANNOTATION],
        checksum.as_str()
    );
    // A change that is not in the config (quota) does not restart the pods.
    let mut quota = tenant.clone();
    quota.spec.quota.pods = Some(5);
    assert_eq!(annotations(&quota)[CONFIG_CHECKSUM_ANNOTATION], checksum.as_str());
}

#[test]
fn gateway_exposure_makes_an_http_route_to_the_service() {
    let children = build(&mk_tenant("minimal.yaml"), false);
    assert!(!has(&children, "Ingress"));
    let route = object(&children, "HTTPRoute");
    assert_eq!(route["apiVersion"], "gateway.networking.k8s.io/v1");
    assert_eq!(route["spec"]["hostnames"], json!(["contoso.mcp.example.com"]));
    assert_eq!(route["spec"]["parentRefs"][0]["sectionName"], "https");
    assert_eq!(
        route["spec"]["rules"][0]["matches"][0]["path"],
        json!({"type": "PathPrefix", "value": "/"})
    );
    let backend = &route["spec"]["rules"][0]["backendRefs"][0];
    let service = object(&children, "Service");
    assert_eq!(backend["name"], service["metadata"]["name"]);
    assert_eq!(backend["port"], service["spec"]["ports"][0]["port"]);
    assert_eq!(service["spec"]["ports"][1]["name"], "metrics");
}

#[test]
fn ingress_exposure_terminates_tls_with_the_issuer_or_the_given_secret() {
    let tenant = mk_tenant("ingress-cert-manager.yaml");
    let children = build(&tenant, false);
    assert!(!has(&children, "HTTPRoute"));
    let ingress = object(&children, "Ingress");
    assert_eq!(
        ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"],
        "letsencrypt-prod"
    );
    assert_eq!(
        ingress["metadata"]["annotations"]["traefik.ingress.kubernetes.io/router.entrypoints"],
        "websecure"
    );
    assert_eq!(ingress["spec"]["ingressClassName"], "traefik");
    assert_eq!(
        ingress["spec"]["tls"][0]["hosts"],
        json!(["northwind.mcp.example.com"])
    );
    assert_eq!(ingress["spec"]["rules"][0]["host"], "northwind.mcp.example.com");

    let mut tenant = tenant;
    let exposure = tenant.spec.network.ingress.as_mut().unwrap();
    exposure.tls.issuer_ref = None;
    exposure.tls.secret_name = Some("northwind-tls".into());
    exposure.annotations.clear();
    let ingress = object(&build(&tenant, false), "Ingress");
    assert_eq!(ingress["spec"]["tls"][0]["secretName"], "northwind-tls");
    assert!(ingress["metadata"].get("annotations").is_none());
}

#[test]
fn the_alerts_use_the_spec_thresholds_and_link_a_runbook_section() {
    let tenant = mk_tenant("production.yaml");
    let rule = object(&build(&tenant, true), "PrometheusRule");
    let rules = rule["spec"]["groups"][0]["rules"].as_array().unwrap();
    let names: Vec<&str> = rules.iter().map(|r| r["alert"].as_str().unwrap()).collect();
    assert_eq!(names, mcp_tenancy_operator::build::ALERT_NAMES);
    let runbooks = std::fs::read_to_string(build_support::repo_root().join("docs/runbooks.md")).unwrap();
    for r in rules {
        let name = r["alert"].as_str().unwrap();
        assert!(
            r["expr"].as_str().unwrap().contains("namespace=\"mcp-fabrikam\""),
            "{name}"
        );
        assert!(["5m", "10m"].contains(&r["for"].as_str().unwrap()));
        assert!(["warning", "critical"].contains(&r["labels"]["severity"].as_str().unwrap()));
        for annotation in ["summary", "description", "runbook_url"] {
            assert!(
                !r["annotations"][annotation].as_str().unwrap().is_empty(),
                "{name} {annotation}"
            );
        }
        let expr = r["expr"].as_str().unwrap();
        promql_parser::parser::parse(expr).unwrap_or_else(|e| panic!("{name}: {expr}: {e}"));
        let anchor = r["annotations"]["runbook_url"]
            .as_str()
            .unwrap()
            .rsplit_once('#')
            .unwrap()
            .1;
        assert_eq!(anchor, name.to_lowercase());
        assert!(
            runbooks.contains(&format!("\n## {name}\n")),
            "docs/runbooks.md has no section {name}"
        );
    }
    let expr = |name: &str| {
        rules.iter().find(|r| r["alert"] == name).unwrap()["expr"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(expr("McpTenantToolErrorRatioHigh").ends_with("> 0.02"));
    assert!(expr("McpTenantToolLatencyHigh").ends_with("> 3"));
    assert!(expr("McpTenantAuthFailuresHigh").ends_with("> 0.5"));
    assert!(expr("McpTenantRateLimitedHigh").ends_with("> 2"));
    assert!(expr("McpTenantGraphErrorsHigh").contains("status=~\"429|5..\""));
}

#[test]
fn every_optional_kind_is_prunable() {
    let prunable: BTreeSet<String> = prunable_resources().into_iter().map(|r| r.kind).collect();
    let mut variants = Vec::new();
    for example in [
        "minimal.yaml",
        "production.yaml",
        "ingress-cert-manager.yaml",
        "external-idp.yaml",
    ] {
        let tenant = mk_tenant(example);
        variants.push(kinds(&build(&tenant, true)));
        variants.push(kinds(&build(&tenant, false)));
    }
    let all: BTreeSet<&String> = variants.iter().flatten().collect();
    for kind in all {
        let everywhere = variants.iter().all(|v| v.contains(kind));
        assert!(
            everywhere || prunable.contains(kind.as_str()),
            "{kind} comes and goes but is not prunable"
        );
    }
}

#[test]
fn build_refuses_an_invalid_spec_and_a_tenant_without_uid() {
    let mut tenant = mk_tenant("minimal.yaml");
    tenant.spec.tools.disabled = vec!["mail_delete".into()];
    // Validation comes before build: the builders take only a validated tenant.
    let err = validate(&tenant).err().unwrap();
    assert_eq!(
        err.to_string(),
        r#"invalid McpTenant: spec.tools.disabled[0]: "mail_delete" names no known tool"#
    );

    let mut tenant = mk_tenant("minimal.yaml");
    tenant.metadata.uid = None;
    assert!(matches!(validate(&tenant), Err(InvalidTenant::MissingUid)));
}

#[test]
fn trusted_proxies_come_from_the_spec_or_else_the_operator_default() {
    let defaults = mcp_tenancy_operator::build::OperatorDefaults {
        trusted_proxies: vec!["10.96.0.0/12".into()],
        ..mk_defaults()
    };
    let config_map = |tenant: &McpTenant| {
        let children = build_children(&BuildInput {
            tenant: validated(tenant),
            defaults: &defaults,
            secrets_checksum: SECRETS_CHECKSUM,
            monitoring_crds_installed: false,
        })
        .unwrap();
        let text = object(&children, "ConfigMap")["data"][CONFIG_FILE]
            .as_str()
            .unwrap()
            .to_owned();
        (TenantConfig::from_yaml(&text).unwrap(), text)
    };

    let mut tenant = mk_tenant("minimal.yaml");
    assert_eq!(tenant.spec.network.trusted_proxies, None);
    let (config, text) = config_map(&tenant);
    assert_eq!(config.server.trusted_proxies, ["10.96.0.0/12"]);
    assert!(
        text.contains("trustedProxies:"),
        "written out, not left to the server's default"
    );
    // The default of the test fixtures (and of the operator without the flag) is the contract's.
    assert_eq!(
        build_tenant_config(&validated(&tenant), &mk_defaults())
            .unwrap()
            .server
            .trusted_proxies,
        mcp_tenancy_config::DEFAULT_TRUSTED_PROXIES
    );

    tenant.spec.network.trusted_proxies = Some(vec!["35.191.0.0/16".into(), "2001:db8::7".into()]);
    let (config, _) = config_map(&tenant);
    assert_eq!(config.server.trusted_proxies, ["35.191.0.0/16", "2001:db8::7"]);

    // An explicit empty list is kept: never believe X-Forwarded-For, whatever the default.
    tenant.spec.network.trusted_proxies = Some(Vec::new());
    let (config, text) = config_map(&tenant);
    assert!(config.server.trusted_proxies.is_empty());
    assert!(text.contains("trustedProxies: []"), "{text}");

    let production = build_tenant_config(&validated(&mk_tenant("production.yaml")), &defaults).unwrap();
    assert_eq!(
        production.server.trusted_proxies,
        ["10.244.0.0/16", "35.191.0.0/16", "130.211.0.0/22"]
    );

    tenant.spec.network.trusted_proxies = Some(vec!["10.244.1.0/16".into()]);
    let err = validate(&tenant).err().unwrap();
    assert!(
        err.to_string()
            .contains("spec.network.trustedProxies[0]: invalid CIDR \"10.244.1.0/16\""),
        "{err}"
    );
}
