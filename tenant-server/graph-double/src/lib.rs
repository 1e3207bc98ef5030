//! A Microsoft Graph test double for tests and local development: a small axum app serving
//! Graph v1.0 JSON shapes for one seeded user (mail, calendar, people, contacts, Teams, files,
//! `$batch`), with switchable faults (429/503/504 with Retry-After, 401, 500, malformed JSON,
//! foreign paging links) and a record of every request received (paths, query, headers, bodies)
//! so tests can assert the exact Graph calls made. It is never linked into the server.

pub mod documents;
mod odata;
mod routes;
pub mod seed;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use serde_json::Value;

pub use seed::{Data, Seed};

/// The bearer token the double accepts unless told otherwise; equal to the tenant server's
/// development token. Never a real credential.
pub const DEFAULT_TOKEN: &str = "dev-only-graph-double-token";

/// A failure the double answers with instead of the real answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After: secs`.
    Throttle { retry_after_secs: u64 },
    /// 503, with `Retry-After` when given.
    Unavailable { retry_after_secs: Option<u64> },
    /// 504 without Retry-After.
    GatewayTimeout,
    /// 401 `InvalidAuthenticationToken` (an expired token).
    ExpiredToken,
    /// 500 with a Graph error document.
    ServerError,
    /// 403 `ErrorAccessDenied` (a permission the app was not granted).
    Forbidden,
    /// 200 with a body that is not JSON.
    MalformedJson,
    /// A listing whose `@odata.nextLink` points at this URL.
    ForeignNextLink(String),
}

/// A fault applied to the next `times` requests whose path contains `path_contains` (any
/// request when `None`), `$batch` inner requests included.
#[derive(Clone, Debug)]
pub struct FaultRule {
    pub fault: Fault,
    pub path_contains: Option<String>,
    pub times: u32,
}

impl FaultRule {
    pub fn once(fault: Fault) -> Self {
        Self {
            fault,
            path_contains: None,
            times: 1,
        }
    }

    /// `fault` on every request from now on.
    pub fn always(fault: Fault) -> Self {
        Self {
            fault,
            path_contains: None,
            times: u32::MAX,
        }
    }

    pub fn on(fault: Fault, path_contains: &str, times: u32) -> Self {
        Self {
            fault,
            path_contains: Some(path_contains.to_string()),
            times,
        }
    }
}

/// One request as the double received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// Below the API version, e.g. `/me/messages`.
    pub path: String,
    /// The raw (encoded) query string.
    pub raw_query: String,
    /// Decoded query parameters, in order.
    pub params: Vec<(String, String)>,
    /// Lower-case header names.
    pub headers: BTreeMap<String, String>,
    pub body: Option<Value>,
    /// Received inside a `$batch`.
    pub in_batch: bool,
    /// The status answered.
    pub status: u16,
}

impl RecordedRequest {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

pub(crate) struct Shared {
    pub(crate) data: Mutex<Data>,
    faults: Mutex<Vec<FaultRule>>,
    requests: Mutex<Vec<RecordedRequest>>,
    tokens: Mutex<Vec<String>>,
    api_version: String,
}

/// The double. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct GraphDouble {
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not wedge the double for the others.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl GraphDouble {
    pub fn new(seed: &Seed) -> Self {
        Self {
            shared: Arc::new(Shared {
                data: Mutex::new(Data::seeded(seed)),
                faults: Mutex::new(Vec::new()),
                requests: Mutex::new(Vec::new()),
                tokens: Mutex::new(vec![DEFAULT_TOKEN.to_string()]),
                api_version: "v1.0".into(),
            }),
        }
    }

    /// The axum app (all routes under `/v1.0`).
    pub fn router(&self) -> Router {
        Router::new().fallback(entry).with_state(self.clone())
    }

    /// Serves on `addr` (use port 0 for a free port); returns the bound address.
    pub async fn spawn(
        &self,
        addr: SocketAddr,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let app = self.router();
        let handle = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "graph double stopped");
            }
        });
        Ok((local, handle))
    }

    /// Also accept this bearer token (e.g. the one a test token endpoint issues).
    pub fn accept_token(&self, token: &str) {
        lock(&self.shared.tokens).push(token.to_string());
    }

    /// Accept only these tokens.
    pub fn set_tokens(&self, tokens: &[&str]) {
        *lock(&self.shared.tokens) = tokens.iter().map(|t| t.to_string()).collect();
    }

    pub fn push_fault(&self, rule: FaultRule) {
        lock(&self.shared.faults).push(rule);
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    /// A copy of the data (to assert what a write changed).
    pub fn data(&self) -> Data {
        lock(&self.shared.data).clone()
    }

    /// Changes the data (e.g. empties the mailbox).
    pub fn with_data(&self, f: impl FnOnce(&mut Data)) {
        f(&mut lock(&self.shared.data));
    }

    fn take_fault(&self, path: &str) -> Option<Fault> {
        let mut faults = lock(&self.shared.faults);
        let i = faults
            .iter()
            .position(|r| r.times > 0 && r.path_contains.as_deref().is_none_or(|p| path.contains(p)))?;
        faults[i].times -= 1;
        let fault = faults[i].fault.clone();
        if faults[i].times == 0 {
            faults.remove(i);
        }
        Some(fault)
    }
}

