//! The Helm chart (charts/mcp-tenancy), rendered the way scripts/test-chart renders it (Helm 4
//! in-process through helm-python-sdk, in the venv scripts/setup makes) and applied to the cluster
//! KUBECONFIG names. See docs/e2e.md.
//!
//! - `chart_renders_parseable_objects` needs no cluster: it renders the chart with the values the
//!   cluster test uses and checks every document parses (serde-saphyr) and names itself, and the
//!   properties the cluster test relies on. Without the venv it says so and passes.
//! - `chart_installs_and_uninstalls` server-side applies every rendered object (the CRD first,
//!   then Helm's install order), checks the CRD is Established, the ClusterRole rules are
//!   `files/clusterrole-rules.yaml`, the operator Deployment is hardened, and, when
//!   `MCP_TENANCY_OPERATOR_IMAGE` names an image the cluster can pull, that the Deployment becomes
//!   Available with its pod Ready (the kubelet's `/readyz` probe passed). Then it uninstalls in
//!   reverse order, keeping the CRD as `helm.sh/resource-policy: keep` asks, and deletes the
//!   release namespace. Without KUBECONFIG it prints "skipped: KUBECONFIG not set" and passes.

#[cfg(test)]
mod chart {
    use std::{
        path::{Path, PathBuf},
        process::Command,
        time::Duration,
    };

    use k8s_openapi::{
        api::{
            apps::v1::Deployment,
            core::v1::{Namespace, Pod},
            rbac::v1::{ClusterRole, PolicyRule},
        },
        apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    };
    use kube::{
        Api, Client,
        api::{DeleteParams, ListParams, Patch, PatchParams},
        core::{DynamicObject, GroupVersionKind},
        discovery::{self, Scope},
    };
    use serde_json::{Value, json};

    /// Release name and namespace of the test install (distinct from the e2e test's `mcp-e2e-*`).
    /// The release name contains the chart name, so it is also the prefix of every object name.
    const RELEASE: &str = "mcp-tenancy-chart-e2e";
    const NAMESPACE: &str = "mcp-tenancy-chart-e2e";
    const MANAGER: &str = "mcp-tenancy-chart-e2e";
    const KEEP_ANNOTATION: &str = "helm.sh/resource-policy";
    const WAIT: Duration = Duration::from_secs(180);

    /// Helm's install order (pkg/release/v1/util/kind_sorter.go); uninstall is the reverse.
    const INSTALL_ORDER: &[&str] = &[
        "PriorityClass",
        "Namespace",
        "NetworkPolicy",
        "ResourceQuota",
        "LimitRange",
        "PodSecurityPolicy",
        "PodDisruptionBudget",
        "ServiceAccount",
        "Secret",
        "SecretList",
        "ConfigMap",
        "StorageClass",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleList",
        "ClusterRoleBinding",
        "ClusterRoleBindingList",
        "Role",
        "RoleList",
        "RoleBinding",
        "RoleBindingList",
        "Service",
        "DaemonSet",
        "Pod",
        "ReplicationController",
        "ReplicaSet",
        "Deployment",
        "HorizontalPodAutoscaler",
        "StatefulSet",
        "Job",
        "CronJob",
        "IngressClass",
        "Ingress",
        "APIService",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ];

