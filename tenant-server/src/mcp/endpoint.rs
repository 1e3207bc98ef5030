//! `/mcp`: reads and checks the JSON-RPC message, decides a `tools/call` once (answering MFA
//! step-up at the HTTP level), enforces session ownership, idleness and unique in-flight request
//! ids, then answers plain `ping`, `tools/list` and `tools/call` itself (as SSE in a session, as
//! JSON without one) with the shared tool logic, and hands everything else to rmcp:
//! `initialize`, the GET stream, notifications, progress, 2026-07-28 requests. rmcp's
//! per-request path (a session worker task, channels, a stream per request) costs more than the
//! call itself; see docs/performance.md.

use std::sync::Arc;

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use http::{HeaderValue, Method, StatusCode, header, request::Parts};
use http_body_util::{BodyExt, Full};
use rmcp::transport::streamable_http_server::{
    SessionManager, StreamableHttpService,
    session::{local::LocalSessionManager, never::NeverSessionManager},
};
use rmcp::{
    ErrorData,
    model::{CallToolRequestParams, ListToolsResult, ServerResult},
};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::{
    handler::{McpHandler, list_tools},
    jsonrpc::{self, Message, code, json_response, response_message, sse_response},
    route::{Route, route},
    sessions::{RequestIdGuard, SessionRefusal, SessionRegistry},
};
use crate::{
    audit::{self, Outcome, ToolCallRecord},
    authz::Verdict,
    caller::Caller,
    http::errors::UNAVAILABLE_RETRY_AFTER_SECS,
    request_id::RequestId,
    tool_calls::{Authorized, CallChannels, MFA_REQUIRED, ToolCall, ToolCalls},
};

/// The registry's cancellation of a request that rmcp runs: the client's `notifications/cancelled`
/// may reach another replica, which tells this one.
#[derive(Clone)]
pub struct ClientCancel(pub CancellationToken);

/// The two rmcp transports over the same handler.
#[derive(Clone)]
pub struct McpServices {
    pub sessions: StreamableHttpService<McpHandler, LocalSessionManager>,
    pub stateless: StreamableHttpService<McpHandler, NeverSessionManager>,
}

/// What `/mcp` needs; the config is the pipeline's (`calls.config`).
pub struct McpState {
    pub calls: Arc<ToolCalls>,
    pub sessions: Arc<SessionRegistry>,
    pub services: McpServices,
}

fn not_found() -> Response {
    jsonrpc::error(
        StatusCode::NOT_FOUND,
        None,
        code::INVALID_REQUEST,
        "session not found",
    )
}

/// The answer to a message of a session the registry refused.
fn refused(refusal: SessionRefusal, id: Option<&Value>) -> Response {
    match refusal {
        SessionRefusal::NotFound => not_found(),
        SessionRefusal::DuplicateRequestId => jsonrpc::error(
            StatusCode::BAD_REQUEST,
            id,
            code::INVALID_REQUEST,
            "a request with this id is already in progress in this session",
        ),
        SessionRefusal::Unavailable => {
            let mut response = jsonrpc::error(
                StatusCode::SERVICE_UNAVAILABLE,
                id,
                code::INTERNAL_ERROR,
                "the session store is unreachable; retry later",
            );
            let retry = HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS);
            response.headers_mut().insert(header::RETRY_AFTER, retry);
            response
        }
    }
}

