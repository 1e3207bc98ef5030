//! The authorization endpoints: metadata (RFC 8414), registration (RFC 7591), authorize with
//! upstream sign-in and consent (OAuth 2.1 code + PKCE S256, RFC 9207 `iss`), token (code,
//! refresh with rotation and reuse detection, device code, client credentials), device
//! authorization (RFC 8628) and revocation (RFC 7009).

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use axum::{
    Form, Json,
    body::Bytes,
    extract::{
        ConnectInfo, Query, Request, State,
        rejection::{BytesRejection, FormRejection},
    },
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use url::Url;

use super::{
    OAuthError,
    clients::{Client, ClientKind, GrantType},
    device::new_user_code,
    grants::{
        ClientRequest, Code, Consent, DEVICE_INTERVAL_SECS, DEVICE_TTL, Device, DeviceStatus, Pending,
        Redemption, digest,
    },
    pages::{self, ConsentView},
    pkce_s256, random_token,
    server::{AuthServer, SCOPES, grant_error},
    upstream::{UpstreamError, UpstreamRequest},
};
use crate::{
    audit, authz,
    caller::Caller,
    clock::{now_millis, now_secs},
    crypto::constant_time_eq,
    http::errors::UNAVAILABLE_RETRY_AFTER_SECS,
    http::protect::client_ip,
    ratelimit::{Refusal, retry_after_secs},
    tools::registry::ToolRegistry,
};

type Params = HashMap<String, String>;

/// Cookie binding a sign-in to the browser that started it.
const FLOW_COOKIE: &str = "mcp_flow";

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

/// The form of a token, device or revocation request; a body that is not one (wrong media
/// type, too large, unreadable) is an OAuth error in JSON like any other (RFC 6749 §5.2), with
/// the rejection's status.
fn form_params(form: Result<Form<Params>, FormRejection>) -> Result<Params, OAuthError> {
    form.map(|Form(params)| params).map_err(|rejection| OAuthError {
        status: rejection.status(),
        ..OAuthError::invalid_request(format!(
            "the request body must be an application/x-www-form-urlencoded form of at most {} KiB: {}",
            super::MAX_BODY_BYTES / 1024,
            rejection.body_text()
        ))
    })
}

fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, OAuthError> {
    param(params, name).ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
}

/// Per-IP limit (`limits.auth`) on the endpoints where guessing or flooding is possible:
/// registration, authorize, device authorization, device code entry, revocation and the token
/// endpoint (but for refresh and device polling, which carry an unguessable token and are paced
/// by expiry and `slow_down`). 429 with Retry-After. Every failure of every endpoint is audited.
pub async fn rate_limit(State(server): State<Arc<AuthServer>>, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let ip = client_ip(peer, request.headers(), &server.trusted_proxies);
    let path = request.uri().path().to_owned();
    let limited = request.method() == http::Method::POST
        && matches!(
            path.as_str(),
            "/oauth/register" | "/oauth/device_authorization" | "/device" | "/oauth/revoke"
        )
        || path == "/oauth/authorize";
    if limited && let Err(wait) = server.limiter.check(&ip).await {
        return too_many(&server, &path, &ip, wait);
    }
    let mut request = request;
    request.extensions_mut().insert(ClientIp(ip.clone()));
    let response = next.run(request).await;
    if response.status().is_client_error() || response.status().is_server_error() {
        audit::oauth_failure(
            &server.config.tenant.name,
            &path,
            response.status().as_str(),
            None,
            &ip,
        );
    }
    response
}

/// The client address the rate limit saw, for the token endpoint's own check.
#[derive(Clone)]
pub struct ClientIp(pub(super) String);

/// The answer when `limits.auth` refuses: 429 over the limit, 503 while the shared buckets are
/// unreachable (the limit fails closed); both say when to retry.
pub(super) fn too_many(server: &AuthServer, path: &str, ip: &str, refusal: Refusal) -> Response {
    let (reason, mut response, wait) = match refusal {
        Refusal::Wait(wait) => {
            let error = OAuthError::new(
                "slow_down",
                "too many authorization requests from this address; retry later",
            );
            let mut response = error.into_response();
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            ("rate_limited", response, wait)
        }
        Refusal::Unavailable => {
            let error = OAuthError::unavailable("the rate limit's shared store is unreachable; retry later");
            let wait = std::time::Duration::from_secs(UNAVAILABLE_RETRY_AFTER_SECS);
            ("rate_limit_unavailable", error.into_response(), wait)
        }
    };
    audit::oauth_failure(&server.config.tenant.name, path, reason, None, ip);
    if let Ok(value) = HeaderValue::from_str(&retry_after_secs(wait).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// RFC 8414 metadata, also served as OpenID discovery for clients that look there.
pub async fn metadata(State(server): State<Arc<AuthServer>>) -> Json<Value> {
    let url = |path: &str| server.url(path);
    Json(json!({
        "issuer": server.issuer(),
        "authorization_endpoint": url("/oauth/authorize"),
        "token_endpoint": url("/oauth/token"),
        "registration_endpoint": url("/oauth/register"),
        "revocation_endpoint": url("/oauth/revoke"),
        "device_authorization_endpoint": url("/oauth/device_authorization"),
        "jwks_uri": url("/oauth/jwks.json"),
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [
            "authorization_code", "refresh_token", "client_credentials",
            "urn:ietf:params:oauth:grant-type:device_code"
        ],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": true,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "resource_indicators_supported": true,
    }))
}

pub async fn jwks(State(server): State<Arc<AuthServer>>) -> Response {
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        )],
        Json(server.keys.jwks()),
    )
        .into_response()
}

