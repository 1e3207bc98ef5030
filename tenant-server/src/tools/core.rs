//! The core tools, always on: `whoami` (the caller as this server sees them) and `server_info`.

use std::{borrow::Cow, sync::Arc};

use mcp_tenancy_config::TenantConfig;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, de::Error as _};
use serde_json::{Map, Value};

use super::{
    Tool, ToolContext, ToolError,
    typed::{TypedTool, typed},
};

/// The arguments of a tool that takes none: an empty object, and a clear error otherwise.
pub struct NoArguments;

impl<'de> Deserialize<'de> for NoArguments {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Map::<String, Value>::deserialize(deserializer)?.keys().next() {
            Some(key) => Err(D::Error::custom(format!(
                "this tool takes no arguments (got {key:?})"
            ))),
            None => Ok(Self),
        }
    }
}

impl JsonSchema for NoArguments {
    fn schema_name() -> Cow<'static, str> {
        "NoArguments".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "object", "properties": {}, "additionalProperties": false})
    }
}

/// `whoami`: the verified identity, roles, tiers and MFA state of the caller.
pub struct WhoAmI;

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    subject: String,
    object_id: Option<String>,
    tenant_id: Option<String>,
    name: Option<String>,
    client_id: Option<String>,
    service_account: Option<String>,
    roles: Vec<String>,
    tiers: Vec<String>,
    mfa: bool,
}

#[async_trait::async_trait]
impl TypedTool for WhoAmI {
    type Deps = ();
    type Args = NoArguments;
    type Output = Identity;
    const NAME: &'static str = "whoami";
    const TITLE: &'static str = "Who am I";
    const DESCRIPTION: &'static str = "Shows who you are signed in as on this server: user id, tenant, client \
        application, roles, access tiers and whether you signed in with multi-factor \
        authentication. Use it to explain why a tool is or is not available.";
    const SCHEMA_TITLES: bool = false;

    async fn run(_: &(), ctx: &ToolContext, _: NoArguments) -> Result<(Identity, String), ToolError> {
        let c = &ctx.caller;
        let who = c.name.as_deref().unwrap_or(&c.subject);
        let listed = |v: &[String]| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.join(", ")
            }
        };
        let text = format!(
            "Signed in as {who}; roles: {}; tiers: {}; MFA: {}",
            listed(&c.roles),
            listed(&c.tiers),
            if c.mfa { "yes" } else { "no" }
        );
        let identity = Identity {
            subject: c.subject.clone(),
            object_id: c.object_id.clone(),
            tenant_id: c.tenant_id.clone(),
            name: c.name.clone(),
            client_id: c.client_id.clone(),
            service_account: c.service_account.clone(),
            roles: c.roles.clone(),
            tiers: c.tiers.clone(),
            mfa: c.mfa,
        };
        Ok((identity, text))
    }
}

/// `server_info`: which tenant this server belongs to and what it speaks.
pub struct ServerInfo;

#[derive(Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerDescription {
    tenant: String,
    display_name: Option<String>,
    version: String,
    environment: String,
    mcp_endpoint: String,
    protocol_versions: Vec<String>,
}

impl ServerDescription {
    pub fn new(config: &TenantConfig) -> Self {
        Self {
            tenant: config.tenant.name.clone(),
            display_name: config.tenant.display_name.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            environment: match config.environment {
                mcp_tenancy_config::Environment::Production => "production",
                mcp_tenancy_config::Environment::Development => "development",
            }
            .to_owned(),
            mcp_endpoint: config.mcp_url(),
            protocol_versions: rmcp::model::ProtocolVersion::KNOWN_VERSIONS
                .iter()
                .map(|v| v.as_str().to_owned())
                .collect(),
        }
    }
}

#[async_trait::async_trait]
impl TypedTool for ServerInfo {
    type Deps = ServerDescription;
    type Args = NoArguments;
    type Output = ServerDescription;
    const NAME: &'static str = "server_info";
    const TITLE: &'static str = "Server information";
    const DESCRIPTION: &'static str = "Describes this MCP server: the organisation (tenant) it serves, its \
        version, its public endpoint and the MCP protocol versions it supports.";
    const SCHEMA_TITLES: bool = false;

    async fn run(
        info: &ServerDescription,
        _: &ToolContext,
        _: NoArguments,
    ) -> Result<(ServerDescription, String), ToolError> {
        let tenant = info.display_name.as_deref().unwrap_or(&info.tenant);
        let text = format!(
            "MCP server for {tenant} (version {}), endpoint {}",
            info.version, info.mcp_endpoint
        );
        Ok((info.clone(), text))
    }
}

/// The core tools for a config.
pub fn tools(config: &TenantConfig) -> Vec<Arc<dyn Tool>> {
    vec![
        typed::<WhoAmI>(()),
        typed::<ServerInfo>(ServerDescription::new(config)),
    ]
}
