//! Several replicas of one tenant on one Redis, as a Deployment runs them: each replica is a
//! server with its own runtime, store connections and memory, on its own loopback port, and can
//! be killed (its runtime dropped: every connection closes, everything it held in memory is
//! gone). A round-robin proxy sends each request to the next replica, as a Service without
//! session affinity does.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use http::StatusCode;
use mcp_tenancy_config::TenantConfig;
use mcp_tenant_server::{
    app::AppState,
    server::serve,
    store::{EmbeddedStore, RedisOptions, RedisStore, Store},
    tools::{Tool, core},
};
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::oneshot};

use super::{Reply, parse_messages, verifier};

pub struct Replica {
    pub addr: SocketAddr,
    pub ops: SocketAddr,
    kill: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Replica {
    /// A replica of `config` with the core tools and `tools`, its store on `redis_url`.
    pub fn start(redis_url: &str, config: TenantConfig, tools: Vec<Arc<dyn Tool>>) -> Self {
        Self::with_store(Some(redis_url), config, tools)
    }

    /// Its store on Redis, or in its own memory (a lone replica of the embedded store).
    pub fn with_store(redis_url: Option<&str>, config: TenantConfig, tools: Vec<Arc<dyn Tool>>) -> Self {
        mcp_tenant_server::crypto::install_provider();
        let (ready, addresses) = std::sync::mpsc::channel();
        let (kill, killed) = oneshot::channel::<()>();
        let url = redis_url.map(str::to_owned);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let store: Arc<dyn Store> = match url {
                    Some(url) => Arc::new(
                        RedisStore::open(&url, &config.tenant.name, RedisOptions::default()).unwrap(),
                    ),
                    None => Arc::new(EmbeddedStore::in_memory()),
                };
                let verifier = verifier(&config);
                let mut all = core::tools(&config);
                all.extend(tools);
                let state = AppState::new(config, verifier, all, store).unwrap();
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let ops = TcpListener::bind("127.0.0.1:0").await.unwrap();
                ready
                    .send((listener.local_addr().unwrap(), ops.local_addr().unwrap()))
                    .unwrap();
                tokio::select! {
                    served = serve(state, listener, ops, std::future::pending()) => served.unwrap(),
                    _ = killed => {}
                }
            });
            // Drops every task: open connections close mid-response, like a killed process.
            runtime.shutdown_background();
        });
        let (addr, ops) = addresses.recv().unwrap();
        Self {
            addr,
            ops,
            kill: Some(kill),
            thread: Some(thread),
        }
    }

    pub fn kill(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.ops))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Where a message can be sent: a replica, or the proxy in front of them.
pub trait Endpoint {
    fn addr(&self) -> SocketAddr;
}

impl Endpoint for Replica {
    fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Endpoint for RoundRobin {
    fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// An MCP client over HTTP that sends each message where it is told to.
#[derive(Clone)]
pub struct HttpClient {
    http: reqwest::Client,
    pub token: String,
    pub session: Option<String>,
    host: String,
}

impl HttpClient {
    pub fn new(token: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            token: token.to_owned(),
            session: None,
            host: super::HOST.into(),
        }
    }

    fn request(&self, method: reqwest::Method, to: &impl Endpoint) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(method, format!("http://{}/mcp", to.addr()))
            .header("host", &self.host)
            .header("accept", "application/json, text/event-stream")
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(30));
        if let Some(session) = &self.session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-11-25");
        }
        request
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<Reply, reqwest::Error> {
        let response = request.send().await?;
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        let headers = response.headers().clone();
        let text = response.text().await?;
        let messages = parse_messages(&text);
        Ok(Reply {
            status,
            headers,
            text,
            messages,
        })
    }

    pub async fn post(&self, to: &impl Endpoint, message: Value) -> Reply {
        self.try_post(to, message).await.unwrap()
    }

    pub async fn try_post(&self, to: &impl Endpoint, message: Value) -> Result<Reply, reqwest::Error> {
        let request = self
            .request(reqwest::Method::POST, to)
            .header("content-type", "application/json")
            .body(message.to_string());
        self.send(request).await
    }

    pub async fn call(&self, to: &impl Endpoint, id: i64, method: &str, params: Value) -> Reply {
        self.post(
            to,
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
        )
        .await
    }

    pub async fn delete(&self, to: &impl Endpoint) -> Reply {
        self.send(self.request(reqwest::Method::DELETE, to))
            .await
            .unwrap()
    }

    /// Opens the session's GET stream on `to`: its status and content type (the stream itself
    /// is dropped).
    pub async fn open_stream(&self, to: &impl Endpoint) -> (StatusCode, String) {
        let response = self.request(reqwest::Method::GET, to).send().await.unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        (status, content_type)
    }

    /// initialize on `first` and notifications/initialized on `second`; keeps the session id.
    pub async fn initialize(&mut self, first: &impl Endpoint, second: &impl Endpoint) {
        self.session = None;
        let reply = self
            .call(
                first,
                0,
                "initialize",
                json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "replicas", "version": "1"}}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        self.session = Some(reply.header("mcp-session-id").expect("a session id").to_owned());
        let ack = self
            .post(
                second,
                json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            )
            .await;
        assert_eq!(ack.status, StatusCode::ACCEPTED, "{}", ack.text);
    }
}

/// A reverse proxy on loopback that sends each request to the next backend in turn and streams
/// the answer back; it counts what each backend got.
pub struct RoundRobin {
    pub addr: SocketAddr,
    pub hits: Arc<Vec<AtomicUsize>>,
}

struct Backends {
    addrs: Vec<SocketAddr>,
    next: AtomicUsize,
    hits: Arc<Vec<AtomicUsize>>,
    http: reqwest::Client,
}

impl RoundRobin {
    /// Serves on `listener` in front of `backends`, until the runtime ends.
    pub fn start(listener: TcpListener, backends: Vec<SocketAddr>) -> Self {
        let addr = listener.local_addr().unwrap();
        let hits: Arc<Vec<AtomicUsize>> = Arc::new(backends.iter().map(|_| AtomicUsize::new(0)).collect());
        let state = Arc::new(Backends {
            addrs: backends,
            next: AtomicUsize::new(0),
            hits: hits.clone(),
            http: reqwest::Client::builder().tcp_nodelay(true).build().unwrap(),
        });
        let router = Router::new().fallback(forward).with_state(state);
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { addr, hits }
    }

    pub fn hits(&self) -> Vec<usize> {
        self.hits.iter().map(|h| h.load(Ordering::Relaxed)).collect()
    }
}

async fn forward(State(backends): State<Arc<Backends>>, request: Request) -> Response {
    let i = backends.next.fetch_add(1, Ordering::Relaxed) % backends.addrs.len();
    backends.hits[i].fetch_add(1, Ordering::Relaxed);
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("http://{}{path}", backends.addrs[i]);
    let mut headers = parts.headers;
    headers.remove(http::header::CONNECTION);
    let sent = backends
        .http
        .request(parts.method, url)
        .headers(headers)
        .body(reqwest::Body::wrap_stream(body.into_data_stream()))
        .send()
        .await;
    match sent {
        Ok(answer) => {
            let mut response = Response::builder().status(answer.status().as_u16());
            for (name, value) in answer.headers() {
                if name != http::header::TRANSFER_ENCODING && name != http::header::CONNECTION {
                    response = response.header(name, value);
                }
            }
            let stream = answer
                .bytes_stream()
                .map(|chunk| chunk.map_err(std::io::Error::other));
            response.body(Body::from_stream(stream)).unwrap()
        }
        Err(error) => (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    }
}
