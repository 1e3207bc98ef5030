//! The per-tenant MCP server.

pub mod app;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod caller;
pub mod cli;
pub mod crypto;
pub mod dev;
pub mod graph;
pub mod http;
pub mod logs;
pub mod mcp;
pub mod metrics;
pub mod ratelimit;
pub mod server;
pub mod store;
pub mod tools;
pub mod trust;

#[cfg(test)]
mod testing;
