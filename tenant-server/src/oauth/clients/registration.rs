//! RFC 7591 dynamic client registration: clients kept in the store under `client/<client_id>`,
//! expiring when unused for the registration lifetime.

use std::time::Duration;

use aws_lc_rs::rand;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use mcp_tenancy_config::Environment;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{
    ApplicationType, Client, ClientAuth, ClientError, ClientKind, GrantType, SecretDigest,
    metadata::{self, Metadata, Source},
    unknown_client,
};
use crate::{clock::now_secs, crypto::sha256, store::Store};

pub(super) const CLIENT_ID_PREFIX: &str = "mcp_";
/// Largest registration request accepted.
pub(super) const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// A client's expiry is pushed back when it is used and was last pushed back this long ago
/// (a thirtieth of the lifetime, at most a day): one store write a day, not one per request.
const TOUCH_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// A registered client as the store keeps it. The secret only as its SHA-256.
#[derive(Serialize, Deserialize)]
struct Record {
    client_id: String,
    client_id_issued_at: u64,
    last_used_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_secret_sha256: Option<String>,
    redirect_uris: Vec<String>,
    grant_types: Vec<GrantType>,
    token_endpoint_auth_method: ClientAuth,
    application_type: ApplicationType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_name: Option<String>,
    /// Echoed standard fields.
    #[serde(default)]
    extra: Map<String, Value>,
}

fn key(client_id: &str) -> String {
    format!("client/{client_id}")
}