pub async fn mcp(State(mcp): State<Arc<McpState>>, request: Request) -> Response {
    let Some(caller) = request.extensions().get::<Arc<Caller>>().cloned() else {
        // Unreachable through `app()`: the authentication layer runs first.
        return jsonrpc::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            code::INTERNAL_ERROR,
            "internal error",
        );
    };
    let (mut parts, body) = request.into_parts();
    if parts.method != Method::POST {
        return without_body(&mcp, &caller, parts).await;
    }
    let limit = mcp.calls.config.server.max_request_body_bytes;
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        let message = format!("request body is larger than {limit} bytes");
        return jsonrpc::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            code::INVALID_REQUEST,
            &message,
        );
    };
    let message = match Message::parse(&bytes) {
        Ok(message) => message,
        Err(refusal) => return refusal.into_response(),
    };
    let authorized = match message.tool_name() {
        None => None,
        Some(name) => match mcp.authorize(&caller, &parts, &message, name) {
            Some(authorized) => Some(authorized),
            None => {
                let metadata = mcp.calls.config.resource_metadata_url();
                return jsonrpc::insufficient_scope(&metadata, message.id.as_ref(), MFA_REQUIRED);
            }
        },
    };
    match route(&parts, &message, &mcp.calls.registry) {
        Route::Answer => {
            // Cancelled if the client goes away (the response future is dropped).
            let cancel = CancellationToken::new();
            let _cancel_on_drop = cancel.clone().drop_guard();
            json_response(mcp.answer(&caller, &parts, &message, cancel, authorized).await)
        }
        Route::Session { id, answer_here } => {
            let admitted = Admitted {
                parts,
                bytes,
                authorized,
            };
            in_session(&mcp, &caller, admitted, message, &id, answer_here).await
        }
        Route::Initialize => {
            let user = caller.user_key();
            mcp.sessions.make_room(&user).await;
            let response = forward(mcp.services.sessions.clone(), parts, bytes, None).await;
            if let Some(new_id) = jsonrpc::session_header(response.headers()) {
                mcp.sessions.register(new_id, user).await;
            }
            response
        }
        Route::Stateless => {
            carry(&mut parts, authorized);
            // Plain JSON-RPC callers may accept only JSON, which this transport answers with
            // unless the tool streams progress.
            if !jsonrpc::accepts_sse(&parts.headers) {
                let both = HeaderValue::from_static("application/json, text/event-stream");
                parts.headers.insert(header::ACCEPT, both);
            }
            forward(mcp.services.stateless.clone(), parts, bytes, None).await
        }
        Route::SessionRequired => forward(mcp.services.sessions.clone(), parts, bytes, None).await,
    }
}

/// A POST of the session `id`, once the session admits it (its owner, not idle, a request id
/// not already in flight).
/// A POSTed message with its decision, if it is a `tools/call`.
struct Admitted {
    parts: Parts,
    bytes: Bytes,
    authorized: Option<Authorized>,
}

/// The decision goes along to the rmcp handler in the request's extensions.
fn carry(parts: &mut Parts, authorized: Option<Authorized>) {
    if let Some(authorized) = authorized {
        parts.extensions.insert(authorized);
    }
}

async fn in_session(
    mcp: &Arc<McpState>,
    caller: &Arc<Caller>,
    admitted: Admitted,
    message: Message,
    id: &str,
    answer_here: bool,
) -> Response {
    let Admitted {
        mut parts,
        bytes,
        authorized,
    } = admitted;
    let key = message
        .is_request()
        .then(|| message.id.as_ref().map(Value::to_string))
        .flatten();
    let guard = match mcp.sessions.enter(id, &caller.user_key(), key).await {
        Ok(guard) => guard,
        Err(refusal) => return refused(refusal, message.id.as_ref()),
    };
    let guard = match guard {
        Some(guard) if answer_here => {
            return answer_in_session(mcp, caller, parts, message, guard, authorized).await;
        }
        guard => guard,
    };
    if message.method() == Some("notifications/cancelled")
        && let Some(request) = message.params().and_then(|p| p.get("requestId"))
    {
        mcp.sessions.cancel(id, &request.to_string()).await;
    }
    carry(&mut parts, authorized);
    if let Some(guard) = &guard {
        // A cancellation that reaches another replica arrives here through the registry.
        parts.extensions.insert(ClientCancel(guard.cancel.clone()));
    }
    forward(mcp.services.sessions.clone(), parts, bytes, guard).await
}

/// A request of a session answered here. A disconnection is not a cancellation (MCP's
/// Streamable HTTP): the request runs on, holding its id, until it ends or the client sends
/// `notifications/cancelled`.
async fn answer_in_session(
    mcp: &Arc<McpState>,
    caller: &Arc<Caller>,
    parts: Parts,
    message: Message,
    guard: RequestIdGuard,
    authorized: Option<Authorized>,
) -> Response {
    let (mcp, caller, request) = (mcp.clone(), caller.clone(), message.id.clone());
    let answered = tokio::spawn(async move {
        let reply = mcp
            .answer(&caller, &parts, &message, guard.cancel.clone(), authorized)
            .await;
        (!guard.cancel.is_cancelled()).then_some(reply)
    });
    match answered.await {
        Ok(reply) => sse_response(reply),
        Err(failed) => {
            tracing::error!(error = %failed, "a request answered in a session failed");
            jsonrpc::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                request.as_ref(),
                code::INTERNAL_ERROR,
                "internal error",
            )
        }
    }
}

