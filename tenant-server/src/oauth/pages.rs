//! The few HTML pages of the authorization server: consent, device code entry, results. Every
//! value is escaped; the pages carry their own CSP (inline styles only, no scripts).

use axum::response::{Html, IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

pub const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page: `title` and `body` (already escaped HTML).
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width\"><title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#222}}\
         button{{font-size:1rem;padding:.5rem 1.2rem;margin-right:.5rem}}input{{font-size:1.2rem;padding:.4rem;letter-spacing:.1rem}}\
         code{{background:#eee;padding:.1rem .3rem}}</style></head><body><h1>{title}</h1>{body}</body></html>",
        title = escape(title)
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An error page for what cannot be sent back to the client (unknown client or redirect URI).
pub fn error(status: StatusCode, message: &str) -> Response {
    page(status, "Sign-in failed", &format!("<p>{}</p>", escape(message)))
}

pub struct ConsentView<'a> {
    pub consent_id: &'a str,
    pub client: &'a str,
    pub client_id: &'a str,
    /// The redirect host (browser flow) or "a device" (device flow).
    pub destination: &'a str,
    pub user: &'a str,
    pub tenant: &'a str,
    pub tools: &'a [&'a str],
}

pub fn consent(view: &ConsentView<'_>) -> Response {
    let tools = if view.tools.is_empty() {
        "<p>No tools: your roles allow none on this server.</p>".to_owned()
    } else {
        let items: String = view
            .tools
            .iter()
            .map(|t| format!("<li><code>{}</code></li>", escape(t)))
            .collect();
        format!("<p>It will be able to call these tools as you:</p><ul>{items}</ul>")
    };
    let body = format!(
        "<p>Signed in as <b>{user}</b>.</p>\
         <p><b>{client}</b> (<code>{client_id}</code>) asks to use <b>{tenant}</b> on your behalf \
         and will receive its tokens at <b>{destination}</b>.</p>{tools}\
         <form method=post action=\"/oauth/consent\"><input type=hidden name=consent value=\"{id}\">\
         <button name=decision value=approve>Allow</button>\
         <button name=decision value=deny>Deny</button></form>",
        user = escape(view.user),
        client = escape(view.client),
        client_id = escape(view.client_id),
        tenant = escape(view.tenant),
        destination = escape(view.destination),
        id = escape(view.consent_id),
    );
    page(StatusCode::OK, "Allow access?", &body)
}

pub fn device_entry(prefilled: &str, message: Option<&str>) -> Response {
    let note = message.map_or_else(String::new, |m| format!("<p><b>{}</b></p>", escape(m)));
    let body = format!(
        "{note}<p>Enter the code your device shows.</p>\
         <form method=post action=\"/device\"><input name=user_code value=\"{code}\" \
         autocomplete=off autocapitalize=characters maxlength=16 required> \
         <button>Continue</button></form>",
        code = escape(prefilled)
    );
    let status = if message.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    page(status, "Connect a device", &body)
}

pub fn done(title: &str, message: &str) -> Response {
    page(StatusCode::OK, title, &format!("<p>{}</p>", escape(message)))
}
