//! Command line: `mcp-tenant-server --config FILE` runs the server; `mcp-tenant-server dev`
//! (or `--dev`) runs it locally with a development issuer.

use std::{path::PathBuf, process::ExitCode, sync::Arc};

use clap::{Parser, Subcommand};
use mcp_tenancy_config::{Cidr, IdentityMode, MAX_CONFIG_BYTES, StorageConfig, TenantConfig};
use tokio::net::TcpListener;

use crate::{
    app::{AppState, Extras},
    auth::{
        TokenVerifier,
        jwks::{JwksOptions, JwksVerifier, KeySource},
    },
    crypto, dev,
    graph::GraphTokenProvider,
    logs,
    metrics::Metrics,
    oauth::{
        AuthServer,
        clients::ClientRegistry,
        grants::Grants,
        graph_tokens::StoredGrantProvider,
        keys::KeyRing,
        upstream::{OidcUpstream, Upstream},
        vault::Vault,
    },
    ratelimit::Limiter,
    server::{serve, shutdown_signal},
    store::{EmbeddedStore, RedisOptions, RedisStore, Store},
    tools::{
        self, Tool,
        m365::{M365Deps, SignIns, ToolPolicy, m365_tools},
    },
    trust::{IssuerTrust, read_bundle},
};

const DEFAULT_CONFIG: &str = "/etc/mcp-tenant/tenant.yaml";

#[derive(Parser, Debug)]
#[command(
    name = "mcp-tenant-server",
    version,
    about = "Per-tenant remote MCP server for Microsoft 365"
)]
struct Cli {
    /// Tenant config written by the operator [default: /etc/mcp-tenant/tenant.yaml]
    #[arg(long, env = "MCP_TENANT_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Same as the `dev` command.
    #[arg(long)]
    dev: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run on 127.0.0.1 with a local development issuer and print a demo token. Refused when the
    /// config says `environment: production`.
    Dev {
        /// Port of the MCP endpoint (0 picks a free one).
        #[arg(long, default_value_t = mcp_tenancy_config::HTTP_PORT)]
        port: u16,
    },
}

