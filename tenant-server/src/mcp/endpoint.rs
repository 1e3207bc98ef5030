//! `/mcp`: reads and checks the JSON-RPC message, enforces session ownership, idleness and
//! unique in-flight request ids, then answers plain `ping`, `tools/list` and `tools/call` itself
//! (as SSE in a session, as JSON without one) with the shared tool logic, and hands everything
//! else to rmcp: `initialize`, the GET stream, notifications, progress, 2026-07-28 requests.
//! rmcp's per-request path (a session worker task, channels, a stream per request) costs more
//! than the call itself; see docs/performance.md.

use std::sync::Arc;

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt, Full};
use rmcp::transport::streamable_http_server::{
    StreamableHttpService,
    session::{local::LocalSessionManager, never::NeverSessionManager},
};
use rmcp::{
    ErrorData,
    model::{CallToolRequestParams, ListToolsResult, ProtocolVersion},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::{
    handler::{CallChannels, McpHandler},
    sessions::{RequestIdGuard, SessionRefusal},
};
use crate::{
    app::AppState,
    audit::{self, Outcome, ToolCallRecord},
    authz::{self, Decision},
    caller::Caller,
    http::{
        errors::{code, insufficient_scope, jsonrpc_error},
        guards::RequestId,
        resource_metadata_url,
    },
    tools::registry::ToolRegistry,
};

const SESSION_HEADER: &str = "mcp-session-id";

/// The two rmcp transports over the same handler.
#[derive(Clone)]
pub struct McpServices {
    pub sessions: StreamableHttpService<McpHandler, LocalSessionManager>,
    pub stateless: StreamableHttpService<McpHandler, NeverSessionManager>,
}

fn session_header(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn not_found() -> Response {
    jsonrpc_error(
        StatusCode::NOT_FOUND,
        None,
        code::INVALID_REQUEST,
        "session not found",
    )
}

/// Whether a request can be answered here rather than by rmcp: `ping`, `tools/list` or
/// `tools/call` of a protocol version before 2026-07-28 (whose per-request metadata and standard
/// headers rmcp checks), without a progress token (progress rides rmcp's peer) and, in
/// conformance builds, not of a fixture tool that talks to the session's client. Anything
/// unusual goes to rmcp, which also gives its own answers to unknown protocol versions.
fn answerable_here(
    #[cfg_attr(not(feature = "conformance"), allow(unused_variables))] registry: &ToolRegistry,
    parts: &http::request::Parts,
    message: &Map<String, Value>,
    method: &str,
) -> bool {
    if !matches!(method, "ping" | "tools/list" | "tools/call") {
        return false;
    }
    #[cfg(feature = "conformance")]
    if method == "tools/call"
        && session_header(&parts.headers).is_some()
        && message
            .get("params")
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
            .and_then(|name| registry.get(name))
            .is_some_and(|tool| tool.uses_session_client())
    {
        return false;
    }
    if let Some(version) = parts.headers.get("mcp-protocol-version") {
        let plain = version.to_str().is_ok_and(|v| {
            v < ProtocolVersion::V_2026_07_28.as_str()
                && ProtocolVersion::KNOWN_VERSIONS.iter().any(|k| k.as_str() == v)
        });
        if !plain {
            return false;
        }
    }
    let meta = message
        .get("params")
        .and_then(|p| p.get("_meta"))
        .and_then(Value::as_object);
    !meta.is_some_and(|m| {
        m.contains_key("progressToken") || m.keys().any(|k| k.starts_with("io.modelcontextprotocol/"))
    })
}

/// What a session's POST must carry for rmcp to take it (else rmcp answers 406 or 415).
fn session_post_headers_ok(headers: &http::HeaderMap) -> bool {
    let accepts = |mime: &str| {
        headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|e| e.trim().eq_ignore_ascii_case(mime))
            })
    };
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|e| e.trim().eq_ignore_ascii_case("application/json"));
    json_body && accepts("application/json") && accepts("text/event-stream")
}

