//! The Graph token provider of Builtin mode: the caller's access token names its grant (`sid`),
//! and the grant holds that user's upstream tokens, sealed. A token close to expiry is refreshed
//! at the upstream (one refresh per grant at a time) and the rotated refresh token kept. The
//! MCP client's own token never leaves the server.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use moka::future::Cache;

use super::{server::AuthServer, upstream::UpstreamError};
use crate::{
    caller::Caller,
    clock::now_secs,
    graph::{AccessToken, GraphTokenProvider, TokenError},
};

/// An upstream token is refreshed this long before it expires.
const MARGIN_SECS: u64 = 120;

pub struct StoredGrantProvider {
    server: Arc<AuthServer>,
    /// Grant id → its current Graph token, so most calls read no store.
    cache: Cache<String, AccessToken>,
}

impl StoredGrantProvider {
    pub fn new(server: Arc<AuthServer>) -> Self {
        Self {
            server,
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(300))
                .build(),
        }
    }

    async fn load(&self, grant_id: &str) -> Result<AccessToken, TokenError> {
        let grants = &self.server.grants;
        let unavailable = |e: super::grants::GrantError| TokenError::Unavailable(e.to_string());
        let Some(mut tokens) = grants.upstream(grant_id).await.map_err(|e| match e {
            super::grants::GrantError::Sealed { .. } => TokenError::Rejected {
                code: "invalid_grant".into(),
                message: format!("{e}; sign in again"),
            },
            other => unavailable(other),
        })?
        else {
            return Err(TokenError::Rejected {
                code: "invalid_grant".into(),
                message: "this grant was revoked or has expired; sign in again".into(),
            });
        };
        let now = now_secs();
        if tokens.expires_at <= now + MARGIN_SECS {
            let Some(refresh) = tokens.refresh_token.clone() else {
                return Err(TokenError::Rejected {
                    code: "invalid_grant".into(),
                    message: "the Microsoft sign-in has expired and cannot be renewed; sign in again".into(),
                });
            };
            let mut fresh = self
                .server
                .upstream
                .refresh(&refresh)
                .await
                .map_err(|e| match e {
                    UpstreamError::Rejected { code, message } => TokenError::Rejected { code, message },
                    other => TokenError::Unavailable(other.to_string()),
                })?;
            if fresh.refresh_token.is_none() {
                fresh.refresh_token = Some(refresh);
            }
            grants.put_upstream(grant_id, &fresh).await.map_err(unavailable)?;
            tokens = fresh;
        }
        let left = tokens
            .expires_at
            .saturating_sub(now_secs())
            .saturating_sub(MARGIN_SECS);
        Ok(AccessToken {
            secret: tokens.access_token,
            expires_at: Instant::now() + Duration::from_secs(left),
        })
    }
}

#[async_trait]
impl GraphTokenProvider for StoredGrantProvider {
    async fn token(&self, caller: &Caller) -> Result<AccessToken, TokenError> {
        if caller.service_account.is_some() {
            return Err(TokenError::NoDelegatedIdentity);
        }
        let grant_id = caller
            .grant_id
            .as_deref()
            .ok_or(TokenError::NoDelegatedIdentity)?;
        if let Some(token) = self.cache.get(grant_id).await
            && token.expires_at > Instant::now()
        {
            return Ok(token);
        }
        // One load (and upstream refresh) per grant at a time.
        self.cache
            .try_get_with(grant_id.to_owned(), self.load(grant_id))
            .await
            .map_err(|e| (*e).clone())
    }

    async fn invalidate(&self, caller: &Caller) {
        if let Some(grant_id) = &caller.grant_id {
            self.cache.invalidate(grant_id).await;
        }
    }
}
