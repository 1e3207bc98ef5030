//! The OAuth 2.1 client side: finding the authorization server from the MCP endpoint (RFC 9728,
//! RFC 8414), registering (a client ID metadata document URL or RFC 7591 dynamic registration),
//! signing in by the device authorization grant (RFC 8628) or by code + PKCE on a loopback
//! redirect (RFC 8252), refreshing with rotation and revoking (RFC 7009).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use futures::StreamExt;
use reqwest::{StatusCode, header};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};
use url::Url;

use crate::{
    error::{Error, Result},
    store::SignIn,
};

pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Metadata documents and token answers are small; a larger body is refused unread.
const MAX_BODY_BYTES: usize = 256 * 1024;
/// A device code is polled at least this far apart (RFC 8628 §3.5 defaults to 5 s).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// Added to the interval at each `slow_down` (RFC 8628 §3.5).
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// An access token is renewed this close to its expiry (a clock behind the server's is caught by
/// the 401 that follows: the token is renewed then).
const RENEW_BEFORE_SECS: u64 = 5;
/// How long a browser sign-in may take before the loopback listener gives up.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(300);

/// The MCP endpoint URL a user typed, checked: http(s), and plain http only on this machine.
pub fn endpoint(text: &str) -> Result<Url> {
    let url = Url::parse(text).map_err(|e| Error::Usage(format!("{text} is not a URL: {e}")))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(Error::Usage(format!(
                "{text}: tokens are only sent over https (plain http only to this machine)"
            )));
        }
        other => {
            return Err(Error::Usage(format!(
                "{text}: the scheme must be https, not {other}"
            )));
        }
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(Error::Usage(format!(
            "{text}: an MCP endpoint URL has no user name, password or #fragment"
        )));
    }
    Ok(url)
}

/// What the authorization server says of itself (RFC 8414).
#[derive(Debug, Clone, Deserialize)]
pub struct ServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: String,
    pub registration_endpoint: Option<String>,
    pub revocation_endpoint: Option<String>,
    pub device_authorization_endpoint: Option<String>,
    #[serde(default)]
    pub client_id_metadata_document_supported: bool,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

/// Finds the authorization server of the MCP endpoint `url`: an unauthenticated request's
/// `WWW-Authenticate` names the resource metadata (else its well-known place), which names the
/// issuer, whose metadata names the endpoints. Each step's document must name what it belongs to.
pub async fn discover(http: &reqwest::Client, url: &Url) -> Result<ServerMetadata> {
    let shown = url.as_str();
    let not_mcp = |reason: String| Error::NotMcp {
        url: shown.to_owned(),
        reason,
    };
    let probe = http
        .post(url.clone())
        .header(header::ACCEPT, "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "mcp-tenant", "version": env!("CARGO_PKG_VERSION")}}}),
        )
        .send_to(shown)
        .await?;
    if probe.status() != StatusCode::UNAUTHORIZED {
        return Err(not_mcp(format!(
            "it answered an unauthenticated initialize with {}, not 401 with a sign-in challenge",
            probe.status()
        )));
    }
    let metadata_url = match probe
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| challenge_param(value, "resource_metadata"))
    {
        Some(named) => url
            .join(&named)
            .map_err(|e| not_mcp(format!("its resource_metadata {named} is not a URL: {e}")))?,
        None => well_known(url, "oauth-protected-resource"),
    };
    let resource: Value = get_json(http, &metadata_url, "the protected resource metadata")
        .await
        .map_err(|e| match e {
            Error::Server(reason) => not_mcp(reason),
            other => other,
        })?;
    let named = resource
        .get("resource")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if Url::parse(named).ok().as_ref() != Some(url) {
        return Err(not_mcp(format!(
            "its resource metadata ({metadata_url}) is for {named:?}, not this URL"
        )));
    }
    let issuer = resource
        .get("authorization_servers")
        .and_then(Value::as_array)
        .and_then(|servers| servers.first())
        .and_then(Value::as_str)
        .ok_or_else(|| {
            not_mcp(format!(
                "its resource metadata ({metadata_url}) names no authorization_servers"
            ))
        })?
        .to_owned();
    let issuer_url = Url::parse(&issuer)
        .map_err(|e| Error::Server(format!("the authorization server {issuer:?} is not a URL: {e}")))?;
    let metadata: ServerMetadata = match get_json(
        http,
        &well_known(&issuer_url, "oauth-authorization-server"),
        "authorization server metadata",
    )
    .await
    {
        Ok(metadata) => metadata,
        Err(Error::Server(_)) => {
            let openid = Url::parse(&format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            ))
            .map_err(|e| Error::Server(e.to_string()))?;
            get_json(http, &openid, "OpenID configuration").await?
        }
        Err(other) => return Err(other),
    };
    if metadata.issuer != issuer {
        return Err(Error::Server(format!(
            "the authorization server's metadata names the issuer {:?}, not {issuer:?}",
            metadata.issuer
        )));
    }
    Ok(metadata)
}

