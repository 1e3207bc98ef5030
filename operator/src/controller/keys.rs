//! The tenant's signing and encryption keys: generated once into the [`KEYS_SECRET_NAME`] Secret,
//! never overwritten, rotated when `spec.keys.rotationRequest` changes.
//!
//! Nothing here logs, prints or returns key material: errors and [`KeyStatus`] carry key ids only.

use std::collections::BTreeMap;

use aws_lc_rs::{
    digest,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::{ByteString, api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use mcp_tenancy_config::keys::{ENCRYPTION_KEY_FILE, SIGNING_KEYS_FILE, SigningKey, SigningKeySet};

use crate::{
    api::{KeyStatus, McpTenant},
    build::{KEYS_SECRET_NAME, tenant_labels},
};

/// Annotation on the key Secret: the `spec.keys.rotationRequest` the keys reflect. Kept on the
/// Secret, not only in status, so that a failed status write can never cause a second rotation.
pub const ROTATION_REQUEST_ANNOTATION: &str = "mcptenancy.dev/rotation-request";
/// `app.kubernetes.io/component` of the key Secret.
const KEYS_COMPONENT: &str = "keys";

/// Why the keys cannot be used or made. Carries no key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the crypto library could not generate a key")]
    Generate,
    #[error(
        "Secret {namespace}/{KEYS_SECRET_NAME} exists but {detail}; restore it from a backup, or delete it to \
         generate new keys (tokens signed with the old keys stop working)"
    )]
    Unreadable { namespace: String, detail: String },
}

/// What the controller must do with the key Secret this pass.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyAction {
    /// The Secret is up to date.
    Keep,
    /// No Secret yet: create it (never replace one that appears meanwhile).
    Create,
    /// Rotate or retire keys: replace the Secret, guarded by its resourceVersion.
    Update,
    /// The same as [`KeyAction::Update`], for a rotation.
    Rotate,
}

/// The key Secret to have, and what changed.
pub struct KeyPlan {
    pub action: KeyAction,
    /// The whole Secret as it must be after this pass.
    pub secret: Secret,
    pub status: KeyStatus,
    /// When the next retired key may be removed; the controller requeues for it.
    pub next_retirement: Option<Timestamp>,
}

impl std::fmt::Debug for KeyPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPlan")
            .field("action", &self.action)
            .field("status", &self.status)
            .field("next_retirement", &self.next_retirement)
            .finish_non_exhaustive()
    }
}