#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error("reading config {path}: {message}")]
    ConfigRead { path: String, message: String },
    #[error("config {path}: {source}")]
    Config {
        path: String,
        source: mcp_tenancy_config::ConfigError,
    },
    #[error("{0}")]
    Dev(#[from] dev::DevError),
    #[error("{0}")]
    State(#[from] crate::app::StateError),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("Microsoft 365 tools: {0}")]
    M365(#[from] crate::tools::m365::M365SetupError),
    #[error("Graph tokens: {0}")]
    GraphTokens(#[from] crate::graph::ProviderSetupError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("{0}")]
    Keys(#[from] crate::oauth::keys::KeyError),
    #[error("encryption key: {0}")]
    Vault(#[from] crate::oauth::vault::VaultError),
    #[error("upstream sign-in: {0}")]
    Upstream(#[from] crate::oauth::upstream::UpstreamSetupError),
    #[error("clients: {0}")]
    Clients(#[from] crate::oauth::clients::ClientSetupError),
    #[error("{0}")]
    Trust(#[from] crate::trust::TrustError),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("listening on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("server: {0}")]
    Serve(#[from] std::io::Error),
}

/// JSON logs (and the audit lines) on stdout, written in batches ([`crate::logs`]); the
/// returned guard writes what is still buffered when `main` returns.
fn init_tracing() -> Option<logs::Flusher<std::io::Stdout>> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rmcp=warn"));
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false);
    match logs::batched(std::io::stdout()) {
        Ok((writer, flusher)) => {
            let _ = subscriber.with_writer(writer).try_init();
            Some(flusher)
        }
        Err(error) => {
            // No thread to spare: write each line directly.
            let _ = subscriber.try_init();
            tracing::warn!(%error, "could not start the log writer thread; writing logs unbatched");
            None
        }
    }
}

async fn read_config(path: &PathBuf) -> Result<TenantConfig, RunError> {
    let shown = path.display().to_string();
    let bytes = tokio::fs::read(path).await.map_err(|e| RunError::ConfigRead {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    if bytes.len() > MAX_CONFIG_BYTES {
        return Err(RunError::Config {
            path: shown,
            source: mcp_tenancy_config::ConfigError::TooLarge(bytes.len()),
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| RunError::ConfigRead {
        path: shown.clone(),
        message: "not UTF-8".into(),
    })?;
    TenantConfig::from_yaml(&text).map_err(|source| RunError::Config { path: shown, source })
}

async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, RunError> {
    TcpListener::bind(addr).await.map_err(|source| RunError::Bind {
        addr: addr.to_string(),
        source,
    })
}

async fn open_store(config: &TenantConfig) -> Result<Arc<dyn Store>, RunError> {
    match &config.storage {
        StorageConfig::Embedded { path } => Ok(Arc::new(EmbeddedStore::open(path).await?)),
        StorageConfig::Redis {
            url_file,
            ca_bundle_file,
        } => {
            let url = tokio::fs::read_to_string(url_file)
                .await
                .map_err(|e| RunError::ConfigRead {
                    path: url_file.display().to_string(),
                    message: e.to_string(),
                })?;
            let mut options = RedisOptions::default();
            if let Some(file) = ca_bundle_file {
                let pem = read_bundle(file).await?;
                // Every certificate must be a usable root: a bad bundle stops the start.
                IssuerTrust::from_pem(&file.display().to_string(), &pem)?;
                options.ca_pem = Some(pem);
            }
            Ok(Arc::new(RedisStore::open(
                url.trim(),
                &config.tenant.name,
                options,
            )?))
        }
    }
}

fn verifier(config: &TenantConfig, trust: &IssuerTrust) -> Result<JwksVerifier, RunError> {
    let source = match &config.identity.jwks_uri {
        Some(url) => KeySource::Jwks(url.clone()),
        None => KeySource::Discovery(config.identity.issuer.clone()),
    };
    Ok(JwksVerifier::new(
        source,
        &config.identity.issuer,
        config.accepted_audiences(),
        JwksOptions {
            trust: trust.clone(),
            ..JwksOptions::default()
        },
    )?)
}

/// Builtin mode's authorization server: the tenant's keys, its clients, and sign-in at
/// `upstream`; tokens are verified locally.
fn auth_server(
    config: &Arc<TenantConfig>,
    store: Arc<dyn Store>,
    keys: KeyRing,
    vault: Arc<Vault>,
    upstream: Arc<dyn Upstream>,
    metrics: &Metrics,
) -> Result<(Arc<AuthServer>, Arc<dyn TokenVerifier>), RunError> {
    let keys = Arc::new(keys);
    let trusted_proxies = config
        .server
        .trusted_proxies
        .iter()
        .map(|entry| entry.parse())
        .collect::<Result<Vec<Cidr>, _>>()
        .map_err(crate::app::StateError::from)?;
    let limiter = Limiter::auth(config.limits.auth, store.clone().shared(), metrics);
    let server = Arc::new(AuthServer {
        clients: ClientRegistry::new(config.clone(), store.clone())?,
        grants: Grants::new(
            store,
            vault,
            &config.tenant.name,
            config.identity.token_lifetimes.refresh.as_duration(),
        ),
        limiter,
        keys,
        upstream,
        trusted_proxies,
        config: config.clone(),
    });
    let verifier = server.verifier();
    Ok((server, verifier))
}

/// The core tools and the Microsoft 365 tools, with Graph tokens from `tokens`, registering
/// Graph metrics in `metrics`.
fn all_tools(
    config: &TenantConfig,
    tokens: Arc<dyn GraphTokenProvider>,
    sign_ins: Option<Arc<dyn SignIns>>,
    metrics: &Metrics,
) -> Result<Vec<Arc<dyn Tool>>, RunError> {
    let mut all = tools::core::tools(config);
    let mut deps = M365Deps::new(&config.graph, tokens, metrics.registry())?.with_policy(ToolPolicy {
        tools: config.tools.clone(),
        access: config.access.clone(),
    });
    if let Some(sign_ins) = sign_ins {
        deps = deps.with_sign_ins(sign_ins);
    }
    all.extend(m365_tools(deps));
    Ok(all)
}

async fn run(config: TenantConfig) -> Result<(), RunError> {
    let store = open_store(&config).await?;
    let trust = IssuerTrust::load(config.identity.ca_bundle_file.as_deref()).await?;
    let listener = bind(config.server.listen).await?;
    let ops = bind(config.server.metrics_listen).await?;
    let metrics = Metrics::new()?;
    let config = Arc::new(config);
    // Seals upstream grants (Builtin mode) and the state of multi round-trip requests.
    let vault = Arc::new(Vault::load(&config.keys.encryption_key_file)?);
    let (verifier, tokens, extras): (Arc<dyn TokenVerifier>, Arc<dyn GraphTokenProvider>, Extras) =
        match config.identity.mode {
            IdentityMode::External => (
                Arc::new(verifier(&config, &trust)?),
                crate::graph::provider_for(&config, &trust)?,
                Extras {
                    vault: Some(vault),
                    ..Extras::default()
                },
            ),
            IdentityMode::Builtin => {
                let keys = KeyRing::load(&config.keys.signing_keys_file)?;
                let upstream = Arc::new(OidcUpstream::new(&config.identity, trust.clone())?);
                let (server, verifier) =
                    auth_server(&config, store.clone(), keys, vault.clone(), upstream, &metrics)?;
                let tokens = Arc::new(StoredGrantProvider::new(server.clone()));
                (
                    verifier,
                    tokens,
                    Extras {
                        oauth: Some(server),
                        vault: Some(vault),
                        ..Extras::default()
                    },
                )
            }
        };
    let sign_ins = extras.oauth.clone().map(|s| s as Arc<dyn SignIns>);
    let mut tools = all_tools(&config, tokens, sign_ins, &metrics)?;
    if let Some(server) = &extras.oauth {
        tools.extend(tools::admin::tools(server));
    }
    let state = AppState::build((*config).clone(), verifier, tools, store, metrics, extras)?;
    tracing::info!(
        tenant = %state.config.tenant.name,
        listen = %state.config.server.listen,
        metrics = %state.config.server.metrics_listen,
        mode = ?state.config.identity.mode,
        tools = state.mcp.calls.registry.len(),
        "serving MCP"
    );
    Ok(serve(state, listener, ops, shutdown_signal()).await?)
}

async fn run_dev(config_path: Option<PathBuf>, port: u16) -> Result<(), RunError> {
    let listener = bind(std::net::SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let port = listener.local_addr()?.port();
    let config = match config_path {
        Some(path) => dev::localize(read_config(&path).await?, port)?,
        None => dev::localize(dev::default_config(port)?, port)?,
    };
    let ops = bind(config.server.metrics_listen).await?;
    let metrics_addr = ops.local_addr()?;
    let config = Arc::new(config);
    // The upstream is the local sign-in, but a bundle the config names must still be usable.
    let trust = IssuerTrust::load(config.identity.ca_bundle_file.as_deref()).await?;
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::in_memory());
    let sign_in = Arc::new(dev::DevUpstream::new(config.public_base()));
    let vault = Arc::new(Vault::ephemeral()?);
    let metrics = Metrics::new()?;
    let (server, verifier) = auth_server(
        &config,
        store.clone(),
        KeyRing::ephemeral()?,
        vault.clone(),
        sign_in.clone(),
        &metrics,
    )?;
    let token = dev::DevUpstream::demo_token(&server, 3_600).await?;
    // Graph on a loopback double takes the development token; a real Graph the stored grants.
    let tokens = match crate::graph::provider_for(&config, &trust) {
        Ok(dev_tokens) => dev_tokens,
        Err(_) => Arc::new(StoredGrantProvider::new(server.clone())),
    };
    let sign_ins: Arc<dyn SignIns> = server.clone();
    let mut tools = dev::tools(all_tools(&config, tokens, Some(sign_ins), &metrics)?);
    tools.extend(tools::admin::tools(&server));
    let extras = Extras {
        oauth: Some(server),
        dev_sign_in: Some(sign_in),
        vault: Some(vault),
        fixtures: dev::fixtures(),
    };
    let state = AppState::build((*config).clone(), verifier, tools, store, metrics, extras)?;
    tracing::warn!("DEVELOPMENT MODE: local sign-in, loopback only; never use in production");
    eprintln!("{}", dev::banner(&state.config.mcp_url(), &token, metrics_addr));
    Ok(serve(state, listener, ops, shutdown_signal()).await?)
}

pub fn main() -> ExitCode {
    let Cli { config, dev, command } = Cli::parse();
    let _flush_logs_on_exit = init_tracing();
    crypto::install_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("mcp-tenant-server: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match (dev, command) {
            (_, Some(Command::Dev { port })) => run_dev(config, port).await,
            (true, None) => run_dev(config, mcp_tenancy_config::HTTP_PORT).await,
            (false, None) => {
                let path = config.unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
                run(read_config(&path).await?).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "mcp-tenant-server stopped");
            eprintln!("mcp-tenant-server: {error}");
            ExitCode::FAILURE
        }
    }
}
