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
        CacheScope, CallToolRequestParams, CallToolResponse, ClientCapabilities, CompleteRequestParams,
        CompleteResult, DiscoverResult, GetPromptRequestParams, GetPromptResponse, Implementation,
        InputRequest, InputRequests, InputResponses, ListPromptsResult, ListResourceTemplatesResult,
        ListResourcesResult, ListToolsResult, LoggingLevel, LoggingMessageNotificationParam,
        PaginatedRequestParams, ProgressNotificationParam, ProgressToken, ProtocolVersion,
        ReadResourceRequestParams, ReadResourceResponse, Reference, ServerCapabilities, ServerConfig,
        SubscribeRequestParams, Tool as McpTool, UnsubscribeRequestParams,
    },
    service::{Peer, RequestContext},
};
use tokio_util::sync::CancellationToken;

use super::{
    endpoint::ClientCancel,
    fixtures::Fixtures,
    mrtr::{Binding, RequestStates, StatelessClient, undeclared},
};
use crate::{
    audit,
    caller::Caller,
    prompts,
    request_id::RequestId,
    resources::{self, ReadRequest},
    tool_calls::{Authorized, CallChannels, ToolCall, ToolCalls},
    tools::{ProgressSink, SessionClient, ToolDefinition, ToolError},
};

/// How long a 2026-07-28 client may treat a list as fresh: lists change only with the tenant's
/// config, which restarts the server.
const LIST_TTL_MS: u64 = 300_000;
/// How long a resource read may be treated as fresh.
const READ_TTL_MS: u64 = 60_000;

/// One handler per session (or per session-less request).
#[derive(Clone)]
pub struct McpHandler {
    calls: Arc<ToolCalls>,
    states: Arc<RequestStates>,
    fixtures: Option<Arc<dyn Fixtures>>,
    /// The lowest log level the client asked for (`logging/setLevel`), as its severity rank.
    log_level: Arc<AtomicU8>,
}

impl McpHandler {
    pub fn new(
        calls: Arc<ToolCalls>,
        states: Arc<RequestStates>,
        fixtures: Option<Arc<dyn Fixtures>>,
    ) -> Self {
        Self {
            calls,
            states,
            fixtures,
            log_level: Arc::default(),
        }
    }
}

/// Whether the request is of 2026-07-28 or later (stateless, with per-request `_meta`).
fn is_stateless(context: &RequestContext<RoleServer>) -> bool {
    context
        .meta
        .protocol_version()
        .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str())
}

/// Caching hints (2026-07-28; earlier versions have no such fields): every answer depends on
/// the caller's tiers, so only their own client may cache it.
fn cache_hints(context: &RequestContext<RoleServer>, ttl_ms: u64) -> Option<(u64, CacheScope)> {
    is_stateless(context).then_some((ttl_ms, CacheScope::Private))
}

macro_rules! with_hints {
    ($result:expr, $context:expr, $ttl:expr) => {{
        let result = $result;
        match cache_hints($context, $ttl) {
            Some((ttl, scope)) => result.with_ttl_ms(ttl).with_cache_scope(scope),
            None => result,
        }
    }};
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

/// `notifications/message` to `peer`; a client gone away is not an error of the call.
#[allow(deprecated)] // logging: deprecated by SEP-2577, still in 2025-11-25
pub(super) async fn notify_log(
    peer: &Peer<RoleServer>,
    level: LoggingLevel,
    logger: &str,
    data: serde_json::Value,
) {
    let param = LoggingMessageNotificationParam::new(level, data).with_logger(logger);
    if let Err(error) = peer.notify_logging_message(param).await {
        tracing::debug!(%error, "log notification not delivered");
    }
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
        if (level as u8) >= self.log_level.load(Ordering::Relaxed) {
            notify_log(&self.peer, level, logger, data).await;
        }
    }

    fn capabilities(&self) -> ClientCapabilities {
        self.peer
            .peer_info()
            .map(|info| info.capabilities.clone())
            .unwrap_or_default()
    }

    /// Sends each request to the client, one after the other, on the call's stream.
    async fn ask(&self, requests: InputRequests) -> Result<InputResponses, ToolError> {
        fn json(result: impl serde::Serialize) -> serde_json::Value {
            serde_json::to_value(result).unwrap_or_default()
        }
        let offered = self.capabilities();
        let mut answers = InputResponses::new();
        for (key, request) in requests {
            if let Some(required) = undeclared(&offered, &request) {
                return Err(client_error(
                    "capability_not_offered",
                    format!("the client does not offer {}", capability_names(&required)),
                ));
            }
            let answer = match request {
                InputRequest::Elicitation(request) => {
                    self.peer.create_elicitation(request.params).await.map(json)
                }
                InputRequest::CreateMessage(request) => {
                    self.peer.create_message(request.params).await.map(json)
                }
                InputRequest::ListRoots(_) => self.peer.list_roots().await.map(json),
                _ => {
                    return Err(client_error(
                        "unsupported_request",
                        "not a request for the client",
                    ));
                }
            };
            let answer = answer.map_err(|e| client_error("request_failed", format!("{key}: {e}")))?;
            answers.insert(key, answer);
        }
        Ok(answers)
    }
}

