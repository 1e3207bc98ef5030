//! From verified claims to a [`Caller`]: identity, roles, MFA, service account and tiers.

use mcp_tenancy_config::TenantConfig;
use serde_json::{Map, Value};

use super::AuthFailure;
use crate::{
    authz,
    caller::{Caller, Secret},
};

fn string_claim(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A claim that is an array of strings or one space-separated string (as `scope` is).
fn string_list_claim(claims: &Map<String, Value>, name: &str) -> Vec<String> {
    match claims.get(name) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// Builds the caller of a verified token. The tenant allow-list is checked here.
pub fn caller_from_claims(
    claims: &Map<String, Value>,
    config: &TenantConfig,
    token: &str,
) -> Result<Caller, AuthFailure> {
    let subject = string_claim(claims, "sub").ok_or(AuthFailure::Malformed)?;
    let tenant_id = string_claim(claims, "tid");
    let allowed = &config.identity.allowed_tenant_ids;
    if !allowed.is_empty()
        && !tenant_id
            .as_ref()
            .is_some_and(|tid| allowed.iter().any(|a| a == tid))
    {
        return Err(AuthFailure::WrongTenant);
    }
    let client_id = ["azp", "appid", "client_id"]
        .iter()
        .find_map(|name| string_claim(claims, name));
    // An app-only (client_credentials) token: Entra marks it `idtyp: app`; other issuers make
    // the client its own subject.
    let app_only = string_claim(claims, "idtyp").as_deref() == Some("app")
        || client_id.as_deref() == Some(subject.as_str());
    let service_account = if app_only {
        config
            .access
            .service_accounts
            .iter()
            .find(|sa| sa.client_id.is_some() && sa.client_id == client_id)
            .map(|sa| sa.name.clone())
    } else {
        None
    };
    let mut caller = Caller {
        object_id: string_claim(claims, "oid"),
        tenant_id,
        name: string_claim(claims, "name").or_else(|| string_claim(claims, "preferred_username")),
        client_id,
        roles: string_list_claim(claims, &config.identity.role_claim),
        mfa: string_list_claim(claims, "amr").iter().any(|m| m == "mfa"),
        service_account,
        tiers: Vec::new(),
        assertion: Some(Secret::new(token)),
        subject,
    };
    caller.tiers = authz::tiers_of(&caller, &config.access);
    Ok(caller)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(extra: &str) -> TenantConfig {
        crate::testing::config_yaml("https://mcp.example.com", "https://issuer.example.com", extra)
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn reads_identity_roles_and_mfa() {
        let c = config("");
        let caller = caller_from_claims(
            &claims(json!({"sub": "u1", "oid": "o1", "tid": "t1", "roles": ["Mail.Reader"], "amr": ["pwd", "mfa"], "azp": "app"})),
            &c,
            "tok",
        )
        .unwrap();
        assert_eq!(caller.user_key(), "t1/o1");
        assert_eq!(caller.roles, vec!["Mail.Reader"]);
        assert!(caller.mfa);
        assert_eq!(caller.client_id.as_deref(), Some("app"));
        assert_eq!(caller.service_account, None);
    }

    #[test]
    fn enforces_the_tenant_allow_list() {
        let c = config("  allowedTenantIds: [t1]\n");
        let ok = caller_from_claims(&claims(json!({"sub": "u", "tid": "t1"})), &c, "t");
        assert!(ok.is_ok());
        let other = caller_from_claims(&claims(json!({"sub": "u", "tid": "t2"})), &c, "t");
        assert_eq!(other.unwrap_err(), AuthFailure::WrongTenant);
        let none = caller_from_claims(&claims(json!({"sub": "u"})), &c, "t");
        assert_eq!(none.unwrap_err(), AuthFailure::WrongTenant);
    }
}
