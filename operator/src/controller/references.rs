//! The Secrets and ConfigMaps a tenant references (upstream client secret, Redis URL,
//! service-account secrets, CA bundles): checked for presence and hashed, together with the key
//! Secret, into the checksum on the pod template, so that changing any of them rolls the server
//! pods.

use std::collections::{BTreeMap, BTreeSet};

use aws_lc_rs::digest::{Context as Digest, SHA256};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use mcp_tenancy_config::ca::pem_certificates;

use crate::api::McpTenantSpec;
use crate::build::{ca_bundles, referenced_config_maps, referenced_secrets};

/// The kinds of object a tenant may reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Secret,
    ConfigMap,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Secret => "Secret",
            Self::ConfigMap => "ConfigMap",
        }
    }
}

/// What one referenced object looks like right now.
pub struct Referenced {
    pub kind: Kind,
    pub name: String,
    pub keys: BTreeSet<String>,
    /// Its data (a ConfigMap's `data` and `binaryData` together); `None` when it does not exist.
    pub data: Option<BTreeMap<String, Vec<u8>>>,
}

impl Referenced {
    /// A sentence a person can act on when the object or one of its keys is missing.
    pub fn problem(&self, namespace: &str) -> Option<String> {
        let kind = self.kind.as_str();
        let Some(data) = &self.data else {
            let keys = self.keys.iter().cloned().collect::<Vec<_>>().join(", ");
            return Some(format!(
                "{kind} {namespace}/{} not found: create it with key(s) {keys}",
                self.name
            ));
        };
        let missing: Vec<&str> = self
            .keys
            .iter()
            .filter(|k| !data.contains_key(*k))
            .map(String::as_str)
            .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "{kind} {namespace}/{} has no key(s) {}: add them",
                self.name,
                missing.join(", ")
            )
        })
    }

    fn value(&self, key: &str) -> Option<&[u8]> {
        self.data.as_ref()?.get(key).map(Vec::as_slice)
    }
}

fn secret_data(secret: Secret) -> BTreeMap<String, Vec<u8>> {
    secret.data.into_iter().flatten().map(|(k, v)| (k, v.0)).collect()
}

fn config_map_data(config_map: ConfigMap) -> BTreeMap<String, Vec<u8>> {
    let text = config_map
        .data
        .into_iter()
        .flatten()
        .map(|(k, v)| (k, v.into_bytes()));
    let binary = config_map
        .binary_data
        .into_iter()
        .flatten()
        .map(|(k, v)| (k, v.0));
    text.chain(binary).collect()
}

/// Reads every object the spec references; a missing one has no data, which is not an error.
pub async fn read_referenced(
    secrets: &Api<Secret>,
    config_maps: &Api<ConfigMap>,
    spec: &McpTenantSpec,
) -> Result<Vec<Referenced>, kube::Error> {
    let mut out = Vec::new();
    for (name, keys) in referenced_secrets(spec) {
        let data = secrets.get_opt(&name).await?.map(secret_data);
        out.push(Referenced {
            kind: Kind::Secret,
            name,
            keys,
            data,
        });
    }
    for (name, keys) in referenced_config_maps(spec) {
        let data = config_maps.get_opt(&name).await?.map(config_map_data);
        out.push(Referenced {
            kind: Kind::ConfigMap,
            name,
            keys,
            data,
        });
    }
    Ok(out)
}

/// What is wrong with the referenced objects: missing ones and keys, and a CA bundle the server
/// could not read (it would stop at start), naming the field of each.
pub fn problems(spec: &McpTenantSpec, referenced: &[Referenced], namespace: &str) -> Vec<String> {
    let mut problems: Vec<String> = referenced.iter().filter_map(|r| r.problem(namespace)).collect();
    for (field, bundle) in ca_bundles(spec) {
        let (kind, name, key) = match (&bundle.config_map_key_ref, &bundle.secret_key_ref) {
            (Some(r), _) => (Kind::ConfigMap, &r.name, &r.key),
            (None, Some(r)) => (Kind::Secret, &r.name, &r.key),
            (None, None) => continue,
        };
        // A missing object or key is already a problem above.
        let Some(pem) = referenced
            .iter()
            .find(|r| r.kind == kind && &r.name == name)
            .and_then(|r| r.value(key))
        else {
            continue;
        };
        if let Err(e) = pem_certificates(pem) {
            problems.push(format!(
                "{} {namespace}/{name} key {key} ({field}): {e}",
                kind.as_str()
            ));
        }
    }
    problems
}

