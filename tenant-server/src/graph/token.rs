//! Delegated Microsoft Graph tokens for the calling user. The MCP client's own token is never
//! sent to Graph: a provider exchanges it (on-behalf-of), or looks up the user's stored upstream
//! grant (builtin mode, a later provider), and hands the Graph client a token for that user only.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use mcp_tenancy_config::{Environment, IdentityMode, TenantConfig};
use moka::{Expiry, future::Cache};
use serde::Deserialize;
use tokio::sync::OnceCell;
use url::Url;

use crate::{
    caller::{Caller, Secret},
    trust::{self, IssuerTrust},
};

/// A Graph access token for one user.
#[derive(Clone, Debug)]
pub struct AccessToken {
    pub secret: Secret,
    /// When the token stops being valid (monotonic clock).
    pub expires_at: Instant,
}

/// Why no Graph token could be had. Messages never contain a token.
#[derive(Clone, Debug, thiserror::Error)]
pub enum TokenError {
    /// The caller has no delegated identity to exchange (e.g. a service account).
    #[error("this caller has no delegated Microsoft 365 identity")]
    NoDelegatedIdentity,
    /// The identity provider refused: the user must sign in (again) or consent.
    #[error("the identity provider refused the token exchange ({code}): {message}")]
    Rejected { code: String, message: String },
    /// The identity provider could not be reached or answered something unusable.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
}

/// Gives the Graph client a delegated token for the caller.
#[async_trait]
pub trait GraphTokenProvider: Send + Sync + 'static {
    async fn token(&self, caller: &Caller) -> Result<AccessToken, TokenError>;
    /// Forgets a token Graph refused (401), so that the next [`Self::token`] gets a fresh one.
    async fn invalidate(&self, caller: &Caller);
}

/// Settings of the on-behalf-of exchange.
#[derive(Clone, Debug)]
pub struct OboSettings {
    /// The upstream issuer; its token endpoint comes from `<issuer>/.well-known/openid-configuration`.
    pub issuer: Url,
    pub client_id: String,
    pub client_secret: Secret,
    /// Graph scopes, e.g. `https://graph.microsoft.com/Mail.ReadWrite`.
    pub scopes: Vec<String>,
    /// A cached token is dropped this long before it expires.
    pub expiry_margin: Duration,
    /// Most users whose tokens are kept.
    pub max_users: u64,
    pub timeout: Duration,
    /// Roots for the issuer's certificate.
    pub trust: IssuerTrust,
}

impl OboSettings {
    /// Settings from the tenant config, with the client secret read from its mounted file.
    pub fn from_config(
        upstream: &mcp_tenancy_config::UpstreamConfig,
        trust: IssuerTrust,
    ) -> std::io::Result<Self> {
        let secret = std::fs::read_to_string(&upstream.client_secret_file)?;
        Ok(Self {
            issuer: upstream.issuer.clone(),
            client_id: upstream.client_id.clone(),
            client_secret: Secret::new(secret.trim()),
            scopes: upstream.scopes.clone(),
            expiry_margin: Duration::from_secs(120),
            max_users: 100_000,
            timeout: Duration::from_secs(15),
            trust,
        })
    }
}

#[derive(Clone)]
struct CachedToken(AccessToken);

/// Keeps each cached token until `margin` before it expires.
struct ExpireBeforeToken {
    margin: Duration,
}

impl Expiry<String, CachedToken> for ExpireBeforeToken {
    fn expire_after_create(&self, _key: &String, value: &CachedToken, now: Instant) -> Option<Duration> {
        Some(
            value
                .0
                .expires_at
                .saturating_duration_since(now)
                .saturating_sub(self.margin),
        )
    }
}

/// Entra ID style on-behalf-of exchange (RFC 7523 jwt-bearer grant with
/// `requested_token_use=on_behalf_of`), with a per-user cache and coalescing of concurrent
/// exchanges for the same user.
pub struct OboTokenProvider {
    http: reqwest::Client,
    settings: OboSettings,
    token_endpoint: OnceCell<Url>,
    cache: Cache<String, CachedToken>,
}

#[derive(Deserialize)]
struct OidcMetadata {
    token_endpoint: Url,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(deserialize_with = "number_or_string")]
    expires_in: u64,
}