/// RFC 8414 §3.1 / RFC 9728 §3.1: `/.well-known/{name}` inserted before the URL's path.
fn well_known(url: &Url, name: &str) -> Url {
    let mut found = url.clone();
    let path = url.path().trim_end_matches('/');
    found.set_path(&format!("/.well-known/{name}{path}"));
    found.set_query(None);
    found
}

/// One parameter of a `WWW-Authenticate: Bearer k="v", ...` challenge.
fn challenge_param(header: &str, name: &str) -> Option<String> {
    let rest = header.trim_start().strip_prefix("Bearer")?;
    let mut rest = rest.trim_start();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().trim_start_matches(',').trim();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next().map(|(_, c)| c)),
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        if key.eq_ignore_ascii_case(name) {
            return Some(value);
        }
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    None
}

/// Sending, with a connection failure that names the URL.
trait SendTo {
    async fn send_to(self, url: &str) -> Result<reqwest::Response>;
}

impl SendTo for reqwest::RequestBuilder {
    async fn send_to(self, url: &str) -> Result<reqwest::Response> {
        self.send().await.map_err(|e| Error::unreachable(url, &e))
    }
}

async fn get_json<T: DeserializeOwned>(http: &reqwest::Client, url: &Url, what: &str) -> Result<T> {
    let response = http
        .get(url.clone())
        .header(header::ACCEPT, "application/json")
        .send_to(url.as_str())
        .await?;
    let status = response.status();
    if !status.is_success() {
        return Err(Error::Server(format!("{what} at {url} answered {status}")));
    }
    let body = read_body(response, url.as_str()).await?;
    serde_json::from_slice(&body)
        .map_err(|e| Error::Server(format!("{what} at {url} is not usable JSON: {e}")))
}

/// The body, refused past [`MAX_BODY_BYTES`] without reading further.
async fn read_body(response: reqwest::Response, url: &str) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| Error::unreachable(url, &e))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(Error::Server(format!(
                "{url} answered more than {MAX_BODY_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// How this program will sign in, which decides what it registers.
pub enum Flow {
    Device,
    /// Code + PKCE, redirected to this loopback URL.
    Browser(String),
}

/// The client ID to sign in with: `given` (a URL is a client ID metadata document, which the
/// server must accept; anything else a pre-registered ID), else one registered now (RFC 7591).
pub async fn client_id(
    http: &reqwest::Client,
    metadata: &ServerMetadata,
    given: Option<&str>,
    flow: &Flow,
) -> Result<String> {
    if let Some(given) = given {
        if given.contains("://") && !metadata.client_id_metadata_document_supported {
            return Err(Error::Usage(format!(
                "{} does not accept client ID metadata documents; pass a registered client ID or none",
                metadata.issuer
            )));
        }
        return Ok(given.to_owned());
    }
    let Some(registration) = &metadata.registration_endpoint else {
        return Err(Error::Usage(format!(
            "{} offers no dynamic registration: pass --client-id (a client ID metadata document URL{} or a registered client ID)",
            metadata.issuer,
            if metadata.client_id_metadata_document_supported {
                ", which it accepts,"
            } else {
                ""
            }
        )));
    };
    let mut document = json!({
        "client_name": format!("mcp-tenant on {}", hostname()),
        "token_endpoint_auth_method": "none",
        "software_id": "mcp-tenant",
        "software_version": env!("CARGO_PKG_VERSION"),
    });
    let grant = match flow {
        Flow::Device => json!({"grant_types": [DEVICE_GRANT, "refresh_token"]}),
        Flow::Browser(redirect) => json!({
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "redirect_uris": [redirect],
            "application_type": "native",
        }),
    };
    if let (Some(document), Value::Object(grant)) = (document.as_object_mut(), grant) {
        document.extend(grant);
    }
    let response = http
        .post(registration)
        .json(&document)
        .send_to(registration)
        .await?;
    let answer: Value = oauth_answer(response, registration, "registration").await?;
    answer
        .get("client_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::Server(format!(
                "the registration at {registration} returned no client_id"
            ))
        })
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .or_else(|_| std::env::var("COMPUTERNAME"))
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| {
            name.trim()
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(64)
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "this device".into())
}

