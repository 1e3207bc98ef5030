//! The MCP server: lists and calls the tools of the registry that the caller may use. The
//! caller comes from the HTTP request that carried each message (rmcp hands its parts to the
//! handler), never from the session.

use std::sync::{
    Arc,
    atomic::{AtomicU8, Ordering},
};

use async_trait::async_trait;
#[allow(deprecated)] // logging and sampling: deprecated by SEP-2577, still in 2025-11-25
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CreateMessageRequestParams, CreateMessageResult,
        ElicitRequestParams, ElicitResult, GetPromptRequestParams, GetPromptResponse, Implementation,
        ListPromptsResult, ListToolsResult, LoggingLevel, LoggingMessageNotificationParam,
        PaginatedRequestParams, ProgressNotificationParam, ProgressToken, ServerCapabilities, ServerConfig,
        Tool as McpTool,
    },
    service::{Peer, RequestContext},
};
use tokio_util::sync::CancellationToken;

use super::endpoint::ClientCancel;
use crate::{
    caller::Caller,
    prompts,
    request_id::RequestId,
    tool_calls::{Authorized, CallChannels, ToolCall, ToolCalls},
    tools::{ProgressSink, SessionClient, ToolDefinition, ToolError},
};

/// One handler per session (or per session-less request).
#[derive(Clone)]
pub struct McpHandler {
    calls: Arc<ToolCalls>,
    /// The lowest log level the client asked for (`logging/setLevel`), as its severity rank.
    log_level: Arc<AtomicU8>,
}

impl McpHandler {
    pub fn new(calls: Arc<ToolCalls>) -> Self {
        Self {
            calls,
            log_level: Arc::default(),
        }
    }
}

/// What the authentication layer and the endpoint attached to the HTTP request.
struct RequestIdentity<'a> {
    caller: Arc<Caller>,
    request_id: String,
    authorized: Option<&'a Authorized>,
    /// The session registry's cancellation of this request, if it is in a session.
    cancel: Option<&'a ClientCancel>,
}

fn request_identity(context: &RequestContext<RoleServer>) -> Result<RequestIdentity<'_>, ErrorData> {
    let parts = context.extensions.get::<http::request::Parts>();
    let caller = parts.and_then(|p| p.extensions.get::<Arc<Caller>>()).cloned();
    let request_id = parts
        .and_then(|p| p.extensions.get::<RequestId>())
        .map(|r| r.0.clone());
    match (caller, request_id) {
        (Some(caller), Some(request_id)) => Ok(RequestIdentity {
            caller,
            request_id,
            authorized: parts.and_then(|p| p.extensions.get::<Authorized>()),
            cancel: parts.and_then(|p| p.extensions.get::<ClientCancel>()),
        }),
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
struct PeerClient {
    peer: Peer<RoleServer>,
    log_level: Arc<AtomicU8>,
}

fn client_error(what: &str, error: impl std::fmt::Display) -> ToolError {
    ToolError::Upstream {
        service: "client",
        code: what.into(),
        message: error.to_string(),
    }
}

#[allow(deprecated)] // logging and sampling: deprecated by SEP-2577, still in 2025-11-25
#[async_trait]
impl SessionClient for PeerClient {
    async fn log(&self, level: LoggingLevel, logger: &str, data: serde_json::Value) {
        if (level as u8) < self.log_level.load(Ordering::Relaxed) {
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

impl ServerHandler for McpHandler {
    // `logging` is advertised for the 2025-11-25 clients that still use it (deprecated by SEP-2577).
    #[allow(deprecated)]
    fn get_info(&self) -> ServerConfig {
        let config = &self.calls.config;
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_prompts()
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
        let identity = request_identity(&context)?;
        Ok(ListToolsResult::with_all_items(list_tools(
            &self.calls,
            &identity.caller,
        )))
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let identity = request_identity(&context)?;
        let prompts = prompts::allowed(&self.calls, &identity.caller).map(|p| p.to_mcp());
        Ok(ListPromptsResult::with_all_items(prompts.collect()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let identity = request_identity(&context)?;
        let prompt = prompts::find(&self.calls, &identity.caller, &request.name)?;
        Ok(GetPromptResponse::Complete(
            prompt.get(request.arguments.as_ref())?,
        ))
    }

    fn get_tool(&self, name: &str) -> Option<McpTool> {
        self.calls.registry.get(name).map(|t| to_mcp_tool(t.definition()))
    }

    // Logging is deprecated by SEP-2577 but clients of 2025-11-25 still send logging/setLevel.
    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        tracing::debug!(level = ?request.level, "client set its log level");
        self.log_level.store(request.level as u8, Ordering::Relaxed);
        Ok(())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let identity = request_identity(&context)?;
        let decision = self
            .calls
            .decision(identity.authorized.cloned(), &identity.caller, &request.name);
        let progress = context.meta.get_progress_token().map(|token| {
            Arc::new(PeerProgress {
                peer: context.peer.clone(),
                token,
            }) as Arc<dyn ProgressSink>
        });
        let cancel = match identity.cancel {
            Some(ClientCancel(registry)) => either(context.ct.clone(), registry.clone()),
            None => context.ct.clone(),
        };
        // Ends `either`'s watcher once the call is over.
        let _done = cancel.clone().drop_guard();
        let call = ToolCall {
            caller: identity.caller,
            request_id: identity.request_id,
            name: &request.name,
            arguments: request.arguments.unwrap_or_default(),
            cancel: cancel.clone(),
            channels: CallChannels {
                progress,
                client: Some(Arc::new(PeerClient {
                    peer: context.peer.clone(),
                    log_level: self.log_level.clone(),
                })),
            },
        };
        let result = self.calls.call(call, decision).await?;
        Ok(result.into())
    }
}

/// A token cancelled when `a` or `b` is (or when it is cancelled itself, which ends the watcher).
fn either(a: CancellationToken, b: CancellationToken) -> CancellationToken {
    let both = CancellationToken::new();
    let watcher = both.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = a.cancelled() => {}
            () = b.cancelled() => {}
            () = watcher.cancelled() => return,
        }
        watcher.cancel();
    });
    both
}

/// The tools the caller may call, as MCP lists them.
pub fn list_tools(calls: &ToolCalls, caller: &Caller) -> Vec<McpTool> {
    calls
        .allowed_tools(caller)
        .map(|t| to_mcp_tool(t.definition()))
        .collect()
}