pub async fn register(
    State(server): State<Arc<AuthServer>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // Too large or unreadable: an RFC 7591 error in JSON, with the rejection's status.
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            return OAuthError {
                status: rejection.status(),
                ..OAuthError::new(
                    "invalid_client_metadata",
                    format!(
                        "the registration must be a JSON document of at most {} KiB: {}",
                        super::MAX_BODY_BYTES / 1024,
                        rejection.body_text()
                    ),
                )
            }
            .into_response();
        }
    };
    match server.clients.register(&body).await {
        Ok(registered) => (
            StatusCode::CREATED,
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Json(registered),
        )
            .into_response(),
        Err(error) => OAuthError::new(error.code(), error.to_string()).into_response(),
    }
}

/// The value of the cookie `name`, when it has the length of a [`random_token`].
pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(name)?.strip_prefix('=').map(str::to_owned))
        .filter(|v| (32..=64).contains(&v.len()))
}

/// A `Set-Cookie` for `name`: HttpOnly, SameSite=Lax, Secure on https; `Max-Age=0` ends it.
pub(super) fn set_cookie(
    server: &AuthServer,
    name: &str,
    value: &str,
    path: &str,
    max_age_secs: u64,
) -> Result<HeaderValue, OAuthError> {
    let secure = if server.config.server.public_url.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    ))
    .map_err(|_| OAuthError::server_error("cookie"))
}

/// The browser's flow cookie, set anew when absent.
fn browser(server: &AuthServer, headers: &HeaderMap) -> Result<(String, Option<HeaderValue>), OAuthError> {
    if let Some(value) = cookie(headers, FLOW_COOKIE) {
        return Ok((value, None));
    }
    let value = random_token()?;
    let header = set_cookie(server, FLOW_COOKIE, &value, "/", 900)?;
    Ok((value, Some(header)))
}

fn same_browser(headers: &HeaderMap, expected_hash: &str) -> bool {
    cookie(headers, FLOW_COOKIE)
        .is_some_and(|c| constant_time_eq(digest(&c).as_bytes(), expected_hash.as_bytes()))
}

