//! The tenant's signing keys: the operator writes them into the key Secret, the server signs
//! access tokens with the active one and verifies with every key not yet retired. The mounted file
//! is read again when a token names an unknown key or the keys are older than a minute, so an
//! operator rotation reaches the server without a restart and old tokens stay verifiable.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mcp_tenancy_config::keys::{SigningKey, SigningKeySet};
use serde_json::{Map, Value, json};

use crate::{
    auth::{AuthFailure, TokenVerifier, VerifiedClaims, jwks::map_error},
    crypto::sha256,
};

/// How long keys read from the file are used before it is read again.
const RELOAD_AFTER: Duration = Duration::from_secs(60);
/// Shortest time between two reads caused by unknown key ids (a flood of forged kids).
const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(5);
const LEEWAY_SECS: u64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("signing keys {path}: {message}")]
    File { path: String, message: String },
    #[error("could not generate a signing key")]
    Generate,
    #[error("could not sign a token: {0}")]
    Sign(String),
}

struct Loaded {
    active_kid: String,
    signer: Arc<EncodingKey>,
    verifiers: HashMap<String, Arc<DecodingKey>>,
    jwks: Value,
    at: Instant,
}

/// The signing keys, from the operator's file or generated in memory (development).
pub struct KeyRing {
    path: Option<PathBuf>,
    loaded: RwLock<Arc<Loaded>>,
    /// When an unknown key id last made the file be read ([`MIN_RELOAD_INTERVAL`]).
    last_miss: Mutex<Option<Instant>>,
}

fn file_error(path: &Path, message: impl Into<String>) -> KeyError {
    KeyError::File {
        path: path.display().to_string(),
        message: message.into(),
    }
}

fn retired(key: &SigningKey) -> bool {
    key.retire_after.as_deref().is_some_and(|at| {
        at.parse::<jiff::Timestamp>()
            .is_ok_and(|at| at < jiff::Timestamp::now())
    })
}

fn build(set: &SigningKeySet, origin: &str) -> Result<Loaded, String> {
    let active = set
        .active()
        .ok_or_else(|| format!("{origin}: activeKid {:?} names no key of the set", set.active_kid))?;
    let pkcs8 = STANDARD
        .decode(&active.private_key_pkcs8)
        .map_err(|_| format!("{origin}: key {}: privateKeyPkcs8 is not base64", active.kid))?;
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)
        .map_err(|_| format!("{origin}: key {}: not a P-256 PKCS#8 key", active.kid))?;
    let mut verifiers = HashMap::new();
    let mut jwks = Vec::new();
    for key in set.keys.iter().filter(|k| k.kid == active.kid || !retired(k)) {
        if key.alg != "ES256" {
            return Err(format!(
                "{origin}: key {}: alg {:?}, only ES256",
                key.kid, key.alg
            ));
        }
        let decoding = DecodingKey::from_ec_components(&key.x, &key.y)
            .map_err(|_| format!("{origin}: key {}: x and y are not a P-256 point", key.kid))?;
        verifiers.insert(key.kid.clone(), Arc::new(decoding));
        jwks.push(json!({
            "kty": "EC", "crv": "P-256", "x": key.x, "y": key.y,
            "kid": key.kid, "alg": "ES256", "use": "sig",
        }));
    }
    Ok(Loaded {
        active_kid: active.kid.clone(),
        signer: Arc::new(EncodingKey::from_ec_der(&pkcs8)),
        verifiers,
        jwks: json!({ "keys": jwks }),
        at: Instant::now(),
    })
}

fn read(path: &Path) -> Result<Loaded, KeyError> {
    let bytes = std::fs::read(path).map_err(|e| file_error(path, e.to_string()))?;
    let set: SigningKeySet = serde_json::from_slice(&bytes)
        .map_err(|e| file_error(path, format!("not a signing key set: {e}")))?;
    build(&set, "signing key set").map_err(|message| file_error(path, message))
}

/// A new P-256 key in the operator's format (kid: RFC 7638 thumbprint).
pub fn generate_key(created_at: &str) -> Result<SigningKey, KeyError> {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map_err(|_| KeyError::Generate)?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .map_err(|_| KeyError::Generate)?;
    // Uncompressed point: 0x04 || x || y.
    let point = pair.public_key().as_ref();
    let (Some(x), Some(y)) = (point.get(1..33), point.get(33..65)) else {
        return Err(KeyError::Generate);
    };
    let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
    let thumbprint = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    Ok(SigningKey {
        kid: URL_SAFE_NO_PAD.encode(sha256(thumbprint.as_bytes())),
        alg: "ES256".into(),
        private_key_pkcs8: STANDARD.encode(pkcs8.as_ref()),
        x,
        y,
        created_at: created_at.into(),
        retire_after: None,
    })
}

