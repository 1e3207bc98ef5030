//! Development mode: a local issuer with an ephemeral ES256 key, so the server runs on a laptop
//! with no identity provider. Refused when the config says `environment: production`.

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
};
use axum::{
    Form, Router,
    extract::{Query, State},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use http::StatusCode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_tenancy_config::{ConfigError, TenantConfig};
use serde_json::{Value, json};
use url::Url;

use crate::{
    caller::Secret,
    clock::now_secs,
    crypto::sha256,
    graph::DEV_GRAPH_TOKEN,
    oauth::{
        AuthServer,
        grants::Grant,
        pages, random_token,
        upstream::{SignedIn, Upstream, UpstreamError, UpstreamIdentity, UpstreamRequest, UpstreamTokens},
    },
    tools::Tool,
};

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("development mode is refused: the config says environment: production")]
    Production,
    #[error("could not generate a signing key")]
    KeyGeneration,
    #[error("could not sign a token: {0}")]
    Signing(String),
    #[error("development config: {0}")]
    Config(#[from] ConfigError),
}

/// An issuer with an in-memory ES256 key that signs tokens like an external IdP would.
pub struct DevIssuer {
    issuer: String,
    kid: String,
    key: EncodingKey,
    jwks: Value,
}

impl DevIssuer {
    pub fn generate(issuer: &str) -> Result<Self, DevError> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| DevError::KeyGeneration)?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .map_err(|_| DevError::KeyGeneration)?;
        // Uncompressed point: 0x04 || x || y.
        let point = pair.public_key().as_ref();
        if point.len() != 65 {
            return Err(DevError::KeyGeneration);
        }
        let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
        let y = URL_SAFE_NO_PAD.encode(&point[33..65]);
        // RFC 7638 thumbprint as the key id.
        let thumbprint = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(sha256(thumbprint.as_bytes()));
        let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig"}]});
        Ok(Self {
            issuer: issuer.to_owned(),
            kid,
            key: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwks,
        })
    }

    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `claims` as given (tests use this to craft defective tokens).
    pub fn sign(&self, header: &Header, claims: &Value) -> Result<String, DevError> {
        jsonwebtoken::encode(header, claims, &self.key).map_err(|e| DevError::Signing(e.to_string()))
    }

    /// An `at+jwt` header naming this key.
    pub fn header(&self) -> Header {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(self.kid.clone());
        header
    }

    /// A token for the demo user, valid for `lifetime_secs`.
    pub fn mint_demo_token(&self, audience: &str, lifetime_secs: u64) -> Result<String, DevError> {
        let now = now_secs();
        let claims = json!({
            "iss": self.issuer,
            "aud": audience,
            "sub": "demo-user",
            "oid": "00000000-0000-0000-0000-00000000d3e0",
            "tid": "00000000-0000-0000-0000-0000000de7e1",
            "name": "Demo User (development)",
            "azp": "dev-client",
            "roles": ["Developer"],
            "amr": ["pwd", "mfa"],
            "iat": now,
            "nbf": now,
            "exp": now + lifetime_secs,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        self.sign(&self.header(), &claims)
    }
}

/// The development stand-in for the upstream OpenID provider: a page on this server with one
/// button that signs in the demo user. Its "Graph tokens" are the Graph double's development
/// token. Only `dev` (loopback, refused in production) mounts it.
pub struct DevUpstream {
    base: String,
    /// Codes handed out by the sign-in page and not yet redeemed.
    codes: Mutex<HashSet<String>>,
}

/// The demo user: what the development sign-in and the demo token stand for.
pub fn demo_identity() -> UpstreamIdentity {
    UpstreamIdentity {
        subject: "demo-user".into(),
        object_id: Some("00000000-0000-0000-0000-00000000d3e0".into()),
        tenant_id: Some("00000000-0000-0000-0000-0000000de7e1".into()),
        name: Some("Demo User (development)".into()),
        username: Some("demo@dev.invalid".into()),
        roles: vec!["Developer".into()],
        amr: vec!["pwd".into(), "mfa".into()],
    }
}

fn dev_tokens() -> UpstreamTokens {
    UpstreamTokens {
        access_token: Secret::new(DEV_GRAPH_TOKEN),
        expires_at: now_secs() + 3_600,
        refresh_token: Some(Secret::new("dev-refresh")),
        scope: Some("User.Read".into()),
    }
}

impl DevUpstream {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            codes: Mutex::new(HashSet::new()),
        }
    }

    fn codes(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.codes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A grant of the demo user for the printed demo token, so that it reaches Graph like a
    /// signed-in client does.
    pub async fn demo_token(server: &AuthServer, lifetime_secs: u64) -> Result<String, DevError> {
        let now = now_secs();
        let identity = demo_identity();
        let grant = Grant {
            id: "demo".into(),
            user_key: crate::oauth::grants::user_key(&identity),
            identity,
            client_id: "dev-client".into(),
            client_name: Some("Demo token".into()),
            kind: "browser".into(),
            resource: server.config.mcp_url(),
            scope: "mcp".into(),
            created_at: now,
            last_used_at: now,
        };
        server
            .grants
            .insert_grant(&grant, &dev_tokens())
            .await
            .map_err(|e| DevError::Signing(e.to_string()))?;
        server
            .access_token(&grant, &server.config.mcp_url(), lifetime_secs)
            .map_err(|e| DevError::Signing(e.to_string()))
    }
}

