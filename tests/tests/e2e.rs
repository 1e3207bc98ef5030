//! End-to-end: the operator (in-process, through the library) against the cluster KUBECONFIG
//! names. Without KUBECONFIG it prints "skipped: KUBECONFIG not set" and passes.
//!
//! What it does, per example manifest in `examples/`: installs the CRD, creates the tenant's
//! namespace and referenced Secrets and ConfigMaps, applies the tenant, waits for every child the cluster can
//! hold and for the conditions, deletes a child and sees it restored, edits the spec and sees the
//! pods roll, restarts the operator and checks the key material is unchanged, then deletes the
//! tenants (one with `Retain`, the others with `Delete`) and checks what remains. See docs/e2e.md.

#[cfg(test)]
mod e2e {
    use std::{
        collections::BTreeMap,
        path::{Path, PathBuf},
        time::Duration,
    };

    use k8s_openapi::{
        ByteString,
        api::core::v1::{ConfigMap, Namespace, Pod, Secret},
        apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    };
    use kube::{
        Api, Client, CustomResourceExt, ResourceExt,
        api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams},
        core::{DynamicObject, GroupVersionKind},
        discovery::Discovery,
    };
    use mcp_tenancy_operator::{
        api::{DeletionPolicy, McpTenant, SecretKeyRef},
        build::{
            BuildInput, KEYS_SECRET_NAME, OperatorDefaults, TENANT_LABEL, build_children,
            referenced_config_maps, referenced_secrets, tenant_namespace,
        },
        controller::{
            conditions as c,
            kinds::OPTIONAL_GROUPS,
            runtime::{self, Settings},
        },
        render,
    };
    use serde_json::json;
    use tokio::task::JoinHandle;
    use tokio_util::sync::CancellationToken;

    const MANAGER: &str = "mcp-tenancy-e2e";
    const WAIT: Duration = Duration::from_secs(120);

    fn defaults() -> OperatorDefaults {
        OperatorDefaults {
            server_image: std::env::var("MCP_TENANCY_SERVER_IMAGE")
                .unwrap_or_else(|_| "ghcr.io/mcp-tenancy/mcp-tenant-server:0.1.0".into()),
            ingress_controller_namespace: "ingress-system".into(),
            monitoring_namespace: "monitoring".into(),
            trusted_proxies: mcp_tenancy_config::default_trusted_proxies(),
        }
    }

    /// The operator running in this process.
    struct Operator {
        stop: CancellationToken,
        task: JoinHandle<()>,
    }

    impl Operator {
        fn start(client: &Client) -> Self {
            let stop = CancellationToken::new();
            let settings = Settings {
                defaults: defaults(),
                metrics_addr: "127.0.0.1:0".parse().unwrap(),
                health_addr: "127.0.0.1:0".parse().unwrap(),
                leader_election: None,
            };
            let (client, token) = (client.clone(), stop.clone());
            let task = tokio::spawn(async move {
                runtime::run(client, settings, token)
                    .await
                    .expect("operator failed");
            });
            Self { stop, task }
        }

        async fn stop(self) {
            self.stop.cancel();
            tokio::time::timeout(Duration::from_secs(30), self.task)
                .await
                .expect("operator stops")
                .unwrap();
        }
    }

    /// Polls `check` until it returns `Some` or [`WAIT`] passes.
    async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(value) = check().await {
                return value;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn examples() -> Vec<PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        files
    }

    /// The Redis URL (`redis://host:port/db`) the test puts into the URL Secret of a tenant with
    /// Redis storage, from `MCP_TENANCY_E2E_REDIS_URL`. Without it that Secret holds a
    /// placeholder, the server cannot open its store, and its pods are not checked.
    fn e2e_redis_url() -> Option<String> {
        std::env::var("MCP_TENANCY_E2E_REDIS_URL")
            .ok()
            .map(|url| url.trim().to_owned())
            .filter(|url| !url.is_empty())
    }

    /// The Secret key holding the tenant's Redis URL, if its store is Redis.
    fn redis_url_ref(tenant: &McpTenant) -> Option<&SecretKeyRef> {
        let storage = tenant.spec.server.storage.as_ref()?;
        storage.redis.as_ref().map(|redis| &redis.url_secret_ref)
    }

    /// The example as a test tenant: `e2e-<file stem>` in namespace `mcp-e2e-<file stem>`.
    fn tenant_from(path: &Path, policy: DeletionPolicy) -> McpTenant {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let mut tenant = render::parse_manifest(&std::fs::read_to_string(path).unwrap()).unwrap();
        tenant.metadata = ObjectMeta {
            name: Some(format!("e2e-{stem}")),
            ..ObjectMeta::default()
        };
        tenant.spec.namespace = Some(format!("mcp-e2e-{stem}"));
        tenant.spec.deletion_policy = policy;
        // Issuers inside the cluster's own DNS zone, which answers without asking anyone outside:
        // the servers look them up and find nothing, as with an issuer that is down.
        let issuer = format!("https://issuer.mcp-e2e-{stem}.svc.cluster.local/v2.0");
        tenant.spec.identity.upstream.issuer.clone_from(&issuer);
        if let Some(external) = &mut tenant.spec.identity.external {
            external.jwks_uri = Some(format!("{issuer}/keys"));
            external.issuer = issuer;
        }
        tenant
    }

    async fn install_crd(client: &Client) {
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        let crd = McpTenant::crd();
        crds.patch(
            &crd.name_any(),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap();
        wait_for("the CRD to be established", || async {
            let crd = crds.get(McpTenant::crd_name()).await.ok()?;
            let established = crd
                .status?
                .conditions?
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            established.then_some(())
        })
        .await;
    }

    /// A PEM certificate of a CA made for the test: what a referenced CA bundle holds.
    fn private_ca_pem() -> String {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .self_signed(&rcgen::KeyPair::generate().unwrap())
            .unwrap()
            .pem()
    }

    /// The tenant namespace and every Secret and ConfigMap the tenant references, with
    /// placeholder values (a CA bundle gets a real CA certificate: the server parses it at start;
    /// a Redis URL key gets `MCP_TENANCY_E2E_REDIS_URL` when set).
    async fn prepare(client: &Client, tenant: &McpTenant) {
        let namespace = tenant_namespace(tenant);
        let namespaces: Api<Namespace> = Api::all(client.clone());
        // Labelled for the tenant: the operator adopts no namespace that is not.
        let ns = json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {TENANT_LABEL: tenant.name_any()}}});
        namespaces
            .patch(&namespace, &PatchParams::apply(MANAGER), &Patch::Apply(&ns))
            .await
            .unwrap();
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
        for (name, keys) in referenced_secrets(&tenant.spec) {
            let data: BTreeMap<String, ByteString> = keys
                .into_iter()
                .map(|k| {
                    let ca = tenant
                        .spec
                        .identity
                        .ca_bundle
                        .as_ref()
                        .and_then(|b| b.secret_key_ref.as_ref());
                    let is = |r: Option<&SecretKeyRef>| r.is_some_and(|r| r.name == name && r.key == k);
                    let value = if is(ca) {
                        private_ca_pem().into_bytes()
                    } else if let Some(url) = e2e_redis_url().filter(|_| is(redis_url_ref(tenant))) {
                        url.into_bytes()
                    } else {
                        b"e2e-placeholder".to_vec()
                    };
                    (k, ByteString(value))
                })
                .collect();
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    ..ObjectMeta::default()
                },
                data: Some(data),
                ..Secret::default()
            };
            secrets
                .patch(
                    &name,
                    &PatchParams::apply(MANAGER).force(),
                    &Patch::Apply(&secret),
                )
                .await
                .unwrap();
        }
        let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
        for (name, keys) in referenced_config_maps(&tenant.spec) {
            let config_map = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    ..ObjectMeta::default()
                },
                data: Some(keys.into_iter().map(|k| (k, private_ca_pem())).collect()),
                ..ConfigMap::default()
            };
            config_maps
                .patch(
                    &name,
                    &PatchParams::apply(MANAGER).force(),
                    &Patch::Apply(&config_map),
                )
                .await
                .unwrap();
        }
    }

    async fn apply_tenant(client: &Client, tenant: &McpTenant) {
        let api: Api<McpTenant> = Api::all(client.clone());
        let mut manifest = serde_json::to_value(tenant).unwrap();
        manifest.as_object_mut().unwrap().remove("status");
        api.patch(
            &tenant.name_any(),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&manifest),
        )
        .await
        .unwrap();
    }

    /// Waits until the status describes the current generation with keys ready and nothing degraded.
    async fn wait_reconciled(client: &Client, name: &str) -> McpTenant {
        let api: Api<McpTenant> = Api::all(client.clone());
        wait_for(&format!("{name} reconciled"), || async {
            let t = api.get(name).await.ok()?;
            let status = t.status.as_ref()?;
            let current = status.observed_generation == t.metadata.generation;
            let cond = |ty: &str| {
                status
                    .conditions
                    .iter()
                    .find(|c| c.type_ == ty)
                    .map(|c| c.status.clone())
            };
            let ok = current
                && cond(c::KEYS_READY).as_deref() == Some("True")
                && cond(c::DEGRADED).as_deref() == Some("False")
                && [c::READY, c::PROGRESSING, c::EXPOSURE_READY, c::MONITORING_READY]
                    .iter()
                    .all(|ty| cond(ty).is_some());
            ok.then_some(t)
        })
        .await
    }

    /// The children the cluster can hold (optional kinds only where their CRDs exist), built
    /// from the live tenant: owner references need the uid the API server gave it.
    async fn expected_children(
        client: &Client,
        tenant: &McpTenant,
    ) -> Vec<(kube::core::ApiResource, String)> {
        let live = Api::<McpTenant>::all(client.clone())
            .get(&tenant.name_any())
            .await
            .unwrap();
        let tenant = &live;
        let discovery = Discovery::new(client.clone())
            .filter(&OPTIONAL_GROUPS)
            .run()
            .await
            .unwrap();
        let monitoring = ["ServiceMonitor", "PrometheusRule"].iter().all(|k| {
            discovery
                .resolve_gvk(&GroupVersionKind::gvk("monitoring.coreos.com", "v1", k))
                .is_some()
        });
        let input = BuildInput {
            tenant: mcp_tenancy_operator::validate::validate(tenant).unwrap(),
            defaults: &defaults(),
            secrets_checksum: "",
            monitoring_crds_installed: monitoring,
        };
        build_children(&input)
            .unwrap()
            .into_iter()
            .filter(|c| {
                let r = &c.resource;
                !OPTIONAL_GROUPS.contains(&r.group.as_str())
                    || discovery
                        .resolve_gvk(&GroupVersionKind::gvk(&r.group, &r.version, &r.kind))
                        .is_some()
            })
            .map(|c| (c.resource, c.object.name_any()))
            .collect()
    }

    /// The tenant's server pod starts (its startup probe passed), has not restarted, and answers
    /// `/mcp` without a token with 401 and `WWW-Authenticate`. A Builtin tenant's pod also becomes
    /// Ready although its upstream issuer does not resolve (it verifies tokens with its own keys),
    /// its status names the redirect URI to register upstream, and it serves its authorization
    /// server metadata with its public URL as issuer.
    ///
    /// A tenant with Redis storage is checked only with `MCP_TENANCY_E2E_REDIS_URL` set: the
    /// server connects to its store before it listens and exits when it cannot (the placeholder
    /// URL does not parse; an unreachable Redis fails the first connection), so without a Redis
    /// it never starts. The test then says so instead of passing quietly.
    async fn wait_server_started(client: &Client, tenant: &McpTenant) {
        if let Some(url_ref) = redis_url_ref(tenant)
            && e2e_redis_url().is_none()
        {
            println!(
                "{}: NOT CHECKED: server start, GET /mcp and readiness (Redis storage, Secret {}/{} \
                 holds a placeholder; set MCP_TENANCY_E2E_REDIS_URL to a Redis the pods can reach)",
                tenant.name_any(),
                url_ref.name,
                url_ref.key
            );
            return;
        }
        let namespace = tenant_namespace(tenant);
        let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
        let selector = format!("{TENANT_LABEL}={}", tenant.name_any());
        let started = wait_for(
            &format!("the server pod of {} started", tenant.name_any()),
            || async {
                let list = pods.list(&ListParams::default().labels(&selector)).await.ok()?;
                let pod = list.items.into_iter().next()?;
                let status = pod.status.clone()?.container_statuses?.into_iter().next()?;
                status
                    .started
                    .unwrap_or(false)
                    .then_some((pod.name_any(), status.restart_count))
            },
        )
        .await;
        assert_eq!(started.1, 0, "{} restarted before it started", started.0);
        let host = &tenant.spec.network.host;
        let (status, headers, _) = get(&pods, &started.0, host, "/mcp").await;
        assert!(
            status.starts_with("HTTP/1.1 401"),
            "{}: GET /mcp answered {status}",
            started.0
        );
        assert!(
            headers.iter().any(|h| h
                .to_ascii_lowercase()
                .starts_with("www-authenticate: bearer resource_metadata=")),
            "{}: 401 without WWW-Authenticate: {headers:?}",
            started.0
        );
        println!(
            "{}: pod {} started with no restarts; GET /mcp answers {status} with WWW-Authenticate",
            tenant.name_any(),
            started.0
        );
        if tenant.spec.identity.mode == mcp_tenancy_config::IdentityMode::Builtin {
            wait_builtin_ready(client, tenant, &pods, &started.0).await;
        }
    }

    /// The Builtin tenant's pod passes its readiness probe, `status.identity` names the callback,
    /// and the metadata names the public URL as issuer.
    async fn wait_builtin_ready(client: &Client, tenant: &McpTenant, pods: &Api<Pod>, pod: &str) {
        let ready = wait_for(&format!("pod {pod} Ready"), || async {
            let conditions = pods.get(pod).await.ok()?.status?.conditions?;
            conditions
                .into_iter()
                .find(|c| c.type_ == "Ready" && c.status == "True")
                .map(|c| c.last_transition_time)
        })
        .await;
        let issuer = format!("https://{}", tenant.spec.network.host);
        let tenants: Api<McpTenant> = Api::all(client.clone());
        let identity = wait_for(&format!("{} status.identity", tenant.name_any()), || async {
            tenants.get(&tenant.name_any()).await.ok()?.status?.identity
        })
        .await;
        assert_eq!(identity.redirect_uri, format!("{issuer}/oauth/callback"));
        assert_eq!(identity.issuer, issuer);
        let (status, _, body) = get(
            pods,
            pod,
            &tenant.spec.network.host,
            "/.well-known/oauth-authorization-server",
        )
        .await;
        assert!(
            status.starts_with("HTTP/1.1 200"),
            "{pod}: metadata answered {status}"
        );
        let json = &body[body.find('{').unwrap_or(0)..=body.rfind('}').unwrap_or(0)];
        let metadata: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(metadata["issuer"], issuer.as_str(), "{pod}: {metadata}");
        let store = match redis_url_ref(tenant) {
            Some(r) => format!("Redis from Secret {}/{}", r.name, r.key),
            None => "embedded".to_owned(),
        };
        println!(
            "{}: pod {pod} Ready (since {:?}, store {store}); status.identity.redirectUri {}; metadata issuer {}",
            tenant.name_any(),
            ready.map(|t| t.0),
            identity.redirect_uri,
            metadata["issuer"]
        );
    }

    /// `GET <path>` on the pod's HTTP port through a port-forward (the kubelet enters the pod's
    /// network), with the tenant's public host as Host: the status line, the headers and the body.
    async fn get(pods: &Api<Pod>, pod: &str, host: &str, path: &str) -> (String, Vec<String>, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let port = mcp_tenancy_config::HTTP_PORT;
        let mut forward = pods.portforward(pod, &[port]).await.unwrap();
        let mut stream = forward.take_stream(port).unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
            .await
            .expect("the pod answers within 10 s")
            .unwrap();
        drop(stream);
        let _ = forward.join().await;
        let text = String::from_utf8_lossy(&response);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines().map(str::to_owned);
        let status = lines.next().unwrap_or_default();
        (status, lines.collect(), body.to_owned())
    }

    fn dynamic(client: &Client, ar: &kube::core::ApiResource, namespace: &str) -> Api<DynamicObject> {
        if ar.kind == "Namespace" {
            Api::all_with(client.clone(), ar)
        } else {
            Api::namespaced_with(client.clone(), namespace, ar)
        }
    }

    async fn key_material(client: &Client, namespace: &str) -> BTreeMap<String, ByteString> {
        let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
        secrets.get(KEYS_SECRET_NAME).await.unwrap().data.unwrap()
    }

    async fn workload_template_annotations(client: &Client, tenant: &McpTenant) -> serde_json::Value {
        let namespace = tenant_namespace(tenant);
        for (ar, name) in expected_children(client, tenant).await {
            if ar.group == "apps" {
                let object = dynamic(client, &ar, &namespace).get(&name).await.unwrap();
                return object.data["spec"]["template"]["metadata"]["annotations"].clone();
            }
        }
        panic!("no workload");
    }

    async fn cleanup(client: &Client, tenants: &[McpTenant]) {
        let api: Api<McpTenant> = Api::all(client.clone());
        let namespaces: Api<Namespace> = Api::all(client.clone());
        for t in tenants {
            let _ = api.delete(&t.name_any(), &DeleteParams::default()).await;
        }
        for t in tenants {
            // Without a running operator the finalizer would block deletion: drop it.
            let patch = json!({"metadata": {"finalizers": null}});
            let _ = api
                .patch(&t.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
                .await;
            let _ = namespaces
                .delete(&tenant_namespace(t), &DeleteParams::default())
                .await;
        }
    }

    #[tokio::test]
    async fn operator_end_to_end() {
        if std::env::var_os("KUBECONFIG").is_none() {
            println!("skipped: KUBECONFIG not set");
            return;
        }
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = Client::try_default()
            .await
            .expect("a client for the KUBECONFIG cluster");
        install_crd(&client).await;

        // The first example is deleted with Retain, the others with Delete.
        let tenants: Vec<McpTenant> = examples()
            .iter()
            .enumerate()
            .map(|(i, p)| {
                tenant_from(
                    p,
                    if i == 0 {
                        DeletionPolicy::Retain
                    } else {
                        DeletionPolicy::Delete
                    },
                )
            })
            .collect();
        assert!(!tenants.is_empty(), "no examples found");
        cleanup(&client, &tenants).await;
        for t in &tenants {
            let ns = tenant_namespace(t);
            let namespaces: Api<Namespace> = Api::all(client.clone());
            wait_for(&format!("leftover namespace {ns} gone"), || async {
                namespaces.get_opt(&ns).await.ok()?.is_none().then_some(())
            })
            .await;
        }

        let operator = Operator::start(&client);
        for t in &tenants {
            prepare(&client, t).await;
            apply_tenant(&client, t).await;
        }

        for t in &tenants {
            let name = t.name_any();
            let namespace = tenant_namespace(t);
            let live = wait_reconciled(&client, &name).await;
            let status = live.status.clone().unwrap();
            assert_eq!(status.namespace.as_deref(), Some(namespace.as_str()));
            assert!(status.url.as_deref().unwrap().ends_with("/mcp"));
            assert!(!status.keys.unwrap().active_kid.is_empty());
            for (ar, child) in expected_children(&client, t).await {
                let object = wait_for(&format!("{} {child}", ar.kind), || async {
                    dynamic(&client, &ar, &namespace).get_opt(&child).await.ok()?
                })
                .await;
                assert_eq!(
                    object.labels().get(TENANT_LABEL),
                    Some(&name),
                    "{} {child} is labelled",
                    ar.kind
                );
            }
            key_material(&client, &namespace).await;
            wait_server_started(&client, t).await;
        }

        // A deleted child comes back.
        let first = &tenants[0];
        let namespace = tenant_namespace(first);
        let (ar, config_map) = expected_children(&client, first)
            .await
            .into_iter()
            .find(|(ar, _)| ar.kind == "ConfigMap")
            .unwrap();
        let api = dynamic(&client, &ar, &namespace);
        let old_uid = api.get(&config_map).await.unwrap().uid();
        api.delete(&config_map, &DeleteParams::default()).await.unwrap();
        wait_for("the deleted ConfigMap to be restored", || async {
            let restored = api.get_opt(&config_map).await.ok()??;
            (restored.uid() != old_uid).then_some(())
        })
        .await;

        // A spec change rolls the pods (new config checksum on the pod template).
        let before = workload_template_annotations(&client, first).await;
        let mut edited = first.clone();
        edited.spec.display_name = Some("Edited by the e2e test".into());
        apply_tenant(&client, &edited).await;
        wait_for("the rollout after a spec change", || async {
            let now = workload_template_annotations(&client, first).await;
            (now != before).then_some(())
        })
        .await;
        wait_reconciled(&client, &first.name_any()).await;

        // Key material survives an operator restart.
        let keys_before = key_material(&client, &namespace).await;
        operator.stop().await;
        let operator = Operator::start(&client);
        let mut edited_again = edited.clone();
        edited_again.spec.display_name = Some("Edited after a restart".into());
        apply_tenant(&client, &edited_again).await;
        wait_reconciled(&client, &first.name_any()).await;
        assert_eq!(
            key_material(&client, &namespace).await,
            keys_before,
            "keys changed across a restart"
        );

        // Deletion: Retain keeps namespace and keys, detached; Delete removes the namespace.
        let api: Api<McpTenant> = Api::all(client.clone());
        let namespaces: Api<Namespace> = Api::all(client.clone());
        for t in &tenants {
            api.delete(&t.name_any(), &DeleteParams::default()).await.unwrap();
        }
        for t in &tenants {
            let name = t.name_any();
            wait_for(&format!("{name} gone"), || async {
                api.get_opt(&name).await.ok()?.is_none().then_some(())
            })
            .await;
            let ns = tenant_namespace(t);
            match t.spec.deletion_policy {
                DeletionPolicy::Retain => {
                    let kept = namespaces.get(&ns).await.expect("Retain keeps the namespace");
                    assert!(kept.metadata.deletion_timestamp.is_none());
                    assert!(
                        kept.owner_references().iter().all(|o| o.kind != "McpTenant"),
                        "namespace detached"
                    );
                    assert_eq!(
                        key_material(&client, &ns).await,
                        keys_before,
                        "Retain keeps the keys"
                    );
                }
                DeletionPolicy::Delete => {
                    let gone = namespaces.get_opt(&ns).await.unwrap();
                    assert!(
                        gone.is_none_or(|n| n.metadata.deletion_timestamp.is_some()),
                        "Delete removes namespace {ns}"
                    );
                }
            }
        }

        // Re-applying the retained tenant adopts its namespace and keys.
        apply_tenant(&client, first).await;
        wait_reconciled(&client, &first.name_any()).await;
        assert_eq!(
            key_material(&client, &namespace).await,
            keys_before,
            "adoption keeps the keys"
        );

        operator.stop().await;
        cleanup(&client, &tenants).await;
    }
}
