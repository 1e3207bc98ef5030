//! The audit log: one JSON line (tracing target `audit`) per tool call and per authentication
//! failure. It says who did what and how it ended; it never holds tokens, argument values or
//! results, only a SHA-256 of the canonical arguments so equal calls can be correlated.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::{auth::AuthFailure, caller::Caller};

/// How a tool call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// The tool ran and reported an error.
    Error,
    /// Refused by authorization, or no such tool.
    Denied,
    Cancelled,
    /// The tool asked for the client's input first (2026-07-28); the call is retried with it.
    InputRequired,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Denied => "denied",
            Self::Cancelled => "cancelled",
            Self::InputRequired => "input_required",
        }
    }
}

/// Writes `value` as JSON with object keys sorted at every level.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(key) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Hex SHA-256 of the arguments in canonical form (sorted keys, no whitespace).
pub fn arguments_hash(arguments: &Map<String, Value>) -> String {
    let mut canonical = String::new();
    write_canonical(&Value::Object(arguments.clone()), &mut canonical);
    hex::encode(crate::crypto::sha256(canonical.as_bytes()))
}

pub struct ToolCallRecord<'a> {
    pub tenant: &'a str,
    pub caller: &'a Caller,
    pub tool: &'a str,
    pub arguments_sha256: &'a str,
    pub outcome: Outcome,
    pub duration: Duration,
    pub request_id: &'a str,
}

pub fn tool_call(record: &ToolCallRecord<'_>) {
    let c = record.caller;
    tracing::info!(
        target: "audit",
        event = "tool_call",
        tenant = record.tenant,
        sub = %c.subject,
        oid = c.object_id.as_deref().unwrap_or(""),
        client_id = c.client_id.as_deref().unwrap_or(""),
        service_account = c.service_account.as_deref().unwrap_or(""),
        tool = crate::metrics::tool_label(record.tool),
        arguments_sha256 = record.arguments_sha256,
        outcome = record.outcome.as_str(),
        duration_ms = u64::try_from(record.duration.as_millis()).unwrap_or(u64::MAX),
        request_id = record.request_id,
    );
}

pub fn auth_failure(tenant: &str, failure: AuthFailure, client_ip: &str, request_id: &str) {
    tracing::warn!(
        target: "audit",
        event = "auth_failure",
        tenant,
        reason = failure.reason(),
        client_ip,
        request_id,
    );
}

/// A refused authorization request: the endpoint, the outcome (an OAuth error code or HTTP
/// status) and the client, never a code, token or secret.
pub fn oauth_failure(tenant: &str, endpoint: &str, outcome: &str, client_id: Option<&str>, client_ip: &str) {
    tracing::warn!(
        target: "audit",
        event = "oauth_failure",
        tenant,
        endpoint,
        outcome,
        client_id,
        client_ip,
    );
}

/// A grant ended: whose (the user key), which client held it, and `by` whom: `account` (the
/// user on the account page), `admin` (an administrator's tool call; `actor` is their subject),
/// `client` (RFC 7009 revocation), `reuse` (a refresh token presented twice) or `limit` (the
/// user's least recently used grant, when a new one would exceed the most a user holds).
pub fn grant_revoked(tenant: &str, user: &str, client_id: &str, by: &str, actor: &str) {
    tracing::info!(
        target: "audit",
        event = "grant_revoked",
        tenant,
        user,
        client_id,
        by,
        actor,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_ignores_key_order_but_not_values() {
        let a = json!({"b": 1, "a": {"y": [1, 2], "x": "s"}});
        let b = json!({"a": {"x": "s", "y": [1, 2]}, "b": 1});
        let c = json!({"a": {"x": "t", "y": [1, 2]}, "b": 1});
        let h = |v: &Value| arguments_hash(v.as_object().unwrap());
        assert_eq!(h(&a), h(&b));
        assert_ne!(h(&a), h(&c));
        assert_eq!(h(&json!({})).len(), 64);
    }
}
