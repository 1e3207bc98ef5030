//! From verified claims to a [`Caller`]: identity, roles, MFA, service account and tiers.

use mcp_tenancy_config::{IdentityMode, TenantConfig};
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
pub fn string_list_claim(claims: &Map<String, Value>, name: &str) -> Vec<String> {
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

/// Keycloak's reserved username prefix of a client's service-account user.
const KEYCLOAK_SERVICE_ACCOUNT_PREFIX: &str = "service-account-";

/// Whether a token was issued to a client acting for itself (client_credentials), not to a user.
/// - Entra marks app tokens `idtyp: app` when that optional claim is configured. Without it, an
///   Entra app token has no `scp` (a delegated token always has) and `sub` is its own `oid`.
/// - RFC 9068 §2.2: a client_credentials token's `sub` is the client (e.g. oidc-provider);
///   Auth0 marks it `gty: client-credentials`; Keycloak issues it for the client's service-account
///   user, whose username is always `service-account-<client>`.
/// - Otherwise a token with no delegated scope (`scp`, or generic issuers' `scope`) is a user's
///   only if it names a user object (`oid`) other than its subject.
fn is_app_only(claims: &Map<String, Value>, subject: &str, client_id: Option<&str>) -> bool {
    if string_claim(claims, "idtyp").as_deref() == Some("app")
        || string_claim(claims, "gty").as_deref() == Some("client-credentials")
        || client_id == Some(subject)
        || string_claim(claims, "preferred_username")
            .is_some_and(|name| name.starts_with(KEYCLOAK_SERVICE_ACCOUNT_PREFIX))
    {
        return true;
    }
    let delegated =
        !string_list_claim(claims, "scp").is_empty() || !string_list_claim(claims, "scope").is_empty();
    let user_object = string_claim(claims, "oid").is_some_and(|oid| oid != subject);
    !delegated && !user_object
}

/// Builds the caller of a verified token. The tenant allow-list is checked here, and app-only
/// tokens of clients that are not configured service accounts are refused.
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
    // Entra v2 / OIDC, Entra v1, RFC 9068, Okta.
    let client_id = ["azp", "appid", "client_id", "cid"]
        .iter()
        .find_map(|name| string_claim(claims, name));
    // An app-only token is a service account's or nobody's: never a user with tiers.
    let service_account = if is_app_only(claims, &subject, client_id.as_deref()) {
        let account = config
            .access
            .service_accounts
            .iter()
            .find(|sa| match config.identity.mode {
                // Builtin: the server issued the token; the account's name is its client id.
                IdentityMode::Builtin => client_id.as_deref() == Some(sa.name.as_str()),
                IdentityMode::External => sa.client_id.is_some() && sa.client_id == client_id,
            })
            .ok_or(AuthFailure::UnknownClient)?;
        Some(account.name.clone())
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
        // Builtin mode: the grant whose stored upstream tokens are this user's Graph access.
        grant_id: (config.identity.mode == IdentityMode::Builtin)
            .then(|| string_claim(claims, "sid"))
            .flatten(),
        subject,
    };
    caller.tiers = authz::tiers_of(&caller, &config.access);
    Ok(caller)
}

#[cfg(test)]
mod tests {
    use mcp_tenancy_config::ServiceAccountConfig;
    use serde_json::json;