/// An OAuth answer: the JSON of a success, or the server's `error` and description as a message.
async fn oauth_answer<T: DeserializeOwned>(response: reqwest::Response, url: &str, what: &str) -> Result<T> {
    let status = response.status();
    let body = read_body(response, url).await?;
    if status.is_success() {
        return serde_json::from_slice(&body)
            .map_err(|e| Error::Server(format!("the {what} answer from {url} is not usable JSON: {e}")));
    }
    let error: OAuthError = serde_json::from_slice(&body).unwrap_or_default();
    Err(Error::Server(format!(
        "the {what} at {url} was refused ({status}): {error}"
    )))
}

#[derive(Debug, Default, Deserialize)]
struct OAuthError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code = if self.error.is_empty() {
            "no OAuth error code"
        } else {
            &self.error
        };
        match &self.error_description {
            Some(description) => write!(f, "{code}: {description}"),
            None => f.write_str(code),
        }
    }
}

#[derive(Deserialize)]
struct Tokens {
    access_token: String,
    #[serde(default)]
    token_type: String,
    expires_in: Option<u64>,
    refresh_token: Option<String>,
    scope: Option<String>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Tokens {
    fn into_sign_in(self, resource: &Url, metadata: &ServerMetadata, client_id: &str) -> Result<SignIn> {
        if !self.token_type.eq_ignore_ascii_case("bearer") {
            return Err(Error::Server(format!(
                "{} issued a {:?} token; only Bearer tokens are supported",
                metadata.issuer, self.token_type
            )));
        }
        Ok(SignIn {
            resource: resource.to_string(),
            issuer: metadata.issuer.clone(),
            token_endpoint: metadata.token_endpoint.clone(),
            revocation_endpoint: metadata.revocation_endpoint.clone(),
            client_id: client_id.to_owned(),
            access_token: self.access_token,
            refresh_token: self.refresh_token,
            expires_at: self.expires_in.map(|secs| now_secs().saturating_add(secs)),
            scope: self.scope,
        })
    }
}

/// Where the user is told to go, and how: on stderr, and in a browser when one can be opened.
pub struct Prompt {
    pub open_browser: bool,
}

impl Prompt {
    fn show(&self, message: &str, url: &str) {
        eprintln!("{message}");
        if self.open_browser && open_browser(url) {
            eprintln!("(a browser window was opened)");
        }
    }
}

/// Opens `url` in the user's browser when there is a desktop to show it on.
fn open_browser(url: &str) -> bool {
    let (program, args): (&str, Vec<&str>) = if cfg!(target_os = "macos") {
        ("open", vec![url])
    } else if cfg!(windows) {
        ("rundll32", vec!["url.dll,FileProtocolHandler", url])
    } else {
        if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
            return false;
        }
        ("xdg-open", vec![url])
    };
    std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_ok()
}

#[derive(Deserialize)]
struct DeviceStart {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: Option<String>,
    expires_in: u64,
    interval: Option<u64>,
}

