//! The Secrets a tenant references (upstream client secret, Redis URL, service-account secrets):
//! checked for presence and hashed, together with the key Secret, into the checksum on the pod
//! template, so that rotating any of them rolls the server pods.

use std::collections::{BTreeMap, BTreeSet};

use aws_lc_rs::digest::{Context as Digest, SHA256};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;

/// What one referenced Secret looks like right now.
pub struct Referenced {
    pub name: String,
    pub keys: BTreeSet<String>,
    pub secret: Option<Secret>,
}

impl Referenced {
    /// A sentence a person can act on when the Secret or one of its keys is missing.
    pub fn problem(&self, namespace: &str) -> Option<String> {
        let Some(secret) = &self.secret else {
            let keys = self.keys.iter().cloned().collect::<Vec<_>>().join(", ");
            return Some(format!(
                "Secret {namespace}/{} not found: create it with key(s) {keys}",
                self.name
            ));
        };
        let missing: Vec<&str> = self
            .keys
            .iter()
            .filter(|k| !secret.data.as_ref().is_some_and(|d| d.contains_key(*k)))
            .map(String::as_str)
            .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "Secret {namespace}/{} has no key(s) {}: add them",
                self.name,
                missing.join(", ")
            )
        })
    }
}

/// Reads every referenced Secret; a missing one is `None`, not an error.
pub async fn read_referenced(
    api: &Api<Secret>,
    refs: BTreeMap<String, BTreeSet<String>>,
) -> Result<Vec<Referenced>, kube::Error> {
    let mut out = Vec::with_capacity(refs.len());
    for (name, keys) in refs {
        let secret = api.get_opt(&name).await?;
        out.push(Referenced { name, keys, secret });
    }
    Ok(out)
}

/// SHA-256 (hex) over the key Secret's data and the referenced keys of each referenced Secret.
/// Only the keys the server reads count, so unrelated edits to a shared Secret do not roll pods.
pub fn secrets_checksum(key_secret: &Secret, referenced: &[Referenced]) -> String {
    let mut digest = Digest::new(&SHA256);
    let mut field = |bytes: &[u8]| {
        digest.update(&(bytes.len() as u64).to_be_bytes());
        digest.update(bytes);
    };
    for (key, value) in key_secret.data.iter().flatten() {
        field(key.as_bytes());
        field(&value.0);
    }
    for r in referenced {
        field(r.name.as_bytes());
        for key in &r.keys {
            field(key.as_bytes());
            match r
                .secret
                .as_ref()
                .and_then(|s| s.data.as_ref())
                .and_then(|d| d.get(key))
            {
                Some(value) => field(&value.0),
                None => field(b"\0missing"),
            }
        }
    }
    hex::encode(digest.finish().as_ref())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::ByteString;

    use super::*;

    fn secret(pairs: &[(&str, &str)]) -> Secret {
        Secret {
            data: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Secret::default()
        }
    }

    fn referenced(s: Option<Secret>) -> Referenced {
        Referenced {
            name: "entra".into(),
            keys: BTreeSet::from(["client-secret".into()]),
            secret: s,
        }
    }

    #[test]
    fn checksum_changes_with_referenced_values_only() {
        let keys = secret(&[("encryption-key", "a")]);
        let base = secrets_checksum(
            &keys,
            &[referenced(Some(secret(&[
                ("client-secret", "s1"),
                ("other", "x"),
            ])))],
        );
        let unrelated = secrets_checksum(
            &keys,
            &[referenced(Some(secret(&[
                ("client-secret", "s1"),
                ("other", "y"),
            ])))],
        );
        let rotated = secrets_checksum(&keys, &[referenced(Some(secret(&[("client-secret", "s2")])))]);
        let missing = secrets_checksum(&keys, &[referenced(None)]);
        let new_keys = secrets_checksum(
            &secret(&[("encryption-key", "b")]),
            &[referenced(Some(secret(&[("client-secret", "s1")])))],
        );
        assert_eq!(base, unrelated);
        assert_ne!(base, rotated);
        assert_ne!(base, missing);
        assert_ne!(base, new_keys);
        assert_eq!(base.len(), 64);
    }

    #[test]
    fn problems_name_the_secret_and_key() {
        let none = referenced(None).problem("mcp-contoso").unwrap();
        assert_eq!(
            none,
            "Secret mcp-contoso/entra not found: create it with key(s) client-secret"
        );
        let wrong_key = referenced(Some(secret(&[("secret", "x")])))
            .problem("mcp-contoso")
            .unwrap();
        assert!(wrong_key.contains("has no key(s) client-secret"), "{wrong_key}");
        assert!(
            referenced(Some(secret(&[("client-secret", "x")])))
                .problem("ns")
                .is_none()
        );
    }
}
