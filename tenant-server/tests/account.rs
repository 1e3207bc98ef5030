//! Builtin mode's grant management over a loopback socket: the account page (sign-in, the list
//! of connected clients, revoking one or all, sign-out, anti-forgery, other users' grants,
//! escaping), immediate revocation of access tokens, and the MFA-only admin tools that list and
//! end another user's grants.

use mcp_tenancy_config::AccessTier;
use mcp_tenant_server::{
    caller::Secret,
    clock::now_secs,
    dev::demo_identity,
    graph::DEV_GRAPH_TOKEN,
    oauth::{
        grants::{Grant, user_key},
        upstream::{UpstreamIdentity, UpstreamTokens},
    },
};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use support::oauth::{Browser, REDIRECT, TestServer, location, start};

use crate::support;

fn ada() -> UpstreamIdentity {
    UpstreamIdentity {
        subject: "ada-sub".into(),
        object_id: Some("0000000a-0000-0000-0000-00000000ada0".into()),
        tenant_id: demo_identity().tenant_id,
        name: Some("Ada Lovelace".into()),
        username: Some("Ada@Contoso.example".into()),
        roles: vec!["Reader".into()],
        amr: vec!["pwd".into()],
    }
}

/// A grant of `identity` stored directly (as a consent would), with an access token for it.
async fn grant_for(
    server: &TestServer,
    identity: UpstreamIdentity,
    id: &str,
    client: &str,
) -> (Grant, String) {
    let now = now_secs();
    let grant = Grant {
        id: id.into(),
        user_key: user_key(&identity),
        identity,
        client_id: client.into(),
        client_name: Some(format!("{client} app")),
        kind: "browser".into(),
        resource: server.mcp_url(),
        scope: "mcp offline_access".into(),
        created_at: now - 60,
        last_used_at: now - 60,
    };
    let tokens = UpstreamTokens {
        access_token: Secret::new(DEV_GRAPH_TOKEN),
        expires_at: now + 3_600,
        refresh_token: None,
        scope: None,
    };
    server.auth.grants.insert_grant(&grant, &tokens).await.unwrap();
    let token = server.auth.access_token(&grant, &server.mcp_url(), 300).unwrap();
    (grant, token)
}

/// Signs `browser` in to the account page; the page's HTML.
async fn sign_in_to_account(server: &TestServer, browser: &mut Browser<'_>) -> String {
    let start = browser.get(&server.url("/account")).await;
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let sign_in = location(&start);
    let state = support::oauth::query_param(&sign_in, "state").unwrap();
    let signed_in = browser.post("/dev/sign-in", &[("state", &state)]).await;
    let callback = browser.get(&location(&signed_in)).await;
    assert_eq!(
        callback.status(),
        StatusCode::SEE_OTHER,
        "{}",
        callback.text().await.unwrap()
    );
    assert_eq!(location(&callback), "/account");
    let cookie = callback
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("mcp_account="))
        .expect("the session cookie");
    for attribute in ["Path=/account", "HttpOnly", "SameSite=Lax", "Max-Age=900"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    page(server, browser).await
}

async fn page(server: &TestServer, browser: &mut Browser<'_>) -> String {
    let page = browser.get(&server.url("/account")).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers().get(header::CONTENT_SECURITY_POLICY).is_some());
    page.text().await.unwrap()
}

fn csrf_of(html: &str) -> String {
    let marker = "name=csrf value=\"";
    let start = html.find(marker).unwrap_or_else(|| panic!("no form in {html}")) + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// `whoami` with `token`: the HTTP status, and the error description of a refusal.
async fn mcp_status(server: &TestServer, token: &str) -> (StatusCode, String) {
    let response = server
        .mcp(
            token,
            None,
            json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "account-test", "version": "1"}}}),
        )
        .await;
    let status = response.status();
    let body = response.text().await.unwrap();
    let description = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["error_description"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (status, description)
}

