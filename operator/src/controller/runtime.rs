//! Runtime wiring: discovery of optional CRDs, the watches (metadata-only and label-selected, to
//! save memory), the controller, leader election, `/livez` and `/readyz`, `/metrics`, shutdown.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{Router, http::StatusCode, routing::get};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::ListParams,
    core::{GroupVersionKind, ObjectMeta, PartialObjectMeta},
    discovery::Discovery,
    runtime::{
        Controller, WatchStreamExt,
        controller::{self, Config},
        events::{Recorder, Reporter},
        reflector::{ObjectRef, Store, store::Writer},
        watcher::{self, watcher},
    },
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{
    ChildIndex, Context, ErrorBackoff, Metrics, error_policy,
    guard::{GuardedTenant, reconcile_guarded},
    index::ChildMeta,
    kinds::{OPTIONAL_GROUPS, child_resources},
    leader::{self, LeaseLock},
};
use crate::{
    api::McpTenantSpec,
    build::{
        FIELD_MANAGER, KEYS_SECRET_NAME, OperatorDefaults, TENANT_LABEL, referenced_config_maps,
        referenced_secrets, tenant_namespace,
    },
};

/// Tenants reconciled at the same time; bounds API load and memory during a full resync.
pub const CONCURRENCY: u16 = 16;
/// Watch events for one tenant arriving within this window cause one pass, not many.
pub const DEBOUNCE: Duration = Duration::from_millis(500);

/// Leader election settings.
#[derive(Clone, Debug)]
pub struct LeaderElection {
    pub lease_name: String,
    pub lease_namespace: String,
    pub identity: String,
}

/// Everything `run` needs besides the client.
#[derive(Clone, Debug)]
pub struct Settings {
    pub defaults: OperatorDefaults,
    pub metrics_addr: SocketAddr,
    pub health_addr: SocketAddr,
    pub leader_election: Option<LeaderElection>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "cannot list McpTenants ({0}); is the CRD installed? `mcp-tenancy-operator crd | kubectl apply -f -`"
    )]
    CrdMissing(#[source] kube::Error),
    #[error("API discovery failed: {0}")]
    Discovery(#[source] kube::Error),
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("lost the leader lease; exiting so that a new process can stand for election")]
    LeaseLost,
}

/// Readiness as `/readyz` reports it.
#[derive(Default)]
pub struct Health {
    ready: AtomicBool,
}

impl Health {
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

/// Cancelled on SIGTERM or SIGINT.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(e) => {
                    warn!(error = %e, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            () = terminate => info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => info!("SIGINT: shutting down"),
        }
        cancel.cancel();
    });
    token
}

/// Runs the operator until `shutdown`.
pub async fn run(client: Client, settings: Settings, shutdown: CancellationToken) -> Result<(), RunError> {
    let Settings {
        defaults,
        metrics_addr,
        health_addr,
        leader_election,
    } = settings;
    let metrics = Arc::new(Metrics::new()?);
    let health = Arc::new(Health::default());
    let servers = serve_http(
        metrics_addr,
        health_addr,
        metrics.clone(),
        health.clone(),
        shutdown.clone(),
    )
    .await?;

    let lost = CancellationToken::new();
    let lease = match &leader_election {
        Some(le) => {
            let lock = Arc::new(LeaseLock::new(
                client.clone(),
                &le.lease_namespace,
                &le.lease_name,
                &le.identity,
            ));
            // A standby is healthy and ready: it has nothing to sync until it leads.
            health.set_ready(true);
            if !leader::acquire(&lock, &shutdown).await {
                servers.await;
                return Ok(());
            }
            health.set_ready(false);
            tokio::spawn(leader::keep_renewing(
                lock.clone(),
                lost.clone(),
                shutdown.clone(),
            ));
            Some(lock)
        }
        None => None,
    };

    let result = run_controller(client, defaults, metrics, health, shutdown.clone(), lost.clone()).await;
    if let Some(lock) = lease
        && let Err(e) = lock.release().await
    {
        warn!(error = %e, "could not release the leader lease; it expires by itself");
    }
    shutdown.cancel();
    servers.await;
    result?;
    if lost.is_cancelled() {
        Err(RunError::LeaseLost)
    } else {
        Ok(())
    }
}

