//! The format of the key material the operator writes into the tenant Secret and the tenant
//! server reads from its mounted volume. Generation lives in the operator; use lives in the server.

use serde::{Deserialize, Serialize};

/// Secret key holding the signing key set (JSON of [`SigningKeySet`]).
pub const SIGNING_KEYS_FILE: &str = "signing-keys.json";
/// Secret key holding the 32-byte AES-256-GCM key, base64 (standard alphabet, padded).
pub const ENCRYPTION_KEY_FILE: &str = "encryption-key";

/// The tenant's ES256 signing keys: one active key, and older keys kept for verification until
/// `retire_after` has passed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningKeySet {
    /// Key id of the key that signs new tokens.
    pub active_kid: String,
    pub keys: Vec<SigningKey>,
}

/// One P-256 key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningKey {
    /// Key id: the base64url SHA-256 JWK thumbprint (RFC 7638) of the public key.
    pub kid: String,
    /// Always `ES256`.
    pub alg: String,
    /// PKCS#8 v1 DER of the private key, base64 (standard alphabet).
    pub private_key_pkcs8: String,
    /// Public key point x coordinate, base64url without padding (JWK `x`).
    pub x: String,
    /// Public key point y coordinate, base64url without padding (JWK `y`).
    pub y: String,
    /// RFC 3339 time the key was created.
    pub created_at: String,
    /// RFC 3339 time after which a retired key is no longer needed for verification; absent for
    /// the active key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retire_after: Option<String>,
}

// Never print key material, even in debug logs.
impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("retire_after", &self.retire_after)
            .finish_non_exhaustive()
    }
}

impl SigningKeySet {
    /// The key that signs new tokens, if the set is consistent.
    pub fn active(&self) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid == self.active_kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_key_material() {
        let key = SigningKey {
            kid: "kid-1".into(),
            alg: "ES256".into(),
            private_key_pkcs8: "SECRET-PKCS8".into(),
            x: "x".into(),
            y: "y".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            retire_after: None,
        };
        let printed = format!(
            "{:?}",
            SigningKeySet {
                active_kid: "kid-1".into(),
                keys: vec![key]
            }
        );
        assert!(printed.contains("kid-1"));
        assert!(!printed.contains("SECRET-PKCS8"));
    }
}
