//! The `McpTenant` custom resource (`mcptenancy.dev/v1alpha1`).

pub mod rules;
mod spec;
mod status;

pub use spec::*;
pub use status::*;

/// API group of every resource this project defines.
pub const GROUP: &str = "mcptenancy.dev";