/// An answer before it becomes an HTTP response (also the shape of a `$batch` item).
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    /// `None`: no body. `Some(Err)`: raw bytes that are not JSON.
    pub body: Option<Result<Value, &'static str>>,
}

impl Answer {
    pub fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Some(Ok(body)),
        }
    }

    pub fn empty(status: StatusCode) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn error(status: StatusCode, code: &str, message: &str) -> Self {
        Self::json(
            status,
            serde_json::json!({"error": {"code": code, "message": message, "innerError": {"request-id": "00000000-0000-0000-0000-000000000000"}}}),
        )
    }
}

/// An incoming request, top-level or from a `$batch`.
pub(crate) struct Incoming {
    pub method: Method,
    pub path: String,
    pub raw_query: String,
    pub params: Vec<(String, String)>,
    pub headers: BTreeMap<String, String>,
    pub body: Option<Value>,
    /// The body as sent when its content type is not JSON (a file's content being uploaded).
    pub raw: Option<Vec<u8>>,
    pub in_batch: bool,
    /// `scheme://host` the request came to, for paging links.
    pub origin: String,
}

impl Incoming {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn entry(
    State(double): State<GraphDouble>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(id) = uri.path().strip_prefix("/_download/") {
        return double.download(id, uri.query().unwrap_or(""), &headers);
    }
    let prefix = format!("/{}", double.shared.api_version);
    let Some(path) = uri.path().strip_prefix(&prefix) else {
        return into_response(Answer::error(
            StatusCode::NOT_FOUND,
            "BadRequest",
            "Invalid version",
        ));
    };
    let headers: BTreeMap<String, String> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_string())))
        .collect();
    let origin = format!(
        "http://{}",
        headers.get("host").map(String::as_str).unwrap_or("localhost")
    );
    let raw_query = uri.query().unwrap_or("").to_string();
    let json_body = headers
        .get("content-type")
        .is_none_or(|t| t.starts_with("application/json"));
    let raw = (!json_body && !body.is_empty()).then(|| body.to_vec());
    let parsed_body = if body.is_empty() || !json_body {
        None
    } else {
        serde_json::from_slice(&body).ok()
    };
    if json_body && !body.is_empty() && parsed_body.is_none() {
        return into_response(Answer::error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unable to read JSON request payload.",
        ));
    }
    let incoming = Incoming {
        method,
        path: path.to_string(),
        params: url::form_urlencoded::parse(raw_query.as_bytes())
            .into_owned()
            .collect(),
        raw_query,
        headers,
        body: parsed_body,
        raw,
        in_batch: false,
        origin,
    };
    into_response(double.handle(incoming))
}