/// The device authorization grant: shows the code and where to enter it, then polls the token
/// endpoint at the interval the server asks for (longer after each `slow_down`) until the user
/// approves, denies, or the code expires.
pub async fn device_sign_in(
    http: &reqwest::Client,
    metadata: &ServerMetadata,
    resource: &Url,
    client_id: &str,
    scope: Option<&str>,
    prompt: &Prompt,
) -> Result<SignIn> {
    let Some(endpoint) = &metadata.device_authorization_endpoint else {
        return Err(Error::Usage(format!(
            "{} offers no device sign-in; use `mcp-tenant login --browser`",
            metadata.issuer
        )));
    };
    let mut form = vec![("client_id", client_id), ("resource", resource.as_str())];
    form.extend(scope.map(|scope| ("scope", scope)));
    let response = http.post(endpoint).form(&form).send_to(endpoint).await?;
    let start: DeviceStart = oauth_answer(response, endpoint, "device authorization").await?;
    let shown = start
        .verification_uri_complete
        .as_deref()
        .unwrap_or(&start.verification_uri);
    prompt.show(
        &format!(
            "To sign in, open {} and enter the code {}\n(or open {shown})",
            start.verification_uri, start.user_code
        ),
        shown,
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(start.expires_in.min(3600));
    let mut interval = start
        .interval
        .map_or(DEFAULT_INTERVAL, Duration::from_secs)
        .max(Duration::from_secs(1));
    let poll = [
        ("grant_type", DEVICE_GRANT),
        ("device_code", start.device_code.as_str()),
        ("client_id", client_id),
        ("resource", resource.as_str()),
    ];
    let sign_in_error = |reason: &str| Error::SignIn {
        resource: resource.to_string(),
        reason: reason.to_owned(),
    };
    loop {
        if tokio::time::Instant::now() + interval > deadline {
            return Err(sign_in_error("the code expired before it was approved"));
        }
        tokio::time::sleep(interval).await;
        let response = http
            .post(&metadata.token_endpoint)
            .form(&poll)
            .send_to(&metadata.token_endpoint)
            .await?;
        let status = response.status();
        let body = read_body(response, &metadata.token_endpoint).await?;
        if status.is_success() {
            let tokens: Tokens = serde_json::from_slice(&body)
                .map_err(|e| Error::Server(format!("the token answer is not usable JSON: {e}")))?;
            return tokens.into_sign_in(resource, metadata, client_id);
        }
        let error: OAuthError = serde_json::from_slice(&body).unwrap_or_default();
        match error.error.as_str() {
            "authorization_pending" => {}
            "slow_down" => interval += SLOW_DOWN_STEP,
            "access_denied" => return Err(sign_in_error("the sign-in was denied")),
            "expired_token" => return Err(sign_in_error("the code expired before it was approved")),
            _ => {
                return Err(Error::Server(format!(
                    "the token endpoint {} refused the device code ({status}): {error}",
                    metadata.token_endpoint
                )));
            }
        }
    }
}

/// A loopback listener for the browser's redirect, bound before registering its URL.
pub struct Loopback {
    listener: TcpListener,
    pub redirect_uri: String,
}

impl Loopback {
    pub async fn bind() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| {
            Error::Server(format!(
                "cannot listen on 127.0.0.1 for the browser's redirect: {e}"
            ))
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::Server(e.to_string()))?
            .port();
        Ok(Self {
            listener,
            redirect_uri: format!("http://127.0.0.1:{port}/callback"),
        })
    }

    /// Waits for the redirect to `/callback` and answers the browser; its query.
    async fn callback(&self) -> Result<Vec<(String, String)>> {
        loop {
            let (mut socket, _) = self
                .listener
                .accept()
                .await
                .map_err(|e| Error::Server(format!("the browser's redirect: {e}")))?;
            let mut request = vec![0u8; 8192];
            let mut read = 0;
            while read < request.len() && !request[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut request[read..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => read += n,
                }
            }
            let head = String::from_utf8_lossy(&request[..read]);
            let target = head
                .lines()
                .next()
                .and_then(|line| line.strip_prefix("GET "))
                .and_then(|rest| rest.split(' ').next())
                .unwrap_or_default();
            let Some(query) = target.strip_prefix("/callback?") else {
                let _ = socket
                    .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
                continue;
            };
            let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
            let text = if pairs.iter().any(|(k, _)| k == "code") {
                "Signed in. You can close this window and go back to your MCP client."
            } else {
                "The sign-in did not complete. Go back to the terminal for the reason."
            };
            let page = format!("<!doctype html><meta charset=utf-8><title>mcp-tenant</title><p>{text}</p>");
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = socket.write_all(answer.as_bytes()).await;
            return Ok(pairs);
        }
    }
}

