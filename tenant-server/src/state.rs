//! The server's shared state, built once at start: the sub-states each part of the request path
//! takes (`FromRef`), so that no part depends on the whole.

use std::{ops::Deref, sync::Arc};

use axum::extract::FromRef;
use mcp_tenancy_config::{Cidr, CidrError, TenantConfig};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService,
    session::{
        local::{LocalSessionManager, SessionConfig},
        never::NeverSessionManager,
    },
};
use tokio_util::sync::CancellationToken;

use crate::{
    auth::{Authenticator, TokenVerifier},
    dev::DevUpstream,
    http::protect::Gate,
    inflight::InFlight,
    mcp::{
        endpoint::{McpServices, McpState},
        fixtures::Fixtures,
        handler::McpHandler,
        mrtr::RequestStates,
        sessions::SessionRegistry,
        shared::SharedSessions,
    },
    metrics::Metrics,
    oauth::{
        AuthServer,
        vault::{Vault, VaultError},
    },
    ratelimit::RateLimiters,
    store::Store,
    tool_calls::ToolCalls,
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

impl Deref for AppState {
    type Target = AppInner;

    fn deref(&self) -> &AppInner {
        &self.0
    }
}

pub struct AppInner {
    pub config: Arc<TenantConfig>,
    pub metrics: Metrics,
    pub store: Arc<dyn Store>,
    /// The layer in front of `/mcp`: rate limits and token verification.
    pub gate: Arc<Gate>,
    /// `/mcp`: sessions, the rmcp transports and the tool-call pipeline.
    pub mcp: Arc<McpState>,
    /// Cancelling it ends every MCP session and stream (the last step of shutdown).
    pub sessions_shutdown: CancellationToken,
    /// Builtin mode: the authorization server.
    pub oauth: Option<Arc<AuthServer>>,
    /// Development mode only: the local sign-in that stands in for the upstream.
    pub dev_sign_in: Option<Arc<DevUpstream>>,
}

impl FromRef<AppState> for Arc<TenantConfig> {
    fn from_ref(state: &AppState) -> Self {
        state.config.clone()
    }
}

impl FromRef<AppState> for Arc<Gate> {
    fn from_ref(state: &AppState) -> Self {
        state.gate.clone()
    }
}

impl FromRef<AppState> for Arc<McpState> {
    fn from_ref(state: &AppState) -> Self {
        state.mcp.clone()
    }
}

/// The optional parts of the public router.
#[derive(Default)]
pub struct Extras {
    pub oauth: Option<Arc<AuthServer>>,
    pub dev_sign_in: Option<Arc<DevUpstream>>,
    /// The tenant's encryption key, which seals the state of multi round-trip requests so that
    /// any replica resumes them; without it, a key of this process (one replica).
    pub vault: Option<Arc<Vault>>,
    /// The conformance suite's fixture prompts and resources (development, `conformance` builds).
    pub fixtures: Option<Arc<dyn Fixtures>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("tools: {0}")]
    Tools(#[from] RegistryError),
    #[error("server.trustedProxies: {0}")]
    TrustedProxy(#[from] CidrError),
    #[error("request-state key: {0}")]
    Vault(#[from] VaultError),
}

impl AppState {
    pub fn new(
        config: TenantConfig,
        verifier: Arc<dyn TokenVerifier>,
        tools: Vec<Arc<dyn Tool>>,
        store: Arc<dyn Store>,
    ) -> Result<Self, StateError> {
        Self::build(config, verifier, tools, store, Metrics::new()?, Extras::default())
    }

    /// The general constructor: `metrics` may already hold the tools' own metrics (Graph), and
    /// `extras` are the authorization server (Builtin mode) and the development sign-in.
    pub fn build(
        config: TenantConfig,
        verifier: Arc<dyn TokenVerifier>,
        tools: Vec<Arc<dyn Tool>>,
        store: Arc<dyn Store>,
        metrics: Metrics,
        extras: Extras,
    ) -> Result<Self, StateError> {
        let config = Arc::new(config);
        let calls = Arc::new(ToolCalls {
            config: config.clone(),
            registry: Arc::new(ToolRegistry::new(tools, &config.tools)?),
            metrics: metrics.clone(),
            inflight: Arc::new(InFlight::default()),
        });

        // Idle sessions are ended by the registry, which also sees the requests answered
        // outside rmcp's session worker; rmcp's own timer would miss those.
        let mut session_config = SessionConfig::default();
        session_config.keep_alive = None;
        let mut manager = LocalSessionManager::default();
        manager.session_config = session_config;
        let manager = Arc::new(manager);

        let idle_timeout = config.server.session_idle_timeout.as_duration();
        // Several replicas (Redis): sessions live in the store and rmcp restores them from it.
        let shared_sessions = store
            .clone()
            .shared()
            .map(|bus| Arc::new(SharedSessions::new(store.clone(), bus, idle_timeout)));
        let sessions_shutdown = CancellationToken::new();
        let mut http_config = StreamableHttpServerConfig::default()
            .with_allowed_hosts(config.server.allowed_hosts.clone())
            .with_max_request_body_bytes(config.server.max_request_body_bytes)
            .with_cancellation_token(sessions_shutdown.clone());
        let stateless_config = http_config.clone();
        if let Some(shared) = &shared_sessions {
            http_config.session_store = Some(shared.clone());
        }
        let vault = match extras.vault.clone() {
            Some(vault) => vault,
            None => Arc::new(Vault::ephemeral()?),
        };
        let states = Arc::new(RequestStates::new(vault, &config.tenant.name));
        let factory = {
            let calls = calls.clone();
            let fixtures = extras.fixtures.clone();
            move || Ok(McpHandler::new(calls.clone(), states.clone(), fixtures.clone()))
        };
        let services = McpServices {
            sessions: StreamableHttpService::new(factory.clone(), manager.clone(), http_config),
            stateless: StreamableHttpService::new(
                factory,
                Arc::new(NeverSessionManager::default()),
                stateless_config
                    .with_legacy_session_mode(false)
                    .with_json_response(true),
            ),
        };
        let sessions = Arc::new(SessionRegistry::new(
            manager,
            usize::try_from(config.server.max_sessions_per_user).unwrap_or(usize::MAX),
            idle_timeout,
            metrics.clone(),
            shared_sessions,
        ));
        let trusted_proxies = config
            .server
            .trusted_proxies
            .iter()
            .map(|entry| entry.parse())
            .collect::<Result<Vec<Cidr>, _>>()?;
        let gate = Arc::new(Gate {
            config: config.clone(),
            auth: Arc::new(Authenticator::new(verifier, config.clone(), TOKEN_CACHE_CAPACITY)),
            limits: RateLimiters::new(&config.limits, store.clone().shared(), &metrics),
            metrics: metrics.clone(),
            trusted_proxies,
        });
        Ok(Self(Arc::new(AppInner {
            mcp: Arc::new(McpState {
                calls,
                sessions,
                services,
            }),
            config,
            metrics,
            store,
            gate,
            sessions_shutdown,
            oauth: extras.oauth,
            dev_sign_in: extras.dev_sign_in,
        })))
    }
}
