//! `mcp-tenancy-operator`: see `--help`.

use std::{
    io::{Read, Write},
    path::PathBuf,
    process::ExitCode,
};

use clap::{Args, Parser, Subcommand};
use kube::CustomResourceExt;
use mcp_tenancy_operator::{api::McpTenant, build::OperatorDefaults, render};

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
    /// operator digests their contents).
    Render(RenderArgs),
}

/// The example rendered when no manifest is given.
const MINIMAL_EXAMPLE: &str = include_str!("../../examples/minimal.yaml");

/// Options of `render`.
#[derive(Args, Debug)]
struct RenderArgs {
    /// McpTenant manifest to render, `-` for standard input; the embedded minimal example when absent.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Image of mcp-tenant-server for tenants that name none.
    #[arg(long, env = "MCP_TENANCY_SERVER_IMAGE", default_value = DEFAULT_SERVER_IMAGE)]
    server_image: String,
    /// Namespace of the Ingress controller, allowed to reach tenants exposed by Ingress.
    #[arg(
        long,
        env = "MCP_TENANCY_INGRESS_CONTROLLER_NAMESPACE",
        default_value = "ingress-nginx"
    )]
    ingress_controller_namespace: String,
    /// Namespace of Prometheus, allowed to scrape the tenant's metrics.
    #[arg(long, env = "MCP_TENANCY_MONITORING_NAMESPACE", default_value = "monitoring")]
    monitoring_namespace: String,
    /// Render as for a cluster without the Prometheus operator CRDs (no ServiceMonitor, no PrometheusRule).
    #[arg(long)]
    no_monitoring_crds: bool,
}

const DEFAULT_SERVER_IMAGE: &str = concat!(
    "ghcr.io/mcp-tenancy/mcp-tenant-server:",
    env!("CARGO_PKG_VERSION")
);

fn run_render(args: RenderArgs) -> ExitCode {
    let RenderArgs {
        file,
        server_image,
        ingress_controller_namespace,
        monitoring_namespace,
        no_monitoring_crds,
    } = args;
    let (source, text) = match read_manifest(file.as_ref()) {
        Ok(read) => read,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let defaults = OperatorDefaults {
        server_image,
        ingress_controller_namespace,
        monitoring_namespace,
    };
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

fn main() -> ExitCode {
    let Cli { command } = Cli::parse();
    match command {
        Command::Render(args) => run_render(args),
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