/// Discovers optional kinds, wires the watches and runs the controller until `shutdown` or `lost`.
async fn run_controller(
    client: Client,
    defaults: OperatorDefaults,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    shutdown: CancellationToken,
    lost: CancellationToken,
) -> Result<(), RunError> {
    // Guarded: one McpTenant the current types cannot read must not fail the list or the watch.
    let tenants: Api<GuardedTenant> = Api::all(client.clone());
    tenants
        .list(&ListParams::default().limit(1))
        .await
        .map_err(RunError::CrdMissing)?;
    let discovery = Discovery::new(client.clone())
        .filter(&OPTIONAL_GROUPS)
        .run()
        .await
        .map_err(RunError::Discovery)?;
    let installed = |ar: &kube::core::ApiResource| {
        !OPTIONAL_GROUPS.contains(&ar.group.as_str())
            || discovery
                .resolve_gvk(&GroupVersionKind::gvk(&ar.group, &ar.version, &ar.kind))
                .is_some()
    };
    let kinds: Vec<_> = child_resources().into_iter().filter(|ar| installed(ar)).collect();
    let monitoring_crds_installed = ["ServiceMonitor", "PrometheusRule"]
        .iter()
        .all(|k| kinds.iter().any(|ar| ar.kind == *k));
    info!(
        kinds = ?kinds.iter().map(|k| k.kind.as_str()).collect::<Vec<_>>(),
        monitoring_crds_installed,
        "watching child kinds"
    );

    // The tenants' own watch, without managedFields (they repeat the whole spec).
    let tenant_writer = Writer::<GuardedTenant>::default();
    let tenant_store = tenant_writer.as_reader();
    let tenant_stream = watcher(tenants, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(|t: &mut GuardedTenant| t.meta_mut().managed_fields = None)
        .reflect(tenant_writer)
        .applied_objects();
    let mut controller = Controller::for_stream(tenant_stream, tenant_store.clone())
        .with_config(Config::default().concurrency(CONCURRENCY).debounce(DEBOUNCE));
    let index = ChildIndex::new(&kinds);
    for ar in kinds {
        // `Api<PartialObjectMeta<_>>` makes metadata-only requests; the index keeps a few fields.
        let api = Api::<ChildMeta>::all_with(client.clone(), &ar);
        let (feed, kind) = (index.clone(), ar.clone());
        let stream = watcher(
            api,
            watcher::Config::default().labels(TENANT_LABEL).any_semantic(),
        )
        .default_backoff()
        .inspect(move |event| {
            if let Ok(event) = event {
                feed.apply_event(&kind, event);
            }
        })
        .touched_objects();
        controller = controller.watches_stream_with(stream, tenant_of, ar);
    }
    // Referenced user Secrets carry no label of ours: watch Secret metadata everywhere (the
    // rules allow it; nothing is cached) and map each to the tenants of its namespace that read it.
    let secrets = Api::<PartialObjectMeta<Secret>>::all(client.clone());
    let secret_stream = watcher(secrets, watcher::Config::default().any_semantic())
        .default_backoff()
        .touched_objects();
    let lookup = tenant_store.clone();
    controller = controller.watches_stream(secret_stream, move |s| {
        tenants_reading(&lookup, &s.metadata, reads_secret)
    });
    // Likewise ConfigMaps that tenants reference (a CA bundle).
    let config_maps = Api::<PartialObjectMeta<ConfigMap>>::all(client.clone());
    let config_map_stream = watcher(config_maps, watcher::Config::default().any_semantic())
        .default_backoff()
        .touched_objects();
    let lookup = tenant_store.clone();
    controller = controller.watches_stream(config_map_stream, move |c| {
        tenants_reading(&lookup, &c.metadata, reads_config_map)
    });

    let ready_index = index.clone();
    let ready_tenants = tenant_store.clone();
    let ready_health = health.clone();
    tokio::spawn(async move {
        ready_index.wait_synced().await;
        if ready_tenants.wait_until_ready().await.is_ok() {
            info!("watches synced; ready");
            ready_health.set_ready(true);
        }
    });

    let reporter = Reporter {
        controller: FIELD_MANAGER.into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let ctx = Arc::new(Context {
        recorder: Recorder::new(client.clone(), reporter),
        client,
        defaults,
        monitoring_crds_installed,
        index,
        metrics,
        backoff: ErrorBackoff::default(),
    });
    let stop = {
        let (shutdown, lost) = (shutdown.clone(), lost.clone());
        async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = lost.cancelled() => {}
            }
        }
    };
    controller
        .graceful_shutdown_on(stop)
        .run(reconcile_guarded, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((tenant, _)) => debug!(tenant = %tenant.name, "reconciled"),
                Err(controller::Error::ObjectNotFound(r)) => {
                    debug!(object = %r, "object gone before its pass")
                }
                Err(controller::Error::ReconcilerFailed(..)) => {} // logged by error_policy
                Err(e) => warn!(error = %e, "controller"),
            }
        })
        .await;
    info!("controller stopped");
    Ok(())
}

/// The tenant a child belongs to, from its label.
fn tenant_of(child: ChildMeta) -> Option<ObjectRef<GuardedTenant>> {
    child.labels().get(TENANT_LABEL).map(|name| ObjectRef::new(name))
}

/// Whether a tenant reads the Secret of this name in its namespace (its key Secret, or one
/// the spec references).
fn reads_secret(spec: &McpTenantSpec, name: &str) -> bool {
    name == KEYS_SECRET_NAME || referenced_secrets(spec).contains_key(name)
}

