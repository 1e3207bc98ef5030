//! The per-tenant MCP server.

pub mod caller;
pub mod graph;
pub mod tools;