/// Answers a request [`answerable_here`] with the shared tool logic (the same authorization,
/// audit, metrics and errors as through rmcp).
async fn answer(
    state: &AppState,
    caller: &Arc<Caller>,
    parts: &http::request::Parts,
    message: &Map<String, Value>,
    id: &Value,
    method: &str,
    cancel: CancellationToken,
) -> Vec<u8> {
    let shared = &state.mcp_shared;
    match method {
        "ping" => response_message(id, Ok(Map::new())),
        "tools/list" => response_message(id, Ok(ListToolsResult::with_all_items(shared.list_tools(caller)))),
        _ => match CallToolRequestParams::deserialize(
            message.get("params").unwrap_or(&Value::Object(Map::new())),
        ) {
            Err(e) => response_message::<()>(
                id,
                Err(ErrorData::invalid_params(format!("invalid params: {e}"), None)),
            ),
            Ok(params) => {
                let request_id = RequestId::of(&parts.extensions);
                let arguments = params.arguments.unwrap_or_default();
                let outcome = shared
                    .call_tool(
                        caller.clone(),
                        request_id,
                        &params.name,
                        arguments,
                        cancel,
                        CallChannels::default(),
                    )
                    .await;
                response_message(id, outcome)
            }
        },
    }
}

/// The JSON-RPC response to `id`, serialized straight from the typed result or error.
fn response_message<T: Serialize>(id: &Value, outcome: Result<T, ErrorData>) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    let written = serde_json::to_writer(&mut out, id).and_then(|()| match &outcome {
        Ok(result) => {
            out.extend_from_slice(br#","result":"#);
            serde_json::to_writer(&mut out, result)
        }
        Err(error) => {
            out.extend_from_slice(br#","error":"#);
            serde_json::to_writer(&mut out, error)
        }
    });
    match written {
        Ok(()) => {
            out.push(b'}');
            out
        }
        Err(error) => response_message::<()>(id, Err(ErrorData::internal_error(error.to_string(), None))),
    }
}

/// A session's response stream with the one message (none for a request the client cancelled:
/// MCP answers those with nothing), framed as rmcp frames it but without an event id: the
/// stream is complete, there is nothing to resume.
fn sse_response(message: Option<Vec<u8>>) -> Response {
    let body = message.map_or_else(Vec::new, |m| [b"data: ", m.as_slice(), b"\n\n"].concat());
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                http::HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        body,
    )
        .into_response()
}

