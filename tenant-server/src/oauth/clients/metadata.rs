//! Client metadata (RFC 7591 §2), as registration requests and client ID metadata documents
//! both carry it: parsed and checked once, with each source's own rules.

use mcp_tenancy_config::Environment;
use serde_json::{Map, Value};
use url::{Host, Url};

use super::{ApplicationType, ClientAuth, GrantType};

/// Longest `client_name` accepted, in characters.
pub(super) const MAX_CLIENT_NAME_CHARS: usize = 200;

/// Standard RFC 7591 fields kept and echoed as given (once checked); other fields are ignored.
const ECHOED_URIS: [&str; 4] = ["client_uri", "logo_uri", "tos_uri", "policy_uri"];
const ECHOED_STRINGS: [&str; 3] = ["scope", "software_id", "software_version"];

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    Document,
    Registration,
}

#[derive(Debug)]
pub(super) struct Metadata {
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub auth: ClientAuth,
    pub application_type: ApplicationType,
    pub client_name: Option<String>,
    /// The echoed standard fields (`client_uri`, `scope`, `contacts`, ...).
    pub extra: Map<String, Value>,
}

/// What is wrong, naming the field; `redirect` when a redirect URI is (RFC 7591's
/// `invalid_redirect_uri`).
pub(super) struct MetadataError {
    pub message: String,
    pub redirect: bool,
}

fn field_error(field: &str, message: impl std::fmt::Display) -> MetadataError {
    MetadataError {
        message: format!("{field}: {message}"),
        redirect: false,
    }
}

fn redirect_error(message: String) -> MetadataError {
    MetadataError {
        message,
        redirect: true,
    }
}

fn string<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, MetadataError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(field_error(field, "must be a string")),
    }
}

fn strings<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<Option<Vec<&'a str>>, MetadataError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .ok_or_else(|| field_error(&format!("{field}[{i}]"), "must be a string"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(field_error(field, "must be an array of strings")),
    }
}

/// Whether a redirect URI is a loopback http one (else https); the reason when it is neither.
pub(super) fn redirect_uri_is_loopback(uri: &str) -> Result<bool, String> {
    let url = Url::parse(uri).map_err(|e| format!("not an absolute URI: {e}"))?;
    if url.fragment().is_some() {
        return Err("must not contain a fragment".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a user name or password".into());
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(false),
        "http" if is_loopback_host(url.host()) => Ok(true),
        "http" => Err(
            "http only for loopback (127.0.0.1, [::1], localhost); loopback and https \
                       redirect URIs only"
                .into(),
        ),
        scheme => Err(format!(
            "scheme {scheme:?} is refused: loopback and https redirect URIs only"
        )),
    }
}

pub(super) fn is_loopback_host(host: Option<Host<&str>>) -> bool {
    match host {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        None => false,
    }
}

fn parse_grant_types(obj: &Map<String, Value>) -> Result<Vec<GrantType>, MetadataError> {
    let Some(names) = strings(obj, "grant_types")? else {
        return Ok(vec![GrantType::AuthorizationCode, GrantType::RefreshToken]);
    };
    if names.is_empty() {
        return Err(field_error("grant_types", "must not be empty"));
    }
    let mut grants = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let grant = match GrantType::parse(name) {
            Some(GrantType::ClientCredentials) => {
                return Err(field_error(
                    &format!("grant_types[{i}]"),
                    "client_credentials is for the tenant's configured service accounts only",
                ));
            }
            Some(g) => g,
            None => {
                return Err(field_error(
                    &format!("grant_types[{i}]"),
                    format!(
                        "{name:?} is not supported (authorization_code, refresh_token, {})",
                        GrantType::DeviceCode.as_str()
                    ),
                ));
            }
        };
        if !grants.contains(&grant) {
            grants.push(grant);
        }
    }
    if grants == [GrantType::RefreshToken] {
        return Err(field_error(
            "grant_types",
            "refresh_token needs authorization_code or the device_code grant",
        ));
    }
    Ok(grants)
}

fn check_response_types(obj: &Map<String, Value>, grants: &[GrantType]) -> Result<(), MetadataError> {
    let Some(types) = strings(obj, "response_types")? else {
        return Ok(());
    };
    let code = grants.contains(&GrantType::AuthorizationCode);
    if let Some(other) = types.iter().find(|t| **t != "code") {
        return Err(field_error(
            "response_types",
            format!("{other:?} is not supported: only \"code\""),
        ));
    }
    match (code, types.is_empty()) {
        (true, true) => Err(field_error(
            "response_types",
            "grant type authorization_code needs response_types [\"code\"]",
        )),
        // `code` without the authorization_code grant is inert (mcp-remote registers device
        // clients so): the client still may not use the code flow.
        _ => Ok(()),
    }
}

