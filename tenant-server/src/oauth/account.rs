//! The account page (`/account`): a user signs in at the upstream, as for a client, and sees
//! every client and device that holds a grant of theirs, with when each was made and last used,
//! and ends one or all of them. Sessions live 15 minutes in a cookie scoped to `/account`; every
//! form carries the session's anti-forgery value, compared in constant time. A revoked grant's
//! refresh tokens stop working at once, and so do its access tokens (the verifier checks that
//! the grant still exists on every request).

use std::{collections::HashMap, sync::Arc};

use axum::{
    Extension, Form,
    extract::State,
    response::{IntoResponse, Redirect, Response},
};
use http::{HeaderMap, StatusCode, header};

use super::{
    OAuthError,
    endpoints::{ClientIp, cookie, set_cookie, sign_in_upstream, too_many},
    grants::{ACCOUNT_TTL, AccountSession, Grant, user_key},
    pages::{self, escape},
    random_token,
    server::{AuthServer, grant_error},
    upstream::UpstreamIdentity,
};
use crate::crypto::constant_time_eq;

/// The session cookie of the account page.
const ACCOUNT_COOKIE: &str = "mcp_account";

type Params = HashMap<String, String>;

/// After the upstream sign-in of the account page: a new session, and the page.
pub(super) async fn start_session(server: &AuthServer, identity: UpstreamIdentity) -> Response {
    let result = async {
        let value = random_token()?;
        let session = AccountSession {
            user_key: user_key(&identity),
            identity,
            csrf: random_token()?,
        };
        server
            .grants
            .put_account(&value, &session)
            .await
            .map_err(grant_error)?;
        let cookie = set_cookie(server, ACCOUNT_COOKIE, &value, "/account", ACCOUNT_TTL.as_secs())?;
        let mut response = Redirect::to("/account").into_response();
        response.headers_mut().insert(header::SET_COOKIE, cookie);
        Ok::<_, OAuthError>(response)
    }
    .await;
    result.unwrap_or_else(|e| pages::error(e.status, &e.description))
}

/// The session of the request's cookie: its value and record, if it is live.
async fn session(
    server: &AuthServer,
    headers: &HeaderMap,
) -> Result<Option<(String, AccountSession)>, Response> {
    let Some(value) = cookie(headers, ACCOUNT_COOKIE) else {
        return Ok(None);
    };
    match server.grants.account(&value).await {
        Ok(session) => Ok(session.map(|s| (value, s))),
        Err(e) => Err(unavailable(e)),
    }
}

fn unavailable(error: super::grants::GrantError) -> Response {
    pages::error(StatusCode::SERVICE_UNAVAILABLE, &grant_error(error).description)
}

/// `GET /account`: the grants of the signed-in user, or the sign-in (limited per client IP
/// like every sign-in).
pub async fn page(
    State(server): State<Arc<AuthServer>>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
) -> Response {
    match session(&server, &headers).await {
        Ok(Some((_, session))) => match server.grants.user_grants(&session.user_key).await {
            Ok(grants) => render(&session, &grants),
            Err(e) => unavailable(e),
        },
        Ok(None) => {
            if let Some(Extension(ClientIp(ip))) = &ip
                && let Err(wait) = server.limiter.check(ip).await
            {
                return too_many(&server, "/account", ip, wait);
            }
            sign_in_upstream(&server, &headers, None).await
        }
        Err(response) => response,
    }
}

/// The session of a form post, with its anti-forgery value checked; else the page to show.
async fn posted_session(
    server: &AuthServer,
    headers: &HeaderMap,
    params: &Params,
) -> Result<(String, AccountSession), Response> {
    let Some((value, session)) = session(server, headers).await? else {
        return Err(pages::page(
            StatusCode::UNAUTHORIZED,
            "Signed out",
            "<p>Your account session has ended. <a href=\"/account\">Sign in again</a>.</p>",
        ));
    };
    let csrf = params.get("csrf").map_or("", String::as_str);
    if !constant_time_eq(csrf.as_bytes(), session.csrf.as_bytes()) {
        return Err(pages::error(
            StatusCode::FORBIDDEN,
            "csrf: this form did not come from your account page; reload it and try again",
        ));
    }
    Ok((value, session))
}