#[tokio::test]
async fn the_account_page_lists_and_ends_the_users_own_grants() {
    let server = start(|_| {}).await;
    // Two clients of the demo user (one with markup in its name), and a grant of another user.
    let client_id = server.register().await;
    let first = server.tokens_for(&client_id).await;
    let sneaky = server
        .register_with(json!({
            "client_name": "<script>alert(1)</script>",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
        }))
        .await;
    let second = server.tokens_for(&sneaky).await;
    let (foreign, foreign_token) = grant_for(&server, ada(), "ada-grant", "ada-client").await;

    let mut browser = Browser::new(&server);
    let html = sign_in_to_account(&server, &mut browser).await;
    assert!(html.contains("demo@dev.invalid"), "{html}");
    let mine = server
        .auth
        .grants
        .user_grants(&user_key(&demo_identity()))
        .await
        .unwrap();
    assert_eq!(mine.len(), 2);
    for grant in &mine {
        assert!(html.contains(&grant.id), "{} in {html}", grant.id);
    }
    assert!(!html.contains("ada-grant"));
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let csrf = csrf_of(&html);

    // Anti-forgery: a post without the value, or with another, changes nothing.
    let target = mine[0].id.clone();
    for form in [
        vec![("grant", target.as_str())],
        vec![("grant", target.as_str()), ("csrf", "forged-value")],
    ] {
        let refused = browser.post("/account/revoke", &form).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert!(refused.text().await.unwrap().contains("csrf"));
    }
    assert!(server.auth.grants.grant(&target).await.unwrap().is_some());

    // Another user's grant is answered as one that does not exist, and stays.
    let refused = browser
        .post("/account/revoke", &[("csrf", &csrf), ("grant", &foreign.id)])
        .await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    assert!(refused.text().await.unwrap().contains("grant"));
    assert!(server.auth.grants.grant(&foreign.id).await.unwrap().is_some());
    let missing = browser.post("/account/revoke", &[("csrf", &csrf)]).await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);

    // Revoking the first client's grant ends its access token at once, and its refresh token.
    let first_access = first["access_token"].as_str().unwrap();
    let first_grant = mine.iter().find(|g| g.client_id == client_id).unwrap().id.clone();
    assert_eq!(mcp_status(&server, first_access).await.0, StatusCode::OK);
    let done = browser
        .post("/account/revoke", &[("csrf", &csrf), ("grant", &first_grant)])
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&done), "/account");
    let (status, description) = mcp_status(&server, first_access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(description.contains("revoked"), "{description}");
    let refresh = server
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client_id),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(refresh.status(), StatusCode::BAD_REQUEST);
    // The other client is untouched, and so is the other user.
    assert_eq!(
        mcp_status(&server, second["access_token"].as_str().unwrap())
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(mcp_status(&server, &foreign_token).await.0, StatusCode::OK);
    let html = page(&server, &mut browser).await;
    assert!(!html.contains(&first_grant));

    // Revoke all: nothing of the user's is left; the other user keeps theirs.
    let all = browser
        .post("/account/revoke", &[("csrf", &csrf), ("all", "1")])
        .await;
    assert_eq!(all.status(), StatusCode::SEE_OTHER);
    assert!(page(&server, &mut browser).await.contains("No application"));
    assert_eq!(
        mcp_status(&server, second["access_token"].as_str().unwrap())
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(mcp_status(&server, &foreign_token).await.0, StatusCode::OK);

    // Sign-out ends the session: the cookie is cleared and an old one opens nothing.
    let old_cookie = browser.cookies["mcp_account"].clone();
    let out = browser.post("/account/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status(), StatusCode::OK);
    assert!(!browser.cookies.contains_key("mcp_account"));
    browser.cookies.insert("mcp_account".into(), old_cookie);
    let ended = browser
        .post("/account/revoke", &[("csrf", &csrf), ("all", "1")])
        .await;
    assert_eq!(ended.status(), StatusCode::UNAUTHORIZED);
    assert!(ended.text().await.unwrap().contains("session has ended"));
    let again = browser.get(&server.url("/account")).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER, "back to sign-in");
    assert!(location(&again).contains("/dev/sign-in"));
}

#[tokio::test]
async fn an_unknown_or_malformed_session_cookie_opens_nothing() {
    let server = start(|_| {}).await;
    for cookie in [
        "mcp_account=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "mcp_account=short",
        "mcp_account_x=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let page = server
            .http
            .get(server.url("/account"))
            .header(header::COOKIE, cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::SEE_OTHER, "{cookie}");
        assert!(location(&page).contains("/dev/sign-in"), "{cookie}");
        let post = server
            .http
            .post(server.url("/account/revoke"))
            .header(header::COOKIE, cookie)
            .form(&[("csrf", "x"), ("all", "1")])
            .send()
            .await
            .unwrap();
        assert_eq!(post.status(), StatusCode::UNAUTHORIZED, "{cookie}");
    }
}

#[tokio::test]
async fn account_sign_ins_are_rate_limited_per_address() {
    let server = start(|c| c.limits.auth = mcp_tenancy_config::RateLimit::new(2, 900)).await;
    for _ in 0..2 {
        let page = server.http.get(server.url("/account")).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::SEE_OTHER);
    }
    let limited = server.http.get(server.url("/account")).send().await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().get(header::RETRY_AFTER).is_some());
}

fn admin_tiers(config: &mut mcp_tenancy_config::TenantConfig) {
    config.access.tiers = vec![
        AccessTier {
            name: "everyone".into(),
            roles: vec!["*".into()],
            tools: vec!["*".into()],
            require_mfa: false,
        },
        AccessTier {
            name: "helpdesk".into(),
            roles: vec!["Developer".into()],
            tools: vec!["admin_*".into()],
            require_mfa: true,
        },
    ];
}

fn structured(reply: &Value) -> &Value {
    assert_eq!(reply["result"]["isError"], json!(false), "{reply}");
    &reply["result"]["structuredContent"]
}

