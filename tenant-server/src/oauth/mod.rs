//! Builtin mode: the tenant server as the OAuth 2.1 authorization server of its MCP endpoint.
//! Users sign in at the tenant's upstream OpenID provider (Entra ID), approve the client on a
//! consent page, and the client gets short-lived ES256 access tokens and rotating refresh
//! tokens. Each grant keeps that user's upstream (Graph) tokens, sealed in the store.

pub mod account;
pub mod clients;
pub mod device;
pub mod endpoints;
pub mod error;
pub mod grants;
pub mod graph_tokens;
pub mod keys;
pub mod pages;
pub mod server;
pub mod upstream;
pub mod vault;

use std::sync::Arc;

use axum::{
    Router, middleware,
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
pub use error::OAuthError;
pub use server::AuthServer;

use crate::{crypto::sha256, tools::registry::ToolRegistry};

/// 256 random bits, base64url: codes, tokens, ids.
pub fn random_token() -> Result<String, OAuthError> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| OAuthError::server_error("the random generator failed"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The PKCE S256 challenge of a verifier (RFC 7636 §4.2).
pub fn pkce_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()))
}

/// Largest form or JSON body an authorization endpoint reads.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The authorization server's routes, rate-limited per client IP.
pub fn router<S: Clone + Send + Sync + 'static>(
    server: Arc<AuthServer>,
    registry: Arc<ToolRegistry>,
) -> Router<S> {
    let metadata = get(endpoints::metadata);
    Router::new()
        .route("/.well-known/oauth-authorization-server", metadata.clone())
        .route("/.well-known/openid-configuration", metadata)
        .route("/oauth/jwks.json", get(endpoints::jwks))
        .route("/oauth/register", post(endpoints::register))
        .route("/oauth/authorize", get(endpoints::authorize))
        .route("/oauth/consent", post(endpoints::consent))
        .route("/oauth/token", post(endpoints::token))
        .route(
            "/oauth/device_authorization",
            post(endpoints::device_authorization),
        )
        .route("/oauth/revoke", post(endpoints::revoke))
        .route(
            "/device",
            get(endpoints::device_page).post(endpoints::device_submit),
        )
        .route("/account", get(account::page))
        .route("/account/revoke", post(account::revoke))
        .route("/account/sign-out", post(account::sign_out))
        .with_state(server.clone())
        .merge(
            Router::new()
                .route("/oauth/callback", get(endpoints::callback))
                .with_state((server.clone(), registry)),
        )
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(server, endpoints::rate_limit))
}
