//! Graph failures. The tools layer turns them into tool results.

use std::time::Duration;

use serde_json::Value;

use super::TokenError;

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error(transparent)]
    Token(#[from] TokenError),
    /// Graph answered with an error document (or a bare error status).
    #[error("Graph answered {status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// Still 401 after a fresh token.
    #[error("Graph refused the user's token")]
    Unauthorized,
    /// Throttled (429) or unavailable (503/504) beyond the retry budget.
    #[error("Graph is throttling or unavailable (status {status})")]
    Throttled {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("Graph returned a response that is not the expected JSON: {0}")]
    Malformed(String),
    #[error("Graph did not answer in time")]
    Timeout,
    #[error("Graph could not be reached: {0}")]
    Transport(String),
    /// A paging link pointed outside the configured Graph base URL; it was not followed.
    #[error("Graph returned a paging link outside the configured Graph host")]
    UntrustedLink,
    /// A download URL was neither `https` nor of the configured Graph origin; it was not fetched.
    #[error("Graph returned a download URL that is neither https nor of the configured Graph host")]
    UntrustedDownload,
    /// A download was larger than the tool reads.
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// The request could not be built from the arguments (e.g. an id of `..`).
    #[error("{0}")]
    InvalidRequest(String),
    #[error("cancelled")]
    Cancelled,
}

/// Graph's `{"error": {"code", "message"}}`, or the status when the body has none.
pub(super) fn error_document(body: &Value, status: u16) -> (String, String) {
    let code = body.pointer("/error/code").and_then(Value::as_str);
    let message = body.pointer("/error/message").and_then(Value::as_str);
    match (code, message) {
        (Some(c), m) => (c.to_string(), m.unwrap_or("").chars().take(500).collect()),
        _ => (
            format!("http{status}"),
            format!("Microsoft Graph answered HTTP {status}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn error_documents_are_read_or_replaced() {
        let body = json!({"error": {"code": "ErrorItemNotFound", "message": "not found"}});
        assert_eq!(
            error_document(&body, 404),
            ("ErrorItemNotFound".into(), "not found".into())
        );
        assert_eq!(error_document(&Value::Null, 500).0, "http500");
    }
}