fn tool_error(reply: &Value) -> String {
    assert_eq!(reply["result"]["isError"], json!(true), "{reply}");
    reply["result"]["content"][0]["text"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn admin_tools_list_and_end_another_users_grants_only_with_mfa() {
    let server = start(admin_tiers).await;
    let (_, admin) = grant_for(&server, demo_identity(), "admin-grant", "admin-client").await;
    let (ada_grant, ada_token) = grant_for(&server, ada(), "ada-1", "claude").await;
    let (_, ada_other) = grant_for(&server, ada(), "ada-2", "vscode").await;

    // By sign-in name in any case, or by object id.
    for user in [
        "ada@contoso.example",
        "ADA@CONTOSO.EXAMPLE",
        "0000000a-0000-0000-0000-00000000ada0",
    ] {
        let reply = server
            .call_tool_with(&admin, "admin_list_grants", json!({"user": user}))
            .await;
        let grants = structured(&reply)["grants"].as_array().unwrap().clone();
        let mut ids: Vec<&str> = grants.iter().map(|g| g["id"].as_str().unwrap()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["ada-1", "ada-2"], "{user}");
    }

    // Wrong inputs are tool errors naming the argument.
    let unknown = server
        .call_tool_with(
            &admin,
            "admin_list_grants",
            json!({"user": "nobody@contoso.example"}),
        )
        .await;
    assert!(tool_error(&unknown).contains("nobody has signed in"));
    let long = server
        .call_tool_with(&admin, "admin_list_grants", json!({"user": "x".repeat(300)}))
        .await;
    assert!(tool_error(&long).contains("`user`"));
    let extra = server
        .call_tool_with(&admin, "admin_list_grants", json!({"user": "ada", "all": true}))
        .await;
    assert!(tool_error(&extra).contains("all"));
    let wrong_grant = server
        .call_tool_with(
            &admin,
            "admin_revoke_grants",
            json!({"user": "ada@contoso.example", "grantId": "admin-grant"}),
        )
        .await;
    assert!(tool_error(&wrong_grant).contains("`grantId`"));
    assert!(server.auth.grants.grant("admin-grant").await.unwrap().is_some());

    // One grant ends: its token is refused at once; the other keeps working until "all".
    let reply = server
        .call_tool_with(
            &admin,
            "admin_revoke_grants",
            json!({"user": "ada@contoso.example", "grantId": ada_grant.id}),
        )
        .await;
    assert_eq!(structured(&reply)["revoked"][0]["id"], "ada-1");
    assert_eq!(mcp_status(&server, &ada_token).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(mcp_status(&server, &ada_other).await.0, StatusCode::OK);
    let reply = server
        .call_tool_with(
            &admin,
            "admin_revoke_grants",
            json!({"user": "ada@contoso.example"}),
        )
        .await;
    assert_eq!(structured(&reply)["revoked"].as_array().unwrap().len(), 1);
    assert_eq!(mcp_status(&server, &ada_other).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(mcp_status(&server, &admin).await.0, StatusCode::OK);

    // The same role without MFA: asked to step up, at the HTTP level.
    let mut no_mfa = demo_identity();
    no_mfa.amr = vec!["pwd".into()];
    let (_, weak) = grant_for(&server, no_mfa, "weak-grant", "weak-client").await;
    let session = server.initialize(&weak).await;
    let step_up = server
        .mcp(
            &weak,
            Some(&session),
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": "admin_list_grants", "arguments": {"user": "ada@contoso.example"}}}),
        )
        .await;
    assert_eq!(step_up.status(), StatusCode::FORBIDDEN);
    let challenge = step_up.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");

    // A user outside the tier sees no admin tool, and calling one is an unknown tool.
    let (_, plain) = grant_for(&server, ada(), "ada-3", "claude").await;
    let session = server.initialize(&plain).await;
    let listed = server
        .mcp(
            &plain,
            Some(&session),
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(listed.contains("whoami"));
    assert!(!listed.contains("admin_"), "{listed}");
    let denied = server
        .call_tool_with(&plain, "admin_revoke_grants", json!({"user": "demo@dev.invalid"}))
        .await;
    assert!(
        denied.get("error").is_some() || denied["result"]["isError"] == json!(true),
        "{denied}"
    );
    assert!(server.auth.grants.grant("admin-grant").await.unwrap().is_some());
}

#[tokio::test]
async fn without_tiers_nobody_reaches_the_admin_tools() {
    let server = start(|_| {}).await;
    let (_, token) = grant_for(&server, demo_identity(), "g", "c").await;
    let (ada_grant, _) = grant_for(&server, ada(), "ada-g", "claude").await;
    let denied = server
        .call_tool_with(
            &token,
            "admin_revoke_grants",
            json!({"user": "ada@contoso.example"}),
        )
        .await;
    assert!(
        denied.get("error").is_some() || denied["result"]["isError"] == json!(true),
        "{denied}"
    );
    assert!(server.auth.grants.grant(&ada_grant.id).await.unwrap().is_some());
}
