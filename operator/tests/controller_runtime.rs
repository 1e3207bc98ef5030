//! The whole runtime (watches, controller, index, status) in-process against the in-memory API
//! server (mcp-apiserver-double): tenants converge, a deleted or edited child comes back within
//! seconds, a spec change rolls the pods, and the keys survive an operator restart.

#[cfg(test)]
mod runtime {
    use std::time::Duration;

    use kube::Client;
    use mcp_tenancy_operator::{
        build::OperatorDefaults,
        controller::runtime::{self, LeaderElection, Settings},
    };
    use serde_json::{Value, json};
    use tokio::task::JoinHandle;
    use tokio_util::sync::CancellationToken;

    use mcp_apiserver_double::FakeApiServer;

    const TENANTS: &str = "mcptenancy.dev/v1alpha1/mcptenants";
    const CONFIG_MAPS: &str = "/v1/configmaps";
    const SECRETS: &str = "/v1/secrets";
    const STATEFUL_SETS: &str = "apps/v1/statefulsets";

    pub(super) fn tenant(name: &str) -> Value {
        json!({
            "apiVersion": "mcptenancy.dev/v1alpha1", "kind": "McpTenant", "metadata": {"name": name},
            "spec": {
                "identity": {"upstream": {"issuer": "https://login.microsoftonline.com/8f3c2a1e-4b5d-4c6e-9f70-1a2b3c4d5e6f/v2.0",
                    "clientId": "app", "clientSecretRef": {"name": "entra-app", "key": "client-secret"}}},
                "network": {"host": format!("{name}.mcp.example.com"),
                    "gateway": {"parentRefs": [{"name": "public", "namespace": "gateway-system"}]}}
            }
        })
    }

    pub(super) async fn serve(server: &FakeApiServer) -> Client {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = server.router();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap()
    }

    fn start(client: &Client) -> (CancellationToken, JoinHandle<()>) {
        start_with(client, None)
    }

    pub(super) fn start_with(
        client: &Client,
        leader_election: Option<LeaderElection>,
    ) -> (CancellationToken, JoinHandle<()>) {
        let stop = CancellationToken::new();
        let settings = Settings {
            defaults: OperatorDefaults {
                server_image: "example/server:1".into(),
                ingress_controller_namespace: "ingress".into(),
                monitoring_namespace: "monitoring".into(),
                trusted_proxies: mcp_tenancy_config::default_trusted_proxies(),
            },
            metrics_addr: "127.0.0.1:0".parse().unwrap(),
            health_addr: "127.0.0.1:0".parse().unwrap(),
            leader_election,
        };
        let (client, token) = (client.clone(), stop.clone());
        let task = tokio::spawn(async move { runtime::run(client, settings, token).await.unwrap() });
        (stop, task)
    }

    pub(super) async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
        for _ in 0..300 {
            if let Some(v) = check() {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out after 15 s waiting for {what}");
    }

    pub(super) fn reconciled(server: &FakeApiServer, name: &str) -> Option<Value> {
        let t = server.get(TENANTS, "", name)?;
        let done = t["status"]["keys"]["activeKid"].is_string()
            && t["status"]["observedGeneration"] == t["metadata"]["generation"];
        done.then_some(t)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tenants_converge_children_are_restored_specs_roll_out_and_keys_survive_a_restart() {
        let server = FakeApiServer::default();
        for name in ["alpha", "beta", "gamma"] {
            server.insert(TENANTS, tenant(name));
            server.insert(
                SECRETS,
                json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "entra-app", "namespace": format!("mcp-{name}")},
                "data": {"client-secret": "c2VjcmV0"}}),
            );
        }
        let client = serve(&server).await;
        let (stop, task) = start(&client);

        for name in ["alpha", "beta", "gamma"] {
            let t = eventually(&format!("{name} reconciled"), || reconciled(&server, name)).await;
            let ready = t["status"]["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["type"] == "KeysReady")
                .unwrap();
            assert_eq!(ready["status"], "True");
        }
        let config_map = server
            .get(CONFIG_MAPS, "mcp-alpha", "mcp-tenant-config")
            .expect("ConfigMap applied");
        assert_eq!(config_map["metadata"]["labels"]["mcptenancy.dev/tenant"], "alpha");

        // A deleted child is restored.
        server
            .remove(CONFIG_MAPS, "mcp-alpha", "mcp-tenant-config")
            .unwrap();
        eventually("the ConfigMap restored", || {
            server.get(CONFIG_MAPS, "mcp-alpha", "mcp-tenant-config")
        })
        .await;

        // An edited child is put back: its generation moved past the operator's last apply.
        let replicas = |s: &FakeApiServer| {
            s.get(STATEFUL_SETS, "mcp-alpha", "mcp-tenant-server")
                .map(|o| o["spec"]["replicas"].clone())
        };
        assert_eq!(replicas(&server), Some(json!(1)));
        server.edit_spec(STATEFUL_SETS, "mcp-alpha", "mcp-tenant-server", |spec| {
            spec["replicas"] = json!(5)
        });
        eventually("the edited StatefulSet restored", || {
            (replicas(&server)? == json!(1)).then_some(())
        })
        .await;

        // A spec change rolls the pods: the StatefulSet's pod template changes.
        let template = |s: &FakeApiServer| {
            s.get(STATEFUL_SETS, "mcp-alpha", "mcp-tenant-server")
                .map(|o| o["spec"]["template"].clone())
        };
        let before = template(&server).expect("StatefulSet applied");
        server.edit_spec(TENANTS, "", "alpha", |spec| {
            spec["displayName"] = json!("Alpha Inc.")
        });
        eventually("the rollout", || (template(&server)? != before).then_some(())).await;
        let t = eventually("alpha reconciled again", || reconciled(&server, "alpha")).await;
        assert_eq!(t["status"]["observedGeneration"], 2);

        // Keys survive a restart of the operator.
        let keys = server.get(SECRETS, "mcp-alpha", "mcp-tenant-keys").unwrap()["data"].clone();
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap();
        let (stop, task) = start(&client);
        server.edit_spec(TENANTS, "", "alpha", |spec| {
            spec["displayName"] = json!("Alpha Incorporated")
        });
        eventually("alpha reconciled after the restart", || {
            reconciled(&server, "alpha").filter(|t| t["status"]["observedGeneration"] == 3)
        })
        .await;
        assert_eq!(
            server.get(SECRETS, "mcp-alpha", "mcp-tenant-keys").unwrap()["data"],
            keys
        );
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap();
    }
}

