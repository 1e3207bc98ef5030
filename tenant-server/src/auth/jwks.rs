//! Verifies JWT access tokens against the issuer's JWKS: RS256 and ES256 only, keys cached
//! ([`SigningKeys`], also used for the upstream's ID tokens), refreshed when a token names an unknown `kid` (at most once per `min_refresh_interval`) and
//! when the cached set is older than `max_age`. Only a token whose `kid` is not cached waits for
//! a fetch; a stale set keeps verifying while one background task refreshes it.

use std::{
    collections::HashMap,
    sync::{
        Arc, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind, jwk::Jwk};
use serde_json::{Map, Value};
use tokio::sync::Mutex;
use url::Url;

use super::{AuthFailure, TokenVerifier, VerifiedClaims};
use crate::trust::{self, IssuerTrust};

/// Token types accepted in the JOSE header (RFC 9068 `at+jwt`, or a plain JWT).
const ACCEPTED_TYP: &[&str] = &["at+jwt", "application/at+jwt", "jwt"];
/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;

#[derive(Clone, Debug)]
pub struct JwksOptions {
    /// Shortest time from the end of one fetch to the start of the next (unknown key ids and
    /// stale sets alike).
    pub min_refresh_interval: Duration,
    /// Refetch the set after this long even if every kid is known (picks up revoked keys).
    pub max_age: Duration,
    pub fetch_timeout: Duration,
    /// Roots for the issuer's certificate.
    pub trust: IssuerTrust,
}

impl Default for JwksOptions {
    fn default() -> Self {
        Self {
            min_refresh_interval: Duration::from_secs(10),
            max_age: Duration::from_secs(3_600),
            fetch_timeout: Duration::from_secs(5),
            trust: IssuerTrust::default(),
        }
    }
}

/// Where the keys come from.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// A JWKS URL.
    Jwks(Url),
    /// OpenID discovery: `<issuer>/.well-known/openid-configuration` names `jwks_uri`.
    Discovery(Url),
}

struct KeySet {
    keys: HashMap<String, VerificationKey>,
    fetched_at: Instant,
}

/// A public key of the issuer and the algorithms it may verify.
#[derive(Clone)]
pub struct VerificationKey {
    /// RS256 and PS256 for an RSA key that declares no `alg`, else the one algorithm it is for.
    pub algorithms: &'static [Algorithm],
    pub key: Arc<DecodingKey>,
}

/// A key found in the cached set, and whether that set is older than `max_age`.
struct CachedKey {
    key: VerificationKey,
    stale: bool,
}

/// An issuer's signing keys, fetched from its JWKS and cached: refreshed when a token names an
/// unknown `kid`, and in the background when the set is stale. Cheap to clone (shared).
#[derive(Clone)]
pub struct SigningKeys {
    keys: Arc<IssuerKeys>,
}

pub struct JwksVerifier {
    keys: SigningKeys,
    issuers: Vec<String>,
    audiences: Vec<String>,
}

/// The issuer's key set and how it is fetched. Shared with the background refresh task.
struct IssuerKeys {
    source: KeySource,
    http: reqwest::Client,
    options: JwksOptions,
    /// Held only to read or swap the set, never across a fetch.
    set: std::sync::RwLock<Option<KeySet>>,
    /// Serialises fetches and remembers when the last one ended (or, while it runs, began).
    /// Only fetchers wait on it: verification with a cached key never does.
    last_fetch: Mutex<Option<Instant>>,
    /// Whether a background refresh task is running (there is at most one).
    refreshing: AtomicBool,
}

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("fetching {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl JwksVerifier {
    pub fn new(
        source: KeySource,
        issuer: &Url,
        audiences: Vec<String>,
        options: JwksOptions,
    ) -> Result<Self, reqwest::Error> {
        // `Url` adds a trailing slash to a bare origin; issuers write theirs either way.
        let issuer = issuer.as_str().to_owned();
        let trimmed = issuer.trim_end_matches('/').to_owned();
        Ok(Self {
            keys: SigningKeys::new(source, options)?,
            issuers: vec![issuer, trimmed],
            audiences,
        })
    }
}

impl SigningKeys {
    pub fn new(source: KeySource, options: JwksOptions) -> Result<Self, reqwest::Error> {
        let http = options
            .trust
            .apply(reqwest::Client::builder())
            .timeout(options.fetch_timeout)
            .build()?;
        Ok(Self {
            keys: Arc::new(IssuerKeys {
                source,
                http,
                options,
                set: std::sync::RwLock::new(None),
                last_fetch: Mutex::new(None),
                refreshing: AtomicBool::new(false),
            }),
        })
    }

    /// The key named `kid`: from the cache (refreshing a stale set in the background), else
    /// after one rate-limited fetch. `UnknownKey` when the issuer has no such key,
    /// `KeysUnavailable` when no set could be fetched at all.
    pub async fn find(&self, kid: &str) -> Result<VerificationKey, AuthFailure> {
        if let Some(cached) = self.keys.lookup(kid) {
            if cached.stale {
                self.refresh_in_background();
            }
            return Ok(cached.key);
        }
        // A new kid: the issuer may have rotated its keys (or none are cached yet).
        self.keys.refresh_rate_limited().await;
        match self.keys.lookup(kid) {
            Some(cached) => Ok(cached.key),
            None if !self.keys.has_set() => Err(AuthFailure::KeysUnavailable),
            None => Err(AuthFailure::UnknownKey),
        }
    }