/// `POST /account/revoke`: ends the grant `grant`, or every grant with `all`.
pub async fn revoke(
    State(server): State<Arc<AuthServer>>,
    headers: HeaderMap,
    Form(params): Form<Params>,
) -> Response {
    let (_, session) = match posted_session(&server, &headers, &params).await {
        Ok(pair) => pair,
        Err(response) => return response,
    };
    let ended = if params.contains_key("all") {
        match server.grants.user_grants(&session.user_key).await {
            Ok(grants) => grants,
            Err(e) => return unavailable(e),
        }
    } else {
        let Some(id) = params.get("grant").filter(|id| !id.is_empty()) else {
            return pages::error(StatusCode::BAD_REQUEST, "grant: name the access to end, or all");
        };
        match server.grants.grant(id).await {
            // Another user's grant is answered exactly as one that does not exist.
            Ok(Some(grant)) if grant.user_key == session.user_key => vec![grant],
            Ok(_) => {
                return pages::error(
                    StatusCode::NOT_FOUND,
                    "grant: no such access of yours; it may have ended already",
                );
            }
            Err(e) => return unavailable(e),
        }
    };
    for grant in &ended {
        if let Err(e) = server.grants.revoke(grant, "account", "").await {
            return unavailable(e);
        }
    }
    Redirect::to("/account").into_response()
}

/// `POST /account/sign-out`: ends the session (grants stay).
pub async fn sign_out(
    State(server): State<Arc<AuthServer>>,
    headers: HeaderMap,
    Form(params): Form<Params>,
) -> Response {
    let (value, _) = match posted_session(&server, &headers, &params).await {
        Ok(pair) => pair,
        Err(response) => return response,
    };
    if let Err(e) = server.grants.delete_account(&value).await {
        return unavailable(e);
    }
    let mut response = pages::done("Signed out", "You are signed out of your account page.");
    if let Ok(cookie) = set_cookie(&server, ACCOUNT_COOKIE, "", "/account", 0) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

fn when(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map_or_else(
            || "unknown".to_owned(),
            |t| t.strftime("%Y-%m-%d %H:%M UTC").to_string(),
        )
}

fn render(session: &AccountSession, grants: &[Grant]) -> Response {
    let identity = &session.identity;
    let user = identity
        .username
        .as_deref()
        .or(identity.name.as_deref())
        .unwrap_or(&identity.subject);
    let csrf = escape(&session.csrf);
    let rows: String = grants
        .iter()
        .map(|g| {
            format!(
                "<tr><td><b>{client}</b><br><code>{client_id}</code></td><td>{kind}</td>\
                 <td>{created}</td><td>{used}</td><td><form method=post action=\"/account/revoke\">\
                 <input type=hidden name=csrf value=\"{csrf}\"><input type=hidden name=grant value=\"{id}\">\
                 <button>Revoke</button></form></td></tr>",
                client = escape(g.client_name.as_deref().unwrap_or(&g.client_id)),
                client_id = escape(&g.client_id),
                kind = escape(&g.kind),
                created = when(g.created_at),
                used = when(g.last_used_at),
                id = escape(&g.id),
            )
        })
        .collect();
    let list = if grants.is_empty() {
        "<p>No application or device holds access on your behalf.</p>".to_owned()
    } else {
        format!(
            "<p>These applications and devices can use this server on your behalf:</p>\
             <table><tr><th>Application</th><th>Kind</th><th>Since</th><th>Last used</th><th></th></tr>{rows}</table>\
             <form method=post action=\"/account/revoke\"><input type=hidden name=csrf value=\"{csrf}\">\
             <button name=all value=1>Revoke all</button></form>"
        )
    };
    let body = format!(
        "<p>Signed in as <b>{user}</b>.</p>{list}\
         <form method=post action=\"/account/sign-out\"><input type=hidden name=csrf value=\"{csrf}\">\
         <button>Sign out</button></form>",
        user = escape(user),
    );
    pages::page(StatusCode::OK, "Your connected applications", &body)
}