/// Redirects the browser to the upstream sign-in for `request` (a client's, or none: the
/// account page's).
pub(super) async fn sign_in_upstream(
    server: &AuthServer,
    headers: &HeaderMap,
    request: Option<ClientRequest>,
) -> Response {
    let result = async {
        let (cookie, set_cookie) = browser(server, headers)?;
        let upstream = UpstreamRequest::new(server.callback_url())
            .map_err(|e| OAuthError::server_error(e.to_string()))?;
        let url = server
            .upstream
            .authorization_url(&upstream)
            .await
            .map_err(|e| OAuthError::unavailable(e.to_string()))?;
        server
            .grants
            .put_pending(&Pending {
                request,
                upstream,
                browser: digest(&cookie),
            })
            .await
            .map_err(grant_error)?;
        let mut response = Redirect::to(url.as_str()).into_response();
        if let Some(value) = set_cookie {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
        Ok::<_, OAuthError>(response)
    }
    .await;
    result.unwrap_or_else(|e| pages::error(e.status, &e.description))
}

/// The client's redirect URI with `params` added (and RFC 9207 `iss`).
fn back_to_client(server: &AuthServer, redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    match Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (k, v) in params {
                    query.append_pair(k, v);
                }
                query.append_pair("iss", server.issuer());
            }
            let mut response = Redirect::to(url.as_str()).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(_) => pages::error(StatusCode::BAD_REQUEST, "the redirect URI is not a URL"),
    }
}

fn redirect_error(
    server: &AuthServer,
    redirect_uri: &str,
    state: Option<&str>,
    error: &OAuthError,
) -> Response {
    let mut params = vec![
        ("error", error.code),
        ("error_description", error.description.as_str()),
    ];
    if let Some(state) = state {
        params.push(("state", state));
    }
    back_to_client(server, redirect_uri, &params)
}

/// `GET /oauth/authorize`.
pub async fn authorize(
    State(server): State<Arc<AuthServer>>,
    headers: HeaderMap,
    Query(params): Query<Params>,
) -> Response {
    // Until client and redirect URI are known good, errors go on a page, never to the URI.
    let Some(client_id) = param(&params, "client_id") else {
        return pages::error(StatusCode::BAD_REQUEST, "client_id is required");
    };
    let client = match server.clients.resolve(client_id).await {
        Ok(client) => client,
        Err(error) => return pages::error(StatusCode::BAD_REQUEST, &format!("client_id: {error}")),
    };
    let Some(redirect_uri) = param(&params, "redirect_uri") else {
        return pages::error(StatusCode::BAD_REQUEST, "redirect_uri is required");
    };
    if !client.redirect_uri_allowed(redirect_uri) {
        return pages::error(
            StatusCode::BAD_REQUEST,
            &format!("redirect_uri {redirect_uri:?} is not registered for client {client_id:?}"),
        );
    }
    let state = param(&params, "state");
    match check_authorize(&server, &client, &params) {
        Ok(request) => {
            let request = ClientRequest {
                redirect_uri: Some(redirect_uri.to_owned()),
                state: state.map(str::to_owned),
                ..request
            };
            sign_in_upstream(&server, &headers, Some(request)).await
        }
        Err(error) => redirect_error(&server, redirect_uri, state, &error),
    }
}

fn check_authorize(
    server: &AuthServer,
    client: &Client,
    params: &Params,
) -> Result<ClientRequest, OAuthError> {
    match param(params, "response_type") {
        Some("code") => {}
        Some(other) => {
            return Err(OAuthError::new(
                "unsupported_response_type",
                format!("response_type {other:?}: only code"),
            ));
        }
        None => return Err(OAuthError::invalid_request("response_type is required")),
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(OAuthError::new(
            "unauthorized_client",
            "this client is not registered for authorization_code",
        ));
    }
    let challenge = param(params, "code_challenge")
        .ok_or_else(|| OAuthError::invalid_request("code_challenge is required (PKCE, S256)"))?;
    match param(params, "code_challenge_method") {
        Some("S256") => {}
        Some(other) => {
            return Err(OAuthError::invalid_request(format!(
                "code_challenge_method {other:?}: only S256"
            )));
        }
        None => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method is required: S256",
            ));
        }
    }
    if challenge.len() != 43
        || !challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(OAuthError::invalid_request(
            "code_challenge must be the base64url SHA-256 of the verifier (43 characters)",
        ));
    }
    Ok(ClientRequest {
        client_id: client.client_id.clone(),
        client_name: client.name.clone(),
        redirect_uri: None,
        state: None,
        code_challenge: Some(challenge.to_owned()),
        resource: server.resource(param(params, "resource"))?,
        scope: AuthServer::scope(param(params, "scope"))?,
        device: None,
    })
}