/// The capabilities in `capabilities`, by name (`sampling`, `elicitation`, `roots`).
fn capability_names(capabilities: &ClientCapabilities) -> String {
    match serde_json::to_value(capabilities) {
        Ok(serde_json::Value::Object(names)) => names.keys().cloned().collect::<Vec<_>>().join(", "),
        _ => String::new(),
    }
}

impl McpHandler {
    /// The client of a 2026-07-28 request: its declared capabilities and answers over those of
    /// the state, opened for `binding`; `None` for a request in a session (its peer is the client).
    fn stateless_client(
        &self,
        context: &RequestContext<RoleServer>,
        binding: &Binding<'_>,
        request_state: Option<&str>,
        input_responses: Option<InputResponses>,
    ) -> Result<Option<Arc<StatelessClient>>, ErrorData> {
        if !is_stateless(context) {
            return Ok(None);
        }
        let state = match request_state {
            Some(state) => self.states.open(binding, state)?,
            None => InputResponses::new(),
        };
        Ok(Some(Arc::new(StatelessClient {
            peer: context.peer.clone(),
            capabilities: context.meta.client_capabilities().unwrap_or_default(),
            log_level: context.meta.log_level(),
            answers: StatelessClient::answers(state, input_responses),
        })))
    }
}

impl ServerHandler for McpHandler {
    // `logging` is advertised for the 2025-11-25 clients that still use it (deprecated by SEP-2577).
    #[allow(deprecated)]
    fn get_info(&self) -> ServerConfig {
        let config = &self.calls.config;
        let builder = ServerCapabilities::builder()
            .enable_tools()
            .enable_prompts()
            .enable_resources()
            .enable_completions()
            .enable_logging();
        // Only the fixtures' resources change (never); Graph change notifications could drive
        // subscriptions to Microsoft 365 items (a later step).
        let capabilities = match self.fixtures {
            Some(_) => builder.enable_resources_subscribe().build(),
            None => builder.build(),
        };
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

    /// 2026-07-28 has no `resources/subscribe` (subscriptions come through `subscriptions/listen`,
    /// which this server does not offer), so discovery declares no subscriptions.
    async fn discover(&self, _context: RequestContext<RoleServer>) -> Result<DiscoverResult, ErrorData> {
        let mut info = self.get_info();
        if let Some(resources) = info.capabilities.resources.as_mut() {
            resources.subscribe = None;
        }
        let versions = self.supported_protocol_versions().into_owned();
        Ok(DiscoverResult::from_server_info(versions, info).with_ttl_ms(LIST_TTL_MS))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let identity = request_identity(&context)?;
        let tools = list_tools(&self.calls, &identity.caller);
        Ok(with_hints!(
            ListToolsResult::with_all_items(tools),
            &context,
            LIST_TTL_MS
        ))
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let identity = request_identity(&context)?;
        let mut prompts: Vec<_> = prompts::allowed(&self.calls, &identity.caller)
            .map(|p| p.to_mcp())
            .collect();
        if let Some(fixtures) = &self.fixtures {
            prompts.extend(fixtures.prompts());
        }
        Ok(with_hints!(
            ListPromptsResult::with_all_items(prompts),
            &context,
            LIST_TTL_MS
        ))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let identity = request_identity(&context)?;
        if let Some(answer) = self.fixtures.as_ref().and_then(|f| f.get_prompt(&request)) {
            return answer;
        }
        let prompt = prompts::find(&self.calls, &identity.caller, &request.name)?;
        Ok(GetPromptResponse::Complete(
            prompt.get(request.arguments.as_ref())?,
        ))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        request_identity(&context)?;
        // Microsoft 365 items are addressed by templates, not listed.
        let listed = self.fixtures.as_ref().map(|f| f.resources()).unwrap_or_default();
        Ok(with_hints!(
            ListResourcesResult::with_all_items(listed),
            &context,
            LIST_TTL_MS
        ))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let identity = request_identity(&context)?;
        let mut templates: Vec<_> = resources::allowed(&self.calls, &identity.caller)
            .map(|t| t.to_mcp())
            .collect();
        if let Some(fixtures) = &self.fixtures {
            templates.extend(fixtures.resource_templates());
        }
        let result = ListResourceTemplatesResult::with_all_items(templates);
        Ok(with_hints!(result, &context, LIST_TTL_MS))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let identity = request_identity(&context)?;
        let uri = request.uri.as_str();
        let fixture = self.fixtures.as_ref().and_then(|f| f.read_resource(uri));
        let result = match fixture {
            Some(result) => result,
            None => {
                let cancel = self.cancel(&context, identity.cancel);
                let _done = cancel.clone().drop_guard();
                let read = ReadRequest {
                    caller: identity.caller,
                    request_id: identity.request_id,
                    uri,
                    cancel,
                };
                resources::read(&self.calls, read)
                    .await
                    .unwrap_or_else(|| Err(resources::not_found(uri)))?
            }
        };
        Ok(with_hints!(result, &context, READ_TTL_MS).into())
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscribable(&context, &request.uri)
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscribable(&context, &request.uri)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let identity = request_identity(&context)?;
        if let Some(info) = self.fixtures.as_ref().and_then(|f| f.complete(&request)) {
            return Ok(CompleteResult::new(info));
        }
        let completion = match &request.r#ref {
            Reference::Prompt(prompt) => prompts::complete(
                &self.calls,
                &identity.caller,
                &prompt.name,
                &request.argument.name,
                &request.argument.value,
            )?,
            // Ids of Microsoft 365 items are not guessed from a prefix.
            _ => rmcp::model::CompletionInfo::default(),
        };
        Ok(CompleteResult::new(completion))
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
        let cancel = self.cancel(&context, identity.cancel);
        // Ends `either`'s watcher once the call is over.
        let _done = cancel.clone().drop_guard();
        let arguments = request.arguments.unwrap_or_default();
        let user = identity.caller.user_key();
        let arguments_sha256 = audit::arguments_hash(&arguments);
        let binding = Binding {
            user: &user,
            method: "tools/call",
            name: &request.name,
            arguments_sha256: &arguments_sha256,
        };
        let stateless = self.stateless_client(
            &context,
            &binding,
            request.request_state.as_deref(),
            request.input_responses,
        )?;
        let client: Arc<dyn SessionClient> = match &stateless {
            Some(client) => client.clone(),
            None => Arc::new(PeerClient {
                peer: context.peer.clone(),
                log_level: self.log_level.clone(),
            }),
        };
        let call = ToolCall {
            caller: identity.caller,
            request_id: identity.request_id,
            name: &request.name,
            arguments,
            cancel: cancel.clone(),
            channels: CallChannels {
                progress,
                client: Some(client),
            },
        };
        match self.calls.call(call, decision).await? {
            // The answers so far go along, sealed: the client sends them back with the next.
            CallToolResponse::InputRequired(mut result) => {
                if let Some(client) = &stateless {
                    result.request_state = Some(self.states.seal(&binding, client.answers.clone())?);
                }
                Ok(result.into())
            }
            other => Ok(other),
        }
    }
}

impl McpHandler {
    /// The request's cancellation: rmcp's, or the session registry's (another replica may
    /// receive the client's `notifications/cancelled`).
    fn cancel(
        &self,
        context: &RequestContext<RoleServer>,
        registry: Option<&ClientCancel>,
    ) -> CancellationToken {
        match registry {
            Some(ClientCancel(registry)) => either(context.ct.clone(), registry.clone()),
            None => context.ct.clone(),
        }
    }

    /// Subscriptions are offered only for the fixtures' resources, which never change.
    fn subscribable(&self, context: &RequestContext<RoleServer>, uri: &str) -> Result<(), ErrorData> {
        request_identity(context)?;
        match self.fixtures.as_ref().and_then(|f| f.read_resource(uri)) {
            Some(_) => Ok(()),
            None => Err(resources::not_found(uri)),
        }
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
