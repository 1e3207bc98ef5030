//! What the authorization server keeps in the store, and the one place that knows its keys:
//! sign-in attempts, consents, one-time codes, grants (one per signed-in client or device),
//! rotating refresh tokens with reuse detection, device codes, each grant's upstream tokens
//! sealed under the tenant's encryption key, the grants of each user (with an index by sign-in
//! name and object id) and account-page sessions. Keys are `<kind>/<id>`; secrets are stored only
//! as SHA-256 hashes.

use std::{sync::Arc, time::Duration};

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::{
    upstream::{UpstreamIdentity, UpstreamRequest, UpstreamTokens},
    vault::{Vault, VaultError},
};
use crate::{
    clock::now_secs,
    crypto::sha256,
    store::{MAX_SET_MEMBERS, Store, StoreError},
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
/// A signed-in session of the account page lasts this long.
pub const ACCOUNT_TTL: Duration = Duration::from_secs(15 * 60);
/// Sign-in names and object ids longer than this are not indexed (nobody can look them up).
const MAX_ALIAS_BYTES: usize = 256;

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
    /// The client the user signs in for; none when the user signs in to the account page.
    #[serde(default)]
    pub request: Option<ClientRequest>,
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

/// A user signed in to the account page (`account/<hash of the session cookie>`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccountSession {
    pub user_key: String,
    pub identity: UpstreamIdentity,
    /// The anti-forgery value every form of the page carries back.
    pub csrf: String,
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

/// What presenting a refresh token did.
#[derive(Debug)]
pub enum Redemption {
    /// It was live and the presenting client's: now spent.
    Redeemed(Refresh),
    /// It was spent before: someone holds a copy (the grant's id).
    Reused(String),
    /// It is live but another client's: left as it was.
    OtherClient,
    /// Unknown, expired or revoked.
    Unknown,
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

    /// Stores a grant with its upstream tokens, lists it under its user and indexes the user by
    /// sign-in name and object id. A user already holding [`MAX_SET_MEMBERS`] grants loses the
    /// least recently used one.
    pub async fn insert_grant(&self, grant: &Grant, tokens: &UpstreamTokens) -> Result<(), GrantError> {
        self.put_upstream(&grant.id, tokens).await?;
        self.put(&format!("grant/{}", grant.id), grant, self.refresh_ttl)
            .await?;
        let set = format!("user/{}", grant.user_key);
        match self.store.set_add(&set, &grant.id, UPSTREAM_TTL).await {
            Err(StoreError::TooLarge(_)) => self.evict_and_add(grant, &set).await?,
            other => other?,
        }
        let identity = &grant.identity;
        for alias in [&identity.username, &identity.object_id].into_iter().flatten() {
            if alias.len() <= MAX_ALIAS_BYTES {
                self.store
                    .put(
                        &alias_key(alias),
                        grant.user_key.clone().into_bytes(),
                        UPSTREAM_TTL,
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Makes room in a full grant set by ending the user's least recently used grant.
    async fn evict_and_add(&self, grant: &Grant, set: &str) -> Result<(), GrantError> {
        let others: Vec<Grant> = self
            .user_grants(&grant.user_key)
            .await?
            .into_iter()
            .filter(|g| g.id != grant.id)
            .collect();
        if others.len() >= MAX_SET_MEMBERS
            && let Some(oldest) = others.last()
        {
            self.revoke(oldest, "limit", "").await?;
        }
        Ok(self.store.set_add(set, &grant.id, UPSTREAM_TTL).await?)
    }

    /// The live grants of a user, most recently used first. Members whose grant has ended are
    /// dropped from the user's set on the way.
    pub async fn user_grants(&self, user_key: &str) -> Result<Vec<Grant>, GrantError> {
        let set = format!("user/{user_key}");
        let mut grants = Vec::new();
        for id in self.store.set_members(&set).await? {
            match self.grant(&id).await? {
                Some(grant) if grant.user_key == user_key => grants.push(grant),
                _ => self.store.set_remove(&set, &id).await?,
            }
        }
        grants.sort_by(|a, b| b.last_used_at.cmp(&a.last_used_at).then_with(|| a.id.cmp(&b.id)));
        Ok(grants)
    }

    /// The user key of a sign-in name (any case) or an object id, from the index that signing
    /// in keeps.
    pub async fn user_by_alias(&self, alias: &str) -> Result<Option<String>, GrantError> {
        if alias.is_empty() || alias.len() > MAX_ALIAS_BYTES {
            return Ok(None);
        }
        let key = alias_key(alias);
        let Some(bytes) = self.store.get(&key).await? else {
            return Ok(None);
        };
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| GrantError::Corrupt {
                key,
                message: "not UTF-8".into(),
            })
    }

    /// Starts an account-page session for the holder of `cookie`.
    pub async fn put_account(&self, cookie: &str, session: &AccountSession) -> Result<(), GrantError> {
        self.put(&format!("account/{}", digest(cookie)), session, ACCOUNT_TTL)
            .await
    }

    pub async fn account(&self, cookie: &str) -> Result<Option<AccountSession>, GrantError> {
        self.get(&format!("account/{}", digest(cookie))).await
    }

    pub async fn delete_account(&self, cookie: &str) -> Result<(), GrantError> {
        Ok(self.store.delete(&format!("account/{}", digest(cookie))).await?)
    }

    pub async fn grant(&self, id: &str) -> Result<Option<Grant>, GrantError> {
        self.get(&format!("grant/{id}")).await
    }

    /// When the user of grant `id` signed in before it: the latest start of their other live
    /// grants that began earlier (each sign-in starts a grant; refreshing keeps it).
    pub async fn previous_sign_in(&self, id: &str) -> Result<Option<u64>, GrantError> {
        let Some(current) = self.grant(id).await? else {
            return Ok(None);
        };
        let grants = self.user_grants(&current.user_key).await?;
        Ok(grants
            .iter()
            .filter(|g| g.id != current.id && g.created_at < current.created_at)
            .map(|g| g.created_at)
            .max())
    }

    /// Keeps a grant alive for another refresh lifetime.
    pub async fn touch_grant(&self, grant: &mut Grant) -> Result<(), GrantError> {
        grant.last_used_at = now_secs();
        self.put(&format!("grant/{}", grant.id), grant, self.refresh_ttl)
            .await
    }

    /// Ends a grant: its refresh tokens stop working and its upstream tokens are deleted. The
    /// end is audited with `by` and `actor` (see [`crate::audit::grant_revoked`]).
    pub async fn revoke(&self, grant: &Grant, by: &str, actor: &str) -> Result<(), GrantError> {
        self.store.delete(&format!("grant/{}", grant.id)).await?;
        self.store.delete(&format!("upstream/{}", grant.id)).await?;
        self.store
            .set_remove(&format!("user/{}", grant.user_key), &grant.id)
            .await?;
        crate::audit::grant_revoked(&self.tenant, &grant.user_key, &grant.client_id, by, actor);
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

    /// Redeems a refresh token for `client_id`: single use, and only by the client it was issued
    /// to. Another client's attempt changes nothing, so it cannot spend the token and make its
    /// owner's next refresh look like reuse.
    pub async fn redeem_refresh(&self, token: &str, client_id: &str) -> Result<Redemption, GrantError> {
        let hash = digest(token);
        let key = format!("refresh/{hash}");
        // Records are never changed, only taken: the client checked here is the one taken below.
        if self
            .get::<Refresh>(&key)
            .await?
            .is_some_and(|record| record.client_id != client_id)
        {
            return Ok(Redemption::OtherClient);
        }
        if let Some(record) = self.take::<Refresh>(&key).await? {
            self.store
                .put(
                    &format!("refresh-used/{hash}"),
                    record.grant_id.clone().into_bytes(),
                    self.refresh_ttl,
                )
                .await?;
            return Ok(Redemption::Redeemed(record));
        }
        let used = self.store.get(&format!("refresh-used/{hash}")).await?;
        Ok(match used.and_then(|g| String::from_utf8(g).ok()) {
            Some(grant_id) => Redemption::Reused(grant_id),
            None => Redemption::Unknown,
        })
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

fn alias_key(alias: &str) -> String {
    format!("alias/{}", alias.to_lowercase())
}

/// The key a user's grants are listed under: tenant-qualified object id, else the subject (as
/// [`crate::caller::Caller::user_key`] computes it from the access token).
pub fn user_key(identity: &UpstreamIdentity) -> String {
    match (&identity.tenant_id, &identity.object_id) {
        (Some(tid), Some(oid)) => format!("{tid}/{oid}"),
        _ => format!("sub/{}", identity.subject),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{caller::Secret, store::EmbeddedStore};

    fn grants() -> Grants {
        let vault = Vault::from_keys(&[[3u8; 32]]).unwrap();
        Grants::new(
            Arc::new(EmbeddedStore::in_memory()),
            Arc::new(vault),
            "t",
            Duration::from_secs(3_600),
        )
    }

    fn identity(username: &str) -> UpstreamIdentity {
        UpstreamIdentity {
            subject: format!("sub-{username}"),
            object_id: Some(format!("oid-{username}")),
            tenant_id: Some("tid".into()),
            name: None,
            username: Some(username.into()),
            roles: Vec::new(),
            amr: Vec::new(),
        }
    }

    fn grant(id: &str, identity: &UpstreamIdentity, last_used_at: u64) -> Grant {
        Grant {
            id: id.into(),
            user_key: user_key(identity),
            identity: identity.clone(),
            client_id: "c".into(),
            client_name: None,
            kind: "browser".into(),
            resource: "https://t.example/mcp".into(),
            scope: "mcp".into(),
            created_at: last_used_at,
            last_used_at,
        }
    }

    fn tokens() -> UpstreamTokens {
        UpstreamTokens {
            access_token: Secret::new("at"),
            expires_at: now_secs() + 60,
            refresh_token: None,
            scope: None,
        }
    }

    #[tokio::test]
    async fn a_users_grants_come_most_recent_first_and_ended_ones_are_pruned() {
        let g = grants();
        let ada = identity("Ada@Example.com");
        for (id, used) in [("old", 10), ("new", 30), ("mid", 20)] {
            g.insert_grant(&grant(id, &ada, used), &tokens()).await.unwrap();
        }
        g.insert_grant(&grant("other", &identity("bob@example.com"), 5), &tokens())
            .await
            .unwrap();
        let key = g.user_by_alias("ada@example.COM").await.unwrap().unwrap();
        assert_eq!(
            Some(key.clone()),
            g.user_by_alias("oid-Ada@Example.com").await.unwrap()
        );
        assert_eq!(g.user_by_alias("nobody").await.unwrap(), None);
        assert_eq!(g.user_by_alias(&"x".repeat(300)).await.unwrap(), None);
        let ids = |list: Vec<Grant>| list.into_iter().map(|g| g.id).collect::<Vec<_>>();
        assert_eq!(ids(g.user_grants(&key).await.unwrap()), ["new", "mid", "old"]);
        // A grant that ended by expiry is still a member of the set until the next listing.
        g.store.delete("grant/mid").await.unwrap();
        assert_eq!(ids(g.user_grants(&key).await.unwrap()), ["new", "old"]);
        assert_eq!(
            g.store.set_members(&format!("user/{key}")).await.unwrap().len(),
            2
        );
    }

    #[tokio::test]
    async fn the_previous_sign_in_is_the_latest_earlier_grant_of_the_same_user() {
        let g = grants();
        let ada = identity("ada@example.com");
        for (id, at) in [("first", 100), ("second", 200), ("now", 300)] {
            g.insert_grant(&grant(id, &ada, at), &tokens()).await.unwrap();
        }
        g.insert_grant(&grant("bob", &identity("bob@example.com"), 250), &tokens())
            .await
            .unwrap();
        assert_eq!(g.previous_sign_in("now").await.unwrap(), Some(200));
        assert_eq!(g.previous_sign_in("second").await.unwrap(), Some(100));
        assert_eq!(g.previous_sign_in("first").await.unwrap(), None);
        assert_eq!(g.previous_sign_in("bob").await.unwrap(), None);
        assert_eq!(g.previous_sign_in("gone").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_full_grant_set_loses_its_least_recently_used_grant() {
        let g = grants();
        let ada = identity("ada@example.com");
        for i in 0..MAX_SET_MEMBERS {
            let used = 1_000 + u64::try_from(i).unwrap();
            g.insert_grant(&grant(&format!("g{i}"), &ada, used), &tokens())
                .await
                .unwrap();
        }
        // g0 is the least recently used; a newer grant takes its place.
        g.insert_grant(&grant("newest", &ada, 5_000), &tokens())
            .await
            .unwrap();
        let list = g.user_grants(&user_key(&ada)).await.unwrap();
        assert_eq!(list.len(), MAX_SET_MEMBERS);
        assert_eq!(list[0].id, "newest");
        assert!(g.grant("g0").await.unwrap().is_none());
        assert!(g.upstream("g0").await.unwrap().is_none());
        assert!(g.grant("g1").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn account_sessions_are_found_by_their_cookie_only() {
        let g = grants();
        let session = AccountSession {
            user_key: "k".into(),
            identity: identity("ada@example.com"),
            csrf: "c".into(),
        };
        g.put_account("cookie-value", &session).await.unwrap();
        assert_eq!(g.account("cookie-value").await.unwrap().unwrap().user_key, "k");
        assert!(g.account("other-value").await.unwrap().is_none());
        g.delete_account("cookie-value").await.unwrap();
        assert!(g.account("cookie-value").await.unwrap().is_none());
    }

    #[test]
    fn pending_records_from_before_the_account_page_still_read() {
        let old = serde_json::json!({
            "request": {"client_id": "c", "client_name": null, "redirect_uri": "http://x/cb",
                        "state": null, "code_challenge": null, "resource": "r", "scope": "mcp",
                        "device": null},
            "upstream": {"state": "s", "nonce": "n", "pkce_verifier": "v", "redirect_uri": "u"},
            "browser": "b"
        });
        let pending: Pending = serde_json::from_value(old).unwrap();
        assert_eq!(pending.request.unwrap().client_id, "c");
    }
}