#[derive(Deserialize)]
struct TokenErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        N(u64),
        S(String),
    }
    match N::deserialize(d)? {
        N::N(n) => Ok(n),
        N::S(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

/// OAuth errors after which only the user can help (sign in again, consent, MFA).
const USER_ACTION_ERRORS: &[&str] = &[
    "invalid_grant",
    "interaction_required",
    "consent_required",
    "login_required",
    "invalid_scope",
];

impl OboTokenProvider {
    pub fn new(settings: OboSettings) -> Result<Self, TokenError> {
        let http = settings
            .trust
            .apply(reqwest::Client::builder())
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| TokenError::Unavailable(format!("HTTP client: {e}")))?;
        let cache = Cache::builder()
            .max_capacity(settings.max_users)
            .expire_after(ExpireBeforeToken {
                margin: settings.expiry_margin,
            })
            .build();
        Ok(Self {
            http,
            settings,
            token_endpoint: OnceCell::new(),
            cache,
        })
    }

    async fn token_endpoint(&self) -> Result<&Url, TokenError> {
        self.token_endpoint.get_or_try_init(|| self.discover()).await
    }

    async fn discover(&self) -> Result<Url, TokenError> {
        let issuer = self.settings.issuer.as_str().trim_end_matches('/');
        let url = format!("{issuer}/.well-known/openid-configuration");
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| TokenError::Unavailable(format!("OpenID metadata: {}", trust::describe(e))))?;
        if !resp.status().is_success() {
            return Err(TokenError::Unavailable(format!(
                "OpenID metadata answered {}",
                resp.status()
            )));
        }
        let meta: OidcMetadata = resp
            .json()
            .await
            .map_err(|_| TokenError::Unavailable("OpenID metadata is not valid JSON".into()))?;
        // The client secret goes to this endpoint: it must be HTTPS unless the issuer itself is
        // a plain-HTTP local test issuer.
        if meta.token_endpoint.scheme() != "https" && self.settings.issuer.scheme() == "https" {
            return Err(TokenError::Unavailable("the token endpoint is not HTTPS".into()));
        }
        Ok(meta.token_endpoint)
    }

    async fn exchange(&self, assertion: &Secret) -> Result<CachedToken, TokenError> {
        let endpoint = self.token_endpoint().await?.clone();
        let scope = self.settings.scopes.join(" ");
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("requested_token_use", "on_behalf_of"),
            ("client_id", self.settings.client_id.as_str()),
            ("client_secret", self.settings.client_secret.expose()),
            ("assertion", assertion.expose()),
            ("scope", scope.as_str()),
        ];
        let started = Instant::now();
        let resp = self
            .http
            .post(endpoint)
            .form(&form)
            .send()
            .await
            .map_err(|e| TokenError::Unavailable(format!("token endpoint: {}", trust::describe(e))))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| TokenError::Unavailable(format!("token endpoint: {}", trust::describe(e))))?;
        if status.is_success() {
            let t: TokenResponse = serde_json::from_slice(&body)
                .map_err(|_| TokenError::Unavailable("the token response is not valid".into()))?;
            tracing::debug!(expires_in = t.expires_in, "on-behalf-of exchange succeeded");
            return Ok(CachedToken(AccessToken {
                secret: Secret::new(t.access_token),
                expires_at: started + Duration::from_secs(t.expires_in),
            }));
        }
        match serde_json::from_slice::<TokenErrorResponse>(&body) {
            Ok(e) if USER_ACTION_ERRORS.contains(&e.error.as_str()) => Err(TokenError::Rejected {
                code: e.error,
                message: first_line(e.error_description.as_deref().unwrap_or("sign in again")),
            }),
            Ok(e) => Err(TokenError::Unavailable(format!(
                "{} ({}): {}",
                status.as_u16(),
                e.error,
                first_line(e.error_description.as_deref().unwrap_or(""))
            ))),
            Err(_) => Err(TokenError::Unavailable(format!(
                "token endpoint answered {status}"
            ))),
        }
    }
}

/// Entra error descriptions carry trace ids on later lines; the first line is the useful part.
fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").chars().take(300).collect()
}

#[async_trait]
impl GraphTokenProvider for OboTokenProvider {
    async fn token(&self, caller: &Caller) -> Result<AccessToken, TokenError> {
        if caller.service_account.is_some() {
            return Err(TokenError::NoDelegatedIdentity);
        }
        let assertion = caller.assertion.as_ref().ok_or(TokenError::NoDelegatedIdentity)?;
        self.cache
            .try_get_with(caller.user_key(), self.exchange(assertion))
            .await
            .map(|t| t.0)
            .map_err(|e: Arc<TokenError>| (*e).clone())
    }

    async fn invalidate(&self, caller: &Caller) {
        self.cache.invalidate(&caller.user_key()).await;
    }
}

/// The token the Graph double accepts by default. Development only: never a real credential.
pub const DEV_GRAPH_TOKEN: &str = "dev-only-graph-double-token";

/// DEVELOPMENT ONLY: hands every caller the fixed token of the local Graph double. Refuses to be
/// built for a production environment.
pub struct DevTokenProvider {
    token: Secret,
}

