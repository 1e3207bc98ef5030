//! `mcp-tenancy-operator`: see `--help`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kube::CustomResourceExt;
use mcp_tenancy_operator::api::McpTenant;

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
}

fn main() -> ExitCode {
    let Cli { command } = Cli::parse();
    match command {
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