/// The tools a signed-in user would reach, for the consent page.
fn tools_for(
    server: &AuthServer,
    registry: &ToolRegistry,
    identity: &super::upstream::UpstreamIdentity,
) -> Vec<&'static str> {
    let mut caller = Caller {
        subject: identity.subject.clone(),
        object_id: identity.object_id.clone(),
        tenant_id: identity.tenant_id.clone(),
        name: identity.name.clone(),
        client_id: None,
        roles: identity.roles.clone(),
        mfa: identity.amr.iter().any(|m| m == "mfa"),
        service_account: None,
        tiers: Vec::new(),
        assertion: None,
        grant_id: None,
    };
    caller.tiers = authz::tiers_of(&caller, &server.config.access);
    registry
        .iter()
        .map(|tool| tool.definition().name)
        .filter(|name| authz::decide(&caller, &server.config.access, name).verdict != authz::Verdict::Denied)
        .collect()
}

/// `GET /oauth/callback`: the upstream sends the user back; the consent page follows.
pub async fn callback(
    State((server, registry)): State<(Arc<AuthServer>, Arc<ToolRegistry>)>,
    headers: HeaderMap,
    Query(params): Query<Params>,
) -> Response {
    let Some(state) = param(&params, "state") else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "state is missing from the sign-in response",
        );
    };
    let pending = match server.grants.take_pending(state).await {
        Ok(Some(pending)) => pending,
        Ok(None) => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "this sign-in has expired or was already used; start again",
            );
        }
        Err(e) => return pages::error(StatusCode::SERVICE_UNAVAILABLE, &grant_error(e).description),
    };
    if !same_browser(&headers, &pending.browser) {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "this sign-in was started in another browser; start again",
        );
    }
    let request = pending.request.as_ref();
    let fail = |error: OAuthError| match request.and_then(|r| r.redirect_uri.as_deref()) {
        Some(uri) => redirect_error(&server, uri, request.and_then(|r| r.state.as_deref()), &error),
        None => pages::error(error.status, &error.description),
    };
    if let Some(error) = param(&params, "error") {
        let description = param(&params, "error_description").unwrap_or("the sign-in was not completed");
        return fail(OAuthError::new(
            "access_denied",
            format!("upstream sign-in: {error}: {description}"),
        ));
    }
    let Some(code) = param(&params, "code") else {
        return fail(OAuthError::invalid_request("the sign-in response has no code"));
    };
    let signed_in = match server.upstream.redeem(code, &pending.upstream).await {
        Ok(signed_in) => signed_in,
        Err(UpstreamError::Unavailable(message)) => return fail(OAuthError::unavailable(message)),
        Err(error) => return fail(OAuthError::new("access_denied", error.to_string())),
    };
    let Some(request) = request else {
        // The account page: who signed in is all it needs; the upstream tokens are dropped.
        return super::account::start_session(&server, signed_in.identity).await;
    };
    let result = async {
        let id = random_token()?;
        let sealed_tokens = server
            .grants
            .seal(&super::grants::Grants::consent_key(&id), &signed_in.tokens)
            .map_err(grant_error)?;
        let consent = Consent {
            request: request.clone(),
            identity: signed_in.identity.clone(),
            sealed_tokens,
            browser: pending.browser.clone(),
        };
        server
            .grants
            .put_consent(&id, &consent)
            .await
            .map_err(grant_error)?;
        Ok::<_, OAuthError>((id, consent))
    }
    .await;
    let (id, consent) = match result {
        Ok(pair) => pair,
        Err(error) => return fail(error),
    };
    let destination = match &consent.request.redirect_uri {
        Some(uri) => Client::redirect_host(uri).unwrap_or_else(|| uri.clone()),
        None => "the device that showed you the code".to_owned(),
    };
    let identity = &consent.identity;
    let user = identity
        .username
        .clone()
        .or_else(|| identity.name.clone())
        .unwrap_or_else(|| identity.subject.clone());
    let tenant = server
        .config
        .tenant
        .display_name
        .clone()
        .unwrap_or_else(|| server.config.tenant.name.clone());
    let tools = tools_for(&server, &registry, identity);
    pages::consent(&ConsentView {
        consent_id: &id,
        client: consent
            .request
            .client_name
            .as_deref()
            .unwrap_or(&consent.request.client_id),
        client_id: &consent.request.client_id,
        destination: &destination,
        user: &user,
        tenant: &tenant,
        tools: &tools,
    })
}