impl DevTokenProvider {
    pub fn new(environment: Environment) -> Result<Self, TokenError> {
        if environment != Environment::Development {
            return Err(TokenError::Unavailable(
                "the development Graph token provider is refused outside environment: development".into(),
            ));
        }
        Ok(Self {
            token: Secret::new(DEV_GRAPH_TOKEN),
        })
    }
}

#[async_trait]
impl GraphTokenProvider for DevTokenProvider {
    async fn token(&self, _caller: &Caller) -> Result<AccessToken, TokenError> {
        Ok(AccessToken {
            secret: self.token.clone(),
            expires_at: Instant::now() + Duration::from_secs(3600),
        })
    }

    async fn invalidate(&self, _caller: &Caller) {}
}

/// Why no token provider could be chosen for a config.
#[derive(Debug, thiserror::Error)]
pub enum ProviderSetupError {
    #[error("reading the upstream client secret {path}: {source}")]
    Secret { path: String, source: std::io::Error },
    #[error(transparent)]
    Token(#[from] TokenError),
    /// Builtin mode keeps each user's upstream grant in the store; its provider is not here yet.
    #[error("identity mode builtin needs the stored-grant Graph token provider")]
    BuiltinNotAvailable,
}

/// The provider a tenant config calls for: in development with Graph on a loopback address (the
/// Graph double), the development token; in external mode, on-behalf-of with the upstream app.
pub fn provider_for(
    config: &TenantConfig,
    trust: &IssuerTrust,
) -> Result<Arc<dyn GraphTokenProvider>, ProviderSetupError> {
    let loopback = match config.graph.base_url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    if config.environment == Environment::Development && loopback {
        return Ok(Arc::new(DevTokenProvider::new(config.environment)?));
    }
    match config.identity.mode {
        IdentityMode::External => {
            let upstream = &config.identity.upstream;
            let settings = OboSettings::from_config(upstream, trust.clone()).map_err(|source| {
                ProviderSetupError::Secret {
                    path: upstream.client_secret_file.display().to_string(),
                    source,
                }
            })?;
            Ok(Arc::new(OboTokenProvider::new(settings)?))
        }
        IdentityMode::Builtin => Err(ProviderSetupError::BuiltinNotAvailable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(environment: &str, mode: &str, graph: &str, secret_file: &str) -> TenantConfig {
        TenantConfig::from_yaml(&format!(
            "apiVersion: mcptenancy.dev/config/v1
tenant: {{name: t}}
environment: {environment}
server: {{publicUrl: 'https://mcp.example.com', allowedHosts: [mcp.example.com]}}
identity:
  mode: {mode}
  issuer: https://login.example.com/t/v2.0
  jwksUri: https://login.example.com/t/keys
  audiences: [https://mcp.example.com/mcp]
  upstream: {{issuer: 'https://login.example.com/t/v2.0', clientId: c, clientSecretFile: {secret_file}, scopes: [Mail.Read]}}
storage: {{embedded: {{path: /tmp/x}}}}
graph: {{baseUrl: '{graph}', apiVersion: v1.0}}
keys: {{signingKeysFile: /dev/null, encryptionKeyFile: /dev/null}}
"
        ))
        .unwrap()
    }

    #[test]
    fn providers_follow_environment_and_mode() {
        let dir = std::env::temp_dir().join(format!("m365-secret-{}", std::process::id()));
        std::fs::write(&dir, "s3cret\n").unwrap();
        let secret = dir.display().to_string();
        assert!(
            provider_for(
                &config("development", "External", "http://127.0.0.1:8089", &secret),
                &IssuerTrust::default()
            )
            .is_ok()
        );
        assert!(
            provider_for(
                &config("production", "External", "https://graph.microsoft.com", &secret),
                &IssuerTrust::default()
            )
            .is_ok()
        );
        // Production never gets the development token, even with Graph on loopback.
        assert!(
            provider_for(
                &config("production", "External", "http://127.0.0.1:8089", "/nonexistent"),
                &IssuerTrust::default()
            )
            .is_err()
        );
        assert!(matches!(
            provider_for(
                &config("production", "Builtin", "https://graph.microsoft.com", &secret),
                &IssuerTrust::default()
            ),
            Err(ProviderSetupError::BuiltinNotAvailable)
        ));
        std::fs::remove_file(&dir).unwrap();
    }

    #[test]
    fn dev_provider_is_refused_in_production() {
        assert!(DevTokenProvider::new(Environment::Production).is_err());
        assert!(DevTokenProvider::new(Environment::Development).is_ok());
    }

    #[test]
    fn error_descriptions_keep_the_first_line() {
        assert_eq!(first_line("AADSTS50013: bad\r\nTrace ID: x"), "AADSTS50013: bad");
    }
}
