//! What the authorization server keeps in the store, and the one place that knows its keys:
//! sign-in attempts, consents, one-time codes, grants (one per signed-in client or device),
//! rotating refresh tokens with reuse detection, device codes, and each grant's upstream tokens
//! sealed under the tenant's encryption key. Keys are `<kind>/<id>`; secrets are stored only as
//! SHA-256 hashes.

use std::{sync::Arc, time::Duration};

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::{
    upstream::{UpstreamIdentity, UpstreamRequest, UpstreamTokens},
    vault::{Vault, VaultError},
};
use crate::{
    clock::now_secs,
    crypto::sha256,
    store::{Store, StoreError},
};

/// An authorization code lives 60 seconds and is redeemed once.
pub const CODE_TTL: Duration = Duration::from_secs(60);
/// A sign-in attempt or a consent page waits this long for the user.
pub const FLOW_TTL: Duration = Duration::from_secs(600);
/// A device code's lifetime (RFC 8628 `expires_in`).
pub const DEVICE_TTL: Duration = Duration::from_secs(600);
/// Device clients poll at most this often (RFC 8628 `interval`).
pub const DEVICE_INTERVAL_SECS: u64 = 5;
/// The user's upstream tokens outlive one refresh-token lifetime: a grant refreshed now and then
/// keeps its Graph access.
pub const UPSTREAM_TTL: Duration = Duration::from_secs(90 * 24 * 3_600);

/// Hex SHA-256 of a secret: the only form in which codes and tokens are stored.
pub fn digest(secret: &str) -> String {
    hex::encode(sha256(secret.as_bytes()))
}

/// What a client asked for at `/oauth/authorize` or `/oauth/device_authorization`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClientRequest {
    pub client_id: String,
    pub client_name: Option<String>,
    /// Authorization code flow: where the code goes, with the client's `state`.
    pub redirect_uri: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    /// RFC 8707: the audience of the tokens.
    pub resource: String,
    pub scope: String,
    /// Device flow: the device code's hash.
    pub device: Option<String>,
}

/// A sign-in at the upstream in progress (`pending/<upstream state>`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pending {
    pub request: ClientRequest,
    pub upstream: UpstreamRequest,
    /// Hash of the browser's flow cookie: only the browser that started may finish.
    pub browser: String,
}

/// A signed-in user looking at the consent page (`consent/<id>`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Consent {
    pub request: ClientRequest,
    pub identity: UpstreamIdentity,
    /// The upstream tokens, sealed (they move into the grant on approval).
    pub sealed_tokens: String,
    pub browser: String,
}

/// One client's (or device's) access on behalf of one user (`grant/<id>`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Grant {
    pub id: String,
    pub user_key: String,
    pub identity: UpstreamIdentity,
    pub client_id: String,
    pub client_name: Option<String>,
    /// `device` or `browser`.
    pub kind: String,
    pub resource: String,
    pub scope: String,
    pub created_at: u64,
    pub last_used_at: u64,
}

/// A one-time authorization code (`code/<hash>`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Code {
    pub grant_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub resource: String,
}

/// A refresh token (`refresh/<hash>`); once used it becomes `refresh-used/<hash>` so a second
/// use is recognised as theft.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Refresh {
    pub grant_id: String,
    pub client_id: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceStatus {
    Pending,
    Approved,
    Denied,
}

/// A device authorization (`device/<hash of device_code>`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Device {
    pub request: ClientRequest,
    pub user_code: String,
    pub status: DeviceStatus,
    pub grant_id: Option<String>,
    pub expires_at: u64,
    /// Milliseconds since the epoch of the last poll, for `slow_down`.
    pub last_poll_ms: u64,
    pub interval_secs: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored record {key} is not valid: {message}")]
    Corrupt { key: String, message: String },
    #[error("upstream tokens of grant {grant}: {source}")]
    Sealed { grant: String, source: VaultError },
}

/// Typed access to the records, over any [`Store`].
pub struct Grants {
    store: Arc<dyn Store>,
    vault: Arc<Vault>,
    tenant: String,
    refresh_ttl: Duration,
}

impl Grants {
    pub fn new(store: Arc<dyn Store>, vault: Arc<Vault>, tenant: &str, refresh_ttl: Duration) -> Self {
        Self {
            store,
            vault,
            tenant: tenant.to_owned(),
            refresh_ttl,
        }
    }

    async fn put<T: Serialize>(&self, key: &str, value: &T, ttl: Duration) -> Result<(), GrantError> {
        let bytes = serde_json::to_vec(value).map_err(|e| GrantError::Corrupt {
            key: key.to_owned(),
            message: e.to_string(),
        })?;
        Ok(self.store.put(key, bytes, ttl).await?)
    }