/// `POST /oauth/consent`: the user allows or denies.
pub async fn consent(
    State(server): State<Arc<AuthServer>>,
    headers: HeaderMap,
    Form(params): Form<Params>,
) -> Response {
    let Some(id) = param(&params, "consent") else {
        return pages::error(StatusCode::BAD_REQUEST, "consent is required");
    };
    let consent = match server.grants.take_consent(id).await {
        Ok(Some(consent)) => consent,
        Ok(None) => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "this consent has expired or was already answered",
            );
        }
        Err(e) => return pages::error(StatusCode::SERVICE_UNAVAILABLE, &grant_error(e).description),
    };
    if !same_browser(&headers, &consent.browser) {
        return pages::error(StatusCode::BAD_REQUEST, "this consent belongs to another browser");
    }
    let approved = param(&params, "decision") == Some("approve");
    let request = &consent.request;
    if let Some(device) = &request.device {
        return answer_device(&server, id, &consent, device, approved).await;
    }
    let (Some(redirect_uri), Some(challenge)) = (&request.redirect_uri, &request.code_challenge) else {
        return pages::error(StatusCode::BAD_REQUEST, "this consent has no client to answer");
    };
    if !approved {
        let error = OAuthError::new("access_denied", "the user denied the request");
        return redirect_error(&server, redirect_uri, request.state.as_deref(), &error);
    }
    let issued = async {
        let grant_id = random_token()?;
        let grant = server
            .grants
            .create_grant(id, &consent, &grant_id, "browser")
            .await
            .map_err(grant_error)?;
        let code = random_token()?;
        server
            .grants
            .put_code(
                &code,
                &Code {
                    grant_id: grant.id,
                    client_id: request.client_id.clone(),
                    redirect_uri: redirect_uri.clone(),
                    code_challenge: challenge.clone(),
                    resource: request.resource.clone(),
                },
            )
            .await
            .map_err(grant_error)?;
        Ok::<_, OAuthError>(code)
    }
    .await;
    match issued {
        Ok(code) => {
            let mut params = vec![("code", code.as_str())];
            if let Some(state) = &request.state {
                params.push(("state", state));
            }
            back_to_client(&server, redirect_uri, &params)
        }
        Err(error) => redirect_error(&server, redirect_uri, request.state.as_deref(), &error),
    }
}

async fn answer_device(
    server: &AuthServer,
    consent_id: &str,
    consent: &Consent,
    hash: &str,
    approved: bool,
) -> Response {
    let result = async {
        let Some(mut device) = server.grants.device(hash).await.map_err(grant_error)? else {
            return Ok(pages::error(
                StatusCode::BAD_REQUEST,
                "this device code has expired; start again on the device",
            ));
        };
        if approved {
            let grant_id = random_token()?;
            server
                .grants
                .create_grant(consent_id, consent, &grant_id, "device")
                .await
                .map_err(grant_error)?;
            device.status = DeviceStatus::Approved;
            device.grant_id = Some(grant_id);
        } else {
            device.status = DeviceStatus::Denied;
        }
        server
            .grants
            .update_device(hash, &device)
            .await
            .map_err(grant_error)?;
        Ok::<_, OAuthError>(if approved {
            pages::done(
                "Device connected",
                "You can close this page and return to your device.",
            )
        } else {
            pages::done("Request denied", "The device was not given access.")
        })
    }
    .await;
    result.unwrap_or_else(|e| pages::error(e.status, &e.description))
}

