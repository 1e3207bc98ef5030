//! Error responses. Bodies never echo tokens or request data; 5xx bodies are generic.

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::{
    auth::AuthFailure,
    challenge,
    mcp::jsonrpc::{self, code},
};

/// `Retry-After` when a store or the keys the answer needs are unreachable.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

/// 401 with the RFC 6750 / RFC 9728 challenge. Per RFC 6750 §3.1, a request without any token
/// gets no error code, only where to find the authorization server. When the server could not
/// check the token (keys or store unavailable), 503 with `Retry-After`: the token may be fine.
pub fn unauthorized(resource_metadata: &str, failure: AuthFailure) -> Response {
    if failure.is_server_side() {
        let mut response = (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "temporarily_unavailable", "error_description": failure.to_string()})),
        )
            .into_response();
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS),
        );
        return response;
    }
    let description = failure.to_string();
    let error = (failure != AuthFailure::Missing).then_some(("invalid_token", description.as_str()));
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "invalid_token", "error_description": failure.to_string()})),
    )
        .into_response();
    if let Some(value) = challenge::bearer(resource_metadata, error) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// 429 with `Retry-After` (whole seconds) and a JSON-RPC error body.
pub fn rate_limited(retry_after_secs: u64) -> Response {
    let mut response = jsonrpc::error(
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
    jsonrpc::error(StatusCode::FORBIDDEN, None, code::SERVER_ERROR, message)
}
