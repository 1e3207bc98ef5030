//! Signs users in at the tenant's upstream OpenID provider (Entra ID, or any OIDC issuer) with
//! the authorization code grant and PKCE, as a confidential client (`client_secret_post`). The
//! ID token says who signed in; the upstream access and refresh tokens are the user's Microsoft
//! Graph grant. Nothing here ever puts a token or the client secret into an error or a log.

use std::{fmt, time::Duration};

use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, Validation, errors::ErrorKind};
use mcp_tenancy_config::IdentityConfig;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::OnceCell;
use url::Url;

use crate::{
    auth::{
        AuthFailure,
        jwks::{JwksOptions, KeySource, SigningKeys, VerificationKey},
        string_list_claim,
    },
    caller::Secret,
    clock::now_secs,
    crypto::{constant_time_eq, sha256},
    trust::{self, IssuerTrust},
};

/// Every upstream call (discovery, JWKS, token endpoint).
const TIMEOUT: Duration = Duration::from_secs(15);
/// Clock skew tolerated on the ID token's `exp` and `nbf`.
const LEEWAY_SECS: u64 = 60;
/// An `iat` further in the future than this is not clock skew.
const MAX_IAT_AHEAD_SECS: u64 = 300;
/// Lifetime assumed when the token response has no `expires_in` (RFC 6749 leaves it optional).
const DEFAULT_EXPIRES_IN: u64 = 3_600;
/// A token or discovery response larger than this is refused.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Scopes every sign-in asks for: the ID token, and a refresh token.
const REQUIRED_SCOPES: &[&str] = &["openid", "offline_access"];
/// OAuth errors after which only the user can help: sign in again (or consent, or MFA).
const SIGN_IN_AGAIN_ERRORS: &[&str] = &[
    "invalid_grant",
    "interaction_required",
    "consent_required",
    "login_required",
];
/// Entra's multi-tenant issuer paths: the ID token's `iss` names the user's own tenant instead.
const TENANT_TEMPLATES: &[&str] = &["/common/", "/organizations/"];

/// The upstream's side of a sign-in.
#[async_trait]
pub trait Upstream: Send + Sync + 'static {
    /// The URL to send the user's browser to.
    async fn authorization_url(&self, request: &UpstreamRequest) -> Result<Url, UpstreamError>;
    /// Redeems the code the upstream sent to the callback, validates the ID token, returns who
    /// signed in and their tokens.
    async fn redeem(&self, code: &str, request: &UpstreamRequest) -> Result<SignedIn, UpstreamError>;
    /// New upstream tokens from a refresh token (the upstream may rotate it: the new one is kept
    /// when given, else the old).
    async fn refresh(&self, refresh_token: &Secret) -> Result<UpstreamTokens, UpstreamError>;
}

/// One sign-in attempt: what the authorization request carried and the callback must match.
/// Kept by the server between the redirect to the upstream and the callback.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UpstreamRequest {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: Secret,
    pub redirect_uri: String,
}

impl UpstreamRequest {
    /// A new attempt: state, nonce and PKCE verifier of 32 random bytes each (base64url).
    pub fn new(redirect_uri: impl Into<String>) -> Result<Self, UpstreamError> {
        Ok(Self {
            state: random()?,
            nonce: random()?,
            pkce_verifier: Secret::new(random()?),
            redirect_uri: redirect_uri.into(),
        })
    }

    /// The PKCE S256 challenge of the verifier.
    pub fn code_challenge(&self) -> String {
        URL_SAFE_NO_PAD.encode(sha256(self.pkce_verifier.expose().as_bytes()))
    }
}

fn random() -> Result<String, UpstreamError> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| UpstreamError::Unavailable("the system random generator failed".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Who signed in, and their upstream tokens.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub identity: UpstreamIdentity,
    pub tokens: UpstreamTokens,
}

