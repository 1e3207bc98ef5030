//! The upstream sign-in (builtin mode) against the real OpenID provider: authorization code +
//! PKCE as the confidential client `tenant-server`, the ID token's checks, refresh with rotation;
//! and, against a scripted token endpoint, forged ID tokens and an upstream that is down.

use std::io::Write;

use mcp_tenancy_config::TenantConfig;
use mcp_tenant_server::{
    caller::Secret,
    dev::DevIssuer,
    oauth::upstream::{OidcUpstream, Upstream, UpstreamError, UpstreamRequest},
    trust::IssuerTrust,
};
use serde_json::json;
use support::{
    TENANT,
    oidc::{Provider, TENANT_SERVER_CLIENT, TENANT_SERVER_SECRET, sign_in},
};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

use crate::support;

const CALLBACK: &str = "http://127.0.0.1:9/oauth/callback";

fn upstream(issuer: &str, client_id: &str, allowed_tenants: &str) -> (OidcUpstream, tempfile::NamedTempFile) {
    mcp_tenant_server::crypto::install_provider();
    let mut secret = tempfile::NamedTempFile::new().unwrap();
    writeln!(secret, "{TENANT_SERVER_SECRET}").unwrap();
    let config = TenantConfig::from_yaml(&format!(
        "apiVersion: mcptenancy.dev/config/v1
tenant: {{name: contoso}}
environment: development
server: {{publicUrl: 'http://mcp.test', allowedHosts: [mcp.test]}}
identity:
  mode: Builtin
  issuer: http://mcp.test
  audiences: [http://mcp.test/mcp]
  allowedTenantIds: [{allowed_tenants}]
  upstream: {{issuer: '{issuer}', clientId: {client_id}, clientSecretFile: '{}', scopes: [profile, Mail.ReadWrite]}}
storage: {{embedded: {{path: /tmp/unused}}}}
graph: {{baseUrl: 'http://127.0.0.1:1', apiVersion: v1.0}}
keys: {{signingKeysFile: /dev/null, encryptionKeyFile: /dev/null}}
",
        secret.path().display()
    ))
    .unwrap();
    (
        OidcUpstream::new(&config.identity, IssuerTrust::default()).unwrap(),
        secret,
    )
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs `user` in and returns the code the callback got.
async fn code_for(upstream: &OidcUpstream, request: &UpstreamRequest, user: &str) -> String {
    let url = upstream.authorization_url(request).await.unwrap();
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let param = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(
        param("scope"),
        Some("profile Mail.ReadWrite openid offline_access")
    );
    assert_eq!(param("code_challenge_method"), Some("S256"));
    assert_eq!(param("code_challenge"), Some(request.code_challenge().as_str()));
    assert_eq!(param("response_mode"), Some("query"));
    assert_eq!(param("resource"), None, "Entra v2 refuses resource");
    let callback = url::Url::parse(&sign_in(&browser(), url.as_str(), user).await).unwrap();
    let pairs: Vec<(String, String)> = callback.query_pairs().into_owned().collect();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(
        get("state").as_deref(),
        Some(request.state.as_str()),
        "{callback}"
    );
    get("code").unwrap_or_else(|| panic!("no code: {callback}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_redeem_and_refresh_with_rotation() {
    let Some(provider) = Provider::start().await else {
        return;
    };
    provider.set_redirect_uris(&[CALLBACK]).await;
    let (upstream, _secret) = upstream(&provider.issuer, TENANT_SERVER_CLIENT, TENANT);
    let request = UpstreamRequest::new(CALLBACK).unwrap();
    let code = code_for(&upstream, &request, "alice").await;
    let signed_in = upstream.redeem(&code, &request).await.unwrap();
    let identity = &signed_in.identity;
    assert_eq!(identity.subject, "alice");
    assert_eq!(identity.object_id.as_deref(), Some("oid-alice"));
    assert_eq!(identity.tenant_id.as_deref(), Some(TENANT));
    assert_eq!(identity.name.as_deref(), Some("Alice Anders"));
    assert_eq!(identity.username.as_deref(), Some("alice@contoso.test"));
    assert_eq!(identity.roles, vec!["Mail.Reader"]);
    assert_eq!(identity.amr, vec!["pwd", "mfa"]);
    let tokens = &signed_in.tokens;
    let refresh = tokens
        .refresh_token
        .clone()
        .expect("a refresh token for offline_access");
    assert!(tokens.expires_at > mcp_tenant_server::clock::now_secs() + 3000);
    assert!(tokens.scope.as_deref().unwrap().contains("Mail.ReadWrite"));
    let printed = format!("{tokens:?}");
    assert!(!printed.contains(tokens.access_token.expose()) && !printed.contains(refresh.expose()));

    let renewed = upstream.refresh(&refresh).await.unwrap();
    assert_ne!(renewed.access_token, tokens.access_token);
    let rotated = renewed.refresh_token.clone().unwrap();
    assert_ne!(rotated, refresh, "the provider rotates refresh tokens");
    // The rotated one works; the old refresh token is spent (the provider then revokes the
    // grant, as it does when a code is replayed, so these come last).
    upstream.refresh(&rotated).await.unwrap();
    assert!(matches!(
        upstream.refresh(&refresh).await,
        Err(UpstreamError::Rejected { .. })
    ));
    // The same code twice: refused, the user signs in again.
    assert!(matches!(
        upstream.redeem(&code, &request).await,
        Err(UpstreamError::Rejected { ref code, .. }) if code == "invalid_grant"
    ));

    // Each user gets their own token.
    let request = UpstreamRequest::new(CALLBACK).unwrap();
    let code = code_for(&upstream, &request, "bob").await;
    let bob = upstream.redeem(&code, &request).await.unwrap();
    assert_eq!(bob.identity.roles, vec!["Mail.Sender"]);
    assert_eq!(bob.identity.amr, vec!["pwd"]);
    assert_ne!(bob.tokens.access_token, tokens.access_token);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_nonce_verifier_and_tenant_are_refused() {
    let Some(provider) = Provider::start().await else {
        return;
    };
    provider.set_redirect_uris(&[CALLBACK]).await;
    let (upstream, _secret) = upstream(&provider.issuer, TENANT_SERVER_CLIENT, TENANT);

    let request = UpstreamRequest::new(CALLBACK).unwrap();
    let code = code_for(&upstream, &request, "alice").await;
    let other_nonce = UpstreamRequest {
        nonce: "another-nonce".into(),
        ..request.clone()
    };
    match upstream.redeem(&code, &other_nonce).await {
        Err(UpstreamError::Invalid(message)) => assert!(message.contains("nonce"), "{message}"),
        other => panic!("expected Invalid(nonce), got {other:?}"),
    }

    let request = UpstreamRequest::new(CALLBACK).unwrap();
    let code = code_for(&upstream, &request, "alice").await;
    let other_verifier = UpstreamRequest {
        pkce_verifier: Secret::new("x".repeat(43)),
        ..request.clone()
    };
    assert!(matches!(
        upstream.redeem(&code, &other_verifier).await,
        Err(UpstreamError::Rejected { ref code, .. }) if code == "invalid_grant"
    ));

    let request = UpstreamRequest::new(CALLBACK).unwrap();
    let code = code_for(&upstream, &request, "mallory").await;
    match upstream.redeem(&code, &request).await {
        Err(UpstreamError::Invalid(message)) => assert!(message.contains("tid"), "{message}"),
        other => panic!("expected Invalid(tid), got {other:?}"),
    }
}

/// A scripted upstream on `server`: discovery, JWKS of `keys`, and a token endpoint returning
/// `id_token` (or 503 when None).
async fn script(server: &MockServer, keys: &DevIssuer, id_token: Option<&str>) {
    let base = server.uri();
    Mock::given(matchers::path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": base, "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"), "jwks_uri": format!("{base}/jwks"),
        })))
        .mount(server)
        .await;
    Mock::given(matchers::path("/jwks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(keys.jwks().clone()))
        .mount(server)
        .await;
    let token = match id_token {
        Some(t) => ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "at", "token_type": "Bearer", "expires_in": "3600", "id_token": t,
        })),
        None => ResponseTemplate::new(503).set_body_string("<html>down</html>"),
    };
    Mock::given(matchers::path("/token"))
        .respond_with(token)
        .mount(server)
        .await;
}

fn id_token(keys: &DevIssuer, issuer: &str, nonce: &str, extra: serde_json::Value) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let mut header = keys.header();
    header.typ = Some("JWT".into());
    let mut claims = json!({"iss": issuer, "aud": "c", "sub": "u", "tid": TENANT, "nonce": nonce, "iat": now,
        "exp": now + 300, "roles": "Mail.Reader Mail.Sender", "email": "u@contoso.test"});
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    keys.sign(&header, &claims).unwrap()
}