/// Decides the key Secret of `tenant` from the existing one (if any), at time `now`.
pub fn plan_keys(
    tenant: &McpTenant,
    namespace: &str,
    existing: Option<Secret>,
    now: Timestamp,
) -> Result<KeyPlan, KeyError> {
    let now = Timestamp::from_second(now.as_second()).map_err(|_| KeyError::Generate)?;
    let requested = tenant.spec.keys.rotation_request.clone();
    let Some(mut secret) = existing else {
        let set = new_key_set(now)?;
        let encryption_key = new_encryption_key()?;
        let secret = key_secret(tenant, namespace, &set, &encryption_key, requested.as_deref())?;
        return Ok(KeyPlan {
            action: KeyAction::Create,
            status: key_status(&set, requested),
            secret,
            next_retirement: None,
        });
    };
    let unreadable = |detail: &str| KeyError::Unreadable {
        namespace: namespace.into(),
        detail: detail.into(),
    };
    let data = secret.data.get_or_insert_with(BTreeMap::new);
    let mut set: SigningKeySet = data
        .get(SIGNING_KEYS_FILE)
        .ok_or_else(|| unreadable(&format!("has no {SIGNING_KEYS_FILE}")))
        .and_then(|b| {
            serde_json::from_slice(&b.0)
                .map_err(|_| unreadable(&format!("{SIGNING_KEYS_FILE} is not a signing key set")))
        })?;
    if set.active().is_none() {
        return Err(unreadable("its active key id matches no key"));
    }
    if !data.contains_key(ENCRYPTION_KEY_FILE) {
        return Err(unreadable(&format!("has no {ENCRYPTION_KEY_FILE}")));
    }

    let annotations = secret.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let applied = annotations.get(ROTATION_REQUEST_ANNOTATION).cloned();
    let mut action = KeyAction::Keep;
    if requested.is_some() && requested != applied {
        let lifetimes = &tenant.spec.identity.token_lifetimes;
        let longest = lifetimes.access.as_secs().max(lifetimes.refresh.as_secs());
        let retire_after = now
            .checked_add(SignedDuration::from_secs(
                i64::try_from(longest).unwrap_or(i64::MAX),
            ))
            .unwrap_or(Timestamp::MAX);
        for key in set.keys.iter_mut().filter(|k| k.retire_after.is_none()) {
            key.retire_after = Some(retire_after.to_string());
        }
        let key = new_signing_key(now)?;
        set.active_kid = key.kid.clone();
        set.keys.push(key);
        if let Some(r) = &requested {
            annotations.insert(ROTATION_REQUEST_ANNOTATION.into(), r.clone());
        }
        action = KeyAction::Rotate;
    }
    let before = set.keys.len();
    let active = set.active_kid.clone();
    set.keys
        .retain(|k| k.kid == active || retire_after(k).is_none_or(|t| t > now));
    if set.keys.len() != before && action == KeyAction::Keep {
        action = KeyAction::Update;
    }
    if action != KeyAction::Keep {
        let json = serde_json::to_vec(&set).map_err(|_| KeyError::Generate)?;
        data.insert(SIGNING_KEYS_FILE.into(), ByteString(json));
    }
    let next_retirement = set
        .keys
        .iter()
        .filter(|k| k.kid != active)
        .filter_map(retire_after)
        .min();
    let observed = secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ROTATION_REQUEST_ANNOTATION))
        .cloned();
    Ok(KeyPlan {
        action,
        status: key_status(&set, observed),
        secret,
        next_retirement,
    })
}

fn retire_after(key: &SigningKey) -> Option<Timestamp> {
    key.retire_after.as_deref().and_then(|t| t.parse().ok())
}

fn key_status(set: &SigningKeySet, observed_rotation_request: Option<String>) -> KeyStatus {
    KeyStatus {
        active_kid: set.active_kid.clone(),
        rotated_at: set.active().map(|k| k.created_at.clone()),
        previous_kids: set
            .keys
            .iter()
            .filter(|k| k.kid != set.active_kid)
            .map(|k| k.kid.clone())
            .collect(),
        observed_rotation_request,
    }
}

/// The Secret holding `set` and the encryption key. It has the tenant label but no owner
/// reference: deleting the McpTenant must never let the garbage collector take the keys; with
/// `deletionPolicy: Delete` they go with the namespace.
fn key_secret(
    tenant: &McpTenant,
    namespace: &str,
    set: &SigningKeySet,
    encryption_key: &str,
    rotation_request: Option<&str>,
) -> Result<Secret, KeyError> {
    let name = tenant.metadata.name.clone().unwrap_or_default();
    let json = serde_json::to_vec(set).map_err(|_| KeyError::Generate)?;
    let annotations =
        rotation_request.map(|r| BTreeMap::from([(ROTATION_REQUEST_ANNOTATION.to_string(), r.to_string())]));
    Ok(Secret {
        metadata: ObjectMeta {
            name: Some(KEYS_SECRET_NAME.into()),
            namespace: Some(namespace.into()),
            labels: Some(tenant_labels(&name, KEYS_COMPONENT)),
            annotations,
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        immutable: None,
        data: Some(BTreeMap::from([
            (SIGNING_KEYS_FILE.to_string(), ByteString(json)),
            (
                ENCRYPTION_KEY_FILE.to_string(),
                ByteString(encryption_key.as_bytes().to_vec()),
            ),
        ])),
        string_data: None,
    })
}

fn new_key_set(now: Timestamp) -> Result<SigningKeySet, KeyError> {
    let key = new_signing_key(now)?;
    Ok(SigningKeySet {
        active_kid: key.kid.clone(),
        keys: vec![key],
    })
}

/// A fresh ES256 (P-256) key with its RFC 7638 thumbprint as `kid`.
fn new_signing_key(now: Timestamp) -> Result<SigningKey, KeyError> {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| KeyError::Generate)?;
    let pkcs8 = pair.to_pkcs8v1().map_err(|_| KeyError::Generate)?;
    // Uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
    let point = pair.public_key().as_ref();
    let (x, y) = match point {
        [0x04, rest @ ..] if rest.len() == 64 => rest.split_at(32),
        _ => return Err(KeyError::Generate),
    };
    let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
    Ok(SigningKey {
        kid: jwk_thumbprint(&x, &y),
        alg: "ES256".into(),
        private_key_pkcs8: STANDARD.encode(pkcs8.as_ref()),
        x,
        y,
        created_at: now.to_string(),
        retire_after: None,
    })
}

