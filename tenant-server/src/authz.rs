//! Role-based tool access. Tiers map role-claim values to tool patterns (and may require MFA);
//! service accounts get the tools their entry lists. With no tiers configured, every signed-in
//! user of an allowed tenant may call every enabled tool.

use mcp_tenancy_config::{AccessConfig, catalog::pattern_matches};

use crate::caller::Caller;

/// What the caller may do with one tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// A tier of the caller lists the tool but requires MFA, which the token lacks: the client
    /// can fix this by signing in again (HTTP 403 `insufficient_scope`).
    MfaRequired,
    /// Neither listed nor callable; answered exactly as an unknown tool.
    Denied,
}

/// Names of the tiers whose roles the caller holds.
pub fn tiers_of(caller: &Caller, access: &AccessConfig) -> Vec<String> {
    if caller.service_account.is_some() {
        return Vec::new();
    }
    access
        .tiers
        .iter()
        .filter(|tier| {
            tier.roles
                .iter()
                .any(|r| r == "*" || caller.roles.iter().any(|cr| cr == r))
        })
        .map(|tier| tier.name.clone())
        .collect()
}

pub fn decide(caller: &Caller, access: &AccessConfig, tool: &str) -> Decision {
    if let Some(name) = &caller.service_account {
        let listed = access
            .service_accounts
            .iter()
            .find(|sa| &sa.name == name)
            .is_some_and(|sa| sa.tools.iter().any(|p| pattern_matches(p, tool)));
        return if listed {
            Decision::Allowed
        } else {
            Decision::Denied
        };
    }
    if access.tiers.is_empty() {
        return Decision::Allowed;
    }
    let mut needs_mfa = false;
    for tier in access.tiers.iter().filter(|t| caller.tiers.contains(&t.name)) {
        if tier.tools.iter().any(|p| pattern_matches(p, tool)) {
            if !tier.require_mfa || caller.mfa {
                return Decision::Allowed;
            }
            needs_mfa = true;
        }
    }
    if needs_mfa {
        Decision::MfaRequired
    } else {
        Decision::Denied
    }
}

/// The `tier` metric label of a call: the first tier of the caller that allows the tool, the
/// service account's name, `default` when no tiers are configured, else `none`. Bounded by config.
pub fn tier_label(caller: &Caller, access: &AccessConfig, tool: &str) -> String {
    if let Some(name) = &caller.service_account {
        return format!("sa:{name}");
    }
    if access.tiers.is_empty() {
        return "default".into();
    }
    access
        .tiers
        .iter()
        .filter(|t| caller.tiers.contains(&t.name))
        .find(|t| t.tools.iter().any(|p| pattern_matches(p, tool)))
        .map_or_else(|| "none".into(), |t| t.name.clone())
}

#[cfg(test)]
mod tests {
    use mcp_tenancy_config::{AccessTier, ServiceAccountConfig};

    use super::*;

    fn tier(name: &str, roles: &[&str], tools: &[&str], mfa: bool) -> AccessTier {
        AccessTier {
            name: name.into(),
            roles: roles.iter().map(|s| s.to_string()).collect(),
            tools: tools.iter().map(|s| s.to_string()).collect(),
            require_mfa: mfa,
        }
    }

    fn caller(roles: &[&str], mfa: bool, access: &AccessConfig) -> Caller {
        let mut c = crate::testing::caller("u");
        c.roles = roles.iter().map(|s| s.to_string()).collect();
        c.mfa = mfa;
        c.tiers = tiers_of(&c, access);
        c
    }

    fn access() -> AccessConfig {
        AccessConfig {
            tiers: vec![
                tier("everyone", &["*"], &["whoami"], false),
                tier(
                    "readers",
                    &["Mail.Reader"],
                    &["mail_list_messages", "server_info"],
                    false,
                ),
                tier("senders", &["Mail.Sender"], &["mail_*"], true),
            ],
            service_accounts: vec![ServiceAccountConfig {
                name: "robot".into(),
                client_id: Some("c1".into()),
                client_secret_file: None,
                tools: vec!["server_info".into()],
            }],
        }
    }

    #[test]
    fn tiers_grant_the_union_of_their_tools() {
        let a = access();
        let reader = caller(&["Mail.Reader"], false, &a);
        assert_eq!(reader.tiers, vec!["everyone", "readers"]);
        assert_eq!(decide(&reader, &a, "whoami"), Decision::Allowed);
        assert_eq!(decide(&reader, &a, "server_info"), Decision::Allowed);
        assert_eq!(decide(&reader, &a, "mail_send"), Decision::Denied);
        assert_eq!(tier_label(&reader, &a, "server_info"), "readers");
    }

    #[test]
    fn mfa_tiers_need_mfa() {
        let a = access();
        assert_eq!(
            decide(&caller(&["Mail.Sender"], false, &a), &a, "mail_send"),
            Decision::MfaRequired
        );
        assert_eq!(
            decide(&caller(&["Mail.Sender"], true, &a), &a, "mail_send"),
            Decision::Allowed
        );
    }

    #[test]
    fn service_accounts_get_only_their_tools() {
        let a = access();
        let mut robot = crate::testing::caller("c1");
        robot.service_account = Some("robot".into());
        robot.roles = vec!["Mail.Sender".into()];
        robot.tiers = tiers_of(&robot, &a);
        assert!(robot.tiers.is_empty());
        assert_eq!(decide(&robot, &a, "server_info"), Decision::Allowed);
        assert_eq!(decide(&robot, &a, "whoami"), Decision::Denied);
        assert_eq!(tier_label(&robot, &a, "server_info"), "sa:robot");
    }

    #[test]
    fn no_tiers_means_every_tool() {
        let a = AccessConfig::default();
        assert_eq!(
            decide(&caller(&[], false, &a), &a, "mail_send"),
            Decision::Allowed
        );
    }
}