    /// Whether a key set is cached, fetching one if none is.
    pub async fn ready(&self) -> bool {
        if self.keys.has_set() {
            return true;
        }
        self.keys.refresh_rate_limited().await;
        self.keys.has_set()
    }

    /// Refreshes a stale set in a background task, so that tokens signed by a cached key are
    /// verified at once even when the issuer is slow or down. At most one such task runs.
    fn refresh_in_background(&self) {
        if self.keys.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let keys = self.keys.clone();
        tokio::spawn(async move {
            keys.refresh_rate_limited().await;
            keys.refreshing.store(false, Ordering::Release);
        });
    }
}

impl IssuerKeys {
    async fn get_json(&self, url: &Url) -> Result<Value, JwksError> {
        let err = |message: String| JwksError::Fetch {
            url: url.to_string(),
            message,
        };
        let response = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| err(trust::describe(e)))?;
        if !response.status().is_success() {
            return Err(err(format!("HTTP {}", response.status())));
        }
        response.json().await.map_err(|e| err(e.to_string()))
    }

    async fn jwks_url(&self) -> Result<Url, JwksError> {
        match &self.source {
            KeySource::Jwks(url) => Ok(url.clone()),
            KeySource::Discovery(issuer) => {
                let base = issuer.as_str().trim_end_matches('/');
                let url = Url::parse(&format!("{base}/.well-known/openid-configuration"))
                    .map_err(|e| JwksError::Invalid(e.to_string()))?;
                let doc = self.get_json(&url).await?;
                let jwks = doc
                    .get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| JwksError::Invalid("discovery document has no jwks_uri".into()))?;
                Url::parse(jwks).map_err(|e| JwksError::Invalid(format!("jwks_uri: {e}")))
            }
        }
    }

    /// Fetches the key set now and replaces the cached one.
    async fn refresh(&self) -> Result<usize, JwksError> {
        let url = self.jwks_url().await?;
        let doc = self.get_json(&url).await?;
        let items = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| JwksError::Invalid("JWKS has no keys array".into()))?;
        let mut keys = HashMap::new();
        for item in items {
            // Keys this server cannot use (encryption keys, other algorithms) are skipped.
            let Ok(jwk) = serde_json::from_value::<Jwk>(item.clone()) else {
                continue;
            };
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            if let Some(key) = usable_key(&jwk) {
                keys.insert(kid, key);
            }
        }
        let count = keys.len();
        *self.set.write().unwrap_or_else(PoisonError::into_inner) = Some(KeySet {
            keys,
            fetched_at: Instant::now(),
        });
        tracing::info!(keys = count, jwks = %url, "fetched issuer signing keys");
        Ok(count)
    }

    /// Refreshes unless a fetch ended within `min_refresh_interval`. Callers that waited for
    /// another fetch find it just ended and use its result instead of fetching again.
    async fn refresh_rate_limited(&self) {
        let mut last = self.last_fetch.lock().await;
        if last.is_some_and(|t| t.elapsed() < self.options.min_refresh_interval) {
            return;
        }
        // Set before fetching too, so that a fetch cancelled midway still counts.
        *last = Some(Instant::now());
        if let Err(error) = self.refresh().await {
            tracing::warn!(%error, "could not refresh issuer signing keys; keeping the cached set");
        }
        *last = Some(Instant::now());
    }

    fn lookup(&self, kid: &str) -> Option<CachedKey> {
        let set = self.set.read().unwrap_or_else(PoisonError::into_inner);
        let set = set.as_ref()?;
        Some(CachedKey {
            key: set.keys.get(kid)?.clone(),
            stale: set.fetched_at.elapsed() > self.options.max_age,
        })
    }

    fn has_set(&self) -> bool {
        self.set.read().unwrap_or_else(PoisonError::into_inner).is_some()
    }
}

/// The algorithms a JWK may verify, if it is an RSA (RS256, PS256) or P-256 (ES256) signing key.
/// Access tokens are further limited to RS256 and ES256 by [`JwksVerifier`].
fn usable_key(jwk: &Jwk) -> Option<VerificationKey> {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, KeyAlgorithm, PublicKeyUse};
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let rsa = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => true,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => false,
        _ => return None,
    };
    let algorithms: &'static [Algorithm] = match (rsa, jwk.common.key_algorithm) {
        (true, None) => &[Algorithm::RS256, Algorithm::PS256],
        (true, Some(KeyAlgorithm::RS256)) => &[Algorithm::RS256],
        (true, Some(KeyAlgorithm::PS256)) => &[Algorithm::PS256],
        (false, None | Some(KeyAlgorithm::ES256)) => &[Algorithm::ES256],
        _ => return None,
    };
    DecodingKey::from_jwk(jwk).ok().map(|key| VerificationKey {
        algorithms,
        key: Arc::new(key),
    })
}