/// Client authentication at the token, device and revocation endpoints: HTTP Basic, or
/// `client_id` (+ `client_secret`) in the form.
async fn authenticate_client(
    server: &AuthServer,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Client, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")));
    let (client_id, secret) = match basic {
        Some(encoded) => {
            let decoded = STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .ok_or_else(|| {
                    OAuthError::invalid_client("the Basic credentials are not base64 of id:secret")
                })?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| OAuthError::invalid_client("the Basic credentials are not id:secret"))?;
            let id = form_urlencoded_decode(id);
            if param(params, "client_id").is_some_and(|form_id| form_id != id) {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the Basic credentials",
                ));
            }
            (id, Some(form_urlencoded_decode(secret)))
        }
        None => (
            required(params, "client_id")?.to_owned(),
            param(params, "client_secret").map(str::to_owned),
        ),
    };
    let client = server
        .clients
        .resolve(&client_id)
        .await
        .map_err(|e| OAuthError::new(e.code(), e.to_string()))?;
    client
        .authenticate(secret.as_deref())
        .map_err(|e| OAuthError::invalid_client(e.to_string()))?;
    Ok(client)
}

/// RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64.
fn form_urlencoded_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn token_response(body: Value) -> Response {
    (
        [
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::PRAGMA, HeaderValue::from_static("no-cache")),
        ],
        Json(body),
    )
        .into_response()
}

/// `POST /oauth/token`.
pub async fn token(
    State(server): State<Arc<AuthServer>>,
    ip: Option<axum::Extension<ClientIp>>,
    headers: HeaderMap,
    form: Result<Form<Params>, FormRejection>,
) -> Response {
    let params = match form_params(form) {
        Ok(params) => params,
        Err(error) => return error.into_response(),
    };
    let paced = matches!(
        param(&params, "grant_type"),
        Some("refresh_token" | "urn:ietf:params:oauth:grant-type:device_code")
    );
    if !paced
        && let Some(axum::Extension(ClientIp(ip))) = &ip
        && let Err(wait) = server.limiter.check(ip).await
    {
        return too_many(&server, "/oauth/token", ip, wait);
    }
    match token_grant(&server, &headers, &params).await {
        Ok(body) => token_response(body),
        Err(error) => error.into_response(),
    }
}

async fn token_grant(server: &AuthServer, headers: &HeaderMap, params: &Params) -> Result<Value, OAuthError> {
    let grant_type = required(params, "grant_type")?;
    let grant = GrantType::parse(grant_type).ok_or_else(|| {
        OAuthError::new(
            "unsupported_grant_type",
            format!("grant_type {grant_type:?} is not supported"),
        )
    })?;
    let client = authenticate_client(server, headers, params).await?;
    if !client.allows(grant) {
        return Err(OAuthError::new(
            "unauthorized_client",
            format!("client {:?} may not use {}", client.client_id, grant.as_str()),
        ));
    }
    match grant {
        GrantType::AuthorizationCode => code_grant(server, &client, params).await,
        GrantType::RefreshToken => refresh_grant(server, &client, params).await,
        GrantType::DeviceCode => device_grant(server, &client, params).await,
        GrantType::ClientCredentials => {
            if client.kind != ClientKind::ServiceAccount {
                return Err(OAuthError::new(
                    "unauthorized_client",
                    "client_credentials is for service accounts",
                ));
            }
            let resource = server.resource(param(params, "resource"))?;
            let scope = AuthServer::scope(param(params, "scope").or(Some("mcp")))?;
            Ok(server
                .issue_for_service_account(&client.client_id, &resource, &scope)?
                .body)
        }
    }
}