impl KeyRing {
    /// The keys of the operator's file.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        Ok(Self {
            loaded: RwLock::new(Arc::new(read(path)?)),
            path: Some(path.to_owned()),
            last_miss: Mutex::new(None),
        })
    }

    /// One key generated in memory, never written anywhere (development mode and tests).
    pub fn ephemeral() -> Result<Self, KeyError> {
        let key = generate_key(&jiff::Timestamp::now().to_string())?;
        let set = SigningKeySet {
            active_kid: key.kid.clone(),
            keys: vec![key],
        };
        Self::from_set(&set)
    }

    pub fn from_set(set: &SigningKeySet) -> Result<Self, KeyError> {
        let loaded = build(set, "signing key set").map_err(|message| KeyError::File {
            path: "(in memory)".into(),
            message,
        })?;
        Ok(Self {
            path: None,
            loaded: RwLock::new(Arc::new(loaded)),
            last_miss: Mutex::new(None),
        })
    }

    fn current(&self) -> Arc<Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads the file again if the keys are older than `after`; a file that became unreadable
    /// keeps the keys in use (and says so).
    fn reload_if_older(&self, after: Duration) -> Arc<Loaded> {
        let current = self.current();
        let Some(path) = &self.path else { return current };
        if current.at.elapsed() < after {
            return current;
        }
        let fresh = match read(path) {
            Ok(fresh) => Arc::new(fresh),
            Err(error) => {
                tracing::warn!(%error, "keeping the signing keys in use");
                Arc::new(Loaded {
                    at: Instant::now(),
                    active_kid: current.active_kid.clone(),
                    signer: current.signer.clone(),
                    verifiers: current.verifiers.clone(),
                    jwks: current.jwks.clone(),
                })
            }
        };
        if fresh.active_kid != current.active_kid {
            tracing::info!(kid = %fresh.active_kid, "signing key rotated");
        }
        *self
            .loaded
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh.clone();
        fresh
    }

    /// Signs `claims` as an RFC 9068 access token with the active key.
    pub fn sign(&self, claims: &Value) -> Result<String, KeyError> {
        let keys = self.reload_if_older(RELOAD_AFTER);
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(keys.active_kid.clone());
        jsonwebtoken::encode(&header, claims, &keys.signer).map_err(|e| KeyError::Sign(e.to_string()))
    }

    /// The public keys, for `/oauth/jwks.json`.
    pub fn jwks(&self) -> Value {
        self.reload_if_older(RELOAD_AFTER).jwks.clone()
    }

    pub fn active_kid(&self) -> String {
        self.current().active_kid.clone()
    }

    fn decoding_key(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        let keys = self.reload_if_older(RELOAD_AFTER);
        if let Some(key) = keys.verifiers.get(kid) {
            return Some(key.clone());
        }
        // An unknown kid may be a key rotated in since the last read: read the file again,
        // at most every MIN_RELOAD_INTERVAL however many unknown kids arrive (forged ones).
        {
            let mut last_miss = self
                .last_miss
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last_miss.is_some_and(|at| at.elapsed() < MIN_RELOAD_INTERVAL) {
                return None;
            }
            *last_miss = Some(Instant::now());
        }
        self.reload_if_older(Duration::ZERO).verifiers.get(kid).cloned()
    }
}

/// Verifies the access tokens this server issued: ES256 by a tenant key, `at+jwt`, its own
/// issuer, one of its audiences. No network: the keys are local.
pub struct LocalVerifier {
    keys: Arc<KeyRing>,
    validation: Validation,
}

impl LocalVerifier {
    pub fn new(keys: Arc<KeyRing>, issuer: &str, audiences: &[String]) -> Self {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        Self { keys, validation }
    }
}

