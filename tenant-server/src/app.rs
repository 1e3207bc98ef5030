//! The application: shared state and the two routers (the public one with `/mcp` and OAuth
//! metadata; the operations one with `/metrics`, `/healthz`, `/readyz`).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::{MatchedPath, Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use http::StatusCode;
use mcp_tenancy_config::{Cidr, CidrError, HEALTH_PATH, READY_PATH, TenantConfig};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService,
    session::{
        local::{LocalSessionManager, SessionConfig},
        never::NeverSessionManager,
    },
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower_http::timeout::TimeoutLayer;

use crate::{
    auth::{Authenticator, TokenVerifier},
    http::{guards, headers, protect, well_known},
    mcp::{
        endpoint::{self, McpServices},
        handler::{McpHandler, McpShared},
        inflight::InFlight,
        sessions::SessionRegistry,
    },
    metrics::Metrics,
    ratelimit::RateLimiters,
    store::Store,
    tools::{
        Tool,
        registry::{RegistryError, ToolRegistry},
    },
};

/// Verified tokens kept at most (a few hundred bytes each).
const TOKEN_CACHE_CAPACITY: usize = 10_000;

/// The shared state; cheap to clone (one `Arc`), as every layer clones it per request.
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

impl std::ops::Deref for AppState {
    type Target = AppInner;

    fn deref(&self) -> &AppInner {
        &self.0
    }
}

