//! What a tool may use of the MCP client beyond its result: content blocks of every kind, log
//! messages, and the server-to-client requests sampling and elicitation. The MCP layer
//! implements [`SessionClient`] over the session's rmcp peer.

// Logging and sampling are deprecated by SEP-2577, and still part of 2025-11-25.
#![allow(deprecated)]

use async_trait::async_trait;
use rmcp::model::{
    ContentBlock, CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult,
    LoggingLevel,
};
use serde_json::Value;

use super::{ToolError, ToolOutput};

/// A tool result as MCP content blocks: what [`super::Tool::call_with_client`] answers.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolContent {
    pub content: Vec<ContentBlock>,
    /// `structuredContent`; `None` for tools without an output schema.
    pub structured: Option<Value>,
}

impl From<ToolOutput> for ToolContent {
    fn from(output: ToolOutput) -> Self {
        Self {
            content: vec![ContentBlock::text(output.text)],
            structured: Some(output.structured),
        }
    }
}

/// The client of the MCP session a call came through.
#[async_trait]
pub trait SessionClient: Send + Sync {
    /// `notifications/message`, unless the client set a higher level.
    async fn log(&self, level: LoggingLevel, logger: &str, data: Value);
    /// `sampling/createMessage`; an error when the client does not offer sampling.
    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
    ) -> Result<CreateMessageResult, ToolError>;
    /// `elicitation/create`; an error when the client does not offer elicitation.
    async fn elicit(&self, params: ElicitRequestParams) -> Result<ElicitResult, ToolError>;
}
