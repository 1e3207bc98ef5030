//! An issuer behind a private CA: a real HTTPS issuer on 127.0.0.1 whose certificate a CA made
//! here signed. With the CA bundle the server discovers its keys, verifies its tokens and reaches
//! its token endpoint; without it every call fails and says why.

// A test crate: helpers fail loudly like the tests themselves.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{Json, Router, routing::get, routing::post, serve::Listener};
use mcp_tenant_server::{
    auth::{
        TokenVerifier,
        jwks::{JwksOptions, JwksVerifier, KeySource},
    },
    caller::{Caller, Secret},
    dev::DevIssuer,
    graph::{GraphTokenProvider, OboSettings, OboTokenProvider, TokenError},
    trust::{IssuerTrust, TrustError},
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use url::Url;

const AUDIENCE: &str = "https://contoso.mcp.example.com/mcp";

/// Accepts TLS connections for `axum::serve`; a failed handshake (a client that does not trust
/// the certificate) is dropped and the next connection accepted.
struct TlsListener {
    tcp: TcpListener,
    tls: TlsAcceptor,
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, peer)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(stream) = self.tls.accept(stream).await {
                return (stream, peer);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A private CA, and an OpenID issuer on `https://localhost:<port>/tenant/v2.0` with a
/// certificate it signed.
struct PrivateIssuer {
    url: String,
    ca_pem: String,
    keys: Arc<DevIssuer>,
}

impl PrivateIssuer {
    async fn start() -> Self {
        mcp_tenant_server::crypto::install_provider();
        let mut ca_params = CertificateParams::default();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Contoso Private Root CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        let tls = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
            )
            .unwrap();

        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://localhost:{}/tenant/v2.0",
            tcp.local_addr().unwrap().port()
        );
        let keys = Arc::new(DevIssuer::generate(&url).unwrap());
        let discovery = json!({
            "issuer": url,
            "jwks_uri": format!("{url}/discovery/v2.0/keys"),
            "token_endpoint": format!("{url}/oauth2/v2.0/token"),
        });
        let jwks = keys.jwks().clone();
        let app = Router::new()
            .route(
                "/tenant/v2.0/.well-known/openid-configuration",
                get(move || async move { Json(discovery) }),
            )
            .route(
                "/tenant/v2.0/discovery/v2.0/keys",
                get(move || async move { Json(jwks) }),
            )
            .route(
                "/tenant/v2.0/oauth2/v2.0/token",
                post(|| async {
                    Json(json!({"token_type": "Bearer", "access_token": "graph-token", "expires_in": 3600}))
                }),
            );
        let listener = TlsListener {
            tcp,
            tls: TlsAcceptor::from(Arc::new(tls)),
        };
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            ca_pem: ca.pem(),
            keys,
        }
    }

    fn trust(&self) -> IssuerTrust {
        IssuerTrust::from_pem("ca.crt", self.ca_pem.as_bytes()).unwrap()
    }

    fn verifier(&self, trust: IssuerTrust) -> JwksVerifier {
        let issuer = Url::parse(&self.url).unwrap();
        JwksVerifier::new(
            KeySource::Discovery(issuer.clone()),
            &issuer,
            vec![AUDIENCE.into()],
            JwksOptions {
                min_refresh_interval: Duration::ZERO,
                trust,
                ..JwksOptions::default()
            },
        )
        .unwrap()
    }

    fn token(&self) -> String {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = json!({
            "iss": self.url, "aud": AUDIENCE, "sub": "megan", "oid": "oid-megan",
            "iat": now, "nbf": now, "exp": now + 300, "azp": "client-app",
        });
        self.keys.sign(&self.keys.header(), &claims).unwrap()
    }

    fn obo(&self, trust: IssuerTrust) -> OboTokenProvider {
        OboTokenProvider::new(OboSettings {
            issuer: self.url.parse().unwrap(),
            client_id: "server-app".into(),
            client_secret: Secret::new("server-secret"),
            scopes: vec!["https://graph.microsoft.com/Mail.Read".into()],
            expiry_margin: Duration::from_secs(60),
            max_users: 10,
            timeout: Duration::from_secs(5),
            trust,
        })
        .unwrap()
    }
}

