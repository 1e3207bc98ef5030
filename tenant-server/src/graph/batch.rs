//! JSON `$batch`: requests sent 20 at a time, throttled items retried within the retry budget
//! of their chunk, answers returned in the order asked.

use std::time::Duration;

use base64::{Engine as _, prelude::BASE64_STANDARD};
use serde_json::{Map, Value, json};

use super::{
    CallContext, Endpoint, GraphClient, GraphError, GraphRequest,
    error::error_document,
    request::Body,
    retry::{RetryBudget, retry_after_delay},
};

/// Graph accepts at most 20 requests in one `$batch`.
const MAX_BATCH: usize = 20;

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

impl GraphClient {
    /// Sends requests as JSON `$batch`es of at most 20, retrying throttled items within the
    /// retry policy. Answers come back in the order of `items`.
    pub async fn batch(
        &self,
        call: CallContext<'_>,
        items: &[BatchItem],
    ) -> Result<Vec<BatchResponse>, GraphError> {
        let mut answers: Vec<Option<BatchResponse>> = vec![None; items.len()];
        for (chunk_no, chunk) in items.chunks(MAX_BATCH).enumerate() {
            let offset = chunk_no * MAX_BATCH;
            for (i, answer) in self.batch_chunk(call, chunk).await?.into_iter().enumerate() {
                answers[offset + i] = answer;
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

    /// One `$batch` of at most [`MAX_BATCH`], resent for its throttled items while the budget
    /// lasts; items still throttled are answered 429, items Graph never answered are `None`.
    async fn batch_chunk(
        &self,
        call: CallContext<'_>,
        chunk: &[BatchItem],
    ) -> Result<Vec<Option<BatchResponse>>, GraphError> {
        let mut answers: Vec<Option<BatchResponse>> = vec![None; chunk.len()];
        let mut pending: Vec<usize> = (0..chunk.len()).collect();
        let mut budget = RetryBudget::new(&self.config.retry);
        loop {
            budget.start_attempt();
            let retry_items = budget.has_attempts_left();
            let requests: Vec<Value> = pending.iter().map(|&i| batch_entry(&chunk[i])).collect();
            let req = GraphRequest::post(Endpoint::BATCH, &[], json!({ "requests": requests }))?;
            let url = self.url_of(&req)?;
            let body = self.execute(call, &req, url).await?;
            let responses = body
                .get("responses")
                .and_then(Value::as_array)
                .ok_or_else(|| GraphError::Malformed("$batch returned no `responses` array".into()))?;
            let mut retry_after: Option<Duration> = None;
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
                if matches!(status, 429 | 503 | 504) && retry_items {
                    let ra = r
                        .pointer("/headers/Retry-After")
                        .or_else(|| r.pointer("/headers/retry-after"))
                        .and_then(|v| v.as_str().and_then(|s| s.trim().parse().ok()).or(v.as_u64()))
                        .map(retry_after_delay);
                    retry_after = retry_after.max(ra.or(Some(budget.backoff())));
                    still.push(i);
                    continue;
                }
                let body = r.get("body").cloned().unwrap_or(Value::Null);
                answers[i] = Some(BatchResponse {
                    id: id.to_string(),
                    status,
                    body,
                });
            }
            // Items Graph did not answer stay `None` (reported as malformed by the caller).
            pending = still;
            if pending.is_empty() {
                break;
            }
            let Some(delay) = retry_after.and_then(|d| budget.retry_after(Some(d))) else {
                break;
            };
            self.sleep(call, delay).await?;
        }
        for &i in &pending {
            answers[i] = Some(BatchResponse {
                id: chunk[i].id.clone(),
                status: 429,
                body: Value::Null,
            });
        }
        Ok(answers)
    }
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
    match &r.body {
        Some(Body::Json(body)) => {
            headers.insert("Content-Type".into(), Value::String("application/json".into()));
            entry.insert("body".into(), body.clone());
        }
        // JSON batching carries other media types base64-encoded.
        Some(Body::Bytes { content_type, bytes }) => {
            headers.insert("Content-Type".into(), Value::String((*content_type).into()));
            entry.insert("body".into(), Value::String(BASE64_STANDARD.encode(bytes)));
        }
        None => {}
    }
    if !headers.is_empty() {
        entry.insert("headers".into(), Value::Object(headers));
    }
    Value::Object(entry)
}
