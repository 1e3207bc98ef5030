//! Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document): the client id is
//! an https URL whose JSON document describes the client. Fetched with a bounded request that
//! never reaches internal addresses, validated, and cached by the document's own freshness.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use mcp_tenancy_config::Environment;
use moka::{Expiry, future::Cache};
use reqwest::{
    StatusCode,
    dns::{Addrs, Name, Resolve, Resolving},
    header::{ACCEPT, AGE, CACHE_CONTROL, EXPIRES, HeaderMap},
    redirect,
};
use serde_json::Value;
use url::{Host, Url};

use super::{
    ApplicationType, Client, ClientError, ClientKind, ClientSetupError,
    metadata::{self, Source, is_loopback_host},
};

pub(super) const MAX_DOCUMENT_BYTES: usize = 16 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_REDIRECTS: usize = 3;
const MAX_CACHED: u64 = 10_000;
const FAILURE_TTL: Duration = Duration::from_secs(30);
const DEFAULT_TTL: Duration = Duration::from_secs(3600);
const MIN_TTL: Duration = Duration::from_secs(60);
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone)]
struct Cached {
    result: Result<Arc<Client>, ClientError>,
    ttl: Duration,
}

struct CachedFor;

impl Expiry<String, Cached> for CachedFor {
    fn expire_after_create(&self, _key: &String, value: &Cached, _now: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

pub(super) struct Documents {
    http: reqwest::Client,
    environment: Environment,
    cache: Cache<String, Cached>,
}

fn invalid(url: &str, message: impl std::fmt::Display) -> ClientError {
    ClientError::InvalidClient(format!("client metadata document {url}: {message}"))
}

fn unavailable(url: &str, message: impl std::fmt::Display) -> ClientError {
    ClientError::TemporarilyUnavailable(format!("client metadata document {url}: {message}"))
}

impl Documents {
    pub fn new(environment: Environment) -> Result<Self, ClientSetupError> {
        let policy = redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(Refused(format!("more than {MAX_REDIRECTS} redirects")));
            }
            match check_target(attempt.url(), environment) {
                Ok(()) => attempt.follow(),
                Err(m) => {
                    let m = format!("redirect to {}: {m}", attempt.url());
                    attempt.error(Refused(m))
                }
            }
        });
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(policy)
            // A proxy would resolve names itself, past the address filter.
            .no_proxy()
            .dns_resolver(PublicResolver {
                allow_loopback: environment == Environment::Development,
            })
            .build()
            .map_err(|e| ClientSetupError::HttpClient(e.to_string()))?;
        Ok(Self {
            http,
            environment,
            cache: Cache::builder()
                .max_capacity(MAX_CACHED)
                .expire_after(CachedFor)
                .build(),
        })
    }

    pub async fn resolve(&self, client_id: &str) -> Result<Client, ClientError> {
        let url = check_client_id(client_id, self.environment).map_err(|m| invalid(client_id, m))?;
        let cached = self
            .cache
            .get_with(client_id.to_owned(), self.load(client_id, url))
            .await;
        cached.result.map(|c| (*c).clone())
    }

    async fn load(&self, client_id: &str, url: Url) -> Cached {
        let fetched = self.fetch(client_id, url).await;
        match fetched.and_then(|(body, ttl)| Ok((validate(client_id, &body, self.environment)?, ttl))) {
            Ok((client, ttl)) => Cached {
                result: Ok(Arc::new(client)),
                ttl,
            },
            Err(e) => {
                tracing::info!(client_id, error = %e, "refused a client metadata document");
                Cached {
                    result: Err(e),
                    ttl: FAILURE_TTL,
                }
            }
        }
    }

    async fn fetch(&self, client_id: &str, url: Url) -> Result<(Vec<u8>, Duration), ClientError> {
        let mut response = self
            .http
            .get(url)
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| transport_error(client_id, e))?;
        let status = response.status();
        if status != StatusCode::OK {
            let message = format!("answered HTTP {status}, expected 200");
            return Err(if status.is_server_error() {
                unavailable(client_id, message)
            } else {
                invalid(client_id, message)
            });
        }
        let too_large = || {
            invalid(
                client_id,
                format!("the document is larger than {MAX_DOCUMENT_BYTES} bytes"),
            )
        };
        if response
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(too_large());
        }
        let ttl = freshness(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error(client_id, e))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, ttl))
    }
}

fn transport_error(client_id: &str, e: reqwest::Error) -> ClientError {
    if let Some(refused) = find_source::<Refused>(&e) {
        return invalid(client_id, &refused.0);
    }
    if e.is_timeout() {
        return unavailable(
            client_id,
            format!("no answer within {} s", FETCH_TIMEOUT.as_secs()),
        );
    }
    unavailable(client_id, crate::trust::describe(e))
}

fn find_source<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cause = Some(e);
    while let Some(e) = cause {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        cause = e.source();
    }
    None
}

/// A fetch the SSRF rules refused (a redirect target, an internal address).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

