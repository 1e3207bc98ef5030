//! JSON-RPC over Streamable HTTP: parsing and checking one message, the response and SSE
//! framing, and the header checks rmcp applies, so that the endpoint answers exactly as rmcp
//! would.

use axum::{
    Json,
    body::Bytes,
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use rmcp::ErrorData;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::challenge;

/// JSON-RPC error codes used outside rmcp.
pub mod code {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const INTERNAL_ERROR: i64 = -32603;
    /// Implementation-defined server error range: rate limited, forbidden, too large.
    pub const SERVER_ERROR: i64 = -32000;
}

pub const SESSION_HEADER: &str = "mcp-session-id";

/// The session a request names, if any.
pub fn session_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A JSON-RPC error object as an HTTP response.
pub fn error(status: StatusCode, id: Option<&Value>, code: i64, message: &str) -> Response {
    let body = json!({
        "jsonrpc": "2.0",
        "id": id.cloned().unwrap_or(Value::Null),
        "error": {"code": code, "message": message},
    });
    (status, Json(body)).into_response()
}

/// 403 `insufficient_scope`: the token is valid but a new sign-in (e.g. with MFA) is needed.
pub fn insufficient_scope(resource_metadata: &str, id: Option<&Value>, description: &str) -> Response {
    let mut response = error(StatusCode::FORBIDDEN, id, code::SERVER_ERROR, description);
    if let Some(value) = challenge::bearer(resource_metadata, Some(("insufficient_scope", description))) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// A message refused before it reaches any handler, answered as a JSON-RPC error.
#[derive(Debug, PartialEq)]
pub struct Refusal {
    pub status: StatusCode,
    pub id: Option<Value>,
    pub code: i64,
    pub message: &'static str,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        error(self.status, self.id.as_ref(), self.code, self.message)
    }
}

/// One JSON-RPC 2.0 message object, checked: a request (method and id), a notification (method,
/// no id) or a response (id, no method).
#[derive(Debug)]
pub struct Message {
    pub object: Map<String, Value>,
    /// A string or number id.
    pub id: Option<Value>,
    pub method: Option<String>,
}

impl Message {
    /// Parses a POST body.
    pub fn parse(bytes: &Bytes) -> Result<Self, Refusal> {
        let refusal = |id: Option<&Value>, code, message| Refusal {
            status: StatusCode::BAD_REQUEST,
            id: id.cloned(),
            code,
            message,
        };
        let Ok(message) = serde_json::from_slice::<Value>(bytes) else {
            return Err(refusal(None, code::PARSE_ERROR, "parse error: body is not JSON"));
        };
        let Value::Object(object) = message else {
            return Err(refusal(
                None,
                code::INVALID_REQUEST,
                "invalid request: expected one JSON-RPC message object (batches are not supported)",
            ));
        };
        let id = object
            .get("id")
            .filter(|v| v.is_string() || v.is_number())
            .cloned();
        let method = object.get("method").and_then(Value::as_str).map(str::to_owned);
        if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0")
            || (object.contains_key("id") && id.is_none())
            || (method.is_none() && id.is_none())
        {
            return Err(refusal(
                id.as_ref(),
                code::INVALID_REQUEST,
                "invalid request: not a JSON-RPC 2.0 message",
            ));
        }
        Ok(Self { object, id, method })
    }

    pub fn is_request(&self) -> bool {
        self.method.is_some() && self.id.is_some()
    }

    pub fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }

    pub fn params(&self) -> Option<&Value> {
        self.object.get("params")
    }

    /// The tool a `tools/call` names.
    pub fn tool_name(&self) -> Option<&str> {
        if self.method() != Some("tools/call") {
            return None;
        }
        self.params()?.get("name")?.as_str()
    }

    /// The arguments of a `tools/call`, empty when absent.
    pub fn tool_arguments(&self) -> Map<String, Value> {
        self.params()
            .and_then(|p| p.get("arguments"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    /// Whether `params._meta` asks for what only rmcp's peer serves: a progress token, or the
    /// per-request metadata of 2026-07-28.
    pub fn needs_peer(&self) -> bool {
        self.params()
            .and_then(|p| p.get("_meta"))
            .and_then(Value::as_object)
            .is_some_and(|m| {
                m.contains_key("progressToken") || m.keys().any(|k| k.starts_with("io.modelcontextprotocol/"))
            })
    }
}

/// The JSON-RPC response to `id`, serialized straight from the typed result or error.
pub fn response_message<T: Serialize>(id: &Value, outcome: Result<T, ErrorData>) -> Vec<u8> {
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

/// A plain JSON response holding one message.
pub fn json_response(message: Vec<u8>) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        message,
    )
        .into_response()
}

/// A session's response stream with the one message (none for a request the client cancelled:
/// MCP answers those with nothing), framed as rmcp frames it but without an event id: the
/// stream is complete, there is nothing to resume.
pub fn sse_response(message: Option<Vec<u8>>) -> Response {
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

fn accepts(headers: &HeaderMap, mime: &str) -> bool {
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
}

/// What a session's POST must carry for rmcp to take it (else rmcp answers 406 or 415).
pub fn session_post_headers_ok(headers: &HeaderMap) -> bool {
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|e| e.trim().eq_ignore_ascii_case("application/json"));
    json_body && accepts(headers, "application/json") && accepts(headers, "text/event-stream")
}

/// Whether the client takes an SSE response (any Accept value naming `text/event-stream`).
pub fn accepts_sse(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}