pub struct AppInner {
    pub config: Arc<TenantConfig>,
    pub auth: Arc<Authenticator>,
    pub limits: Arc<RateLimiters>,
    pub metrics: Metrics,
    pub registry: Arc<ToolRegistry>,
    pub sessions: Arc<SessionRegistry>,
    pub store: Arc<dyn Store>,
    pub mcp: McpServices,
    /// The MCP handler's shared part, also used directly for plain session-less calls.
    pub mcp_shared: Arc<McpShared>,
    pub inflight: Arc<InFlight>,
    /// `server.trustedProxies`, parsed once.
    pub trusted_proxies: Vec<Cidr>,
    /// Cancelling it ends every MCP session and stream (the last step of shutdown).
    pub sessions_shutdown: CancellationToken,
    /// Development mode only: the JWKS of the local signing key, served at `/dev/jwks.json`.
    pub dev_jwks: Option<Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("tools: {0}")]
    Tools(#[from] RegistryError),
    #[error("server.trustedProxies: {0}")]
    TrustedProxy(#[from] CidrError),
}

impl AppState {
    pub fn new(
        config: TenantConfig,
        verifier: Arc<dyn TokenVerifier>,
        tools: Vec<Arc<dyn Tool>>,
        store: Arc<dyn Store>,
    ) -> Result<Self, StateError> {
        Self::build(config, verifier, tools, store, Metrics::new()?, None)
    }

    /// The general constructor: `metrics` may already hold the tools' own metrics (Graph), and
    /// `dev_jwks` (development mode only) is served at `/dev/jwks.json`.
    pub fn build(
        config: TenantConfig,
        verifier: Arc<dyn TokenVerifier>,
        tools: Vec<Arc<dyn Tool>>,
        store: Arc<dyn Store>,
        metrics: Metrics,
        dev_jwks: Option<Value>,
    ) -> Result<Self, StateError> {
        let config = Arc::new(config);
        let registry = Arc::new(ToolRegistry::new(tools, &config.tools)?);
        let inflight = Arc::new(InFlight::default());
        let shared = Arc::new(McpShared {
            config: config.clone(),
            registry: registry.clone(),
            metrics: metrics.clone(),
            inflight: inflight.clone(),
        });

        // Idle sessions are ended by the registry, which also sees the requests answered
        // outside rmcp's session worker; rmcp's own timer would miss those.
        let mut session_config = SessionConfig::default();
        session_config.keep_alive = None;
        let mut manager = LocalSessionManager::default();
        manager.session_config = session_config;
        let manager = Arc::new(manager);

        let sessions_shutdown = CancellationToken::new();
        let http_config = StreamableHttpServerConfig::default()
            .with_allowed_hosts(config.server.allowed_hosts.clone())
            .with_max_request_body_bytes(config.server.max_request_body_bytes)
            .with_cancellation_token(sessions_shutdown.clone());
        let factory = {
            let shared = shared.clone();
            move || Ok(McpHandler::new(shared.clone()))
        };
        let mcp = McpServices {
            sessions: StreamableHttpService::new(factory.clone(), manager.clone(), http_config.clone()),
            stateless: StreamableHttpService::new(
                factory,
                Arc::new(NeverSessionManager::default()),
                http_config
                    .with_legacy_session_mode(false)
                    .with_json_response(true),
            ),
        };
        let sessions = Arc::new(SessionRegistry::new(
            manager,
            usize::try_from(config.server.max_sessions_per_user).unwrap_or(usize::MAX),
            config.server.session_idle_timeout.as_duration(),
            metrics.clone(),
        ));
        let trusted_proxies = config
            .server
            .trusted_proxies
            .iter()
            .map(|entry| entry.parse())
            .collect::<Result<Vec<Cidr>, _>>()?;
        Ok(Self(Arc::new(AppInner {
            auth: Arc::new(Authenticator::new(verifier, config.clone(), TOKEN_CACHE_CAPACITY)),
            limits: Arc::new(RateLimiters::new(&config.limits)),
            config,
            metrics,
            registry,
            sessions,
            store,
            mcp,
            mcp_shared: shared,
            inflight,
            trusted_proxies,
            sessions_shutdown,
            dev_jwks,
        })))
    }
}

/// Counts and times HTTP requests by matched route (bounded labels).
async fn track_http(
    State(state): State<AppState>,
    route: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = route.map_or_else(|| "unmatched".to_owned(), |r| r.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let method = if matches!(method.as_str(), "GET" | "POST" | "DELETE" | "OPTIONS") {
        method
    } else {
        "other".into()
    };
    let response = next.run(request).await;
    let m = &state.metrics;
    m.http_requests
        .with_label_values(&[route.as_str(), method.as_str(), response.status().as_str()])
        .inc();
    m.http_duration
        .with_label_values(&[route.as_str(), method.as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}

async fn dev_jwks(State(state): State<AppState>) -> Response {
    match &state.dev_jwks {
        Some(jwks) => Json(jwks.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The public router: `/mcp` (authenticated) and the RFC 9728 metadata.
pub fn app(state: AppState) -> Router {
    let mcp = Router::new()
        .route("/mcp", any(endpoint::mcp))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            protect::authenticate,
        ));
    let mut public = Router::new()
        .route("/.well-known/oauth-protected-resource", get(well_known::root))
        .route("/.well-known/oauth-protected-resource/mcp", get(well_known::mcp));
    if state.dev_jwks.is_some() {
        public = public.route("/dev/jwks.json", get(dev_jwks));
    }
    let public = public.layer(TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        Duration::from_secs(10),
    ));
    let mut router = Router::new()
        .merge(mcp)
        .merge(public)
        .route_layer(middleware::from_fn_with_state(state.clone(), track_http))
        .layer(headers::cors_layer(&state.config))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guards::check_host_and_origin,
        ))
        .layer(middleware::from_fn(guards::assign_request_id));
    for layer in headers::security_header_layers() {
        router = router.layer(layer);
    }
    router.with_state(state)
}

async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics.render() {
        Ok(text) => ([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(error) => {
            tracing::error!(%error, "rendering metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn readyz(State(state): State<AppState>) -> Response {
    let keys = state.auth.ready().await;
    let store = state.store.ping().await.is_ok();
    let status = if keys && store {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({"config": true, "keys": keys, "store": store})),
    )
        .into_response()
}

/// The operations router, on its own port: `/metrics`, `/healthz`, `/readyz`.
pub fn ops_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route(HEALTH_PATH, get(|| async { "ok" }))
        .route(READY_PATH, get(readyz))
        .with_state(state)
}