fn parse_auth(
    obj: &Map<String, Value>,
    source: Source,
    application_type: ApplicationType,
) -> Result<ClientAuth, MetadataError> {
    const FIELD: &str = "token_endpoint_auth_method";
    let method = string(obj, FIELD)?;
    let auth = match method {
        None if source == Source::Document || application_type == ApplicationType::Native => ClientAuth::None,
        // RFC 7591 §2's default.
        None => ClientAuth::SecretBasic,
        Some("none") => ClientAuth::None,
        Some("client_secret_post") => ClientAuth::SecretPost,
        Some("client_secret_basic") => ClientAuth::SecretBasic,
        Some(m @ ("private_key_jwt" | "client_secret_jwt")) => {
            return Err(field_error(
                FIELD,
                format!(
                    "{m} is not supported by this server; use {}",
                    match source {
                        Source::Document => "none",
                        Source::Registration => "none, client_secret_post or client_secret_basic",
                    }
                ),
            ));
        }
        Some(m) => return Err(field_error(FIELD, format!("unknown method {m:?}"))),
    };
    if source == Source::Document && auth != ClientAuth::None {
        return Err(field_error(
            FIELD,
            format!(
                "{} is not allowed: shared-secret methods cannot be used with client metadata documents \
                 (use none)",
                auth.as_str()
            ),
        ));
    }
    Ok(auth)
}

fn parse_client_name(obj: &Map<String, Value>) -> Result<Option<String>, MetadataError> {
    let Some(name) = string(obj, "client_name")? else {
        return Ok(None);
    };
    let chars = name.chars().count();
    if chars > MAX_CLIENT_NAME_CHARS {
        return Err(field_error(
            "client_name",
            format!("is {chars} characters, longer than {MAX_CLIENT_NAME_CHARS}"),
        ));
    }
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        return Err(field_error(
            "client_name",
            "must not be blank or contain control characters",
        ));
    }
    Ok(Some(name.to_owned()))
}

/// The standard fields that are kept: URIs shown to users must be https (http too in
/// development), so that a consent page never links to `javascript:`.
fn parse_extra(
    obj: &Map<String, Value>,
    environment: Environment,
) -> Result<Map<String, Value>, MetadataError> {
    let mut extra = Map::new();
    for field in ECHOED_URIS {
        let Some(uri) = string(obj, field)? else { continue };
        let ok = Url::parse(uri).is_ok_and(|u| {
            u.host().is_some()
                && (u.scheme() == "https"
                    || (environment == Environment::Development && u.scheme() == "http"))
        });
        if !ok {
            return Err(field_error(field, format!("{uri:?} must be an https URL")));
        }
        extra.insert(field.into(), uri.into());
    }
    for field in ECHOED_STRINGS {
        if let Some(value) = string(obj, field)? {
            extra.insert(field.into(), value.into());
        }
    }
    if let Some(contacts) = strings(obj, "contacts")? {
        extra.insert("contacts".into(), contacts.into());
    }
    Ok(extra)
}