#[async_trait]
impl TokenVerifier for LocalVerifier {
    async fn verify(&self, token: &str) -> Result<VerifiedClaims, AuthFailure> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthFailure::Malformed)?;
        if header.alg != Algorithm::ES256 {
            return Err(AuthFailure::UnsupportedAlgorithm);
        }
        if header.typ.as_deref() != Some("at+jwt") {
            return Err(AuthFailure::Malformed);
        }
        let kid = header.kid.ok_or(AuthFailure::UnknownKey)?;
        let key = self.keys.decoding_key(&kid).ok_or(AuthFailure::UnknownKey)?;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &self.validation)
            .map_err(|e| map_error(e.kind()))?;
        VerifiedClaims::new(data.claims)
    }

    async fn ready(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_of(keys: Vec<SigningKey>, active: &str) -> SigningKeySet {
        SigningKeySet {
            active_kid: active.into(),
            keys,
        }
    }

    fn claims(aud: &str, exp_in: i64) -> Value {
        let now = crate::clock::now_secs() as i64;
        json!({"iss": "https://t.example", "aud": aud, "sub": "u", "exp": now + exp_in, "iat": now})
    }

    #[tokio::test]
    async fn rotation_keeps_old_tokens_verifiable_until_the_key_retires() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing-keys.json");
        let old = generate_key("2026-01-01T00:00:00Z").unwrap();
        std::fs::write(
            &path,
            serde_json::to_vec(&set_of(vec![old.clone()], &old.kid)).unwrap(),
        )
        .unwrap();
        let ring = Arc::new(KeyRing::load(&path).unwrap());
        let verifier = LocalVerifier::new(ring.clone(), "https://t.example", &["a".into()]);
        let before = ring.sign(&claims("a", 300)).unwrap();

        // The operator rotates: a new active key, the old one kept until it retires.
        let new = generate_key("2026-02-01T00:00:00Z").unwrap();
        let mut kept = old.clone();
        kept.retire_after = Some("2099-01-01T00:00:00Z".into());
        std::fs::write(
            &path,
            serde_json::to_vec(&set_of(vec![new.clone(), kept], &new.kid)).unwrap(),
        )
        .unwrap();
        // A token of the new key is unknown to the loaded ring: it reads the file again.
        let by_new = KeyRing::load(&path).unwrap().sign(&claims("a", 300)).unwrap();
        verifier.verify(&by_new).await.unwrap();
        verifier.verify(&before).await.unwrap();
        assert_eq!(ring.active_kid(), new.kid);
        assert_eq!(ring.jwks()["keys"].as_array().unwrap().len(), 2);

        // Retired: the old key is no longer published nor accepted.
        let mut gone = old.clone();
        gone.retire_after = Some("2020-01-01T00:00:00Z".into());
        let rotated = set_of(vec![new.clone(), gone], &new.kid);
        let ring = Arc::new(KeyRing::from_set(&rotated).unwrap());
        let verifier = LocalVerifier::new(ring.clone(), "https://t.example", &["a".into()]);
        assert_eq!(
            verifier.verify(&before).await.unwrap_err(),
            AuthFailure::UnknownKey
        );
        assert_eq!(ring.jwks()["keys"].as_array().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn refuses_wrong_audience_expired_and_foreign_tokens() {
        let ring = Arc::new(KeyRing::ephemeral().unwrap());
        let verifier = LocalVerifier::new(ring.clone(), "https://t.example", &["a".into()]);
        let other = ring.sign(&claims("another-tenant", 300)).unwrap();
        assert_eq!(
            verifier.verify(&other).await.unwrap_err(),
            AuthFailure::WrongAudience
        );
        let expired = ring.sign(&claims("a", -600)).unwrap();
        assert_eq!(verifier.verify(&expired).await.unwrap_err(), AuthFailure::Expired);
        let foreign = KeyRing::ephemeral().unwrap().sign(&claims("a", 300)).unwrap();
        assert_eq!(
            verifier.verify(&foreign).await.unwrap_err(),
            AuthFailure::UnknownKey
        );
        let mut tampered = ring.sign(&claims("a", 300)).unwrap();
        tampered.replace_range(tampered.len() - 4.., "AAAA");
        assert_eq!(
            verifier.verify(&tampered).await.unwrap_err(),
            AuthFailure::BadSignature
        );
    }

    #[test]
    fn a_bad_key_file_names_the_file_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        std::fs::write(&path, b"{}").unwrap();
        let err = KeyRing::load(&path).err().unwrap().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        let key = generate_key("2026-01-01T00:00:00Z").unwrap();
        std::fs::write(&path, serde_json::to_vec(&set_of(vec![key], "nope")).unwrap()).unwrap();
        let err = KeyRing::load(&path).err().unwrap().to_string();
        assert!(err.contains("activeKid \"nope\""), "{err}");
    }

    #[tokio::test]
    async fn unknown_kids_read_the_file_at_most_every_min_reload_interval() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing-keys.json");
        let old = generate_key("2026-01-01T00:00:00Z").unwrap();
        std::fs::write(
            &path,
            serde_json::to_vec(&set_of(vec![old.clone()], &old.kid)).unwrap(),
        )
        .unwrap();
        let ring = Arc::new(KeyRing::load(&path).unwrap());
        let verifier = LocalVerifier::new(ring.clone(), "https://t.example", &["a".into()]);
        let forged = KeyRing::ephemeral().unwrap().sign(&claims("a", 300)).unwrap();
        assert_eq!(
            verifier.verify(&forged).await.unwrap_err(),
            AuthFailure::UnknownKey
        );
        // Rotated right after the forged kid made the file be read: not read again yet.
        let new = generate_key("2026-02-01T00:00:00Z").unwrap();
        std::fs::write(
            &path,
            serde_json::to_vec(&set_of(vec![new.clone(), old], &new.kid)).unwrap(),
        )
        .unwrap();
        let by_new = KeyRing::load(&path).unwrap().sign(&claims("a", 300)).unwrap();
        assert_eq!(
            verifier.verify(&by_new).await.unwrap_err(),
            AuthFailure::UnknownKey
        );
        assert_ne!(ring.active_kid(), new.kid);
    }
}