    use super::*;

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
        let ok = caller_from_claims(&claims(json!({"sub": "u", "tid": "t1", "scp": "mcp"})), &c, "t");
        assert!(ok.is_ok());
        let other = caller_from_claims(&claims(json!({"sub": "u", "tid": "t2"})), &c, "t");
        assert_eq!(other.unwrap_err(), AuthFailure::WrongTenant);
        let none = caller_from_claims(&claims(json!({"sub": "u"})), &c, "t");
        assert_eq!(none.unwrap_err(), AuthFailure::WrongTenant);
    }

    fn with_robot(mut c: TenantConfig) -> TenantConfig {
        c.access.service_accounts.push(ServiceAccountConfig {
            name: "robot".into(),
            client_id: Some("robot-app".into()),
            client_secret_file: None,
            tools: vec!["server_info".into()],
        });
        c
    }

    /// An Entra client_credentials token without the optional `idtyp`: no `scp`, `sub` = `oid`
    /// (the service principal), the client in `azp` (v2) or `appid` (v1).
    fn entra_app_token(client: (&str, &str)) -> Map<String, Value> {
        claims(json!({
            "sub": "sp-1", "oid": "sp-1", "tid": "t1", client.0: client.1, "roles": ["Mail.Reader"], "ver": "2.0",
        }))
    }

    #[test]
    fn app_only_tokens_of_unknown_clients_are_refused() {
        let c = with_robot(config(""));
        for client in [("azp", "someone-else"), ("appid", "someone-else")] {
            let refused = caller_from_claims(&entra_app_token(client), &c, "t");
            assert_eq!(refused.unwrap_err(), AuthFailure::UnknownClient, "{client:?}");
        }
        // RFC 9068: the client is its own subject, even with a `scope`.
        let generic =
            claims(json!({"sub": "cli", "client_id": "cli", "scope": "mcp", "roles": ["Mail.Reader"]}));
        assert_eq!(
            caller_from_claims(&generic, &c, "t").unwrap_err(),
            AuthFailure::UnknownClient
        );
        let auth0 =
            claims(json!({"sub": "cli@clients", "azp": "cli", "gty": "client-credentials", "scope": "mcp"}));
        assert_eq!(
            caller_from_claims(&auth0, &c, "t").unwrap_err(),
            AuthFailure::UnknownClient
        );
        // Keycloak: the subject is the client's service-account user, with a `scope`.
        let keycloak = claims(json!({
            "sub": "5f0c2c4e-0000-4000-8000-000000000001", "azp": "cli", "scope": "profile email",
            "preferred_username": "service-account-cli"
        }));
        assert_eq!(
            caller_from_claims(&keycloak, &c, "t").unwrap_err(),
            AuthFailure::UnknownClient
        );
        // Okta: the client is in `cid` and is its own subject, scopes in `scp`.
        let okta = claims(json!({"sub": "0oa1", "cid": "0oa1", "scp": ["mcp"]}));
        assert_eq!(
            caller_from_claims(&okta, &c, "t").unwrap_err(),
            AuthFailure::UnknownClient
        );
        // No delegated scope and no user object: nothing says a user is there.
        let bare = claims(json!({"sub": "x", "azp": "someone-else"}));
        assert_eq!(
            caller_from_claims(&bare, &c, "t").unwrap_err(),
            AuthFailure::UnknownClient
        );
    }

    #[test]
    fn app_only_tokens_of_service_accounts_get_the_account() {
        let c = with_robot(config(""));
        for client in [("azp", "robot-app"), ("appid", "robot-app")] {
            let robot = caller_from_claims(&entra_app_token(client), &c, "t").unwrap();
            assert_eq!(robot.service_account.as_deref(), Some("robot"), "{client:?}");
            assert!(robot.tiers.is_empty());
            assert_eq!(
                authz::decide(&robot, &c.access, "server_info").verdict,
                authz::Verdict::Allowed
            );
            assert_eq!(
                authz::decide(&robot, &c.access, "whoami").verdict,
                authz::Verdict::Denied
            );
        }
    }

    #[test]
    fn delegated_tokens_are_users() {
        let c = with_robot(config(""));
        // Entra: `scp`, a pairwise `sub` and the user's `oid`; even from the service account's app.
        let entra = claims(
            json!({"sub": "pairwise", "oid": "o1", "tid": "t1", "azp": "robot-app", "scp": "Mail.Read", "roles": ["Mail.Reader"]}),
        );
        // Generic issuers: `scope`.
        let generic = claims(json!({"sub": "alice", "client_id": "robot-app", "scope": "openid mcp"}));
        for token in [entra, generic] {
            let user = caller_from_claims(&token, &c, "t").unwrap();
            assert_eq!(user.service_account, None, "{token:?}");
            assert_eq!(
                authz::decide(&user, &c.access, "whoami").verdict,
                authz::Verdict::Allowed
            );
        }
    }
}