impl GraphDouble {
    /// A drive item's bytes at its pre-authenticated download URL (no bearer token needed: the
    /// URL's `tempauth` is the credential); recorded like every request.
    fn download(&self, id: &str, query: &str, headers: &HeaderMap) -> Response {
        let expected = format!("tempauth=t-{id}");
        let content = lock(&self.shared.data)
            .drive
            .iter()
            .find(|(m, _)| m["id"] == id)
            .map(|(_, c)| c.clone());
        let (status, body) = match content {
            Some(c) if query == expected => (StatusCode::OK, c),
            Some(_) => (StatusCode::UNAUTHORIZED, Vec::new()),
            None => (StatusCode::NOT_FOUND, Vec::new()),
        };
        let recorded = RecordedRequest {
            method: "GET".into(),
            path: format!("/_download/{id}"),
            raw_query: query.to_owned(),
            params: url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
            headers: headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_string())))
                .collect(),
            body: None,
            in_batch: false,
            status: status.as_u16(),
        };
        lock(&self.shared.requests).push(recorded);
        (status, body).into_response()
    }

    /// Authenticates, applies faults, answers, records.
    pub(crate) fn handle(&self, req: Incoming) -> Answer {
        let answer = self.answer(&req);
        let recorded = RecordedRequest {
            method: req.method.to_string(),
            path: req.path,
            raw_query: req.raw_query,
            params: req.params,
            headers: req.headers,
            // Uploaded text is recorded as a JSON string, to be asserted like any body.
            body: req.body.or_else(|| {
                req.raw
                    .map(|r| Value::String(String::from_utf8_lossy(&r).into_owned()))
            }),
            in_batch: req.in_batch,
            status: answer.status.as_u16(),
        };
        lock(&self.shared.requests).push(recorded);
        answer
    }

    fn answer(&self, req: &Incoming) -> Answer {
        let token = req
            .headers
            .get("authorization")
            .and_then(|h| h.strip_prefix("Bearer "));
        let known = token.is_some_and(|t| lock(&self.shared.tokens).iter().any(|k| k == t));
        if !known {
            return Answer::error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token is empty or invalid.",
            );
        }
        let mut foreign_link = None;
        if let Some(fault) = self.take_fault(&req.path) {
            match fault {
                Fault::Throttle { retry_after_secs } => {
                    let mut a = Answer::error(
                        StatusCode::TOO_MANY_REQUESTS,
                        "TooManyRequests",
                        "Too many requests.",
                    );
                    a.headers.push(("Retry-After", retry_after_secs.to_string()));
                    return a;
                }
                Fault::Unavailable { retry_after_secs } => {
                    let mut a = Answer::error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "serviceNotAvailable",
                        "Service unavailable.",
                    );
                    if let Some(s) = retry_after_secs {
                        a.headers.push(("Retry-After", s.to_string()));
                    }
                    return a;
                }
                Fault::GatewayTimeout => {
                    return Answer::error(StatusCode::GATEWAY_TIMEOUT, "gatewayTimeout", "Gateway timeout.");
                }
                Fault::ExpiredToken => {
                    return Answer::error(
                        StatusCode::UNAUTHORIZED,
                        "InvalidAuthenticationToken",
                        "Lifetime validation failed, the token is expired.",
                    );
                }
                Fault::ServerError => {
                    return Answer::error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "generalException",
                        "General exception.",
                    );
                }
                Fault::Forbidden => {
                    return Answer::error(
                        StatusCode::FORBIDDEN,
                        "ErrorAccessDenied",
                        "Access is denied. Check credentials and try again.",
                    );
                }
                Fault::MalformedJson => {
                    return Answer {
                        status: StatusCode::OK,
                        headers: Vec::new(),
                        body: Some(Err("{\"value\": [")),
                    };
                }
                Fault::ForeignNextLink(url) => foreign_link = Some(url),
            }
        }
        let mut answer = routes::route(self, req);
        if let (Some(url), Some(Ok(Value::Object(body)))) = (foreign_link, answer.body.as_mut()) {
            body.insert("@odata.nextLink".into(), Value::String(url));
        }
        answer
    }
}

fn into_response(a: Answer) -> Response {
    let mut resp = match a.body {
        None => a.status.into_response(),
        Some(Ok(v)) => (a.status, axum::Json(v)).into_response(),
        Some(Err(raw)) => (a.status, [("content-type", "application/json")], raw).into_response(),
    };
    for (k, v) in a.headers {
        if let Ok(v) = v.parse() {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}
