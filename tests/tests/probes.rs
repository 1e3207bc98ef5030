//! The kubelet's probes reach what the server serves: for every example tenant, each probe of the
//! pod the operator builds names a port and path that the server's router on that port answers,
//! with the Host header the kubelet sends (the pod IP and port), not with 403 or 404.

#[cfg(test)]
mod probes {
    use std::{path::Path, sync::Arc};

    use async_trait::async_trait;
    use axum::body::Body;
    use http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use mcp_tenancy_config::{CONFIG_FILE, TenantConfig};
    use mcp_tenancy_operator::{
        build::{CONFIG_MAP_NAME, OperatorDefaults},
        render,
    };
    use mcp_tenant_server::{
        app::{AppState, app, ops_app},
        auth::{AuthFailure, TokenVerifier, VerifiedClaims},
        store::EmbeddedStore,
    };
    use serde_json::Value;
    use tower::ServiceExt;

    /// Keys that never verify a token: readiness then reports `keys: false`.
    struct NoKeys;

    #[async_trait]
    impl TokenVerifier for NoKeys {
        async fn verify(&self, _: &str) -> Result<VerifiedClaims, AuthFailure> {
            Err(AuthFailure::Missing)
        }

        async fn ready(&self) -> bool {
            false
        }
    }

    fn defaults() -> OperatorDefaults {
        OperatorDefaults {
            server_image: "registry.example/mcp-tenant-server:1".into(),
            ingress_controller_namespace: "ingress-system".into(),
            monitoring_namespace: "monitoring".into(),
            trusted_proxies: mcp_tenancy_config::default_trusted_proxies(),
        }
    }

    /// The config the operator writes and the server container of the pod it builds.
    fn built(example: &Path) -> (TenantConfig, Value) {
        let tenant = render::parse_manifest(&std::fs::read_to_string(example).unwrap()).unwrap();
        let children = render::render_children(tenant, &defaults(), true).unwrap();
        let config_map = children
            .iter()
            .find(|c| {
                c.resource.kind == "ConfigMap" && c.object.metadata.name.as_deref() == Some(CONFIG_MAP_NAME)
            })
            .expect("the tenant ConfigMap");
        let config = config_map.object.data["data"][CONFIG_FILE].as_str().unwrap();
        let workload = children
            .iter()
            .find(|c| c.resource.group == "apps")
            .expect("the workload");
        let container = workload.object.data["spec"]["template"]["spec"]["containers"][0].clone();
        (TenantConfig::from_yaml(config).unwrap(), container)
    }

    #[tokio::test]
    async fn every_probe_is_answered_on_its_port_with_the_kubelets_host_header() {
        let examples: Vec<_> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        assert!(!examples.is_empty());
        for example in examples {
            let (config, container) = built(&example);
            let (listen, metrics_listen) = (config.server.listen.port(), config.server.metrics_listen.port());
            let state = AppState::new(
                config,
                Arc::new(NoKeys),
                Vec::new(),
                Arc::new(EmbeddedStore::in_memory()),
            )
            .unwrap();
            for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
                let get = &container[probe]["httpGet"];
                let (path, port_name) = (get["path"].as_str().unwrap(), get["port"].as_str().unwrap());
                let port = container["ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["name"] == port_name)
                    .and_then(|p| p["containerPort"].as_u64())
                    .unwrap_or_else(|| panic!("{probe}: no container port named {port_name}"));
                // The router the server runs on that port.
                let router = if port == u64::from(listen) {
                    app(state.clone())
                } else if port == u64::from(metrics_listen) {
                    ops_app(state.clone())
                } else {
                    panic!("{probe}: port {port} is not a port the server listens on");
                };
                let request = Request::get(path)
                    .header(http::header::HOST, format!("10.244.0.17:{port}"))
                    .body(Body::empty())
                    .unwrap();
                let response = router.oneshot(request).await.unwrap();
                let status = response.status();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                let what = format!("{}: {probe} GET {path} on port {port}", example.display());
                if probe == "readinessProbe" {
                    // Not ready without keys, and saying why: the probe reached the check.
                    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}");
                    let report: Value = serde_json::from_slice(&body).unwrap();
                    assert_eq!(report["keys"], false, "{what}");
                } else {
                    assert_eq!(
                        status,
                        StatusCode::OK,
                        "{what}: {}",
                        String::from_utf8_lossy(&body)
                    );
                }
            }
        }
    }
}