/// The user, from the validated ID token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct UpstreamIdentity {
    /// `sub`.
    pub subject: String,
    /// `oid` (Entra's object id of the user).
    pub object_id: Option<String>,
    /// `tid`.
    pub tenant_id: Option<String>,
    pub name: Option<String>,
    /// `preferred_username`, else `email`, else `upn`.
    pub username: Option<String>,
    /// The configured role claim (`identity.roleClaim`): an array, or a space-separated string.
    pub roles: Vec<String>,
    pub amr: Vec<String>,
}

/// The user's upstream (Graph) tokens. Serialized only into the sealed vault record.
#[derive(Clone, Serialize, Deserialize)]
pub struct UpstreamTokens {
    pub access_token: Secret,
    /// When the access token expires, in seconds since the Unix epoch.
    pub expires_at: u64,
    pub refresh_token: Option<Secret>,
    /// The scopes granted, as the upstream said.
    pub scope: Option<String>,
}

impl fmt::Debug for UpstreamTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamTokens")
            .field("expires_at", &self.expires_at)
            .field("refresh_token", &self.refresh_token.is_some())
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Why a sign-in or refresh failed. Messages never contain a token or the client secret.
#[derive(Clone, Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The upstream refused the code or refresh token: the user must sign in again.
    #[error("the identity provider refused ({code}): {message}")]
    Rejected { code: String, message: String },
    /// The ID token or the token response failed validation; the message says which check.
    #[error("the identity provider's answer is not valid: {0}")]
    Invalid(String),
    /// The upstream could not be reached or answered something unusable.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
}

/// Why an [`OidcUpstream`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamSetupError {
    #[error("reading the upstream client secret {path}: {source}")]
    Secret { path: String, source: std::io::Error },
    #[error("the upstream client secret {path} is empty")]
    EmptySecret { path: String },
    #[error("the upstream HTTP client: {0}")]
    Http(String),
}

/// What discovery found, fetched once (a failed discovery is retried on the next call).
struct Discovered {
    authorization_endpoint: Url,
    token_endpoint: Url,
    keys: SigningKeys,
}

#[derive(Deserialize)]
struct DiscoveryDocument {
    #[serde(default)]
    issuer: Option<String>,
    authorization_endpoint: Url,
    token_endpoint: Url,
    jwks_uri: Url,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default, deserialize_with = "number_or_string")]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        N(u64),
        S(String),
    }
    match Option::<N>::deserialize(d)? {
        None => Ok(None),
        Some(N::N(n)) => Ok(Some(n)),
        Some(N::S(s)) => s.trim().parse().map(Some).map_err(serde::de::Error::custom),
    }
}

/// The upstream OpenID provider of a tenant config (`identity.upstream`).
pub struct OidcUpstream {
    issuer: Url,
    client_id: String,
    client_secret: Secret,
    /// The configured scopes, with `openid` and `offline_access` added when missing.
    scope: String,
    allowed_tenant_ids: Vec<String>,
    role_claim: String,
    trust: IssuerTrust,
    http: reqwest::Client,
    discovered: OnceCell<Discovered>,
}

