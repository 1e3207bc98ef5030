//! Where a POSTed message goes: answered here with the shared tool logic, or handed to one of
//! rmcp's two transports. Pure: it looks at the request's headers and the message only.

use http::request::Parts;
use rmcp::model::ProtocolVersion;

use super::jsonrpc::{Message, session_header, session_post_headers_ok};
use crate::tools::registry::ToolRegistry;

/// The destination of one message.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// A message of the session `id`; answered here (as SSE) when `answer_here`, else by rmcp's
    /// session transport.
    Session { id: String, answer_here: bool },
    /// `initialize` without a session: rmcp's session transport opens one.
    Initialize,
    /// A session-less request answered here, as JSON.
    Answer,
    /// A session-less request for rmcp's stateless transport.
    Stateless,
    /// A notification or response without a session: rmcp answers that a session is required.
    SessionRequired,
}

pub fn route(parts: &Parts, message: &Message, registry: &ToolRegistry) -> Route {
    let here = message.is_request() && answerable_here(registry, parts, message);
    if let Some(id) = session_header(&parts.headers) {
        let answer_here = here && session_post_headers_ok(&parts.headers);
        return Route::Session { id, answer_here };
    }
    match message.method() {
        Some("initialize") => Route::Initialize,
        _ if here => Route::Answer,
        _ if message.is_request() => Route::Stateless,
        _ => Route::SessionRequired,
    }
}

/// Whether a request can be answered here rather than by rmcp: `ping`, `tools/list` or
/// `tools/call` of a protocol version before 2026-07-28 (whose per-request metadata and standard
/// headers rmcp checks), without a progress token (progress rides rmcp's peer), and in a session
/// not of a tool that talks to the session's client. Anything unusual goes to rmcp, which also
/// gives its own answers to unknown protocol versions.
fn answerable_here(registry: &ToolRegistry, parts: &Parts, message: &Message) -> bool {
    if !matches!(message.method(), Some("ping" | "tools/list" | "tools/call")) {
        return false;
    }
    let needs_client = message
        .tool_name()
        .and_then(|name| registry.get(name))
        .is_some_and(|tool| tool.uses_session_client());
    if needs_client && session_header(&parts.headers).is_some() {
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
    !message.needs_peer()
}

#[cfg(test)]
mod tests {
    use axum::body::Bytes;
    use mcp_tenancy_config::ToolSets;
    use serde_json::{Value, json};

    use super::*;
    use crate::mcp::jsonrpc;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut request = http::Request::post("/mcp");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    fn message(value: Value) -> Message {
        Message::parse(&Bytes::from(value.to_string())).unwrap()
    }

    fn routed(headers: &[(&str, &str)], value: Value) -> Route {
        let registry = ToolRegistry::new(Vec::new(), &ToolSets::default()).unwrap();
        route(&parts(headers), &message(value), &registry)
    }

    const SESSION: (&str, &str) = ("mcp-session-id", "s1");
    const STREAMING: [(&str, &str); 2] = [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
    ];

    fn request(method: &str, params: Value) -> Value {
        json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    }

    #[test]
    fn session_less_plain_requests_are_answered_here_and_the_rest_by_rmcp() {
        assert_eq!(routed(&[], request("tools/list", json!({}))), Route::Answer);
        assert_eq!(routed(&[], request("ping", json!({}))), Route::Answer);
        assert_eq!(
            routed(&[], request("tools/call", json!({"name": "whoami"}))),
            Route::Answer
        );
        assert_eq!(routed(&[], request("initialize", json!({}))), Route::Initialize);
        // Progress rides rmcp's peer; 2026-07-28 metadata and headers are rmcp's to check.
        let progress = json!({"name": "whoami", "_meta": {"progressToken": 7}});
        assert_eq!(routed(&[], request("tools/call", progress)), Route::Stateless);
        let stateless = json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}});
        assert_eq!(routed(&[], request("tools/list", stateless)), Route::Stateless);
        let new_version = [("mcp-protocol-version", "2026-07-28")];
        assert_eq!(
            routed(&new_version, request("tools/list", json!({}))),
            Route::Stateless
        );
        let unknown_version = [("mcp-protocol-version", "1999-01-01")];
        assert_eq!(
            routed(&unknown_version, request("tools/list", json!({}))),
            Route::Stateless
        );
        let known = [("mcp-protocol-version", "2025-06-18")];
        assert_eq!(routed(&known, request("tools/list", json!({}))), Route::Answer);
        assert_eq!(
            routed(&[], request("resources/list", json!({}))),
            Route::Stateless
        );
    }

    #[test]
    fn messages_without_a_session_that_are_not_requests_need_one() {
        let notification = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(routed(&[], notification), Route::SessionRequired);
        let response = json!({"jsonrpc": "2.0", "id": 3, "result": {}});
        assert_eq!(routed(&[], response), Route::SessionRequired);
    }

    #[test]
    fn session_messages_are_answered_here_only_with_the_headers_rmcp_requires() {
        let headers = [SESSION, STREAMING[0], STREAMING[1]];
        let in_session = |answer_here| Route::Session {
            id: "s1".into(),
            answer_here,
        };
        assert_eq!(
            routed(&headers, request("tools/list", json!({}))),
            in_session(true)
        );
        // Without `text/event-stream` in Accept rmcp answers 406: let it.
        let json_only = [SESSION, STREAMING[0], ("accept", "application/json")];
        assert_eq!(
            routed(&json_only, request("tools/list", json!({}))),
            in_session(false)
        );
        let cancelled =
            json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}});
        assert_eq!(routed(&headers, cancelled), in_session(false));
        assert_eq!(
            routed(&headers, request("initialize", json!({}))),
            in_session(false)
        );
    }

    #[test]
    fn malformed_messages_are_refused_naming_what_is_wrong() {
        let refused = |body: &str| Message::parse(&Bytes::from(body.to_owned())).unwrap_err();
        assert_eq!(refused("{").code, jsonrpc::code::PARSE_ERROR);
        let batch = refused(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#);
        assert!(batch.message.contains("batches are not supported"), "{batch:?}");
        let old = refused(r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#);
        assert_eq!(
            (old.code, old.id),
            (jsonrpc::code::INVALID_REQUEST, Some(json!(1)))
        );
        let object_id = refused(r#"{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}"#);
        assert_eq!(object_id.id, None);
        assert!(
            refused(r#"{"jsonrpc":"2.0"}"#)
                .message
                .contains("not a JSON-RPC 2.0 message")
        );
    }
}
