//! The OAuth clients the authorization server knows: client ID metadata documents (an https URL
//! as `client_id`, as MCP 2025-11-25 prefers), dynamically registered clients (RFC 7591, kept in
//! the store) and the tenant's service accounts (client_credentials, secrets from mounted files).

mod document;
mod metadata;
mod registration;

use std::{collections::HashMap, fmt, sync::Arc, time::Duration};

use mcp_tenancy_config::{Environment, TenantConfig};
use serde::{Deserialize, Serialize};
use url::{Host, Url};

use self::document::Documents;
use crate::{
    crypto::{constant_time_eq, sha256},
    store::{Store, StoreError},
};

/// How long a registered client lives without being used.
pub const REGISTRATION_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    /// `client_id` is the https URL of its metadata document.
    MetadataDocument,
    /// Registered through RFC 7591 dynamic registration; `client_id` starts with `mcp_`.
    Registered,
    /// A configured service account; `client_id` is its name.
    ServiceAccount,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GrantType {
    #[serde(rename = "authorization_code")]
    AuthorizationCode,
    #[serde(rename = "refresh_token")]
    RefreshToken,
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
    #[serde(rename = "client_credentials")]
    ClientCredentials,
}

impl GrantType {
    /// The name on the wire (`grant_type`, `grant_types`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
            Self::ClientCredentials => "client_credentials",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::AuthorizationCode,
            Self::RefreshToken,
            Self::DeviceCode,
            Self::ClientCredentials,
        ]
        .into_iter()
        .find(|g| g.as_str() == name)
    }
}

/// How a client authenticates at the token endpoint. A confidential client may use either
/// shared-secret method: both carry the same secret over TLS, and RFC 6749 §2.3.1 has servers
/// accept basic from every client that holds a password.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientAuth {
    /// A public client: no secret.
    #[serde(rename = "none")]
    None,
    #[serde(rename = "client_secret_post")]
    SecretPost,
    #[serde(rename = "client_secret_basic")]
    SecretBasic,
}

impl ClientAuth {
    /// The `token_endpoint_auth_method` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::SecretPost => "client_secret_post",
            Self::SecretBasic => "client_secret_basic",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplicationType {
    Web,
    Native,
}

impl ApplicationType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Native => "native",
        }
    }
}

/// The SHA-256 of a client secret; never printed.
#[derive(Clone, Copy, PartialEq, Eq)]
struct SecretDigest([u8; 32]);

impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest(***)")
    }
}

/// A client the server knows, whatever its source.
#[derive(Clone, Debug)]
pub struct Client {
    pub client_id: String,
    /// `client_name`, for the consent page.
    pub name: Option<String>,
    pub kind: ClientKind,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub auth: ClientAuth,
    pub application_type: ApplicationType,
    /// `client_uri`: the client's home page (https), for the consent page.
    pub client_uri: Option<String>,
    /// `logo_uri` (https), for the consent page.
    pub logo_uri: Option<String>,
    secret: Option<SecretDigest>,
}

impl Client {
    /// Exact string match, except the port of a loopback IP-literal redirect URI
    /// (`http://127.0.0.1:*/...`, `http://[::1]:*/...`), which may differ (RFC 8252 §7.3, OAuth
    /// 2.1): native apps listen on whatever port the system gives them.
    pub fn redirect_uri_allowed(&self, uri: &str) -> bool {
        let presented = loopback_without_port(uri);
        self.redirect_uris.iter().any(|registered| {
            registered == uri
                || matches!(
                    (loopback_without_port(registered), presented),
                    (Some(r), Some(p)) if r == p
                )
        })
    }

    /// Checks the presented secret in constant time: public clients must present none;
    /// confidential ones their own. Digests are compared, so the time depends on neither the
    /// secret's contents nor its length.
    pub fn authenticate(&self, secret: Option<&str>) -> Result<(), ClientError> {
        match (&self.secret, secret) {
            (None, None) => Ok(()),
            (None, Some(_)) => Err(ClientError::InvalidClient(format!(
                "client {} is public and must not present a client secret",
                shown(&self.client_id)
            ))),
            (Some(_), None) => Err(ClientError::InvalidClient(format!(
                "client {} is confidential and must present its client secret",
                shown(&self.client_id)
            ))),
            (Some(expected), Some(presented)) => {
                if constant_time_eq(&expected.0, &sha256(presented.as_bytes())) {
                    Ok(())
                } else {
                    Err(ClientError::InvalidClient(format!(
                        "client {}: the client secret is wrong",
                        shown(&self.client_id)
                    )))
                }
            }
        }
    }