    fn decode<T: DeserializeOwned>(key: &str, bytes: Option<Vec<u8>>) -> Result<Option<T>, GrantError> {
        bytes
            .map(|b| {
                serde_json::from_slice(&b).map_err(|e| GrantError::Corrupt {
                    key: key.to_owned(),
                    message: e.to_string(),
                })
            })
            .transpose()
    }

    async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, GrantError> {
        Self::decode(key, self.store.get(key).await?)
    }

    async fn take<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, GrantError> {
        Self::decode(key, self.store.take(key).await?)
    }

    fn aad(&self, key: &str) -> Vec<u8> {
        format!("{}\n{key}", self.tenant).into_bytes()
    }

    /// Seals upstream tokens for the record at `key`.
    pub fn seal(&self, key: &str, tokens: &UpstreamTokens) -> Result<String, GrantError> {
        let plain = serde_json::to_vec(tokens).map_err(|e| GrantError::Corrupt {
            key: key.to_owned(),
            message: e.to_string(),
        })?;
        self.vault
            .seal(&plain, &self.aad(key))
            .map_err(|source| GrantError::Sealed {
                grant: key.to_owned(),
                source,
            })
    }

    fn open(&self, key: &str, sealed: &str) -> Result<UpstreamTokens, GrantError> {
        let plain = self
            .vault
            .open(sealed, &self.aad(key))
            .map_err(|source| GrantError::Sealed {
                grant: key.to_owned(),
                source,
            })?;
        serde_json::from_slice(&plain).map_err(|e| GrantError::Corrupt {
            key: key.to_owned(),
            message: e.to_string(),
        })
    }

    pub async fn put_pending(&self, pending: &Pending) -> Result<(), GrantError> {
        self.put(&format!("pending/{}", pending.upstream.state), pending, FLOW_TTL)
            .await
    }

    pub async fn take_pending(&self, state: &str) -> Result<Option<Pending>, GrantError> {
        self.take(&format!("pending/{state}")).await
    }

    /// Stores a consent; the id is its handle on the page.
    pub async fn put_consent(&self, id: &str, consent: &Consent) -> Result<(), GrantError> {
        self.put(&format!("consent/{id}"), consent, FLOW_TTL).await
    }

    /// The sealed tokens of a consent are sealed for `consent/<id>`.
    pub fn consent_key(id: &str) -> String {
        format!("consent/{id}")
    }

    pub async fn get_consent(&self, id: &str) -> Result<Option<Consent>, GrantError> {
        self.get(&Self::consent_key(id)).await
    }

    pub async fn take_consent(&self, id: &str) -> Result<Option<Consent>, GrantError> {
        self.take(&Self::consent_key(id)).await
    }

    /// Creates the grant of an approved consent, moving its upstream tokens under the grant.
    pub async fn create_grant(
        &self,
        consent_id: &str,
        consent: &Consent,
        id: &str,
        kind: &str,
    ) -> Result<Grant, GrantError> {
        let tokens = self.open(&Self::consent_key(consent_id), &consent.sealed_tokens)?;
        let now = now_secs();
        let grant = Grant {
            id: id.to_owned(),
            user_key: user_key(&consent.identity),
            identity: consent.identity.clone(),
            client_id: consent.request.client_id.clone(),
            client_name: consent.request.client_name.clone(),
            kind: kind.to_owned(),
            resource: consent.request.resource.clone(),
            scope: consent.request.scope.clone(),
            created_at: now,
            last_used_at: now,
        };
        self.insert_grant(&grant, &tokens).await?;
        Ok(grant)
    }

    /// Stores a grant with its upstream tokens and lists it under its user.
    pub async fn insert_grant(&self, grant: &Grant, tokens: &UpstreamTokens) -> Result<(), GrantError> {
        self.put_upstream(&grant.id, tokens).await?;
        self.put(&format!("grant/{}", grant.id), grant, self.refresh_ttl)
            .await?;
        self.store
            .set_add(&format!("user/{}", grant.user_key), &grant.id, UPSTREAM_TTL)
            .await?;
        Ok(())
    }

    pub async fn grant(&self, id: &str) -> Result<Option<Grant>, GrantError> {
        self.get(&format!("grant/{id}")).await
    }

    /// Keeps a grant alive for another refresh lifetime.
    pub async fn touch_grant(&self, grant: &mut Grant) -> Result<(), GrantError> {
        grant.last_used_at = now_secs();
        self.put(&format!("grant/{}", grant.id), grant, self.refresh_ttl)
            .await
    }

