//! The `mcp-tenancy-operator` command line: `crd`, `render`, `run`, `rbac` and `tools` (see `--help`).

use std::{
    io::{Read, Write},
    net::SocketAddr,
    path::PathBuf,
    process::ExitCode,
};

use clap::{Args, Parser, Subcommand, ValueEnum};
use kube::CustomResourceExt;
use mcp_tenancy_config::{Cidr, default_trusted_proxies};

use crate::{
    api::McpTenant,
    controller::runtime::{self, LeaderElection, Settings},
    defaults::{self, OperatorDefaults},
    render,
};

/// Kubernetes operator that gives every tenant its own isolated remote MCP server for Microsoft 365.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the McpTenant CustomResourceDefinition as YAML.
    Crd,
    /// Print every object the operator makes for an McpTenant manifest, as a YAML stream.
    ///
    /// The manifest is checked like the API server would (schema, unknown fields, CEL rules) and
    /// like the operator would (tool names, duplicates, ...). An invalid manifest exits with code 2
    /// and names the field at fault.
    ///
    /// Two values come from the cluster and are derived offline instead: the owner references' uid
    /// is a UUID computed from the tenant name (the API server assigns the real one), and the pod
    /// template's secrets checksum is the SHA-256 of the list of Secret keys the server reads (the
    /// operator digests their contents). The key Secret (mcp-tenant-keys) holds generated key
    /// material, so only the running operator makes it; it is not printed.
    Render(RenderArgs),
    /// Run the operator: reconcile every McpTenant in the cluster until SIGTERM.
    Run(RunArgs),
    /// Print the ClusterRole rules the operator needs (the chart installs exactly these).
    Rbac,
    /// Print the tool catalog as Markdown: each tool's group, whether it writes, and the Graph
    /// permissions it needs (docs/tools.md is this output).
    Tools,
}

/// The operator's ClusterRole rules; the one list, shared with the Helm chart.
const CLUSTERROLE_RULES: &str = include_str!("../../charts/mcp-tenancy/files/clusterrole-rules.yaml");

/// Options of `run`. The operator uses the in-cluster service account, or KUBECONFIG outside a
/// cluster.
#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    defaults: DefaultsArgs,
    /// Address of the Prometheus `/metrics` endpoint.
    #[arg(long, env = "MCP_TENANCY_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    /// Address of the `/livez` and `/readyz` endpoints.
    #[arg(long, env = "MCP_TENANCY_HEALTH_ADDR", default_value = "0.0.0.0:8081")]
    health_addr: SocketAddr,
    /// Run the controller only while holding the leader Lease (for more than one replica).
    #[arg(long, env = "MCP_TENANCY_LEADER_ELECT")]
    leader_elect: bool,
    /// Name of the leader election Lease.
    #[arg(long, env = "MCP_TENANCY_LEASE_NAME", default_value = "mcp-tenancy-operator")]
    lease_name: String,
    /// Namespace of the leader election Lease (the operator's own namespace).
    #[arg(long, env = "POD_NAMESPACE")]
    lease_namespace: Option<String>,
    /// Log line format. The level comes from RUST_LOG (default `info`).
    #[arg(long, env = "MCP_TENANCY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    /// One JSON object per line, with the tenant of each reconcile pass.
    Json,
    /// Human-readable lines.
    Text,
}

/// The example rendered when no manifest is given.
const MINIMAL_EXAMPLE: &str = include_str!("../../examples/minimal.yaml");

/// Options of `render`.
#[derive(Args, Debug)]
struct RenderArgs {
    /// McpTenant manifest to render, `-` for standard input; the embedded minimal example when absent.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    file: Option<PathBuf>,
    #[command(flatten)]
    defaults: DefaultsArgs,
    /// Render as for a cluster without the Prometheus operator CRDs (no ServiceMonitor, no PrometheusRule).
    #[arg(long)]
    no_monitoring_crds: bool,
}

/// What tenants inherit from the operator installation; shared by `run` and `render`.
#[derive(Args, Debug)]
struct DefaultsArgs {
    /// Image of mcp-tenant-server for tenants that name none.
    #[arg(long, env = "MCP_TENANCY_SERVER_IMAGE", default_value = defaults::SERVER_IMAGE)]
    server_image: String,
    /// Namespace of the Ingress controller, allowed to reach tenants exposed by Ingress.
    #[arg(
        long,
        env = "MCP_TENANCY_INGRESS_CONTROLLER_NAMESPACE",
        default_value = defaults::INGRESS_CONTROLLER_NAMESPACE
    )]
    ingress_controller_namespace: String,
    /// Namespace of Prometheus, allowed to scrape the tenant's metrics.
    #[arg(long, env = "MCP_TENANCY_MONITORING_NAMESPACE", default_value = defaults::MONITORING_NAMESPACE)]
    monitoring_namespace: String,
    /// Proxies whose X-Forwarded-For tenant servers believe for their per-IP rate limit, for
    /// tenants that set no `spec.network.trustedProxies`: comma-separated CIDRs or addresses of
    /// the load balancer and the Gateway or Ingress controller pods. An empty value never believes
    /// the header. Default: the private, loopback and link-local ranges.
    #[arg(long, env = "MCP_TENANCY_TRUSTED_PROXIES", value_name = "CIDRS", value_parser = parse_trusted_proxies)]
    trusted_proxies: Option<TrustedProxies>,
}