/// Forwards to an rmcp transport; `guard` (if any) lives until the response body is finished.
async fn forward<M>(
    service: StreamableHttpService<McpHandler, M>,
    request: http::Request<Full<Bytes>>,
    guard: Option<RequestIdGuard>,
) -> Response
where
    M: rmcp::transport::streamable_http_server::SessionManager,
{
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

pub async fn mcp(State(state): State<AppState>, request: Request) -> Response {
    let Some(caller) = request.extensions().get::<Arc<Caller>>().cloned() else {
        // Unreachable through `app()`: the authentication layer runs first.
        return jsonrpc_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            code::INTERNAL_ERROR,
            "internal error",
        );
    };
    let user = caller.user_key();
    let session = session_header(request.headers());
    let (parts, body) = request.into_parts();

    if parts.method != Method::POST {
        if parts.method != Method::GET && parts.method != Method::DELETE {
            let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
            return response;
        }
        if let Some(id) = &session
            && state.sessions.enter(id, &user, None).await.is_err()
        {
            return not_found();
        }
        let is_delete = parts.method == Method::DELETE;
        let request = http::Request::from_parts(parts, Full::new(Bytes::new()));
        let response = forward(state.mcp.sessions.clone(), request, None).await;
        if is_delete
            && response.status().is_success()
            && let Some(id) = &session
        {
            state.sessions.forget(id);
            // rmcp says 202; the session is gone, which clients (the Python SDK) expect as 204.
            return StatusCode::NO_CONTENT.into_response();
        }
        return response;
    }

    let limit = state.config.server.max_request_body_bytes;
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return jsonrpc_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                code::INVALID_REQUEST,
                &format!("request body is larger than {limit} bytes"),
            );
        }
    };
    let message: Value = match serde_json::from_slice(&bytes) {
        Ok(value) => value,
        Err(_) => {
            return jsonrpc_error(
                StatusCode::BAD_REQUEST,
                None,
                code::PARSE_ERROR,
                "parse error: body is not JSON",
            );
        }
    };
    let Some(object) = message.as_object() else {
        return jsonrpc_error(
            StatusCode::BAD_REQUEST,
            None,
            code::INVALID_REQUEST,
            "invalid request: expected one JSON-RPC message object (batches are not supported)",
        );
    };
    let id = object.get("id").filter(|v| v.is_string() || v.is_number());
    let method = object.get("method").and_then(Value::as_str);
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0")
        || (object.contains_key("id") && id.is_none())
        || (method.is_none() && id.is_none())
    {
        return jsonrpc_error(
            StatusCode::BAD_REQUEST,
            id,
            code::INVALID_REQUEST,
            "invalid request: not a JSON-RPC 2.0 message",
        );
    }

    // A tool the caller's tier offers only with MFA: say so at the HTTP level, so the client can
    // step up (MCP authorization, insufficient scope). Unknown and forbidden tools are answered
    // by the handler, identically.
    if method == Some("tools/call")
        && let Some(name) = object
            .get("params")
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
        && state.registry.get(name).is_some()
        && authz::decide(&caller, &state.config.access, name) == Decision::MfaRequired
    {
        let arguments = object
            .get("params")
            .and_then(|p| p.get("arguments"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        state.mcp_shared.record_call(&ToolCallRecord {
            tenant: &state.config.tenant.name,
            caller: &caller,
            tool: name,
            arguments_sha256: &audit::arguments_hash(&arguments),
            outcome: Outcome::Denied,
            duration: std::time::Duration::ZERO,
            request_id: &RequestId::of(&parts.extensions),
        });
        return insufficient_scope(
            &resource_metadata_url(&state.config),
            id,
            "this tool requires multi-factor authentication; sign in again with MFA",
        );
    }

    let is_request = method.is_some() && id.is_some();
    let id_key = id.map(Value::to_string);
    let mut parts = parts;

    if let Some(session_id) = &session {
        let key = if is_request { id_key } else { None };
        let guard = match state.sessions.enter(session_id, &user, key).await {
            Ok(guard) => guard,
            Err(SessionRefusal::DuplicateRequestId) => {
                return jsonrpc_error(
                    StatusCode::BAD_REQUEST,
                    id,
                    code::INVALID_REQUEST,
                    "a request with this id is already in progress in this session",
                );
            }
            Err(SessionRefusal::NotFound) => return not_found(),
        };
        if let Some(guard) = &guard
            && let (Some(id), Some(method)) = (id, method)
            && answerable_here(&state.registry, &parts, object, method)
            && session_post_headers_ok(&parts.headers)
        {
            let reply = answer(&state, &caller, &parts, object, id, method, guard.cancel.clone()).await;
            return sse_response((!guard.cancel.is_cancelled()).then_some(reply));
        }
        if method == Some("notifications/cancelled")
            && let Some(request) = object.get("params").and_then(|p| p.get("requestId"))
        {
            state.sessions.cancel(session_id, &request.to_string());
        }
        let request = http::Request::from_parts(parts, Full::new(bytes));
        return forward(state.mcp.sessions.clone(), request, guard).await;
    }

    if method == Some("initialize") {
        state.sessions.make_room(&user).await;
        let request = http::Request::from_parts(parts, Full::new(bytes));
        let response = forward(state.mcp.sessions.clone(), request, None).await;
        if let Some(new_id) = session_header(response.headers()) {
            state.sessions.register(new_id, user);
        }
        return response;
    }

    if is_request
        && let (Some(id), Some(method)) = (id, method)
        && answerable_here(&state.registry, &parts, object, method)
    {
        // Cancelled if the client goes away (the response future is dropped).
        let cancel = CancellationToken::new();
        let _cancel_on_drop = cancel.clone().drop_guard();
        let reply = answer(&state, &caller, &parts, object, id, method, cancel).await;
        return (
            [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            reply,
        )
            .into_response();
    }

    if is_request {
        // Session-less: plain JSON-RPC callers may accept only JSON, which this path answers
        // with unless the tool streams progress.
        let accepts_sse = parts
            .headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("text/event-stream"));
        if !accepts_sse {
            parts.headers.insert(
                header::ACCEPT,
                HeaderValue::from_static("application/json, text/event-stream"),
            );
        }
        let request = http::Request::from_parts(parts, Full::new(bytes));
        return forward(state.mcp.stateless.clone(), request, None).await;
    }

    // A notification or response without a session: rmcp answers that a session is required.
    let request = http::Request::from_parts(parts, Full::new(bytes));
    forward(state.mcp.sessions.clone(), request, None).await
}
