//! Who is calling: the verified identity that authentication hands to authorization and tools.

use std::fmt;

/// A verified caller. Built only from a token whose signature, issuer, audience, lifetime and
/// tenant were checked.
#[derive(Clone)]
pub struct Caller {
    /// `sub` claim.
    pub subject: String,
    /// Entra ID object id (`oid`), when the issuer sends one.
    pub object_id: Option<String>,
    /// Entra ID tenant id (`tid`), when the issuer sends one.
    pub tenant_id: Option<String>,
    /// Display name or preferred username, for `whoami` only.
    pub name: Option<String>,
    /// The OAuth client the token was issued to (`azp`, `appid` or `client_id`).
    pub client_id: Option<String>,
    /// Values of the configured role claim.
    pub roles: Vec<String>,
    /// Whether the token's `amr` contains `mfa`.
    pub mfa: bool,
    /// A machine client (client_credentials), matched to a configured service account by name.
    pub service_account: Option<String>,
    /// The tier names the caller falls in (empty when no tiers are configured).
    pub tiers: Vec<String>,
    /// The verified incoming access token, kept only so that an on-behalf-of exchange can use it
    /// as its assertion. Never sent to Graph, never logged.
    pub assertion: Option<Secret>,
    /// Builtin mode: the grant (`sid` claim) the access token was issued for; its stored upstream
    /// tokens are the caller's Graph access.
    pub grant_id: Option<String>,
}

impl Caller {
    /// The key the caller's per-user state (rate limits, sessions, caches, Graph tokens) is kept
    /// under: the tenant-qualified object id where there is one, else the subject.
    pub fn user_key(&self) -> String {
        match (&self.tenant_id, &self.object_id) {
            (Some(tid), Some(oid)) => format!("{tid}/{oid}"),
            _ => format!("sub/{}", self.subject),
        }
    }
}

impl fmt::Debug for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caller")
            .field("subject", &self.subject)
            .field("object_id", &self.object_id)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("roles", &self.roles)
            .field("mfa", &self.mfa)
            .field("service_account", &self.service_account)
            .field("tiers", &self.tiers)
            .finish_non_exhaustive()
    }
}

/// A string that must never be printed. Serializable only to be sealed (the vault's records).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}
