//! Seals what the server stores about a user's upstream grant (their Microsoft Graph tokens)
//! with AES-256-GCM: `v1.<kid>.<base64url(nonce || ciphertext || tag)>`. The key id beside the
//! ciphertext lets keys rotate: the first key of the key file seals, every key opens.

use std::{fmt, path::Path};

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};

use crate::crypto::sha256;

/// The format version at the start of every sealed string.
const VERSION: &str = "v1";
/// A key file larger than this is not a key file.
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// Why a key file could not be used or a sealed string not opened. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("encryption key file {path}: {message}")]
    KeyFile { path: String, message: String },
    #[error("the vault was given no keys")]
    NoKeys,
    /// Sealed with a key that is no longer (or never was) in the key file.
    #[error("sealed with key {kid}, which is not in the encryption key file")]
    UnknownKey { kid: String },
    /// The ciphertext was changed, or is opened with another `aad` than it was sealed with.
    #[error("the sealed data was altered or belongs elsewhere")]
    Tampered,
    #[error("not a sealed string: {0}")]
    Malformed(String),
    #[error("the encryption failed")]
    Crypto,
}

struct VaultKey {
    kid: String,
    key: RandomizedNonceKey,
}

/// AES-256-GCM keys: the first seals, all open.
pub struct Vault {
    /// Never empty.
    keys: Vec<VaultKey>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("Vault")
            .field("kids", &kids)
            .finish_non_exhaustive()
    }
}

/// The key id: the first 16 hex digits of the key's SHA-256 (names the key, reveals nothing).
fn kid(key: &[u8; 32]) -> String {
    hex::encode(&sha256(key)[..8])
}

impl Vault {
    /// The key file: one or more base64 (standard, padded) 32-byte keys, one per line; the FIRST
    /// seals, all open (rotation: the operator prepends a new key and keeps old ones until their
    /// data is re-sealed or expired). Blank lines are ignored.
    pub fn load(path: &Path) -> Result<Self, VaultError> {
        let error = |message: String| VaultError::KeyFile {
            path: path.display().to_string(),
            message,
        };
        let size = std::fs::metadata(path).map_err(|e| error(e.to_string()))?.len();
        if size > MAX_KEY_FILE_BYTES {
            return Err(error(format!(
                "{size} bytes, larger than the {MAX_KEY_FILE_BYTES} byte limit"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        let mut keys = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let bytes = STANDARD
                .decode(line)
                .map_err(|_| error(format!("line {}: not base64 (standard alphabet, padded)", i + 1)))?;
            let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                error(format!(
                    "line {}: a {}-byte key, AES-256 needs 32",
                    i + 1,
                    bytes.len()
                ))
            })?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(error("no key in the file".into()));
        }
        Self::from_keys(&keys).map_err(|e| error(e.to_string()))
    }

    /// The first key seals, all open.
    /// One random key of this process: only this process opens what it seals.
    pub fn ephemeral() -> Result<Self, VaultError> {
        let mut key = [0u8; 32];
        aws_lc_rs::rand::fill(&mut key).map_err(|_| VaultError::Crypto)?;
        Self::from_keys(&[key])
    }

    pub fn from_keys(keys: &[[u8; 32]]) -> Result<Self, VaultError> {
        if keys.is_empty() {
            return Err(VaultError::NoKeys);
        }
        let keys = keys
            .iter()
            .map(|bytes| {
                Ok(VaultKey {
                    kid: kid(bytes),
                    key: RandomizedNonceKey::new(&AES_256_GCM, bytes).map_err(|_| VaultError::Crypto)?,
                })
            })
            .collect::<Result<_, VaultError>>()?;
        Ok(Self { keys })
    }

    /// The id of the key that seals.
    pub fn sealing_kid(&self) -> &str {
        self.keys.first().map_or("", |k| k.kid.as_str())
    }

    /// `aad` binds the ciphertext to where it is stored (the integrator passes tenant name +
    /// store key), so it cannot be moved to another user or tenant.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<String, VaultError> {
        let sealing = self.keys.first().ok_or(VaultError::NoKeys)?;
        let mut in_out = plaintext.to_vec();
        let nonce = sealing
            .key
            .seal_in_place_append_tag(Aad::from(aad), &mut in_out)
            .map_err(|_| VaultError::Crypto)?;
        let mut body = Vec::with_capacity(NONCE_LEN + in_out.len());
        body.extend_from_slice(nonce.as_ref());
        body.extend_from_slice(&in_out);
        Ok(format!(
            "{VERSION}.{}.{}",
            sealing.kid,
            URL_SAFE_NO_PAD.encode(body)
        ))
    }

