//! Authentication: every request to `/mcp` carries an access token in its Authorization header,
//! verified on every request (a session never stands in for it). Verified tokens are cached by
//! their SHA-256 until they expire, so most requests cost a lookup instead of a signature check.

mod cache;
mod claims;
pub mod jwks;

use std::sync::Arc;

use async_trait::async_trait;
use http::HeaderMap;
use serde_json::{Map, Value};

pub use cache::TokenCache;
pub use claims::{caller_from_claims, string_list_claim};

use crate::caller::Caller;

/// Why a request was not authenticated. `reason()` is the bounded metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("no bearer token in the Authorization header")]
    Missing,
    #[error("the token is not a well-formed JWT access token")]
    Malformed,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by an issuer this server does not trust")]
    WrongIssuer,
    #[error("the token was not issued for this server")]
    WrongAudience,
    #[error("the token's tenant is not allowed on this server")]
    WrongTenant,
    #[error("the token signature is invalid")]
    BadSignature,
    #[error("the token is signed by an unknown key")]
    UnknownKey,
    #[error("the token's signing algorithm is not accepted")]
    UnsupportedAlgorithm,
    #[error("the issuer's signing keys are unavailable")]
    KeysUnavailable,
    #[error("the token is an app-only token of a client that is not a service account of this server")]
    UnknownClient,
    #[error("the sign-in this token was issued for has been revoked; sign in again")]
    Revoked,
    #[error("the server cannot check the token's sign-in right now; retry shortly")]
    StoreUnavailable,
}

impl AuthFailure {
    /// The server, not the token, is at fault: the keys or the store could not be reached.
    pub fn is_server_side(self) -> bool {
        matches!(self, Self::KeysUnavailable | Self::StoreUnavailable)
    }

    /// Bounded label for `mcp_auth_failures_total{reason}` and the audit log.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::WrongTenant => "wrong_tenant",
            Self::BadSignature => "bad_signature",
            Self::UnknownKey => "unknown_key",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::KeysUnavailable => "keys_unavailable",
            Self::UnknownClient => "unknown_client",
            Self::Revoked => "revoked",
            Self::StoreUnavailable => "store_unavailable",
        }
    }
}

/// The verified claims of an access token.
#[derive(Clone, Debug)]
pub struct VerifiedClaims {
    pub claims: Map<String, Value>,
    /// `exp`, seconds since the epoch.
    pub expires_at: u64,
}

impl VerifiedClaims {
    /// The claims of a token whose signature and checks passed; `exp` must be a number.
    pub fn new(claims: Map<String, Value>) -> Result<Self, AuthFailure> {
        let expires_at = claims
            .get("exp")
            .and_then(Value::as_u64)
            .ok_or(AuthFailure::Malformed)?;
        Ok(Self { claims, expires_at })
    }
}

/// Checks a token's signature, issuer, audience, lifetime and tenant.
#[async_trait]
pub trait TokenVerifier: Send + Sync + 'static {
    async fn verify(&self, token: &str) -> Result<VerifiedClaims, AuthFailure>;

    /// Whether keys are at hand (fetched now or cached), for `/readyz`.
    async fn ready(&self) -> bool;

    /// Whether what the token stands for still holds, checked on every request (cached tokens
    /// too): Builtin mode refuses the tokens of a revoked grant at once.
    async fn live(&self, _caller: &Caller) -> Result<(), AuthFailure> {
        Ok(())
    }
}

/// The bearer token of the Authorization header. Tokens anywhere else (query, body, cookies)
/// are ignored, as the MCP authorization spec requires.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthFailure> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(AuthFailure::Missing);
    };
    if values.next().is_some() {
        return Err(AuthFailure::Malformed);
    }
    let value = value.to_str().map_err(|_| AuthFailure::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthFailure::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthFailure::Missing);
    }
    let token = token.trim();
    let b64token = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
    if token.is_empty() || token.len() > 16 * 1024 || !token.chars().all(b64token) {
        return Err(AuthFailure::Malformed);
    }
    Ok(token)
}

/// Verifies tokens through the cache and turns claims into a [`Caller`].
pub struct Authenticator {
    verifier: Arc<dyn TokenVerifier>,
    cache: TokenCache,
    config: Arc<mcp_tenancy_config::TenantConfig>,
}

impl Authenticator {
    pub fn new(
        verifier: Arc<dyn TokenVerifier>,
        config: Arc<mcp_tenancy_config::TenantConfig>,
        cache_capacity: usize,
    ) -> Self {
        Self {
            verifier,
            cache: TokenCache::new(cache_capacity),
            config,
        }
    }

    pub async fn authenticate(&self, token: &str) -> Result<Arc<Caller>, AuthFailure> {
        let caller = match self.cache.get(token) {
            Some(caller) => caller,
            None => {
                let verified = self.verifier.verify(token).await?;
                let caller = Arc::new(caller_from_claims(&verified.claims, &self.config, token)?);
                self.cache.insert(token, caller.clone(), verified.expires_at);
                caller
            }
        };
        self.verifier.live(&caller).await?;
        Ok(caller)
    }

    pub async fn ready(&self) -> bool {
        self.verifier.ready().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(http::header::AUTHORIZATION, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn extracts_only_a_single_well_formed_bearer_header() {
        assert_eq!(bearer_token(&headers(&["Bearer abc.def.ghi"])), Ok("abc.def.ghi"));
        assert_eq!(bearer_token(&headers(&["bearer abc"])), Ok("abc"));
        assert_eq!(bearer_token(&headers(&[])), Err(AuthFailure::Missing));
        assert_eq!(
            bearer_token(&headers(&["Basic dXNlcjpwdw=="])),
            Err(AuthFailure::Missing)
        );
        assert_eq!(bearer_token(&headers(&["Bearer"])), Err(AuthFailure::Malformed));
        assert_eq!(
            bearer_token(&headers(&["Bearer a b"])),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(
            bearer_token(&headers(&["Bearer a", "Bearer b"])),
            Err(AuthFailure::Malformed)
        );
    }
}
