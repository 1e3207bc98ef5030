//! The authorization server's shared state and how it issues tokens.

use std::sync::Arc;

use async_trait::async_trait;
use mcp_tenancy_config::{Cidr, TenantConfig};
use serde_json::{Value, json};

use super::{
    OAuthError,
    clients::ClientRegistry,
    grants::{Grant, Grants, Refresh},
    keys::{KeyRing, LocalVerifier},
    random_token,
    upstream::Upstream,
};
use crate::{
    auth::{AuthFailure, TokenVerifier, VerifiedClaims},
    caller::Caller,
    clock::now_secs,
    ratelimit::Limiter,
};

/// Scopes the server grants; the MCP endpoint needs `mcp`, refresh tokens `offline_access`.
pub const SCOPES: &[&str] = &["mcp", "offline_access"];

/// Everything the authorization endpoints share.
pub struct AuthServer {
    pub config: Arc<TenantConfig>,
    pub keys: Arc<KeyRing>,
    pub clients: ClientRegistry,
    pub grants: Grants,
    pub upstream: Arc<dyn Upstream>,
    /// `limits.auth` per client IP, on every authorization endpoint.
    pub limiter: Limiter,
    pub trusted_proxies: Vec<Cidr>,
}

/// A token response (RFC 6749 §5.1).
pub struct Issued {
    pub body: Value,
}

/// "Since your last sign-in" for catch_me_up: a store failure means no sign-in on record (the
/// tool falls back to its default period), logged.
#[async_trait]
impl crate::tools::m365::SignIns for AuthServer {
    async fn previous_sign_in(&self, caller: &Caller) -> Option<jiff::Timestamp> {
        let grant = caller.grant_id.as_deref()?;
        match self.grants.previous_sign_in(grant).await {
            Ok(at) => at.and_then(|s| jiff::Timestamp::from_second(i64::try_from(s).ok()?).ok()),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the previous sign-in");
                None
            }
        }
    }
}

impl AuthServer {
    pub fn issuer(&self) -> &str {
        self.config.public_base()
    }

    /// The verifier of the tokens this server issues.
    pub fn verifier(self: &Arc<Self>) -> Arc<dyn TokenVerifier> {
        Arc::new(GrantVerifier {
            local: LocalVerifier::new(
                self.keys.clone(),
                self.issuer(),
                &self.config.accepted_audiences(),
            ),
            server: self.clone(),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.public_base())
    }

    /// Where the upstream sends the user back.
    pub fn callback_url(&self) -> String {
        self.url("/oauth/callback")
    }

    fn access_lifetime(&self) -> u64 {
        self.config.identity.token_lifetimes.access.as_secs()
    }

    /// The `resource` of a request (RFC 8707): absent means the MCP endpoint; anything else
    /// must be one of this server's audiences.
    pub fn resource(&self, requested: Option<&str>) -> Result<String, OAuthError> {
        let Some(resource) = requested.filter(|r| !r.is_empty()) else {
            return Ok(self.config.mcp_url());
        };
        if self.config.accepted_audiences().iter().any(|a| a == resource) {
            Ok(resource.to_owned())
        } else {
            Err(OAuthError::new(
                "invalid_target",
                format!(
                    "resource {resource:?} is not this server; use {}",
                    self.config.mcp_url()
                ),
            ))
        }
    }

    /// The granted scope: the requested scopes must be known; none means all.
    pub fn scope(requested: Option<&str>) -> Result<String, OAuthError> {
        let requested: Vec<&str> = requested.unwrap_or_default().split_whitespace().collect();
        if let Some(unknown) = requested.iter().find(|s| !SCOPES.contains(s)) {
            return Err(OAuthError::new(
                "invalid_scope",
                format!("scope {unknown:?} is not offered; offered: {}", SCOPES.join(" ")),
            ));
        }
        Ok(if requested.is_empty() {
            SCOPES.join(" ")
        } else {
            requested.join(" ")
        })
    }

    fn sign(&self, claims: &Value) -> Result<String, OAuthError> {
        self.keys
            .sign(claims)
            .map_err(|e| OAuthError::server_error(e.to_string()))
    }

    /// An access token for a user's grant, valid `lifetime` seconds.
    pub fn access_token(&self, grant: &Grant, resource: &str, lifetime: u64) -> Result<String, OAuthError> {
        let now = now_secs();
        let identity = &grant.identity;
        let mut claims = json!({
            "iss": self.issuer(),
            "aud": resource,
            "sub": identity.subject,
            "client_id": grant.client_id,
            "scope": grant.scope,
            "sid": grant.id,
            "roles": identity.roles,
            "amr": identity.amr,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": random_token()?,
        });
        for (name, value) in [
            ("oid", &identity.object_id),
            ("tid", &identity.tenant_id),
            ("name", &identity.name),
            ("preferred_username", &identity.username),
        ] {
            if let Some(value) = value {
                claims[name] = json!(value);
            }
        }
        self.sign(&claims)
    }

    /// Tokens for a user's grant: an access token for `resource` and a new refresh token.
    pub async fn issue_for_grant(&self, grant: &Grant, resource: &str) -> Result<Issued, OAuthError> {
        let lifetime = self.access_lifetime();
        let access_token = self.access_token(grant, resource, lifetime)?;
        let refresh_token = random_token()?;
        self.grants
            .put_refresh(
                &refresh_token,
                &Refresh {
                    grant_id: grant.id.clone(),
                    client_id: grant.client_id.clone(),
                },
            )
            .await
            .map_err(grant_error)?;
        Ok(Issued {
            body: json!({
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": lifetime,
                "refresh_token": refresh_token,
                "scope": grant.scope,
            }),
        })
    }

    /// An access token for a service account (client_credentials): no user, no refresh token.
    pub fn issue_for_service_account(
        &self,
        name: &str,
        resource: &str,
        scope: &str,
    ) -> Result<Issued, OAuthError> {
        let now = now_secs();
        let lifetime = self.access_lifetime();
        let claims = json!({
            "iss": self.issuer(),
            "aud": resource,
            "sub": name,
            "client_id": name,
            "gty": "client-credentials",
            "scope": scope,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": random_token()?,
        });
        Ok(Issued {
            body: json!({
                "access_token": self.sign(&claims)?,
                "token_type": "Bearer",
                "expires_in": lifetime,
                "scope": scope,
            }),
        })
    }
}

/// Builtin mode's token verifier: the tenant's own signature and claims, and a grant that still
/// exists (revoking a grant ends its access tokens at once, not when they expire).
struct GrantVerifier {
    local: LocalVerifier,
    server: Arc<AuthServer>,
}

#[async_trait]
impl TokenVerifier for GrantVerifier {
    async fn verify(&self, token: &str) -> Result<VerifiedClaims, AuthFailure> {
        self.local.verify(token).await
    }

    async fn ready(&self) -> bool {
        self.local.ready().await
    }

    async fn live(&self, caller: &Caller) -> Result<(), AuthFailure> {
        let Some(grant_id) = &caller.grant_id else {
            return Ok(());
        };
        match self.server.grants.grant(grant_id).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(AuthFailure::Revoked),
            Err(error) => {
                tracing::error!(%error, "grant check");
                Err(AuthFailure::StoreUnavailable)
            }
        }
    }
}

/// A store or record failure, as the OAuth error a client sees (the cause is logged).
pub fn grant_error(error: super::grants::GrantError) -> OAuthError {
    tracing::error!(%error, "authorization server records");
    OAuthError::unavailable("the authorization server's store is unavailable; retry shortly")
}
