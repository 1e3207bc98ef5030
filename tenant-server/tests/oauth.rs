//! Builtin mode end to end over a loopback socket: the tenant server as its own OAuth 2.1
//! authorization server. Registration, authorization code with PKCE through the development
//! sign-in and the consent page, token exchange, refresh rotation with reuse detection,
//! revocation, the device flow, client credentials, forged and foreign tokens, malformed and
//! oversized requests, the rate limit and the metadata. Every error asserts its OAuth code and
//! that the description names the parameter at fault; the MCP access token never reaches Graph.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::Jwk};
use mcp_tenancy_config::{RateLimit, ServiceAccountConfig};
use mcp_tenant_server::{
    clock::now_secs,
    graph::DEV_GRAPH_TOKEN,
    oauth::{grants::CODE_TTL, keys::KeyRing},
};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use support::oauth::{
    Browser, CLIENT_NAME, REDIRECT, TestServer, VERIFIER, assert_error, location, query_param, start,
};

use crate::support;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn server() -> TestServer {
    start(|_| {}).await
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn code_form<'a>(client_id: &'a str, code: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("client_id", client_id),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ]
}

fn refresh_form<'a>(client_id: &'a str, token: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "refresh_token"),
        ("client_id", client_id),
        ("refresh_token", token),
    ]
}

fn str_of<'a>(body: &'a Value, name: &str) -> &'a str {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {body}"))
}

// ---------------------------------------------------------------- 1. the happy path