/// Whether a tenant reads the ConfigMap of this name in its namespace (a CA bundle).
fn reads_config_map(spec: &McpTenantSpec, name: &str) -> bool {
    referenced_config_maps(spec).contains_key(name)
}

/// The tenants whose namespace is the object's and which read it, per `reads(spec, name)`.
/// Tenants the watch could not read are left out: they are not reconciled.
fn tenants_reading(
    tenants: &Store<GuardedTenant>,
    object: &ObjectMeta,
    reads: impl Fn(&McpTenantSpec, &str) -> bool,
) -> Vec<ObjectRef<GuardedTenant>> {
    let (Some(namespace), Some(name)) = (object.namespace.as_deref(), object.name.as_deref()) else {
        return Vec::new();
    };
    tenants
        .state()
        .iter()
        .filter(|t| {
            t.0.as_ref()
                .is_ok_and(|t| tenant_namespace(t) == namespace && reads(&t.spec, name))
        })
        .map(|t| ObjectRef::from_obj(t.as_ref()))
        .collect()
}

/// Serves `/livez` and `/readyz` on `health_addr` and `/metrics` on `metrics_addr`; the returned
/// future completes when both stopped after `shutdown`.
async fn serve_http(
    metrics_addr: SocketAddr,
    health_addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    shutdown: CancellationToken,
) -> Result<impl Future<Output = ()>, RunError> {
    let bind = |addr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| RunError::Bind { addr, source })
    };
    let health_listener = bind(health_addr).await?;
    let metrics_listener = bind(metrics_addr).await?;
    let health_app = health_router(health);
    let metrics_app = Router::new().route("/metrics", get(move || async move { metrics.encode() }));
    let serve = |listener: TcpListener, app: Router, token: CancellationToken| {
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(token.cancelled_owned())
                .await
            {
                warn!(error = %e, "HTTP server failed");
            }
        })
    };
    let a = serve(health_listener, health_app, shutdown.clone());
    let b = serve(metrics_listener, metrics_app, shutdown);
    Ok(async move {
        let _ = tokio::join!(a, b);
    })
}

/// `/livez`: the process serves. `/readyz`: a standby, or a leader whose watches synced.
pub fn health_router(health: Arc<Health>) -> Router {
    Router::new().route("/livez", get(|| async { "ok" })).route(
        "/readyz",
        get(move || {
            let ready = health.is_ready();
            async move {
                if ready {
                    (StatusCode::OK, "ready")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "watches not synced")
                }
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use kube::{core::DeserializeGuard, runtime::watcher::Event};

    use super::*;
    use crate::controller::tests::fixtures::mk_tenant;

    fn meta(namespace: &str, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn secrets_and_config_maps_map_to_the_tenants_of_their_namespace_that_read_them() {
        let mut writer = Writer::<GuardedTenant>::default();
        let mut contoso = mk_tenant("contoso");
        contoso.spec.identity.ca_bundle = Some(crate::api::CaBundleRef {
            config_map_key_ref: Some(crate::api::ConfigMapKeyRef {
                name: "corporate-ca".into(),
                key: "ca.crt".into(),
            }),
            secret_key_ref: None,
        });
        writer.apply_watcher_event(&Event::Apply(DeserializeGuard(Ok(contoso))));
        writer.apply_watcher_event(&Event::Apply(DeserializeGuard(Ok(mk_tenant("fabrikam")))));
        let store = writer.as_reader();
        let names = |namespace, name, reads: fn(&McpTenantSpec, &str) -> bool| {
            tenants_reading(&store, &meta(namespace, name), reads)
                .into_iter()
                .map(|r| r.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names("mcp-contoso", "entra-client", reads_secret),
            vec!["contoso"]
        );
        assert_eq!(
            names("mcp-contoso", KEYS_SECRET_NAME, reads_secret),
            vec!["contoso"]
        );
        assert!(names("mcp-contoso", "unrelated", reads_secret).is_empty());
        assert!(names("default", "entra-client", reads_secret).is_empty());
        assert_eq!(
            names("mcp-contoso", "corporate-ca", reads_config_map),
            vec!["contoso"]
        );
        assert!(names("mcp-fabrikam", "corporate-ca", reads_config_map).is_empty());
        // A Secret of the bundle's name is not the bundle.
        assert!(names("mcp-contoso", "corporate-ca", reads_secret).is_empty());
    }

    #[test]
    fn a_child_maps_to_its_tenant_by_label() {
        let mut child = ChildMeta {
            types: None,
            metadata: ObjectMeta {
                name: Some("x".into()),
                ..ObjectMeta::default()
            },
            _phantom: Default::default(),
        };
        assert!(tenant_of(child.clone()).is_none());
        child.metadata.labels = Some([(TENANT_LABEL.to_string(), "contoso".to_string())].into());
        assert_eq!(tenant_of(child).map(|r| r.name), Some("contoso".to_string()));
    }
}