impl fmt::Debug for OidcUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcUpstream")
            .field("issuer", &self.issuer.as_str())
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl OidcUpstream {
    /// The upstream of `config`, with the client secret read from its mounted file.
    pub fn new(config: &IdentityConfig, trust: IssuerTrust) -> Result<Self, UpstreamSetupError> {
        let upstream = &config.upstream;
        let path = || upstream.client_secret_file.display().to_string();
        let secret = std::fs::read_to_string(&upstream.client_secret_file)
            .map_err(|source| UpstreamSetupError::Secret { path: path(), source })?;
        let secret = secret.trim();
        if secret.is_empty() {
            return Err(UpstreamSetupError::EmptySecret { path: path() });
        }
        let client_secret = Secret::new(secret);
        let http = trust
            .apply(reqwest::Client::builder())
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| UpstreamSetupError::Http(e.to_string()))?;
        let mut scopes: Vec<&str> = upstream.scopes.iter().map(String::as_str).collect();
        for required in REQUIRED_SCOPES {
            if !scopes.contains(required) {
                scopes.push(required);
            }
        }
        Ok(Self {
            issuer: upstream.issuer.clone(),
            client_id: upstream.client_id.clone(),
            client_secret,
            scope: scopes.join(" "),
            allowed_tenant_ids: config.allowed_tenant_ids.clone(),
            role_claim: config.role_claim.clone(),
            trust,
            http,
            discovered: OnceCell::new(),
        })
    }

    fn issuer_base(&self) -> &str {
        self.issuer.as_str().trim_end_matches('/')
    }

    async fn discovered(&self) -> Result<&Discovered, UpstreamError> {
        self.discovered.get_or_try_init(|| self.discover()).await
    }

    async fn discover(&self) -> Result<Discovered, UpstreamError> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer_base());
        let unavailable =
            |message: String| UpstreamError::Unavailable(format!("OpenID discovery {url}: {message}"));
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| unavailable(trust::describe(e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(unavailable(format!("answered {status}")));
        }
        let body = read_capped(response).await.map_err(unavailable)?;
        let doc: DiscoveryDocument = serde_json::from_slice(&body)
            .map_err(|e| unavailable(format!("not a discovery document: {e}")))?;
        // OpenID Discovery 4.3: the document is for the issuer it was fetched from (Entra's
        // multi-tenant documents name the `{tenantid}` template instead).
        if let Some(named) = &doc.issuer
            && named.trim_end_matches('/') != self.issuer_base()
            && !named.contains("{tenantid}")
        {
            return Err(unavailable(format!(
                "the document is for issuer {named}, not {}",
                self.issuer_base()
            )));
        }
        // The client secret and the user's tokens travel to these: HTTPS, unless the issuer
        // itself is a plain-HTTP local test issuer.
        let plain_http_allowed = self.issuer.scheme() == "http";
        for (field, endpoint) in [
            ("authorization_endpoint", &doc.authorization_endpoint),
            ("token_endpoint", &doc.token_endpoint),
            ("jwks_uri", &doc.jwks_uri),
        ] {
            if endpoint.scheme() != "https" && !(plain_http_allowed && endpoint.scheme() == "http") {
                return Err(unavailable(format!("{field} {endpoint} is not HTTPS")));
            }
        }
        let keys = SigningKeys::new(
            KeySource::Jwks(doc.jwks_uri),
            JwksOptions {
                fetch_timeout: TIMEOUT,
                trust: self.trust.clone(),
                ..JwksOptions::default()
            },
        )
        .map_err(|e| unavailable(format!("JWKS client: {e}")))?;
        Ok(Discovered {
            authorization_endpoint: doc.authorization_endpoint,
            token_endpoint: doc.token_endpoint,
            keys,
        })
    }

    /// Posts a grant to the token endpoint with the client's credentials (`client_secret_post`).
    async fn token_request(&self, grant: &[(&str, &str)]) -> Result<TokenResponse, UpstreamError> {
        let endpoint = self.discovered().await?.token_endpoint.clone();
        let mut form = vec![
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
        ];
        form.extend_from_slice(grant);
        let unavailable = |message: String| UpstreamError::Unavailable(format!("token endpoint: {message}"));
        let response = self
            .http
            .post(endpoint)
            .header(http::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| unavailable(trust::describe(e)))?;
        let status = response.status();
        let body = read_capped(response).await.map_err(unavailable)?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|_| {
                UpstreamError::Invalid("the token response is not a JSON token response".into())
            });
        }
        Err(match serde_json::from_slice::<TokenErrorResponse>(&body) {
            Ok(e) if SIGN_IN_AGAIN_ERRORS.contains(&e.error.as_str()) => UpstreamError::Rejected {
                message: first_line(e.error_description.as_deref().unwrap_or("sign in again")),
                code: e.error,
            },
            Ok(e) => unavailable(format!(
                "{} ({}): {}",
                status.as_u16(),
                first_line(&e.error),
                first_line(e.error_description.as_deref().unwrap_or(""))
            )),
            Err(_) => unavailable(format!("answered {status}")),
        })
    }

    /// The tokens of a successful token response; `previous_refresh` is kept when the upstream
    /// did not rotate it.
    fn tokens(
        response: &TokenResponse,
        requested_at: u64,
        previous_refresh: Option<&Secret>,
    ) -> Result<UpstreamTokens, UpstreamError> {
        let access_token = response
            .access_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| UpstreamError::Invalid("the token response has no access_token".into()))?;
        if let Some(kind) = &response.token_type
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(UpstreamError::Invalid(format!(
                "token_type {} is not Bearer",
                first_line(kind)
            )));
        }
        let refresh_token = match response.refresh_token.as_deref() {
            Some(t) if !t.is_empty() => Some(Secret::new(t)),
            _ => previous_refresh.cloned(),
        };
        Ok(UpstreamTokens {
            access_token: Secret::new(access_token),
            expires_at: requested_at.saturating_add(response.expires_in.unwrap_or(DEFAULT_EXPIRES_IN)),
            refresh_token,
            scope: response.scope.clone(),
        })
    }

    /// Validates the ID token of a code redemption: signature by the upstream's keys, `iss`,
    /// `aud`, `azp`, `nonce`, `exp`, `iat`, and `tid` against the allowed tenants.
    async fn validate_id_token(
        &self,
        id_token: &str,
        nonce: &str,
    ) -> Result<Map<String, Value>, UpstreamError> {
        let invalid = |check: &str| UpstreamError::Invalid(format!("ID token: {check}"));
        let header = jsonwebtoken::decode_header(id_token).map_err(|_| invalid("not a well-formed JWT"))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256 | Algorithm::PS256) {
            return Err(invalid("alg is not RS256, ES256 or PS256"));
        }
        let kid = header
            .kid
            .as_deref()
            .ok_or_else(|| invalid("no kid in the header"))?;
        let VerificationKey { algorithms, key } =
            self.discovered()
                .await?
                .keys
                .find(kid)
                .await
                .map_err(|e| match e {
                    AuthFailure::KeysUnavailable => {
                        UpstreamError::Unavailable("the upstream's signing keys could not be fetched".into())
                    }
                    _ => invalid("signature: the kid is not in the upstream's JWKS"),
                })?;
        if !algorithms.contains(&header.alg) {
            return Err(invalid("alg does not match the signing key"));
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_audience(&[&self.client_id]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // `iss` is checked below: with Entra's multi-tenant issuers it depends on `tid`.
        let claims = jsonwebtoken::decode::<Map<String, Value>>(id_token, &key, &validation)
            .map_err(|e| {
                invalid(match e.kind() {
                    ErrorKind::InvalidSignature => "signature",
                    ErrorKind::ExpiredSignature => "exp (expired)",
                    ErrorKind::ImmatureSignature => "nbf (not valid yet)",
                    ErrorKind::InvalidAudience => "aud is not this client",
                    ErrorKind::MissingRequiredClaim(_) => {
                        "a required claim (exp, iat, iss, aud, sub) is missing"
                    }
                    ErrorKind::InvalidAlgorithm => "alg",
                    _ => "not a valid signed JWT",
                })
            })?
            .claims;
        let tid = claims.get("tid").and_then(Value::as_str);
        let expected_issuer = self
            .expected_issuer(tid)
            .ok_or_else(|| invalid("tid (missing or malformed)"))?;
        let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
        if iss.trim_end_matches('/') != expected_issuer.trim_end_matches('/') {
            return Err(invalid("iss is not the upstream issuer"));
        }
        if let Some(azp) = claims.get("azp")
            && azp.as_str() != Some(self.client_id.as_str())
        {
            return Err(invalid("azp is not this client"));
        }
        let token_nonce = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
        if !constant_time_eq(token_nonce.as_bytes(), nonce.as_bytes()) {
            return Err(invalid("nonce does not match the sign-in request"));
        }
        let iat = claims
            .get("iat")
            .and_then(Value::as_u64)
            .ok_or_else(|| invalid("iat"))?;
        if iat > now_secs().saturating_add(MAX_IAT_AHEAD_SECS) {
            return Err(invalid("iat is in the future"));
        }
        if !self.allowed_tenant_ids.is_empty()
            && !tid.is_some_and(|t| self.allowed_tenant_ids.iter().any(|a| a == t))
        {
            return Err(invalid("tid is not an allowed tenant"));
        }
        Ok(claims)
    }

    /// The `iss` an ID token must carry: the configured issuer, or for Entra's multi-tenant
    /// issuers (`/common/`, `/organizations/`) the issuer of the user's tenant `tid`. None when
    /// a templated issuer meets a missing or malformed `tid`.
    fn expected_issuer(&self, tid: Option<&str>) -> Option<String> {
        let issuer = self.issuer.as_str();
        let Some(template) = TENANT_TEMPLATES.iter().find(|t| issuer.contains(*t)) else {
            return Some(issuer.to_owned());
        };
        let tid = tid.filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'))?;
        Some(issuer.replacen(template, &format!("/{tid}/"), 1))
    }

    fn identity(&self, claims: &Map<String, Value>) -> Result<UpstreamIdentity, UpstreamError> {
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        let subject = text("sub")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| UpstreamError::Invalid("ID token: sub is not a string".into()))?;
        Ok(UpstreamIdentity {
            subject,
            object_id: text("oid"),
            tenant_id: text("tid"),
            name: text("name"),
            username: text("preferred_username")
                .or_else(|| text("email"))
                .or_else(|| text("upn")),
            roles: string_list_claim(claims, &self.role_claim),
            amr: string_list_claim(claims, "amr"),
        })
    }
}