    /// Renders the chart as test_chart.py does: `Chart.render(..., is_install=True)`, every
    /// template but NOTES.txt, in path order. Prints the YAML Helm produced, unparsed.
    const RENDER_PY: &str = r#"
import json, sys
import helm_python as helm
chart_dir, name, namespace, values = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
with helm.Chart.load(chart_dir) as chart:
    manifests = chart.render(values=values, name=name, namespace=namespace, is_install=True)
for path, text in sorted(manifests.items()):
    if path.endswith("NOTES.txt") or not text.strip():
        continue
    sys.stdout.write(f"---\n# Source: {path}\n{text.rstrip()}\n")
"#;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    fn chart_dir() -> PathBuf {
        root().join("charts/mcp-tenancy")
    }

    fn venv_python() -> PathBuf {
        root().join(".ci/work/venv/bin/python3")
    }

    /// The venv's Python, or `None` when scripts/setup has not made the venv.
    fn python() -> Option<PathBuf> {
        let python = venv_python();
        python.exists().then_some(python)
    }

    /// The rendered chart: every non-empty YAML document, parsed.
    fn render(python: &Path, values: &Value) -> Vec<Value> {
        let output = Command::new(python)
            .arg("-c")
            .arg(RENDER_PY)
            .arg(chart_dir())
            .arg(RELEASE)
            .arg(NAMESPACE)
            .arg(values.to_string())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e} (run scripts/setup)", python.display()));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stderr.contains("No module named 'helm_python'"),
            "helm-python-sdk is not installed in {}: run scripts/setup",
            python.display()
        );
        assert!(
            output.status.success(),
            "rendering the chart failed ({}):\n{stderr}",
            output.status
        );
        let text = String::from_utf8(output.stdout).expect("the rendered chart is UTF-8");
        serde_saphyr::from_multiple::<Value>(&text)
            .unwrap_or_else(|e| panic!("the rendered chart is not valid YAML: {e}\n{text}"))
            .into_iter()
            .filter(|doc| !doc.is_null())
            .collect()
    }

    /// `repository[:tag]` or `repository@sha256:...` as the chart's image values.
    fn image_values(reference: &str) -> Value {
        if let Some((repository, digest)) = reference.split_once('@') {
            return json!({"repository": repository, "tag": "", "digest": digest});
        }
        let last = reference.rsplit('/').next().unwrap_or(reference);
        match last.rsplit_once(':') {
            Some((_, tag)) => {
                let repository = &reference[..reference.len() - tag.len() - 1];
                json!({"repository": repository, "tag": tag, "digest": ""})
            }
            None => json!({"repository": reference, "tag": "latest", "digest": ""}),
        }
    }

    /// The reference the chart makes of [`image_values`] (`repository@digest` or `repository:tag`).
    fn image_ref(reference: &str) -> String {
        let v = image_values(reference);
        let (repository, tag, digest) = (&v["repository"], &v["tag"], &v["digest"]);
        match (repository.as_str(), tag.as_str(), digest.as_str()) {
            (Some(r), _, Some(d)) if !d.is_empty() => format!("{r}@{d}"),
            (Some(r), Some(t), _) => format!("{r}:{t}"),
            _ => reference.to_string(),
        }
    }

    fn env_image(name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }

    /// The test's values. The tenant defaults match tests/tests/e2e.rs, so that an operator
    /// running from the chart and the e2e test's in-process operator want the same children.
    fn test_values(operator_image: Option<&str>) -> Value {
        let mut values = json!({
            "logFormat": "text",
            "tenantDefaults": {
                "ingressControllerNamespace": "ingress-system",
                "monitoringNamespace": "monitoring",
            },
        });
        if let Some(image) = operator_image {
            values["image"] = image_values(image);
        }
        if let Some(image) = env_image("MCP_TENANCY_SERVER_IMAGE") {
            values["tenantDefaults"]["serverImage"] = image_values(&image);
        }
        values
    }

    fn str_at<'a>(doc: &'a Value, pointer: &str) -> Option<&'a str> {
        doc.pointer(pointer).and_then(Value::as_str)
    }

    fn kind(doc: &Value) -> &str {
        str_at(doc, "/kind").unwrap_or_default()
    }

    fn name(doc: &Value) -> &str {
        str_at(doc, "/metadata/name").unwrap_or_default()
    }

    fn describe(doc: &Value) -> String {
        format!("{} {}", kind(doc), name(doc))
    }

    fn gvk(doc: &Value) -> GroupVersionKind {
        let api_version = str_at(doc, "/apiVersion").unwrap_or_default();
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        GroupVersionKind::gvk(group, version, kind(doc))
    }

    /// Every document is an object that says what it is: apiVersion, kind, metadata.name.
    fn assert_identified(doc: &Value) {
        for pointer in ["/apiVersion", "/kind", "/metadata/name"] {
            assert!(
                str_at(doc, pointer).is_some_and(|s| !s.is_empty()),
                "a rendered document has no {pointer}:\n{doc:#}"
            );
        }
    }

    /// CRDs first (their kinds must exist before anything uses them), then Helm's install order.
    fn install_order(mut docs: Vec<Value>) -> Vec<Value> {
        docs.sort_by_key(|doc| match kind(doc) {
            "CustomResourceDefinition" => 0,
            k => {
                1 + INSTALL_ORDER
                    .iter()
                    .position(|o| *o == k)
                    .unwrap_or(INSTALL_ORDER.len())
            }
        });
        docs
    }

    fn find<'a>(docs: &'a [Value], kind_name: &str) -> &'a Value {
        let found: Vec<&Value> = docs.iter().filter(|d| kind(d) == kind_name).collect();
        assert_eq!(found.len(), 1, "expected one {kind_name} in the rendered chart");
        found[0]
    }

    fn keeps(doc: &Value) -> bool {
        doc.pointer("/metadata/annotations")
            .and_then(|a| a.get(KEEP_ANNOTATION))
            .and_then(Value::as_str)
            == Some("keep")
    }

    fn rules_file() -> Vec<PolicyRule> {
        let path = chart_dir().join("files/clusterrole-rules.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The pod and every container run as non-root 65532 with a read-only root, no privilege
    /// escalation, no capabilities and the RuntimeDefault seccomp profile.
    fn assert_hardened(deployment: &Deployment) {
        let pod = deployment
            .spec
            .template
            .spec
            .as_ref()
            .expect("the Deployment has a pod spec");
        let psc = pod.security_context.as_ref().expect("pod securityContext");
        assert_eq!(psc.run_as_non_root, Some(true), "pod runAsNonRoot");
        assert_eq!(psc.run_as_user, Some(65532), "pod runAsUser");
        assert_eq!(
            psc.seccomp_profile.as_ref().map(|p| p.type_.as_str()),
            Some("RuntimeDefault"),
            "pod seccompProfile"
        );
        assert_ne!(pod.host_network, Some(true), "hostNetwork");
        assert_ne!(pod.host_pid, Some(true), "hostPID");
        assert_ne!(pod.host_ipc, Some(true), "hostIPC");
        let containers = pod.containers.iter().chain(pod.init_containers.iter().flatten());
        for c in containers {
            let n = &c.name;
            let sc = c.security_context.as_ref().expect("container securityContext");
            assert_eq!(sc.run_as_non_root, Some(true), "{n}: runAsNonRoot");
            assert_eq!(sc.run_as_user, Some(65532), "{n}: runAsUser");
            assert_eq!(
                sc.read_only_root_filesystem,
                Some(true),
                "{n}: readOnlyRootFilesystem"
            );
            assert_eq!(
                sc.allow_privilege_escalation,
                Some(false),
                "{n}: allowPrivilegeEscalation"
            );
            assert_ne!(sc.privileged, Some(true), "{n}: privileged");
            let caps = sc.capabilities.as_ref().expect("capabilities");
            assert_eq!(
                caps.drop.as_deref(),
                Some(&["ALL".to_string()][..]),
                "{n}: drop ALL"
            );
            assert!(
                caps.add.as_ref().is_none_or(Vec::is_empty),
                "{n}: adds capabilities"
            );
            assert_eq!(
                sc.seccomp_profile.as_ref().map(|p| p.type_.as_str()),
                Some("RuntimeDefault"),
                "{n}: seccompProfile"
            );
            let probe = c.readiness_probe.as_ref().and_then(|p| p.http_get.as_ref());
            assert_eq!(
                probe.and_then(|g| g.path.as_deref()),
                Some("/readyz"),
                "{n}: readiness"
            );
        }
    }

    fn operator_image(deployment: &Deployment) -> Option<String> {
        deployment
            .spec
            .template
            .spec
            .as_ref()?
            .containers
            .first()?
            .image
            .clone()
    }

    /// What the cluster test relies on, checked on the rendered chart.
    fn assert_rendered(docs: &[Value], operator_image_ref: Option<&str>) {
        assert!(!docs.is_empty(), "the chart rendered nothing");
        for doc in docs {
            assert_identified(doc);
            let cluster_scoped = matches!(
                kind(doc),
                "CustomResourceDefinition" | "ClusterRole" | "ClusterRoleBinding"
            );
            let namespace = str_at(doc, "/metadata/namespace");
            if cluster_scoped {
                assert_eq!(namespace, None, "{} is cluster-scoped", describe(doc));
            } else {
                assert_eq!(namespace, Some(NAMESPACE), "{} namespace", describe(doc));
            }
        }
        let crd = find(docs, "CustomResourceDefinition");
        assert_eq!(name(crd), "mcptenants.mcptenancy.dev");
        assert!(keeps(crd), "the CRD lacks {KEEP_ANNOTATION}: keep");
        let role: ClusterRole = serde_json::from_value(find(docs, "ClusterRole").clone()).unwrap();
        assert_eq!(
            role.rules,
            Some(rules_file()),
            "ClusterRole rules differ from files/clusterrole-rules.yaml"
        );
        let deployment: Deployment = serde_json::from_value(find(docs, "Deployment").clone()).unwrap();
        assert_hardened(&deployment);
        if let Some(image) = operator_image_ref {
            assert_eq!(
                operator_image(&deployment),
                Some(image_ref(image)),
                "operator image"
            );
        }
        for k in ["ClusterRoleBinding", "ServiceAccount"] {
            find(docs, k);
        }
        let ordered = install_order(docs.to_vec());
        assert_eq!(
            kind(&ordered[0]),
            "CustomResourceDefinition",
            "the CRD goes first"
        );
    }

    #[test]
    fn image_references() {
        assert_eq!(
            image_values("mcp-tenancy-operator:dev"),
            json!({"repository": "mcp-tenancy-operator", "tag": "dev", "digest": ""})
        );
        assert_eq!(
            image_values("localhost:5000/mcp/operator"),
            json!({"repository": "localhost:5000/mcp/operator", "tag": "latest", "digest": ""})
        );
        assert_eq!(
            image_values("localhost:5000/mcp/operator:e2e"),
            json!({"repository": "localhost:5000/mcp/operator", "tag": "e2e", "digest": ""})
        );
        assert_eq!(image_ref("mcp-tenancy-operator"), "mcp-tenancy-operator:latest");
        assert_eq!(image_ref("localhost:5000/op:e2e"), "localhost:5000/op:e2e");
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(image_ref(&format!("op@{digest}")), format!("op@{digest}"));
        assert_eq!(
            image_values(&format!("ghcr.io/x/op@{digest}")),
            json!({"repository": "ghcr.io/x/op", "tag": "", "digest": digest})
        );
    }

    /// No cluster needed: the chart renders, with the cluster test's values, into documents that
    /// parse and name themselves.
    #[test]
    fn chart_renders_parseable_objects() {
        let Some(python) = python() else {
            println!(
                "skipped: {} does not exist (run scripts/setup to install helm-python-sdk)",
                venv_python().display()
            );
            return;
        };
        let docs = render(&python, &test_values(None));
        assert_rendered(&docs, None);
        let image = "localhost:5000/mcp/mcp-tenancy-operator:e2e";
        let docs = render(&python, &test_values(Some(image)));
        assert_rendered(&docs, Some(image));
    }

    /// Polls `check` until it returns `Ok`, or panics after `timeout` with the last `Err` it said.
    async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let last = match check().await {
                Ok(value) => return value,
                Err(last) => last,
            };
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}: {last}"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// The API for the document's kind, resolved by discovery (after any CRD it needs).
    async fn api_for(client: &Client, doc: &Value) -> Result<Api<DynamicObject>, kube::Error> {
        let (resource, capabilities) = discovery::pinned_kind(client, &gvk(doc)).await?;
        Ok(match capabilities.scope {
            Scope::Cluster => Api::all_with(client.clone(), &resource),
            Scope::Namespaced => {
                let namespace = str_at(doc, "/metadata/namespace").unwrap_or(NAMESPACE);
                Api::namespaced_with(client.clone(), namespace, &resource)
            }
        })
    }

    async fn wait_established(client: &Client, crd_name: &str) {
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        wait_until(&format!("CRD {crd_name} Established"), WAIT, || async {
            let crd = crds.get(crd_name).await.map_err(|e| e.to_string())?;
            let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
            conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
                .then_some(())
                .ok_or_else(|| format!("conditions {conditions:?}"))
        })
        .await;
    }

    async fn wait_gone(api: &Api<DynamicObject>, doc: &Value) {
        wait_until(&format!("{} deleted", describe(doc)), WAIT, || async {
            match api.get_opt(name(doc)).await {
                Ok(None) => Ok(()),
                Ok(Some(o)) => Err(format!(
                    "still there (deletionTimestamp {:?})",
                    o.metadata.deletion_timestamp
                )),
                Err(e) => Err(e.to_string()),
            }
        })
        .await;
    }

    /// `helm install --create-namespace`: the namespace, then every object server-side applied,
    /// the CRD first and Established before anything else.
    async fn install(client: &Client, docs: &[Value]) {
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let namespace = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": NAMESPACE, "labels": {"app.kubernetes.io/managed-by": MANAGER}},
        });
        namespaces
            .patch(NAMESPACE, &PatchParams::apply(MANAGER), &Patch::Apply(&namespace))
            .await
            .unwrap();
        for doc in docs {
            let api = api_for(client, doc)
                .await
                .unwrap_or_else(|e| panic!("{}: the cluster does not serve this kind: {e}", describe(doc)));
            api.patch(
                name(doc),
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(doc),
            )
            .await
            .unwrap_or_else(|e| panic!("applying {}: {e}", describe(doc)));
            if kind(doc) == "CustomResourceDefinition" {
                wait_established(client, name(doc)).await;
            }
        }
    }

    /// `helm uninstall`: every object in reverse install order, except those annotated
    /// `helm.sh/resource-policy: keep`; then the release namespace. Missing objects are fine (the
    /// same function clears what an interrupted run left). Returns what it kept.
    async fn uninstall(client: &Client, docs: &[Value]) -> Vec<String> {
        let mut kept = Vec::new();
        for doc in docs.iter().rev() {
            if keeps(doc) {
                kept.push(describe(doc));
                continue;
            }
            let Ok(api) = api_for(client, doc).await else {
                continue; // the kind is not served, so there is nothing of it to delete
            };
            match api.delete(name(doc), &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => continue,
                Err(e) => panic!("deleting {}: {e}", describe(doc)),
            }
            wait_gone(&api, doc).await;
        }
        let namespaces: Api<Namespace> = Api::all(client.clone());
        match namespaces.delete(NAMESPACE, &DeleteParams::default()).await {
            Ok(_) => {}
            // 409: already terminating (an interrupted run's namespace); wait for it below.
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
            Err(e) => panic!("deleting namespace {NAMESPACE}: {e}"),
        }
        wait_until(&format!("namespace {NAMESPACE} deleted"), WAIT, || async {
            match namespaces.get_opt(NAMESPACE).await {
                Ok(None) => Ok(()),
                Ok(Some(ns)) => Err(format!("status {:?}", ns.status)),
                Err(e) => Err(e.to_string()),
            }
        })
        .await;
        kept
    }

    /// One line per pod: phase, conditions and why containers wait (for timeout messages).
    fn pod_summary(pods: &[Pod]) -> String {
        let lines: Vec<String> = pods
            .iter()
            .map(|p| {
                let status = p.status.clone().unwrap_or_default();
                let waiting: Vec<String> = status
                    .container_statuses
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|c| {
                        let w = c.state?.waiting?;
                        Some(format!("{}: {:?} {:?}", c.name, w.reason, w.message))
                    })
                    .collect();
                let conditions: Vec<String> = status
                    .conditions
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| format!("{}={}", c.type_, c.status))
                    .collect();
                format!(
                    "{}: phase {:?}, {conditions:?}, waiting {waiting:?}",
                    p.metadata.name.as_deref().unwrap_or("?"),
                    status.phase
                )
            })
            .collect();
        if lines.is_empty() {
            "no pods".into()
        } else {
            lines.join("; ")
        }
    }

    /// The Deployment is Available and one of its pods is Ready: its readiness probe, `/readyz`
    /// on the health port, passes.
    async fn wait_operator_ready(client: &Client, deployment_name: &str, image: &str) {
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
        let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
        let live = deployments.get(deployment_name).await.unwrap();
        let selector = live
            .spec
            .selector
            .match_labels
            .expect("the Deployment selects by labels")
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let list = ListParams::default().labels(&selector);
        wait_until(
            &format!("Deployment {deployment_name} Available with a Ready pod"),
            WAIT,
            || async {
                let d = deployments
                    .get(deployment_name)
                    .await
                    .map_err(|e| e.to_string())?;
                let available = d
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| {
                        cs.iter().any(|c| {
                            c.type_.as_deref() == Some("Available") && c.status.as_deref() == Some("True")
                        })
                    });
                let pods = pods.list(&list).await.map_err(|e| e.to_string())?.items;
                let ready = pods.iter().any(|p| {
                    let running_ours = p
                        .spec
                        .as_ref()
                        .is_some_and(|s| s.containers.iter().any(|c| c.image.as_deref() == Some(image)));
                    let is_ready = p
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
                    running_ours && is_ready && p.metadata.deletion_timestamp.is_none()
                });
                if available && ready {
                    Ok(())
                } else {
                    Err(format!("available {available}, pods: {}", pod_summary(&pods)))
                }
            },
        )
        .await;
    }

    #[tokio::test]
    async fn chart_installs_and_uninstalls() {
        if std::env::var_os("KUBECONFIG").is_none() {
            println!("skipped: KUBECONFIG not set");
            return;
        }
        let python = python().unwrap_or_else(|| {
            panic!(
                "{} does not exist: run scripts/setup (it installs helm-python-sdk, which renders the chart)",
                venv_python().display()
            )
        });
        let image = env_image("MCP_TENANCY_OPERATOR_IMAGE");
        let docs = render(&python, &test_values(image.as_deref()));
        assert_rendered(&docs, image.as_deref());
        let docs = install_order(docs);

        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = Client::try_default()
            .await
            .expect("a client for the KUBECONFIG cluster");
        // Whatever an interrupted run left behind (same names every run).
        uninstall(&client, &docs).await;

        install(&client, &docs).await;

        // The CRD is Established and still asks to be kept.
        let crd_doc = find(&docs, "CustomResourceDefinition");
        wait_established(&client, name(crd_doc)).await;
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        let live_crd = crds.get(name(crd_doc)).await.unwrap();
        assert_eq!(
            live_crd
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(KEEP_ANNOTATION))
                .map(String::as_str),
            Some("keep"),
            "the live CRD lacks {KEEP_ANNOTATION}: keep"
        );

        // The ClusterRole the cluster holds has exactly the rules of the file.
        let roles: Api<ClusterRole> = Api::all(client.clone());
        let role = roles.get(name(find(&docs, "ClusterRole"))).await.unwrap();
        assert_eq!(
            role.rules,
            Some(rules_file()),
            "live ClusterRole rules differ from files/clusterrole-rules.yaml"
        );

        // The operator Deployment, as the API server stored it, is hardened.
        let deployment_name = name(find(&docs, "Deployment"));
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
        let deployment = deployments.get(deployment_name).await.unwrap();
        assert_hardened(&deployment);

        if let Some(image) = &image {
            wait_operator_ready(&client, deployment_name, &image_ref(image)).await;
        } else {
            println!("MCP_TENANCY_OPERATOR_IMAGE not set: not waiting for the operator pod to become ready");
        }

        let kept = uninstall(&client, &docs).await;
        assert_eq!(kept, vec![describe(crd_doc)], "only the CRD is kept");
        crds.get(name(crd_doc))
            .await
            .expect("the CRD survives the uninstall (helm.sh/resource-policy: keep)");
        for doc in docs.iter().filter(|d| !keeps(d)) {
            let api = api_for(&client, doc).await.unwrap();
            assert!(
                api.get_opt(name(doc)).await.unwrap().is_none(),
                "{} survived the uninstall",
                describe(doc)
            );
        }
    }
}