/// Resolves names and keeps only public addresses (loopback too in development): a document
/// URL must not make the server reach into the cluster or the cloud metadata service.
struct PublicResolver {
    allow_loopback: bool,
}

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| is_public(a.ip()) || (allow_loopback && a.ip().is_loopback()))
                .collect();
            if allowed.is_empty() {
                let listed: Vec<String> = all.iter().map(|a| a.ip().to_string()).collect();
                return Err(Box::new(Refused(format!(
                    "host {host} resolves only to addresses that are not public ({})",
                    listed.join(", ")
                ))) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Whether `ip` is a public unicast address: not loopback, private, link-local, unique-local,
/// shared (CGNAT), documentation, multicast, broadcast, reserved or unspecified.
pub(super) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || (a == 192 && b == 0 && c == 0))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            // NAT64 (64:ff9b::/96) carries an IPv4 address.
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [.., hi, lo] = segments;
                let v4 = std::net::Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
                return is_public(IpAddr::V4(v4));
            }
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || (segments[0] & 0xffc0) == 0xfec0
                || (segments[0] == 0x2001 && segments[1] == 0x0db8)
                || segments[..6] == [0, 0, 0, 0, 0, 0])
        }
    }
}

/// Scheme and host rules for every URL fetched, redirects included: https to a name; in
/// development also http and IP literals, to loopback only.
fn check_target(url: &Url, environment: Environment) -> Result<(), String> {
    let development = environment == Environment::Development;
    match url.host() {
        Some(Host::Domain(_)) => {}
        Some(Host::Ipv4(_) | Host::Ipv6(_)) if development && is_loopback_host(url.host()) => {}
        Some(_) if development => return Err("IP-literal hosts must be loopback".into()),
        Some(_) => return Err("IP-literal hosts are refused".into()),
        None => return Err("has no host".into()),
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if development && is_loopback_host(url.host()) => Ok(()),
        _ if development => {
            Err("must be https (http only for 127.0.0.1, [::1] or localhost in development)".into())
        }
        _ => Err("must be an https URL".into()),
    }
}

