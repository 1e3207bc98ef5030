//! The Graph HTTP client: delegated token per call, one refresh on 401, retries of transport
//! errors and 429/503/504 within one [`RetryBudget`] (Retry-After honoured, exponential backoff
//! with jitter otherwise), timeouts, metrics. Paging and `$batch` build on it
//! ([`paging`](super::paging), [`batch`](super::batch)).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use reqwest::{StatusCode, header::HeaderMap};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::{
    CallContext, Endpoint, GraphError, GraphMetrics, GraphRequest, GraphTokenProvider,
    error::error_document,
    request::Body,
    retry::{RetryBudget, RetryPolicy, retry_after_delay},
};

/// Largest Graph response body read.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The metrics label of downloads from pre-authenticated URLs (their paths carry ids and keys).
const DOWNLOAD: Endpoint = Endpoint::new("(download)");

#[derive(Clone, Debug)]
pub struct GraphClientConfig {
    /// `https://graph.microsoft.com`, or a local double.
    pub base_url: Url,
    /// `v1.0`.
    pub api_version: String,
    /// Per attempt.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// Most pages followed through `@odata.nextLink` in one listing.
    pub max_pages: u32,
}

impl GraphClientConfig {
    pub fn from_config(graph: &mcp_tenancy_config::GraphConfig) -> Self {
        Self {
            base_url: graph.base_url.clone(),
            api_version: graph.api_version.clone(),
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            max_pages: 10,
        }
    }
}

/// Calls Microsoft Graph for the calling user.
pub struct GraphClient {
    http: reqwest::Client,
    /// `<base>/<version>`, no trailing slash.
    pub(super) root: Url,
    tokens: Arc<dyn GraphTokenProvider>,
    pub(super) metrics: GraphMetrics,
    pub(super) config: GraphClientConfig,
}