#[tokio::test]
async fn code_flow_signs_in_consents_and_reaches_graph_with_the_stored_token() {
    let server = server().await;
    let client_id = server.register().await;

    let mut browser = Browser::new(&server);
    let sign_in = browser.authorize(&server.authorize_url(&client_id, &[])).await;
    let html = browser.sign_in(&sign_in).await;
    assert!(html.contains(CLIENT_NAME), "{html}");
    assert!(
        html.contains("127.0.0.1"),
        "the consent page names the redirect host: {html}"
    );
    assert!(html.contains("<code>whoami</code>"), "{html}");
    let back = browser
        .answer(&support::oauth::consent_id_of(&html), "approve")
        .await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    let redirect = location(&back);
    assert!(redirect.starts_with(&format!("{REDIRECT}?")), "{redirect}");
    assert_eq!(query_param(&redirect, "state").as_deref(), Some("st-123"));
    assert_eq!(
        query_param(&redirect, "iss").as_deref(),
        Some(server.auth.issuer())
    );
    let code = query_param(&redirect, "code").unwrap();

    let tokens = server.token_ok(&code_form(&client_id, &code)).await;
    assert_eq!(str_of(&tokens, "token_type"), "Bearer");
    assert!(!str_of(&tokens, "refresh_token").is_empty());
    let access = str_of(&tokens, "access_token");

    // ES256, signed by the key the JWKS publishes.
    let jwks: Value = server
        .http
        .get(server.url("/oauth/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(access).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    let kid = header.kid.unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == json!(kid))
        .unwrap_or_else(|| panic!("kid {kid} not in {jwks}"));
    let jwk: Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[server.mcp_url()]);
    validation.set_issuer(&[server.auth.issuer()]);
    let claims = jsonwebtoken::decode::<Value>(access, &DecodingKey::from_jwk(&jwk).unwrap(), &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["iss"], json!(server.base));
    assert_eq!(claims["aud"], json!(server.mcp_url()));
    assert_eq!(claims["sub"], json!("demo-user"));
    assert_eq!(claims["tid"], json!("00000000-0000-0000-0000-0000000de7e1"));
    assert_eq!(claims["roles"], json!(["Developer"]));
    assert_eq!(claims["amr"], json!(["pwd", "mfa"]));
    assert_eq!(claims["client_id"], json!(client_id));
    let lifetime = claims["exp"].as_u64().unwrap() - now_secs();
    assert!((295..=300).contains(&lifetime), "exp is now + {lifetime}");
    assert_eq!(tokens["expires_in"], json!(300));

    // The token calls a Graph tool; Graph sees the grant's Graph token, never the MCP token.
    server.graph.clear_requests();
    let reply = server.call_tool(access, "mail_list_messages").await;
    assert!(reply.get("result").is_some(), "{reply}");
    assert_ne!(reply["result"]["isError"], json!(true), "{reply}");
    let seen = server.graph.requests();
    assert!(!seen.is_empty(), "the tool reached Graph");
    for request in &seen {
        let authorization = request.headers.get("authorization").unwrap();
        assert_eq!(authorization, &format!("Bearer {DEV_GRAPH_TOKEN}"));
        assert!(!format!("{request:?}").contains(access));
    }
    let whoami = server.call_tool(access, "whoami").await;
    assert!(whoami.to_string().contains("demo-user"), "{whoami}");
}

// ---------------------------------------------------------------- 2. PKCE

/// GET /oauth/authorize with `extra`; the error and its description from the redirect.
async fn authorize_error(server: &TestServer, client_id: &str, extra: &[(&str, &str)]) -> (String, String) {
    let response = server
        .http
        .get(server.authorize_url(client_id, extra))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let redirect = location(&response);
    assert!(redirect.starts_with(REDIRECT), "{redirect}");
    assert_eq!(query_param(&redirect, "state").as_deref(), Some("st-123"));
    assert_eq!(
        query_param(&redirect, "iss").as_deref(),
        Some(server.auth.issuer())
    );
    assert_eq!(query_param(&redirect, "code"), None);
    (
        query_param(&redirect, "error").unwrap(),
        query_param(&redirect, "error_description").unwrap(),
    )
}

#[tokio::test]
async fn pkce_is_required_s256_only_and_checked_at_the_token_endpoint() {
    let server = server().await;
    let client_id = server.register().await;

    let (error, description) = authorize_error(&server, &client_id, &[("code_challenge", "")]).await;
    assert_eq!(error, "invalid_request");
    assert!(description.contains("code_challenge"), "{description}");

    let (error, description) =
        authorize_error(&server, &client_id, &[("code_challenge_method", "plain")]).await;
    assert_eq!(error, "invalid_request");
    assert!(description.contains("code_challenge_method"), "{description}");

    let (error, description) = authorize_error(&server, &client_id, &[("code_challenge_method", "")]).await;
    assert_eq!(error, "invalid_request");
    assert!(description.contains("code_challenge_method"), "{description}");

    let (error, description) = authorize_error(&server, &client_id, &[("code_challenge", "short")]).await;
    assert_eq!(error, "invalid_request");
    assert!(description.contains("code_challenge"), "{description}");

    let code = server.code_for(&client_id).await;
    let wrong = "another-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";
    let mut form = code_form(&client_id, &code);
    form.retain(|(k, _)| *k != "code_verifier");
    let missing = server.token(&form).await;
    assert_error(
        missing,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "code_verifier",
    )
    .await;
    // A wrong verifier; then the right one comes too late, the failed exchange spent the code.
    let code = server.code_for(&client_id).await;
    let mut form = code_form(&client_id, &code);
    form.retain(|(k, _)| *k != "code_verifier");
    form.push(("code_verifier", wrong));
    assert_error(
        server.token(&form).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "code_verifier",
    )
    .await;
    assert_error(
        server.token(&code_form(&client_id, &code)).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "code",
    )
    .await;
}

// ---------------------------------------------------------------- 3. codes and redirect URIs

#[tokio::test]
async fn codes_are_single_use_short_lived_and_bound_to_the_redirect_uri() {
    let server = server().await;
    let client_id = server.register().await;
    assert_eq!(CODE_TTL, Duration::from_secs(60));

    let code = server.code_for(&client_id).await;
    server.token_ok(&code_form(&client_id, &code)).await;
    assert_error(
        server.token(&code_form(&client_id, &code)).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "code",
    )
    .await;

    // At /authorize an unregistered redirect URI is never redirected to: an error page.
    let response = server
        .http
        .get(server.authorize_url(&client_id, &[("redirect_uri", "http://127.0.0.1:7777/elsewhere")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get(header::LOCATION).is_none());
    let page = response.text().await.unwrap();
    assert!(page.contains("redirect_uri"), "{page}");

    // At /token the redirect URI must be the authorization request's.
    let code = server.code_for(&client_id).await;
    let mut form = code_form(&client_id, &code);
    form.retain(|(k, _)| *k != "redirect_uri");
    form.push(("redirect_uri", "http://127.0.0.1:7777/elsewhere"));
    assert_error(
        server.token(&form).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "redirect_uri",
    )
    .await;

    // Unknown client: an error page, no redirect.
    let response = server
        .http
        .get(server.authorize_url("no-such-client", &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get(header::LOCATION).is_none());
    let page = response.text().await.unwrap();
    assert!(page.contains("client_id"), "{page}");

    // A code of one client is refused to another.
    let other = server.register().await;
    let code = server.code_for(&client_id).await;
    assert_error(
        server.token(&code_form(&other, &code)).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "client",
    )
    .await;
}

// ---------------------------------------------------------------- 4. refresh tokens

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_grant() {
    let server = server().await;
    let client_id = server.register().await;
    let first = server.tokens_for(&client_id).await;
    let r1 = str_of(&first, "refresh_token").to_owned();

    let second = server.token_ok(&refresh_form(&client_id, &r1)).await;
    let r2 = str_of(&second, "refresh_token").to_owned();
    assert_ne!(r1, r2);
    let third = server.token_ok(&refresh_form(&client_id, &r2)).await;
    let r3 = str_of(&third, "refresh_token").to_owned();
    assert_ne!(r2, r3);
    // The refreshed access token is still the user's, for the MCP endpoint.
    let claims = claims_of(str_of(&third, "access_token"));
    assert_eq!(claims["sub"], json!("demo-user"));
    assert_eq!(claims["aud"], json!(server.mcp_url()));

    // r1 again: someone holds a copy. Refused, and the whole grant ends, r3 with it.
    assert_error(
        server.token(&refresh_form(&client_id, &r1)).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "refresh token",
    )
    .await;
    assert_error(
        server.token(&refresh_form(&client_id, &r3)).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "refresh token",
    )
    .await;
}

#[tokio::test]
async fn refresh_tokens_belong_to_their_client_and_end_when_revoked() {
    let server = server().await;
    let client_id = server.register().await;
    let other = server.register().await;

    let tokens = server.tokens_for(&client_id).await;
    let refresh = str_of(&tokens, "refresh_token");
    assert_error(
        server.token(&refresh_form(&other, refresh)).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "another client",
    )
    .await;
    // Another client's attempt, at the token endpoint or at revocation, leaves the token to its
    // owner: not spent, so its next refresh is no "reuse" that would end the grant.
    let foreign = server
        .http
        .post(server.url("/oauth/revoke"))
        .form(&[("client_id", other.as_str()), ("token", refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::OK);
    let renewed = server.token(&refresh_form(&client_id, refresh)).await;
    assert_eq!(
        renewed.status(),
        StatusCode::OK,
        "the owner's refresh still works"
    );

    let tokens = server.tokens_for(&client_id).await;
    let refresh = str_of(&tokens, "refresh_token");
    let revoked = server
        .http
        .post(server.url("/oauth/revoke"))
        .form(&[("client_id", client_id.as_str()), ("token", refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_error(
        server.token(&refresh_form(&client_id, refresh)).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "refresh token",
    )
    .await;
    // The grant's access token ends with it (not minutes later), and Graph sees nothing.
    server.graph.clear_requests();
    let refused = server
        .mcp(
            str_of(&tokens, "access_token"),
            None,
            json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "oauth-test", "version": "1"}}}),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let challenge = refused.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    assert!(refused.text().await.unwrap().contains("revoked"));
    assert!(server.graph.requests().is_empty());
    // Unknown tokens are answered 200 as RFC 7009 asks.
    let unknown = server
        .http
        .post(server.url("/oauth/revoke"))
        .form(&[("client_id", client_id.as_str()), ("token", "nonsense")])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::OK);
    // Without a token: invalid_request naming it.
    let missing = server
        .http
        .post(server.url("/oauth/revoke"))
        .form(&[("client_id", client_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_error(missing, StatusCode::BAD_REQUEST, "invalid_request", "token").await;
}

// ---------------------------------------------------------------- 5. device flow

async fn device_client(server: &TestServer) -> String {
    server
        .register_with(json!({
            "client_name": "Test TV",
            "token_endpoint_auth_method": "none",
            "grant_types": [DEVICE_GRANT],
        }))
        .await
}

async fn device_authorization(server: &TestServer, client_id: &str) -> Value {
    let response = server
        .http
        .post(server.url("/oauth/device_authorization"))
        .form(&[("client_id", client_id)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn device_poll<'a>(client_id: &'a str, device_code: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", DEVICE_GRANT),
        ("client_id", client_id),
        ("device_code", device_code),
    ]
}

/// At /device: the typed code, the sign-in, the consent page; its consent id.
async fn enter_code(browser: &mut Browser<'_>, typed: &str) -> String {
    let submitted = browser.post("/device", &[("user_code", typed)]).await;
    assert_eq!(submitted.status(), StatusCode::SEE_OTHER);
    let html = browser.sign_in(&location(&submitted)).await;
    assert!(html.contains("Test TV"), "{html}");
    support::oauth::consent_id_of(&html)
}

#[tokio::test]
async fn device_flow_polls_slows_down_and_issues_tokens_after_approval() {
    let server = server().await;
    let client_id = device_client(&server).await;
    let started = device_authorization(&server, &client_id).await;
    let user_code = str_of(&started, "user_code").to_owned();
    let device_code = str_of(&started, "device_code").to_owned();
    let bytes = user_code.as_bytes();
    assert_eq!(bytes.len(), 9, "{user_code}");
    assert_eq!(bytes[4], b'-');
    assert!(
        bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || b.is_ascii_uppercase() || b.is_ascii_digit()),
        "{user_code}"
    );
    assert_eq!(str_of(&started, "verification_uri"), server.url("/device"));
    assert_eq!(
        query_param(str_of(&started, "verification_uri_complete"), "user_code").as_deref(),
        Some(user_code.as_str())
    );
    assert_eq!(started["interval"], json!(5));

    let poll = device_poll(&client_id, &device_code);
    assert_error(
        server.token(&poll).await,
        StatusCode::BAD_REQUEST,
        "authorization_pending",
        "not answered",
    )
    .await;
    assert_error(
        server.token(&poll).await,
        StatusCode::BAD_REQUEST,
        "slow_down",
        "10 seconds",
    )
    .await;

    // The entry page, pre-filled from verification_uri_complete.
    let mut browser = Browser::new(&server);
    let page = browser
        .get(str_of(&started, "verification_uri_complete"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(&user_code), "{page}");
    // Lower case, without the dash, is the same code.
    let typed = user_code.to_lowercase().replace('-', "");
    let consent = enter_code(&mut browser, &typed).await;
    let done = browser.answer(&consent, "approve").await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.unwrap().contains("Device connected"));

    let tokens = server.token_ok(&poll).await;
    let claims = claims_of(str_of(&tokens, "access_token"));
    assert_eq!(claims["client_id"], json!(client_id));
    assert_eq!(claims["sub"], json!("demo-user"));
    assert!(!str_of(&tokens, "refresh_token").is_empty());

    // The code is spent; unknown device codes have expired.
    assert_error(
        server.token(&poll).await,
        StatusCode::BAD_REQUEST,
        "expired_token",
        "device code",
    )
    .await;
    assert_error(
        server
            .token(&device_poll(&client_id, "no-such-device-code"))
            .await,
        StatusCode::BAD_REQUEST,
        "expired_token",
        "device code",
    )
    .await;
    // A spent user code is not accepted twice: the entry page again, no sign-in.
    let again = browser.post("/device", &[("user_code", &user_code)]).await;
    assert!(again.headers().get(header::LOCATION).is_none());
    let page = again.text().await.unwrap();
    assert!(page.contains("No device is waiting"), "{page}");
}

#[tokio::test]
async fn device_flow_denied_is_access_denied() {
    let server = server().await;
    let client_id = device_client(&server).await;
    let started = device_authorization(&server, &client_id).await;
    let mut browser = Browser::new(&server);
    let consent = enter_code(&mut browser, str_of(&started, "user_code")).await;
    let done = browser.answer(&consent, "deny").await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.unwrap().contains("denied"));
    assert_error(
        server
            .token(&device_poll(&client_id, str_of(&started, "device_code")))
            .await,
        StatusCode::BAD_REQUEST,
        "access_denied",
        "denied",
    )
    .await;

    // A code-flow-only client may not start the device flow.
    let browser_client = server.register().await;
    let refused = server
        .http
        .post(server.url("/oauth/device_authorization"))
        .form(&[("client_id", browser_client.as_str())])
        .send()
        .await
        .unwrap();
    assert_error(
        refused,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        "device code",
    )
    .await;
}

// ---------------------------------------------------------------- 6. client credentials

const ROBOT_SECRET: &str = "robot-secret-0123456789";

#[tokio::test]
async fn service_accounts_get_tokens_with_their_secret() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("robot-secret");
    std::fs::write(&secret_file, ROBOT_SECRET).unwrap();
    let server = start(|config| {
        config.access.service_accounts.push(ServiceAccountConfig {
            name: "robot".into(),
            client_id: None,
            client_secret_file: Some(secret_file.clone()),
            tools: vec!["server_info".into()],
        });
    })
    .await;

    let posted = server
        .token_ok(&[
            ("grant_type", "client_credentials"),
            ("client_id", "robot"),
            ("client_secret", ROBOT_SECRET),
        ])
        .await;
    assert!(posted.get("refresh_token").is_none(), "{posted}");
    let claims = claims_of(str_of(&posted, "access_token"));
    assert_eq!(claims["sub"], json!("robot"));
    assert_eq!(claims["aud"], json!(server.mcp_url()));

    let basic = server
        .http
        .post(server.url("/oauth/token"))
        .basic_auth("robot", Some(ROBOT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::OK);
    let basic: Value = basic.json().await.unwrap();
    let token = str_of(&basic, "access_token");

    for wrong in [
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", "robot"),
            ("client_secret", "not-the-secret"),
        ],
        vec![("grant_type", "client_credentials"), ("client_id", "robot")],
    ] {
        let response = server.token(&wrong).await;
        assert!(response.headers().get(header::WWW_AUTHENTICATE).is_some());
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_client", "secret").await;
    }
    let wrong_basic = server
        .http
        .post(server.url("/oauth/token"))
        .basic_auth("robot", Some("nope"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_error(wrong_basic, StatusCode::UNAUTHORIZED, "invalid_client", "secret").await;

    // The account calls its tool; the others are denied it.
    let info = server.call_tool(token, "server_info").await;
    assert_ne!(info["result"]["isError"], json!(true), "{info}");
    assert!(info.get("result").is_some(), "{info}");
    let whoami = server.call_tool(token, "whoami").await;
    // Tools outside the account's list do not exist for it.
    assert_eq!(whoami["error"]["code"], json!(-32602), "{whoami}");
    assert_eq!(whoami["error"]["message"], json!("Unknown tool: whoami"));

    // A public client cannot use client_credentials.
    let public = server.register().await;
    assert_error(
        server
            .token(&[("grant_type", "client_credentials"), ("client_id", &public)])
            .await,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        "client_credentials",
    )
    .await;
}

// ---------------------------------------------------------------- 7. forged and foreign tokens

#[tokio::test]
async fn forged_tampered_and_foreign_audience_tokens_are_refused() {
    let server = server().await;
    let client_id = server.register().await;
    let tokens = server.tokens_for(&client_id).await;
    let genuine = str_of(&tokens, "access_token");

    // The same claims signed by another tenant's keys.
    let other = KeyRing::ephemeral().unwrap();
    let forged = other.sign(&claims_of(genuine)).unwrap();
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let response = server.mcp(&forged, None, ping.clone()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().get(header::WWW_AUTHENTICATE).is_some());

    // The genuine token with its signature altered.
    let (signed, signature) = genuine.rsplit_once('.').unwrap();
    let mut raw = URL_SAFE_NO_PAD.decode(signature).unwrap();
    raw[10] ^= 0x01;
    let tampered = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(raw));
    let response = server.mcp(&tampered, None, ping.clone()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Claims altered under the genuine signature.
    let mut claims = claims_of(genuine);
    claims["sub"] = json!("admin");
    let header = genuine.split('.').next().unwrap();
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let altered = format!("{header}.{payload}.{signature}");
    let response = server.mcp(&altered, None, ping.clone()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // This server's key, another resource: refused at /mcp.
    let mut claims = claims_of(genuine);
    claims["aud"] = json!("https://other.example/mcp");
    let elsewhere = server.auth.keys.sign(&claims).unwrap();
    let response = server.mcp(&elsewhere, None, ping.clone()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // The genuine one works.
    let response = server.mcp(genuine, None, ping).await;
    assert_eq!(response.status(), StatusCode::OK);

    // Tokens for another resource are not handed out.
    let (error, description) =
        authorize_error(&server, &client_id, &[("resource", "https://other.example/mcp")]).await;
    assert_eq!(error, "invalid_target");
    assert!(description.contains("resource"), "{description}");
    let refresh = str_of(&tokens, "refresh_token");
    let mut form = refresh_form(&client_id, refresh);
    form.push(("resource", "https://other.example/mcp"));
    assert_error(
        server.token(&form).await,
        StatusCode::BAD_REQUEST,
        "invalid_target",
        "resource",
    )
    .await;
}

// ---------------------------------------------------------------- 8. malformed and oversized

#[tokio::test]
async fn malformed_and_oversized_requests_are_refused_with_the_parameter_named() {
    let server = server().await;
    let big = "a".repeat(20 * 1024);
    let response = server
        .token(&[("grant_type", "authorization_code"), ("code", &big)])
        .await;
    assert_error(
        response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request",
        "request body",
    )
    .await;
    // Not a form: an OAuth error in JSON, not the framework's plain text.
    for path in ["/oauth/token", "/oauth/device_authorization", "/oauth/revoke"] {
        let response = server
            .http
            .post(server.url(path))
            .header(header::CONTENT_TYPE, "application/json")
            .body(r#"{"grant_type": "client_credentials"}"#)
            .send()
            .await
            .unwrap();
        assert_error(
            response,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "application/x-www-form-urlencoded",
        )
        .await;
    }
    let response = server
        .http
        .post(server.url("/oauth/register"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(format!("{{\"client_name\": \"{big}\"}}"))
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_client_metadata",
        "at most 16 KiB",
    )
    .await;

    let response = server
        .http
        .post(server.url("/oauth/register"))
        .header(header::CONTENT_TYPE, "application/json")
        .body("{\"redirect_uris\": [")
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_client_metadata",
        "JSON",
    )
    .await;
    let response = server
        .register_raw(&json!({"redirect_uris": ["https://evil.example/cb", 7]}))
        .await;
    let (status, code, description) = support::oauth::oauth_error(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        code == "invalid_client_metadata" || code == "invalid_redirect_uri",
        "{code}: {description}"
    );
    assert!(description.contains("redirect_uris"), "{description}");

    assert_error(
        server.token(&[("client_id", "x")]).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "grant_type",
    )
    .await;
    assert_error(
        server
            .token(&[("grant_type", "password"), ("client_id", "x")])
            .await,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
        "password",
    )
    .await;
    let client_id = server.register().await;
    assert_error(
        server
            .token(&[("grant_type", "authorization_code"), ("client_id", &client_id)])
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "code",
    )
    .await;
    assert_error(
        server
            .token(&[("grant_type", "refresh_token"), ("client_id", &client_id)])
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "refresh_token",
    )
    .await;
    assert_error(
        server
            .token(&[("grant_type", "authorization_code"), ("code", "c")])
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "client_id",
    )
    .await;
    let (status, code, description) = support::oauth::oauth_error(
        server
            .token(&[
                ("grant_type", "refresh_token"),
                ("client_id", "no-such-client"),
                ("refresh_token", "r"),
            ])
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_client"),
        "{description}"
    );
    assert!(description.contains("client"), "{description}");
}

// ---------------------------------------------------------------- 9. rate limit

#[tokio::test]
async fn the_authorization_endpoints_are_rate_limited_per_address() {
    let server = start(|config| config.limits.auth = RateLimit::new(3, 15 * 60)).await;
    for _ in 0..3 {
        let response = server.token(&[("grant_type", "password")]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
    let response = server.token(&[("grant_type", "password")]).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response
        .headers()
        .get(header::RETRY_AFTER)
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=15 * 60).contains(&retry_after), "{retry_after}");
}

// ---------------------------------------------------------------- 10. metadata

#[tokio::test]
async fn metadata_names_this_server_as_the_authorization_server() {
    let server = server().await;
    let get = |path: &'static str| {
        let http = server.http.clone();
        let url = server.url(path);
        async move {
            let response = http.get(url).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            response.json::<Value>().await.unwrap()
        }
    };
    let metadata = get("/.well-known/oauth-authorization-server").await;
    let resource = get("/.well-known/oauth-protected-resource/mcp").await;
    assert_eq!(metadata["issuer"], resource["authorization_servers"][0]);
    assert_eq!(metadata["issuer"], json!(server.base));
    assert_eq!(resource["resource"], json!(server.mcp_url()));
    assert_eq!(metadata["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        json!(true)
    );
    assert_eq!(metadata["client_id_metadata_document_supported"], json!(true));
    for (name, path) in [
        ("device_authorization_endpoint", "/oauth/device_authorization"),
        ("token_endpoint", "/oauth/token"),
        ("authorization_endpoint", "/oauth/authorize"),
        ("registration_endpoint", "/oauth/register"),
        ("revocation_endpoint", "/oauth/revoke"),
        ("jwks_uri", "/oauth/jwks.json"),
    ] {
        assert_eq!(metadata[name], json!(server.url(path)), "{name}");
    }
    let grants = metadata["grant_types_supported"].as_array().unwrap();
    assert!(grants.contains(&json!(DEVICE_GRANT)));
    assert_eq!(get("/.well-known/openid-configuration").await, metadata);
}

// ---------------------------------------------------------------- confidential clients, ports

#[tokio::test]
async fn confidential_clients_authenticate_and_loopback_ports_may_differ() {
    let server = server().await;
    let response = server
        .register_raw(&json!({
            "client_name": "Confidential",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["authorization_code", "refresh_token"],
        }))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let registered: Value = response.json().await.unwrap();
    let client_id = str_of(&registered, "client_id").to_owned();
    let secret = str_of(&registered, "client_secret").to_owned();

    // RFC 8252 §7.3: a loopback redirect URI on another port is the registered one.
    let other_port = "http://127.0.0.1:45678/callback";
    let mut browser = Browser::new(&server);
    let sign_in = browser
        .authorize(&server.authorize_url(&client_id, &[("redirect_uri", other_port)]))
        .await;
    let consent = browser.consent_id(&sign_in).await;
    let back = location(&browser.answer(&consent, "approve").await);
    assert!(back.starts_with(&format!("{other_port}?")), "{back}");
    let code = query_param(&back, "code").unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", other_port),
        ("code_verifier", VERIFIER),
    ];

    // Without its secret the client is not authenticated (and the code is not spent).
    let mut public_form = form.to_vec();
    public_form.push(("client_id", &client_id));
    assert_error(
        server.token(&public_form).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "client secret",
    )
    .await;
    let wrong = server
        .http
        .post(server.url("/oauth/token"))
        .basic_auth(&client_id, Some("wrong"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_client", "client secret").await;
    let exchanged = server
        .http
        .post(server.url("/oauth/token"))
        .basic_auth(&client_id, Some(&secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(exchanged.status(), StatusCode::OK);
    let tokens: Value = exchanged.json().await.unwrap();
    assert_eq!(
        claims_of(str_of(&tokens, "access_token"))["client_id"],
        json!(client_id)
    );

    // A public client presenting a secret is refused too.
    let public = server.register().await;
    assert_error(
        server
            .token(&[
                ("grant_type", "refresh_token"),
                ("client_id", &public),
                ("client_secret", "s"),
                ("refresh_token", "r"),
            ])
            .await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "client secret",
    )
    .await;
}

// ---------------------------------------------------------------- browser binding, denial

#[tokio::test]
async fn sign_in_and_consent_are_bound_to_the_browser_and_answered_once() {
    let server = server().await;
    let client_id = server.register().await;

    // The sign-in finished in another browser (no flow cookie): refused.
    let mut browser = Browser::new(&server);
    let sign_in = browser.authorize(&server.authorize_url(&client_id, &[])).await;
    let state = query_param(&sign_in, "state").unwrap();
    let mut stranger = Browser::new(&server);
    let signed_in = stranger.post("/dev/sign-in", &[("state", &state)]).await;
    let callback = location(&signed_in);
    let refused = stranger.get(&callback).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("another browser"));
    // ... and the pending sign-in is spent: the right browser cannot replay it either.
    let replay = browser.get(&callback).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(
        replay
            .text()
            .await
            .unwrap()
            .contains("expired or was already used")
    );

    // The consent answered from another browser: refused, and spent.
    let sign_in = browser.authorize(&server.authorize_url(&client_id, &[])).await;
    let consent = browser.consent_id(&sign_in).await;
    let mut stranger = Browser::new(&server);
    // A browser with a flow cookie of its own.
    let _ = stranger.authorize(&server.authorize_url(&client_id, &[])).await;
    let refused = stranger.answer(&consent, "approve").await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.headers().get(header::LOCATION).is_none());
    assert!(refused.text().await.unwrap().contains("another browser"));
    let late = browser.answer(&consent, "approve").await;
    assert_eq!(late.status(), StatusCode::BAD_REQUEST);

    // Denied: back to the client with access_denied, the state and iss; no code.
    let sign_in = browser.authorize(&server.authorize_url(&client_id, &[])).await;
    let consent = browser.consent_id(&sign_in).await;
    let denied = location(&browser.answer(&consent, "deny").await);
    assert!(denied.starts_with(REDIRECT), "{denied}");
    assert_eq!(query_param(&denied, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&denied, "state").as_deref(), Some("st-123"));
    assert_eq!(query_param(&denied, "iss").as_deref(), Some(server.auth.issuer()));
    assert_eq!(query_param(&denied, "code"), None);
    // Answered once: the same consent again is refused.
    let again = browser.answer(&consent, "approve").await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);

    // Other authorization request errors go back to the client, naming the parameter.
    let (error, description) = authorize_error(&server, &client_id, &[("response_type", "token")]).await;
    assert_eq!(error, "unsupported_response_type");
    assert!(description.contains("response_type"), "{description}");
    let (error, description) = authorize_error(&server, &client_id, &[("response_type", "")]).await;
    assert_eq!(error, "invalid_request");
    assert!(description.contains("response_type"), "{description}");
    let (error, description) = authorize_error(&server, &client_id, &[("scope", "mcp admin")]).await;
    assert_eq!(error, "invalid_scope");
    assert!(description.contains("admin"), "{description}");
}
