//! The MCP server: lists and calls the tools of the registry that the caller may use. The
//! caller comes from the HTTP request that carried each message (rmcp hands its parts to the
//! handler), never from the session.

use std::{sync::Arc, time::Instant};

use async_trait::async_trait;
use mcp_tenancy_config::TenantConfig;
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorCode, Implementation,
        ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ProgressToken,
        ServerCapabilities, ServerConfig, Tool as McpTool,
    },
    service::{Peer, RequestContext},
};

use super::inflight::InFlight;
use crate::{
    audit::{self, Outcome, ToolCallRecord},
    authz::{self, Decision},
    caller::Caller,
    http::guards::RequestId,
    metrics::{Metrics, tool_label},
    tools::{ProgressSink, Tool, ToolContext, ToolDefinition, ToolError, registry::ToolRegistry},
};
#[cfg(feature = "conformance")]
#[allow(deprecated)] // logging and sampling: deprecated by SEP-2577, still in 2025-11-25
use {
    crate::tools::conformance::SessionClient,
    rmcp::model::{
        CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult, LoggingLevel,
        LoggingMessageNotificationParam,
    },
};

/// What every session's handler shares.
pub struct McpShared {
    pub config: Arc<TenantConfig>,
    pub registry: Arc<ToolRegistry>,
    pub metrics: Metrics,
    pub inflight: Arc<InFlight>,
}

/// One handler per session (or per session-less request).
#[derive(Clone)]
pub struct McpHandler {
    shared: Arc<McpShared>,
    /// The lowest log level the client asked for (`logging/setLevel`), as its severity rank.
    #[cfg(feature = "conformance")]
    log_level: Arc<std::sync::atomic::AtomicU8>,
}

impl McpHandler {
    pub fn new(shared: Arc<McpShared>) -> Self {
        Self {
            shared,
            #[cfg(feature = "conformance")]
            log_level: Arc::default(),
        }
    }
}

/// What a tool call may send to its client besides the result.
#[derive(Clone, Default)]
pub struct CallChannels {
    /// `notifications/progress`, when the client sent a progress token.
    pub progress: Option<Arc<dyn ProgressSink>>,
    /// The client of the session (conformance builds: log messages, sampling, elicitation).
    #[cfg(feature = "conformance")]
    pub client: Option<Arc<dyn SessionClient>>,
}

/// The caller and request id the authentication layer attached to the HTTP request.
fn request_identity(context: &RequestContext<RoleServer>) -> Result<(Arc<Caller>, String), ErrorData> {
    let parts = context.extensions.get::<http::request::Parts>();
    let caller = parts.and_then(|p| p.extensions.get::<Arc<Caller>>()).cloned();
    let request_id = parts
        .and_then(|p| p.extensions.get::<RequestId>())
        .map(|r| r.0.clone());
    match (caller, request_id) {
        (Some(caller), Some(id)) => Ok((caller, id)),
        // Unreachable through `app()`: /mcp is behind the authentication layer.
        _ => Err(ErrorData::internal_error("request is not authenticated", None)),
    }
}

pub fn to_mcp_tool(d: &ToolDefinition) -> McpTool {
    let tool = McpTool::new(d.name, d.description, d.input_schema.clone())
        .with_title(d.title)
        .with_annotations(d.annotations.clone());
    if d.output_schema.is_empty() {
        tool
    } else {
        tool.with_raw_output_schema(d.output_schema.clone())
    }
}

/// The same answer for a tool that does not exist and one the caller may not call.
fn unknown_tool(name: &str) -> ErrorData {
    let shown: String = name.chars().take(64).collect();
    ErrorData::invalid_params(format!("Unknown tool: {shown}"), None)
}

struct PeerProgress {
    peer: Peer<RoleServer>,
    token: ProgressToken,
}

#[async_trait]
impl ProgressSink for PeerProgress {
    async fn report(&self, progress: f64, total: Option<f64>, message: &str) {
        let mut param = ProgressNotificationParam::new(self.token.clone(), progress).with_message(message);
        if let Some(total) = total {
            param = param.with_total(total);
        }
        if let Err(error) = self.peer.notify_progress(param).await {
            tracing::debug!(%error, "progress notification not delivered");
        }
    }
}

/// The session's client over the rmcp peer. Requests made during a call ride that call's SSE
/// stream (rmcp ties them to the originating request); log messages go to the session's stream.
#[cfg(feature = "conformance")]
struct PeerClient {
    peer: Peer<RoleServer>,
    log_level: Arc<std::sync::atomic::AtomicU8>,
}

#[cfg(feature = "conformance")]
fn client_error(what: &str, error: impl std::fmt::Display) -> ToolError {
    ToolError::Upstream {
        service: "client",
        code: what.into(),
        message: error.to_string(),
    }
}