/// Authorization code + PKCE (S256) through the user's browser and a loopback redirect.
pub async fn browser_sign_in(
    http: &reqwest::Client,
    metadata: &ServerMetadata,
    resource: &Url,
    client_id: &str,
    scope: Option<&str>,
    loopback: Loopback,
    prompt: &Prompt,
) -> Result<SignIn> {
    let Some(authorize) = &metadata.authorization_endpoint else {
        return Err(Error::Usage(format!(
            "{} offers no browser sign-in; leave out --browser",
            metadata.issuer
        )));
    };
    if !metadata
        .code_challenge_methods_supported
        .iter()
        .any(|m| m == "S256")
    {
        return Err(Error::Server(format!(
            "{} does not support PKCE with S256",
            metadata.issuer
        )));
    }
    let verifier = random_token(32)?;
    let challenge = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ));
    let state = random_token(16)?;
    let mut url = Url::parse(authorize)
        .map_err(|e| Error::Server(format!("authorization_endpoint {authorize}: {e}")))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", &loopback.redirect_uri)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", &state)
        .append_pair("resource", resource.as_str());
    if let Some(scope) = scope {
        url.query_pairs_mut().append_pair("scope", scope);
    }
    prompt.show(&format!("To sign in, open {url}"), url.as_str());
    let pairs = tokio::time::timeout(BROWSER_TIMEOUT, loopback.callback())
        .await
        .map_err(|_| Error::SignIn {
            resource: resource.to_string(),
            reason: format!("no sign-in within {} seconds", BROWSER_TIMEOUT.as_secs()),
        })??;
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let state_matches = get("state").is_some_and(|got| {
        aws_lc_rs::constant_time::verify_slices_are_equal(got.as_bytes(), state.as_bytes()).is_ok()
    });
    if !state_matches {
        return Err(Error::Server(
            "the redirect's state is not this sign-in's; nothing was exchanged".into(),
        ));
    }
    if let Some(iss) = get("iss").or(metadata
        .authorization_response_iss_parameter_supported
        .then_some(""))
        && iss != metadata.issuer
    {
        return Err(Error::Server(format!(
            "the redirect came from the issuer {iss:?}, not {:?} (RFC 9207); nothing was exchanged",
            metadata.issuer
        )));
    }
    if let Some(error) = get("error") {
        let reason = match error {
            "access_denied" => "the sign-in was denied".to_owned(),
            other => format!(
                "the server answered {other}: {}",
                get("error_description").unwrap_or("no description")
            ),
        };
        return Err(Error::SignIn {
            resource: resource.to_string(),
            reason,
        });
    }
    let code = get("code").ok_or_else(|| Error::Server("the redirect carried no code".into()))?;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &loopback.redirect_uri),
        ("client_id", client_id),
        ("code_verifier", &verifier),
        ("resource", resource.as_str()),
    ];
    let response = http
        .post(&metadata.token_endpoint)
        .form(&form)
        .send_to(&metadata.token_endpoint)
        .await?;
    let tokens: Tokens = oauth_answer(response, &metadata.token_endpoint, "code exchange").await?;
    tokens.into_sign_in(resource, metadata, client_id)
}

fn random_token(bytes: usize) -> Result<String> {
    let mut buffer = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buffer).map_err(|_| Error::Server("no system randomness".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(buffer))
}

