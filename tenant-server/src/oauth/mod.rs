//! Builtin mode: the server as an OAuth 2.1 authorization server for MCP clients, signing users
//! in at the tenant's upstream OpenID provider and keeping their Graph tokens sealed.

pub mod upstream;
pub mod vault;