fn caller() -> Caller {
    Caller {
        subject: "megan".into(),
        object_id: Some("oid-megan".into()),
        tenant_id: None,
        name: None,
        client_id: Some("client-app".into()),
        roles: vec![],
        mfa: false,
        service_account: None,
        tiers: vec![],
        assertion: Some(Secret::new("incoming-token")),
        grant_id: None,
    }
}

#[tokio::test]
async fn with_the_bundle_the_keys_of_a_private_ca_issuer_verify_its_tokens() {
    let issuer = PrivateIssuer::start().await;
    let verifier = issuer.verifier(issuer.trust());
    let claims = verifier.verify(&issuer.token()).await.expect("verified");
    assert_eq!(claims.claims.get("sub"), Some(&Value::from("megan")));
    assert!(verifier.ready().await);
}

#[tokio::test]
async fn without_the_bundle_the_issuer_is_not_trusted() {
    let issuer = PrivateIssuer::start().await;
    let verifier = issuer.verifier(IssuerTrust::default());
    assert!(verifier.verify(&issuer.token()).await.is_err());
    assert!(!verifier.ready().await, "keys from an untrusted issuer");

    // The on-behalf-of exchange says what is wrong and what to do.
    let Err(TokenError::Unavailable(message)) = issuer.obo(IssuerTrust::default()).token(&caller()).await
    else {
        panic!("an untrusted issuer gave a token");
    };
    assert!(message.starts_with("OpenID metadata: "), "{message}");
    assert!(message.contains("UnknownIssuer"), "{message}");
    assert!(message.contains("spec.identity.caBundle"), "{message}");
}

#[tokio::test]
async fn with_the_bundle_the_token_endpoint_of_a_private_ca_issuer_answers() {
    let issuer = PrivateIssuer::start().await;
    let token = issuer
        .obo(issuer.trust())
        .token(&caller())
        .await
        .expect("a Graph token");
    assert_eq!(token.secret.expose(), "graph-token");
}

#[tokio::test]
async fn a_bundle_of_several_roots_trusts_each() {
    // The private CA is one of several roots in the bundle, as trust-manager writes them.
    let issuer = PrivateIssuer::start().await;
    let other = PrivateIssuer::start().await;
    let bundle = format!("{}\n{}", other.ca_pem, issuer.ca_pem);
    let trust = IssuerTrust::from_pem("bundle.pem", bundle.as_bytes()).unwrap();
    assert!(issuer.verifier(trust).verify(&issuer.token()).await.is_ok());
}

#[tokio::test]
async fn unusable_bundles_stop_the_server_and_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.crt");
    let err = IssuerTrust::load(Some(&missing)).await.unwrap_err();
    assert!(matches!(err, TrustError::Read { .. }), "{err}");
    assert!(err.to_string().contains("absent.crt"), "{err}");

    let cases = [
        ("empty.crt", String::new(), "holds no PEM certificate"),
        (
            "key.pem",
            KeyPair::generate().unwrap().serialize_pem(),
            "holds no PEM certificate",
        ),
        (
            "truncated.crt",
            "-----BEGIN CERTIFICATE-----\nMIIB\n".to_string(),
            "PEM section 1",
        ),
        (
            "garbage.crt",
            // Valid PEM and base64, but the DER is no certificate.
            "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n".to_string(),
            "certificate 1 is not a usable CA certificate",
        ),
    ];
    for (name, content, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let err = IssuerTrust::load(Some(&path)).await.unwrap_err().to_string();
        assert!(err.contains(name) && err.contains(expected), "{name}: {err}");
    }

    let huge = dir.path().join("huge.crt");
    std::fs::write(&huge, vec![b'a'; 2 * 1024 * 1024]).unwrap();
    let err = IssuerTrust::load(Some(&huge)).await.unwrap_err().to_string();
    assert!(err.contains("huge.crt") && err.contains("byte limit"), "{err}");

    assert!(
        IssuerTrust::load(None).await.is_ok(),
        "no bundle: the system roots"
    );
}
