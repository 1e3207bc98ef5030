//! The mcp-tenancy operator: the `McpTenant` API, pure builders of each tenant's child objects,
//! and the controller that applies them.

pub mod api;
pub mod build;
pub mod cli;
pub mod controller;
pub mod defaults;
pub mod render;
pub mod validate;