#[cfg(feature = "conformance")]
#[allow(deprecated)] // logging and sampling: deprecated by SEP-2577, still in 2025-11-25
#[async_trait]
impl SessionClient for PeerClient {
    async fn log(&self, level: LoggingLevel, logger: &str, data: serde_json::Value) {
        if (level as u8) < self.log_level.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let param = LoggingMessageNotificationParam::new(level, data).with_logger(logger);
        if let Err(error) = self.peer.notify_logging_message(param).await {
            tracing::debug!(%error, "log notification not delivered");
        }
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
    ) -> Result<CreateMessageResult, ToolError> {
        let offered = self
            .peer
            .peer_info()
            .is_some_and(|info| info.capabilities.sampling.is_some());
        if !offered {
            return Err(client_error(
                "sampling_unsupported",
                "the client does not offer sampling",
            ));
        }
        self.peer
            .create_message(params)
            .await
            .map_err(|e| client_error("sampling_failed", e))
    }

    async fn elicit(&self, params: ElicitRequestParams) -> Result<ElicitResult, ToolError> {
        let offered = self
            .peer
            .peer_info()
            .is_some_and(|info| info.capabilities.elicitation.is_some());
        if !offered {
            return Err(client_error(
                "elicitation_unsupported",
                "the client does not offer elicitation",
            ));
        }
        self.peer
            .create_elicitation(params)
            .await
            .map_err(|e| client_error("elicitation_failed", e))
    }
}

/// Runs the tool; its output becomes `structuredContent` and a text block.
#[cfg(not(feature = "conformance"))]
async fn invoke(
    tool: &dyn Tool,
    ctx: &ToolContext,
    _channels: &CallChannels,
    arguments: serde_json::Map<String, serde_json::Value>,
) -> Result<CallToolResult, ToolError> {
    let output = tool.call(ctx, arguments).await?;
    let mut result = CallToolResult::structured(output.structured);
    result.content = vec![ContentBlock::text(output.text)];
    Ok(result)
}

/// Runs the tool with the session's client; its content blocks become the result's content.
#[cfg(feature = "conformance")]
async fn invoke(
    tool: &dyn Tool,
    ctx: &ToolContext,
    channels: &CallChannels,
    arguments: serde_json::Map<String, serde_json::Value>,
) -> Result<CallToolResult, ToolError> {
    let output = tool
        .call_with_client(ctx, channels.client.as_deref(), arguments)
        .await?;
    Ok(match output.structured {
        Some(structured) => {
            let mut result = CallToolResult::structured(structured);
            result.content = output.content;
            result
        }
        None => CallToolResult::success(output.content),
    })
}

impl ServerHandler for McpHandler {
    // `logging` is advertised for the 2025-11-25 clients that still use it (deprecated by SEP-2577).
    #[allow(deprecated)]
    fn get_info(&self) -> ServerConfig {
        let config = &self.shared.config;
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_logging()
            .build();
        let mut implementation = Implementation::new("mcp-tenant-server", env!("CARGO_PKG_VERSION"));
        if let Some(name) = &config.tenant.display_name {
            implementation = implementation.with_title(format!("Microsoft 365 for {name}"));
        }
        ServerConfig::new(capabilities)
            .with_server_info(implementation)
            .with_instructions(
                "Tools for the signed-in user's Microsoft 365: mail, calendar, Teams, contacts and files. \
             Call whoami to see who you are signed in as and which access tiers apply.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let (caller, _) = request_identity(&context)?;
        Ok(ListToolsResult::with_all_items(self.shared.list_tools(&caller)))
    }

    fn get_tool(&self, name: &str) -> Option<McpTool> {
        self.shared
            .registry
            .get(name)
            .map(|t| to_mcp_tool(t.definition()))
    }

    // Logging is deprecated by SEP-2577 but clients of 2025-11-25 still send logging/setLevel.
    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        tracing::debug!(level = ?request.level, "client set its log level");
        #[cfg(feature = "conformance")]
        self.log_level
            .store(request.level as u8, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let (caller, request_id) = request_identity(&context)?;
        let progress = context.meta.get_progress_token().map(|token| {
            Arc::new(PeerProgress {
                peer: context.peer.clone(),
                token,
            }) as Arc<dyn ProgressSink>
        });
        let channels = CallChannels {
            progress,
            #[cfg(feature = "conformance")]
            client: Some(Arc::new(PeerClient {
                peer: context.peer.clone(),
                log_level: self.log_level.clone(),
            })),
        };
        let result = self
            .shared
            .call_tool(
                caller,
                request_id,
                &request.name,
                request.arguments.unwrap_or_default(),
                context.ct.clone(),
                channels,
            )
            .await?;
        Ok(result.into())
    }
}

/// Records a tool call's outcome once: as given to [`AuditOnDrop::finish`], or as cancelled when
/// dropped unfinished.
struct AuditOnDrop<F: Fn(Outcome)>(Option<F>);

impl<F: Fn(Outcome)> AuditOnDrop<F> {
    fn finish(mut self, outcome: Outcome) {
        if let Some(record) = self.0.take() {
            record(outcome);
        }
    }
}

impl<F: Fn(Outcome)> Drop for AuditOnDrop<F> {
    fn drop(&mut self) {
        if let Some(record) = self.0.take() {
            record(Outcome::Cancelled);
        }
    }
}

impl McpShared {
    /// The tools the caller may call, for `tools/list`.
    pub fn list_tools(&self, caller: &Caller) -> Vec<McpTool> {
        self.registry
            .iter()
            .filter(|t| authz::decide(caller, &self.config.access, t.definition().name) == Decision::Allowed)
            .map(|t| to_mcp_tool(t.definition()))
            .collect()
    }