/// Renews `sign_in` with its refresh token; the answer's new refresh token replaces the old one
/// (rotation). An `invalid_grant` means the sign-in is over (revoked or expired).
pub async fn refresh(http: &reqwest::Client, sign_in: &SignIn) -> Result<SignIn> {
    let over = |reason: String| Error::SignIn {
        resource: sign_in.resource.clone(),
        reason,
    };
    let Some(refresh_token) = &sign_in.refresh_token else {
        return Err(over(
            "the access token expired and there is no refresh token".into(),
        ));
    };
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str()),
        ("client_id", sign_in.client_id.as_str()),
        ("resource", sign_in.resource.as_str()),
    ];
    let url = &sign_in.token_endpoint;
    let response = http.post(url).form(&form).send_to(url).await?;
    let status = response.status();
    let body = read_body(response, url).await?;
    if !status.is_success() {
        let error: OAuthError = serde_json::from_slice(&body).unwrap_or_default();
        return Err(match error.error.as_str() {
            "invalid_grant" | "invalid_client" | "unauthorized_client" => {
                over(format!("the sign-in has ended ({error})"))
            }
            _ => Error::Server(format!(
                "the token endpoint {url} refused the refresh ({status}): {error}"
            )),
        });
    }
    let tokens: Tokens = serde_json::from_slice(&body)
        .map_err(|e| Error::Server(format!("the refresh answer from {url} is not usable JSON: {e}")))?;
    let kept = sign_in.refresh_token.clone();
    let metadata = ServerMetadata {
        issuer: sign_in.issuer.clone(),
        authorization_endpoint: None,
        token_endpoint: sign_in.token_endpoint.clone(),
        registration_endpoint: None,
        revocation_endpoint: sign_in.revocation_endpoint.clone(),
        device_authorization_endpoint: None,
        client_id_metadata_document_supported: false,
        code_challenge_methods_supported: Vec::new(),
        authorization_response_iss_parameter_supported: false,
    };
    let resource = Url::parse(&sign_in.resource).map_err(|e| Error::Store(e.to_string()))?;
    let mut renewed = tokens.into_sign_in(&resource, &metadata, &sign_in.client_id)?;
    // A server that does not rotate keeps the old refresh token valid.
    if renewed.refresh_token.is_none() {
        renewed.refresh_token = kept;
    }
    renewed.scope = renewed.scope.or_else(|| sign_in.scope.clone());
    Ok(renewed)
}

/// Revokes the refresh token (which ends the grant) and the access token (RFC 7009).
pub async fn revoke(http: &reqwest::Client, sign_in: &SignIn) -> Result<()> {
    let Some(url) = &sign_in.revocation_endpoint else {
        return Err(Error::Server(format!(
            "{} offers no revocation endpoint",
            sign_in.issuer
        )));
    };
    let tokens = sign_in
        .refresh_token
        .iter()
        .map(|token| (token, "refresh_token"))
        .chain([(&sign_in.access_token, "access_token")]);
    for (token, hint) in tokens {
        let form = [
            ("token", token.as_str()),
            ("token_type_hint", hint),
            ("client_id", sign_in.client_id.as_str()),
        ];
        let response = http.post(url).form(&form).send_to(url).await?;
        if !response.status().is_success() {
            let status = response.status();
            let error: OAuthError =
                serde_json::from_slice(&read_body(response, url).await?).unwrap_or_default();
            return Err(Error::Server(format!(
                "{url} refused to revoke the {hint} ({status}): {error}"
            )));
        }
    }
    Ok(())
}

