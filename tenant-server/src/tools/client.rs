//! What a tool may use of the MCP client beyond its result: content blocks of every kind, log
//! messages, and what only the client can answer: the user (elicitation), its model (sampling)
//! and its roots. The MCP layer implements [`SessionClient`] over the session's rmcp peer, and
//! over a stateless 2026-07-28 request as multi round-trip requests.

// Logging and sampling are deprecated by SEP-2577, and still part of 2025-11-25.
#![allow(deprecated)]

use async_trait::async_trait;
use rmcp::model::{
    ClientCapabilities, ContentBlock, CreateMessageRequest, CreateMessageRequestParams, CreateMessageResult,
    ElicitRequest, ElicitRequestParams, ElicitResult, InputRequest, InputRequests, InputResponses,
    ListRootsRequest, ListRootsResult, LoggingLevel,
};
use serde::de::DeserializeOwned;
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
        let links = output.links.into_iter().map(ContentBlock::resource_link);
        Self {
            content: std::iter::once(ContentBlock::text(output.text))
                .chain(links)
                .collect(),
            structured: Some(output.structured),
        }
    }
}

/// The client a call came from.
#[async_trait]
pub trait SessionClient: Send + Sync {
    /// `notifications/message`, unless the client set a higher level (or, on 2026-07-28, asked
    /// for no log messages with this request).
    async fn log(&self, level: LoggingLevel, logger: &str, data: Value);
    /// What the client declared it offers.
    fn capabilities(&self) -> ClientCapabilities;
    /// The client's answers to `requests` (elicitation, sampling, roots), by key. In a session
    /// each is sent to the client now. On a stateless 2026-07-28 request the call ends with
    /// [`ToolError::InputRequired`] and is run again with the answers, so a tool asks before it
    /// acts. A request for a capability the client did not declare is
    /// [`ToolError::MissingCapability`] (stateless) or a tool error (session).
    async fn ask(&self, requests: InputRequests) -> Result<InputResponses, ToolError>;
}

/// The client's answer to `key`, as `T`.
fn answer<T: DeserializeOwned>(mut answers: InputResponses, key: &str) -> Result<T, ToolError> {
    let invalid = |message: String| ToolError::Upstream {
        service: "client",
        code: "invalid_answer".into(),
        message,
    };
    let value = answers
        .remove(key)
        .ok_or_else(|| invalid(format!("the client did not answer {key:?}")))?;
    serde_json::from_value(value).map_err(|e| invalid(format!("the client's answer to {key:?}: {e}")))
}

async fn ask_one<T: DeserializeOwned>(
    client: &dyn SessionClient,
    key: &str,
    request: InputRequest,
) -> Result<T, ToolError> {
    let answers = client
        .ask(InputRequests::from([(key.to_owned(), request)]))
        .await?;
    answer(answers, key)
}

/// Asks the user (`elicitation/create`), as the input `key`.
pub async fn elicit(
    client: &dyn SessionClient,
    key: &str,
    params: ElicitRequestParams,
) -> Result<ElicitResult, ToolError> {
    ask_one(client, key, InputRequest::Elicitation(ElicitRequest::new(params))).await
}

/// Asks the client's model (`sampling/createMessage`), as the input `key`.
pub async fn create_message(
    client: &dyn SessionClient,
    key: &str,
    params: CreateMessageRequestParams,
) -> Result<CreateMessageResult, ToolError> {
    let request = InputRequest::CreateMessage(CreateMessageRequest::new(params));
    ask_one(client, key, request).await
}

/// The client's roots (`roots/list`), as the input `key`.
pub async fn list_roots(client: &dyn SessionClient, key: &str) -> Result<ListRootsResult, ToolError> {
    ask_one(client, key, InputRequest::ListRoots(ListRootsRequest::default())).await
}