/// The body of a response, refused beyond [`MAX_RESPONSE_BYTES`].
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(trust::describe)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(format!("the response is larger than {MAX_RESPONSE_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Entra error descriptions carry trace ids on later lines; the first line is the useful part.
fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").chars().take(300).collect()
}

#[async_trait]
impl Upstream for OidcUpstream {
    async fn authorization_url(&self, request: &UpstreamRequest) -> Result<Url, UpstreamError> {
        let mut url = self.discovered().await?.authorization_endpoint.clone();
        // Entra v2 refuses `resource`: the Graph scopes go in `scope`.
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &request.redirect_uri)
            .append_pair("scope", &self.scope)
            .append_pair("state", &request.state)
            .append_pair("nonce", &request.nonce)
            .append_pair("code_challenge", &request.code_challenge())
            .append_pair("code_challenge_method", "S256")
            .append_pair("response_mode", "query");
        Ok(url)
    }

    async fn redeem(&self, code: &str, request: &UpstreamRequest) -> Result<SignedIn, UpstreamError> {
        let requested_at = now_secs();
        let response = self
            .token_request(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &request.redirect_uri),
                ("code_verifier", request.pkce_verifier.expose()),
            ])
            .await?;
        let id_token = response
            .id_token
            .as_deref()
            .ok_or_else(|| UpstreamError::Invalid("the token response has no id_token".into()))?;
        let claims = self.validate_id_token(id_token, &request.nonce).await?;
        let identity = self.identity(&claims)?;
        let tokens = Self::tokens(&response, requested_at, None)?;
        Ok(SignedIn { identity, tokens })
    }

    async fn refresh(&self, refresh_token: &Secret) -> Result<UpstreamTokens, UpstreamError> {
        let requested_at = now_secs();
        let response = self
            .token_request(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose()),
                ("scope", &self.scope),
            ])
            .await?;
        Self::tokens(&response, requested_at, Some(refresh_token))
    }
}