fn random_base64url<const N: usize>() -> Result<String, ClientError> {
    let mut bytes = [0u8; N];
    rand::fill(&mut bytes)
        .map_err(|_| ClientError::ServerError("the random number generator failed".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether `id` has the shape of an id this server issues (`mcp_` and 128 bits in base64url):
/// nothing else reaches the store.
fn is_issued_id(id: &str) -> bool {
    id.strip_prefix(CLIENT_ID_PREFIX).is_some_and(|rest| {
        rest.len() == 22
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

fn invalid_metadata(message: impl Into<String>) -> ClientError {
    ClientError::InvalidClientMetadata(message.into())
}

pub(super) async fn register(
    store: &dyn Store,
    environment: Environment,
    lifetime: Duration,
    body: &[u8],
) -> Result<Value, ClientError> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(invalid_metadata(format!(
            "registration request is {} bytes, larger than {MAX_REQUEST_BYTES} bytes",
            body.len()
        )));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| invalid_metadata(format!("registration request is not JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(invalid_metadata("registration request must be a JSON object"));
    };
    let metadata = metadata::parse(&obj, Source::Registration, environment).map_err(|e| {
        if e.redirect {
            ClientError::InvalidRedirectUri(e.message)
        } else {
            ClientError::InvalidClientMetadata(e.message)
        }
    })?;
    let client_id = format!("{CLIENT_ID_PREFIX}{}", random_base64url::<16>()?);
    let secret = match metadata.auth {
        ClientAuth::None => None,
        ClientAuth::SecretPost | ClientAuth::SecretBasic => Some(random_base64url::<32>()?),
    };
    let now = now_secs();
    let Metadata {
        redirect_uris,
        grant_types,
        auth,
        application_type,
        client_name,
        extra,
    } = metadata;
    let record = Record {
        client_id: client_id.clone(),
        client_id_issued_at: now,
        last_used_at: now,
        client_secret_sha256: secret.as_ref().map(|s| hex::encode(sha256(s.as_bytes()))),
        redirect_uris,
        grant_types,
        token_endpoint_auth_method: auth,
        application_type,
        client_name,
        extra,
    };
    put(store, &record, lifetime).await?;
    tracing::info!(client_id, client_name = ?record.client_name, "registered an OAuth client");
    let mut response = response_of(&record);
    if let Some(secret) = secret {
        response.insert("client_secret".into(), secret.into());
        // The secret does not expire; the registration does, when unused.
        response.insert("client_secret_expires_at".into(), 0.into());
    }
    Ok(Value::Object(response))
}

async fn put(store: &dyn Store, record: &Record, lifetime: Duration) -> Result<(), ClientError> {
    let bytes = serde_json::to_vec(record)
        .map_err(|e| ClientError::ServerError(format!("client {}: cannot encode: {e}", record.client_id)))?;
    store.put(&key(&record.client_id), bytes, lifetime).await?;
    Ok(())
}

/// The RFC 7591 §3.2.1 response without the secret: the id and the registered metadata.
fn response_of(record: &Record) -> Map<String, Value> {
    let response_types: &[&str] = if record.grant_types.contains(&GrantType::AuthorizationCode) {
        &["code"]
    } else {
        &[]
    };
    let mut response = Map::new();
    for (k, v) in [
        ("client_id", json!(record.client_id)),
        ("client_id_issued_at", json!(record.client_id_issued_at)),
        ("redirect_uris", json!(record.redirect_uris)),
        ("grant_types", json!(record.grant_types)),
        ("response_types", json!(response_types)),
        (
            "token_endpoint_auth_method",
            json!(record.token_endpoint_auth_method),
        ),
        ("application_type", json!(record.application_type)),
    ] {
        response.insert(k.into(), v);
    }
    if let Some(name) = &record.client_name {
        response.insert("client_name".into(), name.clone().into());
    }
    for (k, v) in &record.extra {
        response.insert(k.clone(), v.clone());
    }
    response
}

pub(super) async fn resolve(
    store: &dyn Store,
    lifetime: Duration,
    client_id: &str,
) -> Result<Client, ClientError> {
    if !is_issued_id(client_id) {
        return Err(unknown_client(client_id));
    }
    let Some(bytes) = store.get(&key(client_id)).await? else {
        return Err(unknown_client(client_id));
    };
    let mut record: Record = serde_json::from_slice(&bytes)
        .map_err(|e| ClientError::ServerError(format!("stored client {client_id:?} is corrupt: {e}")))?;
    let touch_after = TOUCH_INTERVAL.min(lifetime / 30).as_secs();
    let now = now_secs();
    if now.saturating_sub(record.last_used_at) >= touch_after.max(1) || touch_after == 0 {
        record.last_used_at = now;
        // A failed extension only brings the expiry closer; the client is still valid now.
        if let Err(e) = put(store, &record, lifetime).await {
            tracing::warn!(client_id, error = %e, "could not extend the registration of a client");
        }
    }
    client_of(record)
}

fn client_of(record: Record) -> Result<Client, ClientError> {
    let secret = match &record.client_secret_sha256 {
        None => None,
        Some(h) => {
            let digest = hex::decode(h)
                .ok()
                .and_then(|d| <[u8; 32]>::try_from(d).ok())
                .ok_or_else(|| {
                    ClientError::ServerError(format!(
                        "stored client {:?}: the secret digest is corrupt",
                        record.client_id
                    ))
                })?;
            Some(SecretDigest(digest))
        }
    };
    let extra_string = |k: &str| record.extra.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(Client {
        client_uri: extra_string("client_uri"),
        logo_uri: extra_string("logo_uri"),
        client_id: record.client_id,
        name: record.client_name,
        kind: ClientKind::Registered,
        redirect_uris: record.redirect_uris,
        grant_types: record.grant_types,
        auth: record.token_endpoint_auth_method,
        application_type: record.application_type,
        secret,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::EmbeddedStore;

    const LIFETIME: Duration = super::super::REGISTRATION_LIFETIME;

    #[tokio::test]
    async fn ids_and_secrets_are_random_and_only_digests_are_stored() {
        let store = EmbeddedStore::in_memory();
        let body = br#"{"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "client_secret_post"}"#;
        let a = register(&store, Environment::Production, LIFETIME, body)
            .await
            .unwrap();
        let b = register(&store, Environment::Production, LIFETIME, body)
            .await
            .unwrap();
        let id = a["client_id"].as_str().unwrap();
        assert!(is_issued_id(id), "{id}");
        assert_ne!(a["client_id"], b["client_id"]);
        let secret = a["client_secret"].as_str().unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(secret).unwrap().len(), 32);
        assert_eq!(a["client_secret_expires_at"], 0);
        let stored = String::from_utf8(store.get(&key(id)).await.unwrap().unwrap()).unwrap();
        assert!(!stored.contains(secret), "{stored}");
        assert!(stored.contains(&hex::encode(sha256(secret.as_bytes()))));
    }

    #[tokio::test]
    async fn resolving_a_client_last_used_over_a_day_ago_extends_it() {
        let store = EmbeddedStore::in_memory();
        let body = br#"{"redirect_uris": ["http://127.0.0.1/cb"]}"#;
        let response = register(&store, Environment::Production, LIFETIME, body)
            .await
            .unwrap();
        let id = response["client_id"].as_str().unwrap();
        async fn stored_in(store: &EmbeddedStore, id: &str) -> Record {
            let bytes = store.get(&key(id)).await.unwrap().unwrap();
            serde_json::from_slice(&bytes).unwrap()
        }
        // Used an hour ago: left alone.
        let mut record = stored_in(&store, id).await;
        record.last_used_at = now_secs() - 3600;
        put(&store, &record, Duration::from_secs(60)).await.unwrap();
        resolve(&store, LIFETIME, id).await.unwrap();
        assert_eq!(stored_in(&store, id).await.last_used_at, now_secs() - 3600);
        // Two days ago: written back with the full lifetime.
        record.last_used_at = now_secs() - 2 * 24 * 3600;
        put(&store, &record, Duration::from_secs(60)).await.unwrap();
        let client = resolve(&store, LIFETIME, id).await.unwrap();
        assert_eq!(client.kind, ClientKind::Registered);
        assert!(stored_in(&store, id).await.last_used_at >= now_secs() - 1);
    }

    #[tokio::test]
    async fn a_corrupt_record_is_a_server_error() {
        let store = EmbeddedStore::in_memory();
        let id = "mcp_AAAAAAAAAAAAAAAAAAAAAA";
        store.put(&key(id), b"{".to_vec(), LIFETIME).await.unwrap();
        assert_eq!(
            resolve(&store, LIFETIME, id).await.unwrap_err().code(),
            "server_error"
        );
    }

    #[tokio::test]
    async fn the_response_echoes_the_registered_metadata() {
        let store = EmbeddedStore::in_memory();
        let body = br#"{"redirect_uris": ["http://127.0.0.1:3000/cb"], "client_name": "Editor",
            "scope": "mcp", "jwks": {"keys": []}, "client_secret": "mine", "unknown": true}"#;
        let r = register(&store, Environment::Production, LIFETIME, body)
            .await
            .unwrap();
        assert_eq!(r["client_name"], "Editor");
        assert_eq!(r["application_type"], "native");
        assert_eq!(r["token_endpoint_auth_method"], "none");
        assert_eq!(r["grant_types"], json!(["authorization_code", "refresh_token"]));
        assert_eq!(r["response_types"], json!(["code"]));
        assert_eq!(r["scope"], "mcp");
        for absent in ["jwks", "client_secret", "client_secret_expires_at", "unknown"] {
            assert!(r.get(absent).is_none(), "{absent}: {r}");
        }
    }
}
