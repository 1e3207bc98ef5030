//! One Graph request: an [`Endpoint`] with its parameters, a query, and an optional body (JSON,
//! or bytes of a file being uploaded).

use reqwest::Method;
use serde_json::Value;

use super::{Endpoint, GraphError, odata::Query};

#[derive(Clone, Debug)]
pub struct GraphRequest {
    pub(super) method: Method,
    pub(super) endpoint: Endpoint,
    /// Below the API version, parameters encoded.
    path: String,
    query: Query,
    pub(super) body: Option<Body>,
    pub(super) headers: Vec<(&'static str, String)>,
}

/// What a request carries.
#[derive(Clone, Debug)]
pub(super) enum Body {
    Json(Value),
    /// A file's content, sent as is with its media type.
    Bytes {
        content_type: &'static str,
        bytes: Vec<u8>,
    },
}

impl GraphRequest {
    /// `params` fill the endpoint's `{id}` segments, in order (see [`Endpoint`]).
    pub fn new(method: Method, endpoint: Endpoint, params: &[&str]) -> Result<Self, GraphError> {
        Ok(Self {
            method,
            endpoint,
            path: endpoint.path(params)?,
            query: Query::new(),
            body: None,
            headers: Vec::new(),
        })
    }

    pub fn get(endpoint: Endpoint, params: &[&str]) -> Result<Self, GraphError> {
        Self::new(Method::GET, endpoint, params)
    }

    pub fn post(endpoint: Endpoint, params: &[&str], body: Value) -> Result<Self, GraphError> {
        Self::with_json(Method::POST, endpoint, params, body)
    }

    /// A `POST` of an action that takes no body (`/me/messages/{id}/send`); sent with
    /// `Content-Length: 0`, which Graph wants on every `POST`.
    pub fn post_empty(endpoint: Endpoint, params: &[&str]) -> Result<Self, GraphError> {
        let mut r = Self::new(Method::POST, endpoint, params)?;
        r.body = Some(Body::Bytes {
            content_type: "application/json",
            bytes: Vec::new(),
        });
        Ok(r)
    }

    pub fn patch(endpoint: Endpoint, params: &[&str], body: Value) -> Result<Self, GraphError> {
        Self::with_json(Method::PATCH, endpoint, params, body)
    }

    pub fn delete(endpoint: Endpoint, params: &[&str]) -> Result<Self, GraphError> {
        Self::new(Method::DELETE, endpoint, params)
    }

    /// `PUT` of a file's content (`bytes` of media type `content_type`).
    pub fn put_bytes(
        endpoint: Endpoint,
        params: &[&str],
        content_type: &'static str,
        bytes: Vec<u8>,
    ) -> Result<Self, GraphError> {
        let mut r = Self::new(Method::PUT, endpoint, params)?;
        r.body = Some(Body::Bytes { content_type, bytes });
        Ok(r)
    }

    fn with_json(
        method: Method,
        endpoint: Endpoint,
        params: &[&str],
        body: Value,
    ) -> Result<Self, GraphError> {
        let mut r = Self::new(method, endpoint, params)?;
        r.body = Some(Body::Json(body));
        Ok(r)
    }

    pub fn query(mut self, query: Query) -> Self {
        self.query = query;
        self
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn endpoint(&self) -> Endpoint {
        self.endpoint
    }

    /// Path and query below the API version, e.g. `/me/messages?$top=5` (the `$batch` form).
    pub fn relative_url(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query.encode())
        }
    }

    /// Safe to send twice.
    pub(super) fn idempotent(&self) -> bool {
        self.method == Method::GET
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_urls_carry_the_encoded_query() {
        let r = GraphRequest::get(Endpoint::new("/me/mailFolders/{id}/messages"), &["inbox"])
            .unwrap()
            .query(Query::new().top(5).select(&["id", "subject"]));
        assert_eq!(
            r.relative_url(),
            "/me/mailFolders/inbox/messages?$top=5&$select=id%2Csubject"
        );
        assert!(r.idempotent());
        let post = GraphRequest::post(Endpoint::BATCH, &[], Value::Null).unwrap();
        assert_eq!(post.relative_url(), "/$batch");
        assert!(!post.idempotent());
    }
}