/// Parses and checks the metadata in `obj`.
pub(super) fn parse(
    obj: &Map<String, Value>,
    source: Source,
    environment: Environment,
) -> Result<Metadata, MetadataError> {
    if source == Source::Document && obj.contains_key("client_secret") {
        return Err(field_error(
            "client_secret",
            "must not be present: a client metadata document is public and cannot hold a secret",
        ));
    }
    let grant_types = parse_grant_types(obj)?;
    check_response_types(obj, &grant_types)?;
    let redirect_uris = strings(obj, "redirect_uris")?.unwrap_or_default();
    let needs_redirect = source == Source::Document || grant_types.contains(&GrantType::AuthorizationCode);
    if needs_redirect && redirect_uris.is_empty() {
        return Err(redirect_error("redirect_uris: must not be empty".into()));
    }
    let mut loopback = Vec::with_capacity(redirect_uris.len());
    for (i, uri) in redirect_uris.iter().enumerate() {
        let is_loopback = redirect_uri_is_loopback(uri)
            .map_err(|m| redirect_error(format!("redirect_uris[{i}]: {uri:?}: {m}")))?;
        loopback.push(is_loopback);
    }
    let application_type = match string(obj, "application_type")? {
        Some("web") => ApplicationType::Web,
        Some("native") => ApplicationType::Native,
        Some(other) => {
            return Err(field_error(
                "application_type",
                format!("{other:?} must be \"web\" or \"native\""),
            ));
        }
        None if !loopback.is_empty() && loopback.iter().all(|l| *l) => ApplicationType::Native,
        None => ApplicationType::Web,
    };
    // A web client's redirect URIs are hosted pages; a loopback one means a native app posing as
    // web. Documents are checked for their URIs only: real ones list both kinds.
    if source == Source::Registration
        && application_type == ApplicationType::Web
        && environment == Environment::Production
        && let Some(i) = loopback.iter().position(|l| *l)
    {
        return Err(redirect_error(format!(
            "redirect_uris[{i}]: {:?}: loopback redirect URIs need application_type \"native\"",
            redirect_uris[i]
        )));
    }
    let auth = parse_auth(obj, source, application_type)?;
    Ok(Metadata {
        redirect_uris: redirect_uris.into_iter().map(str::to_owned).collect(),
        grant_types,
        auth,
        application_type,
        client_name: parse_client_name(obj)?,
        extra: parse_extra(obj, environment)?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use serde_json::json;

    use super::*;

    fn parsed(value: Value, source: Source, environment: Environment) -> Result<Metadata, String> {
        let Value::Object(obj) = value else {
            panic!("not an object")
        };
        parse(&obj, source, environment).map_err(|e| e.message)
    }

    fn registration(value: Value) -> Result<Metadata, String> {
        parsed(value, Source::Registration, Environment::Production)
    }

    fn document(value: Value) -> Result<Metadata, String> {
        parsed(value, Source::Document, Environment::Production)
    }

    #[test]
    fn redirect_uris_are_https_or_loopback_http() {
        for ok in [
            "https://app.example.com/cb",
            "http://127.0.0.1:1234/cb",
            "http://[::1]/cb",
            "http://localhost:8080/",
        ] {
            assert!(redirect_uri_is_loopback(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("com.example.app:/cb", "loopback and https redirect URIs only"),
            (
                "http://app.example.com/cb",
                "loopback and https redirect URIs only",
            ),
            ("https://app.example.com/cb#x", "fragment"),
            ("https://u:p@app.example.com/cb", "user name"),
            ("/cb", "not an absolute URI"),
            ("javascript:alert(1)", "loopback and https redirect URIs only"),
        ] {
            let e = redirect_uri_is_loopback(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn application_type_is_inferred_and_restricts_web_clients() {
        let native = registration(json!({"redirect_uris": ["http://127.0.0.1/cb"]})).unwrap();
        assert_eq!(native.application_type, ApplicationType::Native);
        assert_eq!(
            native.auth,
            ClientAuth::None,
            "native clients are public by default"
        );
        let web = registration(json!({"redirect_uris": ["https://a.example/cb"]})).unwrap();
        assert_eq!(web.application_type, ApplicationType::Web);
        assert_eq!(web.auth, ClientAuth::SecretBasic, "RFC 7591 default");
        let e = registration(json!({"application_type": "web", "redirect_uris": ["http://127.0.0.1/cb"]}))
            .unwrap_err();
        assert!(e.contains("redirect_uris[0]") && e.contains("native"), "{e}");
        let mixed = registration(json!({"redirect_uris": ["https://a.example/cb", "http://localhost/cb"]}));
        assert!(mixed.is_err(), "inferred web");
        let dev = parsed(
            json!({"application_type": "web", "redirect_uris": ["http://127.0.0.1/cb"]}),
            Source::Registration,
            Environment::Development,
        );
        assert!(dev.is_ok());
        let https_native =
            registration(json!({"application_type": "native", "redirect_uris": ["https://a.example/cb"]}));
        assert_eq!(https_native.unwrap().application_type, ApplicationType::Native);
        let e =
            registration(json!({"application_type": "desktop", "redirect_uris": ["https://a.example/cb"]}))
                .unwrap_err();
        assert!(e.starts_with("application_type:"), "{e}");
    }

    #[test]
    fn grant_and_response_types_must_agree() {
        let uris = json!(["https://a.example/cb"]);
        let m = registration(json!({"redirect_uris": uris})).unwrap();
        assert_eq!(
            m.grant_types,
            [GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        for (body, why) in [
            (
                json!({"redirect_uris": uris, "grant_types": []}),
                "grant_types: must not be empty",
            ),
            (
                json!({"redirect_uris": uris, "grant_types": ["password"]}),
                "grant_types[0]: \"password\" is not supported",
            ),
            (
                json!({"redirect_uris": uris, "grant_types": ["client_credentials"]}),
                "service accounts",
            ),
            (
                json!({"redirect_uris": uris, "grant_types": ["refresh_token"]}),
                "refresh_token needs",
            ),
            (
                json!({"redirect_uris": uris, "response_types": ["token"]}),
                "\"token\" is not supported",
            ),
            (
                json!({"redirect_uris": uris, "response_types": []}),
                "needs response_types",
            ),
            (
                json!({"grant_types": ["authorization_code"]}),
                "redirect_uris: must not be empty",
            ),
            (
                json!({"redirect_uris": "https://a.example/cb"}),
                "redirect_uris: must be an array",
            ),
            (
                json!({"redirect_uris": [1]}),
                "redirect_uris[0]: must be a string",
            ),
        ] {
            let e = registration(body.clone()).unwrap_err();
            assert!(e.contains(why), "{body}: {e}");
        }
        let device = registration(
            json!({"grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]}),
        )
        .unwrap();
        assert!(device.redirect_uris.is_empty());
    }

    #[test]
    fn documents_are_public_clients() {
        let uris = json!(["https://a.example/cb"]);
        assert_eq!(
            document(json!({"redirect_uris": uris})).unwrap().auth,
            ClientAuth::None
        );
        for (body, why) in [
            (
                json!({"redirect_uris": uris, "token_endpoint_auth_method": "client_secret_basic"}),
                "shared-secret",
            ),
            (
                json!({"redirect_uris": uris, "token_endpoint_auth_method": "client_secret_post"}),
                "shared-secret",
            ),
            (
                json!({"redirect_uris": uris, "token_endpoint_auth_method": "private_key_jwt"}),
                "private_key_jwt is not supported",
            ),
            (
                json!({"redirect_uris": uris, "token_endpoint_auth_method": "magic"}),
                "unknown method",
            ),
            (
                json!({"redirect_uris": uris, "client_secret": "x"}),
                "client_secret: must not be present",
            ),
            (json!({"redirect_uris": []}), "redirect_uris: must not be empty"),
            (json!({}), "redirect_uris: must not be empty"),
        ] {
            let e = document(body.clone()).unwrap_err();
            assert!(e.contains(why), "{body}: {e}");
        }
        // Documents list loopback and https URIs together without application_type.
        assert!(document(json!({"redirect_uris": ["https://a.example/cb", "http://127.0.0.1/cb"]})).is_ok());
    }

    #[test]
    fn names_and_echoed_fields_are_checked() {
        let uris = json!(["https://a.example/cb"]);
        let long = "n".repeat(201);
        for (body, why) in [
            (
                json!({"redirect_uris": uris, "client_name": long}),
                "client_name: is 201 characters",
            ),
            (
                json!({"redirect_uris": uris, "client_name": " "}),
                "client_name: must not be blank",
            ),
            (
                json!({"redirect_uris": uris, "client_name": "a\u{7}"}),
                "control characters",
            ),
            (
                json!({"redirect_uris": uris, "client_name": 3}),
                "client_name: must be a string",
            ),
            (
                json!({"redirect_uris": uris, "logo_uri": "javascript:alert(1)"}),
                "logo_uri: \"javascript:alert(1)\" must be an https URL",
            ),
            (
                json!({"redirect_uris": uris, "contacts": "a@b"}),
                "contacts: must be an array",
            ),
        ] {
            let e = registration(body.clone()).unwrap_err();
            assert!(e.contains(why), "{body}: {e}");
        }
        let m = registration(json!({
            "redirect_uris": uris, "client_name": "n".repeat(200), "client_uri": "https://a.example",
            "scope": "mcp", "contacts": ["a@b"], "jwks_uri": "https://a.example/jwks", "x-custom": 1,
        }))
        .unwrap();
        assert_eq!(m.client_name.unwrap().len(), 200);
        assert_eq!(
            Value::Object(m.extra),
            json!({"client_uri": "https://a.example", "scope": "mcp", "contacts": ["a@b"]})
        );
    }
}