/// A response read whole.
struct RawResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl GraphClient {
    pub fn new(
        config: GraphClientConfig,
        tokens: Arc<dyn GraphTokenProvider>,
        metrics: GraphMetrics,
    ) -> Result<Self, GraphError> {
        let base = config.base_url.as_str().trim_end_matches('/');
        let version = config.api_version.trim_matches('/');
        let root = Url::parse(&format!("{base}/{version}"))
            .map_err(|e| GraphError::InvalidRequest(format!("Graph base URL: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            // A redirect could carry the bearer token to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| GraphError::Transport(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            root,
            tokens,
            metrics,
            config,
        })
    }

    /// Sends one request and returns its JSON body (`null` for an empty 2xx body).
    pub async fn send(&self, call: CallContext<'_>, req: &GraphRequest) -> Result<Value, GraphError> {
        let url = self.url_of(req)?;
        self.execute(call, req, url).await
    }

    /// Sends one request and deserializes its body.
    pub async fn send_as<T: DeserializeOwned>(
        &self,
        call: CallContext<'_>,
        req: &GraphRequest,
    ) -> Result<T, GraphError> {
        let v = self.send(call, req).await?;
        serde_json::from_value(v).map_err(|e| {
            GraphError::Malformed(format!("unexpected shape from {}: {e}", req.endpoint.label()))
        })
    }

    /// The bytes at a pre-authenticated download URL that Graph gave (a drive item's
    /// `@microsoft.graph.downloadUrl`), fetched without the user's token, at most `max_bytes`.
    /// Only `https` URLs, or URLs of the configured Graph origin (a local double), are fetched.
    pub async fn download(
        &self,
        call: CallContext<'_>,
        url: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, GraphError> {
        let url = Url::parse(url).map_err(|_| GraphError::UntrustedDownload)?;
        if url.scheme() != "https" && url.origin() != self.root.origin() {
            return Err(GraphError::UntrustedDownload);
        }
        let started = Instant::now();
        let request = self.http.get(url).timeout(self.config.request_timeout).send();
        let outcome = tokio::select! {
            () = call.cancel.cancelled() => return Err(GraphError::Cancelled),
            r = request => r,
        };
        let mut response = match outcome {
            Ok(r) => r,
            Err(e) => {
                let (label, err) = if e.is_timeout() {
                    ("timeout", GraphError::Timeout)
                } else {
                    ("error", GraphError::Transport(e.without_url().to_string()))
                };
                self.metrics
                    .observe(DOWNLOAD, label, Some(started.elapsed().as_secs_f64()));
                return Err(err);
            }
        };
        let status = response.status();
        self.metrics
            .observe(DOWNLOAD, status.as_str(), Some(started.elapsed().as_secs_f64()));
        if !status.is_success() {
            return Err(GraphError::Api {
                status: status.as_u16(),
                code: "downloadFailed".into(),
                message: format!("the file's download answered HTTP {}", status.as_u16()),
            });
        }
        if response.content_length().is_some_and(|n| n > max_bytes) {
            return Err(GraphError::TooLarge { limit: max_bytes });
        }
        let mut body = Vec::new();
        loop {
            let chunk = tokio::select! {
                () = call.cancel.cancelled() => return Err(GraphError::Cancelled),
                c = response.chunk() => c.map_err(|e| GraphError::Transport(e.without_url().to_string()))?,
            };
            let Some(chunk) = chunk else { break };
            if (body.len() + chunk.len()) as u64 > max_bytes {
                return Err(GraphError::TooLarge { limit: max_bytes });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    pub(super) fn url_of(&self, req: &GraphRequest) -> Result<Url, GraphError> {
        Url::parse(&format!("{}{}", self.root, req.relative_url()))
            .map_err(|e| GraphError::InvalidRequest(format!("cannot build the Graph URL: {e}")))
    }

    pub(super) async fn sleep(&self, call: CallContext<'_>, d: Duration) -> Result<(), GraphError> {
        tokio::select! {
            () = call.cancel.cancelled() => Err(GraphError::Cancelled),
            () = tokio::time::sleep(d) => Ok(()),
        }
    }

    /// Sends `req` to `url` (the request's own URL, or a paging link) until it succeeds, fails
    /// for good, or the retry budget is spent.
    pub(super) async fn execute(
        &self,
        call: CallContext<'_>,
        req: &GraphRequest,
        url: Url,
    ) -> Result<Value, GraphError> {
        let client_request_id = client_request_id(call.request_id);
        let endpoint = req.endpoint.label();
        let mut budget = RetryBudget::new(&self.config.retry);
        let mut refreshed = false;
        loop {
            budget.start_attempt();
            if call.cancel.is_cancelled() {
                return Err(GraphError::Cancelled);
            }
            let token = self.tokens.token(call.caller).await?;
            let mut builder = self
                .http
                .request(req.method.clone(), url.clone())
                .bearer_auth(token.secret.expose())
                .header("client-request-id", &client_request_id)
                .header("return-client-request-id", "true");
            for (name, value) in &req.headers {
                builder = builder.header(*name, value);
            }
            builder = match &req.body {
                Some(Body::Json(body)) => builder.json(body),
                Some(Body::Bytes { content_type, bytes }) => builder
                    .header(reqwest::header::CONTENT_TYPE, *content_type)
                    .body(bytes.clone()),
                None => builder,
            };
            let started = Instant::now();
            let outcome = tokio::select! {
                () = call.cancel.cancelled() => return Err(GraphError::Cancelled),
                r = read(builder) => r,
            };
            let elapsed = started.elapsed().as_secs_f64();
            let resp = match outcome {
                Ok(r) => r,
                Err(e) => {
                    let (label, err) = if e.is_timeout() {
                        ("timeout", GraphError::Timeout)
                    } else {
                        ("error", GraphError::Transport(e.without_url().to_string()))
                    };
                    self.metrics.observe(req.endpoint, label, Some(elapsed));
                    tracing::warn!(endpoint, %client_request_id, error = %err, "Graph request failed");
                    if req.idempotent()
                        && let Some(delay) = budget.retry_after(None)
                    {
                        self.sleep(call, delay).await?;
                        continue;
                    }
                    return Err(err);
                }
            };
            let status = resp.status;
            self.metrics.observe(req.endpoint, status.as_str(), Some(elapsed));
            let graph_request_id = resp
                .headers
                .get("request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::debug!(
                endpoint,
                status = status.as_u16(),
                %client_request_id,
                graph_request_id,
                tool_request_id = %call.request_id,
                elapsed_ms = (elapsed * 1000.0) as u64,
                "Graph request"
            );
            match status.as_u16() {
                200..=299 => {
                    if resp.body.is_empty() {
                        return Ok(Value::Null);
                    }
                    return serde_json::from_slice(&resp.body).map_err(|_| {
                        GraphError::Malformed(format!("{endpoint} returned a body that is not JSON"))
                    });
                }
                401 if !refreshed => {
                    refreshed = true;
                    self.tokens.invalidate(call.caller).await;
                    continue;
                }
                401 => return Err(GraphError::Unauthorized),
                code @ (429 | 503 | 504) => {
                    let retry_after = resp
                        .headers
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|s| s.trim().parse::<u64>().ok())
                        .map(retry_after_delay);
                    // A 504 may have been processed: resend only what is safe to repeat.
                    let retryable = code != 504 || req.idempotent();
                    if retryable && let Some(delay) = budget.retry_after(retry_after) {
                        tracing::info!(endpoint, status = code, delay_ms = delay.as_millis() as u64, %client_request_id, "Graph asked to retry");
                        self.sleep(call, delay).await?;
                        continue;
                    }
                    return Err(GraphError::Throttled {
                        status: code,
                        retry_after,
                    });
                }
                code => {
                    let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
                    let (code_str, message) = error_document(&body, code);
                    return Err(GraphError::Api {
                        status: code,
                        code: code_str,
                        message,
                    });
                }
            }
        }
    }
}

async fn read(builder: reqwest::RequestBuilder) -> Result<RawResponse, reqwest::Error> {
    let mut resp = builder.send().await?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            // Treated as malformed by the caller: the truncated body does not parse.
            body.clear();
            body.extend_from_slice(b"\0");
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

/// Graph wants a GUID: the tool request id when it is one, else a fresh one (logged with it).
fn client_request_id(request_id: &str) -> String {
    match uuid::Uuid::parse_str(request_id) {
        Ok(u) => u.hyphenated().to_string(),
        Err(_) => {
            let id = uuid::Uuid::new_v4().hyphenated().to_string();
            tracing::debug!(tool_request_id = request_id, client_request_id = %id, "Graph correlation id");
            id
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_request_ids_are_guids() {
        let g = "6f9619ff-8b86-d011-b42d-00c04fc964ff";
        assert_eq!(client_request_id(g), g);
        assert!(uuid::Uuid::parse_str(&client_request_id("req-1")).is_ok());
    }
}
