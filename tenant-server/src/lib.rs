//! The per-tenant MCP server.

pub mod app;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod caller;
pub mod challenge;
pub mod cli;
pub mod clock;
pub mod crypto;
pub mod dev;
pub mod graph;
pub mod http;
pub mod inflight;
pub mod logs;
pub mod mcp;
pub mod metrics;
pub mod oauth;
pub mod prompts;
pub mod ratelimit;
pub mod request_id;
pub mod resources;
pub mod server;
pub mod state;
pub mod store;
pub mod tool_calls;
pub mod tools;
pub mod trust;

#[cfg(test)]
mod testing;