    /// Whether the client holds a secret.
    pub fn is_confidential(&self) -> bool {
        self.secret.is_some()
    }

    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// The host shown on the consent page for a redirect URI (`app.example.com`, `127.0.0.1`),
    /// so that the user sees where the code will go; `None` for a URI without a host.
    pub fn redirect_host(uri: &str) -> Option<String> {
        let url = Url::parse(uri).ok()?;
        Some(match url.host()? {
            Host::Domain(d) => d.to_owned(),
            Host::Ipv4(ip) => ip.to_string(),
            Host::Ipv6(ip) => format!("[{ip}]"),
        })
    }
}

/// A loopback IP-literal redirect URI without its port (`("http://127.0.0.1", "/cb")`), taken
/// apart as text so that the rest must still match exactly.
fn loopback_without_port(uri: &str) -> Option<(&'static str, &str)> {
    for prefix in ["http://127.0.0.1", "http://[::1]"] {
        let Some(after) = uri.strip_prefix(prefix) else {
            continue;
        };
        let rest = match after.strip_prefix(':') {
            Some(port) => {
                let end = port.find(|c: char| !c.is_ascii_digit()).unwrap_or(port.len());
                port[..end].parse::<u16>().ok()?;
                &port[end..]
            }
            None => after,
        };
        if rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') {
            return Some((prefix, rest));
        }
    }
    None
}

/// An OAuth error (RFC 6749 §5.2, RFC 7591 §3.2.2): the code, and a description naming the
/// field at fault. Never contains a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// Unknown client, failed authentication, or an unusable client metadata document.
    #[error("{0}")]
    InvalidClient(String),
    /// A registration request with invalid metadata.
    #[error("{0}")]
    InvalidClientMetadata(String),
    /// A registration request with an unacceptable redirect URI.
    #[error("{0}")]
    InvalidRedirectUri(String),
    /// The store or a client's metadata host is unreachable; retrying later may work.
    #[error("{0}")]
    TemporarilyUnavailable(String),
    /// The server failed (corrupt stored client, no randomness).
    #[error("{0}")]
    ServerError(String),
}

impl ClientError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidClient(_) => "invalid_client",
            Self::InvalidClientMetadata(_) => "invalid_client_metadata",
            Self::InvalidRedirectUri(_) => "invalid_redirect_uri",
            Self::TemporarilyUnavailable(_) => "temporarily_unavailable",
            Self::ServerError(_) => "server_error",
        }
    }
}

impl From<StoreError> for ClientError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Io(m) => Self::TemporarilyUnavailable(format!("client store: {m}")),
            StoreError::Corrupt(m) | StoreError::TooLarge(m) => {
                Self::ServerError(format!("client store: {m}"))
            }
        }
    }
}

/// Why the registry cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ClientSetupError {
    #[error("service account {account}: client secret file {path}: {message}")]
    ServiceAccountSecret {
        account: String,
        path: String,
        message: String,
    },
    #[error("service account {0:?}: the name must be a DNS label (lowercase letters, digits and '-')")]
    ServiceAccountName(String),
    #[error("service account {0:?} is configured twice")]
    DuplicateServiceAccount(String),
    #[error("HTTP client for client metadata documents: {0}")]
    HttpClient(String),
}

/// Every client the server knows, by `client_id`.
pub struct ClientRegistry {
    environment: Environment,
    store: Arc<dyn Store>,
    documents: Documents,
    service_accounts: HashMap<String, Client>,
    registration_lifetime: Duration,
}