fn flip_signature(token: &str) -> String {
    let (head, signature) = token.rsplit_once('.').unwrap();
    let mut bytes = signature.as_bytes().to_vec();
    bytes[5] = if bytes[5] == b'A' { b'B' } else { b'A' };
    format!("{head}.{}", String::from_utf8(bytes).unwrap())
}

#[tokio::test]
async fn forged_id_tokens_and_a_down_token_endpoint() {
    mcp_tenant_server::crypto::install_provider();
    let keys = DevIssuer::generate("scripted").unwrap();
    let other_keys = DevIssuer::generate("scripted").unwrap();
    let request = UpstreamRequest::new(CALLBACK).unwrap();
    let now = jsonwebtoken::get_current_timestamp();

    let server = MockServer::start().await;
    script(&server, &keys, None).await;
    let (down, _secret) = upstream(&server.uri(), "c", "");
    match down.redeem("code", &request).await {
        Err(UpstreamError::Unavailable(message)) => {
            assert!(message.contains("503"), "{message}");
            assert!(!message.contains(TENANT_SERVER_SECRET), "{message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }

    // A valid ES256 ID token: string expires_in, space-separated roles, email as the username.
    let server = MockServer::start().await;
    script(
        &server,
        &keys,
        Some(&id_token(&keys, &server.uri(), &request.nonce, json!({}))),
    )
    .await;
    let (upstream_ok, _secret) = upstream(&server.uri(), "c", "");
    let signed_in = upstream_ok.redeem("code", &request).await.unwrap();
    assert_eq!(signed_in.identity.roles, vec!["Mail.Reader", "Mail.Sender"]);
    assert_eq!(signed_in.identity.username.as_deref(), Some("u@contoso.test"));
    assert!(signed_in.tokens.refresh_token.is_none());
    assert!(signed_in.tokens.expires_at >= now + 3600);

    type Forge = fn(&DevIssuer, &DevIssuer, &str, &str) -> String;
    let cases: [(&str, Forge); 9] = [
        ("signature", |k, _, iss, n| {
            flip_signature(&id_token(k, iss, n, json!({})))
        }),
        ("kid", |_, o, iss, n| id_token(o, iss, n, json!({}))),
        ("iss", |k, _, _, n| {
            id_token(k, "https://elsewhere.test", n, json!({}))
        }),
        ("aud", |k, _, iss, n| {
            id_token(k, iss, n, json!({"aud": "someone-else"}))
        }),
        ("azp", |k, _, iss, n| {
            id_token(k, iss, n, json!({"azp": "someone-else"}))
        }),
        ("nonce", |k, _, iss, _| id_token(k, iss, "other", json!({}))),
        ("exp", |k, _, iss, n| {
            id_token(k, iss, n, json!({"exp": 1_000_000}))
        }),
        ("iat", |k, _, iss, n| {
            id_token(
                k,
                iss,
                n,
                json!({"iat": 4_000_000_000u64, "exp": 4_000_000_300u64}),
            )
        }),
        ("well-formed", |_, _, _, _| "not.a.jwt".to_owned()),
    ];
    for (check, forge) in cases {
        let server = MockServer::start().await;
        let token = forge(&keys, &other_keys, &server.uri(), &request.nonce);
        script(&server, &keys, Some(&token)).await;
        let (upstream, _secret) = upstream(&server.uri(), "c", "");
        match upstream.redeem("code", &request).await {
            Err(UpstreamError::Invalid(message)) => assert!(message.contains(check), "{check}: {message}"),
            other => panic!("{check}: expected Invalid, got {other:?}"),
        }
    }
}