    pub fn open(&self, sealed: &str, aad: &[u8]) -> Result<Vec<u8>, VaultError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(version), Some(kid), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(VaultError::Malformed("expected v1.<kid>.<data>".into()));
        };
        if version != VERSION {
            return Err(VaultError::Malformed("unknown format version".into()));
        }
        if kid.len() != 16 || !kid.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(VaultError::Malformed("the key id is not 16 hex digits".into()));
        }
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| VaultError::UnknownKey { kid: kid.to_owned() })?;
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| VaultError::Malformed("the data is not base64url".into()))?;
        if body.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(VaultError::Malformed("the data is too short".into()));
        }
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| VaultError::Crypto)?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = key
            .key
            .open_in_place(nonce, Aad::from(aad), &mut in_out)
            .map_err(|_| VaultError::Tampered)?;
        Ok(plaintext.to_vec())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Write;

    use super::*;

    const OLD: [u8; 32] = [7; 32];
    const NEW: [u8; 32] = [9; 32];
    const AAD: &[u8] = b"contoso\0grant/tid/oid";

    fn key_file(contents: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(contents.as_bytes()).unwrap();
        file
    }

    #[test]
    fn round_trip_with_a_fresh_nonce_each_time() {
        let vault = Vault::from_keys(&[OLD]).unwrap();
        let a = vault.seal(b"refresh token", AAD).unwrap();
        let b = vault.seal(b"refresh token", AAD).unwrap();
        assert_ne!(a, b, "random nonces");
        assert!(a.starts_with(&format!("v1.{}.", kid(&OLD))));
        assert_eq!(kid(&OLD).len(), 16);
        assert_eq!(vault.open(&a, AAD).unwrap(), b"refresh token");
        assert_eq!(vault.open(&b, AAD).unwrap(), b"refresh token");
        let empty = vault.seal(b"", AAD).unwrap();
        assert_eq!(vault.open(&empty, AAD).unwrap(), b"");
    }

    #[test]
    fn another_aad_or_a_flipped_byte_is_tampering() {
        let vault = Vault::from_keys(&[OLD]).unwrap();
        let sealed = vault.seal(b"secret", AAD).unwrap();
        assert!(matches!(
            vault.open(&sealed, b"contoso\0grant/tid/other"),
            Err(VaultError::Tampered)
        ));
        assert!(matches!(vault.open(&sealed, b""), Err(VaultError::Tampered)));
        let (head, body) = sealed.rsplit_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(body).unwrap();
        for i in [0, NONCE_LEN, bytes.len() - 1] {
            bytes[i] ^= 1;
            let forged = format!("{head}.{}", URL_SAFE_NO_PAD.encode(&bytes));
            assert!(
                matches!(vault.open(&forged, AAD), Err(VaultError::Tampered)),
                "byte {i}"
            );
            bytes[i] ^= 1;
        }
        // A truncated tag, too.
        let short = format!("{head}.{}", URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() - 1]));
        assert!(matches!(vault.open(&short, AAD), Err(VaultError::Tampered)));
    }

    #[test]
    fn a_key_not_in_the_vault_is_named() {
        let sealed = Vault::from_keys(&[NEW]).unwrap().seal(b"x", AAD).unwrap();
        match Vault::from_keys(&[OLD]).unwrap().open(&sealed, AAD) {
            Err(VaultError::UnknownKey { kid: named }) => assert_eq!(named, kid(&NEW)),
            other => panic!("expected UnknownKey, got {other:?}"),
        }
    }

    #[test]
    fn rotation_opens_old_data_and_seals_with_the_new_key() {
        let old_file = key_file(&format!("{}\n", STANDARD.encode(OLD)));
        let sealed_old = Vault::load(old_file.path()).unwrap().seal(b"grant", AAD).unwrap();
        // The operator prepends the new key and keeps the old one.
        let rotated = key_file(&format!("{}\n\n{}\n", STANDARD.encode(NEW), STANDARD.encode(OLD)));
        let vault = Vault::load(rotated.path()).unwrap();
        assert_eq!(vault.sealing_kid(), kid(&NEW));
        assert_eq!(vault.open(&sealed_old, AAD).unwrap(), b"grant");
        let sealed_new = vault.seal(b"grant", AAD).unwrap();
        assert!(sealed_new.starts_with(&format!("v1.{}.", kid(&NEW))));
        // Once the old key is dropped, only data sealed with the new one opens.
        let new_only = Vault::from_keys(&[NEW]).unwrap();
        assert_eq!(new_only.open(&sealed_new, AAD).unwrap(), b"grant");
        assert!(matches!(
            new_only.open(&sealed_old, AAD),
            Err(VaultError::UnknownKey { .. })
        ));
    }

    #[test]
    fn malformed_strings_are_refused() {
        let vault = Vault::from_keys(&[OLD]).unwrap();
        let kid = kid(&OLD);
        for sealed in [
            String::new(),
            "v1".into(),
            format!("v1.{kid}"),
            format!("v2.{kid}.AAAA"),
            "v1.xyz.AAAA".into(),
            format!("v1.{}.AAAA", "g".repeat(16)),
            format!("v1.{kid}.not*base64"),
            format!("v1.{kid}.{}", URL_SAFE_NO_PAD.encode([0u8; 27])),
        ] {
            assert!(
                matches!(vault.open(&sealed, AAD), Err(VaultError::Malformed(_))),
                "{sealed:?}"
            );
        }
    }

    #[test]
    fn bad_key_files_name_the_file_and_never_the_key() {
        let short = STANDARD.encode([1u8; 31]);
        let cases = [
            (format!("{short}\n"), "31-byte key"),
            ("not base64!\n".to_owned(), "line 1: not base64"),
            (
                format!(
                    "{}\n{}\n",
                    STANDARD.encode(OLD),
                    URL_SAFE_NO_PAD.encode([1u8; 32])
                ),
                "line 2: not base64",
            ),
            (String::new(), "no key"),
            ("\n  \n".to_owned(), "no key"),
        ];
        for (contents, expected) in cases {
            let file = key_file(&contents);
            let error = Vault::load(file.path()).unwrap_err().to_string();
            assert!(error.contains(&file.path().display().to_string()), "{error}");
            assert!(error.contains(expected), "{error}");
            assert!(!error.contains(&short), "{error}");
        }
        let missing = Vault::load(Path::new("/nonexistent/encryption-key")).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/encryption-key"));
        assert!(matches!(Vault::from_keys(&[]), Err(VaultError::NoKeys)));
    }

    #[test]
    fn debug_shows_key_ids_only() {
        let vault = Vault::from_keys(&[OLD, NEW]).unwrap();
        let printed = format!("{vault:?}");
        assert!(
            printed.contains(&kid(&OLD)) && printed.contains(&kid(&NEW)),
            "{printed}"
        );
        assert!(!printed.contains(&STANDARD.encode(OLD)));
        assert!(!printed.contains("0707070707"));
    }
}
