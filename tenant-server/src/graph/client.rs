//! The Graph HTTP client: delegated token per call, one refresh on 401, bounded retries of 429
//! and 503/504 (Retry-After honoured, exponential backoff with jitter otherwise), timeouts,
//! paging bounded in pages and items and confined to the Graph host, JSON `$batch`, metrics.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use reqwest::{Method, StatusCode, header::HeaderMap};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use url::Url;

use super::{Endpoint, GraphError, GraphMetrics, GraphTokenProvider, odata::Query};
use crate::tools::ToolContext;

/// Largest Graph response body read.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Graph accepts at most 20 requests in one `$batch`.
pub const MAX_BATCH: usize = 20;

/// How throttling and outages are retried.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, including the first.
    pub max_attempts: u32,
    /// The most time spent waiting between attempts of one request; a Retry-After beyond what
    /// is left fails at once (the tool tells the model when to try again).
    pub max_total_wait: Duration,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            max_total_wait: Duration::from_secs(20),
            base_delay: Duration::from_millis(400),
            max_delay: Duration::from_secs(8),
        }
    }
}

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

/// One Graph request, built from constant route parts and percent-encoded ids.
#[derive(Clone, Debug)]
pub struct GraphRequest {
    method: Method,
    endpoint: Endpoint,
    path: String,
    query: Query,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

impl GraphRequest {
    /// `segments` are path segments below the API version (`["me", "messages", id]`); each is
    /// percent-encoded, and `.`/`..`/empty segments are refused so an id cannot climb the path.
    pub fn new(method: Method, endpoint: Endpoint, segments: &[&str]) -> Result<Self, GraphError> {
        let mut path = String::new();
        for s in segments {
            if s.is_empty() || *s == "." || *s == ".." {
                return Err(GraphError::InvalidRequest(format!("`{s}` is not a valid id")));
            }
            path.push('/');
            path.push_str(&super::odata::encode_segment(s));
        }
        Ok(Self {
            method,
            endpoint,
            path,
            query: Query::new(),
            body: None,
            headers: Vec::new(),
        })
    }

    pub fn get(endpoint: Endpoint, segments: &[&str]) -> Result<Self, GraphError> {
        Self::new(Method::GET, endpoint, segments)
    }

    pub fn post(endpoint: Endpoint, segments: &[&str], body: Value) -> Result<Self, GraphError> {
        let mut r = Self::new(Method::POST, endpoint, segments)?;
        r.body = Some(body);
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

    fn idempotent(&self) -> bool {
        self.method == Method::GET
    }
}

/// Items of a listing and whether Graph had more than was read.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub more: bool,
}

/// One request of a `$batch`; `id` must be unique within the call.
#[derive(Clone, Debug)]
pub struct BatchItem {
    pub id: String,
    pub request: GraphRequest,
}

/// One answer of a `$batch`.
#[derive(Clone, Debug)]
pub struct BatchResponse {
    pub id: String,
    pub status: u16,
    pub body: Value,
}

impl BatchResponse {
    /// The body of a successful answer, or the Graph error it carries.
    pub fn into_result(self) -> Result<Value, GraphError> {
        match self.status {
            200..=299 => Ok(self.body),
            401 => Err(GraphError::Unauthorized),
            429 | 503 | 504 => Err(GraphError::Throttled {
                status: self.status,
                retry_after: None,
            }),
            status => {
                let (code, message) = error_document(&self.body, status);
                Err(GraphError::Api {
                    status,
                    code,
                    message,
                })
            }
        }
    }
}

/// Calls Microsoft Graph for the calling user.
pub struct GraphClient {
    http: reqwest::Client,
    /// `<base>/<version>`, no trailing slash.
    root: Url,
    tokens: Arc<dyn GraphTokenProvider>,
    metrics: GraphMetrics,
    config: GraphClientConfig,
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
    pub async fn send(&self, ctx: &ToolContext, req: &GraphRequest) -> Result<Value, GraphError> {
        let url = self.url_of(req)?;
        self.execute(ctx, req, url).await
    }

