//! MCP over Streamable HTTP: an rmcp [`rmcp::ServerHandler`] over the dynamic tool registry, two
//! rmcp transports (sessions with SSE; session-less JSON) and the `/mcp` endpoint that routes
//! between them after checking session ownership and request ids.

pub mod endpoint;
pub mod fixtures;
pub mod handler;
pub mod jsonrpc;
pub mod mrtr;
pub mod route;
pub mod sessions;
pub mod shared;