async fn code_grant(server: &AuthServer, client: &Client, params: &Params) -> Result<Value, OAuthError> {
    let code = required(params, "code")?;
    let verifier = required(params, "code_verifier")
        .map_err(|_| OAuthError::invalid_request("code_verifier is required (PKCE)"))?;
    let record = server
        .grants
        .take_code(code)
        .await
        .map_err(grant_error)?
        .ok_or_else(|| OAuthError::invalid_grant("the code is unknown, expired or already used"))?;
    if record.client_id != client.client_id {
        return Err(OAuthError::invalid_grant("the code was issued to another client"));
    }
    if param(params, "redirect_uri") != Some(record.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    if !(43..=128).contains(&verifier.len())
        || !constant_time_eq(pkce_s256(verifier).as_bytes(), record.code_challenge.as_bytes())
    {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    if let Some(resource) = param(params, "resource")
        && resource != record.resource
    {
        return Err(OAuthError::new(
            "invalid_target",
            "resource differs from the authorization request",
        ));
    }
    let mut grant = server
        .grants
        .grant(&record.grant_id)
        .await
        .map_err(grant_error)?
        .ok_or_else(|| OAuthError::invalid_grant("the grant of this code was revoked"))?;
    server.grants.touch_grant(&mut grant).await.map_err(grant_error)?;
    Ok(server.issue_for_grant(&grant, &record.resource).await?.body)
}

async fn refresh_grant(server: &AuthServer, client: &Client, params: &Params) -> Result<Value, OAuthError> {
    let token = required(params, "refresh_token")?;
    let record = match server
        .grants
        .redeem_refresh(token, &client.client_id)
        .await
        .map_err(grant_error)?
    {
        Redemption::Redeemed(record) => record,
        Redemption::Reused(grant_id) => {
            // A used refresh token again: someone holds a copy. End the whole grant.
            if let Some(grant) = server.grants.grant(&grant_id).await.map_err(grant_error)? {
                server
                    .grants
                    .revoke(&grant, "reuse", "")
                    .await
                    .map_err(grant_error)?;
            }
            tracing::warn!(client = %client.client_id, "refresh token reused: grant revoked");
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; the grant is revoked, sign in again",
            ));
        }
        Redemption::OtherClient => {
            return Err(OAuthError::invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        Redemption::Unknown => {
            return Err(OAuthError::invalid_grant(
                "the refresh token is unknown, expired or revoked",
            ));
        }
    };
    let mut grant = server
        .grants
        .grant(&record.grant_id)
        .await
        .map_err(grant_error)?
        .ok_or_else(|| OAuthError::invalid_grant("the grant of this refresh token was revoked"))?;
    let resource = match param(params, "resource") {
        Some(resource) => server.resource(Some(resource))?,
        None => grant.resource.clone(),
    };
    server.grants.touch_grant(&mut grant).await.map_err(grant_error)?;
    Ok(server.issue_for_grant(&grant, &resource).await?.body)
}

async fn device_grant(server: &AuthServer, client: &Client, params: &Params) -> Result<Value, OAuthError> {
    let device_code = required(params, "device_code")?;
    let hash = digest(device_code);
    let Some(mut device) = server.grants.device(&hash).await.map_err(grant_error)? else {
        return Err(OAuthError::new(
            "expired_token",
            "the device code has expired; start again",
        ));
    };
    if device.request.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the device code was issued to another client",
        ));
    }
    match device.status {
        DeviceStatus::Denied => {
            server
                .grants
                .delete_device(&hash, &device)
                .await
                .map_err(grant_error)?;
            Err(OAuthError::new("access_denied", "the user denied the request"))
        }
        DeviceStatus::Approved => {
            server
                .grants
                .delete_device(&hash, &device)
                .await
                .map_err(grant_error)?;
            let grant_id = device.grant_id.clone().unwrap_or_default();
            let grant = server
                .grants
                .grant(&grant_id)
                .await
                .map_err(grant_error)?
                .ok_or_else(|| OAuthError::invalid_grant("the grant was revoked"))?;
            Ok(server
                .issue_for_grant(&grant, &device.request.resource)
                .await?
                .body)
        }
        DeviceStatus::Pending => {
            let now = now_millis();
            let too_fast = now.saturating_sub(device.last_poll_ms) < device.interval_secs * 1000;
            device.last_poll_ms = now;
            if too_fast {
                // RFC 8628 §3.5: every slow_down adds 5 seconds to the interval.
                device.interval_secs += 5;
            }
            server
                .grants
                .update_device(&hash, &device)
                .await
                .map_err(grant_error)?;
            Err(if too_fast {
                OAuthError::new(
                    "slow_down",
                    format!("poll at most every {} seconds", device.interval_secs),
                )
            } else {
                OAuthError::new("authorization_pending", "the user has not answered yet")
            })
        }
    }
}