#[async_trait]
impl Upstream for DevUpstream {
    async fn authorization_url(&self, request: &UpstreamRequest) -> Result<Url, UpstreamError> {
        let mut url = Url::parse(&format!("{}/dev/sign-in", self.base))
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        url.query_pairs_mut().append_pair("state", &request.state);
        Ok(url)
    }

    async fn redeem(&self, code: &str, _request: &UpstreamRequest) -> Result<SignedIn, UpstreamError> {
        if !self.codes().remove(code) {
            return Err(UpstreamError::Rejected {
                code: "invalid_grant".into(),
                message: "unknown or used development sign-in code".into(),
            });
        }
        Ok(SignedIn {
            identity: demo_identity(),
            tokens: dev_tokens(),
        })
    }

    async fn refresh(&self, _refresh_token: &Secret) -> Result<UpstreamTokens, UpstreamError> {
        Ok(dev_tokens())
    }
}

type Params = HashMap<String, String>;

async fn sign_in_page(Query(params): Query<Params>) -> Response {
    let state = params.get("state").map_or("", String::as_str);
    pages::page(
        StatusCode::OK,
        "Development sign-in",
        &format!(
            "<p>This stands in for Microsoft sign-in in development mode.</p>\
             <form method=post action=\"/dev/sign-in\"><input type=hidden name=state value=\"{}\">\
             <button>Sign in as Demo User</button></form>",
            pages::escape(state)
        ),
    )
}

async fn sign_in(State(upstream): State<Arc<DevUpstream>>, Form(params): Form<Params>) -> Response {
    let Some(state) = params.get("state").filter(|s| !s.is_empty()) else {
        return pages::error(StatusCode::BAD_REQUEST, "state is required");
    };
    let Ok(code) = random_token() else {
        return pages::error(StatusCode::INTERNAL_SERVER_ERROR, "no randomness");
    };
    upstream.codes().insert(code.clone());
    let mut url = format!("{}/oauth/callback?", upstream.base);
    url.push_str(
        &url::form_urlencoded::Serializer::new(String::new())
            .append_pair("code", &code)
            .append_pair("state", state)
            .finish(),
    );
    Redirect::to(&url).into_response()
}

/// `/dev/sign-in`: the page and its form.
pub fn sign_in_routes<S: Clone + Send + Sync + 'static>(upstream: Arc<DevUpstream>) -> Router<S> {
    Router::new()
        .route("/dev/sign-in", get(sign_in_page).post(sign_in))
        .with_state(upstream)
}

