//! `pick_colours`, a tool that asks the user twice (elicitation): their name, then their colour,
//! and answers "<name> likes <colour>". In a session it asks with requests to the client; on a
//! stateless 2026-07-28 request each question ends a round with an input-required result. Not a
//! catalog tool; `for` is an argument that changes nothing but the request's binding.

use std::sync::Arc;

use async_trait::async_trait;
use mcp_tenant_server::tools::{
    SessionClient, Tool, ToolContent, ToolContext, ToolDefinition, ToolError, ToolResult, elicit,
};
use rmcp::model::{ContentBlock, ElicitRequestParams, ElicitResult, ToolAnnotations};
use serde_json::{Map, Value, json};

pub const PICK_COLOURS: &str = "pick_colours";

struct PickColours(ToolDefinition);

/// `pick_colours`.
pub fn pick_colours() -> Arc<dyn Tool> {
    Arc::new(PickColours(ToolDefinition {
        name: PICK_COLOURS,
        title: "Pick colours",
        description: "Asks the user's name and favourite colour.",
        input_schema: Arc::new(
            json!({"type": "object", "properties": {"for": {"type": "string"}}})
                .as_object()
                .unwrap()
                .clone(),
        ),
        output_schema: Arc::new(Map::new()),
        annotations: ToolAnnotations::new(),
    }))
}

fn question(message: &str, field: &str) -> ElicitRequestParams {
    serde_json::from_value(json!({
        "mode": "form",
        "message": message,
        "requestedSchema": {"type": "object", "properties": {field: {"type": "string"}}, "required": [field]}
    }))
    .unwrap()
}

#[async_trait]
impl Tool for PickColours {
    fn definition(&self) -> &ToolDefinition {
        &self.0
    }
    fn in_catalog(&self) -> bool {
        false
    }
    fn uses_session_client(&self) -> bool {
        true
    }
    async fn call(&self, _: &ToolContext, _: Map<String, Value>) -> ToolResult {
        unreachable!("the MCP layer calls call_with_client")
    }
    async fn call_with_client(
        &self,
        _ctx: &ToolContext,
        client: Option<&dyn SessionClient>,
        _arguments: Map<String, Value>,
    ) -> Result<ToolContent, ToolError> {
        let client = client.unwrap();
        let name = elicit(client, "name", question("Your name?", "name")).await?;
        let colour = elicit(client, "colour", question("Your colour?", "colour")).await?;
        let field = |r: &ElicitResult, f: &str| r.content.as_ref().unwrap()[f].as_str().unwrap().to_owned();
        Ok(ToolContent {
            content: vec![ContentBlock::text(format!(
                "{} likes {}",
                field(&name, "name"),
                field(&colour, "colour")
            ))],
            structured: None,
        })
    }
}
