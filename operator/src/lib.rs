//! The mcp-tenancy operator: the `McpTenant` API, the validate step ([`validate`]) and the pure
//! builders ([`build`]) of each tenant's child objects, the controller that dereferences, applies
//! and reports on them ([`controller`]), and the command line ([`cli`]).

pub mod api;
pub mod build;
pub mod cli;
pub mod controller;
pub mod defaults;
pub mod render;
pub mod validate;
