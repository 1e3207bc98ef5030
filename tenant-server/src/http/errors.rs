//! Error responses. Bodies never echo tokens or request data; 5xx bodies are generic.

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::auth::AuthFailure;

/// JSON-RPC error codes used outside rmcp.
pub mod code {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const INTERNAL_ERROR: i64 = -32603;
    /// Implementation-defined server error range: rate limited, forbidden, too large.
    pub const SERVER_ERROR: i64 = -32000;
}

/// A JSON-RPC error object as an HTTP response.
pub fn jsonrpc_error(status: StatusCode, id: Option<&Value>, code: i64, message: &str) -> Response {
    let body = json!({
        "jsonrpc": "2.0",
        "id": id.cloned().unwrap_or(Value::Null),
        "error": {"code": code, "message": message},
    });
    (status, Json(body)).into_response()
}

fn quoted(value: &str) -> String {
    value.replace(['"', '\\'], "'")
}

/// 401 with the RFC 6750 / RFC 9728 challenge. Per RFC 6750 §3.1, a request without any token
/// gets no error code, only where to find the authorization server.
pub fn unauthorized(resource_metadata: &str, failure: AuthFailure) -> Response {
    let challenge = match failure {
        AuthFailure::Missing => format!("Bearer resource_metadata=\"{}\"", quoted(resource_metadata)),
        other => format!(
            "Bearer resource_metadata=\"{}\", error=\"invalid_token\", error_description=\"{}\"",
            quoted(resource_metadata),
            quoted(&other.to_string())
        ),
    };
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "invalid_token", "error_description": failure.to_string()})),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// 403 `insufficient_scope`: the token is valid but a new sign-in (e.g. with MFA) is needed.
pub fn insufficient_scope(resource_metadata: &str, id: Option<&Value>, description: &str) -> Response {
    let challenge = format!(
        "Bearer resource_metadata=\"{}\", error=\"insufficient_scope\", error_description=\"{}\"",
        quoted(resource_metadata),
        quoted(description)
    );
    let mut response = jsonrpc_error(StatusCode::FORBIDDEN, id, code::SERVER_ERROR, description);
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// 429 with `Retry-After` (whole seconds) and a JSON-RPC error body.
pub fn rate_limited(retry_after_secs: u64) -> Response {
    let mut response = jsonrpc_error(
        StatusCode::TOO_MANY_REQUESTS,
        None,
        code::SERVER_ERROR,
        &format!("rate limit exceeded; retry after {retry_after_secs} s"),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

/// 403 for a request from a foreign Origin or to an unknown Host.
pub fn forbidden(message: &str) -> Response {
    jsonrpc_error(StatusCode::FORBIDDEN, None, code::SERVER_ERROR, message)
}
