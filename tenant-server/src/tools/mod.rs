//! The tool seam: every tool the server offers implements [`Tool`]. The MCP layer lists, filters
//! (by config and role) and calls them; tools never see the transport, the client's token or
//! other users' state.

use std::sync::Arc;

use async_trait::async_trait;
use rmcp::model::{ClientCapabilities, InputRequests, ToolAnnotations};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::caller::Caller;
pub use client::{SessionClient, ToolContent, create_message, elicit, list_roots};

/// What `tools/list` shows of a tool.
#[derive(Clone, Debug)]
pub struct ToolDefinition {
    /// Must be a name of `mcp_tenancy_config::catalog::TOOL_CATALOG`.
    pub name: &'static str,
    pub title: &'static str,
    /// Written for a language model: what it does, when to use it, what it returns.
    pub description: &'static str,
    /// JSON Schema of the arguments (an object schema).
    pub input_schema: Arc<Map<String, Value>>,
    /// JSON Schema of `structuredContent` (an object schema; empty for a tool whose results are
    /// content only, which then lists no output schema).
    pub output_schema: Arc<Map<String, Value>>,
    pub annotations: ToolAnnotations,
}

/// Progress of a long tool call, sent to the client as `notifications/progress` when the client
/// asked for it (a `progressToken`), else dropped.
#[async_trait]
pub trait ProgressSink: Send + Sync {
    async fn report(&self, progress: f64, total: Option<f64>, message: &str);
}

/// Everything a tool call may use besides its arguments.
#[derive(Clone)]
pub struct ToolContext {
    pub caller: Arc<Caller>,
    /// Correlates the audit line, logs and Graph `client-request-id`s of this call.
    pub request_id: String,
    /// Cancelled when the client sends `notifications/cancelled` or disconnects.
    pub cancel: CancellationToken,
    pub progress: Option<Arc<dyn ProgressSink>>,
}

impl ToolContext {
    pub async fn report_progress(&self, progress: f64, total: Option<f64>, message: &str) {
        if let Some(sink) = &self.progress {
            sink.report(progress, total, message).await;
        }
    }
}

/// A successful result: `structured` becomes `structuredContent` (and must match the output
/// schema); `text` is the human-readable summary in `content`, followed by `links`: resource
/// links to the items the result names (`m365://mail/messages/{id}`), for clients to attach.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolOutput {
    pub structured: Value,
    pub text: String,
    pub links: Vec<rmcp::model::Resource>,
}

/// Why a call failed. Every variant becomes a tool result with `isError: true` and a message a
/// person or model can act on, except [`ToolError::Cancelled`], which is not answered.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// Microsoft Graph (or another upstream) refused or failed; `code` is its error code.
    #[error("{service} error {code}: {message}")]
    Upstream {
        service: &'static str,
        code: String,
        message: String,
    },
    /// The user must sign in again (e.g. the upstream refresh token expired or was revoked).
    #[error("sign-in required: {0}")]
    SignInRequired(String),
    #[error("the request was cancelled")]
    Cancelled,
    /// The call needs the client's answers to these requests first (MCP 2026-07-28, multi
    /// round-trip requests): it ends with an input-required result and runs again with them.
    #[error("the client's input is required")]
    InputRequired(InputRequests),
    /// The call needs a capability the client did not declare.
    #[error("the client does not offer a capability this tool needs")]
    MissingCapability(Box<ClientCapabilities>),
    /// An unexpected failure; the message is generic and the cause is logged, not returned.
    #[error("internal error (request id {request_id})")]
    Internal { request_id: String },
}

pub type ToolResult = Result<ToolOutput, ToolError>;

/// One tool. Implementations are stateless apart from shared clients and caches.
#[async_trait]
pub trait Tool: Send + Sync + 'static {
    fn definition(&self) -> &ToolDefinition;

    /// Runs the tool. `arguments` is the `arguments` object of `tools/call` (empty when absent);
    /// implementations deserialize and validate it and answer `InvalidArguments` when it is wrong.
    async fn call(&self, ctx: &ToolContext, arguments: Map<String, Value>) -> ToolResult;

    /// Conformance builds only: whether a call in a session needs the session's client, which
    /// only rmcp's session worker has (then the call goes through rmcp).
    fn uses_session_client(&self) -> bool {
        false
    }

    /// Whether the tool is an entry of the tool catalog, as every tool of the product is. Only
    /// the conformance suite's fixture tools (development builds with the `conformance` feature)
    /// are not; the registry lists them after the catalog's.
    fn in_catalog(&self) -> bool {
        true
    }

    /// Conformance builds only: runs the tool for an MCP call, with the client of its session
    /// (`None` for a session-less call), answering content blocks. The MCP layer calls this; the
    /// default is [`Tool::call`]. The conformance suite's fixture tools override it.
    async fn call_with_client(
        &self,
        ctx: &ToolContext,
        _client: Option<&dyn SessionClient>,
        arguments: Map<String, Value>,
    ) -> Result<ToolContent, ToolError> {
        self.call(ctx, arguments).await.map(ToolContent::from)
    }
}

pub mod admin;
mod client;
#[cfg(feature = "conformance")]
pub mod conformance;

pub mod core;
pub mod m365;
pub mod registry;
pub mod typed;
