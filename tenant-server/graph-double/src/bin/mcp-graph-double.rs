//! Serves the Microsoft Graph test double for local development:
//! `mcp-graph-double --listen 127.0.0.1:8089`, then point `graph.baseUrl` at `http://127.0.0.1:8089`
//! (environment: development, with the development Graph token provider).

use std::net::SocketAddr;

use clap::Parser;
use mcp_graph_double::{DEFAULT_TOKEN, GraphDouble, Seed};

/// A Microsoft Graph test double with a seeded mailbox, calendar, people, Teams and files.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "GRAPH_DOUBLE_LISTEN", default_value = "127.0.0.1:8089")]
    listen: SocketAddr,
    /// Inbox size (four in five unread).
    #[arg(long, env = "GRAPH_DOUBLE_MESSAGES", default_value_t = 640)]
    messages: usize,
    /// Extra bearer tokens to accept besides the development token.
    #[arg(long = "accept-token", env = "GRAPH_DOUBLE_TOKENS", value_delimiter = ',')]
    accept_tokens: Vec<String>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let Args {
        listen,
        messages,
        accept_tokens,
    } = Args::parse();
    let double = GraphDouble::new(&Seed {
        inbox_messages: messages,
        ..Seed::default()
    });
    for t in &accept_tokens {
        double.accept_token(t);
    }
    let (addr, handle) = double.spawn(listen).await?;
    tracing::info!(%addr, dev_token = DEFAULT_TOKEN, "Graph double listening (development only)");
    println!("mcp-graph-double listening on http://{addr}/v1.0 (development only)");
    tokio::select! {
        _ = handle => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    Ok(())
}