    /// Sends one request and deserializes its body.
    pub async fn send_as<T: DeserializeOwned>(
        &self,
        ctx: &ToolContext,
        req: &GraphRequest,
    ) -> Result<T, GraphError> {
        let v = self.send(ctx, req).await?;
        serde_json::from_value(v).map_err(|e| {
            GraphError::Malformed(format!("unexpected shape from {}: {e}", req.endpoint.label()))
        })
    }

    /// Reads a collection, following `@odata.nextLink` (only on the Graph host) until
    /// `max_items` are read or `max_pages` pages were fetched.
    pub async fn list<T: DeserializeOwned>(
        &self,
        ctx: &ToolContext,
        req: &GraphRequest,
        max_items: usize,
    ) -> Result<Page<T>, GraphError> {
        let mut url = self.url_of(req)?;
        let mut items = Vec::new();
        let mut pages = 0;
        loop {
            let body = self.execute(ctx, req, url).await?;
            pages += 1;
            let Value::Object(mut body) = body else {
                return Err(GraphError::Malformed(format!(
                    "{} did not return an object",
                    req.endpoint.label()
                )));
            };
            let values = match body.remove("value") {
                Some(Value::Array(v)) => v,
                _ => {
                    return Err(GraphError::Malformed(format!(
                        "{} returned no `value` array",
                        req.endpoint.label()
                    )));
                }
            };
            for v in values {
                if items.len() == max_items {
                    return Ok(Page { items, more: true });
                }
                items.push(serde_json::from_value(v).map_err(|e| {
                    GraphError::Malformed(format!("unexpected item from {}: {e}", req.endpoint.label()))
                })?);
            }
            let next = match body.remove("@odata.nextLink") {
                Some(Value::String(s)) => s,
                _ => return Ok(Page { items, more: false }),
            };
            if items.len() >= max_items || pages >= self.config.max_pages {
                return Ok(Page { items, more: true });
            }
            url = self.trusted_link(&next)?;
        }
    }

    /// Sends requests as JSON `$batch`es of at most 20, retrying throttled items within the
    /// retry policy. Answers come back in the order of `items`.
    pub async fn batch(
        &self,
        ctx: &ToolContext,
        items: &[BatchItem],
    ) -> Result<Vec<BatchResponse>, GraphError> {
        let mut answers: Vec<Option<BatchResponse>> = vec![None; items.len()];
        for (chunk_no, chunk) in items.chunks(MAX_BATCH).enumerate() {
            let offset = chunk_no * MAX_BATCH;
            let mut pending: Vec<usize> = (0..chunk.len()).collect();
            let mut waited = Duration::ZERO;
            for attempt in 1..=self.config.retry.max_attempts {
                let requests: Vec<Value> = pending.iter().map(|&i| batch_entry(&chunk[i])).collect();
                let req = GraphRequest::post(Endpoint::Batch, &["$batch"], json!({ "requests": requests }))?;
                let url = self.url_of(&req)?;
                let body = self.execute(ctx, &req, url).await?;
                let responses = body
                    .get("responses")
                    .and_then(Value::as_array)
                    .ok_or_else(|| GraphError::Malformed("$batch returned no `responses` array".into()))?;
                let mut retry_after = None;
                let mut still = Vec::new();
                for r in responses {
                    let id = r.get("id").and_then(Value::as_str).unwrap_or_default();
                    let status = r
                        .get("status")
                        .and_then(Value::as_u64)
                        .and_then(|s| u16::try_from(s).ok())
                        .unwrap_or(0);
                    let Some(&i) = pending.iter().find(|&&i| chunk[i].id == id) else {
                        continue;
                    };
                    self.metrics
                        .observe(chunk[i].request.endpoint, &status.to_string(), None);
                    if matches!(status, 429 | 503 | 504) && attempt < self.config.retry.max_attempts {
                        let ra = r
                            .pointer("/headers/Retry-After")
                            .or_else(|| r.pointer("/headers/retry-after"))
                            .and_then(|v| v.as_str().and_then(|s| s.trim().parse().ok()).or(v.as_u64()))
                            .map(retry_after_delay);
                        retry_after = retry_after.max(ra.or(Some(self.backoff(attempt))));
                        still.push(i);
                        continue;
                    }
                    let body = r.get("body").cloned().unwrap_or(Value::Null);
                    answers[offset + i] = Some(BatchResponse {
                        id: id.to_string(),
                        status,
                        body,
                    });
                }
                // Items Graph did not answer are reported as malformed below.
                pending = still;
                let Some(delay) = retry_after else { break };
                if pending.is_empty() {
                    break;
                }
                if waited + delay > self.config.retry.max_total_wait {
                    break;
                }
                waited += delay;
                self.sleep(ctx, delay).await?;
            }
            for &i in &pending {
                answers[offset + i] = Some(BatchResponse {
                    id: chunk[i].id.clone(),
                    status: 429,
                    body: Value::Null,
                });
            }
        }
        answers
            .into_iter()
            .zip(items)
            .map(|(a, item)| {
                a.ok_or_else(|| GraphError::Malformed(format!("$batch returned no answer for `{}`", item.id)))
            })
            .collect()
    }