/// A client id that may name a metadata document: an https URL with a path, without fragment,
/// credentials or dot segments, in normal form.
fn check_client_id(client_id: &str, environment: Environment) -> Result<Url, String> {
    let url = Url::parse(client_id).map_err(|e| format!("client_id is not a URL: {e}"))?;
    check_target(&url, environment).map_err(|m| format!("client_id {m}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("client_id must not contain a user name or password".into());
    }
    if url.fragment().is_some() {
        return Err("client_id must not contain a fragment".into());
    }
    if url.path() == "/" {
        return Err("client_id must contain a path (https://host/path)".into());
    }
    if url.as_str() != client_id {
        return Err(format!(
            "client_id is not in normal form (no dot segments, lowercase host, no default port): \
             it would be {:?}",
            url.as_str()
        ));
    }
    Ok(url)
}

/// How long a document stays cached: its `Cache-Control: max-age` (less `Age`) or `Expires`,
/// clamped to [1 min, 24 h]; an hour when it says nothing; zero (refetched) for `no-store`,
/// `no-cache`, `max-age=0` or an `Expires` in the past.
pub(super) fn freshness(headers: &HeaderMap) -> Duration {
    let mut max_age = None;
    for value in headers.get_all(CACHE_CONTROL) {
        for directive in value.to_str().unwrap_or_default().split(',') {
            let (name, arg) = directive.split_once('=').unwrap_or((directive, ""));
            match name.trim().to_ascii_lowercase().as_str() {
                "no-store" | "no-cache" => return Duration::ZERO,
                // An unreadable max-age is stale (RFC 9111 §4.2.1).
                "max-age" => max_age = Some(arg.trim().trim_matches('"').parse::<u64>().unwrap_or(0)),
                _ => {}
            }
        }
    }
    let age = headers
        .get(AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let lifetime = match max_age {
        Some(secs) => Some(secs.saturating_sub(age)),
        None => headers.get(EXPIRES).map(|v| {
            // An invalid date is in the past (RFC 9111 §5.3).
            v.to_str()
                .ok()
                .and_then(|s| jiff::fmt::rfc2822::parse(s.trim()).ok())
                .map_or(0, |at| {
                    let secs = at.timestamp().as_second() - jiff::Timestamp::now().as_second();
                    u64::try_from(secs).unwrap_or(0)
                })
        }),
    };
    match lifetime {
        None => DEFAULT_TTL,
        Some(0) => Duration::ZERO,
        Some(secs) => Duration::from_secs(secs).clamp(MIN_TTL, MAX_TTL),
    }
}

fn validate(client_id: &str, body: &[u8], environment: Environment) -> Result<Client, ClientError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| invalid(client_id, format!("not JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(invalid(client_id, "must be a JSON object"));
    };
    match obj.get("client_id") {
        Some(Value::String(id)) if id == client_id => {}
        Some(Value::String(id)) => {
            return Err(invalid(
                client_id,
                format!("client_id {id:?} does not match the document URL"),
            ));
        }
        Some(_) => return Err(invalid(client_id, "client_id must be a string")),
        None => return Err(invalid(client_id, "client_id is missing")),
    }
    let m =
        metadata::parse(&obj, Source::Document, environment).map_err(|e| invalid(client_id, e.message))?;
    let extra_string = |k: &str| m.extra.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(Client {
        client_id: client_id.to_owned(),
        client_uri: extra_string("client_uri"),
        logo_uri: extra_string("logo_uri"),
        name: m.client_name,
        kind: ClientKind::MetadataDocument,
        redirect_uris: m.redirect_uris,
        grant_types: m.grant_types,
        auth: m.auth,
        application_type: if m.application_type == ApplicationType::Native {
            ApplicationType::Native
        } else {
            ApplicationType::Web
        },
        secret: None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(reqwest::header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn freshness_follows_the_cache_headers_within_bounds() {
        let secs = |h: &[(reqwest::header::HeaderName, &str)]| freshness(&headers(h)).as_secs();
        assert_eq!(secs(&[]), 3600);
        assert_eq!(secs(&[(CACHE_CONTROL, "public, max-age=600")]), 600);
        assert_eq!(secs(&[(CACHE_CONTROL, "max-age=600"), (AGE, "100")]), 500);
        assert_eq!(secs(&[(CACHE_CONTROL, "max-age=5")]), 60);
        assert_eq!(secs(&[(CACHE_CONTROL, "max-age=9999999")]), 86400);
        assert_eq!(secs(&[(CACHE_CONTROL, "max-age=0")]), 0);
        assert_eq!(secs(&[(CACHE_CONTROL, "max-age=600, no-store")]), 0);
        assert_eq!(secs(&[(CACHE_CONTROL, "No-Cache")]), 0);
        assert_eq!(secs(&[(CACHE_CONTROL, "max-age=soon")]), 0);
        assert_eq!(secs(&[(EXPIRES, "Thu, 01 Jan 1970 00:00:00 GMT")]), 0);
        assert_eq!(secs(&[(EXPIRES, "0")]), 0);
        let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(7200);
        let expires = jiff::fmt::rfc2822::to_string(&later.to_zoned(jiff::tz::TimeZone::UTC)).unwrap();
        let s = secs(&[(EXPIRES, &expires)]);
        assert!((7190..=7200).contains(&s), "{expires}: {s}");
        assert_eq!(secs(&[(CACHE_CONTROL, "max-age=120"), (EXPIRES, &expires)]), 120);
    }

    #[test]
    fn only_public_addresses_are_fetched() {
        for ip in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2001:db8::1",
            "ff02::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn document_urls_are_https_with_a_path() {
        let prod = Environment::Production;
        let dev = Environment::Development;
        assert!(check_client_id("https://app.example.com/client.json", prod).is_ok());
        assert!(check_client_id("http://127.0.0.1:8080/c", dev).is_ok());
        assert!(check_client_id("http://localhost:8080/c", dev).is_ok());
        for (id, env, why) in [
            ("http://app.example.com/c", prod, "must be an https URL"),
            ("http://127.0.0.1:8080/c", prod, "IP-literal hosts are refused"),
            ("https://10.0.0.1/c", prod, "IP-literal hosts are refused"),
            ("https://10.0.0.1/c", dev, "must be loopback"),
            ("http://app.example.com/c", dev, "http only for"),
            ("https://app.example.com", prod, "must contain a path"),
            ("https://app.example.com/", prod, "must contain a path"),
            ("https://app.example.com/c#f", prod, "fragment"),
            ("https://u:p@app.example.com/c", prod, "user name"),
            ("https://app.example.com/a/../c", prod, "normal form"),
            ("https://APP.example.com/c", prod, "normal form"),
            ("https://app.example.com:443/c", prod, "normal form"),
            ("ftp://app.example.com/c", prod, "https"),
        ] {
            let e = check_client_id(id, env).unwrap_err();
            assert!(e.contains(why), "{id}: {e}");
        }
    }

    #[test]
    fn the_document_must_name_itself() {
        let url = "https://app.example.com/c.json";
        let body =
            |id: &str| format!(r#"{{"client_id": "{id}", "redirect_uris": ["https://app.example.com/cb"]}}"#);
        let c = validate(url, body(url).as_bytes(), Environment::Production).unwrap();
        assert_eq!(c.kind, ClientKind::MetadataDocument);
        assert!(!c.is_confidential());
        let e = validate(
            url,
            body("https://evil.example/c.json").as_bytes(),
            Environment::Production,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "client metadata document https://app.example.com/c.json: client_id \"https://evil.example/c.json\" \
             does not match the document URL"
        );
        assert!(
            validate(url, b"[]", Environment::Production)
                .unwrap_err()
                .to_string()
                .contains("JSON object")
        );
        assert!(
            validate(url, b"<html>", Environment::Production)
                .unwrap_err()
                .to_string()
                .contains("not JSON")
        );
    }
}