/// `POST /oauth/device_authorization` (RFC 8628 §3.1).
pub async fn device_authorization(
    State(server): State<Arc<AuthServer>>,
    headers: HeaderMap,
    form: Result<Form<Params>, FormRejection>,
) -> Response {
    let params = match form_params(form) {
        Ok(params) => params,
        Err(error) => return error.into_response(),
    };
    let result = async {
        let client = authenticate_client(&server, &headers, &params).await?;
        if !client.allows(GrantType::DeviceCode) {
            return Err(OAuthError::new(
                "unauthorized_client",
                "this client is not registered for the device code grant",
            ));
        }
        let device_code = random_token()?;
        let user_code = new_user_code().ok_or_else(|| OAuthError::server_error("no randomness"))?;
        let hash = digest(&device_code);
        let request = ClientRequest {
            client_id: client.client_id.clone(),
            client_name: client.name.clone(),
            redirect_uri: None,
            state: None,
            code_challenge: None,
            resource: server.resource(param(&params, "resource"))?,
            scope: AuthServer::scope(param(&params, "scope"))?,
            device: Some(hash),
        };
        let device = Device {
            request,
            user_code: user_code.clone(),
            status: DeviceStatus::Pending,
            grant_id: None,
            expires_at: now_secs() + DEVICE_TTL.as_secs(),
            last_poll_ms: 0,
            interval_secs: DEVICE_INTERVAL_SECS,
        };
        server
            .grants
            .put_device(&device_code, &device)
            .await
            .map_err(grant_error)?;
        let verification_uri = server.url("/device");
        let complete = format!("{verification_uri}?user_code={user_code}");
        Ok(json!({
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": complete,
            "expires_in": DEVICE_TTL.as_secs(),
            "interval": DEVICE_INTERVAL_SECS,
        }))
    }
    .await;
    match result {
        Ok(body) => token_response(body),
        Err(error) => error.into_response(),
    }
}

/// `GET /device`: the code entry page (pre-filled from `verification_uri_complete`).
pub async fn device_page(Query(params): Query<Params>) -> Response {
    pages::device_entry(param(&params, "user_code").unwrap_or_default(), None)
}

/// `POST /device`: a typed code; the user signs in upstream, then sees the consent page.
pub async fn device_submit(
    State(server): State<Arc<AuthServer>>,
    headers: HeaderMap,
    Form(params): Form<Params>,
) -> Response {
    let typed = param(&params, "user_code").unwrap_or_default();
    match server.grants.device_by_user_code(typed).await {
        Ok(Some((_, device))) if device.status == DeviceStatus::Pending => {
            sign_in_upstream(&server, &headers, Some(device.request)).await
        }
        Ok(Some(_)) => pages::device_entry("", Some("This code was already used.")),
        Ok(None) => pages::device_entry(
            typed,
            Some("No device is waiting with this code; check it and try again."),
        ),
        Err(e) => pages::error(StatusCode::SERVICE_UNAVAILABLE, &grant_error(e).description),
    }
}

/// `POST /oauth/revoke` (RFC 7009): a refresh token ends its grant, and with it the grant's
/// access tokens (the verifier checks the grant); anything else is answered 200 as the RFC asks.
pub async fn revoke(
    State(server): State<Arc<AuthServer>>,
    headers: HeaderMap,
    form: Result<Form<Params>, FormRejection>,
) -> Response {
    let params = match form_params(form) {
        Ok(params) => params,
        Err(error) => return error.into_response(),
    };
    let result = async {
        let client = authenticate_client(&server, &headers, &params).await?;
        let token = required(&params, "token")?;
        // Another client's token is left alone (RFC 7009 §2.1) and answered like any other.
        if let Redemption::Redeemed(record) = server
            .grants
            .redeem_refresh(token, &client.client_id)
            .await
            .map_err(grant_error)?
            && let Some(grant) = server.grants.grant(&record.grant_id).await.map_err(grant_error)?
        {
            server
                .grants
                .revoke(&grant, "client", "")
                .await
                .map_err(grant_error)?;
        }
        Ok::<_, OAuthError>(())
    }
    .await;
    match result {
        Ok(()) => StatusCode::OK.into_response(),
        Err(error) => error.into_response(),
    }
}