    fn url_of(&self, req: &GraphRequest) -> Result<Url, GraphError> {
        Url::parse(&format!("{}{}", self.root, req.relative_url()))
            .map_err(|e| GraphError::InvalidRequest(format!("cannot build the Graph URL: {e}")))
    }

    /// A paging link is followed only if it stays under the configured Graph root: the token
    /// must never travel to another host.
    fn trusted_link(&self, link: &str) -> Result<Url, GraphError> {
        let url = Url::parse(link).map_err(|_| GraphError::UntrustedLink)?;
        let same_origin = url.scheme() == self.root.scheme()
            && url.host_str() == self.root.host_str()
            && url.port_or_known_default() == self.root.port_or_known_default();
        let under_root = url
            .path()
            .starts_with(&format!("{}/", self.root.path().trim_end_matches('/')));
        if same_origin && under_root && url.username().is_empty() && url.password().is_none() {
            Ok(url)
        } else {
            tracing::warn!(
                host = url.host_str().unwrap_or(""),
                "refused a Graph paging link to another host"
            );
            Err(GraphError::UntrustedLink)
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let p = &self.config.retry;
        let exp = p
            .base_delay
            .saturating_mul(1 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(p.max_delay);
        // "Equal jitter": half fixed, half random, so concurrent callers spread out.
        capped / 2 + capped.mul_f64(fastrand::f64() / 2.0)
    }

    async fn sleep(&self, ctx: &ToolContext, d: Duration) -> Result<(), GraphError> {
        tokio::select! {
            () = ctx.cancel.cancelled() => Err(GraphError::Cancelled),
            () = tokio::time::sleep(d) => Ok(()),
        }
    }

    async fn execute(&self, ctx: &ToolContext, req: &GraphRequest, url: Url) -> Result<Value, GraphError> {
        let client_request_id = client_request_id(&ctx.request_id);
        let policy = &self.config.retry;
        let mut refreshed = false;
        let mut waited = Duration::ZERO;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if ctx.cancel.is_cancelled() {
                return Err(GraphError::Cancelled);
            }
            let token = self.tokens.token(&ctx.caller).await?;
            let mut builder = self
                .http
                .request(req.method.clone(), url.clone())
                .bearer_auth(token.secret.expose())
                .header("client-request-id", &client_request_id)
                .header("return-client-request-id", "true");
            for (name, value) in &req.headers {
                builder = builder.header(*name, value);
            }
            if let Some(body) = &req.body {
                builder = builder.json(body);
            }
            let started = Instant::now();
            let outcome = tokio::select! {
                () = ctx.cancel.cancelled() => return Err(GraphError::Cancelled),
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
                    tracing::warn!(endpoint = req.endpoint.label(), %client_request_id, error = %err, "Graph request failed");
                    let delay = self.backoff(attempt);
                    if req.idempotent()
                        && attempt < policy.max_attempts
                        && waited + delay <= policy.max_total_wait
                    {
                        waited += delay;
                        self.sleep(ctx, delay).await?;
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
                endpoint = req.endpoint.label(),
                status = status.as_u16(),
                %client_request_id,
                graph_request_id,
                tool_request_id = %ctx.request_id,
                elapsed_ms = (elapsed * 1000.0) as u64,
                "Graph request"
            );
            match status.as_u16() {
                200..=299 => {
                    if resp.body.is_empty() {
                        return Ok(Value::Null);
                    }
                    return serde_json::from_slice(&resp.body).map_err(|_| {
                        GraphError::Malformed(format!(
                            "{} returned a body that is not JSON",
                            req.endpoint.label()
                        ))
                    });
                }
                401 if !refreshed => {
                    refreshed = true;
                    self.tokens.invalidate(&ctx.caller).await;
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
                    let delay = retry_after.unwrap_or_else(|| self.backoff(attempt));
                    if retryable && attempt < policy.max_attempts && waited + delay <= policy.max_total_wait {
                        tracing::info!(endpoint = req.endpoint.label(), status = code, delay_ms = delay.as_millis() as u64, %client_request_id, "Graph asked to retry");
                        waited += delay;
                        self.sleep(ctx, delay).await?;
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

fn batch_entry(item: &BatchItem) -> Value {
    let r = &item.request;
    let mut entry = Map::new();
    entry.insert("id".into(), Value::String(item.id.clone()));
    entry.insert("method".into(), Value::String(r.method.as_str().into()));
    entry.insert("url".into(), Value::String(r.relative_url()));
    let mut headers: Map<String, Value> = r
        .headers
        .iter()
        .map(|(k, v)| ((*k).to_string(), Value::String(v.clone())))
        .collect();
    if let Some(body) = &r.body {
        headers.insert("Content-Type".into(), Value::String("application/json".into()));
        entry.insert("body".into(), body.clone());
    }
    if !headers.is_empty() {
        entry.insert("headers".into(), Value::Object(headers));
    }
    Value::Object(entry)
}

/// Graph's `{"error": {"code", "message"}}`, or the status when the body has none.
fn error_document(body: &Value, status: u16) -> (String, String) {
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

/// Longest Retry-After taken at its word; a larger value (Graph never sends one) is clamped so that
/// adding it to the time already waited cannot overflow.
const MAX_RETRY_AFTER_SECS: u64 = 24 * 3_600;

fn retry_after_delay(secs: u64) -> Duration {
    Duration::from_secs(secs.min(MAX_RETRY_AFTER_SECS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_retry_after_values_are_clamped_not_overflowed() {
        let delay = retry_after_delay(u64::MAX);
        assert_eq!(delay, Duration::from_secs(MAX_RETRY_AFTER_SECS));
        assert!(Duration::from_secs(20).checked_add(delay).is_some());
        assert_eq!(retry_after_delay(7), Duration::from_secs(7));
    }

    #[test]
    fn segments_are_encoded_and_dot_segments_refused() {
        let r = GraphRequest::get(Endpoint::Message, &["me", "messages", "AA/..%2F?x=1#"]).unwrap();
        assert_eq!(r.relative_url(), "/me/messages/AA%2F..%252F%3Fx=1%23");
        assert!(GraphRequest::get(Endpoint::Message, &["me", "messages", ".."]).is_err());
        assert!(GraphRequest::get(Endpoint::Message, &["me", "messages", ""]).is_err());
    }

    #[test]
    fn error_documents_are_read_or_replaced() {
        let body = json!({"error": {"code": "ErrorItemNotFound", "message": "not found"}});
        assert_eq!(
            error_document(&body, 404),
            ("ErrorItemNotFound".into(), "not found".into())
        );
        assert_eq!(error_document(&Value::Null, 500).0, "http500");
    }

    #[test]
    fn client_request_ids_are_guids() {
        let g = "6f9619ff-8b86-d011-b42d-00c04fc964ff";
        assert_eq!(client_request_id(g), g);
        assert!(uuid::Uuid::parse_str(&client_request_id("req-1")).is_ok());
    }
}
