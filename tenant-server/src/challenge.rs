//! `WWW-Authenticate: Bearer` challenges (RFC 6750 §3, RFC 9728 §5.1): where the client finds
//! the authorization server, and why the token did not do.

use http::HeaderValue;

/// The challenge naming the resource metadata, with an RFC 6750 error and description when the
/// request had a token (a request without one gets no error code, §3.1). Quotes in values are
/// replaced, so a message can never break out of its parameter.
pub fn bearer(resource_metadata: &str, error: Option<(&str, &str)>) -> Option<HeaderValue> {
    let quoted = |value: &str| value.replace(['"', '\\'], "'");
    let challenge = match error {
        None => format!("Bearer resource_metadata=\"{}\"", quoted(resource_metadata)),
        Some((error, description)) => format!(
            "Bearer resource_metadata=\"{}\", error=\"{error}\", error_description=\"{}\"",
            quoted(resource_metadata),
            quoted(description)
        ),
    };
    HeaderValue::from_str(&challenge).ok()
}