/// GET (the session's stream) and DELETE (its end) go to rmcp once the session admits the
/// caller; other methods are not allowed.
async fn without_body(mcp: &McpState, caller: &Caller, parts: Parts) -> Response {
    if parts.method != Method::GET && parts.method != Method::DELETE {
        let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
        let allow = HeaderValue::from_static("GET, POST, DELETE");
        response.headers_mut().insert(header::ALLOW, allow);
        return response;
    }
    let session = jsonrpc::session_header(&parts.headers);
    let is_delete = parts.method == Method::DELETE;
    if let Some(id) = &session {
        // Any replica ends a shared session; rmcp could only on the one that holds it.
        if is_delete && mcp.sessions.is_shared() {
            return match mcp.sessions.delete(id, &caller.user_key()).await {
                Ok(()) => StatusCode::NO_CONTENT.into_response(),
                Err(refusal) => refused(refusal, None),
            };
        }
        if let Err(refusal) = mcp.sessions.enter(id, &caller.user_key(), None).await {
            return refused(refusal, None);
        }
    }
    let response = forward(mcp.services.sessions.clone(), parts, Bytes::new(), None).await;
    if is_delete
        && response.status().is_success()
        && let Some(id) = &session
    {
        mcp.sessions.forget(id);
        // rmcp says 202; the session is gone, which clients (the Python SDK) expect as 204.
        return StatusCode::NO_CONTENT.into_response();
    }
    response
}

/// Forwards to an rmcp transport; `guard` (if any) lives until the response body is finished.
async fn forward<M: SessionManager>(
    service: StreamableHttpService<McpHandler, M>,
    parts: Parts,
    bytes: Bytes,
    guard: Option<RequestIdGuard>,
) -> Response {
    let request = http::Request::from_parts(parts, Full::new(bytes));
    let Ok(response) = service.oneshot(request).await;
    let (parts, body) = response.into_parts();
    let body = match guard {
        None => Body::new(body),
        Some(guard) => Body::from_stream(body.into_data_stream().map(move |chunk| {
            let _held = &guard;
            chunk
        })),
    };
    Response::from_parts(parts, body)
}

/// A result for a peer of a version before 2026-07-28: without `resultType`, as rmcp sends it.
fn legacy(result: impl Into<ServerResult>) -> ServerResult {
    let mut result = result.into();
    result.strip_result_type_for_legacy_peer();
    result
}

impl McpState {
    /// The one decision of a `tools/call`, to carry with the request; `None` (audited as denied)
    /// for a tool the caller's tier offers only with MFA, which is answered at the HTTP level
    /// (MCP authorization, insufficient scope) so that the client can step up. Unknown and
    /// forbidden tools are answered by the call, identically.
    fn authorize(&self, caller: &Caller, parts: &Parts, message: &Message, name: &str) -> Option<Authorized> {
        let decision = self.calls.authorize(caller, name);
        if decision.verdict == Verdict::MfaRequired && self.calls.registry.get(name).is_some() {
            let record = ToolCallRecord {
                tenant: &self.calls.config.tenant.name,
                caller,
                tool: name,
                arguments_sha256: &audit::arguments_hash(&message.tool_arguments()),
                outcome: Outcome::Denied,
                duration: std::time::Duration::ZERO,
                request_id: &RequestId::of(&parts.extensions),
            };
            self.calls.record(&record, &decision);
            return None;
        }
        Some(Authorized {
            tool: name.to_owned(),
            decision,
        })
    }

    /// Answers a request [`Route::Answer`]ed here, with the shared tool logic (the same
    /// authorization, audit, metrics and errors as through rmcp). Only protocol versions before
    /// 2026-07-28 are answered here, so results carry no `resultType` ([`legacy`]).
    async fn answer(
        &self,
        caller: &Arc<Caller>,
        parts: &Parts,
        message: &Message,
        cancel: CancellationToken,
        authorized: Option<Authorized>,
    ) -> Vec<u8> {
        let id = message.id.as_ref().unwrap_or(&Value::Null);
        match message.method() {
            Some("ping") => response_message(id, Ok(Map::new())),
            Some("tools/list") => {
                let list = ListToolsResult::with_all_items(list_tools(&self.calls, caller));
                response_message(id, Ok(legacy(list)))
            }
            _ => {
                let empty = Value::Object(Map::new());
                match CallToolRequestParams::deserialize(message.params().unwrap_or(&empty)) {
                    Err(e) => response_message::<()>(
                        id,
                        Err(ErrorData::invalid_params(format!("invalid params: {e}"), None)),
                    ),
                    Ok(params) => {
                        let decision = self.calls.decision(authorized, caller, &params.name);
                        let call = ToolCall {
                            caller: caller.clone(),
                            request_id: RequestId::of(&parts.extensions),
                            name: &params.name,
                            arguments: params.arguments.unwrap_or_default(),
                            cancel,
                            channels: CallChannels::default(),
                        };
                        response_message(id, self.calls.call(call, decision).await.map(legacy))
                    }
                }
            }
        }
    }
}