/// SHA-256 (hex) over the key Secret's data and the referenced keys of each referenced object.
/// Only the keys the server reads count, so unrelated edits to a shared object do not roll pods.
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
        field(r.kind.as_str().as_bytes());
        field(r.name.as_bytes());
        for key in &r.keys {
            field(key.as_bytes());
            field(r.value(key).unwrap_or(b"\0missing"));
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
            kind: Kind::Secret,
            name: "entra".into(),
            keys: BTreeSet::from(["client-secret".into()]),
            data: s.map(secret_data),
        }
    }

    fn ca_config_map(pem: Option<&str>) -> Referenced {
        Referenced {
            kind: Kind::ConfigMap,
            name: "corporate-ca".into(),
            keys: BTreeSet::from(["ca.crt".into()]),
            data: pem.map(|pem| {
                config_map_data(ConfigMap {
                    data: Some(BTreeMap::from([("ca.crt".into(), pem.into())])),
                    ..ConfigMap::default()
                })
            }),
        }
    }

    fn spec_with_ca_config_map() -> McpTenantSpec {
        serde_saphyr::from_str(
            "
identity:
  upstream:
    issuer: https://idp.corp.example/v2.0
    clientId: app
    clientSecretRef: {name: entra, key: client-secret}
  caBundle:
    configMapKeyRef: {name: corporate-ca, key: ca.crt}
network:
  host: contoso.mcp.example.com
",
        )
        .unwrap()
    }

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";

    #[test]
    fn config_maps_count_text_and_binary_data() {
        let data = config_map_data(ConfigMap {
            data: Some(BTreeMap::from([("ca.crt".into(), "text".into())])),
            binary_data: Some(BTreeMap::from([("ca.der".into(), ByteString(vec![0, 1]))])),
            ..ConfigMap::default()
        });
        assert_eq!(data.get("ca.crt").map(Vec::as_slice), Some(&b"text"[..]));
        assert_eq!(data.get("ca.der").map(Vec::as_slice), Some(&[0u8, 1][..]));
    }

    #[test]
    fn a_changed_ca_bundle_changes_the_checksum() {
        let keys = secret(&[("encryption-key", "a")]);
        let one = secrets_checksum(&keys, &[ca_config_map(Some(PEM))]);
        let other = secrets_checksum(&keys, &[ca_config_map(Some("x"))]);
        assert_ne!(one, other);
        // A Secret and a ConfigMap of one name and value are different inputs.
        let as_secret = Referenced {
            kind: Kind::Secret,
            ..ca_config_map(Some(PEM))
        };
        assert_ne!(one, secrets_checksum(&keys, &[as_secret]));
    }

    #[test]
    fn ca_bundle_problems_name_the_object_key_and_field() {
        let spec = spec_with_ca_config_map();
        assert!(problems(&spec, &[ca_config_map(Some(PEM))], "mcp-contoso").is_empty());
        assert_eq!(
            problems(&spec, &[ca_config_map(Some("not a certificate"))], "mcp-contoso"),
            [
                "ConfigMap mcp-contoso/corporate-ca key ca.crt (spec.identity.caBundle): holds no PEM \
              certificate (-----BEGIN CERTIFICATE-----)"
            ]
        );
        // A missing ConfigMap is one problem, not two.
        assert_eq!(
            problems(&spec, &[ca_config_map(None)], "mcp-contoso"),
            ["ConfigMap mcp-contoso/corporate-ca not found: create it with key(s) ca.crt"]
        );
    }

    /// A tenant on Redis whose `caBundle` is `bundle` (a YAML flow mapping).
    fn spec_with_redis_ca(bundle: &str) -> McpTenantSpec {
        serde_saphyr::from_str(&format!(
            "
identity:
  upstream:
    issuer: https://login.microsoftonline.com/common/v2.0
    clientId: app
    clientSecretRef: {{name: entra, key: client-secret}}
server:
  storage:
    redis:
      urlSecretRef: {{name: redis, key: url}}
      caBundle: {bundle}
network:
  host: contoso.mcp.example.com
"
        ))
        .unwrap()
    }

    /// What reading the spec's referenced ConfigMaps finds when each referenced key holds `pem`.
    fn read_config_maps(spec: &McpTenantSpec, pem: &str) -> Vec<Referenced> {
        referenced_config_maps(spec)
            .into_iter()
            .map(|(name, keys)| Referenced {
                kind: Kind::ConfigMap,
                data: Some(
                    keys.iter()
                        .map(|k| (k.clone(), pem.as_bytes().to_vec()))
                        .collect(),
                ),
                name,
                keys,
            })
            .collect()
    }

    #[test]
    fn a_changed_redis_ca_bundle_changes_the_checksum() {
        let spec = spec_with_redis_ca("{configMapKeyRef: {name: redis-ca, key: ca.crt}}");
        assert_eq!(
            referenced_config_maps(&spec),
            BTreeMap::from([("redis-ca".into(), BTreeSet::from(["ca.crt".into()]))])
        );
        let keys = secret(&[("encryption-key", "a")]);
        let one = secrets_checksum(&keys, &read_config_maps(&spec, PEM));
        let other = secrets_checksum(&keys, &read_config_maps(&spec, &PEM.repeat(2)));
        assert_ne!(one, other);
    }

    #[test]
    fn redis_ca_bundle_problems_name_the_object_key_and_field() {
        let spec = spec_with_redis_ca("{configMapKeyRef: {name: redis-ca, key: ca.crt}}");
        assert!(problems(&spec, &read_config_maps(&spec, PEM), "mcp-contoso").is_empty());
        assert_eq!(
            problems(
                &spec,
                &read_config_maps(&spec, "not a certificate"),
                "mcp-contoso"
            ),
            [
                "ConfigMap mcp-contoso/redis-ca key ca.crt (spec.server.storage.redis.caBundle): holds no PEM \
                 certificate (-----BEGIN CERTIFICATE-----)"
            ]
        );
        // In the Secret of the URL: read with it, and named as a Secret.
        let spec = spec_with_redis_ca("{secretKeyRef: {name: redis, key: ca.pem}}");
        assert_eq!(
            referenced_secrets(&spec).get("redis"),
            Some(&BTreeSet::from(["ca.pem".into(), "url".into()]))
        );
        let redis = Referenced {
            kind: Kind::Secret,
            name: "redis".into(),
            keys: BTreeSet::from(["ca.pem".into(), "url".into()]),
            data: Some(secret_data(secret(&[("ca.pem", "DER?"), ("url", "rediss://r")]))),
        };
        assert_eq!(
            problems(&spec, &[redis], "mcp-contoso"),
            [
                "Secret mcp-contoso/redis key ca.pem (spec.server.storage.redis.caBundle): holds no PEM \
                 certificate (-----BEGIN CERTIFICATE-----)"
            ]
        );
    }

    #[test]
    fn two_bundles_in_one_configmap_key_are_read_once_and_each_field_is_named() {
        let mut spec = spec_with_redis_ca("{configMapKeyRef: {name: corporate-ca, key: ca.crt}}");
        spec.identity.ca_bundle = spec_with_ca_config_map().identity.ca_bundle;
        assert_eq!(referenced_config_maps(&spec).len(), 1);
        let fields: Vec<String> = problems(&spec, &read_config_maps(&spec, "x"), "ns")
            .into_iter()
            .map(|p| p.split(['(', ')']).nth(1).unwrap_or_default().to_owned())
            .collect();
        assert_eq!(
            fields,
            ["spec.identity.caBundle", "spec.server.storage.redis.caBundle"]
        );
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