/// The value of `--trusted-proxies`, every entry checked.
#[derive(Clone, Debug)]
struct TrustedProxies(Vec<String>);

fn parse_trusted_proxies(text: &str) -> Result<TrustedProxies, String> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<Cidr>()
                .map(|_| entry.to_owned())
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()
        .map(TrustedProxies)
}

impl From<DefaultsArgs> for OperatorDefaults {
    fn from(args: DefaultsArgs) -> Self {
        let DefaultsArgs {
            server_image,
            ingress_controller_namespace,
            monitoring_namespace,
            trusted_proxies,
        } = args;
        Self {
            server_image,
            ingress_controller_namespace,
            monitoring_namespace,
            trusted_proxies: trusted_proxies.map_or_else(default_trusted_proxies, |t| t.0),
        }
    }
}

fn run_render(args: RenderArgs) -> ExitCode {
    let RenderArgs {
        file,
        defaults,
        no_monitoring_crds,
    } = args;
    let (source, text) = match read_manifest(file.as_ref()) {
        Ok(read) => read,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let defaults = OperatorDefaults::from(defaults);
    let rendered = render::parse_manifest(&text)
        .and_then(|tenant| render::render_children(tenant, &defaults, !no_monitoring_crds))
        .and_then(|children| render::to_yaml_stream(&children));
    match rendered {
        Ok(yaml) => match std::io::stdout().lock().write_all(yaml.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: cannot write output: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("error: {source}: {e}");
            if e.is_invalid_manifest() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The manifest's text and a name for it in messages.
fn read_manifest(file: Option<&PathBuf>) -> Result<(String, String), String> {
    match file {
        None => Ok(("examples/minimal.yaml (embedded)".into(), MINIMAL_EXAMPLE.into())),
        Some(path) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| format!("cannot read standard input: {e}"))?;
            Ok(("<stdin>".into(), text))
        }
        Some(path) => std::fs::read_to_string(path)
            .map(|text| (path.display().to_string(), text))
            .map_err(|e| format!("cannot read {}: {e}", path.display())),
    }
}

/// Parses the command line and runs the subcommand.
pub fn main() -> ExitCode {
    let Cli { command } = Cli::parse();
    match command {
        Command::Render(args) => run_render(args),
        Command::Run(args) => run_operator(args),
        Command::Rbac => {
            print!("{CLUSTERROLE_RULES}");
            ExitCode::SUCCESS
        }
        Command::Tools => {
            print!("{}", mcp_tenancy_config::catalog::markdown());
            ExitCode::SUCCESS
        }
        Command::Crd => match serde_saphyr::to_string(&McpTenant::crd()) {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot serialize the CRD: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run_operator(args: RunArgs) -> ExitCode {
    let RunArgs {
        defaults,
        metrics_addr,
        health_addr,
        leader_elect,
        lease_name,
        lease_namespace,
        log_format,
    } = args;
    init_logging(log_format);
    // One crypto backend everywhere: aws-lc-rs. Err only means it is already installed.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let leader_election = match (leader_elect, lease_namespace) {
        (false, _) => None,
        (true, Some(lease_namespace)) => Some(LeaderElection {
            lease_name,
            lease_namespace,
            identity: identity(),
        }),
        (true, None) => {
            tracing::error!("--leader-elect needs --lease-namespace (or POD_NAMESPACE)");
            return ExitCode::FAILURE;
        }
    };
    let settings = Settings {
        defaults: defaults.into(),
        metrics_addr,
        health_addr,
        leader_election,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let client = match kube::Client::try_default().await {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(error = %e, "cannot configure a Kubernetes client (in-cluster or KUBECONFIG)");
                return ExitCode::FAILURE;
            }
        };
        let shutdown = runtime::shutdown_on_signals();
        match runtime::run(client, settings, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "operator stopped");
                ExitCode::FAILURE
            }
        }
    })
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        LogFormat::Text => builder.compact().init(),
    }
}

/// This replica's identity in the leader Lease: the pod name, or host name and process id.
fn identity() -> String {
    std::env::var("POD_NAME").unwrap_or_else(|_| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "mcp-tenancy-operator".into());
        format!("{host}-{}", std::process::id())
    })
}