/// The config used by `dev` when none is given: everything local, Graph pointed at a local
/// double's usual address.
pub fn default_config(port: u16) -> Result<TenantConfig, DevError> {
    let yaml = format!(
        r#"
apiVersion: mcptenancy.dev/config/v1
tenant: {{name: dev, displayName: Development}}
environment: development
server:
  publicUrl: http://127.0.0.1:{port}
  allowedHosts: [127.0.0.1, localhost]
  listen: 127.0.0.1:{port}
  metricsListen: 127.0.0.1:0
identity:
  mode: Builtin
  issuer: http://127.0.0.1:{port}
  audiences: [http://127.0.0.1:{port}/mcp]
  upstream:
    issuer: http://127.0.0.1:{port}
    clientId: dev-client
    clientSecretFile: /dev/null
    scopes: [User.Read]
limits:
  perUser: {{requests: 10000, period: 15m}}
  perIp: {{requests: 10000, period: 15m}}
  auth: {{requests: 10000, period: 15m}}
storage:
  embedded: {{path: /tmp/mcp-tenant-dev-store.json}}
graph: {{baseUrl: "http://127.0.0.1:8089", apiVersion: v1.0}}
keys:
  signingKeysFile: /dev/null
  encryptionKeyFile: /dev/null
"#
    );
    Ok(TenantConfig::from_yaml(&yaml)?)
}

/// Makes a (development) config local: loopback only, Builtin mode with the server as its own
/// issuer and the development sign-in as its upstream.
pub fn localize(mut config: TenantConfig, port: u16) -> Result<TenantConfig, DevError> {
    if config.environment == mcp_tenancy_config::Environment::Production {
        return Err(DevError::Production);
    }
    let base = format!("http://127.0.0.1:{port}");
    let url = |path: &str| {
        url::Url::parse(&format!("{base}{path}")).map_err(|e| ConfigError::Invalid {
            field: "server.publicUrl".into(),
            message: e.to_string(),
        })
    };
    config.server.listen = SocketAddr::from(([127, 0, 0, 1], port));
    config.server.metrics_listen = SocketAddr::from(([127, 0, 0, 1], config.server.metrics_listen.port()));
    config.server.public_url = url("")?;
    for host in ["127.0.0.1", "localhost"] {
        if !config.server.allowed_hosts.iter().any(|h| h == host) {
            config.server.allowed_hosts.push(host.into());
        }
    }
    config.identity.mode = mcp_tenancy_config::IdentityMode::Builtin;
    config.identity.issuer = url("")?;
    config.identity.jwks_uri = None;
    config.validate()?;
    Ok(config)
}

/// The tools of development mode: `tools`, and in conformance builds the conformance suite's
/// fixture tools.
#[cfg_attr(not(feature = "conformance"), allow(unused_mut))]
pub fn tools(mut tools: Vec<Arc<dyn Tool>>) -> Vec<Arc<dyn Tool>> {
    #[cfg(feature = "conformance")]
    tools.extend(crate::tools::conformance::fixtures());
    tools
}

/// The conformance suite's fixture prompts and resources, in conformance builds.
pub fn fixtures() -> Option<Arc<dyn crate::mcp::fixtures::Fixtures>> {
    #[cfg(feature = "conformance")]
    return Some(Arc::new(crate::tools::conformance::Offer));
    #[cfg(not(feature = "conformance"))]
    None
}

/// The banner printed at start: loud, with a ready-to-run client command.
pub fn banner(mcp_url: &str, token: &str, metrics: SocketAddr) -> String {
    format!(
        "\n\
         ==================================================================\n\
         \x20 mcp-tenant-server: DEVELOPMENT MODE. Not for production.\n\
         \x20 Built-in authorization server with an ephemeral key and a local\n\
         \x20 development sign-in (no Microsoft account); 127.0.0.1 only.\n\
         ==================================================================\n\
         MCP endpoint : {mcp_url}\n\
         Metrics      : http://{metrics}/metrics\n\
         Demo token (valid 1 hour):\n{token}\n\n\
         Sign in through OAuth (no token to paste):\n\
         \x20 npx mcp-remote@0.15.1 {mcp_url}\n\n\
         Or use the demo token:\n\
         \x20 npx @modelcontextprotocol/inspector@2.12.0 --cli {mcp_url} --transport http \\\n\
         \x20   --header \"Authorization: Bearer {token}\" --method tools/list\n\n\
         \x20 curl -s {mcp_url} -H \"Authorization: Bearer {token}\" \\\n\
         \x20   -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \\\n\
         \x20   -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{{\"name\":\"whoami\"}}}}'\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformance_fixtures_only_in_conformance_builds() {
        let config = default_config(8080).unwrap();
        let names: Vec<_> = tools(crate::tools::core::tools(&config))
            .iter()
            .map(|t| t.definition().name)
            .collect();
        assert_eq!(names.contains(&"test_simple_text"), cfg!(feature = "conformance"));
        assert_eq!(&names[..2], ["whoami", "server_info"]);
    }

    #[test]
    fn production_configs_are_refused() {
        let mut config = default_config(8080).unwrap();
        config.environment = mcp_tenancy_config::Environment::Production;
        assert!(matches!(localize(config, 8080), Err(DevError::Production)));
    }

    #[test]
    fn localize_binds_loopback_and_trusts_the_local_issuer() {
        let mut config = default_config(8080).unwrap();
        config.server.listen = SocketAddr::from(([0, 0, 0, 0], 1));
        let config = localize(config, 9000).unwrap();
        assert_eq!(config.server.listen, SocketAddr::from(([127, 0, 0, 1], 9000)));
        assert!(config.server.metrics_listen.ip().is_loopback());
        assert_eq!(config.identity.mode, mcp_tenancy_config::IdentityMode::Builtin);
        assert_eq!(config.identity.issuer.as_str(), "http://127.0.0.1:9000/");
        assert_eq!(config.identity.jwks_uri, None);
    }

    #[test]
    fn mints_verifiable_es256_tokens() {
        let issuer = DevIssuer::generate("http://127.0.0.1:1").unwrap();
        let token = issuer.mint_demo_token("http://127.0.0.1:1/mcp", 60).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.kid.as_deref(), Some(issuer.kid()));
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(issuer.jwks()["keys"][0].clone()).unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
        validation.set_audience(&["http://127.0.0.1:1/mcp"]);
        jsonwebtoken::decode::<Value>(&token, &key, &validation).unwrap();
    }
}