impl ClientRegistry {
    /// Service accounts' secrets are read from their files here (an unreadable or empty file is
    /// an error naming the file and the account). Accounts without a secret file (external
    /// mode, where the external issuer authenticates them) are not clients of this server.
    pub fn new(config: Arc<TenantConfig>, store: Arc<dyn Store>) -> Result<Self, ClientSetupError> {
        let mut service_accounts = HashMap::new();
        for account in &config.access.service_accounts {
            if !is_dns_label(&account.name) {
                return Err(ClientSetupError::ServiceAccountName(account.name.clone()));
            }
            let Some(path) = &account.client_secret_file else {
                continue;
            };
            let secret_error = |message: String| ClientSetupError::ServiceAccountSecret {
                account: account.name.clone(),
                path: path.display().to_string(),
                message,
            };
            let text = std::fs::read_to_string(path).map_err(|e| secret_error(e.to_string()))?;
            let secret = text.trim();
            if secret.is_empty() {
                return Err(secret_error("is empty".into()));
            }
            let client = Client {
                client_id: account.name.clone(),
                name: Some(account.name.clone()),
                kind: ClientKind::ServiceAccount,
                redirect_uris: vec![],
                grant_types: vec![GrantType::ClientCredentials],
                auth: ClientAuth::SecretBasic,
                application_type: ApplicationType::Web,
                client_uri: None,
                logo_uri: None,
                secret: Some(SecretDigest(sha256(secret.as_bytes()))),
            };
            if service_accounts.insert(account.name.clone(), client).is_some() {
                return Err(ClientSetupError::DuplicateServiceAccount(account.name.clone()));
            }
        }
        Ok(Self {
            environment: config.environment,
            store,
            documents: Documents::new(config.environment)?,
            service_accounts,
            registration_lifetime: REGISTRATION_LIFETIME,
        })
    }

    /// How long a registered client lives unused ([`REGISTRATION_LIFETIME`] unless changed).
    #[must_use]
    pub fn with_registration_lifetime(mut self, lifetime: Duration) -> Self {
        self.registration_lifetime = lifetime;
        self
    }

    /// The client named by `client_id`: an https URL is a client ID metadata document
    /// (fetched, validated, cached); otherwise a registered (DCR) client from the store, or a
    /// service account (by name).
    pub async fn resolve(&self, client_id: &str) -> Result<Client, ClientError> {
        if client_id.contains("://") {
            return self.documents.resolve(client_id).await;
        }
        if client_id.starts_with(registration::CLIENT_ID_PREFIX) {
            return registration::resolve(&*self.store, self.registration_lifetime, client_id).await;
        }
        self.service_accounts
            .get(client_id)
            .cloned()
            .ok_or_else(|| unknown_client(client_id))
    }

    /// RFC 7591 dynamic registration: `body` is the request JSON; answers the registration
    /// response JSON (status 201 body).
    pub async fn register(&self, body: &[u8]) -> Result<serde_json::Value, ClientError> {
        registration::register(&*self.store, self.environment, self.registration_lifetime, body).await
    }
}

fn unknown_client(client_id: &str) -> ClientError {
    ClientError::InvalidClient(format!("unknown client {}", shown(client_id)))
}

/// A client id as errors show it: quoted, and cut short when long (ids come from requests).
fn shown(client_id: &str) -> String {
    const MAX: usize = 200;
    match client_id.char_indices().nth(MAX) {
        Some((end, _)) => format!("{:?}…", &client_id[..end]),
        None => format!("{client_id:?}"),
    }
}

