//! Development mode: a local issuer with an ephemeral ES256 key, so the server runs on a laptop
//! with no identity provider. Refused when the config says `environment: production`.

use std::{net::SocketAddr, sync::Arc};

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_tenancy_config::{ConfigError, TenantConfig};
use serde_json::{Value, json};

use crate::{clock::now_secs, crypto::sha256, tools::Tool};

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
  mode: External
  issuer: http://127.0.0.1:{port}
  jwksUri: http://127.0.0.1:{port}/dev/jwks.json
  audiences: [http://127.0.0.1:{port}/mcp]
  upstream:
    issuer: http://127.0.0.1:{port}
    clientId: dev-client
    clientSecretFile: /dev/null
    scopes: [User.Read]
limits:
  perUser: {{requests: 10000, period: 15m}}
  perIp: {{requests: 10000, period: 15m}}
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

/// Makes a (development) config local: loopback only, the local issuer trusted.
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
    config.identity.issuer = url("")?;
    config.identity.jwks_uri = Some(url("/dev/jwks.json")?);
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

/// The banner printed at start: loud, with a ready-to-run client command.
pub fn banner(mcp_url: &str, token: &str, metrics: SocketAddr) -> String {
    format!(
        "\n\
         ==================================================================\n\
         \x20 mcp-tenant-server: DEVELOPMENT MODE. Not for production.\n\
         \x20 Local issuer with an ephemeral key; listening on 127.0.0.1 only.\n\
         ==================================================================\n\
         MCP endpoint : {mcp_url}\n\
         Metrics      : http://{metrics}/metrics\n\
         Demo token (valid 1 hour):\n{token}\n\n\
         Try it:\n\
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
        assert_eq!(
            config.identity.jwks_uri.unwrap().as_str(),
            "http://127.0.0.1:9000/dev/jwks.json"
        );
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
