//! The request id every request carries through logs, audit and the response's `x-request-id`.

use axum::{extract::Request, middleware::Next, response::Response};
use http::HeaderValue;

/// A request id for logs and audit: the caller's `x-request-id` when it is short and plain,
/// else a new UUID. Echoed in the response.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

impl RequestId {
    /// The id the request-id layer attached to a request (empty outside that layer).
    pub fn of(extensions: &http::Extensions) -> String {
        extensions.get::<Self>().map(|r| r.0.clone()).unwrap_or_default()
    }
}

/// A process-unique id: a random prefix chosen at start and a counter (no random syscall per
/// request).
fn new_request_id() -> String {
    use std::sync::{
        OnceLock,
        atomic::{AtomicU64, Ordering},
    };
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
    format!("{prefix}-{:x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

pub async fn assign_request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map_or_else(new_request_id, str::to_owned);
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_unique() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        assert!(
            a.len() <= 64 && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{a}"
        );
    }
}
