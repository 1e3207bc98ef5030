//! The core tools, always on: `whoami` (the caller as this server sees them) and `server_info`.

use std::sync::Arc;

use async_trait::async_trait;
use mcp_tenancy_config::TenantConfig;
use rmcp::model::ToolAnnotations;
use serde_json::{Map, Value, json};

use super::{Tool, ToolContext, ToolDefinition, ToolError, ToolOutput, ToolResult};

fn object(value: Value) -> Arc<Map<String, Value>> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(Map::new()),
    }
}

fn no_arguments() -> Arc<Map<String, Value>> {
    object(json!({"type": "object", "properties": {}, "additionalProperties": false}))
}

fn read_only(title: &str) -> ToolAnnotations {
    ToolAnnotations::with_title(title)
        .read_only(true)
        .destructive(false)
        .idempotent(true)
        .open_world(false)
}

fn reject_arguments(arguments: &Map<String, Value>) -> Result<(), ToolError> {
    match arguments.keys().next() {
        Some(key) => Err(ToolError::InvalidArguments(format!(
            "this tool takes no arguments (got {key:?})"
        ))),
        None => Ok(()),
    }
}

/// `whoami`: the verified identity, roles, tiers and MFA state of the caller.
pub struct WhoAmI {
    definition: ToolDefinition,
}

impl WhoAmI {
    pub fn new() -> Self {
        let definition = ToolDefinition {
            name: "whoami",
            title: "Who am I",
            description: "Shows who you are signed in as on this server: user id, tenant, client \
                application, roles, access tiers and whether you signed in with multi-factor \
                authentication. Use it to explain why a tool is or is not available.",
            input_schema: no_arguments(),
            output_schema: object(json!({
                "type": "object",
                "properties": {
                    "subject": {"type": "string"},
                    "objectId": {"type": ["string", "null"]},
                    "tenantId": {"type": ["string", "null"]},
                    "name": {"type": ["string", "null"]},
                    "clientId": {"type": ["string", "null"]},
                    "serviceAccount": {"type": ["string", "null"]},
                    "roles": {"type": "array", "items": {"type": "string"}},
                    "tiers": {"type": "array", "items": {"type": "string"}},
                    "mfa": {"type": "boolean"}
                },
                "required": ["subject", "roles", "tiers", "mfa"]
            })),
            annotations: read_only("Who am I"),
        };
        Self { definition }
    }
}

impl Default for WhoAmI {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Tool for WhoAmI {
    fn definition(&self) -> &ToolDefinition {
        &self.definition
    }

    async fn call(&self, ctx: &ToolContext, arguments: Map<String, Value>) -> ToolResult {
        reject_arguments(&arguments)?;
        let c = &ctx.caller;
        let structured = json!({
            "subject": c.subject,
            "objectId": c.object_id,
            "tenantId": c.tenant_id,
            "name": c.name,
            "clientId": c.client_id,
            "serviceAccount": c.service_account,
            "roles": c.roles,
            "tiers": c.tiers,
            "mfa": c.mfa,
        });
        let who = c.name.as_deref().unwrap_or(&c.subject);
        let tiers = if c.tiers.is_empty() {
            "none".to_owned()
        } else {
            c.tiers.join(", ")
        };
        let text = format!(
            "Signed in as {who}; roles: {}; tiers: {tiers}; MFA: {}",
            if c.roles.is_empty() {
                "none".to_owned()
            } else {
                c.roles.join(", ")
            },
            if c.mfa { "yes" } else { "no" }
        );
        Ok(ToolOutput { structured, text })
    }
}

/// `server_info`: which tenant this server belongs to and what it speaks.
pub struct ServerInfo {
    definition: ToolDefinition,
    info: Value,
}

impl ServerInfo {
    pub fn new(config: &TenantConfig) -> Self {
        let definition = ToolDefinition {
            name: "server_info",
            title: "Server information",
            description: "Describes this MCP server: the organisation (tenant) it serves, its \
                version, its public endpoint and the MCP protocol versions it supports.",
            input_schema: no_arguments(),
            output_schema: object(json!({
                "type": "object",
                "properties": {
                    "tenant": {"type": "string"},
                    "displayName": {"type": ["string", "null"]},
                    "version": {"type": "string"},
                    "environment": {"type": "string"},
                    "mcpEndpoint": {"type": "string"},
                    "protocolVersions": {"type": "array", "items": {"type": "string"}}
                },
                "required": ["tenant", "version", "environment", "mcpEndpoint", "protocolVersions"]
            })),
            annotations: read_only("Server information"),
        };
        let versions: Vec<String> = rmcp::model::ProtocolVersion::KNOWN_VERSIONS
            .iter()
            .map(|v| v.as_str().to_owned())
            .collect();
        let info = json!({
            "tenant": config.tenant.name,
            "displayName": config.tenant.display_name,
            "version": env!("CARGO_PKG_VERSION"),
            "environment": match config.environment {
                mcp_tenancy_config::Environment::Production => "production",
                mcp_tenancy_config::Environment::Development => "development",
            },
            "mcpEndpoint": config.mcp_url(),
            "protocolVersions": versions,
        });
        Self { definition, info }
    }
}

#[async_trait]
impl Tool for ServerInfo {
    fn definition(&self) -> &ToolDefinition {
        &self.definition
    }

    async fn call(&self, _ctx: &ToolContext, arguments: Map<String, Value>) -> ToolResult {
        reject_arguments(&arguments)?;
        let tenant = self
            .info
            .get("displayName")
            .and_then(Value::as_str)
            .or_else(|| self.info["tenant"].as_str());
        let text = format!(
            "MCP server for {} (version {}), endpoint {}",
            tenant.unwrap_or("this tenant"),
            env!("CARGO_PKG_VERSION"),
            self.info["mcpEndpoint"].as_str().unwrap_or_default()
        );
        Ok(ToolOutput {
            structured: self.info.clone(),
            text,
        })
    }
}

/// The core tools for a config.
pub fn tools(config: &TenantConfig) -> Vec<Arc<dyn Tool>> {
    vec![Arc::new(WhoAmI::new()), Arc::new(ServerInfo::new(config))]
}