    /// Writes a tool call's audit line and counts it in the metrics (denied calls are not timed).
    pub fn record_call(&self, record: &ToolCallRecord<'_>) {
        audit::tool_call(record);
        let label = tool_label(record.tool);
        let tier = authz::tier_label(record.caller, &self.config.access, record.tool);
        let status = match record.outcome {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Error | Outcome::Cancelled => "error",
        };
        self.metrics
            .tool_invocations
            .with_label_values(&[label, tier.as_str(), status])
            .inc();
        if record.outcome != Outcome::Denied {
            self.metrics
                .tool_duration
                .with_label_values(&[label])
                .observe(record.duration.as_secs_f64());
        }
    }

    /// `tools/call`: authorization, the call (bounded by the request timeout, cancellable), audit
    /// and metrics. Unknown and forbidden tools get the same error.
    pub async fn call_tool(
        &self,
        caller: Arc<Caller>,
        request_id: String,
        name: &str,
        arguments: serde_json::Map<String, serde_json::Value>,
        cancel: tokio_util::sync::CancellationToken,
        channels: CallChannels,
    ) -> Result<CallToolResult, ErrorData> {
        let started = Instant::now();
        let shared = self;
        let arguments_sha256 = audit::arguments_hash(&arguments);
        let label = tool_label(name);
        let record = |outcome: Outcome| {
            shared.record_call(&ToolCallRecord {
                tenant: &shared.config.tenant.name,
                caller: &caller,
                tool: name,
                arguments_sha256: &arguments_sha256,
                outcome,
                duration: started.elapsed(),
                request_id: &request_id,
            });
        };

        let tool = match shared.registry.get(name) {
            Some(tool) => match authz::decide(&caller, &shared.config.access, name) {
                Decision::Allowed => tool.clone(),
                Decision::MfaRequired => {
                    record(Outcome::Denied);
                    return Err(ErrorData::invalid_request(
                        "this tool requires multi-factor authentication; sign in again with MFA",
                        None,
                    ));
                }
                Decision::Denied => {
                    record(Outcome::Denied);
                    return Err(unknown_tool(name));
                }
            },
            None => {
                record(Outcome::Denied);
                return Err(unknown_tool(name));
            }
        };

        // From here on the call is audited however it ends, also when its future is dropped
        // because the client went away.
        let audit = AuditOnDrop(Some(&record));
        let ctx = ToolContext {
            caller: caller.clone(),
            request_id: request_id.clone(),
            cancel: cancel.clone(),
            progress: channels.progress.clone(),
        };
        let _running = shared.inflight.enter();
        let timeout = shared.config.server.request_timeout.as_duration();
        // Biased: on cancellation the tool is polled first, so it can see `ctx.cancel` and stop
        // cleanly; a tool that ignores it is dropped.
        let result = tokio::select! {
            biased;
            result = tokio::time::timeout(timeout, invoke(tool.as_ref(), &ctx, &channels, arguments)) => match result {
                Ok(result) => result,
                Err(_) => Err(ToolError::Upstream {
                    service: "server",
                    code: "timeout".into(),
                    message: format!("the tool did not finish within {} s", timeout.as_secs()),
                }),
            },
            () = cancel.cancelled() => Err(ToolError::Cancelled),
        };
        match result {
            Ok(result) => {
                audit.finish(Outcome::Ok);
                Ok(result)
            }
            Err(ToolError::Cancelled) => {
                audit.finish(Outcome::Cancelled);
                Err(ErrorData::new(ErrorCode(-32800), "request cancelled", None))
            }
            Err(error) => {
                audit.finish(Outcome::Error);
                if let ToolError::Internal { .. } = &error {
                    tracing::error!(tool = label, request_id, "tool failed with an internal error");
                }
                Ok(CallToolResult::error(vec![ContentBlock::text(error.to_string())]))
            }
        }
    }
}