/// RFC 7638 thumbprint of a P-256 public JWK: SHA-256 over the required members in
/// lexicographic order without whitespace, base64url without padding.
pub fn jwk_thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
}

/// A random AES-256 key, base64 (standard alphabet, padded).
fn new_encryption_key() -> Result<String, KeyError> {
    let mut key = [0u8; 32];
    aws_lc_rs::rand::fill(&mut key).map_err(|_| KeyError::Generate)?;
    Ok(STANDARD.encode(key))
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

    use super::*;
    use crate::controller::tests::fixtures::mk_tenant;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn set_of(secret: &Secret) -> SigningKeySet {
        serde_json::from_slice(&secret.data.as_ref().unwrap()[SIGNING_KEYS_FILE].0).unwrap()
    }

    #[test]
    fn rfc7638_thumbprint_matches_the_rfc_method() {
        // Independent computation of the same canonical JSON through serde_json (sorted keys).
        let x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
        let y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
        let canonical = serde_json::json!({"kty": "EC", "crv": "P-256", "y": y, "x": x}).to_string();
        let expected = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref());
        assert_eq!(jwk_thumbprint(x, y), expected);
    }

    #[test]
    fn a_new_tenant_gets_a_working_p256_key_and_a_32_byte_aes_key() {
        let tenant = mk_tenant("contoso");
        let plan = plan_keys(&tenant, "mcp-contoso", None, t("2026-01-01T00:00:00Z")).unwrap();
        assert_eq!(plan.action, KeyAction::Create);
        assert!(
            plan.secret.metadata.owner_references.is_none(),
            "keys must never be garbage collected"
        );
        let set = set_of(&plan.secret);
        let key = set.active().unwrap();
        assert_eq!(key.alg, "ES256");
        assert_eq!(plan.status.active_kid, key.kid);
        assert_eq!(key.kid, jwk_thumbprint(&key.x, &key.y));
        // The private key signs and the published x/y verify.
        let pkcs8 = STANDARD.decode(&key.private_key_pkcs8).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).unwrap();
        let sig = pair.sign(&aws_lc_rs::rand::SystemRandom::new(), b"msg").unwrap();
        let mut point = vec![4u8];
        point.extend(URL_SAFE_NO_PAD.decode(&key.x).unwrap());
        point.extend(URL_SAFE_NO_PAD.decode(&key.y).unwrap());
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
            .verify(b"msg", sig.as_ref())
            .unwrap();
        let aes = &plan.secret.data.as_ref().unwrap()[ENCRYPTION_KEY_FILE].0;
        assert_eq!(STANDARD.decode(aes).unwrap().len(), 32);
        // Debug of the plan shows no key material.
        let printed = format!("{plan:?}");
        assert!(!printed.contains(&key.private_key_pkcs8));
        assert!(!printed.contains(std::str::from_utf8(aes).unwrap()));
    }

    #[test]
    fn existing_keys_are_kept_untouched() {
        let tenant = mk_tenant("contoso");
        let first = plan_keys(&tenant, "mcp-contoso", None, t("2026-01-01T00:00:00Z")).unwrap();
        let again = plan_keys(
            &tenant,
            "mcp-contoso",
            Some(first.secret.clone()),
            t("2026-02-01T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(again.action, KeyAction::Keep);
        assert_eq!(again.secret.data, first.secret.data);
        assert_eq!(again.status, first.status);
    }

    #[test]
    fn rotation_activates_a_new_key_and_retires_the_old_one_after_the_longest_token_lifetime() {
        let mut tenant = mk_tenant("contoso");
        let first = plan_keys(&tenant, "mcp-contoso", None, t("2026-01-01T00:00:00Z")).unwrap();
        let old_kid = first.status.active_kid.clone();
        let old_aes = first.secret.data.as_ref().unwrap()[ENCRYPTION_KEY_FILE].clone();

        tenant.spec.keys.rotation_request = Some("2026-03-01".into());
        let rotated = plan_keys(
            &tenant,
            "mcp-contoso",
            Some(first.secret),
            t("2026-03-01T10:00:00Z"),
        )
        .unwrap();
        assert_eq!(rotated.action, KeyAction::Rotate);
        assert_ne!(rotated.status.active_kid, old_kid);
        assert_eq!(rotated.status.previous_kids, vec![old_kid.clone()]);
        assert_eq!(
            rotated.status.observed_rotation_request.as_deref(),
            Some("2026-03-01")
        );
        assert_eq!(rotated.status.rotated_at.as_deref(), Some("2026-03-01T10:00:00Z"));
        // Default lifetimes: access 5m, refresh 24h: the old key verifies for 24h more.
        let set = set_of(&rotated.secret);
        let old = set.keys.iter().find(|k| k.kid == old_kid).unwrap();
        assert_eq!(old.retire_after.as_deref(), Some("2026-03-02T10:00:00Z"));
        assert_eq!(rotated.next_retirement, Some(t("2026-03-02T10:00:00Z")));
        assert_eq!(
            rotated.secret.data.as_ref().unwrap()[ENCRYPTION_KEY_FILE],
            old_aes,
            "AES key survives"
        );

        // The same request again (e.g. the status write failed): no second rotation.
        let same = plan_keys(
            &tenant,
            "mcp-contoso",
            Some(rotated.secret.clone()),
            t("2026-03-01T11:00:00Z"),
        )
        .unwrap();
        assert_eq!(same.action, KeyAction::Keep);

        // After retireAfter the old key is removed, the active one stays.
        let retired = plan_keys(
            &tenant,
            "mcp-contoso",
            Some(rotated.secret),
            t("2026-03-02T10:00:01Z"),
        )
        .unwrap();
        assert_eq!(retired.action, KeyAction::Update);
        assert!(retired.status.previous_kids.is_empty());
        assert_eq!(set_of(&retired.secret).keys.len(), 1);
        assert_eq!(retired.next_retirement, None);
    }

    #[test]
    fn a_damaged_key_secret_is_reported_and_never_replaced() {
        let tenant = mk_tenant("contoso");
        let mut secret = plan_keys(&tenant, "mcp-contoso", None, Timestamp::now())
            .unwrap()
            .secret;
        secret
            .data
            .as_mut()
            .unwrap()
            .insert(SIGNING_KEYS_FILE.into(), ByteString(b"{not json".to_vec()));
        let err = plan_keys(&tenant, "mcp-contoso", Some(secret), Timestamp::now()).unwrap_err();
        assert!(err.to_string().contains("mcp-contoso/mcp-tenant-keys"), "{err}");
        assert!(!err.to_string().contains("not json"));
    }
}