/// Kubernetes' DNS label: 1 to 63 lowercase letters, digits and '-', not starting or ending
/// with '-'. Never an `mcp_` registration id nor a URL.
fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::EmbeddedStore;

    fn client(redirect_uris: &[&str], secret: Option<&str>) -> Client {
        Client {
            client_id: "c".into(),
            name: None,
            kind: ClientKind::Registered,
            redirect_uris: redirect_uris.iter().map(|s| (*s).to_owned()).collect(),
            grant_types: vec![GrantType::AuthorizationCode],
            auth: if secret.is_some() {
                ClientAuth::SecretBasic
            } else {
                ClientAuth::None
            },
            application_type: ApplicationType::Native,
            client_uri: None,
            logo_uri: None,
            secret: secret.map(|s| SecretDigest(sha256(s.as_bytes()))),
        }
    }

    #[test]
    fn redirect_uris_match_exactly_except_the_loopback_ip_port() {
        let c = client(
            &[
                "https://app.example.com/cb",
                "http://127.0.0.1:8080/cb",
                "http://[::1]/cb?x=1",
                "http://localhost:8080/cb",
            ],
            None,
        );
        assert!(c.redirect_uri_allowed("https://app.example.com/cb"));
        assert!(!c.redirect_uri_allowed("https://app.example.com/cb/"));
        assert!(!c.redirect_uri_allowed("https://app.example.com/cb?x"));
        assert!(!c.redirect_uri_allowed("https://APP.example.com/cb"));
        assert!(c.redirect_uri_allowed("http://127.0.0.1:51234/cb"));
        assert!(c.redirect_uri_allowed("http://127.0.0.1/cb"));
        assert!(!c.redirect_uri_allowed("http://127.0.0.1:51234/other"));
        assert!(!c.redirect_uri_allowed("http://127.0.0.1:99999/cb"), "not a port");
        assert!(!c.redirect_uri_allowed("http://127.0.0.1.evil.com/cb"));
        assert!(!c.redirect_uri_allowed("http://127.0.0.1:80@evil.com/cb"));
        assert!(c.redirect_uri_allowed("http://[::1]:4000/cb?x=1"));
        assert!(!c.redirect_uri_allowed("http://[::1]:4000/cb"));
        // localhost is a name, not an IP literal: exact match only.
        assert!(c.redirect_uri_allowed("http://localhost:8080/cb"));
        assert!(!c.redirect_uri_allowed("http://localhost:9090/cb"));
        assert!(!c.redirect_uri_allowed("https://127.0.0.1:8080/cb"));
    }

    #[test]
    fn authentication_compares_secrets_and_refuses_secrets_from_public_clients() {
        let public = client(&[], None);
        assert!(public.authenticate(None).is_ok());
        assert_eq!(
            public.authenticate(Some("x")).unwrap_err().code(),
            "invalid_client"
        );
        let confidential = client(&[], Some("s3cret"));
        assert!(confidential.authenticate(Some("s3cret")).is_ok());
        let wrong = confidential.authenticate(Some("s3cre")).unwrap_err();
        assert_eq!(wrong.code(), "invalid_client");
        assert!(!wrong.to_string().contains("s3cre"), "{wrong}");
        assert!(confidential.authenticate(None).is_err());
        assert!(!format!("{confidential:?}").contains(&hex::encode(sha256(b"s3cret"))));
    }

    #[test]
    fn the_redirect_host_is_the_uri_host() {
        assert_eq!(
            Client::redirect_host("https://app.example.com:8443/cb").as_deref(),
            Some("app.example.com")
        );
        assert_eq!(
            Client::redirect_host("http://[::1]:3/cb").as_deref(),
            Some("[::1]")
        );
        assert_eq!(Client::redirect_host("not a uri"), None);
    }

    #[test]
    fn service_account_names_are_dns_labels() {
        assert!(is_dns_label("bot-1"));
        for bad in ["", "-bot", "bot-", "Bot", "mcp_x", "https://x", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }

    #[test]
    fn long_client_ids_are_cut_short_in_errors() {
        let e = unknown_client(&"x".repeat(5000));
        assert!(e.to_string().len() < 300, "{e}");
    }

    #[tokio::test]
    async fn unknown_ids_of_every_shape_are_invalid_clients() {
        let config = Arc::new(crate::testing::config_yaml(
            "http://127.0.0.1:1",
            "http://127.0.0.1:2",
            "",
        ));
        let registry = ClientRegistry::new(config, Arc::new(EmbeddedStore::in_memory())).unwrap();
        for id in ["nobody", "mcp_AAAAAAAAAAAAAAAAAAAAAA", "mcp_../../x", ""] {
            assert_eq!(
                registry.resolve(id).await.unwrap_err().code(),
                "invalid_client",
                "{id}"
            );
        }
    }
}