/// Whether `sign_in`'s access token is past, or within [`RENEW_BEFORE_SECS`] of, its expiry.
pub fn expiring(sign_in: &SignIn) -> bool {
    sign_in
        .expires_at
        .is_some_and(|at| at <= now_secs() + RENEW_BEFORE_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_https_or_loopback_http() {
        assert!(endpoint("https://contoso.mcp.example.com/mcp").is_ok());
        assert!(endpoint("http://127.0.0.1:8080/mcp").is_ok());
        assert!(endpoint("http://localhost:8080/mcp").is_ok());
        assert!(endpoint("http://[::1]:8080/mcp").is_ok());
        for (bad, says) in [
            ("http://contoso.example.com/mcp", "only sent over https"),
            ("ftp://contoso.example.com/mcp", "must be https, not ftp"),
            ("https://user:pw@contoso.example.com/mcp", "no user name"),
            ("https://contoso.example.com/mcp#x", "#fragment"),
            ("contoso", "is not a URL"),
        ] {
            let error = endpoint(bad).unwrap_err().to_string();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }

    #[test]
    fn challenges_are_parsed_with_quotes_escapes_and_order() {
        let header = r#"Bearer error="invalid_token", resource_metadata="https://a.example/.well-known/oauth-protected-resource/mcp", error_description="a \"quoted\" word""#;
        assert_eq!(
            challenge_param(header, "resource_metadata").as_deref(),
            Some("https://a.example/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(
            challenge_param(header, "error_description").as_deref(),
            Some(r#"a "quoted" word"#)
        );
        assert_eq!(
            challenge_param("Bearer realm=x, scope=mcp", "scope").as_deref(),
            Some("mcp")
        );
        assert_eq!(challenge_param("Basic realm=x", "realm"), None);
        assert_eq!(
            challenge_param("Bearer resource_metadata=\"unterminated", "resource_metadata").as_deref(),
            Some("unterminated")
        );
        assert_eq!(challenge_param("Bearer", "x"), None);
    }

    #[test]
    fn well_known_urls_insert_before_the_path() {
        let at = |u: &str, name: &str| well_known(&Url::parse(u).unwrap(), name).to_string();
        assert_eq!(
            at("https://a.example/mcp", "oauth-protected-resource"),
            "https://a.example/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            at("https://a.example", "oauth-authorization-server"),
            "https://a.example/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            at("https://a.example/tenant/", "oauth-authorization-server"),
            "https://a.example/.well-known/oauth-authorization-server/tenant"
        );
    }

    /// A scripted authorization server on 127.0.0.1: its metadata, a device endpoint that asks
    /// for 1 s polls, and a token endpoint that answers `polls` in turn, recording when.
    async fn scripted(
        polls: Vec<&'static str>,
    ) -> (
        ServerMetadata,
        std::sync::Arc<std::sync::Mutex<Vec<std::time::Instant>>>,
    ) {
        use axum::{Json, Router, http::StatusCode, routing::post};
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let answers = std::sync::Arc::new(std::sync::Mutex::new(polls.into_iter()));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let record = seen.clone();
        let app = Router::new()
            .route(
                "/device",
                post(|| async {
                    Json(json!({"device_code": "dc", "user_code": "ABCD-EFGH", "verification_uri": "http://127.0.0.1/device",
                        "expires_in": 60, "interval": 1}))
                }),
            )
            .route(
                "/token",
                post(move || {
                    let record = record.clone();
                    let answers = answers.clone();
                    async move {
                        record.lock().unwrap().push(std::time::Instant::now());
                        let error = answers.lock().unwrap().next().unwrap_or("expired_token");
                        (StatusCode::BAD_REQUEST, Json(json!({"error": error})))
                    }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let metadata = ServerMetadata {
            issuer: base.clone(),
            authorization_endpoint: None,
            token_endpoint: format!("{base}/token"),
            registration_endpoint: None,
            revocation_endpoint: None,
            device_authorization_endpoint: Some(format!("{base}/device")),
            client_id_metadata_document_supported: false,
            code_challenge_methods_supported: Vec::new(),
            authorization_response_iss_parameter_supported: false,
        };
        (metadata, seen)
    }

    #[tokio::test]
    async fn a_client_id_url_needs_a_server_that_accepts_metadata_documents() {
        let http = reqwest::Client::new();
        let (mut metadata, _) = scripted(Vec::new()).await;
        let document = "https://example.com/mcp-tenant.json";
        let error = client_id(&http, &metadata, Some(document), &Flow::Device)
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Usage(_)), "{error}");
        assert!(
            error
                .to_string()
                .contains("does not accept client ID metadata documents"),
            "{error}"
        );
        // A registered ID is used as given; with no registration endpoint, none is asked for.
        assert_eq!(
            client_id(&http, &metadata, Some("mcp_abc"), &Flow::Device)
                .await
                .unwrap(),
            "mcp_abc"
        );
        let error = client_id(&http, &metadata, None, &Flow::Device)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("offers no dynamic registration"),
            "{error}"
        );
        metadata.client_id_metadata_document_supported = true;
        assert_eq!(
            client_id(&http, &metadata, Some(document), &Flow::Device)
                .await
                .unwrap(),
            document
        );
    }

    #[tokio::test]
    async fn device_polling_honours_slow_down_and_ends_on_expiry_or_denial() {
        let resource = Url::parse("http://127.0.0.1:1/mcp").unwrap();
        let prompt = Prompt { open_browser: false };
        let http = reqwest::Client::new();
        let (metadata, seen) = scripted(vec!["authorization_pending", "slow_down", "expired_token"]).await;
        let error = device_sign_in(&http, &metadata, &resource, "client", None, &prompt)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, Error::SignIn { reason, .. } if reason.contains("expired")),
            "{error}"
        );
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 3);
        assert!(
            seen[1] - seen[0] >= Duration::from_secs(1),
            "the server's interval"
        );
        assert!(
            seen[2] - seen[1] >= Duration::from_secs(6),
            "slow_down adds 5 s: {:?}",
            seen[2] - seen[1]
        );

        let (metadata, _) = scripted(vec!["access_denied"]).await;
        let error = device_sign_in(&http, &metadata, &resource, "client", None, &prompt)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("the sign-in was denied"), "{error}");
        assert_eq!(error.exit_code(), std::process::ExitCode::from(3));
        let (metadata, _) = scripted(vec!["invalid_client"]).await;
        let error = device_sign_in(&http, &metadata, &resource, "client", None, &prompt)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("refused the device code")
                && error.to_string().contains("invalid_client"),
            "{error}"
        );
    }

    /// An MCP endpoint at `/mcp` that challenges with its resource metadata, which names
    /// `resource` and this server as the issuer, whose metadata names `issuer`.
    async fn fake_mcp(resource: Option<&'static str>, issuer: Option<&'static str>) -> Url {
        use axum::{
            Json, Router,
            http::StatusCode,
            routing::{get, post},
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (b1, b2, b3) = (base.clone(), base.clone(), base.clone());
        let app = Router::new()
            .route(
                "/mcp",
                post(move || async move {
                    let challenge =
                        format!("Bearer resource_metadata=\"{b1}/.well-known/oauth-protected-resource/mcp\"");
                    (StatusCode::UNAUTHORIZED, [("www-authenticate", challenge)])
                }),
            )
            .route(
                "/.well-known/oauth-protected-resource/mcp",
                get(move || async move {
                    let named = resource.map_or(format!("{b2}/mcp"), str::to_owned);
                    Json(json!({"resource": named, "authorization_servers": [b2]}))
                }),
            )
            .route(
                "/.well-known/oauth-authorization-server",
                get(move || async move {
                    let named = issuer.map_or(b3.clone(), str::to_owned);
                    Json(json!({"issuer": named, "token_endpoint": format!("{b3}/token")}))
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Url::parse(&format!("{base}/mcp")).unwrap()
    }

    #[tokio::test]
    async fn discovery_checks_that_each_document_names_what_it_belongs_to() {
        let http = reqwest::Client::new();
        let url = fake_mcp(None, None).await;
        let metadata = discover(&http, &url).await.unwrap();
        assert_eq!(
            metadata.token_endpoint,
            format!("{}token", url.join("/").unwrap())
        );

        let url = fake_mcp(Some("https://elsewhere.example/mcp"), None).await;
        let error = discover(&http, &url).await.unwrap_err().to_string();
        assert!(
            error.contains("is not an MCP server") && error.contains("elsewhere.example"),
            "{error}"
        );

        let url = fake_mcp(None, Some("https://evil.example")).await;
        let error = discover(&http, &url).await.unwrap_err().to_string();
        assert!(
            error.contains("names the issuer \"https://evil.example\""),
            "{error}"
        );
    }
}