    /// Ends a grant: its refresh tokens stop working and its upstream tokens are deleted.
    pub async fn revoke(&self, grant: &Grant) -> Result<(), GrantError> {
        self.store.delete(&format!("grant/{}", grant.id)).await?;
        self.store.delete(&format!("upstream/{}", grant.id)).await?;
        self.store
            .set_remove(&format!("user/{}", grant.user_key), &grant.id)
            .await?;
        Ok(())
    }

    pub async fn put_upstream(&self, grant_id: &str, tokens: &UpstreamTokens) -> Result<(), GrantError> {
        let key = format!("upstream/{grant_id}");
        let sealed = self.seal(&key, tokens)?;
        Ok(self.store.put(&key, sealed.into_bytes(), UPSTREAM_TTL).await?)
    }

    pub async fn upstream(&self, grant_id: &str) -> Result<Option<UpstreamTokens>, GrantError> {
        let key = format!("upstream/{grant_id}");
        let Some(bytes) = self.store.get(&key).await? else {
            return Ok(None);
        };
        let sealed = String::from_utf8(bytes).map_err(|_| GrantError::Corrupt {
            key: key.clone(),
            message: "not UTF-8".into(),
        })?;
        self.open(&key, &sealed).map(Some)
    }

    pub async fn put_code(&self, code: &str, record: &Code) -> Result<(), GrantError> {
        self.put(&format!("code/{}", digest(code)), record, CODE_TTL)
            .await
    }

    pub async fn take_code(&self, code: &str) -> Result<Option<Code>, GrantError> {
        self.take(&format!("code/{}", digest(code))).await
    }

    pub async fn put_refresh(&self, token: &str, record: &Refresh) -> Result<(), GrantError> {
        self.put(&format!("refresh/{}", digest(token)), record, self.refresh_ttl)
            .await
    }

    /// Redeems a refresh token once. `Err(Some(grant))` when it was already used: the caller
    /// revokes that grant (RFC 9700 §4.14.2).
    pub async fn redeem_refresh(&self, token: &str) -> Result<Result<Refresh, Option<String>>, GrantError> {
        let hash = digest(token);
        if let Some(record) = self.take::<Refresh>(&format!("refresh/{hash}")).await? {
            self.store
                .put(
                    &format!("refresh-used/{hash}"),
                    record.grant_id.clone().into_bytes(),
                    self.refresh_ttl,
                )
                .await?;
            return Ok(Ok(record));
        }
        let used = self.store.get(&format!("refresh-used/{hash}")).await?;
        Ok(Err(used.and_then(|g| String::from_utf8(g).ok())))
    }

    pub async fn put_device(&self, device_code: &str, device: &Device) -> Result<(), GrantError> {
        let hash = digest(device_code);
        self.put(&format!("device/{hash}"), device, DEVICE_TTL).await?;
        self.store
            .put(
                &format!("user-code/{}", device.user_code),
                hash.into_bytes(),
                DEVICE_TTL,
            )
            .await?;
        Ok(())
    }

    /// The device code's hash for a user code, as typed (case, dashes and spaces ignored).
    pub async fn device_by_user_code(&self, user_code: &str) -> Result<Option<(String, Device)>, GrantError> {
        let Some(normalized) = super::device::normalize_user_code(user_code) else {
            return Ok(None);
        };
        let Some(hash) = self.store.get(&format!("user-code/{normalized}")).await? else {
            return Ok(None);
        };
        let hash = String::from_utf8(hash).unwrap_or_default();
        Ok(self
            .get::<Device>(&format!("device/{hash}"))
            .await?
            .map(|device| (hash, device)))
    }

    pub async fn device(&self, hash: &str) -> Result<Option<Device>, GrantError> {
        self.get(&format!("device/{hash}")).await
    }

    /// Saves a device record under its hash, for the rest of its lifetime.
    pub async fn update_device(&self, hash: &str, device: &Device) -> Result<(), GrantError> {
        let left = device.expires_at.saturating_sub(now_secs()).max(1);
        self.put(&format!("device/{hash}"), device, Duration::from_secs(left))
            .await
    }

    pub async fn delete_device(&self, hash: &str, device: &Device) -> Result<(), GrantError> {
        self.store.delete(&format!("device/{hash}")).await?;
        self.store
            .delete(&format!("user-code/{}", device.user_code))
            .await?;
        Ok(())
    }
}

/// The key a user's grants are listed under: tenant-qualified object id, else the subject (as
/// [`crate::caller::Caller::user_key`] computes it from the access token).
pub fn user_key(identity: &UpstreamIdentity) -> String {
    match (&identity.tenant_id, &identity.object_id) {
        (Some(tid), Some(oid)) => format!("{tid}/{oid}"),
        _ => format!("sub/{}", identity.subject),
    }
}