/// The authentication failure a JWT decoding error stands for.
pub(crate) fn map_error(kind: &ErrorKind) -> AuthFailure {
    match kind {
        ErrorKind::ExpiredSignature => AuthFailure::Expired,
        ErrorKind::ImmatureSignature => AuthFailure::NotYetValid,
        ErrorKind::InvalidIssuer => AuthFailure::WrongIssuer,
        ErrorKind::InvalidAudience => AuthFailure::WrongAudience,
        ErrorKind::InvalidSignature | ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidRsaKey(_) => {
            AuthFailure::BadSignature
        }
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName | ErrorKind::UnsupportedAlgorithm => {
            AuthFailure::UnsupportedAlgorithm
        }
        _ => AuthFailure::Malformed,
    }
}

#[async_trait]
impl TokenVerifier for JwksVerifier {
    async fn verify(&self, token: &str) -> Result<VerifiedClaims, AuthFailure> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
            ErrorKind::InvalidAlgorithmName => AuthFailure::UnsupportedAlgorithm,
            _ => AuthFailure::Malformed,
        })?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(AuthFailure::UnsupportedAlgorithm);
        }
        if let Some(typ) = &header.typ
            && !ACCEPTED_TYP.iter().any(|t| t.eq_ignore_ascii_case(typ))
        {
            return Err(AuthFailure::Malformed);
        }
        let kid = header.kid.as_deref().ok_or(AuthFailure::UnknownKey)?;
        let VerificationKey { algorithms, key } = self.keys.find(kid).await?;
        if !algorithms.contains(&header.alg) {
            return Err(AuthFailure::UnsupportedAlgorithm);
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&self.issuers);
        validation.set_audience(&self.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| map_error(e.kind()))?;
        // An OpenID ID token can share the audience of an access token (one app registration);
        // it carries `nonce`, which an access token never does, so it is refused here.
        if data.claims.contains_key("nonce") {
            return Err(AuthFailure::Malformed);
        }
        VerifiedClaims::new(data.claims)
    }

    async fn ready(&self) -> bool {
        self.keys.ready().await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

    use super::*;
    use crate::dev::DevIssuer;

    const ISSUER: &str = "https://issuer.test";
    const AUDIENCE: &str = "https://mcp.test/mcp";

    fn token(issuer: &DevIssuer) -> String {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "u", "iat": now, "exp": now + 300});
        issuer.sign(&issuer.header(), &claims).unwrap()
    }

    /// The issuer answers the first fetch at once and every later one only after 5 s (with a
    /// rotated set). Once the cached set is stale, tokens signed by a cached key are verified
    /// without waiting; one background refresh picks up the new key.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stale_set_verifies_known_keys_at_once_and_refreshes_in_the_background() {
        crate::crypto::install_provider();
        let old = DevIssuer::generate(ISSUER).unwrap();
        let rotated = DevIssuer::generate(ISSUER).unwrap();
        let server = MockServer::start().await;
        Mock::given(matchers::method("GET"))
            .and(matchers::path("/jwks"))
            .respond_with(ResponseTemplate::new(200).set_body_json(old.jwks()))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        let both = json!({"keys": [old.jwks()["keys"][0], rotated.jwks()["keys"][0]]});
        Mock::given(matchers::method("GET"))
            .and(matchers::path("/jwks"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(both)
                    .set_delay(Duration::from_secs(5)),
            )
            .mount(&server)
            .await;
        let options = JwksOptions {
            min_refresh_interval: Duration::from_millis(50),
            max_age: Duration::from_millis(200),
            fetch_timeout: Duration::from_secs(10),
            ..JwksOptions::default()
        };
        let url = Url::parse(&format!("{}/jwks", server.uri())).unwrap();
        let verifier = Arc::new(
            JwksVerifier::new(
                KeySource::Jwks(url),
                &Url::parse(ISSUER).unwrap(),
                vec![AUDIENCE.into()],
                options,
            )
            .unwrap(),
        );
        let known = token(&old);
        verifier.verify(&known).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;

        // Many concurrent requests with a stale set: none waits for the slow issuer.
        let checks: Vec<_> = (0..8)
            .map(|_| {
                let (verifier, known) = (verifier.clone(), known.clone());
                tokio::spawn(async move {
                    tokio::time::timeout(Duration::from_secs(1), verifier.verify(&known)).await
                })
            })
            .collect();
        for check in checks {
            let verified = check
                .await
                .unwrap()
                .expect("verified without waiting for the issuer");
            assert!(verified.is_ok());
        }

        // The rotated key is unknown until the background refresh lands; waiting for that one
        // fetch (instead of starting another) finds it.
        let result = tokio::time::timeout(Duration::from_secs(10), verifier.verify(&token(&rotated))).await;
        assert!(result.expect("the background refresh ends").is_ok());
        let fetches = server.received_requests().await.unwrap().len();
        assert_eq!(fetches, 2, "one initial fetch and one background refresh");
    }
}
