//! The tenant server's integration tests, one module per area, linked into one test binary: one
//! link of the server and its dependencies instead of one per file, which keeps CI's build
//! minutes and disk in bounds. Run one area with a filter: `cargo nextest run -p
//! mcp-tenant-server --test integration oauth::`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod account;
mod audit;
mod binary;
mod issuer_ca;
mod lifecycle;
mod m365_endpoint;
mod m365_graph;
mod m365_mcp;
mod m365_tools_list;
mod mrtr;
mod oauth;
mod oidc;
mod protocol_versions;
mod replicas;
mod server;
mod store;
mod upstream;