#[cfg(test)]
mod invalid_tenant {
    use mcp_apiserver_double::FakeApiServer;
    use serde_json::json;

    use super::runtime::{eventually, reconciled, serve, start_with, tenant};

    const TENANTS: &str = "mcptenancy.dev/v1alpha1/mcptenants";

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_unreadable_tenant_is_reported_and_the_others_still_reconcile() {
        let server = FakeApiServer::default();
        // Stored by another version of the CRD, or past its schema: `identity` is not an object.
        server.insert(
            TENANTS,
            json!({"apiVersion": "mcptenancy.dev/v1alpha1", "kind": "McpTenant",
                "metadata": {"name": "broken"}, "spec": {"identity": "not-an-object"}}),
        );
        server.insert(TENANTS, tenant("alpha"));
        server.insert("/v1/secrets", json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "entra-app", "namespace": "mcp-alpha"}, "data": {"client-secret": "c2VjcmV0"}}));
        let client = serve(&server).await;
        let (stop, task) = start_with(&client, None);

        eventually("alpha reconciled beside the broken tenant", || {
            reconciled(&server, "alpha")
        })
        .await;
        let warning = eventually("a Warning event on the broken tenant", || {
            server
                .events()
                .into_iter()
                .find(|e| e["regarding"]["name"] == "broken" && e["reason"] == "InvalidObject")
        })
        .await;
        assert_eq!(warning["type"], "Warning");
        let broken = server.get(TENANTS, "", "broken").unwrap();
        assert!(
            broken["status"].is_null(),
            "nothing is written to a tenant the operator cannot read"
        );
        assert!(broken["metadata"]["finalizers"].is_null());

        // The broken tenant keeps nothing from reconciling: a later edit of alpha is picked up.
        server.edit_spec(TENANTS, "", "alpha", |spec| {
            spec["displayName"] = json!("Alpha Inc.")
        });
        eventually("alpha reconciled again", || {
            reconciled(&server, "alpha").filter(|t| t["status"]["observedGeneration"] == 2)
        })
        .await;
        stop.cancel();
        tokio::time::timeout(std::time::Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap();
    }
}

#[cfg(test)]
mod leader_election {
    use std::time::Duration;

    use mcp_tenancy_operator::controller::runtime::LeaderElection;
    use serde_json::json;

    use mcp_apiserver_double::FakeApiServer;

    use super::runtime::{eventually, reconciled, serve, start_with, tenant};

    const LEASES: &str = "coordination.k8s.io/v1/leases";

    fn election(identity: &str) -> Option<LeaderElection> {
        Some(LeaderElection {
            lease_name: "mcp-tenancy-operator".into(),
            lease_namespace: "mcp-tenancy-system".into(),
            identity: identity.into(),
        })
    }

    fn holder(server: &FakeApiServer) -> Option<String> {
        let lease = server.get(LEASES, "mcp-tenancy-system", "mcp-tenancy-operator")?;
        lease["spec"]["holderIdentity"].as_str().map(String::from)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_the_leader_reconciles_and_a_successor_takes_over_when_it_stops() {
        let server = FakeApiServer::default();
        server.insert("mcptenancy.dev/v1alpha1/mcptenants", tenant("alpha"));
        server.insert("/v1/secrets", json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "entra-app", "namespace": "mcp-alpha"}, "data": {"client-secret": "c2VjcmV0"}}));
        let client = serve(&server).await;

        let (stop_a, task_a) = start_with(&client, election("a"));
        eventually("alpha reconciled by a", || reconciled(&server, "alpha")).await;
        assert_eq!(holder(&server).as_deref(), Some("a"));
        let (stop_b, task_b) = start_with(&client, election("b"));
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(
            holder(&server).as_deref(),
            Some("a"),
            "a standby does not take a live lease"
        );

        // The leader stops and releases the lease; the standby takes over and reconciles.
        stop_a.cancel();
        tokio::time::timeout(Duration::from_secs(10), task_a)
            .await
            .unwrap()
            .unwrap();
        server.edit_spec("mcptenancy.dev/v1alpha1/mcptenants", "", "alpha", |spec| {
            spec["displayName"] = json!("Alpha Inc.")
        });
        eventually("alpha reconciled by b", || {
            reconciled(&server, "alpha").filter(|t| t["status"]["observedGeneration"] == 2)
        })
        .await;
        assert_eq!(holder(&server).as_deref(), Some("b"));
        stop_b.cancel();
        tokio::time::timeout(Duration::from_secs(10), task_b)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(holder(&server), None, "released on shutdown");
    }
}
